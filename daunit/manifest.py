"""File manifests of an app's source tree, and the content hashes built on them.

A manifest maps each shipped file's POSIX path (relative to the source dir)
to its sha256, size and mode. It is the Release resource's input, so a
preview diff names every changed file, and its hash is the release id
(`APP/releases/<id>`): same bytes, same release.

The only I/O in this package outside `remote/`: reading the local source tree.
"""
from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daunit.canonical import canonical_json
from daunit.models import AppSpec

__all__ = [
    "DIR_MODE",
    "ENTRY_POINT_MODE",
    "FILE_MODE",
    "FileEntry",
    "Manifest",
    "ManifestError",
    "build_app_manifest",
    "build_manifest",
    "manifest_data",
    "manifest_dirs",
    "manifest_from_data",
    "read_requirements",
    "release_id",
    "venv_key",
]

# Permissions as the seed sets them: the web server reads through "other".
FILE_MODE = 0o644
DIR_MODE = 0o755
ENTRY_POINT_MODE = 0o755

# Never shipped, wherever they appear: caches, VCS data, virtualenvs.
EXCLUDED_DIR_NAMES = frozenset({
    "__pycache__", ".git", ".hg", ".svn", ".venv", "venv",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox",
})
# Never shipped at the top of the tree: each release links these to the
# app's shared instance/ (secrets) and logs/, so a local copy must not land.
EXCLUDED_TOP_LEVEL_DIRS = frozenset({"instance", "logs"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")

_CHUNK = 1 << 16


class ManifestError(Exception):
    """The source tree cannot be shipped as it is; the message names the path."""


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    size: int
    mode: int

    def to_data(self) -> dict[str, Any]:
        # Mode as an octal string so a preview diff reads "0644", not 420.
        return {"mode": f"{self.mode:04o}", "sha256": self.sha256, "size": self.size}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> FileEntry:
        return cls(sha256=str(data["sha256"]), size=int(data["size"]), mode=int(str(data["mode"]), 8))


Manifest = dict[str, FileEntry]


def _is_local_env_file(name: str) -> bool:
    # .env, .env.local, .env.production...: a developer's secrets, never shipped.
    return name == ".env" or name.startswith(".env.")


def _excluded_file(name: str) -> bool:
    return _is_local_env_file(name) or name.endswith(EXCLUDED_SUFFIXES)


def _check_name(relpath: str) -> None:
    if any(ord(c) < 32 or c == "\x7f" for c in relpath):
        raise ManifestError(f"{relpath!r}: file names with control characters cannot be shipped; rename it")


def _sha256_of(path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def build_manifest(source_dir: str | os.PathLike[str], entry_point: str | None = "wsgi.py") -> Manifest:
    """Walk `source_dir` in sorted order and describe every file to ship.

    Files get 0644, the entry point 0755 (as the seed's chmod). Symlinks and
    special files are refused rather than followed: a link could pull in
    files from outside the tree. Raises ManifestError.
    """
    root = os.fspath(source_dir)
    if not os.path.isdir(root):
        raise ManifestError(f"source {root!r} is not a directory")
    manifest: Manifest = {}
    for current, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(current, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        kept_dirs = []
        for name in sorted(dirnames):
            relpath = f"{rel_dir}/{name}" if rel_dir else name
            if name in EXCLUDED_DIR_NAMES or (not rel_dir and name in EXCLUDED_TOP_LEVEL_DIRS):
                continue
            if os.path.islink(os.path.join(current, name)):
                raise ManifestError(f"{relpath}: is a symlink; da-flask ships regular files only, "
                                    "replace it with the directory itself")
            _check_name(relpath)
            kept_dirs.append(name)
        dirnames[:] = kept_dirs  # os.walk descends only into these, in this order
        for name in sorted(filenames):
            if _excluded_file(name):
                continue
            relpath = f"{rel_dir}/{name}" if rel_dir else name
            _check_name(relpath)
            if not rel_dir and name in EXCLUDED_TOP_LEVEL_DIRS:
                raise ManifestError(f"{relpath}: a top-level file of this name would take the place of "
                                    "the release's link to the shared directory; rename it")
            path = os.path.join(current, name)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                raise ManifestError(f"{relpath}: is a symlink; da-flask ships regular files only, "
                                    "replace it with a copy of the file")
            if not stat.S_ISREG(info.st_mode):
                raise ManifestError(f"{relpath}: is not a regular file; remove it from the source tree")
            digest, size = _sha256_of(path)
            mode = ENTRY_POINT_MODE if relpath == entry_point else FILE_MODE
            manifest[relpath] = FileEntry(sha256=digest, size=size, mode=mode)
    if entry_point is not None and entry_point not in manifest:
        raise ManifestError(f"entry point {entry_point!r} is not in source {root!r}")
    return dict(sorted(manifest.items()))


def build_app_manifest(app: AppSpec) -> Manifest:
    """The manifest of `app.source`, with the module's file as the entry point."""
    root = os.path.expanduser(app.source)
    entry = next((c for c in app.entry_point_candidates if os.path.isfile(os.path.join(root, c))), None)
    if entry is None:
        raise ManifestError(f"module {app.module!r} has no file in {app.source!r}: expected "
                            f"{' or '.join(app.entry_point_candidates)}")
    return build_manifest(root, entry_point=entry)


def read_requirements(app: AppSpec) -> bytes:
    """The bytes of the app's requirements file (the input of `venv_key`)."""
    path = Path(os.path.expanduser(app.source)) / app.requirements
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"requirements {app.requirements!r} cannot be read from "
                            f"{app.source!r}: {exc.strerror}") from exc


def manifest_data(manifest: Mapping[str, FileEntry]) -> dict[str, dict[str, Any]]:
    """Plain JSON-able form: {path: {"mode": "0644", "sha256": ..., "size": n}}."""
    return {path: entry.to_data() for path, entry in sorted(manifest.items())}


def manifest_from_data(data: Mapping[str, Mapping[str, Any]]) -> Manifest:
    return {path: FileEntry.from_data(entry) for path, entry in sorted(data.items())}


def manifest_dirs(manifest: Mapping[str, FileEntry]) -> list[str]:
    """Every directory the files need, parents first (each gets DIR_MODE)."""
    dirs: set[str] = set()
    for path in manifest:
        parts = path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:depth]))
    return sorted(dirs, key=lambda d: (d.count("/"), d))


def release_id(manifest: Mapping[str, FileEntry]) -> str:
    """16 hex digits of sha256 over the canonical manifest: same tree, same id."""
    return hashlib.sha256(canonical_json(manifest_data(manifest))).hexdigest()[:16]


def venv_key(python_version: str, requirements_bytes: bytes, *, interpreter: str | None = None) -> str:
    """A virtualenv's name, e.g. "py3.11-0123456789abcdef".

    Keyed by the Python version and the exact requirements bytes; pass the
    host's interpreter path too when it should force a rebuild on change
    (a venv is bound to the interpreter that made it).
    """
    basis: dict[str, str] = {
        "python": python_version,
        "requirements_sha256": hashlib.sha256(requirements_bytes).hexdigest(),
    }
    if interpreter is not None:
        basis["interpreter"] = interpreter
    return f"py{python_version}-{hashlib.sha256(canonical_json(basis)).hexdigest()[:16]}"
