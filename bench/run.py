"""Benchmarks of issues 4 and 10 (speed): `.venv/bin/python -m bench [--quick]`.

Each "world" is one program deploying N apps of F files onto a fresh lab
host, directly (about 0.1 ms round trip) or through the delay relay (50 ms
round trip). Programs: ours; the pulumi-command baseline (the real provider,
or its stand-in); pyinfra (bench/pyinfra_deploy, pyinfra from PyPI in a venv
of its own). In each world: first deploy, no-op (repeated), no-op
`pulumi up --refresh` (Pulumi programs only: pyinfra reads the host on every
run), one template changed in one app, then that app's requirements plus one
package. Printed per run: wall and CPU seconds, SSH connections, bytes on the
lab's link, files and bytes the upload step sent, what the tool reported
changing; then ours vs each baseline as ratios, the floor (`pulumi up` of a
program with no resources), and the parts of a one-file change's floor (one
SSH handshake at that RTT, Unit's restart of the app). Figures are printed,
never asserted.

Needs root (lab hosts) and the engine (scripts/build-pulumi.sh). Labs are
named bn<pid>-*, stacks live in a temporary directory; both are removed at
the end, also on Ctrl-C or SIGTERM; labs of an earlier run that died are
removed at the start.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import probes, pyinfra_world, report, workload
from bench.relay import DelayRelay
from lab.host import LabHost, down, list_labs, up
from lab.processes import is_alive
from tests.support.engine import REPO, engine_available

PREFIX = f"bn{os.getpid()}"
OUT = REPO / "bench" / "out"


@dataclass(frozen=True)
class World:
    program: str  # "ours" | "baseline" (pulumi-command) | "pyinfra"
    rtt_ms: int
    apps: int
    files: int

    @property
    def key(self) -> str:
        return f"{self.program}-rtt{self.rtt_ms}-n{self.apps}-f{self.files}"


@dataclass
class Plan:
    rtts: list[int]
    app_counts: dict[int, list[int]]  # rtt -> app counts
    big_files: dict[int, int]  # rtt -> files of the big one-app world (0: none)
    noop_reps: int
    refresh_reps: int
    programs: list[str]
    floor_reps: int
    repeat: int = 1  # each world this many times, each on a fresh lab (medians in the report)

    def worlds(self) -> list[World]:
        out = []
        for _ in range(self.repeat):
            for rtt in self.rtts:
                for program in self.programs:
                    out.append(World(program, rtt, 1, 10))
                    if self.big_files.get(rtt):
                        out.append(World(program, rtt, 1, self.big_files[rtt]))
                    for n in self.app_counts.get(rtt, []):
                        if n != 1:
                            out.append(World(program, rtt, n, 10))
        return out


@dataclass
class Op:
    world: World
    op: str
    figures: dict[str, Any]
    resources: dict[str, int]
    upload: dict[str, int] | None = None
    note: str = ""


@dataclass
class Results:
    started: str
    machine: dict[str, Any]
    command: str
    delay_method: str
    plan: dict[str, Any]
    floor: list[dict[str, Any]] = field(default_factory=list)
    floor_parts: list[dict[str, Any]] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- setup


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
    engine = subprocess.run([str(REPO / ".tools" / "bin" / "pulumi"), "version"],
                            capture_output=True, text=True, check=False).stdout.strip()
    unitd = "/opt/unit/sbin/unitd"
    unit = subprocess.run([unitd, "--version"], capture_output=True, text=True, check=False)
    unit_version = (unit.stdout + unit.stderr).splitlines()[0] if unit.returncode == 0 else "?"
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "pulumi": engine, "unit": unit_version, "loadavg_start": os.getloadavg(),
            "baseline_provider": workload.baseline_provider(),
            "command_provider_binary": str(workload.command_provider() or "")}


def remove_dead_runs() -> None:
    for lab in list_labs():
        m = re.match(r"^bn(\d+)-", lab.name)
        if m and int(m.group(1)) != os.getpid() and not is_alive(int(m.group(1))):
            print(f"removing lab {lab.name} of an earlier bench run that died")
            down(lab.name)


class Labs:
    """Every lab this run made, removed by close()."""

    def __init__(self) -> None:
        self.made: list[str] = []
        self.count = 0

    def up(self, tag: str) -> LabHost:
        self.count += 1
        name = f"{PREFIX}-{self.count}{tag}"[:30]
        self.made.append(name)
        return up(name, unit="real", front="none")

    def down(self, lab: LabHost) -> None:
        down(lab.name)
        if lab.name in self.made:
            self.made.remove(lab.name)

    def close(self) -> None:
        for name in list(self.made):
            try:
                down(name)
            except Exception as exc:
                print(f"could not remove lab {name}: {exc}", file=sys.stderr)
            self.made.remove(name)


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


# --------------------------------------------------------------------------- one world


def serving(lab: LabHost, domain: str, expect: str | None = None) -> bool:
    """The app answers through Unit on the lab (checked outside the timed windows)."""
    for _ in range(30):
        try:
            r = httpx.get(f"http://{lab.address}/", headers={"Host": domain}, timeout=5)
            if r.status_code == 200 and (expect is None or expect in r.text):
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def upload_figures(project: workload.Project) -> dict[str, int] | None:
    """filesSent/bytesSent of app01's upload step, as the resource reported them."""
    suffix = "app01-release" if project.kind == "ours" else "app01-copy"
    outs = workload.resource_outputs(project.stack, suffix)
    if not outs or "filesSent" not in outs[0]:
        return None  # the real CopyToRemote reports nothing of the kind
    return {"files": int(outs[0].get("filesSent") or 0), "bytes": int(outs[0].get("bytesSent") or 0)}


