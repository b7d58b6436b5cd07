"""Vulnerable pins caught at preview, from PyPI's own vulnerability data.

Every `name==version` pin of an app's requirements is looked up in PyPI's
JSON API, whose `vulnerabilities` list carries the advisories (PYSEC, GHSA,
CVE ids) that affect that release and the versions that fix them. The
program runs this before declaring any resource, so `pulumi preview` lists
each vulnerable pin; with `audit: block` the preview fails naming them.

Where the data comes from: `GET /pypi/NAME/VERSION/json` (the release's
own page, what pip-audit's PyPI service asks for too); when an index serves
only the project page (`GET /pypi/NAME/json`, as some mirrors do), that page
speaks for its latest release, so a pin of the latest release is still
audited and any other is reported as "no data", never passed silently.

Answers are cached by the requirements' sha256 (DAFLASK_AUDIT_CACHE, default
~/.cache/da-flask/audit; DAFLASK_AUDIT_TTL seconds, default a day), so a
no-op preview asks nothing; and each pin's answer on its own (`pins/` there,
the same lifetime), so a requirements change asks only about the pins it adds.
The pins still to ask about are asked all at once. Only answers are cached,
never a lookup that got none.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

if TYPE_CHECKING:
    import httpx

# httpx is imported only on a cache miss: the program runs on every preview,
# and a no-op should not pay for loading an HTTP client it does not use.

INDEX = "https://pypi.org/pypi"
DEFAULT_TTL_S = 86400


@dataclass(frozen=True)
class Advisory:
    id: str
    aliases: tuple[str, ...]
    fixed_in: tuple[str, ...]


@dataclass(frozen=True)
class Finding:
    """One pin with the advisories that affect it."""

    name: str
    version: str
    advisories: tuple[Advisory, ...]

    def describe(self) -> str:
        parts = []
        for a in self.advisories:
            fixed = f"fixed in {', '.join(a.fixed_in)}" if a.fixed_in else "no fixed version"
            parts.append(f"{a.id} ({fixed})")
        return f"{self.name}=={self.version}: " + "; ".join(parts)


@dataclass
class AuditReport:
    findings: list[Finding] = field(default_factory=list)
    unaudited: list[str] = field(default_factory=list)  # "name: why"
    cached: bool = False

    @property
    def complete(self) -> bool:
        return not self.unaudited


# -- requirements (pure) -------------------------------------------------------

def pins(requirements: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(name, version) of each exact pin, and "line: why" for what cannot be audited."""
    found: list[tuple[str, str]] = []
    skipped: list[str] = []
    for raw in requirements.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            if not line.startswith(("--hash", "-i ", "--index-url", "--extra-index-url")):
                skipped.append(f"{line.split()[0]}: an option, not a pin (its packages are not audited)")
            continue
        try:
            req = Requirement(line.rstrip("\\").strip())
        except InvalidRequirement:
            skipped.append(f"{line[:60]}: not a requirement this audit can read")
            continue
        exact = [s.version for s in req.specifier if s.operator in ("==", "===") and "*" not in s.version]
        if req.url or len(exact) != 1:
            skipped.append(f"{req.name}: not pinned with == (pin it to audit it)")
            continue
        found.append((canonicalize_name(req.name), exact[0]))
    return found, skipped


def advisories_from(data: dict[str, Any]) -> tuple[Advisory, ...]:
    return tuple(Advisory(str(v.get("id")), tuple(v.get("aliases") or ()), tuple(v.get("fixed_in") or ()))
                 for v in data.get("vulnerabilities") or () if not v.get("withdrawn"))


# -- PyPI -------------------------------------------------------------------------

Fetch = Callable[[str], "httpx.Response"]


def lookup(fetch: Fetch, name: str, version: str) -> tuple[Advisory, ...] | str:
    """The advisories of one release, or why there is no answer."""
    import httpx

    try:
        release = fetch(f"{INDEX}/{name}/{version}/json")
        if release.status_code == 200:
            return advisories_from(release.json())
        project = fetch(f"{INDEX}/{name}/json")
    except httpx.HTTPError as exc:
        return f"PyPI did not answer ({type(exc).__name__})"
    if project.status_code == 404:
        return "not on PyPI"
    if project.status_code != 200:
        return f"PyPI answered HTTP {project.status_code}"
    data = project.json()
    if data.get("info", {}).get("version") == version:
        return advisories_from(data)
    return f"no vulnerability data for {version} from this index (only for the latest release)"


