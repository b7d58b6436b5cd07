"""Preflight: is this host the DirectAdmin server the stack assumes? `python -m daunit.doctor`.

Read-only. Per host of a stack it opens one SSH connection, runs one command that
reads every file and /proc fact (daunit/facts.py), asks Unit's control API for
`/status`, and, when DAFLASK_DA_URL and DAFLASK_DA_LOGIN are set, lists the app's
domain with DirectAdmin's CMD_API_UNIT from this machine. It prints one line per
assumption, OK / WARN / FAIL, with what to do. Nothing on the host or in the stack's
state changes.

    python -m daunit.doctor --stack prod          # one line per check
    python -m daunit.doctor --stack prod --json   # for scripts

Exit status: 0 when nothing FAILs, 1 otherwise, 2 when the stack cannot be read.
Which line checks which DirectAdmin behaviour: docs/directadmin.md, "Preflight".
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from daunit import directadmin, facts
from daunit.da_api import ApiSettings
from daunit.layout import DA_ROOT, domains_dir
from daunit.spec import AppSpec, HostSpec, StackSpec, listener_port
from daunit.status import load_stack_or_say, stack_command

OK, WARN, FAIL = "OK", "WARN", "FAIL"
Sections = Mapping[str, Sequence[str]]
START_UNIT = "start Unit (`systemctl start unit`, or `da build unit` on DirectAdmin)"
AS_ROOT = "run the doctor with sshUser root to check it (DirectAdmin's data is root's)"


@dataclass
class Check:
    name: str  # stable id: os, directadmin, webserver, unit, unit-socket, ...
    status: str  # OK | WARN | FAIL
    detail: str  # what was found
    fix: str = ""  # what to do (empty when OK)
    subject: str = ""  # the app, domain or address the line is about


@dataclass
class HostReport:
    host: str
    address: str
    checks: list[Check] = field(default_factory=list)
    error: str | None = None  # the host could not be read at all

    @property
    def failed(self) -> bool:
        return self.error is not None or any(c.status == FAIL for c in self.checks)


@dataclass(frozen=True)
class UnitAnswer:
    """What Unit's control API said (or why it did not)."""

    socket: str  # the socket asked
    server: str = ""  # "Unit/1.35.0"
    status: Mapping[str, Any] | None = None  # GET /status
    error: str | None = None


def cannot_read(name: str, what: str, subject: str = "") -> Check:
    return Check(name, WARN, f"not checked: this SSH user may not read {what}", AS_ROOT, subject)


# -- the server --------------------------------------------------------------------------

def check_os(sections: Sections) -> Check:
    name = facts.os_name(facts.parse_kv(sections.get("os-release", [])))
    if not name:
        return Check("os", WARN, "no /etc/os-release", "check that this is the Linux server you mean")
    return Check("os", OK, name)


def da_present(sections: Sections) -> bool:
    return bool(sections.get("da-binary") or sections.get("da-conf-file"))


def check_directadmin(sections: Sections) -> Check:
    found = [*sections.get("da-binary", []), *sections.get("da-conf-file", [])]
    if not found:
        return Check("directadmin", WARN,
                     f"absent: no {DA_ROOT}/directadmin nor its conf/directadmin.conf",
                     "fine for a plain server; on DirectAdmin, check that it is installed in "
                     f"{DA_ROOT}")
    version = facts.parse_da_version(sections.get("da-version", []))
    said = f"version {version}" if version else "version not reported by `directadmin version`"
    return Check("directadmin", OK, f"present ({said}); found: {', '.join(found)}")


def check_webserver(sections: Sections) -> Check:
    if not sections.get("options-file"):
        return Check("webserver", WARN, "no CustomBuild options.conf: no front web server known",
                     "on DirectAdmin, CustomBuild's options.conf names it (`da build opt_help`)")
    if facts.unreadable(sections.get("options", [])):
        return cannot_read("webserver", "custombuild/options.conf")
    server = facts.parse_kv(sections.get("options", [])).get("webserver", "")
    if not server:
        return Check("webserver", WARN, "options.conf has no webserver=: no front web server on 80/443",
                     "Unit must then listen on the public port itself (listener *:80); on DirectAdmin, "
                     "set one: `da build set webserver nginx` (or apache) and `da build rewrite_confs`")
    return Check("webserver", OK, f"{server} (custombuild/options.conf webserver={server}) owns 80/443; "
                 "Unit works behind it")