# What the requirements scenario adds to app01's requirements.txt: pure Python,
# no dependencies, in the labs' wheelhouse like the app's own pins.
EXTRA_PACKAGE = "six==1.17.0"
EXTRA_MODULE = "six.py"


class PulumiDriver:
    """`pulumi up --yes --skip-preview` of one of the two Pulumi programs."""

    can_refresh = True

    def __init__(self, project: workload.Project) -> None:
        self.project = project

    def up(self, args: tuple[str, ...]) -> tuple[int, str, str]:
        run = self.project.stack.up(*args, check=False)
        return run.returncode, run.stdout, run.stderr

    def resources(self, stdout: str) -> dict[str, int]:
        return workload.summary_counts(stdout)

    def upload(self) -> dict[str, int] | None:
        return upload_figures(self.project)


class PyinfraDriver:
    """`pyinfra -y inventory.py deploy.py`: every run reads the host (there is no refresh)."""

    can_refresh = False

    def __init__(self, venv: Path, host_json: Path) -> None:
        self.venv, self.host_json = venv, host_json

    def up(self, args: tuple[str, ...]) -> tuple[int, str, str]:
        assert not args, "pyinfra has no flags here"
        run = pyinfra_world.run(self.venv, self.host_json)
        # pyinfra writes its progress to stderr: both streams are its report
        return run.returncode, run.stdout + run.stderr, run.stderr

    def resources(self, output: str) -> dict[str, int]:
        """Operations that changed something, and those that did not."""
        return {"changed": len(re.findall(r"\] Success\s*$", output, re.MULTILINE)),
                "unchanged": len(re.findall(r"\] No changes\s*$", output, re.MULTILINE))}

    def upload(self) -> dict[str, int] | None:
        return None


Driver = PulumiDriver | PyinfraDriver


def make_driver(world: World, wdir: Path, lab: LabHost, address: str, port: int,
                sources: list[Path], pyinfra_venv: Path | None) -> Driver:
    if world.program == "pyinfra":
        assert pyinfra_venv is not None
        hosts, apps = workload.ours_config(lab, address, port, sources)
        host_json = pyinfra_world.write_world(wdir / "pyinfra", lab, address, port, hosts, apps,
                                              workload.secrets_of(len(sources)))
        return PyinfraDriver(pyinfra_venv, host_json)
    project = workload.make_project(wdir, world.program, "bench")
    # Each world starts with an empty requirements-audit cache, as a new user's
    # machine does: the first deploy audits every pin, the requirements change the
    # pin it adds (not answers a run of yesterday left in this machine's cache).
    project.stack.extra_env["DAFLASK_AUDIT_CACHE"] = str(wdir / "audit-cache")
    workload.configure(project, lab, address, port, sources)
    return PulumiDriver(project)


