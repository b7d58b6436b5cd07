"""I/O with a host: SSH (commands, files, a Unix-socket channel) and Unit's control API.

Everything that touches the network is in this package; the rest of daunit
is pure. The parts: target.py (where to connect, pinned keys), handshake.py
(getting in), connection.py (one connection, and open_channel: the only way
to a channel), commands.py and transfer.py (what runs on a channel), ssh.py
(SSHSession, the handle providers hold), httpchannel.py and unit.py (HTTP and
Unit's control API over channels), health.py, tlsprobe.py, hostlock.py,
pool.py; paramiko_adapter.py is the one place that uses paramiko's private
members.
"""
from __future__ import annotations

from daunit.remote.ssh import CommandResult, SSHSession, SSHTarget, parse_known_hosts
from daunit.remote.unit import UnitClient, unit_path

__all__ = ["CommandResult", "SSHSession", "SSHTarget", "UnitClient", "parse_known_hosts", "unit_path"]
