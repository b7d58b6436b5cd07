"""Certificate bundles: PEM chains with their one private key, kept as
uploaded in <state>/certs/NAME (mode 0600), described the way Unit's
GET /certificates shows them."""
from __future__ import annotations

import datetime
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.x509.oid import NameOID

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.S)
_NAME_PARTS = (
    (NameOID.COMMON_NAME, "common_name"), (NameOID.COUNTRY_NAME, "country"),
    (NameOID.STATE_OR_PROVINCE_NAME, "state_or_province"), (NameOID.LOCALITY_NAME, "locality"),
    (NameOID.ORGANIZATION_NAME, "organization"),
    (NameOID.ORGANIZATIONAL_UNIT_NAME, "department"),
)


class BadBundle(ValueError):
    """Not one private key plus at least one certificate, all readable."""


def _asn1_time(moment: datetime.datetime) -> str:
    """OpenSSL's ASN1_TIME_print layout: "Jan  5 03:04:05 2026 GMT"."""
    return f"{moment:%b} {moment.day:2d} {moment:%H:%M:%S %Y} GMT"


def _name(name: x509.Name) -> dict[str, Any]:
    described: dict[str, Any] = {}
    for oid, label in _NAME_PARTS:
        values = [str(a.value) for a in name.get_attributes_for_oid(oid)]
        if values:
            described[label] = values[0] if len(values) == 1 else values
    return described


def _describe_cert(cert: x509.Certificate) -> dict[str, Any]:
    subject = _name(cert.subject)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        pass
    else:
        subject["alt_names"] = san.value.get_values_for_type(x509.DNSName)
    return {"subject": subject, "issuer": _name(cert.issuer),
            "validity": {"since": _asn1_time(cert.not_valid_before_utc),
                         "until": _asn1_time(cert.not_valid_after_utc)}}


@dataclass(frozen=True)
class Bundle:
    raw: bytes
    chain: tuple[x509.Certificate, ...]
    key: Any  # a cryptography private key

    @classmethod
    def parse(cls, raw: bytes) -> Bundle:
        chain: list[x509.Certificate] = []
        keys = []
        try:
            for block in _PEM_BLOCK.finditer(raw):
                if block.group(1).endswith(b"PRIVATE KEY"):
                    keys.append(serialization.load_pem_private_key(block.group(), None))
                elif block.group(1) == b"CERTIFICATE":
                    chain.append(x509.load_pem_x509_certificate(block.group()))
        except (ValueError, TypeError) as exc:
            raise BadBundle(str(exc)) from None
        if len(keys) != 1 or not chain:
            raise BadBundle(f"{len(chain)} certificates, {len(keys)} keys")
        return cls(raw, tuple(chain), keys[0])

    def key_fits(self) -> bool:
        """Whether the key belongs to the first certificate (checked only when
        a listener uses the bundle, as Unit does)."""
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        der = serialization.Encoding.DER
        return bool(self.key.public_key().public_bytes(der, spki)
                    == self.chain[0].public_key().public_bytes(der, spki))

    def describe(self) -> dict[str, Any]:
        if isinstance(self.key, rsa.RSAPrivateKey):
            key = f"RSA ({self.key.key_size} bits)"
        elif isinstance(self.key, dsa.DSAPrivateKey):
            key = f"DSA ({self.key.key_size} bits)"
        else:
            key = "ECDH" if isinstance(self.key, ec.EllipticCurvePrivateKey) else "unknown"
        return {"key": key, "chain": [_describe_cert(c) for c in self.chain]}


class CertStore:
    """The bundles on file, by name, in upload order."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        files = sorted(directory.iterdir(), key=lambda p: (p.stat().st_mtime_ns, p.name))
        self.bundles = {p.name: Bundle.parse(p.read_bytes()) for p in files
                        if p.is_file() and not p.name.startswith(".")}

    def add(self, name: str, bundle: Bundle) -> None:
        temporary = self.directory / f".{name}.new"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(bundle.raw)
        temporary.rename(self.directory / name)
        self.bundles[name] = bundle

    def remove(self, name: str) -> None:
        (self.directory / name).unlink()
        del self.bundles[name]

    def describe(self) -> dict[str, Any]:
        return {name: bundle.describe() for name, bundle in self.bundles.items()}