def run_world(world: World, root: Path, labs: Labs, wheels: Path, plan: Plan,
              results: Results, log: Callable[[str], None], pyinfra_venv: Path | None = None) -> None:
    wdir = root / world.key
    lab = labs.up(world.program[0])
    relay: DelayRelay | None = None
    try:
        workload.provide_wheels(lab, wheels)
        if world.rtt_ms:
            relay = DelayRelay((lab.address, lab.port), world.rtt_ms / 2000)
            address, port = "127.0.0.1", relay.start()
        else:
            address, port = lab.address, lab.port
        sources = [workload.make_app_source(wdir / "src" / f"app{i:02d}", world.files)
                   for i in range(1, world.apps + 1)]
        driver = make_driver(world, wdir, lab, address, port, sources, pyinfra_venv)
        run_scenarios(world, lab, relay, driver, sources, plan, results, log)
        if world.program == "ours":
            results.floor_parts.append(floor_parts(world, lab, address, port, log))
    finally:
        if relay is not None:
            relay.stop()
        labs.down(lab)
        shutil.rmtree(wdir, ignore_errors=True)


def run_scenarios(world: World, lab: LabHost, relay: DelayRelay | None, driver: Driver,
                  sources: list[Path], plan: Plan, results: Results, log: Callable[[str], None]) -> None:
    """First deploy, no-ops, (refresh), one template changed, requirements + one package."""
    domains = workload.domains(world.apps)

    def record(op: str, args: tuple[str, ...] = (), *, upload: bool = False) -> Op:
        (code, out, err), figures = probes.measure(lab, relay, lambda: driver.up(args))
        if code != 0:
            tail = (out[-3000:] + "\n" + err[-2000:]).strip()
            raise RuntimeError(f"{world.key}: {op} failed:\n{tail}")
        o = Op(world, op, figures, driver.resources(out), driver.upload() if upload else None)
        results.ops.append(o)
        log(format_op(o))
        return o

    def check(ok: bool, what: str) -> None:
        if not ok:
            raise RuntimeError(f"{world.key}: {what}")

    record("first deploy", upload=True)
    check(serving(lab, domains[-1]), f"{domains[-1]} does not answer after the first deploy")
    for _ in range(plan.noop_reps):
        record("no-op up")
    if driver.can_refresh:
        for _ in range(plan.refresh_reps):
            record("no-op up --refresh", ("--refresh",))
    size = workload.edit_one_file(sources[0], 1)
    record("one-file change", upload=True).note = f"the edited file is {size} bytes"
    check(serving(lab, domains[0], expect="bench edit 1"), "the edited page is not served after the change")
    workload.add_requirement(sources[0], EXTRA_PACKAGE)
    record("requirements + one package", upload=True).note = f"added {EXTRA_PACKAGE}"
    check(serving(lab, domains[0], expect="bench edit 1") and workload.live_venv_has(lab, "app01", EXTRA_MODULE),
          f"app01 does not serve from a venv holding {EXTRA_PACKAGE} after the requirements change")


def floor_parts(world: World, lab: LabHost, address: str, port: int,
                log: Callable[[str], None]) -> dict[str, Any]:
    """What a one-file change cannot go below besides the engine: one SSH
    handshake (through the relay at this RTT) and Unit's restart of the app."""
    parts = {"world": world.key, "rtt_ms": world.rtt_ms,
             "ssh_handshake_s": probes.ssh_handshake_s(lab, address, port),
             "unit_restart_s": probes.unit_restart_s(lab, "app01", workload.domains(1)[0])}
    log(f"  floor parts at {world.rtt_ms} ms: SSH handshake {parts['ssh_handshake_s']:.2f} s, "
        f"Unit restart of app01 until it answers {parts['unit_restart_s']:.2f} s (medians of 3)")
    return parts


