"""The summary tables, from a results JSON (so a saved run can be printed again):

    .venv/bin/python -m bench.report bench/out/<time>.json
"""
from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PYINFRA_LABEL = ("pyinfra = {version} from PyPI (bench/requirements-pyinfra.txt, its own venv), "
                 "bench/pyinfra_deploy/deploy.py run as `pyinfra -y inventory.py deploy.py`")

BASELINE_LABELS = {
    "pulumi-command": ("baseline = pulumi-command v1.2.1's CopyToRemote + remote Command, the real "
                       "provider (bench/baseline, `bench:provider: pulumi-command`)"),
    "stand-in": ("baseline = STAND-IN for pulumi-command's CopyToRemote + remote Command "
                 "(bench/baseline/standin.py: the same steps over SSH; no pulumi-resource-command "
                 "binary on this machine)"),
}


def baseline_label(data: dict[str, Any]) -> str:
    label = BASELINE_LABELS[data.get("machine", {}).get("baseline_provider", "stand-in")]
    pyinfra = data.get("machine", {}).get("pyinfra")
    return label + ("\n" + PYINFRA_LABEL.format(version=pyinfra) if pyinfra else "")
OPS = ("first deploy", "no-op up", "no-op up --refresh", "one-file change", "requirements + one package")

Key = tuple[int, int, int, str]  # rtt, apps, files, op


def kib(n: float) -> str:
    return f"{n / 1024:,.1f}"


def _key(o: dict[str, Any]) -> Key:
    w = o["world"]
    return (w["rtt_ms"], w["apps"], w["files"], o["op"])


def _pick(data: dict[str, Any], program: str, key: Key) -> list[dict[str, Any]]:
    return [o for o in data["ops"] if o["world"]["program"] == program and _key(o) == key]


def _med(ops: list[dict[str, Any]], *path: str) -> float | None:
    values = []
    for o in ops:
        v: Any = o["figures"]
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        if v is not None:
            values.append(v)
    return statistics.median(values) if values else None


def _fmt(v: float | None, spec: str, width: int) -> str:
    return f"{'-':>{width}}" if v is None else f"{v:{width}{spec}}"


def _keys(data: dict[str, Any]) -> list[Key]:
    keys: list[Key] = []
    for o in data["ops"]:
        if _key(o) not in keys:
            keys.append(_key(o))
    return sorted(keys, key=lambda k: (k[0], k[1], k[2], OPS.index(k[3]) if k[3] in OPS else 9))


def floor_s(data: dict[str, Any]) -> float | None:
    walls = [f["wall_s"] for f in data.get("floor", [])]
    return statistics.median(walls) if walls else None


def render(data: dict[str, Any]) -> list[str]:
    floor = floor_s(data)
    runs = ", ".join(f"{f['wall_s']:.2f}" for f in data.get("floor", []))
    lines = [(f"floor: `pulumi up` of a program with no resources, median {_fmt(floor, '.2f', 0)} s "
              f"(runs: {runs})"),
             baseline_label(data),
             f"50 ms RTT by: {data.get('delay_method', '?')}",
             ("columns: medians of the repetitions; 'above floor' = seconds minus the floor; "
              "ssh = connections sshd accepted; wire = bytes this machine sent into the lab "
              "(veth tx, headers included); upload = files/KiB the upload step reported for app01"),
             ""]
    head = (f"{'rtt':>3} {'apps':>4} {'files':>5} {'operation':<19}|{'ours s':>7} {'base s':>7} "
            f"{'base/ours':>9}|{'above floor o':>13} {'b':>6} {'ratio':>6}|{'ssh o':>6} {'b':>4}|"
            f"{'wire KiB o':>11} {'b':>8}|{'upload o':>12} {'b':>12}")
    lines += [head, "-" * len(head)]
    for key in _keys(data):
        rtt, apps, files, op = key
        ours, base = _pick(data, "ours", key), _pick(data, "baseline", key)
        ow, bw = _med(ours, "wall_s"), _med(base, "wall_s")
        ratio = bw / ow if ow and bw else None
        oa = ow - floor if ow is not None and floor is not None else None
        ba = bw - floor if bw is not None and floor is not None else None
        aratio = ba / oa if oa and ba and oa > 0.05 else None
        def up(ops: list[dict[str, Any]]) -> str:
            u = ops[-1].get("upload") if ops else None
            return f"{u['files']}/{kib(u['bytes'])}" if u else "-"
        lines.append(
            f"{rtt:>3} {apps:>4} {files:>5} {op:<19}|{_fmt(ow, '.2f', 7)} {_fmt(bw, '.2f', 7)} "
            f"{_fmt(ratio, '.2f', 9)}|{_fmt(oa, '.2f', 13)} {_fmt(ba, '.2f', 6)} {_fmt(aratio, '.1f', 6)}|"
            f"{_fmt(_med(ours, 'ssh_connections'), '.0f', 6)} {_fmt(_med(base, 'ssh_connections'), '.0f', 4)}|"
            f"{_fmt(_kib_or_none(_med(ours, 'tx_bytes')), ',.1f', 11)} "
            f"{_fmt(_kib_or_none(_med(base, 'tx_bytes')), ',.1f', 8)}|{up(ours):>12} {up(base):>12}")
    lines += [""] + _three(data) + [""] + _one_file_floor(data) + [""] + _timeline(data)
    lines += [""] + _latency(data) + [""] + _refresh(data) + [""] + _scaling(data)
    return lines


