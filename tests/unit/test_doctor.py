"""The pure half of `python -m daunit.doctor`: each fact's parser, each check's verdict,
the API settings, the output; and the one remote script, run here under /bin/sh."""
from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from daunit import facts
from daunit.da_api import ApiSettings
from daunit.doctor import (
    FAIL,
    OK,
    WARN,
    Check,
    HostReport,
    UnitAnswer,
    api_applies,
    api_result,
    api_settings,
    as_json,
    check_directadmin,
    check_domain,
    check_domain_dir,
    check_port,
    check_ports,
    check_python,
    check_storage,
    check_unit,
    check_unit_feature,
    check_unit_socket,
    check_user,
    check_webserver,
    judge_host,
    render_lines,
    socket_to_ask,
)
from daunit.spec import AppSpec, HostSpec, parse_stack
from tests.unit.conftest import app_raw, host_raw

TITLE = ("unit: main v1.35.0 [/usr/sbin/unitd --control unix:/var/run/unit/control.sock "
         "--statedir /var/lib/unit]")
SS = """\
LISTEN 0      511      10.0.0.2:80        0.0.0.0:*    users:(("nginx",pid=12,fd=6),("nginx",pid=11,fd=6))
LISTEN 0      4096    127.0.0.1:8899      0.0.0.0:*    users:(("unitd",pid=20,fd=12))
LISTEN 0      128          [::]:22           [::]:*    users:(("sshd",pid=5,fd=4))
LISTEN 0      128   127.0.0.53%lo:53      0.0.0.0:*
"""


def _stack(**app: Any) -> tuple[HostSpec, AppSpec]:
    spec = parse_stack([host_raw()], [app_raw(**app)], check_source=False)
    return spec.hosts["web1"], spec.apps[0]


def _sections(**changes: list[str]) -> dict[str, list[str]]:
    """The facts of a DirectAdmin server with nginx in front where all is well."""
    base = {
        "os-release": ['PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"', "ID=debian"],
        "da-binary": ["/usr/local/directadmin/directadmin"],
        "da-conf-file": ["/usr/local/directadmin/conf/directadmin.conf"],
        "da-version": ["DirectAdmin 1.680 (build abc)"],
        "da-config-get": ["8899"],
        "da-conf": ["unit_port=8899"],
        "options-file": ["/usr/local/directadmin/custombuild/options.conf"],
        "options": ["webserver=nginx", "unit=yes"],
        "unitd": [f"20 {TITLE}"],
        "passwd": ["username:x:2001:2001::/home/username:/bin/bash"],
        "user-conf": ["present", "usertype=user", "nginx_unit=ON"],
        "domains-list": ["example.com"],
        "domain-dir example.com": ["username 2001 directory"],
        "domain-owners example.com": ["username"],
        "storage example.com": ["unit", "unit flask_app.json", "routes", "routes example.com"],
        "listeners": SS.splitlines(),
    }
    base.update(changes)
    return base


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name + (f" {c.subject}" if c.name == "port" else ""): c for c in checks}


# -- the remote script --------------------------------------------------------------------

def test_the_script_runs_under_sh_and_yields_every_section() -> None:
    fact = facts.host_facts("root", "/nonexistent/control.sock", ["example.com", "other.example.org"])
    argv = fact.argv
    assert argv[:2] == ["sh", "-c"] and argv[3:] == ["sh", "root", "/nonexistent/control.sock",
                                                     "/home/root/domains", "example.com", "other.example.org"]
    done = subprocess.run(["/bin/sh", *argv[1:]], capture_output=True, text=True, timeout=60, check=True,
                          env={"PATH": os.environ["PATH"]})
    sections = fact.parse(done.returncode, done.stdout.encode())
    for name in ("os-release", "da-binary", "unitd", "socket", "passwd", "domains-list", "listeners",
                 "domain-dir example.com", "domain-owners other.example.org", "storage other.example.org"):
        assert name in sections, name
    account = facts.parse_passwd(sections["passwd"])
    assert account is not None and (account.name, account.uid, account.home) == ("root", 0, "/root")
    assert facts.os_name(facts.parse_kv(sections["os-release"]))
    assert sections["socket"] == [] and sections["domain-dir example.com"] == []


