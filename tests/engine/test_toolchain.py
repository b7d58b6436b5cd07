"""The locally built Pulumi engine runs a Python program with a dynamic resource.

The provider writes a file on this machine, so each engine step is observable:
preview must not touch it, up creates it, refresh reads it back (and notices a
hand edit), destroy removes it.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.engine import ENGINE_BIN, Stack, built_engine_available, python_project

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(not built_engine_available(),
                       reason="Pulumi engine not built: run scripts/build-pulumi.sh"),
]

PROGRAM = '''
import json
from pathlib import Path

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult


class FileProvider(ResourceProvider):
    def create(self, props):
        Path(props["path"]).write_text(props["content"])
        return CreateResult(id_=props["path"], outs=dict(props))

    def diff(self, _id, olds, news):
        changed = [k for k in ("path", "content") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=["path"] if "path" in changed else [])

    def update(self, _id, olds, news):
        Path(news["path"]).write_text(news["content"])
        return UpdateResult(outs=dict(news))

    def read(self, id_, props):
        path = Path(id_)
        outs = dict(props, content=path.read_text()) if path.exists() else None
        return ReadResult(id_=id_ if outs else None, outs=outs)

    def delete(self, id_, props):
        Path(id_).unlink()


class File(Resource):
    def __init__(self, name, path, content, opts=None):
        super().__init__(FileProvider(), name, {"path": path, "content": content}, opts)


cfg = pulumi.Config()
f = File("marker", cfg.require("path"), cfg.require("content"))
pulumi.export("content", f.content)
'''


def _project(tmp_path: Path) -> Path:
    return python_project(tmp_path / "project", "toolchain-check", PROGRAM)


def test_engine_reports_pinned_version() -> None:
    out = subprocess.run([str(ENGINE_BIN), "version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "v3.259.0"


def test_dynamic_resource_preview_up_refresh_destroy(tmp_path: Path) -> None:
    target = tmp_path / "marker.txt"
    stack = Stack(_project(tmp_path), "check", tmp_path / "state")
    stack.init()
    stack.set_config("path", str(target))
    stack.set_config("content", "first")

    preview = stack.preview("--diff")
    assert "marker" in preview.stdout
    assert not target.exists(), "preview must not run create"

    stack.up()
    assert target.read_text() == "first"
    assert stack.outputs()["content"] == "first"

    stack.set_config("content", "second")
    stack.up()
    assert target.read_text() == "second"

    # A hand edit is drift: refresh reads it into state through the provider's read().
    target.write_text("edited by hand")
    stack.refresh()
    assert stack.outputs()["content"] == "second"  # outputs are re-computed only on up
    exported = stack.export()
    marker = [r for r in exported["deployment"]["resources"] if r.get("urn", "").endswith("::marker")]
    assert marker and marker[0]["outputs"]["content"] == "edited by hand"

    stack.destroy()
    assert not target.exists()

