"""The stack outputs other stacks consume (DNS, TLS, monitoring), typed.

`__main__.py` exports exactly these shapes; docs/outputs.md describes them for
readers, and `validate_outputs` checks a stack's real outputs against them
(tests do, after `pulumi up`). A consumer reads them with
`pulumi.StackReference("organization/da-flask/<stack>")` (file backend) and
`get_output("dnsRecords")` etc. Nothing here is secret: the outputs hold no
key, no secret environment and no certificate content.

Version 1. A change that removes or renames a key bumps OUTPUTS_VERSION.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, TypeAdapter
from typing_extensions import TypedDict

__all__ = [
    "OUTPUTS_VERSION",
    "AppOutput",
    "CertificateOutput",
    "DnsRecord",
    "HostOutput",
    "StackOutputs",
    "TlsOutput",
    "validate_outputs",
]

OUTPUTS_VERSION = 1

_STRICT = ConfigDict(extra="forbid")


class HostOutput(TypedDict):
    __pydantic_config__ = _STRICT  # type: ignore[misc]
    address: str  # what da-flask connects to over SSH (IP or host name)
    dnsAddress: str | None  # the IP DNS records point at (publicAddress, else address if an IP)
    unitVersion: str  # "1.35.0"
    pythonModules: list[str]  # Python versions Unit's modules run, e.g. ["3.11.2"]


class TlsOutput(TypedDict):
    __pydantic_config__ = _STRICT  # type: ignore[misc]
    listener: str  # Unit's TLS listener, e.g. "*:443"
    source: Literal["config", "directadmin"]
    certificateName: str  # the bundle's name in Unit: "daflask:<project>:<stack>:<app>-<16 hex>"
    subjectNames: list[str]  # the leaf's common name, then its other DNS names
    issuer: str  # the issuer's common name (or organization)
    notBefore: str | None  # ISO 8601 UTC, "2026-11-23T21:16:09Z"
    notAfter: str | None  # ISO 8601 UTC: renew before this


class AppOutput(TypedDict):
    __pydantic_config__ = _STRICT  # type: ignore[misc]
    host: str  # the key of the host under `hosts`
    domain: str
    domains: list[str]  # the domain, then its aliases
    urls: list[str]  # https URLs first when the app has TLS, then http
    releaseId: str  # 16 hex: the live release
    venvKey: str  # "py3.11-<16 hex>"
    tls: TlsOutput | None


class DnsRecord(TypedDict):
    __pydantic_config__ = _STRICT  # type: ignore[misc]
    name: str  # fully qualified, no trailing dot: "www.example.com"
    type: Literal["A", "AAAA", "CNAME"]
    value: str  # an IP address (A/AAAA) or a host name without trailing dot (CNAME)
    ttl: int  # seconds


class CertificateOutput(TlsOutput):
    app: str
    domain: str


class StackOutputs(TypedDict):
    __pydantic_config__ = _STRICT  # type: ignore[misc]
    outputsVersion: int
    hosts: dict[str, HostOutput]
    apps: dict[str, AppOutput]  # keyed by app name
    dnsRecords: list[DnsRecord]  # every app's records, to create in its zone
    urls: list[str]  # every app's URLs
    certificates: list[CertificateOutput]  # one per app with TLS: what to watch for expiry


_ADAPTER: TypeAdapter[StackOutputs] = TypeAdapter(StackOutputs)


def validate_outputs(outputs: Any) -> StackOutputs:
    """`outputs` (from `pulumi stack output --json`) checked against the shapes
    above; raises pydantic.ValidationError naming the bad key."""
    return _ADAPTER.validate_python(outputs, strict=True)