def test_sections_are_cut_at_their_markers() -> None:
    text = "\n@@one\na=1\n\n@@two x.example\n\n@@three\nb\nc"
    assert facts.split_sections(text) == {"one": ["a=1"], "two x.example": [], "three": ["b", "c"]}


# -- parsers ------------------------------------------------------------------------------

def test_key_value_files_lose_their_quotes_and_comments() -> None:
    assert facts.parse_kv(['NAME="Debian"', "# x=1", "VERSION_ID='12'", "junk"]) == \
        {"NAME": "Debian", "VERSION_ID": "12"}
    assert facts.os_name({"NAME": "AlmaLinux", "VERSION_ID": "9.4"}) == "AlmaLinux 9.4"


@pytest.mark.parametrize(("said", "version"), [
    (["DirectAdmin 1.680 (build 7d2b)"], "1.680"),
    (["Version: DirectAdmin v.1.62.4"], "1.62.4"),
    (["directadmin: the lab's stand-in knows `config-get KEY` only"], None),
    ([], None),
])
def test_directadmin_version_from_either_command(said: list[str], version: str | None) -> None:
    assert facts.parse_da_version(said) == version


def test_unitd_control_from_the_process_title_or_its_arguments() -> None:
    procs = facts.parse_unitd([f"  20 {TITLE}", "31 /opt/unit/sbin/unitd --control=unix:/run/u.sock",
                               "40 unitd --no-daemon", "x not a pid"])
    assert [(p.pid, p.control_socket) for p in procs] == [
        (20, "/var/run/unit/control.sock"), (31, "/run/u.sock"), (40, None)]
    tcp = facts.parse_unitd(["7 unitd --control 127.0.0.1:8443"])[0]
    assert tcp.control == "127.0.0.1:8443" and tcp.control_socket is None


def test_unitd_without_control_gets_its_built_in_socket() -> None:
    # DirectAdmin's unit.service runs `unitd --no-daemon`: the socket is the configure default.
    lines = ["20 unit: main v1.35.0 [/usr/sbin/unitd --no-daemon]",
             "20 built-in --control=unix:/var/run/unit/control.sock"]
    proc = facts.parse_unitd(lines)[0]
    assert (proc.control_socket, proc.built_in) == ("/var/run/unit/control.sock", True)
    host, _ = _stack()
    check = check_unit_socket(_sections(unitd=lines), host)
    assert check.status == OK and "built-in --control" in check.detail


def test_var_run_is_run() -> None:
    assert facts.same_path("/var/run/unit/control.sock", "/run/unit/control.sock")
    assert facts.same_path("/run/unit//control.sock", "/run/unit/control.sock")
    assert not facts.same_path("/var/run/unit/control.sock", "/var/unit/control.sock")


def test_listening_sockets_and_who_holds_them() -> None:
    found = facts.parse_ss(SS.splitlines())
    assert [(s.address, s.port) for s in found] == [("10.0.0.2", 80), ("127.0.0.1", 8899), ("::", 22),
                                                    ("127.0.0.53", 53)]
    assert found[0].processes == (("nginx", "12"), ("nginx", "11")) and found[3].processes == ()


@pytest.mark.parametrize(("address", "port", "taken"), [
    ("*", 80, True),  # a wildcard collides with any address on the port
    ("10.0.0.2", 80, True),
    ("127.0.0.1", 80, False),  # another address on the same port is free
    ("127.0.0.1", 22, True),  # [::]:22 is a wildcard
    ("127.0.0.1", 8080, False),
])
def test_a_port_is_taken_by_the_same_address_or_a_wildcard(address: str, port: int, taken: bool) -> None:
    assert bool(facts.port_users(facts.parse_ss(SS.splitlines()), address, port)) is taken


