"""Certificate bundles: what Unit accepts on PUT /certificates/NAME and what
GET /certificates shows (src/nxt_cert.c, 1.35.0).

A bundle is any number of PEM blocks: certificates (the first is the leaf)
and exactly one private key.  Unit refuses the whole bundle on the first
block it cannot use, and does not check that the key fits the leaf; that
mismatch only surfaces when a listener uses the bundle ("Failed to apply new
configuration."), which `Bundle.key_matches` lets the double reproduce.
"""
from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# nxt_cert_name_details: the attributes shown, in this order; "alt_names"
# goes right after "common_name".
_NAME_FIELDS = (
    (NameOID.COMMON_NAME, "common_name"),
    (NameOID.COUNTRY_NAME, "country"),
    (NameOID.STATE_OR_PROVINCE_NAME, "state_or_province"),
    (NameOID.LOCALITY_NAME, "locality"),
    (NameOID.ORGANIZATION_NAME, "organization"),
    (NameOID.ORGANIZATIONAL_UNIT_NAME, "department"),
)


class BundleError(Exception):
    """Refused bundle; the message is what Unit writes to its log."""


@dataclass(frozen=True)
class Bundle:
    raw: bytes
    key: Any  # a cryptography private key
    chain: tuple[x509.Certificate, ...]

    def key_matches(self) -> bool:
        """Whether the private key belongs to the leaf (first) certificate."""
        fmt = (serialization.Encoding.DER,
               serialization.PublicFormat.SubjectPublicKeyInfo)
        return bool(self.key.public_key().public_bytes(*fmt)
                    == self.chain[0].public_key().public_bytes(*fmt))

    def info(self) -> dict[str, Any]:
        """The object GET /certificates/NAME returns."""
        return {
            "key": _key_text(self.key),
            "chain": [_cert_info(cert) for cert in self.chain],
        }


def _key_text(key: Any) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return f"RSA ({key.key_size} bits)"
    if type(key).__name__.startswith("DH"):
        # Named, not isinstance(): touching cryptography's dh module warns.
        return f"DH ({key.key_size} bits)"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ECDH"
    return "unknown"


def _asn1_time(cert: x509.Certificate, which: str) -> str:
    # ASN1_TIME_print: "Jan  5 03:04:05 2026 GMT".  The *_utc properties
    # arrived in cryptography 42; Debian 12's python3 has 38, whose naive
    # datetimes are UTC already.
    when = getattr(cert, f"{which}_utc", None) or getattr(cert, which)
    return (f"{_MONTHS[when.month - 1]} {when.day:2d} "
            f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} {when.year} GMT")


def _dns_names(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str] | None:
    try:
        ext = cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None
    value: Any = ext.value
    return [str(name) for name in value.get_values_for_type(x509.DNSName)]


def _name_info(name: x509.Name, alt_names: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for index, (oid, label) in enumerate(_NAME_FIELDS):
        if index == 1 and alt_names is not None:
            out["alt_names"] = alt_names
        attrs = name.get_attributes_for_oid(oid)
        if attrs:
            value = attrs[0].value
            out[label] = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return out


def _cert_info(cert: x509.Certificate) -> dict[str, Any]:
    return {
        "subject": _name_info(cert.subject,
                              _dns_names(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)),
        "issuer": _name_info(cert.issuer,
                             _dns_names(cert, ExtensionOID.ISSUER_ALTERNATIVE_NAME)),
        "validity": {
            "since": _asn1_time(cert, "not_valid_before"),
            "until": _asn1_time(cert, "not_valid_after"),
        },
    }


def _pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """PEM_read_bio in a loop: stops quietly when no BEGIN line is left,
    fails on a block it cannot read."""
    lines = [line.rstrip(b"\r") for line in data.split(b"\n")]
    blocks: list[tuple[str, bytes]] = []
    i = 0
    while True:
        while i < len(lines) and not (
            lines[i].startswith(b"-----BEGIN ") and lines[i].endswith(b"-----")
            and len(lines[i]) > 16
        ):
            i += 1
        if i == len(lines):
            return blocks
        kind = lines[i][11:-5]
        end_line = b"-----END " + kind + b"-----"
        i += 1
        body: list[bytes] = []
        in_headers = i < len(lines) and b":" in lines[i]
        while i < len(lines) and lines[i] != end_line:
            if in_headers:
                if not lines[i].strip():
                    in_headers = False
            else:
                body.append(lines[i].strip())
            i += 1
        if i == len(lines):
            raise BundleError("PEM_read_bio() failed (OpenSSL: PEM routines::bad end line)")
        i += 1
        try:
            der = binascii.a2b_base64(b"".join(body), strict_mode=True)
        except binascii.Error:
            raise BundleError("PEM_read_bio() failed (100: bad base64 decode)") from None
        blocks.append((kind.decode("latin-1"), der))


def _der_prefix(der: bytes) -> bytes:
    """The first DER element of der (an X509 inside an X509_AUX)."""
    if len(der) < 2:
        return der
    length = der[1]
    if length < 0x80:
        return der[:2 + length]
    count = length & 0x7F
    return der[:2 + count + int.from_bytes(der[2:2 + count], "big")]


def parse_bundle(data: bytes) -> Bundle:
    key: Any = None
    chain: list[x509.Certificate] = []
    for kind, der in _pem_blocks(data):
        if kind == "ENCRYPTED PRIVATE KEY":
            raise BundleError("PEM PKCS8 isn't supported")
        if kind == "PRIVATE KEY" or (kind.endswith(" PRIVATE KEY") and len(kind) > 12):
            pem = (b"-----BEGIN " + kind.encode() + b"-----\n"
                   + binascii.b2a_base64(der) + b"-----END " + kind.encode() + b"-----\n")
            try:
                new_key = serialization.load_pem_private_key(pem, password=None)
            except (ValueError, TypeError):
                raise BundleError(f'cannot read the "{kind}" block') from None
            if key is not None:
                raise BundleError("multiple private keys in PEM")
            key = new_key
            continue
        if kind in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"):
            if kind == "TRUSTED CERTIFICATE":
                der = _der_prefix(der)
            try:
                chain.append(x509.load_der_x509_certificate(der))
            except ValueError:
                raise BundleError("d2i_X509() failed") from None
            continue
        raise BundleError(f'unsupported PEM type: "{kind}"')
    if key is None:
        raise BundleError("no key found")
    if not chain:
        raise BundleError("no certificates found")
    return Bundle(raw=data, key=key, chain=tuple(chain))