def check_unit_enabled(sections: Sections) -> Check:
    if not sections.get("options-file"):
        return Check("unit-enabled", WARN, "no CustomBuild options.conf", "install Unit yourself, or "
                     "set enableUnit: true on a DirectAdmin server")
    if facts.unreadable(sections.get("options", [])):
        return cannot_read("unit-enabled", "custombuild/options.conf")
    value = facts.parse_kv(sections.get("options", [])).get("unit", "")
    if value == "yes":
        return Check("unit-enabled", OK, "unit=yes in custombuild/options.conf")
    return Check("unit-enabled", WARN, f"unit={value or '(unset)'} in custombuild/options.conf",
                 "`da build set unit yes && da build unit` (or enableUnit: true in the host config)")


def unit_port(sections: Sections) -> tuple[int | None, str]:
    """DirectAdmin's unit_port and where it was read ("" when unknown)."""
    said = [line.strip() for line in sections.get("da-config-get", [])]
    if said and said[0].isdigit():
        return int(said[0]), "`directadmin config-get unit_port`"
    conf = facts.parse_kv(sections.get("da-conf", [])).get("unit_port", "")
    if conf.isdigit():
        return int(conf), "conf/directadmin.conf"
    return None, ""


def check_unit_port(sections: Sections) -> Check:
    port, source = unit_port(sections)
    if port is not None:
        return Check("unit-port", OK, f"unit_port={port} ({source}): the front server proxies to "
                     f"Unit on 127.0.0.1:{port}")
    if not da_present(sections):
        return Check("unit-port", WARN, "no DirectAdmin: no unit_port", "nothing to do without DirectAdmin")
    if facts.unreadable(sections.get("da-conf", [])):
        return cannot_read("unit-port", "conf/directadmin.conf (and `directadmin config-get` said nothing)")
    return Check("unit-port", WARN, "DirectAdmin has no unit_port",
                 "set it with `da config-set unit_port PORT`; the front server proxies to 127.0.0.1:PORT")


# -- Unit --------------------------------------------------------------------------------

def socket_to_ask(sections: Sections, stack_socket: str) -> str:
    """The control socket the running unitd uses, else the stack's."""
    for proc in facts.parse_unitd(sections.get("unitd", [])):
        if proc.control_socket:
            return proc.control_socket
    return stack_socket


def check_unit(unit: UnitAnswer, as_root: bool = True) -> Check:
    if unit.error is not None and not as_root:
        return Check("unit", WARN, f"not checked: Unit's control socket {unit.socket} is root's",
                     "as a DirectAdmin user Unit is reached through CMD_UNIT (the da-api line); "
                     "run the doctor with sshUser root to check Unit itself")
    if unit.error is not None:
        return Check("unit", FAIL, f"no answer on {unit.socket}: {unit.error}", START_UNIT)
    version = unit.server.partition("/")[2] or "?"
    return Check("unit", OK, f"Unit {version} answers on {unit.socket} (Server: {unit.server or '?'})")


def check_unit_socket(sections: Sections, host: HostSpec) -> Check:
    procs = facts.parse_unitd(sections.get("unitd", []))
    if not procs:
        return Check("unit-socket", FAIL, "no unitd running (no root-owned `unit: main` process)", START_UNIT)
    controls = [p.control for p in procs]
    field_ = f"hosts.{host.name}.unitSocket"
    for p in procs:
        if p.control_socket and facts.same_path(p.control_socket, host.unit_socket):
            how = "built-in --control (`unitd --version`)" if p.built_in else "--control"
            return Check("unit-socket", OK, f"unitd (pid {p.pid}) uses {how} unix:{p.control_socket}: "
                         "the stack's unitSocket")
    sockets = [p.control_socket for p in procs if p.control_socket]
    if sockets:
        return Check("unit-socket", FAIL, f"unitd uses --control unix:{sockets[0]}, the stack says "
                     f"{host.unit_socket}", f"set {field_}: {sockets[0]}")
    if any(c is None for c in controls):
        return Check("unit-socket", WARN, "unitd was started without --control: its build default applies",
                     f"compare `unitd --version` (--control=...) with {field_} ({host.unit_socket})")
    return Check("unit-socket", FAIL, f"unitd's control API is on {controls[0]}, not a Unix socket",
                 "start unitd with --control unix:/var/run/unit/control.sock (DirectAdmin's default)")


