"""daunit.directadmin: names, dispatch order and mode, against the lab's re-fill."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from daunit import directadmin
from daunit.ownership import Owner
from lab.dactl import NAME_RE, DirectAdmin, unit_config


def test_stored_name_is_stable_distinct_per_stack_and_fits_directadmin() -> None:
    one = directadmin.stored_name(Owner("da-flask", "prod"), "shop")
    assert one == directadmin.stored_name(Owner("da-flask", "prod"), "shop")
    assert NAME_RE.match(one) and one.startswith("daflask-shop-")
    others = {directadmin.stored_name(Owner(p, s), "shop")
              for p, s in (("da-flask", "dev"), ("da-flask.x", "prod"), ("a-b", "c"), ("a", "b-c"))}
    assert one not in others and len(others) == 4
    longest = directadmin.stored_name(Owner("p" * 100, "s" * 100), "a" * 32)
    assert NAME_RE.match(longest)


def _store(tmp: Path, user: str, domain: str, routes: dict[str, list[object]]) -> None:
    base = tmp / "data" / "users" / user
    (base / "domains" / f"{domain}.routes").mkdir(parents=True)
    (base / "user.conf").write_text("usertype=user\n")
    with (base / "domains.list").open("a") as f:
        f.write(domain + "\n")
    (base / "domains" / f"{domain}.routes" / domain).write_text(json.dumps(routes))


def test_our_dispatch_entry_goes_where_the_refill_puts_it(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "directadmin.conf").write_text("unit_port=8899\n")
    step = [{"action": {"return": 204}}]
    _store(tmp_path, "alice", "b.example", {"/api": step, "/": step})
    _store(tmp_path, "bob", "z.example", {"/": step})
    others = unit_config(DirectAdmin(tmp_path))["routes"][directadmin.DISPATCH_ROUTE]
    without_ours = [e for e in others if e["action"]["pass"] != "routes/b.example"]
    ours = directadmin.dispatch_entry("b.example")
    assert directadmin.dispatch_with(without_ours, ours) == others
    assert directadmin.dispatch_with(others, ours) == others  # idempotent


def test_mode_auto_on_off() -> None:
    found = {"present": True, "webserver": "nginx", "unitPort": 8899}
    assert directadmin.resolve("auto", found, "web1") == {"webserver": "nginx", "unitPort": 8899}
    assert directadmin.resolve("off", found, "web1") is None
    bare = {"present": True, "webserver": "", "unitPort": 8899}
    assert directadmin.resolve("auto", bare, "web1") is None
    with pytest.raises(ValueError, match="front web server"):
        directadmin.resolve("on", bare, "web1")


def test_detect_reads_the_facts_sections() -> None:
    sections = {"da-binary": ["/usr/local/directadmin/directadmin"],
                "options": ["webserver=apache", "unit=yes"], "da-config-get": ["8899"]}
    assert directadmin.detect(sections) == {"present": True, "webserver": "apache", "unitPort": 8899}
    assert directadmin.detect({})["present"] is False


def test_stored_text_has_whole_numbers() -> None:
    assert directadmin.stored_text({"processes": {"max": 2.0}}) == \
        '{\n    "processes": {\n        "max": 2\n    }\n}\n'


def test_a_dispatch_route_unknown_at_preview_is_an_update_a_known_change_a_replace() -> None:
    from pulumi.output import Unknown

    from daunit.providers.unit_route import UnitRouteProvider

    olds = {"name": "daflask:p:s:a", "dispatchRoute": "da-flask-hosts", "socket": "/s"}
    unknown = UnitRouteProvider().diff("id", olds, {**olds, "dispatchRoute": Unknown()})
    assert unknown.changes and not unknown.replaces
    known = UnitRouteProvider().diff("id", olds, {**olds, "dispatchRoute": directadmin.DISPATCH_ROUTE})
    assert known.replaces == ["dispatchRoute"]


def test_tls_in_unit_is_refused_on_a_directadmin_server_at_check() -> None:
    from pulumi.output import Unknown

    from daunit.providers.unit_cert import UnitCertificateProvider

    props = {"connection": {"host": "h", "knownHosts": "k"}, "app": "shop", "domain": "shop.example",
             "source": "directadmin",
             "listener": "*:443", "dispatchRoute": "da-flask-hosts", "socket": "/s",
             "certFile": "/c", "keyFile": "/k"}
    def failures(mode: object) -> list[str]:
        return [f.property for f in UnitCertificateProvider().check({}, {**props, "daMode": mode}).failures]
    assert failures({"webserver": "nginx", "unitPort": 8899}) == ["daMode"]
    assert failures({}) == failures(Unknown()) == []


def test_the_host_setting_is_auto_on_or_off() -> None:
    from pydantic import ValidationError

    from daunit.spec import parse_stack
    from tests.unit.conftest import app_raw, host_raw

    def setting(**host: str) -> str:
        return parse_stack([host_raw(**host)], [app_raw()], check_source=False).hosts["web1"].directadmin_mode
    assert setting() == "auto" and setting(directadminMode="off") == "off"
    with pytest.raises(ValidationError, match=r"directadminMode .* is not auto, on or off"):
        setting(directadminMode="yes")