def test_python_modules_as_one_object_or_a_list() -> None:
    one = {"modules": {"python": {"version": "3.11.2", "lib": "/x.so"}}}
    many = {"modules": {"python": [{"version": "3.9.18"}, {"version": "3.12.3"}], "php": {"version": "8"}}}
    assert facts.python_modules(one) == ["3.11.2"]
    assert facts.python_modules(many) == ["3.9.18", "3.12.3"]
    assert facts.python_modules({}) == []
    assert facts.module_serves("3.11.2", "3.11") and not facts.module_serves("3.11.2", "3.1")


def test_storage_lists_apps_and_route_hosts() -> None:
    stored = facts.parse_storage(["unit", "unit shop.json", "routes", "routes example.com"])
    assert stored.unit_dir and stored.apps == ["shop"] and stored.route_hosts == ["example.com"]
    assert not facts.parse_storage([]).unit_dir


# -- verdicts -----------------------------------------------------------------------------

def test_a_directadmin_server_where_all_is_well_is_all_ok() -> None:
    host, app = _stack(listener="127.0.0.1:8899")
    modules = {"modules": {"python": {"version": "3.11.2"}}}
    unit = UnitAnswer("/var/run/unit/control.sock", "Unit/1.35.0", modules)
    checks = judge_host(_sections(), unit, host, [app])
    assert [c for c in checks if c.status != OK] == []
    names = [c.name for c in checks]
    assert names == ["os", "directadmin", "webserver", "unit-enabled", "unit", "unit-socket", "unit-port",
                     "python", "da-user", "unit-feature", "domain", "domain-dir", "unit-storage", "port"]
    assert "1.680" in _by_name(checks)["directadmin"].detail


def test_without_a_front_server_the_webserver_is_a_warning_with_what_to_do() -> None:
    check = check_webserver(_sections(options=["unit=yes"]))
    assert check.status == WARN and "da build set webserver" in check.fix
    assert check_webserver(_sections(**{"options-file": []})).status == WARN


def test_directadmin_absent_is_a_warning_and_skips_its_storage() -> None:
    bare = _sections(**{"da-binary": [], "da-conf-file": []})
    assert check_directadmin(bare).status == WARN
    assert check_storage(bare, "username", "example.com") is None
    assert check_domain(bare, "username", "example.com").status == WARN


def test_the_socket_unitd_uses_against_the_stacks() -> None:
    host, _ = _stack()
    assert check_unit_socket(_sections(), host).status == OK  # /var/run is /run too
    other = _sections(unitd=["20 unitd --control unix:/run/unit/other.sock"])
    moved = check_unit_socket(other, host)
    assert moved.status == FAIL and moved.fix == "set hosts.web1.unitSocket: /run/unit/other.sock"
    assert socket_to_ask(other, host.unit_socket) == "/run/unit/other.sock"
    none = check_unit_socket(_sections(unitd=[]), host)
    assert none.status == FAIL and "start Unit" in none.fix
    assert check_unit_socket(_sections(unitd=["20 unitd --no-daemon"]), host).status == WARN
    assert check_unit_socket(_sections(unitd=["20 unitd --control 127.0.0.1:80"]), host).status == FAIL


def test_unit_not_answering_fails_unit_and_python() -> None:
    _, app = _stack()
    down = UnitAnswer("/s", error="no such socket")
    assert check_unit(down).status == FAIL
    assert [c.status for c in check_python(down, [app])] == [FAIL]
    # Over SSH as a DirectAdmin user the root-only socket is expected to refuse.
    assert check_unit(down, as_root=False).status == WARN and "CMD_UNIT" in check_unit(down, False).fix
    assert [c.status for c in check_python(down, [app], as_root=False)] == [WARN]


def test_an_app_wanting_a_python_unit_lacks_fails_naming_what_there_is() -> None:
    _, app = _stack(pythonVersion="3.12")
    unit = UnitAnswer("/s", "Unit/1.35.0", {"modules": {"python": [{"version": "3.9.18"}]}})
    check = check_python(unit, [app])[0]
    assert check.status == FAIL and "3.9" in check.fix and check.subject == "flask_app"