# At most this many lookups in flight: each waits on PyPI, not on this machine.
MAX_LOOKUPS = 8


def audit(requirements: str, fetch: Fetch, cache: PinCache | None = None) -> AuditReport:
    """Every pin's advisories: from `cache` when it has them, the others asked of
    PyPI at once (`fetch` is called from several threads); answers go to `cache`."""
    report = AuditReport()
    found, report.unaudited = pins(requirements)
    answers: dict[tuple[str, str], tuple[Advisory, ...] | str] = {}
    for pin in found:
        kept = cache.get(*pin) if cache else None
        if kept is not None:
            answers[pin] = kept
    missing = [pin for pin in found if pin not in answers]
    if missing:
        with ThreadPoolExecutor(max_workers=min(MAX_LOOKUPS, len(missing))) as pool:
            asked = list(pool.map(lambda pin: lookup(fetch, *pin), missing))
        for (name, version), result in zip(missing, asked, strict=True):
            answers[(name, version)] = result
            if cache is not None and not isinstance(result, str):
                cache.put(name, version, result)
    for name, version in found:
        result = answers[(name, version)]
        if isinstance(result, str):
            report.unaudited.append(f"{name}=={version}: {result}")
        elif result:
            report.findings.append(Finding(name, version, result))
    return report


# -- cache ------------------------------------------------------------------------

def cache_dir() -> Path:
    return Path(os.environ.get("DAFLASK_AUDIT_CACHE") or Path.home() / ".cache" / "da-flask" / "audit")


class PinCache:
    """Each pin's advisories, kept `ttl` seconds (as the requirements' own report)."""

    def __init__(self, root: Path, ttl: float) -> None:
        self.root, self.ttl = root / "pins", ttl

    def _path(self, name: str, version: str) -> Path:
        return self.root / (hashlib.sha256(f"{name}=={version}".encode()).hexdigest()[:32] + ".json")

    def get(self, name: str, version: str) -> tuple[Advisory, ...] | None:
        path = self._path(name, version)
        try:
            if time.time() - path.stat().st_mtime >= self.ttl:
                return None
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None  # none yet, or unreadable: asked again
        if data.get("pin") != f"{name}=={version}":
            return None
        return _advisories(data["advisories"])

    def put(self, name: str, version: str, advisories: tuple[Advisory, ...]) -> None:
        _write(self._path(name, version),
               {"pin": f"{name}=={version}", "advisories": [asdict(a) for a in advisories]})


def _write(path: Path, data: dict[str, Any]) -> None:
    """Written whole under a name of this process's, then renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def cached_audit(requirements: str, fetch: Fetch | None = None) -> AuditReport:
    """`audit`, answered from the cache when the same requirements were audited
    lately, else asking PyPI only about the pins it has no fresh answer for."""
    key = hashlib.sha256(requirements.encode()).hexdigest()
    path = cache_dir() / f"{key}.json"
    ttl = float(os.environ.get("DAFLASK_AUDIT_TTL", DEFAULT_TTL_S))
    if path.exists() and time.time() - path.stat().st_mtime < ttl:
        return _load(path)
    cache = PinCache(cache_dir(), ttl)
    if fetch is None:
        import httpx

        with httpx.Client(timeout=10, follow_redirects=True) as client:
            report = audit(requirements, client.get, cache)
    else:
        report = audit(requirements, fetch, cache)
    if report.complete:
        _write(path, asdict(report))
    return report


def _advisories(kept: list[dict[str, Any]]) -> tuple[Advisory, ...]:
    """Advisories as the cache keeps them (dataclasses.asdict of each)."""
    return tuple(Advisory(a["id"], tuple(a["aliases"]), tuple(a["fixed_in"])) for a in kept)


def _load(path: Path) -> AuditReport:
    data = json.loads(path.read_text())
    findings = [Finding(f["name"], f["version"], _advisories(f["advisories"])) for f in data["findings"]]
    return AuditReport(findings, list(data["unaudited"]), cached=True)


def summary_lines(app: str, report: AuditReport) -> Iterable[str]:
    for f in report.findings:
        yield f"app {app}: vulnerable pin {f.describe()}"
    for why in report.unaudited:
        yield f"app {app}: not audited: {why}"