def check_python(unit: UnitAnswer, apps: Sequence[AppSpec], as_root: bool = True) -> list[Check]:
    if unit.status is None:
        return [Check("python", FAIL if as_root else WARN, "not checked: Unit did not answer",
                      START_UNIT if as_root else AS_ROOT)]
    modules = facts.python_modules(unit.status)
    have = ", ".join(modules) or "none"
    if not apps:
        status = OK if modules else WARN
        return [Check("python", status, f"Unit's Python modules: {have}",
                      "" if modules else "build Unit's Python module (`da build unit`)")]
    checks = []
    for app in apps:
        said = f"{app.name} wants python {app.python_version}: Unit has {have}"
        if any(facts.module_serves(m, app.python_version) for m in modules):
            checks.append(Check("python", OK, said, subject=app.name))
        else:
            choose = ", ".join(sorted({".".join(m.split(".")[:2]) for m in modules})) or "none loaded"
            checks.append(Check("python", FAIL, said, f"set pythonVersion to one Unit has ({choose}), or "
                                "build that module (DirectAdmin builds it for the system python3)",
                                subject=app.name))
    return checks


# -- the user and the domains ----------------------------------------------------------

def check_user(sections: Sections, user: str) -> Check:
    account = facts.parse_passwd(sections.get("passwd", []))
    if account is None:
        return Check("da-user", FAIL, f"no account {user!r} on the host",
                     "create the user in DirectAdmin, or fix daUser", subject=user)
    if account.uid < 1000 or account.uid == 65534:
        return Check("da-user", FAIL, f"{user} is a system account (uid {account.uid})",
                     "daUser must be the DirectAdmin user owning the site", subject=user)
    if da_present(sections) and not sections.get("user-conf"):
        return Check("da-user", FAIL, f"{user} (uid {account.uid}) is not a DirectAdmin user: no "
                     f"data/users/{user}/user.conf", "create the user in DirectAdmin, or fix daUser",
                     subject=user)
    where = f"data/users/{user}/user.conf" if da_present(sections) else "no DirectAdmin to ask"
    return Check("da-user", OK, f"{user} uid {account.uid}, home {account.home} ({where})", subject=user)


def check_unit_feature(sections: Sections, user: str) -> Check | None:
    """The per-package `nginx_unit` feature in the user's user.conf; None without one."""
    if not sections.get("user-conf"):
        return None
    if facts.unreadable(sections["user-conf"]):
        return cannot_read("unit-feature", f"data/users/{user}/user.conf", user)
    value = facts.parse_kv(sections["user-conf"]).get("nginx_unit", "")
    if value.upper() == "ON":
        return Check("unit-feature", OK, f"nginx_unit=ON in {user}'s user.conf: the panel offers them Unit",
                     subject=user)
    said = f"nginx_unit={value}" if value else "no nginx_unit="
    return Check("unit-feature", WARN, f"{said} in {user}'s user.conf: the panel may deny them Unit "
                 "(CMD_UNIT refused)", "enable Nginx Unit in the user's package (reseller or admin level)",
                 subject=user)


def check_domain(sections: Sections, user: str, domain: str) -> Check:
    if not da_present(sections):
        return Check("domain", WARN, f"{domain}: no DirectAdmin to ask who owns it",
                     "make sure the domain is this user's", subject=domain)
    listed = sections.get("domains-list", [])
    if domain in {line.strip() for line in listed}:
        return Check("domain", OK, f"{domain} is in {user}'s domains.list", subject=domain)
    if facts.unreadable(listed):
        return cannot_read("domain", f"data/users/{user}/domains.list", domain)
    said = sections.get(f"domain-owners {domain}", [])
    owners = [o for o in said if o not in (user, facts.UNREADABLE)]
    who = (f"it belongs to {', '.join(owners)}" if owners else
           "other users' domains.list unreadable" if facts.unreadable(said) else "no DirectAdmin user has it")
    return Check("domain", FAIL, f"{domain} is not in {user}'s domains.list ({who})",
                 f"add {domain} to {user} in DirectAdmin, or fix the app's domain or the host's daUser",
                 subject=domain)


def check_domain_dir(sections: Sections, user: str, domain: str) -> Check:
    path = f"{domains_dir(user)}/{domain}"
    found = facts.parse_stat(sections.get(f"domain-dir {domain}", []))
    if found is None:
        return Check("domain-dir", FAIL, f"{path} does not exist",
                     f"create {domain} for {user} in DirectAdmin (it makes the directory)", subject=domain)
    if found.kind != "directory":
        return Check("domain-dir", FAIL, f"{path} is a {found.kind}, not a directory",
                     "the deployer never follows a link the site user controls: make it a directory",
                     subject=domain)
    if found.owner != user:
        return Check("domain-dir", FAIL, f"{path} is owned by {found.owner}, not {user}",
                     f"chown {user}: {path} (DirectAdmin makes it the user's)", subject=domain)
    return Check("domain-dir", OK, f"{path} is a directory owned by {user}", subject=domain)


