"""Smoke test of examples/flask_app with Flask's test client (Flask and python-dotenv are
pinned in requirements.txt for these tests)."""
from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from daunit.render import dotenv_bytes
from daunit.spec import parse_stack
from tests.unit.conftest import app_raw, host_raw

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flask_app"
# The example's top-level names are generic; keep them out of other tests' way.
EXAMPLE_MODULES = ("app", "config", "wsgi")
APP_ENV = ("SECRET_KEY", "GREETING", "FLASK_CONFIG", "DATABASE_URL")


def _forget_example_modules() -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in EXAMPLE_MODULES:
            del sys.modules[name]


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The example's `app` package, imported fresh, with a clean environment."""
    for name in APP_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(EXAMPLE))
    _forget_example_modules()
    try:
        yield importlib.import_module("app")
    finally:
        _forget_example_modules()
        for name in APP_ENV:  # load_dotenv writes os.environ directly
            os.environ.pop(name, None)


def release_like(tmp_path: Path) -> dict[str, Path]:
    """instance/ and logs/ beside a release, as the host lays them out."""
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o700)
    return {"instance": instance, "logs": tmp_path / "logs"}


def test_index_about_healthz_static(example: Any) -> None:
    client = example.create_app("testing").test_client()
    index = client.get("/")
    assert index.status_code == 200
    assert b"Hello from da-flask" in index.data
    assert b'class="greeting"' not in index.data
    assert b"/static/style.css" in index.data
    assert index.headers["X-Content-Type-Options"] == "nosniff"
    about = client.get("/about")
    assert about.status_code == 200 and b"About" in about.data
    health = client.get("/healthz")
    assert (health.status_code, health.data, health.mimetype) == (200, b"ok", "text/plain")
    static = client.get("/static/style.css")
    assert static.status_code == 200 and b"font-family" in static.data
    static.close()


def test_greeting_from_the_environment_is_escaped(example: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREETING", "<b>hi</b> from env")
    page = example.create_app("testing").test_client().get("/").data
    assert b"&lt;b&gt;hi&lt;/b&gt; from env" in page


def test_secret_key_is_never_rendered(example: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SECRET_KEY", "very-secret-value-123")
    paths = release_like(tmp_path)
    app = example.create_app("production", instance_path=str(paths["instance"]))
    client = app.test_client()
    for url in ("/", "/about", "/healthz"):
        assert b"very-secret-value-123" not in client.get(url).data
    assert app.config["SECRET_KEY"] == "very-secret-value-123"


def test_production_refuses_to_start_without_secret_key(example: Any, tmp_path: Path) -> None:
    paths = release_like(tmp_path)
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set for the 'production' configuration"):
        example.create_app("production", instance_path=str(paths["instance"]))


def test_production_reads_instance_env_and_logs_beside_it(example: Any, tmp_path: Path) -> None:
    paths = release_like(tmp_path)
    # Written the way the InstanceConfig resource writes it.
    (paths["instance"] / ".env").write_bytes(
        dotenv_bytes({"SECRET_KEY": "from-dotenv $HOME", "GREETING": 'quoted "greeting"'}))
    app = example.create_app("production", instance_path=str(paths["instance"]))
    assert app.config["SECRET_KEY"] == "from-dotenv $HOME"
    assert b"quoted &#34;greeting&#34;" in app.test_client().get("/").data
    log_file = paths["logs"] / "flask_app.log"
    assert log_file.exists() and "Flask application startup" in log_file.read_text()
    for handler in list(app.logger.handlers):  # release the file
        app.logger.removeHandler(handler)
        handler.close()


def test_environment_wins_over_instance_env(example: Any, monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    paths = release_like(tmp_path)
    (paths["instance"] / ".env").write_bytes(dotenv_bytes({"SECRET_KEY": "file", "GREETING": "from file"}))
    monkeypatch.setenv("GREETING", "from unit")
    app = example.create_app("testing", instance_path=str(paths["instance"]))
    assert app.config["GREETING"] == "from unit"


def test_unwritable_log_dir_does_not_stop_startup(example: Any, monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("SECRET_KEY", "x")
    paths = release_like(tmp_path)
    (tmp_path / "logs").write_text("a file where the log dir should be")
    app = example.create_app("production", instance_path=str(paths["instance"]))
    assert app.test_client().get("/healthz").status_code == 200


def test_unknown_config_name(example: Any) -> None:
    with pytest.raises(ValueError, match="FLASK_CONFIG='staging' is not a known configuration"):
        example.create_app("staging")


def test_wsgi_module_builds_application(example: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_CONFIG", "testing")
    wsgi = importlib.import_module("wsgi")
    assert wsgi.application.testing is True


def test_example_passes_the_source_checks() -> None:
    stack = parse_stack({"web1": host_raw()}, [app_raw(source=str(EXAMPLE), healthPath="/healthz")])
    assert stack.apps[0].static_dir == "app/static"
