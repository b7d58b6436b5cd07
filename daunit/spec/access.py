"""`access: user` in the host config: the DirectAdmin part and what user mode refuses.

In user mode nothing runs as root: files go over SSH as the DirectAdmin user
(hostops.as_site_user runs the steps as that login), and Unit is changed only
through DirectAdmin's `CMD_UNIT` API (daunit.da_api) with the user's login key.
Everything that needs root is refused here, at preview, one sentence each. The
login key is a Pulumi secret; no message here names its value.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from daunit.spec.base import Problem, Spec, invalid

ACCESS_MODES = ("root", "user")
USER = "user"
DA_LOGIN_RE = re.compile(r"[a-z][a-z0-9]{0,15}(\|[a-z][a-z0-9]{0,15})?\Z")


def check_access(value: str) -> str:
    if value not in ACCESS_MODES:
        raise invalid(f"access {value[:20]!r} is not a mode: use root (SSH as root, Unit's control socket) "
                      "or user (SSH as daUser, Unit through DirectAdmin's CMD_UNIT API)")
    return value


class DirectAdminAccess(Spec):
    """`directadmin:` of a host in user mode: where the API is and whose login key to use."""

    url: str
    user: str
    login_key: str = Field(repr=False)  # a Pulumi secret: never in a repr or message
    ca_file: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme != "https" or not parts.hostname or parts.username or parts.password \
                or parts.path not in ("", "/") or parts.query or parts.fragment:
            raise invalid("directadmin.url must be DirectAdmin's https address with no path or login, "
                          "like https://server.example.com:2222 (the login key goes in loginKey)")
        return value.strip().rstrip("/")

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        if not DA_LOGIN_RE.fullmatch(value):
            raise invalid("directadmin.user is not a DirectAdmin login: give the user the login key "
                          "belongs to, like username (or admin|username for an admin's key)")
        return value

    @field_validator("login_key")
    @classmethod
    def _login_key(cls, value: str) -> str:
        if not value or any(c.isspace() or ord(c) < 32 for c in value):
            raise invalid("directadmin.loginKey is empty or holds spaces or line breaks: set it with "
                          "`pulumi config set --secret --path hosts.NAME.directadmin.loginKey` "
                          "(the value on stdin)")
        return value

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(ord(c) < 32 for c in value)):
            raise invalid("directadmin.caFile must be the path of a PEM file on the deploying machine "
                          "(the CA that signed DirectAdmin's certificate), like ~/da-ca.pem")
        return value

    def api_input(self) -> dict[str, Any]:
        """What a resource carries about the API, the login key aside (a secret input of its own)."""
        out: dict[str, Any] = {"url": self.url, "user": self.user}
        if self.ca_file:
            out["caFile"] = self.ca_file
        return out


def fill_ssh_user(data: Any) -> Any:
    """In user mode the SSH login is the DirectAdmin user: sshUser defaults to daUser."""
    if isinstance(data, Mapping) and data.get("access") == USER \
            and "sshUser" not in data and "ssh_user" not in data:
        da_user = data.get("daUser", data.get("da_user"))
        if isinstance(da_user, str):
            return {**data, "sshUser": da_user}
    return data


# Host options that need root, and why: one sentence each.
ROOT_HOST_OPTIONS: Mapping[str, str] = {
    "unitSocket": "unitSocket needs root (Unit's control socket is root's): with access: user Unit is "
                  "changed only through DirectAdmin's CMD_UNIT API, so remove unitSocket",
    "unitLog": "unitLog needs root (Unit's log is root's): with access: user remove unitLog",
    "enableUnit": "enableUnit needs root (it installs and starts Unit): ask the server's administrator to "
                  "enable Unit for your account, and remove enableUnit",
}

# App options that need root, and why: one sentence each.
ROOT_APP_OPTIONS: Mapping[str, str] = {
    "isolation": "isolation needs root (Unit's namespaces and rootfs are set up through its control "
                 "socket, which CMD_UNIT does not expose): remove isolation, or use access: root",
    "tls": "tls needs root (a certificate bundle is loaded into Unit through its control socket): with "
           "access: user the front server serves the domain's DirectAdmin certificate, so remove tls",
    "listener": "listener needs root (a Unit listener on a port is made through the control socket): with "
                "access: user DirectAdmin's front server takes the domain's requests, so remove listener",
}


def host_problems(access: str, fields_set: set[str], values: Mapping[str, Any]) -> list[Problem]:
    """What a host's config asks that its access mode cannot do (fields in camelCase)."""
    problems: list[Problem] = []
    if access != USER:
        if values.get("directadmin") is not None:
            problems.append((("directadmin",), "directadmin is used only with access: user: add "
                                               "access: user, or remove directadmin"))
        return problems
    if values.get("directadmin") is None:
        problems.append((("directadmin",), (
            "directadmin is required with access: user: give url (https://SERVER:2222), user and loginKey "
            "(`pulumi config set --secret --path hosts.NAME.directadmin.loginKey`)")))
    if values.get("sshUser") != values.get("daUser"):
        problems.append((("sshUser",), (
            f"with access: user da-flask logs in as the DirectAdmin user: set sshUser to "
            f"{values.get('daUser')!r} (or leave it out), never root")))
    for field, why in ROOT_HOST_OPTIONS.items():
        if field in fields_set and (field != "enableUnit" or values.get(field)):
            problems.append(((field,), why))
    return problems


def app_problems(fields_set: set[str], values: Mapping[str, Any]) -> list[Problem]:
    """The root-only options an app on a user-mode host sets (fields in camelCase)."""
    problems: list[Problem] = []
    for field, why in ROOT_APP_OPTIONS.items():
        value = values.get(field)
        if field in fields_set and value not in (None, False):
            problems.append(((field,), why))
    return problems
