"""AppSpec: one Flask app on one host, run by Unit as a "python X.Y" application."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from daunit.spec.base import Problem, Spec, invalid, raise_problems, reads_local_files, show
from daunit.spec.commands import parse_release_commands
from daunit.spec.environment import check_environment, check_secret_keys, numbers_as_text
from daunit.spec.headers import DEFAULT_SECURITY_HEADERS, normalize_security_headers
from daunit.spec.host import HostSpec
from daunit.spec.local import source_problems
from daunit.spec.processes import ProcessesSpec
from daunit.spec.text import check_dns_name, dns_name_problem, listener_port, normalize_dns_name
from daunit.spec.tls import TlsSpec
from daunit.spec.types import (
    APP_NAME_RE,
    Check,
    DnsName,
    HostRef,
    HttpStatus,
    Listener,
    LocalPath,
    OutOfRange,
    PythonName,
    PythonVersion,
    RelativePath,
    RemotePath,
)

# Unit objects are named daflask:<project>:<stack>:<app> (daunit.ownership), so
# no app name collides with Unit's or DirectAdmin's; these only keep a name
# from looking like one of da-flask's own.
RESERVED_APP_PREFIXES = ("da_flask", "daflask")
SHELL_METACHARACTERS = set(" \t\n;&|$`\\\"'<>(){}[]*?!#~=%")
URL_SEGMENT_RE = re.compile(r"[A-Za-z0-9._~-]+\Z")


@dataclass(frozen=True)
class AppName(Check):
    """An app's name: a directory, a Unit object and the key of its resources."""

    def check(self, value: str) -> str:
        if value.startswith(RESERVED_APP_PREFIXES):
            raise invalid(f"app name {value!r} is reserved: da-flask names its own objects so; "
                          "choose another name, like flask_app")
        if APP_NAME_RE.fullmatch(value):
            return value
        why = ""
        if "/" in value or "\\" in value or ".." in value:
            why = " (it becomes a directory and a Unit path, so '/', '\\' and '..' are not allowed)"
        elif any(c in SHELL_METACHARACTERS for c in value):
            why = " (it contains spaces or shell characters)"
        raise invalid(f"app name {show(value)} is not valid{why}: use 1-32 lower-case letters, "
                      "digits and underscores, starting with a letter, like flask_app")


@dataclass(frozen=True)
class UrlPrefix(Check):
    """staticUrl: /SEGMENT/.../ of plain URL characters."""

    def check(self, value: str) -> str:
        segments = value.split("/")
        if not (len(value) > 1 and value.startswith("/") and value.endswith("/")
                and all(URL_SEGMENT_RE.fullmatch(s) for s in segments[1:-1])):
            raise invalid(f"staticUrl {show(value)} is not a URL prefix: it must start and end with '/' "
                          "and name at least one path segment, like /static/ (null serves no static files)")
        return value


@dataclass(frozen=True)
class UrlPath(Check):
    """healthPath: a request path, printable ASCII with no spaces."""

    def check(self, value: str) -> str:
        if not value.startswith("/") or any(ord(c) <= 32 or ord(c) >= 127 for c in value):
            raise invalid(f"healthPath {show(value)} is not a URL path: start it with '/' and use no "
                          "spaces, like / or /healthz")
        return value


def _default_aliases(raw_domain: Any) -> list[str]:
    """www.DOMAIN, unless the domain already starts with www. or is itself invalid
    (then only the domain's own error is reported)."""
    if not isinstance(raw_domain, str):
        return []
    domain = normalize_dns_name(raw_domain)
    if domain.startswith("www.") or dns_name_problem(domain, need_dot=True):
        return []
    return [f"www.{domain}"]


def check_aliases(value: tuple[str, ...], domain: str | None) -> tuple[str, ...]:
    names = [check_dns_name("aliases", alias) for alias in value]
    if domain in names:
        raise invalid(f"aliases repeats the domain {domain!r}: remove it from aliases")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise invalid(f"aliases lists {', '.join(duplicates)} more than once: keep one of each")
    # Sorted so that reordering the YAML list is not a change.
    return tuple(sorted(names))


def static_pair_problem(url: str | None, path: str, *, dir_given: bool) -> Problem | None:
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
        f"staticDir {show(path)} does not end with {tail!r} from staticUrl {url!r}: Unit "
        f"serves a request for {url}x.css from <base>{url}x.css, so name the directory "
        f".../{tail} (like app/{tail}) or set staticUrl to '/{path.rsplit('/', 1)[-1]}/'"))


def check_tls_port(tls: TlsSpec, listener: str) -> TlsSpec:
    if listener_port(tls.listener) == listener_port(listener):
        raise invalid(f"tls listener {tls.listener!r} uses the port of the app's listener "
                      f"{listener!r}: Unit serves a port either with TLS or without, use *:443")
    return tls