@pytest.mark.parametrize(("passwd", "user_conf", "words"), [
    ([], ["present"], "no account"),
    (["daemon:x:1:1::/usr/sbin:/usr/sbin/nologin"], ["present"], "system account"),
    (["nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin"], ["present"], "system account"),
    (["username:x:2001:2001::/home/username:/bin/bash"], [], "not a DirectAdmin user"),
])
def test_the_user_must_be_a_directadmin_user(passwd: list[str], user_conf: list[str], words: str) -> None:
    check = check_user(_sections(passwd=passwd, **{"user-conf": user_conf}), "username")
    assert check.status == FAIL and words in check.detail and check.fix


def test_a_package_without_unit_is_a_warning() -> None:
    off = check_unit_feature(_sections(**{"user-conf": ["present", "nginx_unit=OFF"]}), "username")
    assert off is not None and off.status == WARN and "package" in off.fix
    unsaid = check_unit_feature(_sections(**{"user-conf": ["present"]}), "username")
    assert unsaid is not None and unsaid.status == WARN and "no nginx_unit=" in unsaid.detail
    assert check_unit_feature(_sections(**{"user-conf": []}), "username") is None


def test_a_domain_of_another_user_names_its_owner() -> None:
    sections = _sections(**{"domains-list": ["example.com"], "domain-owners shop.example": ["bob"]})
    check = check_domain(sections, "username", "shop.example")
    assert check.status == FAIL and "shop.example is not in username's domains.list" in check.detail
    assert "belongs to bob" in check.detail
    orphan = check_domain(_sections(), "username", "nobodys.example")
    assert "no DirectAdmin user has it" in orphan.detail


@pytest.mark.parametrize(("stat", "words"), [
    ([], "does not exist"),
    (["username 2001 symbolic link"], "is a symbolic link"),
    (["root 0 directory"], "owned by root"),
])
def test_the_domain_dir_must_be_the_users_own_directory(stat: list[str], words: str) -> None:
    check = check_domain_dir(_sections(**{"domain-dir example.com": stat}), "username", "example.com")
    assert check.status == FAIL and words in check.detail


def test_what_this_ssh_user_may_not_read_is_not_checked_rather_than_failed() -> None:
    # A DirectAdmin user over SSH sees root's files exist but not what they say.
    hidden = ["!unreadable"]
    sections = _sections(**{"options": hidden, "da-conf": hidden, "da-config-get": [],
                            "user-conf": ["present", *hidden], "domains-list": hidden,
                            "storage example.com": hidden, "domain-owners example.com": hidden})
    host, app = _stack()
    unit = UnitAnswer("/s", "Unit/1.35.0", {"modules": {"python": {"version": "3.11.2"}}})
    by_name = {c.name: c for c in judge_host(sections, unit, host, [app]) if c.name != "port"}
    for name in ("webserver", "unit-enabled", "unit-port", "unit-feature", "domain", "unit-storage"):
        assert by_name[name].status == WARN and by_name[name].detail.startswith("not checked: "), name
        assert "sshUser root" in by_name[name].fix
    assert by_name["da-user"].status == OK
    other = check_domain(_sections(**{"domain-owners shop.example": hidden}), "username", "shop.example")
    assert other.status == FAIL and "other users' domains.list unreadable" in other.detail


def test_missing_storage_is_a_warning_about_the_refill() -> None:
    check = check_storage(_sections(**{"storage example.com": []}), "username", "example.com")
    assert check is not None and check.status == WARN and "re-fills" in check.fix


