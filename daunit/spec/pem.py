"""TLS material from secret config (PEM chain and key): what stops Unit from serving it.

Secret: no message here ever includes any of it.
"""
from __future__ import annotations

from typing import Any


def _name_covers(pattern: str, name: str) -> bool:
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


def _certificate_names(cert: Any) -> list[str]:
    """DNS names a certificate is for: its subjectAltName, else its common name."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        return [str(n) for n in san.value.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def _pem_shape_problems(chain: Any, key: Any, where: str) -> list[tuple[str, str]]:
    """Text that is not PEM of the right kind, before anything is parsed."""
    problems: list[tuple[str, str]] = []
    if not isinstance(chain, str) or "-----BEGIN CERTIFICATE-----" not in chain:
        problems.append((f"{where}.chain", f"{where}.chain holds no PEM certificate: set it to the "
                                           "full chain (leaf first), e.g. fullchain.pem"))
    elif "PRIVATE KEY" in chain:
        problems.append((f"{where}.chain", f"{where}.chain holds a private key: keep only the "
                                           f"certificates there and put the key in {where}.key"))
    if not isinstance(key, str) or "PRIVATE KEY-----" not in key:
        problems.append((f"{where}.key", f"{where}.key holds no PEM private key: set it to the "
                                         "certificate's unencrypted key, e.g. privkey.pem"))
    return problems


def tls_bundle_problems(chain: Any, key: Any, domain: str, *,
                        where: str = "tlsCertificates") -> list[tuple[str, str]]:
    """What stops Unit from serving `chain` + `key` for `domain`, as (field, message).

    `chain` is the PEM certificate chain (leaf first), `key` its unencrypted PEM
    private key. Messages name the field, never any of its content.
    """
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    problems = _pem_shape_problems(chain, key, where)
    if problems:
        return problems
    try:
        certs = x509.load_pem_x509_certificates(chain.encode())
    except ValueError:
        return [(f"{where}.chain", f"{where}.chain is not readable as PEM certificates: copy the file "
                                   "unchanged, line breaks included")]
    try:
        private = serialization.load_pem_private_key(key.encode(), password=None)
    except TypeError:
        return [(f"{where}.key", f"{where}.key is encrypted: Unit needs the key without a passphrase "
                                 "(openssl pkey -in key.pem -out plain.pem)")]
    except (ValueError, UnsupportedAlgorithm):
        return [(f"{where}.key", f"{where}.key is not readable as a PEM private key: copy the file "
                                 "unchanged, line breaks included")]
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if private.public_key().public_bytes(*spki) != certs[0].public_key().public_bytes(*spki):
        problems.append((f"{where}.key", f"{where}.key does not belong to the first certificate of "
                                         f"{where}.chain: the leaf certificate must come first, with "
                                         "its own key"))
    names = _certificate_names(certs[0])
    if not any(_name_covers(n, domain) for n in names):
        problems.append((f"{where}.chain", f"the certificate is for {', '.join(names) or 'no name'}, "
                                           f"not for the app's domain {domain}: use a certificate "
                                           "that names it"))
    return problems
