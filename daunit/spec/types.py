"""Reusable annotated types: each names its field in its message and says the fix.

Use them as `Annotated[str, RemotePath("unitSocket", example="/var/run/...")]`;
ranges are `Field(ge=, le=)` with an `OutOfRange` message. The checks
themselves are in daunit.spec.text (pure) so that validators of whole maps and
lists call the same ones.
"""
from __future__ import annotations

import ipaddress
import keyword
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, GetCoreSchemaHandler, StrictInt, ValidationError
from pydantic_core import core_schema

from daunit.spec.base import invalid, show
from daunit.spec.text import (
    check_dns_name,
    check_listener,
    check_local_path,
    check_relative_path,
    check_remote_path,
    has_control,
    refuse_dollar,
)


class Check:
    """An after-validator given by the subclass's `check(value)`."""

    def check(self, value: Any) -> Any:
        raise NotImplementedError

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))


@dataclass(frozen=True)
class OutOfRange:
    """The message for a value outside the `Field(ge=, le=)` before it; the template may use
    {value}, {ge} and {le} (the bounds are read from the field, never written twice)."""

    template: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        inner = handler(source)
        bounds = {"ge": inner.get("ge"), "le": inner.get("le")}

        def check(value: Any, validate: core_schema.ValidatorFunctionWrapHandler) -> Any:
            try:
                return validate(value)
            except ValidationError as exc:
                if any(e["type"] not in ("greater_than_equal", "less_than_equal") for e in exc.errors()):
                    raise
                raise invalid(self.template.format(value=value, **bounds)) from None

        return core_schema.no_info_wrap_validator_function(check, inner)


@dataclass(frozen=True)
class Matches(Check):
    """Text matching `pattern` in full; else `message`, which may use {value}."""

    pattern: re.Pattern[str]
    message: str

    def check(self, value: str) -> str:
        if not self.pattern.fullmatch(value):
            raise invalid(self.message.format(value=show(value)))
        return value


@dataclass(frozen=True)
class DnsName(Check):
    field: str

    def check(self, value: str) -> str:
        return check_dns_name(self.field, value)


@dataclass(frozen=True)
class _FieldCheck(Check):
    """A check of daunit.spec.text, `normalize(field, value, example=...)`."""

    field: str
    example: str
    served: bool = False  # also refuse '$': Unit expands it in the paths it serves

    def check(self, value: str) -> str:
        normalized = self.normalize(self.field, value, example=self.example)
        if self.served:
            refuse_dollar(self.field, value)
        return normalized

    @staticmethod
    def normalize(field: str, value: str, *, example: str) -> str:
        raise NotImplementedError


class RemotePath(_FieldCheck):
    """An absolute path on the host, written out in full."""

    normalize = staticmethod(check_remote_path)


class RelativePath(_FieldCheck):
    """A path inside the app's source tree."""

    normalize = staticmethod(check_relative_path)


class LocalPath(_FieldCheck):
    """A path on the deploying machine (not opened here: see daunit.spec.local)."""

    normalize = staticmethod(check_local_path)


class Listener(_FieldCheck):
    """A Unit listener, ADDRESS:PORT or *:PORT, normalized."""

    normalize = staticmethod(check_listener)


@dataclass(frozen=True)
class PythonName(Check):
    """A Python identifier, or with `dotted` a module path; `.py` is refused with its fix."""

    field: str
    message: str
    dotted: bool = False

    def check(self, value: str) -> str:
        if self.dotted and value.endswith(".py"):
            raise invalid(f"{self.field} {show(value)} names a file: give the module name without .py, "
                          f"like {value[:-3] or 'wsgi'}")
        parts = value.split(".") if self.dotted else [value]
        if not all(p.isidentifier() and p.isascii() and not keyword.iskeyword(p) for p in parts):
            raise invalid(self.message.format(value=show(value)))
        return value


@dataclass(frozen=True)
class IpAddress(Check):
    """An IP address (normalized), no zone; else `message`, which may use {value}."""

    message: str

    def check(self, value: str) -> str:
        try:
            if "%" in value or has_control(value):
                raise ValueError("zone or control character")
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise invalid(self.message.format(value=show(value))) from None


# Every pattern ends in \Z, never $ (see daunit.spec.text).
HOST_NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,31}\Z")
APP_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")
DA_USER_RE = re.compile(r"[a-z][a-z0-9]{0,15}\Z")
POSIX_USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}\Z")
PYTHON_VERSION_RE = re.compile(r"3\.[0-9]{1,2}\Z")

HostName = Annotated[str, Matches(HOST_NAME_RE, (
    "host name {value} is not valid: use 1-32 lower-case letters, digits and hyphens, "
    "starting with a letter, like web1"))]
HostRef = Annotated[str, Matches(HOST_NAME_RE, (
    "host {value} is not a host name from hosts: use the key you gave the host under hosts, like web1"))]
SshUser = Annotated[str, Matches(POSIX_USER_RE, (
    "sshUser {value} is not a safe user name: use lower-case letters, digits, '_' and '-', "
    "starting with a letter or '_', like root"))]
PythonVersion = Annotated[str, Matches(PYTHON_VERSION_RE, (
    "pythonVersion {value} is not valid: give MAJOR.MINOR of a Python module Unit has loaded, like 3.11"))]
SshPort = Annotated[StrictInt, Field(ge=1, le=65535), OutOfRange(
    "port {value} is out of range: use the SSH port, {ge} to {le} (usually 22)")]
HttpStatus = Annotated[StrictInt, Field(ge=100, le=599), OutOfRange(
    "healthStatus {value} is not an HTTP status: use {ge} to {le}, usually 200")]
