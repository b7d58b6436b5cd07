"""The pure half of `python -m daunit.status`: finding apps in Unit's config,
ages from the host's clock, the table and the JSON."""
from __future__ import annotations

import json

import pytest

from daunit.facts import parse_ages
from daunit.spec import AppSpec
from daunit.status import (
    AppStatus,
    HostStatus,
    StatusError,
    app_status,
    as_json,
    config_objects,
    find_unit_app,
    human_age,
    render_table,
)

APP_DIR = "/home/alice/domains/shop.example/public_html/shop"


def _app() -> AppSpec:
    return AppSpec.model_validate({"name": "shop", "host": "web1", "domain": "shop.example",
                                   "source": "."}, context={"check_source": False})


def test_the_app_is_found_by_its_path_whatever_unit_calls_it() -> None:
    apps = {"example.com_other": {"path": "/home/bob/x"},
            "anything": {"path": f"{APP_DIR}/releases/0123456789abcdef", "home": "/v"}}
    assert find_unit_app(apps, APP_DIR) == ("anything", "0123456789abcdef")
    assert find_unit_app(apps, APP_DIR + "2") is None
    # A sibling app whose dir shares the prefix is not ours.
    assert find_unit_app({"x": {"path": APP_DIR + "2/releases/r"}}, APP_DIR) is None


def test_app_status_reads_processes_and_compares_the_release() -> None:
    unit_status = {"applications": {"u1": {"processes": {"running": 2, "starting": 0, "idle": 1},
                                           "requests": {"active": 3}}}}
    applications = {"u1": {"path": f"{APP_DIR}/releases/aaaaaaaaaaaaaaaa"}}
    outputs = {"apps": {"shop": {"releaseId": "bbbbbbbbbbbbbbbb"}}}
    s = app_status("web1", _app(), APP_DIR, unit_status, applications, outputs)
    assert (s.unit_name, s.release, s.deployed_release) == ("u1", "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb")
    assert s.processes == {"running": 2, "starting": 0, "idle": 1} and s.requests_active == 3
    table = render_table([HostStatus("web1", "203.0.113.10", apps=[s])])
    assert "aaaaaaaaaaaaaaaa (stack: bbbbbbbbbbbbbbbb)" in table and "2/0/1" in table


def test_an_app_missing_from_unit_says_so() -> None:
    s = app_status("web1", _app(), APP_DIR, {}, {}, {})
    assert s.unit_name is None and s.health == "not in Unit"


def test_ages_use_the_hosts_clock() -> None:
    ages = parse_ages("1000\n940 /a/releases/r1\n-5 junk\n1 /b/releases/r2\n")
    assert ages == {"/a/releases/r1": 60, "/b/releases/r2": 999}
    assert parse_ages("") == {}
    assert [human_age(s) for s in (None, 5, 65, 7200, 200000)] == ["-", "5s", "1m", "2h", "2d"]


def test_json_and_a_host_that_cannot_be_read() -> None:
    down = HostStatus("web2", "203.0.113.11", error="cannot connect")
    up = HostStatus("web1", "203.0.113.10", unit_version="1.35.0",
                    apps=[AppStatus("web1", "shop", "shop.example", health="200 OK")])
    data = json.loads(as_json([up, down]))
    assert data["hosts"]["web2"]["error"] == "cannot connect"
    assert data["hosts"]["web1"]["apps"][0]["health"] == "200 OK"
    assert "web2 (203.0.113.11): cannot connect" in render_table([up, down])


def test_config_from_the_cli_json() -> None:
    config = {"da-flask:hosts": {"value": '{"a": {}}', "secret": False},
              "da-flask:apps": {"objectValue": [{"name": "x"}], "value": "[]", "secret": False}}
    assert config_objects(config) == ({"a": {}}, [{"name": "x"}])
    with pytest.raises(StatusError, match="da-flask:apps"):
        config_objects({"da-flask:hosts": {"value": "{}"}})