def _turns(ops: list[dict[str, Any]]) -> float | None:
    return _med(ops, "relay", "turns_total")


def _three(data: dict[str, Any]) -> list[str]:
    """Ours against both baselines: seconds, ours/theirs (below 1: ours is faster),
    SSH connections, and round trips waited for (turns, through the relay)."""
    if not any(o["world"]["program"] == "pyinfra" for o in data["ops"]):
        return []
    reps = (data.get("plan") or {}).get("repeat", 1)
    lines = [(f"ours against both baselines (medians over {reps} fresh lab(s) per world; o/b = ours / pulumi-command, "
              "o/p = ours / pyinfra: below 1 ours is faster; cpu = user+system seconds of the tool's local "
              "process tree; turns = round trips waited for, counted by the relay: 50 ms only)"),
             (f"{'rtt':>3} {'apps':>4} {'operation':<27}|{'ours s':>7} {'p-cmd s':>8} {'pyinfra s':>9}|"
              f"{'o/b':>5} {'o/p':>5}|{'cpu o':>6} {'b':>5} {'p':>5}|{'ssh o':>6} {'b':>3} {'p':>3}|"
              f"{'turns o':>8} {'b':>5} {'p':>5}")]
    lines.append("-" * len(lines[-1]))
    for key in _keys(data):
        rtt, apps, _files, op = key
        ours, base, pyi = (_pick(data, p, key) for p in ("ours", "baseline", "pyinfra"))
        ow, bw, pw = (_med(x, "wall_s") for x in (ours, base, pyi))
        ob = ow / bw if ow and bw else None
        op_ = ow / pw if ow and pw else None
        lines.append(
            f"{rtt:>3} {apps:>4} {op:<27}|{_fmt(ow, '.2f', 7)} {_fmt(bw, '.2f', 8)} {_fmt(pw, '.2f', 9)}|"
            f"{_fmt(ob, '.2f', 5)} {_fmt(op_, '.2f', 5)}|"
            f"{_fmt(_med(ours, 'cpu_s'), '.2f', 6)} {_fmt(_med(base, 'cpu_s'), '.2f', 5)} "
            f"{_fmt(_med(pyi, 'cpu_s'), '.2f', 5)}|"
            f"{_fmt(_med(ours, 'ssh_connections'), '.0f', 6)} {_fmt(_med(base, 'ssh_connections'), '.0f', 3)} "
            f"{_fmt(_med(pyi, 'ssh_connections'), '.0f', 3)}|"
            f"{_fmt(_turns(ours), '.0f', 8)} {_fmt(_turns(base), '.0f', 5)} {_fmt(_turns(pyi), '.0f', 5)}")
    return lines


