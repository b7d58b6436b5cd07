"""Finding and ending the processes of one lab host.

A process belongs to a lab when it is in the lab's network namespace, or in the mount
namespace of its supervisor (tinyproxy lives there with this machine's network), or
descends from one of those (Unit apps with their own namespaces). Zombies are skipped:
they hold no namespace and vanish once reaped.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

NsId = tuple[int, int]  # (st_dev, st_ino) of an nsfs file


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    state: str
    start_ticks: int


def ns_id(path: str | Path) -> NsId | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def proc_info(pid: int) -> ProcInfo | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    fields = raw[raw.rindex(")") + 2:].split()
    return ProcInfo(pid=pid, ppid=int(fields[1]), state=fields[0], start_ticks=int(fields[19]))


def start_ticks(pid: int) -> int | None:
    info = proc_info(pid)
    return info.start_ticks if info else None


def is_alive(pid: int, ticks: int | None = None) -> bool:
    """True when pid runs (not a zombie) and, if given, started at `ticks` (no pid reuse)."""
    info = proc_info(pid)
    if info is None or info.state == "Z":
        return False
    return ticks is None or info.start_ticks == ticks


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _all_procs() -> dict[int, ProcInfo]:
    procs: dict[int, ProcInfo] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = proc_info(int(entry))
            if info is not None and info.state != "Z":
                procs[info.pid] = info
    return procs


def children(pid: int) -> set[int]:
    """Live pids whose parent is `pid`."""
    return {info.pid for info in _all_procs().values() if info.ppid == pid}


def lab_pids(net: NsId | None, mnt: NsId | None, roots: set[int]) -> set[int]:
    """Live pids in netns `net` or mount ns `mnt`, or descending from them or `roots`."""
    procs = _all_procs()
    found = {pid for pid in roots if pid in procs}
    for pid in procs:
        if (net is not None and ns_id(f"/proc/{pid}/ns/net") == net) or (
                mnt is not None and ns_id(f"/proc/{pid}/ns/mnt") == mnt):
            found.add(pid)
    children: dict[int, list[int]] = {}
    for info in procs.values():
        children.setdefault(info.ppid, []).append(info.pid)
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    found.discard(os.getpid())
    return found


def kill_all(net: NsId | None, mnt: NsId | None, roots: set[int], timeout: float = 5.0) -> set[int]:
    """SIGKILL every lab process, again and again until none is left (forks race us).

    `roots` (the supervisor, a child subreaper) die last: until then they reap the
    others, so no zombie is left for this machine's init to collect whenever it likes.
    Returns the pids still found at the deadline (empty on success).
    """
    deadline = time.monotonic() + timeout
    killed: set[int] = set()
    while True:
        pids = lab_pids(net, mnt, roots)
        if not pids or time.monotonic() > deadline:
            return pids
        others = pids - roots
        if not others:
            _wait_reaped(killed, roots, min(deadline, time.monotonic() + 0.5))
        for pid in others or pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            killed.add(pid)
        time.sleep(0.01)


def _wait_reaped(pids: set[int], parents: set[int], until: float) -> None:
    """Wait until those of `pids` whose parent is in `parents` are reaped, or until `until`."""
    def pending() -> bool:
        for pid in pids:
            info = proc_info(pid)
            if info is not None and info.ppid in parents:
                return True
        return False

    while time.monotonic() < until and pending():
        time.sleep(0.005)
