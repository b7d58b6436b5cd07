"""DirectAdminHost: one DirectAdmin server reached over SSH. Wiring only."""
from __future__ import annotations

from typing import Any

import pulumi

from daunit.providers.base import connection_input
from daunit.resources import UnitHost
from daunit.spec.access import USER  # access: user: no Unit socket, so no UnitHost


class DirectAdminHost(pulumi.ComponentResource):
    """The SSH connection every child uses, and Unit on that host.

    `known_hosts` pins the host key (no trust on first use); `key_file` is a
    path on the deploying machine: the key itself never enters state.
    """

    def __init__(self, name: str, *, address: str, port: int, ssh_user: str,
                 known_hosts: str, key_file: str | None, da_user: str,
                 unit_socket: str, unit_log: str, python: str, enable_unit: bool,
                 access: str = "root", directadmin: dict[str, str] | None = None,
                 login_key: pulumi.Input[str] | None = None, directadmin_mode: str = "auto",
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("daflask:index:DirectAdminHost", name, None, opts)
        self.address = address
        self.da_user = da_user
        self.unit_socket = unit_socket
        self.unit_log = unit_log
        self.python = python
        self.connection = connection_input(address, port, ssh_user, known_hosts, key_file)
        # User mode: DirectAdmin's API (url, user, caFile) and the login key, a secret.
        self.access, self.directadmin, self.login_key = access, directadmin, login_key
        self.unit: UnitHost | None = None
        # Root mode: {"webserver", "unitPort"} on a host run the DirectAdmin way, else {}.
        self.da_mode: pulumi.Input[dict[str, Any]] = {}
        if access == USER:
            self.register_outputs({"address": address})
            return
        self.unit = UnitHost(f"{name}-unit", {
            "connection": self.connection,
            "socket": unit_socket,
            "log": unit_log,
            "enableUnit": enable_unit,
            "directadminMode": directadmin_mode,
            "daUser": da_user,
        }, pulumi.ResourceOptions(parent=self))
        self.da_mode = self.unit.output("da_mode")
        self.register_outputs({
            "address": address,
            "unitVersion": self.unit.output("unit_version"),
            "pythonModules": self.unit.output("python_modules"),
        })