def test_ports_free_unit_or_taken() -> None:
    listening = facts.parse_ss(SS.splitlines())
    front = check_port(listening, "*", 80, unit_port=False)
    assert front.status == FAIL and "nginx (pid 11, 12)" in front.detail
    assert "127.0.0.1:unit_port" in front.fix
    assert check_port(listening, "127.0.0.1", 8899, unit_port=True).status == OK
    assert check_port(listening, "127.0.0.1", 9000, unit_port=True).status == WARN
    assert check_port(listening, "127.0.0.1", 9000, unit_port=False).status == OK
    assert check_port(listening, "127.0.0.53", 53, unit_port=False).status == WARN  # owner not shown
    _, app = _stack()  # listener *:80, beside unit_port 8899
    assert [c.subject for c in check_ports(_sections(), [app])] == ["127.0.0.1:8899", "*:80"]
    assert [c.status for c in check_ports(_sections(listeners=[]), [app])] == [WARN, OK]  # nothing listens
    no_ss = {k: v for k, v in _sections().items() if k != "listeners"}
    assert check_ports(no_ss, [app])[0].status == WARN
    # Deployed the DirectAdmin way (directadminMode: auto on this server), the app is behind
    # the front server on unit_port: its own listener is not judged.
    assert [c.subject for c in check_ports(_sections(), [app], "auto")] == ["127.0.0.1:8899"]
    bare = _sections(options=["unit=yes"])  # no front server: auto keeps the app's listener
    assert [c.subject for c in check_ports(bare, [app], "auto")] == ["127.0.0.1:8899", "*:80"]


# -- DirectAdmin's API --------------------------------------------------------------------

def test_api_settings_from_the_environment_never_echo_the_key() -> None:
    key = "k" * 40
    assert api_settings({}) is None
    good = api_settings({"DAFLASK_DA_URL": "https://203.0.113.10:2222/",
                         "DAFLASK_DA_LOGIN": f"admin|bob:{key}", "DAFLASK_DA_CA": "/ca.pem"})
    assert good == ApiSettings("https://203.0.113.10:2222", "admin|bob", key, "/ca.pem")
    assert key not in repr(good)
    for env in ({"DAFLASK_DA_URL": "https://x:2222"}, {"DAFLASK_DA_LOGIN": f"bob:{key}"},
                {"DAFLASK_DA_URL": "http://x:2222", "DAFLASK_DA_LOGIN": f"bob:{key}"},
                {"DAFLASK_DA_URL": "https://x:2222", "DAFLASK_DA_LOGIN": key}):
        said = api_settings(env)
        assert isinstance(said, str) and key not in said


def test_the_api_is_checked_on_the_host_it_names() -> None:
    host, _ = _stack()
    settings = ApiSettings("https://198.51.100.7:2222", "bob", "k")
    assert api_applies(settings, host, 1)
    assert not api_applies(settings, host, 2)
    assert api_applies(ApiSettings("https://203.0.113.10:2222", "bob", "k"), host, 2)


def test_api_answers_as_checks() -> None:
    assert api_result(200, {"applications": {"a": {}}, "routes": {}}, "bob", "x.example").status == OK
    refused = api_result(401, {"error": "Unauthorized"}, "bob", "x.example")
    assert refused.status == FAIL and "refused (HTTP 401)" in refused.detail and "login key" in refused.fix
    other = api_result(400, {"error": "Cannot", "result": "domain 'x.example': not a domain of user bob"},
                       "bob", "x.example")
    assert other.status == FAIL and "not a domain of user bob" in other.detail


# -- output -------------------------------------------------------------------------------

def test_lines_and_json() -> None:
    reports = [HostReport("web1", "203.0.113.10", [Check("os", OK, "Debian 12"),
                                                   Check("webserver", WARN, "none", "set one")]),
               HostReport("web2", "203.0.113.11", error="cannot connect")]
    lines = render_lines(reports).splitlines()
    assert lines[0].split() == ["web1", "OK", "os", "Debian", "12"]
    assert lines[1].endswith("none -> set one")
    assert lines[2].startswith("web2  FAIL  ssh") and "cannot connect" in lines[2]
    data = json.loads(as_json(reports))
    assert data["ok"] is False and data["hosts"]["web1"]["failed"] is False
    assert data["hosts"]["web2"]["failed"] is True
