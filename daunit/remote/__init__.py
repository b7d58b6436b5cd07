"""I/O with a host: SSH (commands, files, a Unix-socket channel) and Unit's control API.

Everything that touches the network is in this package; the rest of daunit
is pure. See ssh.py and unit.py.
"""
from __future__ import annotations

from daunit.remote.ssh import CommandResult, SSHSession, SSHTarget, parse_known_hosts
from daunit.remote.unit import UnitClient, unit_path

__all__ = ["CommandResult", "SSHSession", "SSHTarget", "UnitClient", "parse_known_hosts", "unit_path"]
