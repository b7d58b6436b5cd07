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
"""
from __future__ import annotations

import difflib
import ipaddress
import keyword
import os
import re
import shlex
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

from daunit.errors import StackConfigError
from daunit.known_hosts import KnownHostKey, known_hosts_name, parse_known_hosts, read_known_hosts_file

__all__ = [
    "DEFAULT_SECURITY_HEADERS",
    "AppSpec",
    "HostSpec",
    "KnownHostKey",
    "ProcessesSpec",
    "StackConfigError",
    "StackSpec",
    "TlsSpec",
    "app_secrets_problems",
    "certificate_names",
    "default_app_dir",
    "env_value_problem",
    "format_errors",
    "listener_port",
    "parse_known_hosts",
    "parse_stack",
    "requirements_problems",
    "tls_bundle_problems",
    "validate_stack",
]

ERROR_TYPE = "da_flask_invalid"

# Every pattern ends in \Z, never $: `$` also matches before a trailing newline,
# so "shop\n" would pass. Callers use fullmatch; \Z keeps .match() safe too
# for modules that import these (render.py). Character classes are ASCII
# ranges ([0-9], not \d, which matches other scripts' digits).
HOST_NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,31}\Z")
APP_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")
DA_USER_RE = re.compile(r"[a-z][a-z0-9]{0,15}\Z")
POSIX_USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}\Z")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
PYTHON_VERSION_RE = re.compile(r"3\.[0-9]{1,2}\Z")
DNS_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
URL_SEGMENT_RE = re.compile(r"[A-Za-z0-9._~-]+\Z")
SHELL_METACHARACTERS = set(" \t\n;&|$`\\\"'<>(){}[]*?!#~=%")

# Accounts of the system and its services (Debian, EL, DirectAdmin, Unit): never a
# site user. DirectAdmin's own admin account is refused too, as da-flask's
# threat model treats the panel's accounts as the host's, not a site's.
SYSTEM_ACCOUNTS = frozenset({
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
    "proxy", "www-data", "backup", "list", "irc", "gnats", "nobody", "nogroup", "nfsnobody",
    "systemd-network", "systemd-resolve", "systemd-timesync", "messagebus", "sshd", "_apt",
    "adm", "halt", "shutdown", "operator", "ftp", "ntp", "chrony", "dbus", "polkitd", "tss",
    "rpc", "rpcuser", "avahi", "postfix", "dovecot", "dovenull", "exim", "named", "bind",
    "mysql", "mariadb", "postgres", "redis", "memcached", "apache", "httpd", "nginx", "litespeed",
    "lsadm", "admin", "diradmin", "majordomo", "clamav", "spamd", "unit", "nginx_unit", "git",
})
# Where DirectAdmin keeps a user's domain certificates (chain and key).
DIRECTADMIN_USER_DOMAINS = "/usr/local/directadmin/data/users/{user}/domains"

# Where unitLog may point: Unit's log, under the root-owned log tree.
UNIT_LOG_DIR = "/var/log/"

# Unit objects are named daflask:<project>:<stack>:<app> (daunit.ownership), so
# no app name collides with Unit's or DirectAdmin's; these only keep a name
# from looking like one of da-flask's own.
RESERVED_APP_PREFIXES = ("da_flask", "daflask")

# Environment names da-flask sets itself; a value from the stack would be overwritten.
RESERVED_ENV_NAMES: dict[str, str] = {
    "PYTHONPATH": "to the release directory",
    "DAFLASK_ENV_REVISION": "to restart the app when instance/.env changes",
    "DAFLASK_APP_MODULE": "to the app's module, for da-flask's entry module",
    "DAFLASK_APP_CALLABLE": "to the app's callable, for da-flask's entry module",
    "DAFLASK_OWNER": "to mark the Unit application as this stack's",
}

# The seed's after_request headers, set at the edge by the app's Unit route
# (`response_headers` on each action) so static files carry them too. The
# seed's X-XSS-Protection is left out: browsers dropped that filter and
# OWASP advises against sending it.
DEFAULT_SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": "default-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
}
HEADER_NAME_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}\Z")
# Headers that frame the message: Unit refuses Content-Length, and the others
# would break the response; none is a security header.
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


def _invalid(message: str) -> PydanticCustomError:
    # The template is a single placeholder so braces inside the message are
    # printed as written, never parsed as further placeholders.
    return PydanticCustomError(ERROR_TYPE, "{reason}", {"reason": message})


def _errors_at(title: str, problems: list[tuple[tuple[str | int, ...], str]]) -> ValidationError:
    """A ValidationError with one entry per (loc, message); raised from a validator,
    pydantic prefixes each loc with the validator's own location."""
    return ValidationError.from_exception_data(
        title,
        [InitErrorDetails(type=_invalid(message), loc=loc, input=None) for loc, message in problems],
    )


def _show(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


# --- small validators shared by several fields -------------------------------------------


def _has_control(value: str, *, allowed: str = "") -> bool:
    """C0/C1 control characters, DEL and Unicode line separators, except those in `allowed`."""
    return any((ord(c) < 32 or 127 <= ord(c) < 160 or c in "\u2028\u2029") and c not in allowed
               for c in value)


def _refuse_control(field: str, value: str) -> None:
    # Shown with repr(), so the message spells the character out (\n, \x00).
    if _has_control(value):
        raise _invalid(f"{field} {_show(value)} contains a line break or control character: remove it")


def _refuse_non_ascii(field: str, value: str) -> None:
    if not value.isascii():
        raise _invalid(f"{field} {_show(value)} has non-ASCII characters (a look-alike letter or digit?): "
                       "type it again in plain ASCII; write an international domain in punycode, xn--...")


def _dns_name_problem(value: str, *, need_dot: bool) -> str | None:
    """Why `value` (already lower-cased) is not a DNS host name, or None."""
    if not value:
        return "it is empty"
    if any(ord(c) > 127 for c in value):
        return "it has non-ASCII characters (write it in punycode, xn--...)"
    if len(value) > 253:
        return "it is longer than 253 characters"
    labels = value.split(".")
    if need_dot and len(labels) < 2:
        return "it has no dot"
    for label in labels:
        if not DNS_LABEL_RE.fullmatch(label):
            return f"label {label!r} is not 1-63 letters, digits or inner hyphens"
    if len(labels) > 1 and labels[-1].isdigit():
        return "its last label is all digits, so it reads as an IP address"
    return None


def _normalize_dns_name(value: str) -> str:
    return value.strip().lower().removesuffix(".")


def _check_dns_name(field: str, value: str, *, need_dot: bool = True) -> str:
    _refuse_control(field, value)
    name = _normalize_dns_name(value)
    # Checked before lower-casing too: "\u212a" (Kelvin sign) lower-cases to an ASCII "k".
    problem = (_dns_name_problem(name, need_dot=need_dot) if value.isascii()
               else "it has non-ASCII characters (a look-alike letter? write an international "
                    "domain in punycode, xn--...)")
    if problem:
        raise _invalid(f"{field} {_show(value)} is not a valid host name: {problem}; "
                       "use letters, digits, hyphens and dots, like example.com")
    return name


def _check_remote_path(field: str, value: str, *, example: str) -> str:
    """An absolute POSIX path on the host, written out in full."""
    if not value.startswith("/"):
        raise _invalid(f"{field} {_show(value)} must be an absolute path on the host, like {example}")
    _refuse_control(field, value)
    parts = [p for p in value.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise _invalid(f"{field} {_show(value)} must not contain '.' or '..': write the path out in full")
    if not parts:
        raise _invalid(f"{field} must not be the root directory: use a directory like {example}")
    if len(value) > 1024 or any(len(p.encode()) > 255 for p in parts):
        raise _invalid(f"{field} is too long: a path on the host has at most 1024 characters and 255 "
                       f"bytes per directory name, like {example}")
    return "/" + "/".join(parts)


def _refuse_dollar(field: str, value: str) -> None:
    # Unit expands $name and ${name} in `share` (and other options) on every
    # request, and there is no escape for it.
    if "$" in value:
        raise _invalid(f"{field} {_show(value)} contains '$': NGINX Unit reads it as a variable in the "
                       "paths it serves; rename the directory without '$'")


def env_value_problem(what: str, value: str, *, allowed_controls: str) -> str | None:
    """Why `value` cannot be an environment value (in Unit's config and instance/.env), or None.

    The message names `what` (like "environment DEBUG") and never the value,
    so it serves secrets too.
    """
    if "\x00" in value:
        return f"{what} contains a NUL character: remove it"
    if _has_control(value, allowed=allowed_controls):
        return f"{what} contains a line break or other control character: remove it"
    if "${" in value:
        # python-dotenv expands ${NAME} in instance/.env and has no escape for it.
        return f"{what} contains '${{', which python-dotenv would expand as a variable: change the value"
    return None


_URL_USERINFO_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^\s/@]*)@")
_INCLUDE_OPTION_RE = re.compile(r"(?:-r|--requirement|-c|--constraint)(?:=|\s|\Z)")


