"""Manifests of a source tree: what ships, with which modes, and the hashes on top."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from daunit.manifest import (
    ENTRY_POINT_MODE,
    FILE_MODE,
    FileEntry,
    ManifestError,
    build_app_manifest,
    build_manifest,
    manifest_data,
    read_requirements,
    release_id,
    venv_key,
)
from daunit.spec import AppSpec
from tests.unit.conftest import app_raw

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flask_app"


def make_tree(root: Path, files: dict[str, bytes]) -> Path:
    for relpath, data in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


SHIPPED = {
    "wsgi.py": b"from app import create_app\napplication = create_app()\n",
    "requirements.txt": b"Flask==3.1.3\n",
    "app/__init__.py": b"def create_app(): ...\n",
    "app/static/style.css": b"body {}\n",
    "app/templates/index.html": b"<h1>hi</h1>\n",
    "app/logs/handler.py": b"# a package named logs below the top is code\n",
}
NOT_SHIPPED = {
    ".env": b"SECRET_KEY=local\n",
    ".env.local": b"SECRET_KEY=local\n",
    ".env.example": b"",  # any .env.* may hold a developer's values
    "app/.env": b"SECRET_KEY=nested\n",
    "app/__pycache__/x.cpython-311.pyc": b"\x00",
    "app/stale.pyc": b"\x00",
    ".git/HEAD": b"ref: refs/heads/main\n",
    ".venv/bin/python": b"",
    "venv/lib/site.py": b"",
    "instance/config.py": b"SECRET = 1\n",
    "logs/flask_app.log": b"old log\n",
    ".pytest_cache/v": b"",
}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "src", {**SHIPPED, **NOT_SHIPPED})


def test_what_ships(tree: Path) -> None:
    manifest = build_manifest(tree)
    assert list(manifest) == sorted(SHIPPED)


def test_entries_and_modes(tree: Path) -> None:
    manifest = build_manifest(tree)
    data = SHIPPED["wsgi.py"]
    assert manifest["wsgi.py"] == FileEntry(sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                                            mode=ENTRY_POINT_MODE)
    assert {e.mode for p, e in manifest.items() if p != "wsgi.py"} == {FILE_MODE}
    assert (FILE_MODE, ENTRY_POINT_MODE) == (0o644, 0o755)


def test_local_permissions_do_not_leak_into_modes(tree: Path) -> None:
    os.chmod(tree / "app" / "__init__.py", 0o777)
    os.chmod(tree / "wsgi.py", 0o600)
    manifest = build_manifest(tree)
    assert manifest["app/__init__.py"].mode == FILE_MODE
    assert manifest["wsgi.py"].mode == ENTRY_POINT_MODE


def test_other_entry_point(tree: Path) -> None:
    manifest = build_manifest(tree, entry_point="app/__init__.py")
    assert manifest["app/__init__.py"].mode == ENTRY_POINT_MODE
    assert manifest["wsgi.py"].mode == FILE_MODE
    with pytest.raises(ManifestError, match="entry point 'main.py' is not in source"):
        build_manifest(tree, entry_point="main.py")


def test_deterministic_across_trees_and_creation_order(tmp_path: Path) -> None:
    first = make_tree(tmp_path / "a", SHIPPED)
    second = make_tree(tmp_path / "b", dict(reversed(list(SHIPPED.items()))))
    os.utime(second / "wsgi.py", (0, 0))  # timestamps play no part
    assert manifest_data(build_manifest(first)) == manifest_data(build_manifest(second))
    assert release_id(build_manifest(first)) == release_id(build_manifest(second))


def test_release_id_is_stable_and_changes_on_a_one_byte_edit(tree: Path) -> None:
    before = release_id(build_manifest(tree))
    assert len(before) == 16 and int(before, 16) >= 0
    assert release_id(build_manifest(tree)) == before
    (tree / "app" / "static" / "style.css").write_bytes(b"body {}\r")
    assert release_id(build_manifest(tree)) != before


def test_release_id_ignores_excluded_files(tree: Path) -> None:
    before = release_id(build_manifest(tree))
    (tree / ".env").write_bytes(b"SECRET_KEY=changed\n")
    (tree / "app" / "__pycache__" / "y.pyc").write_bytes(b"\x01")
    assert release_id(build_manifest(tree)) == before


def test_release_id_changes_with_the_entry_point(tree: Path) -> None:
    assert release_id(build_manifest(tree)) != release_id(build_manifest(tree, entry_point="app/__init__.py"))


def test_release_id_pinned_value() -> None:
    # Guards the hash recipe itself: changing it would redeploy every app.
    manifest = {"wsgi.py": FileEntry(sha256="0" * 64, size=0, mode=0o755)}
    assert manifest_data(manifest) == {"wsgi.py": {"mode": "0755", "sha256": "0" * 64, "size": 0}}
    expected = hashlib.sha256(b'{"wsgi.py":{"mode":"0755","sha256":"' + b"0" * 64 + b'","size":0}}').hexdigest()
    assert release_id(manifest) == expected[:16]


def test_symlinks_are_refused(tree: Path) -> None:
    (tree / "app" / "link.py").symlink_to("/etc/passwd")
    with pytest.raises(ManifestError, match="app/link.py: is a symlink"):
        build_manifest(tree)


def test_symlinked_directories_are_refused(tree: Path, tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tree / "app" / "data").symlink_to(tmp_path / "outside")
    with pytest.raises(ManifestError, match="app/data: is a symlink"):
        build_manifest(tree)


def test_top_level_file_named_like_a_shared_dir_is_refused(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src", {**SHIPPED, "logs": b"not a dir"})
    with pytest.raises(ManifestError, match="logs: a top-level file"):
        build_manifest(tree)


def test_missing_source(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="is not a directory"):
        build_manifest(tmp_path / "nope")


def test_venv_key() -> None:
    key = venv_key("3.11", b"Flask==3.1.3\n")
    assert key.startswith("py3.11-") and len(key) == len("py3.11-") + 16
    assert venv_key("3.11", b"Flask==3.1.3\n") == key
    assert venv_key("3.11", b"Flask==3.1.2\n") != key
    assert venv_key("3.12", b"Flask==3.1.3\n").startswith("py3.12-")
    assert venv_key("3.11", b"Flask==3.1.3\n", interpreter="/usr/bin/python3.11") != key


def test_example_app_manifest() -> None:
    app = AppSpec.model_validate(app_raw(source=str(EXAMPLE)))
    manifest = build_app_manifest(app)
    assert manifest["wsgi.py"].mode == ENTRY_POINT_MODE
    assert {"requirements.txt", "app/__init__.py", "app/views/main.py", "config/__init__.py",
            "app/static/style.css", "app/templates/index.html"} <= set(manifest)
    assert not any("__pycache__" in p or p.endswith(".pyc") for p in manifest)
    assert read_requirements(app).startswith(b"Flask==")


def test_package_module_entry_point(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src", {"shop/wsgi/__init__.py": b"application = None\n", "requirements.txt": b""})
    app = AppSpec.model_validate(app_raw(source=str(tree), module="shop.wsgi"))
    assert build_app_manifest(app)["shop/wsgi/__init__.py"].mode == ENTRY_POINT_MODE
    with pytest.raises(ManifestError, match="module 'nope' has no file"):
        build_app_manifest(AppSpec.model_validate(app_raw(source=str(tree), module="nope")))