def check_storage(sections: Sections, user: str, domain: str) -> Check | None:
    """DirectAdmin's own copy of Unit's config for the domain; None without DirectAdmin."""
    if not da_present(sections):
        return None
    lines = sections.get(f"storage {domain}", [])
    base = f"data/users/{user}/domains/{domain}"
    if facts.unreadable(lines):
        return cannot_read("unit-storage", f"{base}.unit", domain)
    stored = facts.parse_storage(lines)
    if not stored.unit_dir:
        return Check("unit-storage", WARN,
                     f"{base}.unit is absent: DirectAdmin stores no Unit app for {domain}",
                     "apps only in Unit are replaced when DirectAdmin re-fills it (a unitd start with no "
                     "listeners, `da build rewrite_confs`); store them through DirectAdmin (CMD_UNIT)",
                     subject=domain)
    routes = f"; routes for {', '.join(stored.route_hosts)}" if stored.route_hosts else \
        ("; no routes" if not stored.routes_dir else "; routes dir empty")
    return Check("unit-storage", OK, f"{base}.unit holds {', '.join(stored.apps) or 'no app'}{routes}",
                 subject=domain)


# -- ports -------------------------------------------------------------------------------

def _owners(users: Sequence[facts.Listening]) -> str:
    """"nginx (pid 11, 12), unitd (pid 20)": each program once, with its pids."""
    pids: dict[str, list[str]] = {}
    for s in users:
        for name, pid in s.processes:
            if pid not in pids.setdefault(name, []):
                pids[name].append(pid)
    return ", ".join(f"{name} (pid {', '.join(sorted(p, key=int))})" for name, p in pids.items()) \
        or "a process ss does not name"


def _by_unit(users: Sequence[facts.Listening]) -> bool:
    return bool(users) and all(s.processes and all(n == "unitd" for n, _ in s.processes) for s in users)


def check_port(listening: Sequence[facts.Listening], address: str, port: int, *, unit_port: bool) -> Check:
    where = f"{address}:{port}"
    users = facts.port_users(listening, address, port)
    label = f"unit_port {where}" if unit_port else f"listener {where}"
    if not users:
        if unit_port:
            return Check("port", WARN, f"{label} is free: Unit does not listen there yet",
                         "DirectAdmin's re-fill adds that listener (`da build rewrite_confs`)", subject=where)
        return Check("port", OK, f"{label} is free", subject=where)
    if _by_unit(users):
        return Check("port", OK, f"{label} is Unit's ({_owners(users)})", subject=where)
    taken = f"{label} is taken by {_owners(users)}"
    if not any(s.processes for s in users):
        return Check("port", WARN, taken, "run the doctor as root to see whose it is", subject=where)
    fix = ("free it, or move unit_port (`da config-set unit_port PORT`)" if unit_port else
           "Unit cannot listen there: behind a front server give the app a loopback listener "
           "(127.0.0.1:unit_port), or free the port")
    return Check("port", FAIL, taken, fix, subject=where)


def _directadmin_way(sections: Sections, setting: str) -> bool:
    try:
        return directadmin.resolve(setting, directadmin.detect(sections), "") is not None
    except ValueError:
        return False


def check_ports(sections: Sections, apps: Sequence[AppSpec], directadmin_setting: str = "off") -> list[Check]:
    """unit_port, and each app's listener unless the host is deployed the DirectAdmin way
    (there every app is behind the front server on unit_port, daunit.directadmin)."""
    if "listeners" not in sections:
        return [Check("port", WARN, "ports not checked: `ss` gave nothing", "install iproute2")]
    listening = facts.parse_ss(sections.get("listeners", []))
    checks = []
    port, _ = unit_port(sections)
    wanted: dict[tuple[str, int], None] = {}
    if not _directadmin_way(sections, directadmin_setting):
        for app in apps:
            wanted[(app.listener.rpartition(":")[0], listener_port(app.listener))] = None
    if port is not None:
        checks.append(check_port(listening, "127.0.0.1", port, unit_port=True))
        wanted.pop(("127.0.0.1", port), None)
    checks += [check_port(listening, a, p, unit_port=False) for a, p in wanted]
    return checks


# -- one host ----------------------------------------------------------------------------

def stack_hosts(spec: StackSpec) -> list[tuple[str, HostSpec, list[AppSpec]]]:
    """(name, host, its apps) for every host of the stack."""
    return [(name, h, [a for a in spec.apps if a.host == name]) for name, h in spec.hosts.items()]


