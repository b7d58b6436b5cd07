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

import base64
import resource
import socket
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


def ssh_handshake_s(lab: Any, address: str, port: int, reps: int = 3) -> float:
    """Median seconds of one SSH connection made and authenticated (TCP, key
    exchange, the pinned host key checked, public-key auth), as paramiko does it
    for this project's providers: through the relay when address:port is the relay's."""
    import paramiko  # type: ignore[import-untyped]

    kind, blob = lab.host_public_key.split()[:2]
    key = paramiko.PKey.from_type_string(kind, base64.b64decode(blob))
    pinned = address if port == 22 else f"[{address}]:{port}"
    times = []
    for _ in range(reps):
        started = time.monotonic()
        client = paramiko.SSHClient()
        client.get_host_keys().add(pinned, key.get_name(), key)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        sock = socket.create_connection((address, port), timeout=15)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            client.connect(address, port, username="root", key_filename=lab.client_key_path, sock=sock,
                           allow_agent=False, look_for_keys=False, timeout=15)
            times.append(time.monotonic() - started)
        finally:
            client.close()
    return statistics.median(times)


def unit_restart_s(lab: Any, app: str, reps: int = 3) -> float:
    """Median seconds Unit takes to answer `GET /control/applications/APP/restart`
    (curl's own time_total inside the lab: no network, no process start counted)."""
    times = []
    for _ in range(reps):
        run = lab.run(["curl", "-fsS", "-o", "/dev/null", "-w", "%{time_total}", "--unix-socket",
                       lab.unit_socket, f"http://localhost/control/applications/{app}/restart"])
        times.append(float(run.stdout.strip()))
    return statistics.median(times)
