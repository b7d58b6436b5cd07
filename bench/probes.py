"""What is counted around each `pulumi` run, and how.

- SSH connections: lines "Accepted publickey for" that the lab's own sshd
  writes to .lab/NAME/ssh/sshd.log (LogLevel INFO logs one per authenticated
  connection). Nothing else on this machine talks to a bench lab's sshd.
- Bytes on the wire: the host end of the lab's veth pair,
  /sys/class/net/<host_link>/statistics/{tx,rx}_bytes: tx is this machine ->
  lab, rx is lab -> this machine, IP headers and ACKs included. Every byte a
  deploy moves crosses it (SSH, and the pip proxy when a venv is built).
- Through the delay relay: connections accepted, bytes and turns per
  connection (bench/relay.py).
- Time: wall clock of the `pulumi` process, and the CPU time of its whole
  process tree (engine, language host, dynamic providers: getrusage of
  reaped children), which is steadier than wall time on a busy machine.
"""
from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.relay import DelayRelay, RelayStats


@dataclass
class Snapshot:
    accepted: int
    tx: int
    rx: int
    relay: RelayStats | None
    cpu: float
    at: float


def _link_bytes(link: str, which: str) -> int:
    return int(Path(f"/sys/class/net/{link}/statistics/{which}_bytes").read_text())


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def snapshot(lab: Any, relay: DelayRelay | None) -> Snapshot:
    return Snapshot(lab.ssh_connections_accepted(), _link_bytes(lab.host_link, "tx"),
                    _link_bytes(lab.host_link, "rx"), relay.snapshot() if relay else None,
                    _children_cpu(), time.monotonic())


def measure(lab: Any, relay: DelayRelay | None, fn: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """Run fn (one `pulumi` command) and return its result and what it cost."""
    before = snapshot(lab, relay)
    result = fn()
    after = snapshot(lab, relay)
    figures: dict[str, Any] = {
        "wall_s": after.at - before.at,
        "cpu_s": after.cpu - before.cpu,
        "ssh_connections": after.accepted - before.accepted,
        "tx_bytes": after.tx - before.tx,
        "rx_bytes": after.rx - before.rx,
    }
    if before.relay is not None and after.relay is not None:
        new = after.relay.conns[len(before.relay.conns):]
        turns = [c.turns for c in new]
        figures["relay"] = {
            "connections": after.relay.accepted - before.relay.accepted,
            "ssh_bytes_up": sum(c.up_bytes for c in new),
            "ssh_bytes_down": sum(c.down_bytes for c in new),
            "turns_total": sum(turns),
            "turns_per_connection": {
                "min": min(turns), "median": statistics.median(turns), "max": max(turns),
            } if turns else None,
            # [client->server bytes, server->client bytes, turns] per connection, when few
            "per_connection": [[c.up_bytes, c.down_bytes, c.turns] for c in new] if len(new) <= 20 else None,
        }
    return result, figures