def judge_host(sections: Sections, unit: UnitAnswer, host: HostSpec, apps: Sequence[AppSpec]) -> list[Check]:
    """Every check of one host from its facts (pure: no I/O)."""
    as_root = host.ssh_user == "root"
    checks = [check_os(sections), check_directadmin(sections), check_webserver(sections),
              check_unit_enabled(sections), check_unit(unit, as_root), check_unit_socket(sections, host),
              check_unit_port(sections), *check_python(unit, apps, as_root),
              check_user(sections, host.da_user)]
    feature = check_unit_feature(sections, host.da_user)
    if feature is not None:
        checks.append(feature)
    for domain in dict.fromkeys(a.domain for a in apps):
        checks += [check_domain(sections, host.da_user, domain),
                   check_domain_dir(sections, host.da_user, domain)]
        stored = check_storage(sections, host.da_user, domain)
        if stored is not None:
            checks.append(stored)
    return checks + check_ports(sections, apps, host.directadmin_mode)


# -- DirectAdmin's API (from this machine) -----------------------------------------------

def api_settings(env: Mapping[str, str]) -> ApiSettings | str | None:
    """DAFLASK_DA_URL, DAFLASK_DA_LOGIN (user:key), DAFLASK_DA_CA; None when unset, a
    message when set wrongly (never quoting the key)."""
    url, login = env.get("DAFLASK_DA_URL", ""), env.get("DAFLASK_DA_LOGIN", "")
    if not url and not login:
        return None
    if not url or not login:
        missing = "DAFLASK_DA_URL" if not url else "DAFLASK_DA_LOGIN"
        return f"{missing} is not set (both DAFLASK_DA_URL and DAFLASK_DA_LOGIN are needed)"
    if urlsplit(url).scheme != "https" or not urlsplit(url).hostname:
        return "DAFLASK_DA_URL must be https://SERVER:2222"
    user, sep, key = login.partition(":")
    if not sep or not user or not key:
        return "DAFLASK_DA_LOGIN must be USER:LOGIN_KEY (or admin|USER:LOGIN_KEY)"
    return ApiSettings(url.rstrip("/"), user, key, env.get("DAFLASK_DA_CA") or None)


def api_applies(settings: ApiSettings, host: HostSpec, hosts: int) -> bool:
    """Whether the API URL is this host's: the stack's only host, or named by its address."""
    named = urlsplit(settings.url).hostname or ""
    return hosts == 1 or named in {host.address, host.public_address, host.dns_address}


def api_not_checked(reason: str, fix: str) -> Check:
    return Check("da-api", WARN, f"not checked: {reason}", fix)


def api_result(status: int, body: Any, user: str, domain: str) -> Check:
    """The answer to GET CMD_API_UNIT?domain=D&json=yes as a check."""
    if status in (401, 403):
        return Check("da-api", FAIL, f"the login key of {user} was refused (HTTP {status})",
                     "make a login key allowing CMD_API_UNIT (panel: Login Keys; root: `da api-url`) "
                     "and put USER:KEY in DAFLASK_DA_LOGIN", subject=domain)
    if status == 200 and isinstance(body, Mapping) and "applications" in body:
        apps = body.get("applications") or {}
        return Check("da-api", OK, f"login key of {user} accepted: CMD_API_UNIT lists {len(apps)} "
                     f"app(s) for {domain}", subject=domain)
    said = body.get("result") or body.get("error") if isinstance(body, Mapping) else None
    return Check("da-api", FAIL, f"CMD_API_UNIT for {domain} answered HTTP {status}"
                 + (f": {said}" if said else ""),
                 "check that the user has Nginx Unit in their package and owns the domain", subject=domain)


# -- output ------------------------------------------------------------------------------

def render_lines(reports: Sequence[HostReport]) -> str:
    lines = []
    for r in reports:
        if r.error:
            lines.append(f"{r.host}  FAIL  ssh            {r.address}: {r.error}")
            continue
        for c in r.checks:
            fix = f" -> {c.fix}" if c.fix and c.status != OK else ""
            lines.append(f"{r.host}  {c.status:<4}  {c.name:<14} {c.detail}{fix}")
    return "\n".join(lines)


def as_json(reports: Sequence[HostReport]) -> str:
    hosts = {r.host: {**asdict(r), "failed": r.failed} for r in reports}
    return json.dumps({"ok": not any(r.failed for r in reports), "hosts": hosts}, indent=2, sort_keys=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = stack_command("doctor", __doc__, "the stack whose hosts to check")
    parser.add_argument("--json", action="store_true", help="print JSON instead of lines")
    args = parser.parse_args(argv)
    loaded = load_stack_or_say("doctor", args)
    if loaded is None:
        return 2
    from daunit.doctor_remote import examine_stack

    reports = examine_stack(loaded[0], api_settings(os.environ))
    print(as_json(reports) if args.json else render_lines(reports), flush=True)
    return 1 if any(r.failed for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
