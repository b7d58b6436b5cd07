"""HostSpec: one DirectAdmin server, reached over SSH as root ("socket mode")."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import ValidationInfo, field_validator, model_validator
from pydantic.alias_generators import to_camel

from daunit.known_hosts import known_hosts_name, parse_known_hosts
from daunit.spec import access
from daunit.spec.access import DirectAdminAccess
from daunit.spec.base import Spec, errors_at, invalid, raise_problems, reads_local_files, show
from daunit.spec.keys import NoKeyMaterial, is_key_material, scrub_pasted_keys
from daunit.spec.local import host_key_file_problems
from daunit.spec.text import dns_name_problem, normalize_dns_name, refuse_control, refuse_non_ascii
from daunit.spec.types import (
    DA_USER_RE,
    Check,
    HostName,
    IpAddress,
    LocalPath,
    RemotePath,
    SshPort,
    SshUser,
)

# Accounts of the system and its services (Debian, EL, DirectAdmin, Unit): never a
# site user. DirectAdmin's own admin account is refused too, as da-flask's
# threat model treats the panel's accounts as the host's, not a site's.
SYSTEM_ACCOUNTS = frozenset({
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
    "proxy", "www-data", "backup", "list", "irc", "gnats", "nobody", "nogroup", "nfsnobody",
    "systemd-network", "systemd-resolve", "systemd-timesync", "messagebus", "sshd", "_apt",
    "adm", "halt", "shutdown", "operator", "ftp", "ntp", "chrony", "dbus", "polkitd", "tss",
    "rpc", "rpcuser", "avahi", "postfix", "dovecot", "dovenull", "exim", "named", "bind",
    "mysql", "mariadb", "postgres", "redis", "memcached", "apache", "httpd", "nginx", "litespeed",
    "lsadm", "admin", "diradmin", "majordomo", "clamav", "spamd", "unit", "nginx_unit", "git",
})

# Where unitLog may point: Unit's log, under the root-owned log tree.
UNIT_LOG_DIR = "/var/log/"


@dataclass(frozen=True)
class DaUser(Check):
    """A DirectAdmin site user: never a system account, whatever its spelling."""

    def check(self, value: str) -> str:
        if value in SYSTEM_ACCOUNTS:
            raise invalid(f"daUser {value!r} is a system account, not a DirectAdmin site user: Unit would run "
                          "the app as it and the app's files would be handed to it; give the DirectAdmin "
                          "user that owns the domain, like username")
        if not DA_USER_RE.fullmatch(value):
            raise invalid(f"daUser {show(value)} is not a DirectAdmin user name: use 1-16 lower-case "
                          "letters and digits, starting with a letter, like username")
        return value


def check_address(value: str) -> str:
    """The SSH address: an IP address (normalized) or a DNS name (lower-cased)."""
    refuse_control("address", value)
    refuse_non_ascii("address", value)
    text = value.strip()
    if "%" in text:
        raise invalid(f"address {show(value)} has an IPv6 zone (%...): give a global or "
                      "unique-local address da-flask can reach without one")
    if text.startswith("[") and text.endswith("]"):
        raise invalid(f"address {show(value)}: write an IPv6 address without brackets, like ::1")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    name = normalize_dns_name(text)
    problem = dns_name_problem(name, need_dot=False)
    if problem:
        raise invalid(f"address {show(value)} is neither an IP address nor a host name "
                      f"({problem}): use an address like 203.0.113.10 or host.example.com")
    return name


def check_host_key(value: str, address: str | None, port: int | None) -> str:
    """hostKey: known_hosts lines for this host only (never a private key)."""
    if is_key_material(value):
        raise invalid("hostKey holds a private key: pin the server's public host key instead (the "
                      "output of `ssh-keyscan -t ed25519 ADDRESS`); nothing of it is shown here, "
                      "and rotate that key if this config was shared")
    try:
        keys = parse_known_hosts(value)
    except ValueError as exc:
        raise invalid(f"hostKey is not a usable known_hosts entry: {exc}") from None
    if not keys:
        raise invalid("hostKey is not a usable known_hosts entry: it holds no key: "
                      "paste the output of `ssh-keyscan -t ed25519 ADDRESS`")
    if address is None or port is None:
        return value  # the address or port error is reported on its own field
    name = known_hosts_name(address, port)
    for key in keys:
        if not key.applies_to(name):
            raise invalid(f"hostKey has a line for {show(key.patterns)}, not for {name}: "
                          f"keep only this host's lines (ssh-keyscan -p {port} {address} prints them)")
    return value


def check_unit_log(value: str) -> str:
    # root reads its last lines into error messages: only a log file may be named.
    if not (value.startswith(UNIT_LOG_DIR) and value.endswith(".log")) or "$" in value:
        raise invalid(f"unitLog {show(value)} is not a log file under {UNIT_LOG_DIR}: root shows its last "
                      "lines in error messages, so name Unit's own log, a *.log file under "
                      f"{UNIT_LOG_DIR} like /var/log/unit/unit.log (unitd's --log option)")
    return value


class HostSpec(Spec):
    """One DirectAdmin server, reached over SSH as root ("socket mode")."""

    name: HostName
    address: str
    port: SshPort = 22
    ssh_user: SshUser = "root"
    host_key: str | None = None
    host_key_file: Annotated[str, NoKeyMaterial(
        "hostKeyFile holds key material: give the path of a known_hosts file on the deploying machine "
        "(like ~/.ssh/known_hosts), never a key itself"),
        LocalPath("hostKeyFile", example="~/.ssh/known_hosts")] | None = None
    key_file: Annotated[str, NoKeyMaterial(
        "keyFile holds key material: give the path of the private key file on the deploying machine "
        "(like ~/.ssh/id_ed25519), never the key itself, and rotate that key if this config was shared"),
        LocalPath("keyFile", example="~/.ssh/id_ed25519")] | None = None
    da_user: Annotated[str, DaUser()]
    public_address: Annotated[str, IpAddress(
        "publicAddress {value} is not an IP address: give the address DNS records should point at, "
        "like 203.0.113.10")] | None = None
    unit_socket: Annotated[str, RemotePath("unitSocket", example="/var/run/unit/control.sock")] = (
        "/var/run/unit/control.sock")
    unit_log: Annotated[str, RemotePath("unitLog", example="/var/log/unit/unit.log")] = "/var/log/unit/unit.log"
    python: Annotated[str, RemotePath("python", example="/usr/bin/python3.11")] = "/usr/bin/python3.11"
    enable_unit: bool = False
    # Root mode the DirectAdmin way (Unit behind the front web server, apps and routes
    # stored where DirectAdmin re-fills from; daunit/directadmin.py): auto decides from
    # the server, on insists (refused where DirectAdmin is missing), off keeps Unit's own
    # listener (e.g. *:80 on a server without a front web server).
    directadmin_mode: str = "auto"
    # access: user (daunit.spec.access): SSH as daUser, Unit through CMD_UNIT, no root.
    access: str = "root"
    directadmin: DirectAdminAccess | None = None

    @field_validator("access")
    @classmethod
    def _access(cls, value: str) -> str:
        return access.check_access(value)

    @model_validator(mode="before")
    @classmethod
    def _user_mode_ssh_user(cls, data: Any) -> Any:
        return access.fill_ssh_user(data)

    @model_validator(mode="after")
    def _user_mode(self) -> HostSpec:
        raise_problems("HostSpec", access.host_problems(
            self.access, {to_camel(f) for f in self.model_fields_set},
            {"directadmin": self.directadmin, "sshUser": self.ssh_user, "daUser": self.da_user,
             "enableUnit": self.enable_unit}))
        return self

    @model_validator(mode="before")
    @classmethod
    def _scrub_pasted_keys(cls, data: Any) -> Any:
        return scrub_pasted_keys(data, ("keyFile", "hostKey", "hostKeyFile"))

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return check_address(value)

    @field_validator("host_key")
    @classmethod
    def _host_key(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else check_host_key(value, info.data.get("address"), info.data.get("port"))

    @field_validator("directadmin_mode")
    @classmethod
    def _directadmin_mode(cls, value: str) -> str:
        if value not in ("auto", "on", "off"):
            raise invalid(f"directadminMode {show(value)} is not auto, on or off: auto deploys the "
                          "DirectAdmin way where the server is one (front web server, unit_port), "
                          "off keeps Unit's own listener")
        return value

    @field_validator("unit_log")
    @classmethod
    def _unit_log(cls, value: str) -> str:
        return check_unit_log(value)

    @model_validator(mode="after")
    def _one_host_key_source(self) -> HostSpec:
        if self.host_key is None and self.host_key_file is None:
            raise errors_at("HostSpec", [(("hostKey",), (
                "hostKey is required (or hostKeyFile): pin the server's key, e.g. the output of "
                f"`ssh-keyscan -t ed25519 {self.address}`; da-flask never trusts a key on first use"))])
        if self.host_key is not None and self.host_key_file is not None:
            raise errors_at("HostSpec", [(("hostKeyFile",), (
                "set either hostKey or hostKeyFile, not both: keep the one you maintain"))])
        return self

    @model_validator(mode="after")
    def _host_key_file_readable(self, info: ValidationInfo) -> HostSpec:
        # Only when local files may be read (the stack program; see parse_stack).
        if reads_local_files(info):
            raise_problems("HostSpec", host_key_file_problems(self))
        return self

    @property
    def known_hosts_name(self) -> str:
        """This host as OpenSSH names it in known_hosts ("addr" or "[addr]:port")."""
        return known_hosts_name(self.address, self.port)

    @property
    def dns_address(self) -> str | None:
        """The IP address DNS records point at: publicAddress, else address when it is an IP."""
        if self.public_address:
            return self.public_address
        try:
            return str(ipaddress.ip_address(self.address))
        except ValueError:
            return None
