"""DirectAdmin's `CMD_UNIT` API, as user mode (`access: user`) uses it.

Every DirectAdmin behaviour user mode relies on is called from here, and
docs/directadmin.md ("User mode") marks each one documented or inferred:
list (`GET CMD_API_UNIT?domain=D&json=yes`, documented), `action=create`
(documented), `action=modify`, `delete=yes select0=N` and `action=set_route`
(inferred from the panel's own calls).

TLS is verified against `caFile` or the system's CAs; auth is HTTP Basic with
the login key. Errors become the project's classes (daunit.errors) naming the
config field and the fix; the key is masked out of every message.
"""
from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from daunit.canonical import canonical_json
from daunit.errors import ConfigError, RemoteError, mask_secrets

if TYPE_CHECKING:
    import httpx

# httpx is imported where a call is made: the program and the provider process
# import this module on every run, and only user mode (access: user) calls it.
PATH = "/CMD_API_UNIT"
TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ApiSettings:
    """Where and as whom to call DirectAdmin: the stack's `directadmin:` settings, or
    the doctor's DAFLASK_DA_* variables (daunit.doctor.api_settings)."""

    url: str
    user: str
    key: str = field(repr=False)
    ca_file: str | None = None


class DirectAdminAPIError(RemoteError):
    """DirectAdmin refused or failed a CMD_UNIT request."""


@dataclass(frozen=True)
class Listing:
    """`CMD_UNIT` list of one domain: apps by name (numbers as strings), routes by host and location."""

    applications: dict[str, Any]
    routes: dict[str, dict[str, Any]]

    def route(self, domain: str, location: str) -> Any:
        return (self.routes.get(domain) or {}).get(location)


class DirectAdminAPI:
    """One DirectAdmin login (`user` may be `admin|user`)."""

    def __init__(self, settings: ApiSettings) -> None:
        self.url, self.user, self.login_key, self.ca_file = (settings.url, settings.user, settings.key,
                                                             settings.ca_file)

    # -- the calls ------------------------------------------------------
    def listing(self, domain: str) -> Listing:
        body = self._call("GET", "list", {"domain": domain})
        apps, routes = body.get("applications"), body.get("routes")
        return Listing(dict(apps) if isinstance(apps, Mapping) else {},
                       {k: dict(v) for k, v in routes.items() if isinstance(v, Mapping)}
                       if isinstance(routes, Mapping) else {})

    def save_app(self, domain: str, name: str, config: Mapping[str, Any], *, create: bool) -> None:
        action = "create" if create else "modify"
        self._call("POST", f"{action} {name}", {"domain": domain, "action": action, "name": name,
                                                "json": canonical_json(dict(config)).decode()})

    def delete_app(self, domain: str, name: str) -> None:
        self._call("POST", f"delete {name}", {"domain": domain, "delete": "yes", "select0": name})

    def set_route(self, domain: str, location: str, steps: list[Any] | None) -> None:
        """The location's route steps; None removes the location's routes."""
        fields = {"domain": domain, "action": "set_route", "location": location}
        if steps is not None:
            fields["routes"] = canonical_json(steps).decode()
        self._call("POST", f"set_route {location}", fields)

    # -- transport ------------------------------------------------------
    def _verify(self) -> ssl.SSLContext | bool:
        if not self.ca_file:
            return True  # the system's CAs
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"directadmin.caFile {self.ca_file}: cannot read it as PEM CA certificates "
                              f"({exc.__class__.__name__}): point it at the CA that signed DirectAdmin's "
                              "certificate, or leave it out for a publicly trusted one") from None

    def _call(self, method: str, what: str, fields: dict[str, str]) -> dict[str, Any]:
        # json=yes asks for JSON answers; create/modify use `json` for the app itself.
        fields = {"json": "yes", **fields}
        import httpx

        try:
            with httpx.Client(verify=self._verify(), timeout=TIMEOUT_S) as client:
                if method == "GET":
                    response = client.get(self.url + PATH, params=fields, auth=(self.user, self.login_key))
                else:
                    response = client.post(self.url + PATH, data=fields, auth=(self.user, self.login_key))
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        return self._answer(response, what, fields.get("domain", ""))

    def _transport_error(self, exc: httpx.HTTPError) -> Exception:
        said = self._mask(str(exc) or exc.__class__.__name__)
        if "CERTIFICATE" in said.upper():
            return ConfigError(f"DirectAdmin at {self.url}: TLS verification failed ({said}): set "
                               "directadmin.caFile to the CA that signed DirectAdmin's certificate")
        return DirectAdminAPIError(f"DirectAdmin at {self.url} did not answer ({said}): check "
                                   "directadmin.url and that port 2222 is reachable from this machine")

    def _answer(self, response: httpx.Response, what: str, domain: str) -> dict[str, Any]:
        if response.status_code in (401, 403):
            raise ConfigError(f"DirectAdmin at {self.url} refused the login of directadmin.user "
                              f"{self.user!r} ({response.status_code}): check directadmin.user and set a "
                              "working login key with `pulumi config set --secret --path "
                              "hosts.NAME.directadmin.loginKey` (the key needs CMD_UNIT)")
        try:
            body = response.json()
        except (ValueError, json.JSONDecodeError):
            body = None
        # DirectAdmin's legacy API reports errors in the body, the status may be 200.
        if response.status_code != 200 or not isinstance(body, dict) or \
                (body.get("error") and "success" not in body):
            detail = ""
            if isinstance(body, dict):
                detail = ": ".join(str(body.get(k)) for k in ("error", "result", "text", "details")
                                   if body.get(k))
            detail = detail or f"HTTP {response.status_code}, {response.text[:200]!r}"
            raise DirectAdminAPIError(f"DirectAdmin CMD_UNIT {what} on {domain} failed: {self._mask(detail)}")
        return body

    def _mask(self, text: str) -> str:
        return mask_secrets(text, [self.login_key])
