"""Validation of stack config: one error per bad field, with its path and a fix."""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest
from pydantic import ValidationError

from daunit.known_hosts import parse_known_hosts
from daunit.spec import (
    AppSpec,
    HostSpec,
    ProcessesSpec,
    StackSpec,
    format_errors,
    parse_stack,
)
from tests.unit.conftest import app_raw, ed25519_key_b64, host_raw, ssh_string


def stack_errors(hosts: Any, apps: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        parse_stack(hosts, apps, check_source=False)
    return dict(format_errors(caught.value))


def app_errors(**changes: Any) -> dict[str, str]:
    return stack_errors({"web1": host_raw()}, [app_raw(**changes)])


def host_errors(**changes: Any) -> dict[str, str]:
    return stack_errors({"web1": host_raw(**changes)}, [])


# --- a valid stack -------------------------------------------------------------------------


def test_valid_stack_with_defaults() -> None:
    stack = parse_stack({"web1": host_raw()}, [app_raw()], check_source=False)
    host = stack.hosts["web1"]
    app = stack.apps[0]
    assert (host.port, host.ssh_user, host.unit_socket, host.unit_log, host.python, host.enable_unit) == (
        22, "root", "/var/run/unit/control.sock", "/var/log/unit/unit.log", "/usr/bin/python3.11", False)
    assert app.aliases == ("www.example.com",)
    assert (app.module, app.callable, app.python_version, app.unit_type) == (
        "wsgi", "application", "3.11", "python 3.11")
    assert (app.static_url, app.static_dir, app.listener, app.isolation) == ("/static/", "app/static", "*:80", False)
    assert app.processes.to_unit() == {"max": 2, "spare": 1}
    assert (app.threads, app.health_path, app.health_status, app.keep_releases) == (1, "/", 200, 5)
    assert app.app_dir_on(host) == "/home/username/domains/example.com/public_html/flask_app"


def test_snake_case_names_are_accepted_too() -> None:
    host = HostSpec(name="web1", address="203.0.113.10", host_key=f"ssh-ed25519 {ed25519_key_b64()}",
                    da_user="username", ssh_user="deploy")
    assert host.ssh_user == "deploy"


def test_dump_by_alias_validates_back_to_the_same_spec() -> None:
    stack = parse_stack({"web1": host_raw(port=2222, hostKey=f"[203.0.113.10]:2222 ssh-ed25519 {ed25519_key_b64()}")},
                        [app_raw(processes={"max": 4, "spare": 2, "idleTimeout": 30}, aliases=[])],
                        check_source=False)
    for model in (*stack.hosts.values(), *stack.apps):
        assert type(model).model_validate(model.model_dump(by_alias=True)) == model


def test_models_are_frozen() -> None:
    app = AppSpec.model_validate(app_raw())
    with pytest.raises(ValidationError):
        app.domain = "other.example"  # type: ignore[misc]


def test_domain_and_aliases_are_normalized() -> None:
    app = AppSpec.model_validate(app_raw(domain="Example.COM.", aliases=["b.example.com", "A.example.com"]))
    assert app.domain == "example.com"
    assert app.aliases == ("a.example.com", "b.example.com")
    assert app.host_names == ("example.com", "a.example.com", "b.example.com")


def test_www_domain_gets_no_default_alias() -> None:
    assert AppSpec.model_validate(app_raw(domain="www.example.com")).aliases == ()


def test_hosts_may_be_a_list() -> None:
    stack = parse_stack([host_raw()], [app_raw()], check_source=False)
    assert list(stack.hosts) == ["web1"]


def test_processes_integer_is_a_static_pool() -> None:
    assert AppSpec.model_validate(app_raw(processes=3)).processes.to_unit() == 3
    assert ProcessesSpec(max=4, spare=1, idle_timeout=20).to_unit() == {"max": 4, "spare": 1, "idle_timeout": 20}


def test_environment_numbers_become_strings() -> None:
    app = AppSpec.model_validate(app_raw(environment={"PORT": 8080, "RATIO": 0.5}))
    assert app.environment == {"PORT": "8080", "RATIO": "0.5"}


# --- one error per bad field ---------------------------------------------------------------


def test_unknown_field_is_named_with_a_suggestion() -> None:
    errors = app_errors(staticurl="/static/")
    assert errors == {"apps[0].staticurl": "unknown field 'staticurl': remove it or fix its spelling "
                                           "(did you mean 'staticUrl'?)"}


def test_unknown_host_field() -> None:
    assert "hosts.web1.hostkey" in host_errors(hostkey="x")


def test_missing_field() -> None:
    raw = app_raw()
    del raw["domain"]
    assert stack_errors({"web1": host_raw()}, [raw]) == {"apps[0].domain": "domain is required: add it"}


def test_malformed_domain() -> None:
    errors = app_errors(domain="exa mple.com")
    assert list(errors) == ["apps[0].domain"]  # no echo error on the derived alias
    assert errors["apps[0].domain"].startswith("domain 'exa mple.com' is not a valid host name")
    assert "like example.com" in errors["apps[0].domain"]


@pytest.mark.parametrize("domain", ["localhost", "-bad.com", "a..b.com", "1.2.3.4", "bücher.de", "x" * 64 + ".com"])
def test_other_bad_domains(domain: str) -> None:
    assert app_errors(domain=domain)["apps[0].domain"].startswith(f"domain {domain!r} is not a valid host name")


def test_bad_alias() -> None:
    assert "aliases 'bad_alias.com'" in app_errors(aliases=["bad_alias.com"])["apps[0].aliases"]
    assert "repeats the domain" in app_errors(aliases=["example.com"])["apps[0].aliases"]


@pytest.mark.parametrize("name, why", [
    ("../etc", "'/', '\\' and '..' are not allowed"),
    ("a/b", "'/', '\\' and '..' are not allowed"),
    ("app;rm -rf", "shell characters"),
    ("app$(id)", "shell characters"),
    ("App", "lower-case letters"),
    ("1app", "starting with a letter"),
    ("a" * 33, "1-32"),
])
def test_bad_app_name(name: str, why: str) -> None:
    message = app_errors(name=name)["apps[0].name"]
    assert message.startswith("app name ")
    assert why in message
    assert "like flask_app" in message


@pytest.mark.parametrize("field, value, path, expected", [
    ("module", "wsgi.py", "module", "module 'wsgi.py' names a file: give the module name without .py, like wsgi"),
    ("module", "my-app", "module", "is not a Python module name"),
    ("callable", "app()", "callable", "callable 'app()' is not a Python identifier"),
    ("pythonVersion", "3", "pythonVersion", "pythonVersion '3' is not valid"),
    ("pythonVersion", "2.7", "pythonVersion", "like 3.11"),
    ("requirements", "../requirements.txt", "requirements", "must stay inside the source directory"),
    ("requirements", "/etc/passwd", "requirements", "must be relative to the app's source directory"),
    ("staticUrl", "static", "staticUrl", "must start and end with '/'"),
    ("staticUrl", "/", "staticUrl", "at least one path segment"),
    ("staticDir", "../static", "staticDir", "must stay inside the source directory"),
    ("threads", 0, "threads", "threads 0 is out of range"),
    ("appDir", "relative/dir", "appDir", "must be an absolute path on the host"),
    ("appDir", "/home/u/../root", "appDir", "must not contain '.' or '..'"),
    ("healthPath", "healthz", "healthPath", "start it with '/'"),
    ("healthStatus", 99, "healthStatus", "healthStatus 99 is not an HTTP status"),
    ("keepReleases", 0, "keepReleases", "keepReleases 0 is out of range"),
    ("host", "Web_1", "host", "is not a host name from hosts"),
])
def test_bad_app_fields(field: str, value: Any, path: str, expected: str) -> None:
    errors = app_errors(**{field: value})
    assert list(errors) == [f"apps[0].{path}"], errors
    assert expected in errors[f"apps[0].{path}"]


@pytest.mark.parametrize("listener, reason", [
    ("80", "expected ADDRESS:PORT"),
    ("*:http", "expected ADDRESS:PORT"),
    ("*:0", "between 1 and 65535"),
    ("*:70000", "between 1 and 65535"),
    ("host.example:80", "does not appear to be an IPv4 or IPv6 address"),
    ("::1:80", "brackets"),
    ("[127.0.0.1]:80", "brackets are only for IPv6"),
])
def test_bad_listener(listener: str, reason: str) -> None:
    message = app_errors(listener=listener)["apps[0].listener"]
    assert message.startswith(f"listener {listener!r} is not a Unit listener")
    assert reason in message
    assert "like *:80 or 127.0.0.1:8080" in message


@pytest.mark.parametrize("listener, normalized", [("*:8080", "*:8080"), ("127.0.0.1:80", "127.0.0.1:80"),
                                                  ("[::1]:8000", "[::1]:8000"), ("[0:0::1]:8000", "[::1]:8000")])
def test_good_listeners(listener: str, normalized: str) -> None:
    assert AppSpec.model_validate(app_raw(listener=listener)).listener == normalized


def test_static_dir_must_end_with_the_static_url() -> None:
    message = app_errors(staticDir="app/public")["apps[0].staticDir"]
    assert message.startswith("staticDir 'app/public' does not end with 'static' from staticUrl '/static/'")
    assert "name the directory .../static (like app/static) or set staticUrl to '/public/'" in message


def test_static_dir_tail_may_be_several_segments() -> None:
    app = AppSpec.model_validate(app_raw(staticUrl="/assets/img/", staticDir="web/assets/img"))
    assert app.static_dir == "web/assets/img"
    assert "does not end with 'assets/img'" in app_errors(staticUrl="/assets/img/", staticDir="web/img")[
        "apps[0].staticDir"]


def test_static_url_null_turns_static_serving_off() -> None:
    assert AppSpec.model_validate(app_raw(staticUrl=None, staticDir="anything")).static_url is None


def test_environment_names() -> None:
    errors = app_errors(environment={"BAD-NAME": "x", "PYTHONPATH": "/x", "OK": "fine"})
    assert errors["apps[0].environment.BAD-NAME"].startswith("environment name 'BAD-NAME' is not valid")
    assert errors["apps[0].environment.PYTHONPATH"] == (
        "environment PYTHONPATH is set by da-flask (to the release directory): remove it")
    assert len(errors) == 2


def test_environment_value_must_be_text() -> None:
    assert app_errors(environment={"DEBUG": True}) == {
        "apps[0].environment.DEBUG": 'environment DEBUG must be text: quote the value in the stack YAML, '
                                     'like DEBUG: "true"'}


def test_secret_keys_are_names_and_not_also_plain() -> None:
    assert "is not valid" in app_errors(secretEnvironmentKeys=["1X"])["apps[0].secretEnvironmentKeys"]
    message = app_errors(environment={"SECRET_KEY": "oops"})["apps[0].secretEnvironmentKeys"]
    assert message.startswith("secretEnvironmentKeys SECRET_KEY also in environment")
    assert "oops" not in message


@pytest.mark.parametrize("processes, path, expected", [
    (0, "processes", "processes 0 is out of range: use 1 to 64 static processes"),
    (65, "processes", "or an object like {max: 4, spare: 1}"),
    ({"max": 0, "spare": 1}, "processes.max", "processes max 0 is out of range"),
    ({"max": 2, "spare": 0}, "processes.spare", "spare must be at least 1"),
    ({"max": 2, "spare": 3}, "processes.spare", "processes spare 3 is more than max 2"),
    ({"max": 2, "spare": 1, "idleTimeout": 0}, "processes.idleTimeout", "idleTimeout 0 is out of range"),
    ({"max": 2, "extra": 1}, "processes.extra", "unknown field 'extra'"),
])
def test_bad_processes(processes: Any, path: str, expected: str) -> None:
    errors = app_errors(processes=processes)
    assert list(errors) == [f"apps[0].{path}"], errors
    assert expected in errors[f"apps[0].{path}"]



@pytest.mark.parametrize("where, raw, path, message", [
    ("host", {"port": 65536}, "hosts.web1.port",
     "port 65536 is out of range: use the SSH port, 1 to 65535 (usually 22)"),
    ("app", {"threads": 257}, "apps[0].threads", "threads 257 is out of range: use 1 to 256 threads per process"),
    ("app", {"healthStatus": 600}, "apps[0].healthStatus",
     "healthStatus 600 is not an HTTP status: use 100 to 599, usually 200"),
    ("app", {"keepReleases": 101}, "apps[0].keepReleases",
     "keepReleases 101 is out of range: keep 1 to 100 releases (5 is usual)"),
    ("app", {"processes": {"max": 65, "spare": 1}}, "apps[0].processes.max",
     "processes max 65 is out of range: use 1 to 64"),
    ("app", {"processes": {"max": 2, "spare": 1, "idleTimeout": 86401}}, "apps[0].processes.idleTimeout",
     "processes idleTimeout 86401 is out of range: use 1 to 86400 seconds"),
])
def test_ranges_name_the_value_and_both_bounds(where: str, raw: dict[str, Any], path: str, message: str) -> None:
    # Above the upper bound: the message gives the range read from the field's Field(ge=, le=).
    errors = host_errors(**raw) if where == "host" else app_errors(**raw)
    assert errors == {path: message}


def test_stack_problems_read_app_by_app() -> None:
    hosts = {"web1": host_raw()}
    apps = [app_raw(), app_raw(), app_raw(name="other", domain="other.example", host="web9")]
    paths = [path for path, _ in format_errors_of(hosts, apps)]
    assert paths == ["apps[1].name", "apps[1].domain", "apps[1].aliases", "apps[1].appDir", "apps[2].host"]


def format_errors_of(hosts: Any, apps: Any) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        parse_stack(hosts, apps, check_source=False)
    return format_errors(caught.value)


# --- host fields ---------------------------------------------------------------------------


@pytest.mark.parametrize("field, value, expected", [
    ("address", "not an address", "is neither an IP address nor a host name"),
    ("address", "[::1]", "without brackets"),
    ("port", 0, "port 0 is out of range"),
    ("port", 65536, "use the SSH port"),
    ("sshUser", "root;id", "sshUser 'root;id' is not a safe user name"),
    ("daUser", "User_1", "daUser 'User_1' is not a DirectAdmin user name"),
    ("daUser", "a" * 17, "1-16 lower-case"),
    ("unitSocket", "run/unit/control.sock", "unitSocket 'run/unit/control.sock' must be an absolute path"),
    ("unitLog", "/var/log/../unit.log", "must not contain '.' or '..'"),
    ("python", "python3.11", "python 'python3.11' must be an absolute path on the host"),
    ("publicAddress", "host.example.com", "publicAddress 'host.example.com' is not an IP address"),
])
def test_bad_host_fields(field: str, value: Any, expected: str) -> None:
    errors = host_errors(**{field: value})
    assert f"hosts.web1.{field}" in errors, errors
    assert expected in errors[f"hosts.web1.{field}"]


def test_host_name_rule() -> None:
    errors = stack_errors({"Web_1": {k: v for k, v in host_raw().items() if k != "name"}}, [])
    assert errors["hosts.Web_1.name"].startswith("host name 'Web_1' is not valid")


def test_host_name_differs_from_its_key() -> None:
    errors = stack_errors({"web1": host_raw(name="web2")}, [])
    assert errors == {"hosts.web1.name": "host name 'web2' differs from its key 'web1' under hosts: "
                                         "drop name or make them equal"}


def test_address_normalization() -> None:
    assert HostSpec.model_validate(host_raw(address="0:0::1")).address == "::1"
    host = HostSpec.model_validate(host_raw(address="Host.Example.com", hostKey=f"ssh-ed25519 {ed25519_key_b64()}"))
    assert host.address == "host.example.com"
    assert host.dns_address is None
    assert HostSpec.model_validate(host_raw()).dns_address == "203.0.113.10"


# --- host keys -----------------------------------------------------------------------------


def test_host_key_required() -> None:
    raw = host_raw()
    del raw["hostKey"]
    message = stack_errors({"web1": raw}, [])["hosts.web1.hostKey"]
    assert message.startswith("hostKey is required (or hostKeyFile)")
    assert "ssh-keyscan -t ed25519 203.0.113.10" in message


def test_host_key_file_instead_of_host_key() -> None:
    raw = host_raw(hostKeyFile="~/.ssh/known_hosts")
    del raw["hostKey"]
    host = HostSpec.model_validate(raw)
    assert host.host_key_file == "~/.ssh/known_hosts"
    assert host.host_key is None
    assert "not both" in host_errors(hostKeyFile="~/.ssh/known_hosts")["hosts.web1.hostKeyFile"]


def test_host_key_forms(key_b64: str) -> None:
    plain = HostSpec.model_validate(host_raw(hostKey=f"ssh-ed25519 {key_b64} root@web1"))
    assert [(k.key_type, k.key_base64) for k in parse_known_hosts(plain.host_key or "")] == [("ssh-ed25519", key_b64)]
    with_host = HostSpec.model_validate(host_raw(hostKey=f"203.0.113.10 ssh-ed25519 {key_b64}\n"
                                                         f"# comment\n\n203.0.113.10,web1 ssh-ed25519 {key_b64}"))
    assert len(parse_known_hosts(with_host.host_key or "")) == 2
    other_port = HostSpec.model_validate(host_raw(port=2222, hostKey=f"[203.0.113.10]:2222 ssh-ed25519 {key_b64}"))
    assert other_port.known_hosts_name == "[203.0.113.10]:2222"


def test_hashed_host_key_line(key_b64: str) -> None:
    salt = b"0123456789abcdefghij"
    digest = hmac.new(salt, b"203.0.113.10", hashlib.sha1).digest()
    hashed = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
    HostSpec.model_validate(host_raw(hostKey=f"{hashed} ssh-ed25519 {key_b64}"))
    errors = host_errors(address="203.0.113.11", hostKey=f"{hashed} ssh-ed25519 {key_b64}")
    assert "not for 203.0.113.11" in errors["hosts.web1.hostKey"]


@pytest.mark.parametrize("host_key, expected", [
    ("ssh-ed25519 not*base64", "not valid base64"),
    ("ssh-ed25519", "is not a known_hosts line"),
    ("ssh-dss AAAAB3NzaC1kc3M=", "key type 'ssh-dss'"),
    ("203.0.113.10 ssh-foo AAAA", "key type 'ssh-foo'"),
    (f"ssh-rsa {ed25519_key_b64()}", "is not a ssh-rsa key"),
    ("ssh-ed25519 " + base64.b64encode(ssh_string(b"ssh-ed25519")).decode(), "truncated"),
    (f"@revoked * ssh-ed25519 {ed25519_key_b64()}", "markers are not supported"),
    ("# only a comment", "holds no key"),
    (f"other.example ssh-ed25519 {ed25519_key_b64()}", "has a line for 'other.example', not for 203.0.113.10"),
    (f"203.0.113.10 ssh-ed25519 {ed25519_key_b64()}\n10.0.0.9 ssh-ed25519 {ed25519_key_b64(2)}",
     "has a line for '10.0.0.9'"),
])
def test_bad_host_key(host_key: str, expected: str) -> None:
    message = host_errors(hostKey=host_key)["hosts.web1.hostKey"]
    assert message.startswith("hostKey ")
    assert expected in message


def test_host_key_on_another_port_names_the_bracket_form(key_b64: str) -> None:
    message = host_errors(port=2222, hostKey=f"203.0.113.10 ssh-ed25519 {key_b64}")["hosts.web1.hostKey"]
    assert "not for [203.0.113.10]:2222" in message
    assert "ssh-keyscan -p 2222 203.0.113.10" in message


def test_wildcard_and_negated_patterns(key_b64: str) -> None:
    HostSpec.model_validate(host_raw(hostKey=f"203.0.113.* ssh-ed25519 {key_b64}"))
    assert "hosts.web1.hostKey" in host_errors(hostKey=f"203.0.113.*,!203.0.113.10 ssh-ed25519 {key_b64}")


def test_parse_known_hosts_is_usable_alone(key_b64: str) -> None:
    (key,) = parse_known_hosts(f"web1 ssh-ed25519 {key_b64} comment")
    assert key.patterns == "web1"


def test_private_key_in_key_file_is_not_echoed() -> None:
    secret_body = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"
    # The armour is assembled here so no file of the repo carries a key marker.
    armour = "OPENSSH " + "PRIVATE KEY"
    pasted = f"-----BEGIN {armour}-----\n{secret_body}\n-----END {armour}-----"
    with pytest.raises(ValidationError) as caught:
        parse_stack({"web1": host_raw(keyFile=pasted)}, [], check_source=False)
    message = dict(format_errors(caught.value))["hosts.web1.keyFile"]
    assert "never the key itself" in message
    assert secret_body not in message
    assert secret_body not in str(caught.value)
    assert secret_body not in repr(caught.value.errors())


def test_inputs_are_hidden_from_pydantic_error_text() -> None:
    with pytest.raises(ValidationError) as caught:
        AppSpec.model_validate(app_raw(environment={"TOKEN": 123j}))
    assert "123j" not in str(caught.value)


# --- across the stack ----------------------------------------------------------------------


def test_app_host_must_exist() -> None:
    errors = stack_errors({"web1": host_raw()}, [app_raw(host="web2")])
    assert errors == {"apps[0].host": "host 'web2' is not defined under hosts (defined: web1): "
                                      "add it there or fix the name"}


def test_app_names_unique_per_host() -> None:
    errors = stack_errors({"web1": host_raw()}, [app_raw(), app_raw(domain="other.example")])
    assert errors["apps[1].name"].startswith("app name 'flask_app' is already used by apps[0]")


def test_app_names_unique_across_hosts() -> None:
    # The name keys the app's Pulumi resources, appSecrets.NAME and outputs.apps.NAME.
    hosts = {"web1": host_raw(), "web2": host_raw(name="web2", address="203.0.113.11",
                                                  hostKey=f"ssh-ed25519 {ed25519_key_b64(2)}")}
    errors = stack_errors(hosts, [app_raw(), app_raw(host="web2")])
    assert errors == {"apps[1].name": "app name 'flask_app' is already used by apps[0]: app names "
                                      "are unique in a stack (they name its resources, appSecrets "
                                      "and outputs), rename one"}
    stack = parse_stack(hosts, [app_raw(), app_raw(name="flask_app2", host="web2")],
                        check_source=False)
    assert len(stack.apps) == 2


def test_domain_unique_per_host() -> None:
    errors = stack_errors({"web1": host_raw()}, [app_raw(), app_raw(name="other")])
    assert errors["apps[1].domain"].startswith("domain 'example.com' is already served on host 'web1' by apps[0]")
    assert errors["apps[1].aliases"].startswith("aliases 'www.example.com' is already served")


def test_app_dirs_unique_per_host() -> None:
    errors = stack_errors({"web1": host_raw()},
                          [app_raw(appDir="/srv/app"), app_raw(name="b", domain="b.example", appDir="/srv/app")])
    assert errors == {"apps[1].appDir": "appDir '/srv/app' is already used on host 'web1' by apps[0]: "
                                        "give each app its own directory"}


def test_listeners_consistent_per_host() -> None:
    errors = stack_errors({"web1": host_raw()},
                          [app_raw(), app_raw(name="b", domain="b.example", listener="0.0.0.0:80")])
    assert errors["apps[1].listener"].startswith("listener '0.0.0.0:80' overlaps *:80 of apps[0] on host 'web1'")
    # Another port, or the same string, is fine.
    parse_stack({"web1": host_raw()}, [app_raw(), app_raw(name="b", domain="b.example", listener="*:8080"),
                                       app_raw(name="c", domain="c.example")], check_source=False)


def test_duplicate_host_names_in_list_form() -> None:
    errors = stack_errors([host_raw(), host_raw()], [])
    assert errors == {"hosts[1].name": "host name 'web1' is used twice in hosts: give each host its own name"}


def test_errors_of_several_fields_are_all_reported() -> None:
    errors = stack_errors({"web1": host_raw(port=0)},
                          [app_raw(domain="bad domain", listener="nope"), app_raw(name="x/y", domain="b.example")])
    assert set(errors) == {"hosts.web1.port", "apps[0].domain", "apps[0].listener", "apps[1].name"}


# --- the local source tree -----------------------------------------------------------------


def test_source_checks(tmp_path: Any) -> None:
    (tmp_path / "app" / "static").mkdir(parents=True)
    (tmp_path / "wsgi.py").write_text("application = None\n")
    (tmp_path / "requirements.txt").write_text("flask\n")
    parse_stack({"web1": host_raw()}, [app_raw(source=str(tmp_path))])
    (tmp_path / "wsgi.py").unlink()
    (tmp_path / "requirements.txt").unlink()
    with pytest.raises(ValidationError) as caught:
        parse_stack({"web1": host_raw()}, [app_raw(source=str(tmp_path))])
    errors = dict(format_errors(caught.value))
    assert errors["apps[0].module"] == f"module 'wsgi' has no file in {tmp_path}: expected wsgi.py or wsgi/__init__.py"
    assert errors["apps[0].requirements"].startswith("requirements 'requirements.txt' is not a file in")


def test_missing_source_dir(tmp_path: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_stack({"web1": host_raw()}, [app_raw(source=str(tmp_path / "nope"))])
    assert dict(format_errors(caught.value))["apps[0].source"].endswith("is not a directory on this machine: "
                                                                         "give the directory holding the app "
                                                                         "(relative to the project or absolute)")


def test_source_not_read_unless_asked(tmp_path: Any) -> None:
    AppSpec.model_validate(app_raw(source=str(tmp_path / "nope")))
    StackSpec.model_validate({"hosts": {"web1": host_raw()}, "apps": [app_raw(source=str(tmp_path / "nope"))]})


# --- hostKeyFile and requirements, read from disk --------------------------------------------


def test_host_key_file_error_gives_the_files_own_line_number(tmp_path: Any) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(f"# comment\n198.51.100.7 ssh-ed25519 {ed25519_key_b64(2)}\n"
                    f"203.0.113.10 ssh-ed25519 AAAA-not-base64\n")
    raw = {k: v for k, v in host_raw(hostKeyFile=str(path)).items() if k != "hostKey"}
    with pytest.raises(ValidationError) as caught:
        parse_stack({"web1": raw}, [], check_source=True)
    message = dict(format_errors(caught.value))["hosts.web1.hostKeyFile"]
    assert "line 3: its key is not valid base64" in message


def test_requirements_problems_name_lines_never_their_content() -> None:
    from daunit.spec.local import requirements_problems

    text = "Flask==3.1.3\n--extra-index-url https://u:tok3n-XYZ@pypi.example.org/simple\n-r base.txt\n"
    problems = requirements_problems(text, "requirements.txt")
    assert [p.split(" has ")[0].split(" includes ")[0] for p in problems] == [
        "requirements 'requirements.txt' line 2", "requirements 'requirements.txt' line 3"]
    assert not any("tok3n" in p for p in problems)