def _is_credential(scheme: str, userinfo: str) -> bool:
    # ssh://git@host names an account, the key is elsewhere; over http(s) a
    # user name alone is often a token (https://TOKEN@host/...).
    if not userinfo:
        return False
    return ":" in userinfo or not scheme.lower().endswith("ssh")


def requirements_problems(text: str, name: str) -> list[str]:
    """What in a requirements file cannot be deployed: credentials in a URL (the
    content is stored in the stack's state), includes of other files. Messages
    give line numbers, never the line."""
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        # Comments too: the whole file lands in the state.
        if any(_is_credential(*found) for found in _URL_USERINFO_RE.findall(line)):
            problems.append(
                f"requirements {name!r} line {number} has credentials in a URL (USER:TOKEN@ or TOKEN@): the "
                "file is stored in plain text in the stack's state and shown in previews. Remove them and "
                "give them to pip on the host instead, in the DirectAdmin user's ~/.netrc (`machine HOST "
                "login USER password TOKEN`, mode 600), which pip and git read for index and git+https "
                "URLs; revoke the token if this file was shared")
        elif not line.lstrip().startswith("#") and _INCLUDE_OPTION_RE.match(line.strip()):
            problems.append(f"requirements {name!r} line {number} includes another file (-r/-c): only this "
                            "file's content reaches the host, so copy the included lines into it")
    return problems


def _check_relative_path(field: str, value: str, *, example: str) -> str:
    """A path inside the app's source tree: relative, no '..', POSIX separators."""
    if "\\" in value:
        raise _invalid(f"{field} {_show(value)} uses backslashes: use / between directories, like {example}")
    if value.startswith("/") or value.startswith("~"):
        raise _invalid(f"{field} {_show(value)} must be relative to the app's source directory, like {example}")
    _refuse_control(field, value)
    parts = [p for p in value.split("/") if p and p != "."]
    if ".." in parts:
        raise _invalid(f"{field} {_show(value)} must stay inside the source directory: remove '..'")
    if not parts:
        raise _invalid(f"{field} is empty: name a path inside the source directory, like {example}")
    return "/".join(parts)


_KEY_MATERIAL_MARKER = "<private key material, removed>"


def _looks_like_key_material(value: object) -> bool:
    return isinstance(value, str) and ("PRIVATE KEY" in value or value.lstrip().startswith("-----"))


def _check_local_path(field: str, value: str, *, example: str) -> str:
    """A path on the deploying machine; not opened here."""
    if not value.strip():
        raise _invalid(f"{field} is empty: give a path on the deploying machine, like {example}")
    if _has_control(value):
        raise _invalid(f"{field} contains a line break or control character: it must be a single path "
                       f"on the deploying machine, like {example}")
    return value


# --- listeners ----------------------------------------------------------------------------


def _parse_listener(value: str) -> tuple[str, int]:
    """Split a Unit listener "ADDR:PORT" into (address, port); raises ValueError."""
    address, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError("expected ADDRESS:PORT")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError("the port must be between 1 and 65535")
    if address == "*":
        return "*", port
    if address.startswith("[") and address.endswith("]"):
        ip = ipaddress.ip_address(address[1:-1])
        if ip.version != 6:
            raise ValueError("brackets are only for IPv6 addresses")
        return f"[{ip}]", port
    ip = ipaddress.ip_address(address)
    if ip.version == 6:
        raise ValueError("write an IPv6 address in brackets, like [::1]:8080")
    return str(ip), port


def listener_port(listener: str) -> int:
    """The port of a validated listener like "*:80"."""
    return _parse_listener(listener)[1]


# --- specs --------------------------------------------------------------------------------


MAX_RELEASE_COMMANDS = 20


