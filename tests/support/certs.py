"""A private test CA made at test time, and leaf certificates it signs.

Nothing here is ever written to the repository: keys live in memory (or in a
test's tmp_path) for one test session.
"""
from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def _pem_key(key: Any) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _pem_cert(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _ca_cert(subject: x509.Name, key: Any, issuer: x509.Name, issuer_key: Any, *,
             path_length: int, days: int) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
               .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                            False, False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False))
    if issuer_key is not key:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class Leaf:
    cert: x509.Certificate
    cert_pem: str
    key_pem: str
    chain_pem: str  # leaf + intermediate (what a server sends)

    @property
    def not_after(self) -> dt.datetime:
        return self.cert.not_valid_after_utc


@dataclass
class TestCA:
    """A root CA and an intermediate, like a public CA's chain."""

    name: str = "da-flask test root"
    root_key: Any = field(init=False)
    root: x509.Certificate = field(init=False)
    inter_key: Any = field(init=False)
    inter: x509.Certificate = field(init=False)

    __test__ = False  # not a pytest class

    def __post_init__(self) -> None:
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.name)])
        self.root = _ca_cert(root_name, self.root_key, root_name, self.root_key, path_length=1,
                             days=30)
        self.inter_key = ec.generate_private_key(ec.SECP256R1())
        inter_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{self.name} intermediate")])
        self.inter = _ca_cert(inter_name, self.inter_key, root_name, self.root_key, path_length=0,
                              days=29)

    @property
    def root_pem(self) -> str:
        return _pem_cert(self.root)

    def issue(self, *names: str, days: int = 20, rsa_key: bool = False) -> Leaf:
        """A server certificate for `names` (the first is the common name)."""
        now = dt.datetime.now(dt.UTC)
        key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if rsa_key
               else ec.generate_private_key(ec.SECP256R1()))
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
                .issuer_name(self.inter.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=days))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                               critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.inter_key.public_key()), critical=False)
                .sign(self.inter_key, hashes.SHA256()))
        cert_pem = _pem_cert(cert)
        return Leaf(cert, cert_pem, _pem_key(key), cert_pem + _pem_cert(self.inter))

    def client_context(self) -> ssl.SSLContext:
        """A TLS client context that trusts only this CA (hostname checked)."""
        context = ssl.create_default_context(cadata=self.root_pem)
        context.check_hostname = True
        return context


def https_get(address: str, domain: str, path: str, ca: TestCA, *, port: int = 443,
              client: Any = None) -> Any:
    """GET https://DOMAIN/PATH from `address`, SNI and Host = domain, the chain
    verified against `ca` (and the name against `domain`)."""
    import httpx

    own = client is None
    client = client or httpx.Client(verify=ca.client_context(), timeout=10)
    try:
        return client.get(f"https://{address}:{port}{path}", headers={"Host": domain},
                          extensions={"sni_hostname": domain})
    finally:
        if own:
            client.close()


def served_certificate(address: str, domain: str, *, port: int = 443) -> x509.Certificate:
    """The leaf certificate the listener presents for SNI `domain` (not verified)."""
    import socket

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((address, port), timeout=10) as sock, \
            context.wrap_socket(sock, server_hostname=domain) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def tls_load(address: str, domain: str, ca: TestCA, path: str = "/", **options: Any) -> Any:
    """A RequestLoop of verified HTTPS GETs, alternating a kept-alive connection
    and a fresh one (so new handshakes happen throughout)."""
    import httpx

    from tests.support.load import RequestLoop

    kept = httpx.Client(verify=ca.client_context(), timeout=10)
    return RequestLoop([lambda: https_get(address, domain, path, ca, client=kept),
                        lambda: https_get(address, domain, path, ca)],
                       cleanup=kept.close, **options)
