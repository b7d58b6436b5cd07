"""Specs of what a stack deploys: the only place inputs are validated.

Stack config is written in camelCase (`sshUser`, `hostKey`, `daUser`), so every
field has a camelCase alias; snake_case names are accepted too. Models are
frozen and reject unknown fields. Every error names its field and says how to
fix it; `format_errors` turns a `ValidationError` into one (path, message) per
bad field, with paths like `apps[0].domain`.

Secret values never live here: an app declares the *names* of its secret
environment variables (`secretEnvironmentKeys`); the values travel as Pulumi
secrets straight to `render.instance_environment`. Inputs are hidden from
pydantic's own error text (`hide_input_in_errors`) so a private key pasted
into the wrong field is not echoed back.

Modules: `types` (annotated field types) and `text` (the checks behind them);
one module per model (`host`, `app`, `processes`, `tls`) and per part of an
app (`environment`, `headers`, `commands`); `rules` (across hosts and apps);
`stack` (the stack and its entry points); `app_secrets` (appSecrets); `pem` (TLS
material); `local` (the only reads of the deploying machine's disk); `report`
(errors as the user reads them); `keys` (pasted key material); `access` (`access: user`:
the `directadmin:` settings and what user mode refuses).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from daunit.spec.app import AppSpec
    from daunit.spec.headers import DEFAULT_SECURITY_HEADERS
    from daunit.spec.host import HostSpec
    from daunit.spec.processes import ProcessesSpec
    from daunit.spec.report import format_errors
    from daunit.spec.stack import StackSpec, parse_stack, validate_stack
    from daunit.spec.text import listener_port
    from daunit.spec.tls import TlsSpec

# Each name is loaded from its module on first use (PEP 562): the provider process
# imports a pattern or two from here on every `pulumi` command and should not pay
# for building every model of the stack's schema.
_HOME = {
    "DEFAULT_SECURITY_HEADERS": "headers",
    "AppSpec": "app",
    "HostSpec": "host",
    "ProcessesSpec": "processes",
    "StackSpec": "stack",
    "TlsSpec": "tls",
    "format_errors": "report",
    "listener_port": "text",
    "parse_stack": "stack",
    "validate_stack": "stack",
}
__all__ = [
    "DEFAULT_SECURITY_HEADERS",
    "AppSpec",
    "HostSpec",
    "ProcessesSpec",
    "StackSpec",
    "TlsSpec",
    "format_errors",
    "listener_port",
    "parse_stack",
    "validate_stack",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
