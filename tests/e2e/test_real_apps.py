"""Real Flask applications under the real engine and a real unitd (issue 12):

(a) examples/flaskr_like, an app of the shape of Flask's tutorial (app factory,
SQLite in instance/, schema by `flask init-db`, config from os.environ):
deploys with its schema made by a release command, reads its secret from
os.environ, a new migration runs once before the switch, a rollback works,
a failing release command keeps the old release serving under load, and a
one-off command runs in the live release;

(b) An Otter Wiki, a wiki published on PyPI, installed as its users install
it: a source dir with only wsgi.py and a pinned requirements.txt, its config
in the environment, its storage initialised by release commands.
"""
from __future__ import annotations

import hashlib
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from daunit.status import find_unit_app
from tests.e2e.conftest import Deployment, app_config, host_config
from tests.e2e.test_deploy import get, unit_config
from tests.support.engine import REPO
from tests.support.load import RequestLoop

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.real_unitd]

BLOG = "blog"
INIT_DB = "flask --app flaskr_like init-db"


def site_dir(lab: Any, name: str) -> str:
    return f"/home/{lab.da_user}/domains/example.com/public_html/{name}"


def unit_app(lab: Any, name: str) -> dict[str, Any]:
    """The app's object in Unit, found by its path (whatever Unit calls it)."""
    apps = unit_config(lab)["applications"]
    found = find_unit_app(apps, site_dir(lab, name))
    assert found is not None, apps
    return apps[found[0]]


def as_user(lab: Any, script: str, *args: str) -> str:
    out = lab.run(["sh", "-c", script, "sh", *args], user=lab.da_user).stdout
    return out.decode() if isinstance(out, bytes) else out


def one_off_argv(d: Deployment, app: str, *command: str) -> list[str]:
    return [sys.executable, "-m", "daunit.run", "--stack", d.stack.name, "--cwd", str(d.project),
            app, "--", *command]


def one_off_env(d: Deployment) -> dict[str, str]:
    return {**d.stack.env(), "DAFLASK_PULUMI": str(REPO / "scripts" / "pulumi")}


