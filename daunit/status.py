"""Live status of a stack's apps, from Unit itself: `python -m daunit.status`.

Stack outputs say what was deployed; this says what is running now. Per host
it opens one SSH connection and asks Unit's control API for `/status` (the
processes and requests of each app, the host's connections) and
`/config/applications` (which release and venv each app runs), stats the
live release dirs in one command, and sends each app's health request
through Unit's listener. Read-only: it changes nothing and touches no state.

    python -m daunit.status --stack prod            # a table
    python -m daunit.status --stack prod --json     # for scripts
    python -m daunit.status --stack prod --watch 2  # refresh every 2 s
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from daunit.layout import AppLayout
from daunit.spec import AppSpec, StackSpec, format_errors, parse_stack

PROJECT = "da-flask"


class StatusError(Exception):
    """A problem reading the stack: said in one line, no traceback."""


# -- the stack: config and outputs, through the Pulumi CLI -------------------

def pulumi_command(project_dir: Path) -> list[str]:
    """The CLI to ask: DAFLASK_PULUMI, else the project's wrapper, else `pulumi`."""
    chosen = os.environ.get("DAFLASK_PULUMI")
    if chosen:
        return [chosen]
    wrapper = project_dir / "scripts" / "pulumi"
    if wrapper.exists():
        return [str(wrapper)]
    found = shutil.which("pulumi")
    if not found:
        raise StatusError("no Pulumi CLI: install one, or set DAFLASK_PULUMI to its path")
    return [found]