def run_floor(root: Path, reps: int, results: Results, when: str,
              log: Callable[[str], None]) -> None:
    project = workload.make_project(root / f"floor-{when}", "empty", f"floor{when}")
    project.stack.up()  # creates the stack resource once; not timed
    for _ in range(reps):
        started, cpu0 = time.monotonic(), probes._children_cpu()
        project.stack.up()
        entry = {"when": when, "wall_s": time.monotonic() - started,
                 "cpu_s": probes._children_cpu() - cpu0}
        results.floor.append(entry)
        log(f"  floor ({when}): empty `pulumi up` {entry['wall_s']:.2f} s wall, {entry['cpu_s']:.2f} s CPU")
    shutil.rmtree(root / f"floor-{when}", ignore_errors=True)


# --------------------------------------------------------------------------- report


def _kib(n: int) -> str:
    return f"{n / 1024:,.1f}"


def format_op(o: Op) -> str:
    f = o.figures
    res = " ".join(f"{v} {k}" for k, v in sorted(o.resources.items()))
    up = f" upload {o.upload['files']} files/{_kib(o.upload['bytes'])} KiB" if o.upload else ""
    relay = ""
    if "relay" in f and f["relay"]["turns_per_connection"]:
        t = f["relay"]["turns_per_connection"]
        relay = f" turns/conn {t['min']}-{t['median']:g}-{t['max']} (min-med-max)"
    return (f"  {o.world.key:<28} {o.op:<20} {f['wall_s']:7.2f} s  cpu {f['cpu_s']:6.2f} s  "
            f"ssh {f['ssh_connections']:3d}  wire tx {_kib(f['tx_bytes']):>9} KiB rx {_kib(f['rx_bytes']):>9} KiB"
            f"{up}{relay}  [{res}]")


def write_json(results: Results, path: Path) -> None:
    def op_dict(o: Op) -> dict[str, Any]:
        return {"world": asdict(o.world), "op": o.op, "figures": o.figures,
                "resources": o.resources, "upload": o.upload, "note": o.note}
    data = {k: v for k, v in asdict(results).items() if k != "ops"}
    data["ops"] = [op_dict(o) for o in results.ops]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="0 ms: 1 app (10 and 500 files) and 10 apps; 50 ms: 1 app; one repetition "
                           "(about 6 minutes on 2 cores)")
    mode.add_argument("--full", action="store_true",
                      help="every world at both RTTs, 50 apps at 50 ms included "
                           "(16 minutes on 2 cores with the real pulumi-command)")
    p.add_argument("--apps", default=None, help="app counts at 0 ms, comma-separated")
    p.add_argument("--apps-delayed", default=None, help="app counts at 50 ms RTT, comma-separated")
    p.add_argument("--big-files", type=int, default=500, help="files of the big one-app world (0: none)")
    p.add_argument("--rtt", default="0,50", help="round-trip times in ms (default 0,50)")
    p.add_argument("--only", default=None,
                   help="programs to run, comma-separated: ours, baseline (pulumi-command), pyinfra "
                        "(default: all three)")
    p.add_argument("--repeat", type=int, default=1,
                   help="run every world this many times, each on a fresh lab; the tables show medians")
    p.add_argument("--noop-reps", type=int, default=None, help="no-op `up`s per world (default 2; --quick 1)")
    p.add_argument("--out", type=Path, default=None, help="JSON results (default bench/out/<time>.json)")
    return p.parse_args(argv)


def make_plan(args: argparse.Namespace) -> Plan:
    """Default (about 15 minutes on 2 cores): 0 ms: 1 app of 10 and of 500 files,
    10 and 50 apps; 50 ms: 1 app of 10 and of 500 files; no-ops twice."""
    def counts(text: str | None, default: str) -> list[int]:
        return [int(x) for x in (text or default).split(",") if x.strip()]
    rtts = counts(args.rtt, "0,50")
    at0 = counts(args.apps, "1,10" if args.quick else "1,10,50")
    delayed = counts(args.apps_delayed, "1,10,50" if args.full else "1")
    big = dict.fromkeys(rtts, args.big_files)
    if args.quick:
        big = {r: (args.big_files if r == 0 else 0) for r in rtts}
    return Plan(rtts=rtts, app_counts={r: (at0 if r == 0 else delayed) for r in rtts},
                big_files=big,
                noop_reps=args.noop_reps if args.noop_reps is not None else (1 if args.quick else 2),
                refresh_reps=1, programs=programs(args.only),
                floor_reps=2 if args.quick else 3, repeat=max(1, args.repeat))


