"""What the requirements audit (daunit.audit) costs a no-op: `python -m bench.audit_cost`.

One lab host, the example app deployed once; then the same no-op `pulumi up`
(as a user types it) with `audit: off` and with `audit: warn`, alternating,
REPS times each, on a warm cache (the normal no-op) and once on a cold cache
(the first run after the requirements changed, asking PyPI). Prints medians,
the difference, and the SSH connections each no-op opened (0 expected).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench import workload
from lab.host import LabHost, down, up
from tests.support.engine import engine_available


def _noop(project: workload.Project, audit: str, cache: Path) -> float:
    apps = yaml.safe_load(project.config_path.read_text())["config"]["da-flask:apps"]
    project.write_config({"da-flask:apps": [{**a, "audit": audit} for a in apps]})
    project.stack.extra_env["DAFLASK_AUDIT_CACHE"] = str(cache)
    started = time.monotonic()
    project.stack.up("--expect-no-changes")
    return time.monotonic() - started


def measure(lab: LabHost, root: Path, reps: int) -> tuple[dict[str, list[float]], int]:
    """Seconds per setting, and the SSH connections the no-ops opened."""
    project = workload.make_project(root, "ours", "audit")
    source = workload.make_app_source(root / "src" / "app01", 0)
    workload.configure(project, lab, lab.address, 22, [source])
    project.stack.up()
    warm = root / "cache-warm"
    _noop(project, "warn", warm)  # fills the cache
    before = lab.ssh_connections_accepted()
    times: dict[str, list[float]] = {"off": [], "warn (cached)": [], "warn (cold cache)": []}
    for _ in range(reps):
        times["off"].append(_noop(project, "off", warm))
        times["warn (cached)"].append(_noop(project, "warn", warm))
    times["warn (cold cache)"].append(_noop(project, "warn", root / f"cache-cold-{time.time_ns()}"))
    connections = lab.ssh_connections_accepted() - before
    project.stack.destroy()
    return times, connections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audit_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5, help="no-ops per setting (default 5)")
    args = parser.parse_args(argv)
    if not engine_available():
        print("audit_cost: no Pulumi engine (scripts/setup.sh builds one)", file=sys.stderr)
        return 2
    lab = up(f"bn-audit-{int(time.time())}", front="none")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
            times, connections = measure(lab, Path(tmp), args.reps)
    finally:
        down(lab.name)
    base = statistics.median(times["off"])
    print(f"no-op `pulumi up`, example app, lab host, median of {args.reps} (cold: 1 run)")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"  audit {name:<18} {med:6.2f} s   {med - base:+.2f} s vs off   ratio {med / base:.2f}")
    print(f"  SSH connections opened by the {2 * args.reps + 1} no-ops: {connections}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
