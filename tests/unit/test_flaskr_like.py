"""examples/flaskr_like with Flask's test client: the page needs the schema,
`init-db` applies each migration once, and the example's stack entry is valid."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daunit.spec import parse_stack
from tests.unit.conftest import app_raw, host_raw

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flaskr_like"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.setenv("SECRET_KEY", "a-test-secret-key")
    monkeypatch.setenv("DATABASE", str(tmp_path / "blog.sqlite"))
    from flaskr_like import create_app

    yield create_app()
    for name in [n for n in sys.modules if n.split(".")[0] == "flaskr_like"]:
        del sys.modules[name]


def test_the_page_needs_the_schema_that_init_db_makes_once(app: Any) -> None:
    client = app.test_client()
    assert client.get("/").status_code == 500  # no such table: post
    first = app.test_cli_runner().invoke(args=["init-db"])
    assert first.exit_code == 0 and "applied: 001_create_post.sql" in first.output
    again = app.test_cli_runner().invoke(args=["init-db"])
    assert again.exit_code == 0 and "database up to date" in again.output
    assert client.get("/").status_code == 200
    assert client.get("/about").json["migrations"] == ["001_create_post.sql"]


def test_without_a_secret_key_it_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    from flaskr_like import create_app

    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        create_app()


def test_the_readme_stack_entry_is_valid() -> None:
    host = host_raw()
    spec = parse_stack({host.pop("name"): host}, [app_raw(
        name="blog", source=str(EXAMPLE), staticDir="flaskr_like/static",
        environment={"BLOG_TITLE": "My blog"}, releaseCommands=["flask --app flaskr_like init-db"])],
        check_source=True)
    assert spec.apps[0].release_commands == (("flask", "--app", "flaskr_like", "init-db"),)