def _timeline(data: dict[str, Any]) -> list[str]:
    """Where a change's time goes, from the relay's clock (same clock as the
    command's): before the first SSH connection (engine, program, diffs),
    while connections are open (first accept to last byte), after the last
    byte (the engine finishing: state written, outputs, exit)."""
    rows = []
    for o in data["ops"]:
        relay = o["figures"].get("relay") or {}
        tl = relay.get("timeline")
        if not tl or o["op"] not in ("one-file change", "requirements + one package", "first deploy"):
            continue
        start, end = min(t[0] for t in tl), max(t[1] for t in tl)
        rows.append((o["world"]["program"], o["world"]["rtt_ms"], o["op"],
                     start, end - start, o["figures"]["wall_s"] - end, o["figures"]["wall_s"],
                     relay.get("turns_total") or 0))
    if not rows:
        return []
    lines = [("where the time goes through the relay (medians, seconds): before = command start to the "
              "first SSH connection; ssh = first accept to last byte; after = last byte to exit"),
             (f"{'program':<9} {'rtt':>3} {'operation':<27}| {'before':>6} {'ssh':>6} {'after':>6} "
              f"{'wall':>6} | {'turns':>5} {'turns x RTT':>11}")]
    for key in sorted({r[:3] for r in rows}, key=lambda k: (k[1], OPS.index(k[2]), k[0])):
        mine = [r for r in rows if r[:3] == key]
        med = [statistics.median(r[i] for r in mine) for i in range(3, 8)]
        lines.append(f"{key[0]:<9} {key[1]:>3} {key[2]:<27}| {med[0]:6.2f} {med[1]:6.2f} {med[2]:6.2f} "
                     f"{med[3]:6.2f} | {med[4]:5.0f} {med[4] * key[1] / 1000:11.2f}")
    return lines


def _one_file_floor(data: dict[str, Any]) -> list[str]:
    """Ours' one-file change against its floor: empty `pulumi up` + one SSH
    handshake (at that RTT) + Unit's restart of the app (issue 10's target: 1.5x)."""
    floor = floor_s(data)
    parts = data.get("floor_parts") or []
    if floor is None or not parts:
        return []
    lines = [("ours' one-file change against its floor (empty `pulumi up` + one SSH handshake at that RTT "
              "+ Unit's restart of the app until it answers again; medians)"),
             (f"{'rtt':>3} | {'empty up':>8} {'handshake':>9} {'restart':>7} {'floor':>6} | "
              f"{'one-file':>8} {'x floor':>7} {'turns':>5}")]
    for rtt in sorted({p["rtt_ms"] for p in parts}):
        mine = [p for p in parts if p["rtt_ms"] == rtt]
        hs = statistics.median(p["ssh_handshake_s"] for p in mine)
        rs = statistics.median(p["unit_restart_s"] for p in mine)
        total = floor + hs + rs
        ops = [o for o in data["ops"] if o["world"]["program"] == "ours" and o["world"]["apps"] == 1
               and o["world"]["rtt_ms"] == rtt and o["op"] == "one-file change"]
        wall = _med(ops, "wall_s")
        lines.append(f"{rtt:>3} | {floor:8.2f} {hs:9.2f} {rs:7.2f} {total:6.2f} | {_fmt(wall, '.2f', 8)} "
                     f"{_fmt(wall / total if wall else None, '.2f', 7)} {_fmt(_turns(ops), '.0f', 5)}")
    return lines


def _kib_or_none(v: float | None) -> float | None:
    return None if v is None else v / 1024


def _latency(data: dict[str, Any]) -> list[str]:
    """Seconds added by 50 ms of RTT, and the round trips that stands for."""
    rtts = sorted({o["world"]["rtt_ms"] for o in data["ops"]})
    if 0 not in rtts or len(rtts) < 2:
        return []
    hi = max(rtts)
    lines = [(f"what {hi} ms of round-trip time adds (wall at {hi} ms minus wall at 0 ms; "
              f"/ {hi} ms = round trips on the critical path, roughly: the machine's load moves "
              f"single runs by a second or so)"),
             f"{'apps':>4} {'files':>5} {'operation':<27}| {'ours +s':>8} {'~RTs':>5} | {'base +s':>8} {'~RTs':>5}"
             f" | {'pyinfra +s':>10} {'~RTs':>5}"]
    for rtt, apps, files, op in _keys(data):
        if rtt != hi:
            continue
        cells = []
        for program in ("ours", "baseline", "pyinfra"):
            slow = _med(_pick(data, program, (hi, apps, files, op)), "wall_s")
            fast = _med(_pick(data, program, (0, apps, files, op)), "wall_s")
            if slow is None or fast is None:
                cells.append(f"{'-':>8} {'-':>5}")
            else:
                extra = slow - fast
                cells.append(f"{extra:8.2f} {extra / (hi / 1000):5.0f}")
        lines.append(f"{apps:>4} {files:>5} {op:<27}| {cells[0]} | {cells[1]} | {cells[2]:>16}")
    return lines