PROGRAMS = ("ours", "baseline", "pyinfra")


def programs(text: str | None) -> list[str]:
    chosen = [p.strip() for p in (text or ",".join(PROGRAMS)).split(",") if p.strip()]
    unknown = sorted(set(chosen) - set(PROGRAMS))
    if unknown:
        raise SystemExit(f"--only: unknown program {', '.join(unknown)}: use {', '.join(PROGRAMS)}")
    return chosen


def run_worlds(plan: Plan, root: Path, labs: Labs, results: Results, log: Callable[[str], None],
               t0: float) -> None:
    wheels = workload.fetch_wheels(workload.EXAMPLE / "requirements.txt", OUT, (EXTRA_PACKAGE,))
    log(f"pip on every lab installs from a local wheelhouse ({wheels.name}): no index traffic")
    pyinfra_venv = None
    if "pyinfra" in plan.programs:
        pyinfra_venv = pyinfra_world.ensure_venv(OUT)
        results.machine["pyinfra"] = pyinfra_world.version(pyinfra_venv)
        log(f"pyinfra: {results.machine['pyinfra']} in its own venv {pyinfra_venv}")
    for world in plan.worlds():
        log(f"== {world.key}  ({time.monotonic() - t0:.0f} s so far)")
        try:
            run_world(world, root, labs, wheels, plan, results, log, pyinfra_venv)
        except Exception as exc:
            results.skipped.append(f"{world.key}: {type(exc).__name__}: {exc}")
            log(f"  FAILED: {type(exc).__name__}: {exc}")


def compile_sources(log: Callable[[str], None]) -> None:
    """Byte-compile the Pulumi programs' own modules before anything is timed.

    A user's Python writes `__pycache__` on the first run and reads it after; a
    shell with PYTHONDONTWRITEBYTECODE (this machine's CI sets it) would have every
    timed run compile daunit/ from source again, about 0.15 s of CPU in the program
    and again in the provider process. pyinfra's modules were compiled by pip.
    """
    parts = [REPO / p for p in ("daunit", "components", "engine", "__main__.py", "bench/baseline")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *map(str, parts)], check=True)
    log("byte-compiled daunit/, components/, engine/ and the baseline (as a user's first run would)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("the benchmarks need root: lab hosts are made with network and mount namespaces",
              file=sys.stderr)
        return 2
    if not engine_available():
        print("the Pulumi engine is not built: run scripts/build-pulumi.sh", file=sys.stderr)
        return 2
    plan = make_plan(args)
    signal.signal(signal.SIGTERM, _terminate)
    started = dt.datetime.now(dt.UTC)
    results = Results(
        started=started.isoformat(timespec="seconds"), machine=machine(),
        command=" ".join([".venv/bin/python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        delay_method=("userspace TCP relay (bench/relay.py): 127.0.0.1:PORT -> lab sshd, each chunk "
                      "held 25 ms each way, upstream connect held 1.5 RTT for the TCP handshake; "
                      "this kernel has no netem"),
        plan=asdict(plan))
    out = args.out or OUT / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"

    def log(line: str) -> None:
        print(line, flush=True)

    log(f"machine: {results.machine}")
    log(f"delay: {results.delay_method}")
    log(report.baseline_label(asdict(results)))
    remove_dead_runs()
    compile_sources(log)
    labs = Labs()
    root = Path(tempfile.mkdtemp(prefix="da-flask-bench-"))
    t0 = time.monotonic()
    try:
        run_floor(root, plan.floor_reps, results, "start", log)
        run_worlds(plan, root, labs, results, log, t0)
        run_floor(root, plan.floor_reps, results, "end", log)
    finally:
        labs.close()
        shutil.rmtree(root, ignore_errors=True)
        results.machine["loadavg_end"] = os.getloadavg()
        results.machine["bench_seconds"] = round(time.monotonic() - t0)
        write_json(results, out)
    log("")
    for line in report.render(json.loads(out.read_text())):
        log(line)
    log(f"\nload average at start {results.machine['loadavg_start']}, at end {results.machine['loadavg_end']}; "
        f"whole run {results.machine['bench_seconds']} s; results in {out}")
    for s in results.skipped:
        log(f"not measured: {s}")
    return 1 if results.skipped else 0
