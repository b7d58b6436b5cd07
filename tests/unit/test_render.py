"""Rendering specs into Unit JSON, paths, .env bytes and DNS records (pure)."""
from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from daunit.canonical import canonical_json
from daunit.ownership import Owner
from daunit.render import (
    app_urls,
    dns_records,
    dotenv_bytes,
    host_dispatch_entry,
    instance_environment,
    unit_app_name,
    unit_application,
    unit_route,
)
from daunit.spec import DEFAULT_SECURITY_HEADERS, AppSpec, HostSpec
from tests.unit.conftest import app_raw, host_raw

GOLDEN = Path(__file__).parent / "golden"
RELEASE = "0123456789abcdef"
VENV = "py3.11-fedcba9876543210"
APP_DIR = "/home/username/domains/example.com/public_html/flask_app"
OWNER = Owner("da-flask", "dev")
UNIT_NAME = "daflask:da-flask:dev:flask_app"


def specs(host: dict[str, Any] | None = None, **app: Any) -> tuple[AppSpec, HostSpec]:
    return AppSpec.model_validate(app_raw(**app)), HostSpec.model_validate(host or host_raw())


# --- golden fixtures -------------------------------------------------------------------------


def golden_cases() -> list[Path]:
    return sorted(GOLDEN.glob("*.json"))


def render_case(inputs: dict[str, Any]) -> dict[str, Any]:
    host = HostSpec.model_validate(inputs["host"])
    app = AppSpec.model_validate(inputs["app"])
    owner = Owner(**inputs["owner"])
    return {
        "unit_application": unit_application(app, host, inputs["release_id"], inputs["venv_key"],
                                             owner),
        "unit_route": unit_route(app, host, owner),
        "host_dispatch_entry": host_dispatch_entry(app, owner),
    }