def _refresh(data: dict[str, Any]) -> list[str]:
    """Connections and turns of a no-op refresh, by number of files (through the relay)."""
    rows = [o for o in data["ops"] if o["op"] == "no-op up --refresh"]
    if not rows:
        return []
    lines = [("no-op `pulumi up --refresh`: connections and round trips per resource "
              "(turns per connection counted by the relay, handshake included)"),
             (f"{'program':<9} {'rtt':>3} {'apps':>4} {'files':>5} | {'ssh':>4} {'turns/conn min-med-max':>23} "
              f"{'ssh KiB up/down':>16} {'wall s':>7}")]
    seen = set()
    for o in rows:
        w = o["world"]
        k = (w["program"], w["rtt_ms"], w["apps"], w["files"])
        if k in seen:
            continue
        seen.add(k)
        f = o["figures"]
        relay = f.get("relay") or {}
        t = relay.get("turns_per_connection")
        turns = f"{t['min']}-{t['median']:g}-{t['max']}" if t else "-"
        payload = (f"{kib(relay['ssh_bytes_up'])}/{kib(relay['ssh_bytes_down'])}"
                   if relay.get("ssh_bytes_up") is not None else "-")
        lines.append(f"{w['program']:<9} {w['rtt_ms']:>3} {w['apps']:>4} {w['files']:>5} | "
                     f"{f['ssh_connections']:>4} {turns:>23} {payload:>16} {f['wall_s']:7.2f}")
    return lines


def _scaling(data: dict[str, Any]) -> list[str]:
    """One-file change in one app, by the number of apps on the host."""
    lines = ["one-file change in ONE app, by the number of apps on the host (rtt 0 ms)",
             (f"{'program':<9} {'apps':>4} | {'wall s':>7} {'cpu s':>6} {'ssh':>4} {'wire tx KiB':>12} "
              f"{'wire rx KiB':>12} {'upload files/KiB':>17} | {'first deploy s':>14} {'no-op s':>8}")]
    for program in ("ours", "baseline"):
        for apps in sorted({o["world"]["apps"] for o in data["ops"]}):
            key: Key = (0, apps, 10, "one-file change")
            ops = _pick(data, program, key)
            if not ops:
                continue
            u = ops[-1].get("upload")
            upload = f"{u['files']}/{kib(u['bytes'])}" if u else "-"
            first = _med(_pick(data, program, (0, apps, 10, "first deploy")), "wall_s")
            noop = _med(_pick(data, program, (0, apps, 10, "no-op up")), "wall_s")
            lines.append(
                f"{program:<9} {apps:>4} | {_fmt(_med(ops, 'wall_s'), '.2f', 7)} {_fmt(_med(ops, 'cpu_s'), '.2f', 6)} "
                f"{_fmt(_med(ops, 'ssh_connections'), '.0f', 4)} {kib(_med(ops, 'tx_bytes') or 0):>12} "
                f"{kib(_med(ops, 'rx_bytes') or 0):>12} {upload:>17} | "
                f"{_fmt(first, '.2f', 14)} {_fmt(noop, '.2f', 8)}")
    return lines if len(lines) > 2 else []


def main(argv: Iterable[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m bench.report RESULTS.json", file=sys.stderr)
        return 2
    data = json.loads(Path(args[0]).read_text())
    print(f"machine: {data['machine']}")
    print(f"command: {data['command']}")
    for line in render(data):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
