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
            # seconds from the command's start: [connection accepted, last byte], and the turns' times
            "timeline": [[round(c.opened - before.at, 3),
                          round((c.last_data or c.opened) - before.at, 3)] for c in new] if len(new) <= 20 else None,
            "turn_times": [[round(t - before.at, 3) for t in c.turn_times] for c in new] if len(new) <= 4 else None,
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


# Inside the lab: restart the app through the control socket, then ask Unit's
# listener until the app answers 200 again; prints the milliseconds it took.
_RESTART_UNTIL_SERVED = r'''
sock=$1 app=$2 domain=$3
start=$(date +%s%N)
curl -fsS -o /dev/null --unix-socket "$sock" "http://localhost/control/applications/$app/restart"
i=0
until curl -fsS -o /dev/null -H "Host: $domain" http://127.0.0.1/; do
  i=$((i+1)); [ $i -lt 500 ] || exit 1; sleep 0.01
done
echo $(( ($(date +%s%N) - start) / 1000000 ))
'''


def unit_restart_s(lab: Any, app: str, domain: str, reps: int = 3) -> float:
    """Median seconds from Unit's `GET /control/applications/APP/restart` to the
    app's next 200 through Unit's listener: the restart a change pays, new
    process and Flask import included (timed inside the lab: no network)."""
    from bench.workload import unit_apps_named

    (name,) = unit_apps_named(lab, app)  # the name Unit runs it under
    times = []
    for _ in range(reps):
        run = lab.run(["sh", "-c", _RESTART_UNTIL_SERVED, "sh", lab.unit_socket, name, domain])
        times.append(int(run.stdout.strip()) / 1000)
    return statistics.median(times)
