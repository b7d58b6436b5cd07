"""User mode (`access: user`) config: the DirectAdmin part, root-only options refused with
one sentence naming the field, the login key never shown; and the CMD_UNIT forms."""
from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from daunit.da_access import da_form, routed_to
from daunit.spec import format_errors, parse_stack
from tests.unit.conftest import app_raw, host_raw

KEY = "LOGINKEY0123456789secret"


def user_host(**changes: Any) -> dict[str, Any]:
    return host_raw(access="user", directadmin={"url": "https://203.0.113.10:2222", "user": "username",
                                                "loginKey": KEY}, **changes)


def errors(host: dict[str, Any], **app: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        parse_stack({"web1": host}, [app_raw(**app)], check_source=False)
    found = dict(format_errors(caught.value))
    assert KEY not in str(found) and KEY not in str(caught.value)
    return found


def test_user_mode_logs_in_as_the_da_user_by_default() -> None:
    spec = parse_stack({"web1": user_host()}, [app_raw()], check_source=False)
    host = spec.hosts["web1"]
    assert host.ssh_user == "username" and host.access == "user"
    assert host.directadmin is not None and host.directadmin.api_input() == {
        "url": "https://203.0.113.10:2222", "user": "username"}
    assert KEY not in repr(host)


def test_root_mode_is_the_default_and_unchanged() -> None:
    host = parse_stack({"web1": host_raw()}, [], check_source=False).hosts["web1"]
    assert host.access == "root" and host.ssh_user == "root" and host.directadmin is None


@pytest.mark.parametrize(("host", "app", "field", "says"), [
    ({"unitSocket": "/run/unit/control.sock"}, {}, "hosts.web1.unitSocket", "unitSocket needs root"),
    ({"unitLog": "/var/log/unit/unit.log"}, {}, "hosts.web1.unitLog", "unitLog needs root"),
    ({"enableUnit": True}, {}, "hosts.web1.enableUnit", "enableUnit needs root"),
    ({"sshUser": "root"}, {}, "hosts.web1.sshUser", "set sshUser to 'username'"),
    ({}, {"isolation": True}, "apps[0].isolation", "isolation needs root"),
    ({}, {"tls": {"source": "directadmin"}}, "apps[0].tls", "tls needs root"),
    ({}, {"listener": "*:8080"}, "apps[0].listener", "listener needs root"),
])
def test_root_only_options_are_refused(host: dict[str, Any], app: dict[str, Any], field: str,
                                       says: str) -> None:
    found = errors(user_host(**host), **app)
    assert set(found) == {field} and says in found[field], found
    assert found[field].count(". ") == 0  # one sentence


@pytest.mark.parametrize(("directadmin", "field", "says"), [
    ({"url": "http://203.0.113.10:2222"}, "url", "https address"),
    ({"url": "https://username:pw@203.0.113.10:2222"}, "url", "no path or login"),
    ({"user": "User Name"}, "user", "not a DirectAdmin login"),
    ({"loginKey": "two words"}, "loginKey", "pulumi config set --secret"),
])
def test_bad_directadmin_settings_name_the_field_and_the_fix(directadmin: dict[str, Any], field: str,
                                                             says: str) -> None:
    host = user_host()
    host["directadmin"] = {**host["directadmin"], **directadmin}
    found = errors(host)
    assert says in found[f"hosts.web1.directadmin.{field}"], found


def test_directadmin_is_required_in_user_mode_and_only_there() -> None:
    found = errors(host_raw(access="user"))
    assert "directadmin is required with access: user" in found["hosts.web1.directadmin"]
    found = errors(host_raw(directadmin=user_host()["directadmin"]))
    assert "add access: user, or remove directadmin" in found["hosts.web1.directadmin"]
    found = errors(host_raw(access="admin"))
    assert "use root" in found["hosts.web1.access"] and "or user" in found["hosts.web1.access"]


def test_cmd_unit_forms() -> None:
    assert da_form({"processes": {"max": 2.0, "spare": 0}, "threads": 1, "on": True, "x": None}) == \
        {"processes": {"max": "2", "spare": "0"}, "threads": "1", "on": True, "x": None}
    current = "/h/app/current"
    steps = [{"match": {"uri": "/static/*"}, "action": {"share": f"{current}/app$uri"}},
             {"action": {"pass": "applications/daflask:p:s:flask_app", "response_headers": {"X": "1"}}}]
    assert routed_to(steps, "example.com_flask_app") == [
        {"match": {"uri": "/static/*"}, "action": {"share": f"{current}/app$uri"}},
        {"action": {"pass": "applications/example.com_flask_app", "response_headers": {"X": "1"}}}]