def parse_release_commands(value: Any) -> list[list[str]]:
    """releaseCommands as argv lists: each entry a string split like a shell
    would (shlex: quotes, no variables, pipes or redirections) or a list of
    arguments. Control characters are refused: a command is one line."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise _invalid("releaseCommands must be a list of commands, like [\"flask --app flaskr init-db\"]")
    if len(value) > MAX_RELEASE_COMMANDS:
        raise _invalid(f"releaseCommands lists {len(value)} commands: at most {MAX_RELEASE_COMMANDS}; "
                       "put the rest in a script of the app and run that")
    problems: list[tuple[tuple[str | int, ...], str]] = []
    commands: list[list[str]] = []
    for index, entry in enumerate(value):
        argv, problem = _release_command(entry)
        if problem:
            problems.append(((index,), f"releaseCommands[{index}]: {problem}"))
        commands.append(argv)
    if problems:
        raise _errors_at("releaseCommands", problems)
    return commands


def _release_command(entry: Any) -> tuple[list[str], str | None]:
    if isinstance(entry, str):
        text = entry
    elif isinstance(entry, (list, tuple)) and all(isinstance(a, str) for a in entry):
        text = " ".join(entry)
    else:
        return [], "give a command as a string or a list of strings, like \"flask db upgrade\""
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        return [], "contains a control character (a line break, a tab...): one command a line, plain text"
    if isinstance(entry, str):
        try:
            argv = shlex.split(entry)
        except ValueError as exc:
            return [], f"cannot be split into arguments ({exc}): close the quotes"
    else:
        argv = list(entry)
    if not argv or not argv[0]:
        return [], "is empty: give the command to run, like \"flask db upgrade\""
    return argv, None


class _Spec(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        alias_generator=to_camel,
        hide_input_in_errors=True,
    )


class HostSpec(_Spec):
    """One DirectAdmin server, reached over SSH as root ("socket mode")."""

    name: str
    address: str
    port: StrictInt = 22
    ssh_user: str = "root"
    host_key: str | None = None
    host_key_file: str | None = None
    key_file: str | None = None
    da_user: str
    public_address: str | None = None
    unit_socket: str = "/var/run/unit/control.sock"
    unit_log: str = "/var/log/unit/unit.log"
    python: str = "/usr/bin/python3.11"
    enable_unit: bool = False
    # Run the DirectAdmin way (Unit behind the front web server, apps and routes stored
    # where DirectAdmin re-fills from; daunit/directadmin.py): auto decides from the
    # server, on insists (refused where DirectAdmin is missing), off keeps Unit's own
    # listener (e.g. *:80 on a server without a front web server).
    directadmin: str = "auto"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not HOST_NAME_RE.fullmatch(value):
            raise _invalid(f"host name {_show(value)} is not valid: use 1-32 lower-case letters, "
                           "digits and hyphens, starting with a letter, like web1")
        return value

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        _refuse_control("address", value)
        _refuse_non_ascii("address", value)
        text = value.strip()
        if "%" in text:
            raise _invalid(f"address {_show(value)} has an IPv6 zone (%...): give a global or "
                           "unique-local address da-flask can reach without one")
        if text.startswith("[") and text.endswith("]"):
            raise _invalid(f"address {_show(value)}: write an IPv6 address without brackets, like ::1")
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            pass
        name = _normalize_dns_name(text)
        problem = _dns_name_problem(name, need_dot=False)
        if problem:
            raise _invalid(f"address {_show(value)} is neither an IP address nor a host name "
                           f"({problem}): use an address like 203.0.113.10 or host.example.com")
        return name

    @field_validator("port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 1 <= value <= 65535:
            raise _invalid(f"port {value} is out of range: use the SSH port, 1 to 65535 (usually 22)")
        return value

    @field_validator("ssh_user")
    @classmethod
    def _ssh_user(cls, value: str) -> str:
        if not POSIX_USER_RE.fullmatch(value):
            raise _invalid(f"sshUser {_show(value)} is not a safe user name: use lower-case letters, "
                           "digits, '_' and '-', starting with a letter or '_', like root")
        return value

    @field_validator("host_key")
    @classmethod
    def _host_key(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if value == _KEY_MATERIAL_MARKER or _looks_like_key_material(value):
            raise _invalid("hostKey holds a private key: pin the server's public host key instead (the "
                           "output of `ssh-keyscan -t ed25519 ADDRESS`); nothing of it is shown here, "
                           "and rotate that key if this config was shared")
        try:
            keys = parse_known_hosts(value)
        except ValueError as exc:
            raise _invalid(f"hostKey is not a usable known_hosts entry: {exc}") from None
        if not keys:
            raise _invalid("hostKey is not a usable known_hosts entry: it holds no key: "
                           "paste the output of `ssh-keyscan -t ed25519 ADDRESS`")
        address, port = info.data.get("address"), info.data.get("port")
        if address is None or port is None:
            return value  # the address or port error is reported on its own field
        name = known_hosts_name(address, port)
        for key in keys:
            if not key.applies_to(name):
                raise _invalid(f"hostKey has a line for {_show(key.patterns)}, not for {name}: "
                               f"keep only this host's lines (ssh-keyscan -p {port} {address} prints them)")
        return value

    @field_validator("host_key_file")
    @classmethod
    def _host_key_file(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value == _KEY_MATERIAL_MARKER:
            raise _invalid("hostKeyFile holds key material: give the path of a known_hosts file on the "
                           "deploying machine (like ~/.ssh/known_hosts), never a key itself")
        return _check_local_path("hostKeyFile", value, example="~/.ssh/known_hosts")

    @model_validator(mode="before")
    @classmethod
    def _drop_pasted_key(cls, data: Any) -> Any:
        # A private key pasted into keyFile must not survive in the error's
        # recorded input (ValidationError.errors() carries it): swap it for a
        # marker before the field is validated.
        if isinstance(data, dict):
            for field in ("keyFile", "key_file", "hostKey", "host_key", "hostKeyFile", "host_key_file"):
                if _looks_like_key_material(data.get(field)):
                    data = {**data, field: _KEY_MATERIAL_MARKER}
        return data

    @field_validator("key_file")
    @classmethod
    def _key_file(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value == _KEY_MATERIAL_MARKER or _looks_like_key_material(value):
            raise _invalid("keyFile holds key material: give the path of the private key file on the "
                           "deploying machine (like ~/.ssh/id_ed25519), never the key itself, "
                           "and rotate that key if this config was shared")
        return _check_local_path("keyFile", value, example="~/.ssh/id_ed25519")

    @field_validator("da_user")
    @classmethod
    def _da_user(cls, value: str) -> str:
        if value in SYSTEM_ACCOUNTS:
            raise _invalid(f"daUser {value!r} is a system account, not a DirectAdmin site user: Unit would run "
                           "the app as it and the app's files would be handed to it; give the DirectAdmin "
                           "user that owns the domain, like username")
        if not DA_USER_RE.fullmatch(value):
            raise _invalid(f"daUser {_show(value)} is not a DirectAdmin user name: use 1-16 lower-case "
                           "letters and digits, starting with a letter, like username")
        return value

    @field_validator("public_address")
    @classmethod
    def _public_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            if "%" in value or _has_control(value):
                raise ValueError("zone or control character")
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise _invalid(f"publicAddress {_show(value)} is not an IP address: give the address "
                           "DNS records should point at, like 203.0.113.10") from None

    @field_validator("unit_socket")
    @classmethod
    def _unit_socket(cls, value: str) -> str:
        return _check_remote_path("unitSocket", value, example="/var/run/unit/control.sock")

    @field_validator("unit_log")
    @classmethod
    def _unit_log(cls, value: str) -> str:
        path = _check_remote_path("unitLog", value, example="/var/log/unit/unit.log")
        # root reads its last lines into error messages: only a log file may be named.
        if not (path.startswith(UNIT_LOG_DIR) and path.endswith(".log")) or "$" in path:
            raise _invalid(f"unitLog {_show(value)} is not a log file under {UNIT_LOG_DIR}: root shows its last "
                           "lines in error messages, so name Unit's own log, a *.log file under "
                           f"{UNIT_LOG_DIR} like /var/log/unit/unit.log (unitd's --log option)")
        return path

    @field_validator("python")
    @classmethod
    def _python(cls, value: str) -> str:
        return _check_remote_path("python", value, example="/usr/bin/python3.11")

    @field_validator("directadmin")
    @classmethod
    def _directadmin(cls, value: str) -> str:
        if value not in ("auto", "on", "off"):
            raise _invalid(f"directadmin {_show(value)} is not auto, on or off: auto deploys the "
                           "DirectAdmin way where the server is one (front web server, unit_port), "
                           "off keeps Unit's own listener")
        return value

    @model_validator(mode="after")
    def _one_host_key_source(self) -> HostSpec:
        if self.host_key is None and self.host_key_file is None:
            raise _errors_at("HostSpec", [(("hostKey",), (
                "hostKey is required (or hostKeyFile): pin the server's key, e.g. the output of "
                f"`ssh-keyscan -t ed25519 {self.address}`; da-flask never trusts a key on first use"))])
        if self.host_key is not None and self.host_key_file is not None:
            raise _errors_at("HostSpec", [(("hostKeyFile",), (
                "set either hostKey or hostKeyFile, not both: keep the one you maintain"))])
        return self

    @model_validator(mode="after")
    def _host_key_file_readable(self, info: ValidationInfo) -> HostSpec:
        # Only when local files may be read (the stack program; see parse_stack).
        if self.host_key_file is None or not (info.context or {}).get("check_source"):
            return self
        try:
            read_known_hosts_file(self.host_key_file, self.known_hosts_name)
        except ValueError as exc:
            raise _errors_at("HostSpec", [(("hostKeyFile",), f"hostKeyFile {self.host_key_file!r} {exc}")]) from None
        return self

    def known_hosts_text(self) -> str:
        """The known_hosts lines that pin this host's key (reads hostKeyFile, if that is the source)."""
        if self.host_key_file is not None:
            return read_known_hosts_file(self.host_key_file, self.known_hosts_name)
        return self.host_key or ""

    @property
    def pinned_keys(self) -> tuple[KnownHostKey, ...]:
        """The keys from `host_key` (empty when the keys come from `host_key_file`)."""
        return parse_known_hosts(self.host_key) if self.host_key else ()

    @property
    def known_hosts_name(self) -> str:
        """This host as OpenSSH names it in known_hosts ("addr" or "[addr]:port")."""
        return known_hosts_name(self.address, self.port)

    @property
    def dns_address(self) -> str | None:
        """The IP address DNS records point at: publicAddress, else address when it is an IP."""
        if self.public_address:
            return self.public_address
        try:
            return str(ipaddress.ip_address(self.address))
        except ValueError:
            return None