def one_off(d: Deployment, app: str, *command: str, stdin: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(one_off_argv(d, app, *command), cwd=REPO, env=one_off_env(d),
                          capture_output=True, text=True, timeout=120, input=stdin,
                          stdin=subprocess.DEVNULL if stdin is None else None)


def one_off_on_a_terminal(d: Deployment, app: str, *command: str) -> str:
    """What the command prints when run from a terminal (a pty made here)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(one_off_argv(d, app, *command), cwd=REPO, env=one_off_env(d),
                            stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the terminal's last user closed it
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=120) == 0, b"".join(chunks)
    return b"".join(chunks).decode()


# -- (a) flaskr_like ------------------------------------------------------------

@pytest.fixture(scope="module")
def blog_lab(lab_factory: Any) -> Any:
    return lab_factory("realblog", front="none")


@pytest.fixture(scope="module")
def blog(blog_lab: Any, deployment_factory: Any) -> Deployment:
    d = deployment_factory("realblog", apps=())
    src = d.project.parent / "src" / BLOG
    shutil.copytree(REPO / "examples" / "flaskr_like", src,
                    ignore=shutil.ignore_patterns("__pycache__", "instance"))
    d.app_sources[BLOG] = src
    d.write_config({"lab": host_config(blog_lab)}, [blog_config(d)])
    d.stack.set_config(f"appSecrets.{BLOG}.SECRET_KEY", d.secret_key, secret=True, path=True)
    d.stack.up()
    return d


def blog_config(d: Deployment, **extra: Any) -> dict[str, Any]:
    return app_config(BLOG, "lab", "example.com", d.app_sources[BLOG],
                      environment={"BLOG_TITLE": "Real apps blog"},
                      secretEnvironmentKeys=["SECRET_KEY"], staticDir="flaskr_like/static",
                      releaseCommands=[INIT_DB], **extra)


def about(lab: Any) -> dict[str, Any]:
    response = get(lab, "/about")
    assert response.status_code == 200, response.text[:500]
    return response.json()


def test_blog_serves_its_schema_and_sees_its_secret_in_os_environ(blog_lab: Any, blog: Deployment) -> None:
    page = get(blog_lab, "/")
    assert page.status_code == 200 and "The first post" in page.text, page.text[:500]
    seen = about(blog_lab)
    # The secret reached os.environ (from instance/.env through the entry module)...
    assert seen["secret_sha256"] == hashlib.sha256(blog.secret_key.encode()).hexdigest()
    assert seen["title"] == "Real apps blog"  # ...and so did the plain value
    assert seen["migrations"] == ["001_create_post.sql"]
    assert get(blog_lab, "/static/style.css").status_code == 200
    # ...while Unit's config and the stack's state never hold it.
    config = unit_app(blog_lab, BLOG)
    assert config["module"] == "_daflask_entry" and config["environment"]["DAFLASK_APP_MODULE"] == "wsgi"
    assert blog.secret_key not in str(unit_config(blog_lab))
    assert blog.secret_key not in blog.stack.state_text()


def test_new_migration_runs_once_before_the_switch_then_rollback(blog_lab: Any, blog: Deployment) -> None:
    src = blog.app_sources[BLOG]
    template = src / "flaskr_like" / "templates" / "index.html"
    code = src / "flaskr_like" / "__init__.py"
    old_template, old_code = template.read_text(), code.read_text()
    old_path = unit_app(blog_lab, BLOG)["path"]
    migration = src / "flaskr_like" / "migrations" / "002_add_author.sql"
    migration.write_text("ALTER TABLE post ADD COLUMN author TEXT NOT NULL DEFAULT 'the editor';\n")
    # The new code needs the new column: served before the migration, "/" would fail.
    code.write_text(old_code.replace('"SELECT id, title, body, created FROM post',
                                     '"SELECT id, title, body, created, author FROM post'))
    template.write_text(old_template.replace("<p>{{ post['body'] }}</p>",
                                             "<p>{{ post['body'] }}</p><p>by {{ post['author'] }}</p>"))
    preview = blog.stack.preview("--diff")
    assert f"{BLOG}-release-commands" in preview.stdout and "releaseId" in preview.stdout

    client = httpx.Client(base_url=f"http://{blog_lab.address}", headers={"Host": "example.com"},
                          timeout=10)
    with RequestLoop([lambda: client.get("/")], cleanup=client.close) as load:
        blog.stack.up()
    assert load.failures == [] and sum(load.results.values()) > 10, load.results
    assert "by the editor" in get(blog_lab, "/").text
    assert about(blog_lab)["migrations"] == ["001_create_post.sql", "002_add_author.sql"]

    # Nothing new: the release commands do not run again.
    noop = blog.stack.up()
    assert f"{BLOG}-release-commands" not in noop.stdout

    # Rollback: the old source again. Its release is the old one; the
    # migration stays applied (not reversed) and the old code still works on it.
    migration.unlink()
    code.write_text(old_code)
    template.write_text(old_template)
    blog.stack.up()
    assert unit_app(blog_lab, BLOG)["path"] == old_path
    page = get(blog_lab, "/")
    assert page.status_code == 200 and "by the editor" not in page.text
    assert about(blog_lab)["migrations"] == ["001_create_post.sql", "002_add_author.sql"]


def test_failing_release_command_keeps_the_old_release_serving(blog_lab: Any, blog: Deployment) -> None:
    src = blog.app_sources[BLOG]
    before = unit_app(blog_lab, BLOG)
    current = as_user(blog_lab, 'readlink "$1/current"', site_dir(blog_lab, BLOG))
    bad = src / "flaskr_like" / "migrations" / "003_broken.sql"
    bad.write_text("INSERT INTO no_such_table VALUES (1);\n")
    client = httpx.Client(base_url=f"http://{blog_lab.address}", headers={"Host": "example.com"},
                          timeout=10)
    try:
        with RequestLoop([lambda: client.get("/"), lambda: client.get("/healthz")],
                         cleanup=client.close) as load:
            failed = blog.stack.up(check=False)
        out = failed.stdout + failed.stderr
        assert failed.returncode != 0
        assert f"release command 1 `{INIT_DB}` exited with status 1" in out, out[-3000:]
        assert "no such table: no_such_table" in out  # the command's own output tail
        assert "previous release keeps serving" in out
        assert blog.secret_key not in out
        assert load.failures == [] and sum(load.results.values()) > 10, load.results
        assert unit_app(blog_lab, BLOG) == before
        assert as_user(blog_lab, 'readlink "$1/current"', site_dir(blog_lab, BLOG)) == current

        # The next `up` runs the commands again (it does not take them as done).
        again = blog.stack.up(check=False)
        assert again.returncode != 0 and "no such table: no_such_table" in again.stdout + again.stderr
    finally:
        bad.unlink()
    blog.stack.up()
    assert unit_app(blog_lab, BLOG)["path"] == before["path"]
    assert get(blog_lab, "/").status_code == 200


def test_one_off_command_runs_in_the_live_release(blog_lab: Any, blog: Deployment) -> None:
    state = blog.stack.export()
    connections = blog_lab.ssh_connections_accepted()
    routes = one_off(blog, BLOG, "flask", "--app", "flaskr_like", "routes")
    assert routes.returncode == 0, routes.stderr
    assert "about" in routes.stdout and "healthz" in routes.stdout
    assert blog_lab.ssh_connections_accepted() - connections == 1
    live = Path(unit_app(blog_lab, BLOG)["path"]).name
    where = one_off(blog, BLOG, "python", "-c",
                    "import os, hashlib; print(os.getcwd()); "
                    "print(hashlib.sha256(os.environ['SECRET_KEY'].encode()).hexdigest())")
    cwd, digest = where.stdout.split()
    assert cwd.endswith(f"/releases/{live}")
    assert digest == hashlib.sha256(blog.secret_key.encode()).hexdigest()
    failing = one_off(blog, BLOG, "python", "-c",
                      "import sys; print('to stderr', file=sys.stderr); sys.exit(7)")
    assert failing.returncode == 7 and "to stderr" in failing.stderr
    assert one_off(blog, "nosuchapp", "true").returncode == 2
    upper = one_off(blog, BLOG, "python", "-c", "import sys; print(sys.stdin.read().upper())",
                    stdin="forwarded stdin\n")
    assert upper.returncode == 0 and "FORWARDED STDIN" in upper.stdout
    # From a terminal, the command gets one (as `flask shell` wants).
    assert "tty: True" in one_off_on_a_terminal(
        blog, BLOG, "python", "-c", "import sys; print('tty:', sys.stdin.isatty())")
    assert blog.stack.export() == state  # no state touched


# -- (b) An Otter Wiki, from PyPI -------------------------------------------------

WIKI = "wiki"
# What its users pin after `pip install otterwiki` (pip freeze); nothing of its source.
WIKI_REQUIREMENTS = """\
beautifulsoup4==4.12.3
blinker==1.9.0
click==8.5.1
Cython==3.0.11
feedgen==1.0.0
Flask==3.1.3
Flask-Login==0.6.3
Flask-Mail==0.10.0
Flask-SQLAlchemy==3.1.1
Flask-WTF==1.2.2
gitdb==4.0.12
GitPython==3.2.1
greenlet==3.5.6
itsdangerous==2.2.0
Jinja2==3.1.6
lxml==6.1.1
MarkupSafe==3.0.4
mistune==3.3.3
otterwiki==2.26.1
pillow==13.0.0
pluggy==1.5.0
Pygments==2.20.0
python-dateutil==4.0.0
PyYAML==6.0.2
regex==2026.2.28
smmap==5.0.3
soupsieve==2.10
SQLAlchemy==2.0.36
typing_extensions==4.16.0
tzdata==2026.6
unidiff==0.7.5
Werkzeug==3.1.9
WTForms==3.3.2
"""


@pytest.fixture(scope="module")
def wiki_lab(lab_factory: Any) -> Any:
    return lab_factory("realwiki", front="none")


@pytest.fixture(scope="module")
def wiki(wiki_lab: Any, deployment_factory: Any) -> Deployment:
    d = deployment_factory("realwiki", apps=())
    src = d.project.parent / "src" / WIKI
    src.mkdir(parents=True)
    (src / "wsgi.py").write_text("from otterwiki.server import app as application\n")
    (src / "requirements.txt").write_text(WIKI_REQUIREMENTS)
    d.app_sources[WIKI] = src
    data = f"{site_dir(wiki_lab, WIKI)}/instance"
    d.write_config({"lab": host_config(wiki_lab)}, [app_config(
        WIKI, "lab", "example.com", src, staticUrl=None,
        # An Otter Wiki reads any of its settings from the environment.
        environment={"SITE_NAME": "da-flask wiki", "REPOSITORY": f"{data}/repository",
                     "SQLALCHEMY_DATABASE_URI": f"sqlite:///{data}/otterwiki.db"},
        secretEnvironmentKeys=["SECRET_KEY"],
        # Its storage: a git repository (`git init` is idempotent), then the
        # app's import makes its tables and first page, before Unit runs it.
        releaseCommands=[f"git init -q {data}/repository", "flask --app wsgi user list"])])
    d.stack.set_config(f"appSecrets.{WIKI}.SECRET_KEY", d.secret_key, secret=True, path=True)
    d.stack.up()
    return d


def test_wiki_from_pypi_serves_pages_from_its_initialised_storage(wiki_lab: Any, wiki: Deployment) -> None:
    home = get(wiki_lab, "/")
    assert home.status_code == 200, home.text[:500]
    assert "da-flask wiki" in home.text
    index = get(wiki_lab, "/-/index")
    assert index.status_code == 200 and "Home" in index.text
    data = f"{site_dir(wiki_lab, WIKI)}/instance"
    log = as_user(wiki_lab, 'git -C "$1/repository" log --format=%s', data)
    assert "Initial commit" in log  # made by the release command, before the switch
    tables = as_user(wiki_lab, 'test -s "$1/otterwiki.db" && echo db', data)
    assert tables.strip() == "db"
    assert wiki.secret_key not in str(unit_config(wiki_lab))
    # Deploying again changes nothing and runs nothing.
    assert f"{WIKI}-release-commands" not in wiki.stack.up().stdout


def _wiki_apps(wiki: Deployment) -> tuple[Path, dict[str, Any]]:
    path = wiki.project / "stacks" / f"Pulumi.{wiki.stack.name}.yaml"
    return path, yaml.safe_load(path.read_text())


def _set_wiki_commands(wiki: Deployment, commands: list[Any]) -> None:
    path, doc = _wiki_apps(wiki)
    doc["config"]["da-flask:apps"][0]["releaseCommands"] = commands
    path.write_text(yaml.safe_dump(doc, sort_keys=True))


def test_wiki_update_runs_its_new_command_once_then_rolls_back(wiki_lab: Any, wiki: Deployment) -> None:
    src = wiki.app_sources[WIKI]
    wsgi = src / "wsgi.py"
    old_wsgi = wsgi.read_text()
    old_path = unit_app(wiki_lab, WIKI)["path"]
    _, doc = _wiki_apps(wiki)
    old_commands = doc["config"]["da-flask:apps"][0]["releaseCommands"]
    data = f"{site_dir(wiki_lab, WIKI)}/instance"
    # A data fix shipped with new code: it runs before the switch, once.
    fix = ["python", "-c", "import os; open(os.environ['REPOSITORY'] + '/../fixes.log', 'a').write('002\\n')"]
    wsgi.write_text(old_wsgi + "# 2: a data fix ships with this release\n")
    _set_wiki_commands(wiki, [*old_commands, fix])

    client = httpx.Client(base_url=f"http://{wiki_lab.address}", headers={"Host": "example.com"}, timeout=10)
    with RequestLoop([lambda: client.get("/")], cleanup=client.close) as load:
        wiki.stack.up()
    assert load.failures == [] and sum(load.results.values()) > 5, load.results
    assert unit_app(wiki_lab, WIKI)["path"] != old_path
    assert as_user(wiki_lab, 'cat "$1/fixes.log"', data) == "002\n"
    assert f"{WIKI}-release-commands" not in wiki.stack.up().stdout  # nothing new: nothing runs
    assert as_user(wiki_lab, 'cat "$1/fixes.log"', data) == "002\n"

    # Rollback: the old source and commands. The old release serves again;
    # the data fix is not reversed.
    wsgi.write_text(old_wsgi)
    _set_wiki_commands(wiki, old_commands)
    wiki.stack.up()
    assert unit_app(wiki_lab, WIKI)["path"] == old_path
    assert get(wiki_lab, "/-/index").status_code == 200
    assert as_user(wiki_lab, 'cat "$1/fixes.log"', data) == "002\n"