def tls_shorthand(value: Any) -> Any:
    """`tls: false` is no TLS; `tls: directadmin` / `tls: config` name the source."""
    if value is False:
        return None
    return {"source": value} if isinstance(value, str) else value


class AppSpec(Spec):
    """One Flask app on one host, run by Unit as a "python X.Y" application."""

    name: Annotated[str, AppName()]
    host: HostRef
    domain: Annotated[str, DnsName("domain")]
    aliases: tuple[str, ...] = ()  # default www.DOMAIN, filled in by _fill_aliases
    source: Annotated[str, LocalPath("source", example="./examples/flask_app")]
    module: Annotated[str, PythonName("module", dotted=True, message=(
        "module {value} is not a Python module name: use dotted identifiers relative to the source "
        "directory, like wsgi or myapp.wsgi"))] = "wsgi"
    callable: Annotated[str, PythonName("callable", message=(
        "callable {value} is not a Python identifier: name the WSGI object in the module, "
        "like application"))] = "application"
    python_version: PythonVersion = "3.11"
    requirements: Annotated[str, RelativePath("requirements", example="requirements.txt")] = "requirements.txt"
    # YAML's numbers (PORT: 8080) taken as text.
    environment: Annotated[dict[str, str], BeforeValidator(numbers_as_text),
                           AfterValidator(check_environment)] = Field(default_factory=dict)
    secret_environment_keys: tuple[str, ...] = ()
    static_url: Annotated[str, UrlPrefix()] | None = "/static/"
    static_dir: Annotated[str, RelativePath("staticDir", example="app/static", served=True)] = "app/static"
    processes: ProcessesSpec = Field(default_factory=ProcessesSpec)
    threads: Annotated[StrictInt, Field(ge=1, le=256), OutOfRange(
        "threads {value} is out of range: use {ge} to {le} threads per process")] = 1
    listener: Annotated[str, Listener("listener", example="*:80 or 127.0.0.1:8080")] = "*:80"
    isolation: bool = False
    app_dir: Annotated[str, RemotePath(
        "appDir", example="/home/username/domains/example.com/public_html/flask_app", served=True)] | None = None
    health_check: bool = True  # off: no request through Unit after a switch (e.g. no listener reachable)
    health_path: Annotated[str, UrlPath()] = "/"
    health_status: HttpStatus = 200
    keep_releases: Annotated[StrictInt, Field(ge=1, le=100), OutOfRange(
        "keepReleases {value} is out of range: keep {ge} to {le} releases (5 is usual)")] = 5
    # Vulnerable pins in requirements (daunit.audit): listed at preview (warn),
    # or the preview fails naming them (block); off asks nothing.
    audit: Literal["warn", "block", "off"] = "warn"
    # The exact headers every response gets: the defaults with the config's merged over them.
    security_headers: Annotated[dict[str, str], BeforeValidator(normalize_security_headers)] = Field(
        default_factory=lambda: dict(DEFAULT_SECURITY_HEADERS))
    tls: Annotated[TlsSpec | None, BeforeValidator(tls_shorthand)] = None
    # Run in each new release before Unit switches to it (providers/release_commands.py).
    release_commands: Annotated[tuple[tuple[str, ...], ...], BeforeValidator(parse_release_commands)] = ()

    @model_validator(mode="before")
    @classmethod
    def _fill_aliases(cls, data: Any) -> Any:
        if isinstance(data, dict) and "aliases" not in data:
            return {**data, "aliases": _default_aliases(data.get("domain"))}
        return data

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        return check_aliases(value, info.data.get("domain"))

    @field_validator("secret_environment_keys")
    @classmethod
    def _secret_keys(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        return check_secret_keys(value, info.data.get("environment"))

    @field_validator("tls")
    @classmethod
    def _tls_port(cls, value: TlsSpec | None, info: ValidationInfo) -> TlsSpec | None:
        listener = info.data.get("listener")
        return check_tls_port(value, listener) if value is not None and listener else value

    @model_validator(mode="after")
    def _static_pair(self) -> AppSpec:
        # After the fields, so a default staticDir is checked against staticUrl too.
        problem = static_pair_problem(self.static_url, self.static_dir,
                                      dir_given="static_dir" in self.model_fields_set)
        raise_problems("AppSpec", [problem] if problem else [])
        return self

    @model_validator(mode="after")
    def _source_tree(self, info: ValidationInfo) -> AppSpec:
        # Only when asked: the stack program has the source tree, a provider
        # re-reading its inputs may not.
        if reads_local_files(info):
            raise_problems("AppSpec", source_problems(self))
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
        """appDir if given, else the seed's layout: /home/USER/domains/DOMAIN/public_html/NAME."""
        return self.app_dir or f"/home/{host.da_user}/domains/{self.domain}/public_html/{self.name}"