class ProcessesSpec(_Spec):
    """Unit's dynamic process pool; an integer N in config means N static processes."""

    max: StrictInt = 2
    spare: StrictInt = 1
    idle_timeout: StrictInt | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_int(cls, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, (int, dict, ProcessesSpec)):
            raise _invalid(f"processes {_show(data)} is not a number of processes: use a whole number "
                           "from 1 to 64 (a static pool) or an object like {max: 4, spare: 1}")
        if isinstance(data, int):
            if not 1 <= data <= 64:
                raise _invalid(f"processes {data} is out of range: use 1 to 64 static processes, "
                               "or an object like {max: 4, spare: 1}")
            return {"max": data, "spare": data}
        return data

    @field_validator("max")
    @classmethod
    def _max(cls, value: int) -> int:
        if not 1 <= value <= 64:
            raise _invalid(f"processes max {value} is out of range: use 1 to 64")
        return value

    @field_validator("spare")
    @classmethod
    def _spare(cls, value: int, info: ValidationInfo) -> int:
        if value < 1:
            # With no spare process Unit starts no worker when the config is
            # applied, so a release whose module fails to import is accepted
            # and then answers 503; with one, Unit refuses it and the old
            # release keeps serving.
            raise _invalid("processes spare must be at least 1: with 0, Unit accepts a broken release "
                           "and answers 503 instead of refusing it")
        maximum = info.data.get("max")
        if maximum is not None and value > maximum:
            raise _invalid(f"processes spare {value} is more than max {maximum}: use at most {maximum}")
        return value

    @field_validator("idle_timeout")
    @classmethod
    def _idle_timeout(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= 86400:
            raise _invalid(f"processes idleTimeout {value} is out of range: use 1 to 86400 seconds")
        return value

    def to_unit(self) -> int | dict[str, int]:
        """Unit's `processes` value: an int for a static pool, else the object."""
        if self.max == self.spare and self.idle_timeout is None:
            return self.max
        out = {"max": self.max, "spare": self.spare}
        if self.idle_timeout is not None:
            out["idle_timeout"] = self.idle_timeout
        return out


class TlsSpec(_Spec):
    """HTTPS for one app: where its certificate comes from and the TLS listener.

    `source: config` takes the PEM chain and key from the stack's secret config
    (`tlsCertificates.APP.chain` / `.key`); `source: directadmin` reads the
    certificate DirectAdmin keeps for the domain (Let's Encrypt) on the host,
    `certFile` / `keyFile` overriding where.
    """

    source: Literal["config", "directadmin"]
    listener: str = "*:443"
    cert_file: str | None = None
    key_file: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _drop_pasted_key(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for field in ("keyFile", "key_file", "certFile", "cert_file"):
                if _looks_like_key_material(data.get(field)):
                    data = {**data, field: _KEY_MATERIAL_MARKER}
        return data

    @field_validator("source", mode="before")
    @classmethod
    def _source(cls, value: Any) -> Any:
        if value not in ("config", "directadmin"):
            raise _invalid(f"tls source {_show(value)} is not known: use config (the PEM chain and key in "
                           "secret stack config) or directadmin (the domain's certificate on the host)")
        return value

    @field_validator("listener")
    @classmethod
    def _listener(cls, value: str) -> str:
        return _check_listener("tls listener", value, example="*:443")

    @field_validator("cert_file", "key_file")
    @classmethod
    def _files(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        field = "certFile" if info.field_name == "cert_file" else "keyFile"
        if value == _KEY_MATERIAL_MARKER:
            raise _invalid(f"tls {field} holds PEM material: give the path of the file on the host, never "
                           "its content (put PEM in `pulumi config set --secret` with source: config)")
        example = ("/usr/local/directadmin/data/users/USER/domains/DOMAIN.cert.combined"
                   if field == "certFile" else "/usr/local/directadmin/data/users/USER/domains/DOMAIN.key")
        return _check_remote_path(f"tls {field}", value, example=example)

    @model_validator(mode="after")
    def _files_only_for_directadmin(self) -> TlsSpec:
        if self.source != "directadmin" and (self.cert_file or self.key_file):
            raise _errors_at("TlsSpec", [(("certFile" if self.cert_file else "keyFile",), (
                "certFile and keyFile are paths on the host for source: directadmin; with source: config "
                "the PEM comes from `pulumi config set --secret --path tlsCertificates.APP.chain`"))])
        return self


def _check_listener(field: str, value: str, *, example: str) -> str:
    _refuse_control(field, value)
    _refuse_non_ascii(field, value)
    if "%" in value:
        raise _invalid(f"{field} {_show(value)} has an IPv6 zone (%...): Unit takes an address without "
                       f"one, like {example}")
    try:
        address, port = _parse_listener(value.strip())
    except ValueError as exc:
        raise _invalid(f"{field} {_show(value)} is not a Unit listener ({exc}): "
                       f"use '*:PORT' or 'ADDRESS:PORT', like {example}") from None
    return f"{address}:{port}"


def _normalize_security_headers(value: Any) -> dict[str, str]:
    """The headers to send: the defaults, or none (false), or the defaults with
    the given ones merged over them (by name, case-insensitively; null drops one)."""
    if value is None or value is True:
        return dict(DEFAULT_SECURITY_HEADERS)
    if value is False:
        return {}
    if not isinstance(value, dict):
        raise _invalid("securityHeaders must be a map of header name to value (null drops a default "
                       "header), true for the defaults or false for none")
    out = dict(DEFAULT_SECURITY_HEADERS)
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for name, item in value.items():
        loc: tuple[str | int, ...] = (str(name),)
        if not isinstance(name, str) or not HEADER_NAME_RE.fullmatch(name):
            problems.append((loc, f"securityHeaders name {_show(name)} is not an HTTP header name: use "
                                  "letters, digits and hyphens, like Strict-Transport-Security"))
            continue
        if name.lower() in FRAMING_HEADERS:
            problems.append((loc, f"securityHeaders {name} frames the response, it is not a security "
                                  "header: remove it"))
            continue
        for existing in [k for k in out if k.lower() == name.lower()]:
            del out[existing]
        if item is None:
            continue
        if not isinstance(item, str) or not item.strip():
            problems.append((loc, f"securityHeaders {name} must be a non-empty text value (quote it in the "
                                  "stack YAML), or null to not send it"))
        elif any(ord(c) < 32 or ord(c) == 127 for c in item):
            problems.append((loc, f"securityHeaders {name} contains a line break or control character: "
                                  "write the value on one line"))
        elif "$" in item or item.startswith("`"):
            problems.append((loc, f"securityHeaders {name} contains '$' or starts with '`': Unit would read "
                                  "it as a variable or a script; remove it"))
        else:
            out[name] = item.strip()
    if problems:
        raise _errors_at("securityHeaders", problems)
    return dict(sorted(out.items()))


def _static_pair_problem(url: str | None, path: str, *, dir_given: bool
                         ) -> tuple[tuple[str | int, ...], str] | None:
    """Why staticUrl and staticDir do not fit together, as (loc, message), or None.

    Unit serves `share: BASE$uri` and $uri already starts with the URL prefix,
    so the directory must end with that prefix for BASE to exist.
    """
    if not url:
        return None
    tail = url.strip("/")
    if path == tail or path.endswith("/" + tail):
        return None
    if not dir_given:
        return (("staticUrl",), (
            f"staticUrl {url!r} does not fit the default staticDir {path!r}: Unit serves a request for "
            f"{url}x.css from <base>{url}x.css, so also set staticDir to a directory ending in {tail!r} "
            f"(like app/{tail}), or use staticUrl '/{path.rsplit('/', 1)[-1]}/'"))
    return (("staticDir",), (
        f"staticDir {_show(path)} does not end with {tail!r} from staticUrl {url!r}: Unit "
        f"serves a request for {url}x.css from <base>{url}x.css, so name the directory "
        f".../{tail} (like app/{tail}) or set staticUrl to '/{path.rsplit('/', 1)[-1]}/'"))


def default_app_dir(da_user: str, domain: str, name: str) -> str:
    """Where the seed lays an app out: /home/USER/domains/DOMAIN/public_html/NAME."""
    return f"/home/{da_user}/domains/{domain}/public_html/{name}"


def _default_aliases(raw_domain: Any) -> list[str]:
    """www.DOMAIN, unless the domain already starts with www. or is itself invalid
    (then only the domain's own error is reported)."""
    if not isinstance(raw_domain, str):
        return []
    domain = _normalize_dns_name(raw_domain)
    if domain.startswith("www.") or _dns_name_problem(domain, need_dot=True):
        return []
    return [f"www.{domain}"]


def _default_processes() -> ProcessesSpec:
    return ProcessesSpec()


class AppSpec(_Spec):
    """One Flask app on one host, run by Unit as a "python X.Y" application."""

    name: str
    host: str
    domain: str
    aliases: tuple[str, ...] = ()  # default www.DOMAIN, filled in by _fill_aliases
    source: str
    module: str = "wsgi"
    callable: str = "application"
    python_version: str = "3.11"
    requirements: str = "requirements.txt"
    environment: dict[str, str] = Field(default_factory=dict)
    secret_environment_keys: tuple[str, ...] = ()
    static_url: str | None = "/static/"
    static_dir: str = "app/static"
    processes: ProcessesSpec = Field(default_factory=_default_processes)
    threads: StrictInt = 1
    listener: str = "*:80"
    isolation: bool = False
    app_dir: str | None = None
    health_check: bool = True  # off: no request through Unit after a switch (e.g. no listener reachable)
    health_path: str = "/"
    health_status: StrictInt = 200
    keep_releases: StrictInt = 5
    # Vulnerable pins in requirements (daunit.audit): listed at preview (warn),
    # or the preview fails naming them (block); off asks nothing.
    audit: Literal["warn", "block", "off"] = "warn"
    # Normalized by _security_headers: the exact headers every response gets.
    security_headers: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_SECURITY_HEADERS))
    tls: TlsSpec | None = None
    # Run in each new release before Unit switches to it (providers/release_commands.py).
    release_commands: tuple[tuple[str, ...], ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _fill_aliases(cls, data: Any) -> Any:
        if isinstance(data, dict) and "aliases" not in data:
            return {**data, "aliases": _default_aliases(data.get("domain"))}
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value.startswith(RESERVED_APP_PREFIXES):
            raise _invalid(f"app name {value!r} is reserved: da-flask names its own objects so; "
                           "choose another name, like flask_app")
        if APP_NAME_RE.fullmatch(value):
            return value
        why = ""
        if "/" in value or "\\" in value or ".." in value:
            why = " (it becomes a directory and a Unit path, so '/', '\\' and '..' are not allowed)"
        elif any(c in SHELL_METACHARACTERS for c in value):
            why = " (it contains spaces or shell characters)"
        raise _invalid(f"app name {_show(value)} is not valid{why}: use 1-32 lower-case letters, "
                       "digits and underscores, starting with a letter, like flask_app")

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not HOST_NAME_RE.fullmatch(value):
            raise _invalid(f"host {_show(value)} is not a host name from hosts: use the key you gave "
                           "the host under hosts, like web1")
        return value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return _check_dns_name("domain", value)

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        names = [_check_dns_name("aliases", alias) for alias in value]
        domain = info.data.get("domain")
        if domain in names:
            raise _invalid(f"aliases repeats the domain {domain!r}: remove it from aliases")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise _invalid(f"aliases lists {', '.join(duplicates)} more than once: keep one of each")
        # Sorted so that reordering the YAML list is not a change.
        return tuple(sorted(names))

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        return _check_local_path("source", value, example="./examples/flask_app")

    @field_validator("module")
    @classmethod
    def _module(cls, value: str) -> str:
        if value.endswith(".py"):
            raise _invalid(f"module {_show(value)} names a file: give the module name without .py, "
                           f"like {value[:-3] or 'wsgi'}")
        parts = value.split(".")
        if not all(p.isidentifier() and p.isascii() and not keyword.iskeyword(p) for p in parts):
            raise _invalid(f"module {_show(value)} is not a Python module name: use dotted identifiers "
                           "relative to the source directory, like wsgi or myapp.wsgi")
        return value

    @field_validator("callable")
    @classmethod
    def _callable(cls, value: str) -> str:
        if not (value.isidentifier() and value.isascii() and not keyword.iskeyword(value)):
            raise _invalid(f"callable {_show(value)} is not a Python identifier: name the WSGI object "
                           "in the module, like application")
        return value

    @field_validator("python_version")
    @classmethod
    def _python_version(cls, value: str) -> str:
        if not PYTHON_VERSION_RE.fullmatch(value):
            raise _invalid(f"pythonVersion {_show(value)} is not valid: give MAJOR.MINOR of a Python "
                           "module Unit has loaded, like 3.11")
        return value

    @field_validator("requirements")
    @classmethod
    def _requirements(cls, value: str) -> str:
        return _check_relative_path("requirements", value, example="requirements.txt")

    @field_validator("environment", mode="before")
    @classmethod
    def _environment_numbers(cls, value: Any) -> Any:
        # YAML turns `PORT: 8080` into a number; environment values are strings.
        if not isinstance(value, dict):
            return value
        out: dict[Any, Any] = {}
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for key, item in value.items():
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                item = str(item)
            elif not isinstance(item, str):
                problems.append(((str(key),), f"environment {key} must be text: quote the value in the "
                                              f'stack YAML, like {key}: "true"'))
            out[key] = item
        if problems:
            raise _errors_at("environment", problems)
        return out

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: dict[str, str]) -> dict[str, str]:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for key, item in value.items():
            if not ENV_NAME_RE.fullmatch(key):
                problems.append(((key,), f"environment name {_show(key)} is not valid: use letters, digits "
                                         "and underscores, not starting with a digit, like FLASK_CONFIG"))
            elif key in RESERVED_ENV_NAMES:
                problems.append(((key,), f"environment {key} is set by da-flask "
                                         f"({RESERVED_ENV_NAMES[key]}): remove it"))
            else:
                problem = env_value_problem(f"environment {key}", item, allowed_controls="\t")
                if problem:
                    problems.append(((key,), problem))
        if problems:
            raise _errors_at("environment", problems)
        return value

    @field_validator("secret_environment_keys")
    @classmethod
    def _secret_keys(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        for key in value:
            if not ENV_NAME_RE.fullmatch(key):
                raise _invalid(f"secretEnvironmentKeys name {_show(key)} is not valid: use letters, digits "
                               "and underscores, not starting with a digit, like SECRET_KEY")
            if key in RESERVED_ENV_NAMES:
                raise _invalid(f"secretEnvironmentKeys {key} is set by da-flask: remove it")
        overlap = sorted(set(value) & set(info.data.get("environment") or {}))
        if overlap:
            raise _invalid(f"secretEnvironmentKeys {', '.join(overlap)} also in environment: a name is "
                           "either secret or not; remove it from environment")
        return tuple(sorted(set(value)))

    @field_validator("static_url")
    @classmethod
    def _static_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        segments = value.split("/")
        ok = (len(value) > 1 and value.startswith("/") and value.endswith("/")
              and all(URL_SEGMENT_RE.fullmatch(s) for s in segments[1:-1]))
        if not ok:
            raise _invalid(f"staticUrl {_show(value)} is not a URL prefix: it must start and end with '/' "
                           "and name at least one path segment, like /static/ (null serves no static files)")
        return value

    @field_validator("static_dir")
    @classmethod
    def _static_dir(cls, value: str) -> str:
        path = _check_relative_path("staticDir", value, example="app/static")
        _refuse_dollar("staticDir", value)
        return path

    @field_validator("threads")
    @classmethod
    def _threads(cls, value: int) -> int:
        if not 1 <= value <= 256:
            raise _invalid(f"threads {value} is out of range: use 1 to 256 threads per process")
        return value

    @field_validator("listener")
    @classmethod
    def _listener(cls, value: str) -> str:
        return _check_listener("listener", value, example="*:80 or 127.0.0.1:8080")

    @field_validator("security_headers", mode="before")
    @classmethod
    def _security_headers(cls, value: Any) -> dict[str, str]:
        return _normalize_security_headers(value)

    @field_validator("tls", mode="before")
    @classmethod
    def _tls(cls, value: Any) -> Any:
        if value is False:
            return None
        if isinstance(value, str):
            # Shorthand: `tls: directadmin` or `tls: config`.
            return {"source": value}
        return value

    @field_validator("tls")
    @classmethod
    def _tls_listener(cls, value: TlsSpec | None, info: ValidationInfo) -> TlsSpec | None:
        listener = info.data.get("listener")
        if value is not None and listener and listener_port(value.listener) == listener_port(listener):
            raise _invalid(f"tls listener {value.listener!r} uses the port of the app's listener "
                           f"{listener!r}: Unit serves a port either with TLS or without, use *:443")
        return value

    @field_validator("release_commands", mode="before")
    @classmethod
    def _release_commands(cls, value: Any) -> Any:
        return parse_release_commands(value)

    @field_validator("app_dir")
    @classmethod
    def _app_dir(cls, value: str | None) -> str | None:
        if value is None:
            return None
        path = _check_remote_path("appDir", value,
                                  example="/home/username/domains/example.com/public_html/flask_app")
        _refuse_dollar("appDir", value)
        return path

    @field_validator("health_path")
    @classmethod
    def _health_path(cls, value: str) -> str:
        if not value.startswith("/") or any(ord(c) <= 32 or ord(c) >= 127 for c in value):
            raise _invalid(f"healthPath {_show(value)} is not a URL path: start it with '/' and use no "
                           "spaces, like / or /healthz")
        return value

    @field_validator("health_status")
    @classmethod
    def _health_status(cls, value: int) -> int:
        if not 100 <= value <= 599:
            raise _invalid(f"healthStatus {value} is not an HTTP status: use 100 to 599, usually 200")
        return value

    @field_validator("keep_releases")
    @classmethod
    def _keep_releases(cls, value: int) -> int:
        if not 1 <= value <= 100:
            raise _invalid(f"keepReleases {value} is out of range: keep 1 to 100 releases (5 is usual)")
        return value

    @model_validator(mode="after")
    def _static_pair(self) -> AppSpec:
        # After the fields, so a default staticDir is checked against staticUrl too.
        problem = _static_pair_problem(self.static_url, self.static_dir,
                                       dir_given="static_dir" in self.model_fields_set)
        if problem:
            raise _errors_at("AppSpec", [problem])
        return self

    @model_validator(mode="after")
    def _source_tree(self, info: ValidationInfo) -> AppSpec:
        # Only when asked: the stack program has the source tree, a provider
        # re-reading its inputs may not.
        if not (info.context or {}).get("check_source"):
            return self
        problems = self.source_problems()
        if problems:
            raise _errors_at("AppSpec", problems)
        return self

    @property
    def unit_type(self) -> str:
        """Unit's application type, e.g. "python 3.11"."""
        return f"python {self.python_version}"

    @property
    def host_names(self) -> tuple[str, ...]:
        """The domain, then its aliases."""
        return (self.domain, *self.aliases)

    @property
    def entry_point_candidates(self) -> tuple[str, str]:
        """Where the module's file can be: wsgi -> wsgi.py or wsgi/__init__.py."""
        base = self.module.replace(".", "/")
        return (f"{base}.py", f"{base}/__init__.py")

    def app_dir_on(self, host: HostSpec) -> str:
        """app_dir if given, else the seed's layout under the host's DirectAdmin user."""
        return self.app_dir or default_app_dir(host.da_user, self.domain, self.name)

    def source_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """What is missing from the local source tree, as (loc, message); reads the disk."""
        root = os.path.expanduser(self.source)
        if not os.path.isdir(root):
            return [(("source",), f"source {_show(self.source)} is not a directory on this machine: "
                                  "give the directory holding the app (relative to the project or absolute)")]
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if not any(os.path.isfile(os.path.join(root, c)) for c in self.entry_point_candidates):
            problems.append((("module",), f"module {self.module!r} has no file in {self.source}: "
                                          f"expected {' or '.join(self.entry_point_candidates)}"))
        if not os.path.isfile(os.path.join(root, self.requirements)):
            problems.append((("requirements",), f"requirements {self.requirements!r} is not a file in "
                                                f"{self.source}: pin the app's packages there "
                                                "(pip freeze > requirements.txt)"))
        if self.static_url and not os.path.isdir(os.path.join(root, self.static_dir)):
            problems.append((("staticDir",), f"staticDir {self.static_dir!r} is not a directory in "
                                             f"{self.source}: create it, or set staticUrl to null"))
        return problems or self._shipping_problems(root)

    def _shipping_problems(self, root: str) -> list[tuple[tuple[str | int, ...], str]]:
        """What stops the tree from being shipped as it is: a file the manifest refuses
        (symlink, odd name, a top-level instance/logs file) or credentials in requirements."""
        from daunit.manifest import ManifestError, build_app_manifest  # manifest imports this module

        try:
            build_app_manifest(self)
        except ManifestError as exc:
            return [(("source",), f"source {self.source}: {exc}")]
        with open(os.path.join(root, self.requirements), "rb") as handle:
            text = handle.read().decode("utf-8", "replace")
        return [(("requirements",), message) for message in requirements_problems(text, self.requirements)]


class StackSpec(_Spec):
    """Every host and app of one stack, checked against each other."""

    hosts: dict[str, HostSpec]
    apps: tuple[AppSpec, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _hosts_by_name(cls, data: Any) -> Any:
        # Hosts may be a mapping (key = name, the usual YAML) or a list of
        # objects with a name; both become a mapping keyed by name.
        if not isinstance(data, dict) or "hosts" not in data:
            return data
        raw = data["hosts"]
        hosts: dict[str, Any] = {}
        if isinstance(raw, dict):
            for key, item in raw.items():
                if isinstance(item, dict) and "name" not in item:
                    item = {**item, "name": key}
                hosts[key] = item
        elif isinstance(raw, (list, tuple)):
            for index, item in enumerate(raw):
                name = item.get("name") if isinstance(item, dict) else None
                key = name if isinstance(name, str) else str(index)
                if key in hosts:
                    raise _errors_at("StackSpec", [(("hosts", index, "name"), (
                        f"host name {key!r} is used twice in hosts: give each host its own name"))])
                hosts[key] = item
        else:
            return data
        return {**data, "hosts": hosts}

    @model_validator(mode="after")
    def _consistent(self) -> StackSpec:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for key, host in self.hosts.items():
            if key != host.name:
                problems.append((("hosts", key, "name"), (
                    f"host name {host.name!r} differs from its key {key!r} under hosts: "
                    "drop name or make them equal")))
        seen_names: dict[str, int] = {}
        seen_host_names: dict[tuple[str, str], int] = {}
        seen_dirs: dict[tuple[str, str], int] = {}
        listeners: dict[tuple[str, int], tuple[str, int, bool]] = {}
        for index, app in enumerate(self.apps):
            app_host = self.hosts.get(app.host)
            if app_host is None:
                defined = ", ".join(sorted(self.hosts)) or "none"
                problems.append((("apps", index, "host"), (
                    f"host {app.host!r} is not defined under hosts (defined: {defined}): "
                    "add it there or fix the name")))
                continue
            other = seen_names.setdefault(app.name, index)
            if other != index:
                # Also on another host: the name keys the app's resources
                # (their URNs), its appSecrets and its stack outputs.
                problems.append((("apps", index, "name"), (
                    f"app name {app.name!r} is already used by apps[{other}]: app names are unique "
                    "in a stack (they name its resources, appSecrets and outputs), rename one")))
            for field, names in (("domain", (app.domain,)), ("aliases", app.aliases)):
                for name in names:
                    other = seen_host_names.setdefault((app.host, name), index)
                    if other != index:
                        problems.append((("apps", index, field), (
                            f"{field} {name!r} is already served on host {app.host!r} by apps[{other}]: "
                            "a host name can route to one app only, remove it from one of them")))
            app_dir = app.app_dir_on(app_host)
            other = seen_dirs.setdefault((app.host, app_dir), index)
            if other != index:
                problems.append((("apps", index, "appDir"), (
                    f"appDir {app_dir!r} is already used on host {app.host!r} by apps[{other}]: "
                    "give each app its own directory")))
            problems += _listener_problems(index, app, listeners)
        if problems:
            raise _errors_at("StackSpec", problems)
        return self

    @model_validator(mode="after")
    def _app_dirs_in_site_tree(self) -> StackSpec:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for index, app in enumerate(self.apps):
            host = self.hosts.get(app.host)
            if app.app_dir is None or host is None:
                continue  # the default is in the tree; a missing host is reported on its own
            problem = _site_tree_problem(app.app_dir, host.da_user)
            if problem:
                problems.append((("apps", index, "appDir"), problem))
        if problems:
            raise _errors_at("StackSpec", problems)
        return self

    @model_validator(mode="after")
    def _tls_files_in_directadmin_data(self) -> StackSpec:
        """Root reads certFile/keyFile on the host and loads them into Unit:
        only the user's own files in DirectAdmin's data, never any root file."""
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for index, app in enumerate(self.apps):
            host = self.hosts.get(app.host)
            if app.tls is None or host is None:
                continue
            where = DIRECTADMIN_USER_DOMAINS.format(user=host.da_user) + "/"
            for field, value in (("certFile", app.tls.cert_file), ("keyFile", app.tls.key_file)):
                if value is not None and not (value.startswith(where) and "/" not in value[len(where):]):
                    problems.append((("apps", index, "tls", field), (
                        f"tls {field} {value!r} is not one of daUser {host.da_user!r}'s certificate files: "
                        f"root reads it on the host, so it must be a file in {where}, like "
                        f"{where}{app.domain}.{'cert.combined' if field == 'certFile' else 'key'}")))
        if problems:
            raise _errors_at("StackSpec", problems)
        return self

    def host_of(self, app: AppSpec) -> HostSpec:
        return self.hosts[app.host]


def _listener_problems(index: int, app: AppSpec, listeners: dict[tuple[str, int], tuple[str, int, bool]]
                       ) -> list[tuple[tuple[str | int, ...], str]]:
    """Clashes of apps[index]'s listeners with those seen so far (recorded in `listeners`,
    keyed by (host, port) -> (address, first app index, TLS))."""
    uses: list[tuple[tuple[str | int, ...], str, bool]] = [(("apps", index, "listener"), app.listener, False)]
    if app.tls is not None:
        uses.append((("apps", index, "tls", "listener"), app.tls.listener, True))
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for loc, listener, tls in uses:
        address, port = _parse_listener(listener)
        first = listeners.setdefault((app.host, port), (address, index, tls))
        if first[0] != address:
            problems.append((loc, (
                f"listener {listener!r} overlaps {first[0]}:{port} of apps[{first[1]}] on host "
                f"{app.host!r}: Unit binds a port once, use the same listener string for both")))
        elif first[2] != tls:
            problems.append((loc, (
                f"listener {listener!r} is {'TLS' if tls else 'plain HTTP'} here but "
                f"{'TLS' if first[2] else 'plain HTTP'} for apps[{first[1]}] on host {app.host!r}: "
                "a port serves either TLS or plain HTTP, use another port")))
    return problems


# Directories DirectAdmin makes and manages in each domain's directory: never an app's own.
DA_DOMAIN_DIRS = frozenset({"public_html", "private_html", "public_ftp", "logs", "stats", "awstats"})


def _site_tree_problem(app_dir: str, da_user: str) -> str | None:
    """Why `app_dir` (already a clean absolute path) is not a directory of its own in
    daUser's site tree /home/USER/domains/DOMAIN/..., or None."""
    parts = app_dir.split("/")[1:]
    example = f"/home/{da_user}/domains/example.com/public_html/flask_app"
    domain_ok = len(parts) >= 4 and _dns_name_problem(parts[3], need_dot=True) is None
    if parts[:3] != ["home", da_user, "domains"] or not domain_ok or len(parts) < 5:
        return (f"appDir {app_dir!r} is outside daUser {da_user!r}'s site tree: the deploy gives the app "
                f"directory to that user, so it must lie under /home/{da_user}/domains/DOMAIN/, like {example}")
    if "private_html" in parts[4:5]:
        return (f"appDir {app_dir!r} goes through private_html, which DirectAdmin makes a link to "
                f"public_html: write the public_html path, like {example}")
    if len(parts) == 5 and parts[4] in DA_DOMAIN_DIRS:
        return (f"appDir {app_dir!r} is a directory DirectAdmin manages: give the app a directory of its "
                f"own inside it, like {example}")
    return None


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    return "null" if value is None else "a list" if isinstance(value, list) else "a map"


def _one_app_secrets(index: int, app: AppSpec, values: Any) -> list[tuple[str, str]]:
    where = _format_path(("appSecrets", app.name))
    if values is None:
        values = {}
    if not isinstance(values, dict):
        return [(where, f"{where} must be a map of NAME: value, set with `pulumi config set --secret "
                        f"--path {where}.NAME` (the value on stdin)")]
    problems = []
    for key in app.secret_environment_keys:
        if key not in values:
            path = f"{where}.{key}"
            problems.append((path, f"{path} has no value but apps[{index}].secretEnvironmentKeys lists {key}: "
                                   f"set it with `pulumi config set --secret --path {path}` (the value on stdin)"))
    for key, value in values.items():
        path = _format_path(("appSecrets", app.name, str(key)))
        if key not in app.secret_environment_keys:
            problems.append((path, f"{path} is not listed in apps[{index}].secretEnvironmentKeys: add it "
                                   f"there, or remove it (`pulumi config rm --path {path}`)"))
        elif not isinstance(value, str):
            problems.append((path, f"{path} is {_kind_of(value)}, not text: set it again with "
                                   f"`pulumi config set --secret --path {path}` (the value on stdin), "
                                   "which stores text"))
        else:
            problem = env_value_problem(path, value, allowed_controls="\t\n\r")
            if problem:
                problems.append((path, problem))
    return problems


def app_secrets_problems(spec: StackSpec, raw: Any) -> list[tuple[str, str]]:
    """What is wrong with the stack's `appSecrets` (APP -> NAME -> value) for `spec`'s apps,
    as (path, message). Messages name keys, never values."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return [("appSecrets", "appSecrets must be a map of app name to {NAME: value}: set each value with "
                               "`pulumi config set --secret --path appSecrets.APP.NAME`")]
    # Entries for apps not in `apps` are left alone: an app removed from the
    # config keeps its secrets until the user drops them, and a misspelt app
    # name shows up as the real app's missing value.
    problems: list[tuple[str, str]] = []
    for index, app in enumerate(spec.apps):
        problems += _one_app_secrets(index, app, raw.get(app.name))
    return problems


def validate_stack(hosts_raw: Any, apps_raw: Any, app_secrets_raw: Any = None, *,
                   check_source: bool = True) -> StackSpec:
    """parse_stack, then the appSecrets against it; raises StackConfigError with one
    (field path, message) per problem, before anything reaches a host."""
    try:
        spec = parse_stack(hosts_raw, apps_raw, check_source=check_source)
    except ValidationError as exc:
        raise StackConfigError(format_errors(exc)) from None
    problems = app_secrets_problems(spec, app_secrets_raw)
    if problems:
        raise StackConfigError(problems)
    return spec


def parse_stack(hosts_raw: Any, apps_raw: Any, *, check_source: bool = True) -> StackSpec:
    """Validate a stack's `hosts` and `apps` config; raises pydantic.ValidationError.

    With check_source (the default) each app's source directory is read to
    check that its module, requirements and static directory exist.
    """
    return StackSpec.model_validate({"hosts": hosts_raw, "apps": apps_raw},
                                    context={"check_source": check_source})


# --- TLS material (secret: no message here ever includes it) -------------------------------


def _name_covers(pattern: str, name: str) -> bool:
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


def certificate_names(cert: Any) -> list[str]:
    """DNS names a certificate is for: its subjectAltName, else its common name."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        return [str(n) for n in san.value.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def tls_bundle_problems(chain: Any, key: Any, domain: str, *,
                        where: str = "tlsCertificates") -> list[tuple[str, str]]:
    """What stops Unit from serving `chain` + `key` for `domain`, as (field, message).

    `chain` is the PEM certificate chain (leaf first), `key` its unencrypted PEM
    private key. Messages name the field, never any of its content.
    """
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

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
    names = certificate_names(certs[0])
    if not any(_name_covers(n, domain) for n in names):
        problems.append((f"{where}.chain", f"the certificate is for {', '.join(names) or 'no name'}, "
                                           f"not for the app's domain {domain}: use a certificate "
                                           "that names it"))
    return problems


# --- error reporting ----------------------------------------------------------------------


def _known_field_names() -> list[str]:
    names: set[str] = set()
    for model in (HostSpec, AppSpec, ProcessesSpec, StackSpec, TlsSpec):
        for field_name, field in model.model_fields.items():
            names.add(field.alias or field_name)
    return sorted(names)


def _format_path(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


# pydantic's error types for a value of the wrong kind, and what to write instead.
_TYPE_HINTS = {
    "int_type": "must be a whole number written without quotes (not true/false, text or a fraction)",
    "int_parsing": "must be a whole number written without quotes",
    "string_type": "must be text: quote it in the stack YAML",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be a map of names to values",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
}


def format_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """One (field path, message) per error, e.g. ("apps[0].domain", "domain 'x y' is not ...").

    Messages name the field and never include the rejected input.
    """
    out: list[tuple[str, str]] = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = tuple(error["loc"])
        path = _format_path(loc)
        field = str(loc[-1]) if loc else "config"
        kind = error["type"]
        if kind == ERROR_TYPE:
            message = error["msg"]
        elif kind == "missing":
            message = f"{field} is required: add it"
        elif kind in _TYPE_HINTS:
            message = f"{field} {_TYPE_HINTS[kind]}"
        elif kind == "extra_forbidden":
            close = difflib.get_close_matches(field, _known_field_names(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            message = f"unknown field {field!r}: remove it or fix its spelling{hint}"
        else:
            message = f"{field}: {error['msg']}"
        out.append((path, message))
    return out
