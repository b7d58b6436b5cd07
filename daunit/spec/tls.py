"""TlsSpec: HTTPS for one app (the PEM checks are in daunit.spec.pem)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import field_validator, model_validator

from daunit.spec.base import Spec, errors_at, invalid, show
from daunit.spec.keys import NoKeyMaterial, scrub_pasted_keys
from daunit.spec.types import Listener, RemotePath

# Where DirectAdmin keeps a user's domain certificates (chain and key).
DIRECTADMIN_USER_DOMAINS = "/usr/local/directadmin/data/users/{user}/domains"
_PEM_IN_PATH = ("tls {field} holds PEM material: give the path of the file on the host, never its content "
                "(put PEM in `pulumi config set --secret` with source: config)")


class TlsSpec(Spec):
    """HTTPS for one app: where its certificate comes from and the TLS listener.

    `source: config` takes the PEM chain and key from the stack's secret config
    (`tlsCertificates.APP.chain` / `.key`); `source: directadmin` reads the
    certificate DirectAdmin keeps for the domain (Let's Encrypt) on the host,
    `certFile` / `keyFile` overriding where.
    """

    source: Literal["config", "directadmin"]
    listener: Annotated[str, Listener("tls listener", example="*:443")] = "*:443"
    cert_file: Annotated[str, NoKeyMaterial(_PEM_IN_PATH.format(field="certFile")), RemotePath(
        "tls certFile", example=DIRECTADMIN_USER_DOMAINS.format(user="USER") + "/DOMAIN.cert.combined")] | None = None
    key_file: Annotated[str, NoKeyMaterial(_PEM_IN_PATH.format(field="keyFile")), RemotePath(
        "tls keyFile", example=DIRECTADMIN_USER_DOMAINS.format(user="USER") + "/DOMAIN.key")] | None = None

    @model_validator(mode="before")
    @classmethod
    def _scrub_pasted_keys(cls, data: Any) -> Any:
        return scrub_pasted_keys(data, ("keyFile", "certFile"))

    @field_validator("source", mode="before")
    @classmethod
    def _source(cls, value: Any) -> Any:
        if value not in ("config", "directadmin"):
            raise invalid(f"tls source {show(value)} is not known: use config (the PEM chain and key in "
                          "secret stack config) or directadmin (the domain's certificate on the host)")
        return value

    @model_validator(mode="after")
    def _files_only_for_directadmin(self) -> TlsSpec:
        if self.source != "directadmin" and (self.cert_file or self.key_file):
            raise errors_at("TlsSpec", [(("certFile" if self.cert_file else "keyFile",), (
                "certFile and keyFile are paths on the host for source: directadmin; with source: config "
                "the PEM comes from `pulumi config set --secret --path tlsCertificates.APP.chain`"))])
        return self