def _pulumi_json(project_dir: Path, stack: str, *args: str) -> Any:
    argv = [*pulumi_command(project_dir), *args, "--json", "--stack", stack]
    proc = subprocess.run(argv, cwd=project_dir, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        reason = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise StatusError(f"`pulumi {' '.join(args)}` for stack {stack!r} failed: "
                          f"{reason[-1] if reason else 'exit ' + str(proc.returncode)}")
    return json.loads(proc.stdout or "null")


def config_objects(config: Mapping[str, Any]) -> tuple[Any, Any]:
    """(hosts, apps) from `pulumi config --json` (secrets are not needed here)."""
    def value(key: str) -> Any:
        entry = config.get(f"{PROJECT}:{key}")
        if entry is None:
            raise StatusError(f"the stack has no {PROJECT}:{key} config")
        if "objectValue" in entry:
            return entry["objectValue"]
        return json.loads(entry["value"])
    return value("hosts"), value("apps")


def load_stack(project_dir: Path, stack: str) -> tuple[StackSpec, dict[str, Any]]:
    """The validated stack spec and its outputs (empty before the first `up`)."""
    hosts, apps = config_objects(_pulumi_json(project_dir, stack, "config"))
    cwd = os.getcwd()
    os.chdir(project_dir)  # app sources are relative to the project, as in `pulumi up`
    try:
        spec = parse_stack(hosts, apps, check_source=False)
    except ValidationError as exc:
        lines = "; ".join(f"{f}: {m}" for f, m in format_errors(exc))
        raise StatusError(f"the stack config is not valid: {lines}") from None
    finally:
        os.chdir(cwd)
    try:
        outputs = _pulumi_json(project_dir, stack, "stack", "output") or {}
    except StatusError:
        outputs = {}
    return spec, outputs


# -- what one app looks like now (pure) ---------------------------------------

@dataclass
class AppStatus:
    host: str
    app: str
    domain: str
    unit_name: str | None = None
    release: str | None = None  # the release Unit runs now
    deployed_release: str | None = None  # the one the stack's outputs name
    release_age_s: int | None = None
    processes: dict[str, int] = field(default_factory=dict)  # running, starting, idle
    requests_active: int | None = None
    health: str = "not checked"
    health_ms: int | None = None


@dataclass
class HostStatus:
    host: str
    address: str
    unit_version: str = ""
    connections: dict[str, int] = field(default_factory=dict)
    requests_total: int | None = None
    apps: list[AppStatus] = field(default_factory=list)
    error: str | None = None


def find_unit_app(applications: Mapping[str, Any], app_dir: str) -> tuple[str, str] | None:
    """(Unit's name, release id) of the application whose code lies in `app_dir`.

    Found by path rather than by name, so it holds whatever Unit calls it.
    """
    layout = AppLayout(app_dir.rstrip("/"))
    for name, config in sorted(applications.items()):
        path = config.get("path") if isinstance(config, Mapping) else None
        paths = path if isinstance(path, list) else [path]
        for p in paths:
            release = layout.release_of(p) if isinstance(p, str) else None
            if release is not None:
                return name, release
    return None


def app_status(host: str, app: AppSpec, app_dir: str, unit_status: Mapping[str, Any],
               applications: Mapping[str, Any], outputs: Mapping[str, Any]) -> AppStatus:
    out = AppStatus(host=host, app=app.name, domain=app.domain)
    deployed = (outputs.get("apps") or {}).get(app.name) or {}
    out.deployed_release = deployed.get("releaseId")
    found = find_unit_app(applications, app_dir)
    if found is None:
        out.health = "not in Unit"
        return out
    out.unit_name, out.release = found
    live = (unit_status.get("applications") or {}).get(out.unit_name) or {}
    out.processes = {k: int(v) for k, v in (live.get("processes") or {}).items()}
    out.requests_active = (live.get("requests") or {}).get("active")
    return out


def human_age(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def render_table(hosts: Sequence[HostStatus]) -> str:
    rows = [("HOST", "APP", "UNIT NAME", "RELEASE", "AGE", "RUN/START/IDLE", "ACTIVE", "HEALTH")]
    notes = []
    for h in hosts:
        if h.error:
            notes.append(f"{h.host} ({h.address}): {h.error}")
            continue
        c = h.connections
        notes.append(f"{h.host} ({h.address}): Unit {h.unit_version or '?'}, connections "
                     f"active {c.get('active', '?')} idle {c.get('idle', '?')} "
                     f"accepted {c.get('accepted', '?')}, requests total {h.requests_total}")
        for a in h.apps:
            p = a.processes
            procs = f"{p.get('running', 0)}/{p.get('starting', 0)}/{p.get('idle', 0)}" if p else "-"
            release = a.release or "-"
            if a.deployed_release and a.release and a.deployed_release != a.release:
                release += f" (stack: {a.deployed_release})"
            health = a.health + (f" ({a.health_ms} ms)" if a.health_ms is not None else "")
            rows.append((h.host, a.app, a.unit_name or "-", release, human_age(a.release_age_s),
                         procs, "-" if a.requests_active is None else str(a.requests_active), health))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join([*notes, "", *table])


def as_json(hosts: Sequence[HostStatus]) -> str:
    return json.dumps({"hosts": {h.host: asdict(h) for h in hosts}}, indent=2, sort_keys=True)


# -- the command -----------------------------------------------------------------

def stack_command(module: str, doc: str, stack_help: str) -> argparse.ArgumentParser:
    """`python -m daunit.MODULE` with the options every stack command takes:
    --stack and --cwd (the project directory)."""
    parser = argparse.ArgumentParser(prog=f"python -m daunit.{module}", description=doc.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help=stack_help)
    parser.add_argument("--cwd", default=".", help="the project directory (default: here)")
    return parser


def load_stack_or_say(command: str, args: argparse.Namespace) -> tuple[StackSpec, dict[str, Any]] | None:
    """The stack `args` name, or None once the reason it cannot be read is printed."""
    try:
        return load_stack(Path(args.cwd).resolve(), args.stack)
    except StatusError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = stack_command("status", __doc__, "the stack to look at")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--watch", type=float, metavar="SECONDS", help="refresh every SECONDS until Ctrl-C")
    parser.add_argument("--count", type=int, help="with --watch: stop after this many refreshes")
    args = parser.parse_args(argv)
    from daunit.status_remote import Observer

    loaded = load_stack_or_say("status", args)
    if loaded is None:
        return 2
    spec, outputs = loaded
    with Observer(spec, outputs) as observer:
        done = 0
        while True:
            hosts = observer.observe()
            if args.watch and not args.json and sys.stdout.isatty():
                print("\x1b[2J\x1b[H", end="")
            print(as_json(hosts) if args.json else render_table(hosts), flush=True)
            done += 1
            if not args.watch or (args.count and done >= args.count):
                break
            time.sleep(args.watch)
    return 1 if any(h.error for h in hosts) else 0


if __name__ == "__main__":
    sys.exit(main())