@pytest.mark.parametrize("path", golden_cases(), ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    case = json.loads(path.read_text())
    rendered = render_case(case["inputs"])
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(json.dumps({"inputs": case["inputs"], **rendered}, indent=2, sort_keys=True) + "\n")
        case = json.loads(path.read_text())
    for key in ("unit_application", "unit_route", "host_dispatch_entry"):
        assert canonical_json(rendered[key]) == canonical_json(case[key]), key


def test_golden_cases_exist() -> None:
    assert {p.stem for p in golden_cases()} >= {"seed_default", "isolated_custom", "no_static_static_pool"}


def test_canonical_bytes_of_the_seed_case() -> None:
    # The exact bytes PUT to /config/applications/daflask:da-flask:dev:flask_app:
    # sorted keys, compact.
    app, host = specs(environment={"FLASK_CONFIG": "production"})
    assert canonical_json(unit_application(app, host, RELEASE, VENV, OWNER)) == (
        '{"callable":"application","environment":{"DAFLASK_APP_CALLABLE":"application",'
        '"DAFLASK_APP_MODULE":"wsgi","DAFLASK_OWNER":"da-flask/dev","FLASK_CONFIG":"production",'
        f'"PYTHONPATH":"{APP_DIR}/releases/{RELEASE}"}},"group":"username",'
        f'"home":"{APP_DIR}/venvs/{VENV}","module":"_daflask_entry",'
        f'"path":"{APP_DIR}/releases/{RELEASE}",'
        '"processes":{"max":2,"spare":1},"threads":1,"type":"python 3.11","user":"username",'
        f'"working_directory":"{APP_DIR}/releases/{RELEASE}"}}').encode()


# --- Unit objects ----------------------------------------------------------------------------


def test_application_never_carries_secrets() -> None:
    app, host = specs()
    config = unit_application(app, host, RELEASE, VENV, OWNER)
    assert "SECRET_KEY" not in config["environment"]
    assert config["environment"]["PYTHONPATH"] == config["path"] == config["working_directory"]


def test_isolation_rewrites_paths_into_the_root() -> None:
    app, host = specs(isolation=True)
    config = unit_application(app, host, RELEASE, VENV, OWNER)
    assert config["path"] == config["working_directory"] == f"/releases/{RELEASE}"
    assert config["home"] == f"/venvs/{VENV}"
    assert config["environment"]["PYTHONPATH"] == f"/releases/{RELEASE}"
    assert config["isolation"] == {"namespaces": {"mount": True, "pid": True, "uname": True}, "rootfs": APP_DIR}
    # The router serves static files from outside the rootfs: absolute host path.
    assert unit_route(app, host, OWNER)[0]["action"]["share"] == f"{APP_DIR}/current/app$uri"


def test_no_isolation_key_when_off() -> None:
    app, host = specs()
    assert "isolation" not in unit_application(app, host, RELEASE, VENV, OWNER)


def test_venv_key_must_match_the_python_version() -> None:
    app, host = specs(pythonVersion="3.12")
    with pytest.raises(ValueError, match="is for Python 3.11, but the app runs Python 3.12"):
        unit_application(app, host, RELEASE, VENV, OWNER)


def test_route_share_plus_uri_is_the_static_file() -> None:
    app, host = specs()
    static_step, app_step = unit_route(app, host, OWNER)
    assert static_step["match"] == {"uri": "/static/*"}
    share = static_step["action"]["share"]
    # Unit substitutes the request URI for $uri.
    assert share.replace("$uri", "/static/style.css") == f"{APP_DIR}/current/app/static/style.css"
    assert app_step == {"action": {"pass": f"applications/{unit_app_name(app, OWNER)}",
                                   "response_headers": DEFAULT_SECURITY_HEADERS}}


def test_route_when_static_dir_is_at_the_top() -> None:
    app, host = specs(staticUrl="/static/", staticDir="static")
    assert unit_route(app, host, OWNER)[0]["action"]["share"] == f"{APP_DIR}/current$uri"


def test_route_without_static() -> None:
    app, host = specs(staticUrl=None, securityHeaders=False)
    assert unit_route(app, host, OWNER) == [{"action": {"pass": f"applications/{UNIT_NAME}"}}]


def test_dispatch_entry() -> None:
    app, _ = specs(aliases=["www.example.com", "example.net"])
    assert host_dispatch_entry(app, OWNER) == {
        "match": {"host": ["example.com", "example.net", "www.example.com"]},
        "action": {"pass": f"routes/{UNIT_NAME}"},
    }


# --- instance/.env -----------------------------------------------------------------------------


TRICKY_VALUES = {
    "PLAIN": "value",
    "EMPTY": "",
    "SPACES": "  leading and trailing  ",
    "QUOTES": "it's \"quoted\"",
    "BACKSLASHES": r"C:\path\to\n not a newline \\ two",
    "NEWLINES": "line1\nline2\r\nline3",
    "HASH": "value # not a comment",
    "EQUALS": "a=b=c",
    "DOLLAR": "$HOME and $ alone",
    "UNICODE": "héllo wörld ✓",
    "TAB": "a\tb",
    "ESCAPE_LIKE": "\\n\\t\\'",
}


def test_dotenv_bytes_format() -> None:
    assert dotenv_bytes({"B": "2", "A": 'say "hi"'}) == (
        b"# Written by da-flask: edits here are overwritten on the next deploy.\n"
        b'A="say \\"hi\\""\nB="2"\n')


def test_dotenv_round_trip_with_python_dotenv() -> None:
    import dotenv  # python-dotenv: pinned in requirements.txt for this test

    data = dotenv_bytes(TRICKY_VALUES)
    for interpolate in (True, False):
        parsed = dotenv.dotenv_values(stream=io.StringIO(data.decode()), interpolate=interpolate)
        assert parsed == TRICKY_VALUES


def test_dotenv_is_deterministic() -> None:
    assert dotenv_bytes(dict(reversed(list(TRICKY_VALUES.items())))) == dotenv_bytes(TRICKY_VALUES)


@pytest.mark.parametrize("env, message", [
    ({"BAD-NAME": "x"}, "environment name 'BAD-NAME' is not valid"),
    ({"K": "a\x00b"}, "environment K: the value contains a NUL character"),
    ({"K": "pa${ss}word"}, "environment K: the value contains '${'"),
])
def test_dotenv_refuses_what_it_cannot_write(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        dotenv_bytes(env)
    assert message in str(caught.value)
    for value in env.values():
        if len(value) > 3:
            assert value not in str(caught.value)


def test_instance_environment_merges_declared_secrets() -> None:
    app, _ = specs(environment={"FLASK_CONFIG": "production"}, secretEnvironmentKeys=["SECRET_KEY", "DB_URL"])
    env = instance_environment(app, {"SECRET_KEY": "s3cret", "DB_URL": "mysql://u:p@h/db"})
    assert env == {"FLASK_CONFIG": "production", "DB_URL": "mysql://u:p@h/db", "SECRET_KEY": "s3cret"}


def test_instance_environment_names_keys_never_values() -> None:
    app, _ = specs(secretEnvironmentKeys=["SECRET_KEY", "DB_URL"])
    with pytest.raises(ValueError) as caught:
        instance_environment(app, {"SECRET_KEY": "s3cret-value"})
    assert "no value for secret environment DB_URL" in str(caught.value)
    with pytest.raises(ValueError) as caught:
        instance_environment(app, {"SECRET_KEY": "s3cret-value", "DB_URL": "x", "EXTRA": "hidden-value"})
    assert "EXTRA is not listed in secretEnvironmentKeys" in str(caught.value)
    assert "s3cret-value" not in str(caught.value) and "hidden-value" not in str(caught.value)


# --- DNS, health, URLs -------------------------------------------------------------------------


def test_dns_records_ipv4() -> None:
    app, host = specs(aliases=["www.example.com", "example.net"])
    assert dns_records(app, host.dns_address or "", ttl=300) == [
        {"name": "example.com", "type": "A", "value": "203.0.113.10", "ttl": 300},
        {"name": "example.net", "type": "A", "value": "203.0.113.10", "ttl": 300},
        {"name": "www.example.com", "type": "CNAME", "value": "example.com", "ttl": 300},
    ]


def test_dns_records_ipv6_and_non_ip() -> None:
    app, _ = specs(aliases=[])
    assert dns_records(app, "2001:db8::1") == [
        {"name": "example.com", "type": "AAAA", "value": "2001:db8::1", "ttl": 3600}]
    with pytest.raises(ValueError, match="set publicAddress on the host"):
        dns_records(app, "host.example.com")


def test_public_address_feeds_dns() -> None:
    host = HostSpec.model_validate(host_raw(address="ssh.internal.example", publicAddress="198.51.100.7"))
    assert host.dns_address == "198.51.100.7"


def test_urls() -> None:
    app, _ = specs(listener="127.0.0.1:8080", healthPath="/healthz")
    assert app_urls(app) == ["http://example.com:8080/", "http://www.example.com:8080/"]
    assert app_urls(specs()[0]) == ["http://example.com/", "http://www.example.com/"]


def test_whole_numbers_reach_unit_as_integers() -> None:
    """Pulumi hands providers 2.0 for 2: Unit must still get (and store) 2."""
    body = canonical_json({"processes": {"max": 2.0, "spare": 1.0}, "threads": 1.0,
                           "limits": [0.5, 3.0], "name": "x"})
    assert body == b'{"limits":[0.5,3],"name":"x","processes":{"max":2,"spare":1},"threads":1}'
