"""File manifests of an app's source tree, and the content hashes built on them.

A manifest maps each shipped file's POSIX path (relative to the source dir)
to its sha256, size and mode. It is the Release resource's input, so a
preview diff names every changed file, and its hash is the release id
(`APP/releases/<id>`): same bytes, same release.

The only I/O in this package outside `remote/`: reading the local source tree.
"""
from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from daunit.canonical import canonical_json
from daunit.layout import ENTRY_POINT_MODE, FILE_MODE

if TYPE_CHECKING:
    from daunit.spec import AppSpec

__all__ = [
    "ENTRY_POINT_MODE",
    "FILE_MODE",
    "FileEntry",
    "Manifest",
    "ManifestError",
    "SourceChangedError",
    "SourceFile",
    "app_entry_point",
    "build_app_manifest",
    "build_manifest",
    "manifest_data",
    "read_requirements",
    "release_id",
    "venv_key",
]


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
    """One shipped file: what its content hashes to, its size and its mode."""

    sha256: str
    size: int
    mode: int


Manifest = dict[str, FileEntry]


def _is_local_env_file(name: str) -> bool:
    # .env, .env.local, .env.production...: a developer's secrets, never shipped.
    return name == ".env" or name.startswith(".env.")


def _excluded_file(name: str) -> bool:
    return _is_local_env_file(name) or name.endswith(EXCLUDED_SUFFIXES)


def _check_name(relpath: str) -> None:
    # The host lists a release one name a line through sha256sum, which
    # escapes backslashes and newlines: neither may appear.
    if any(ord(c) < 32 or c in "\x7f\\" for c in relpath):
        raise ManifestError(f"{relpath!r}: file names with control characters or backslashes "
                            "cannot be shipped; rename it")


class SourceChangedError(ManifestError):
    """A source file changed (or became a link) between hashing and upload."""


def open_regular(root: str, relpath: str) -> tuple[BinaryIO, int]:
    """Open `root`/`relpath` for reading without following any link below `root`.

    Every directory on the way and the file itself are opened with O_NOFOLLOW,
    so a file or directory swapped for a symlink after the manifest was made
    is refused instead of shipping what the link points at. Returns the open
    file and its size; raises SourceChangedError naming the path.
    """
    parts = relpath.split("/")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
        # O_NONBLOCK: a FIFO swapped in must not hang us (it is refused below).
        file_fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise SourceChangedError(f"{relpath}: is a symlink now (or sits under one); da-flask ships "
                                     "regular files only: replace the link with the file itself") from None
        raise SourceChangedError(f"{relpath}: cannot be read: {exc.strerror}") from None
    finally:
        os.close(fd)
    info = os.fstat(file_fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(file_fd)
        raise SourceChangedError(f"{relpath}: is not a regular file any more; remove it from the source tree")
    os.set_blocking(file_fd, True)
    return os.fdopen(file_fd, "rb"), info.st_size


def _sha256_of(root: str, relpath: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    handle, _ = open_regular(root, relpath)
    with handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@dataclass(frozen=True)
class SourceFile:
    """One file of a manifest, to be sent as it was hashed (see `open_checked`)."""

    root: str
    relpath: str
    sha256: str

    def open_checked(self) -> tuple[CheckedReader, int]:
        """The file (opened as `open_regular` does) and its size, wrapped so
        that reading raises SourceChangedError if it got shorter, and
        `verify_complete()` after the last byte raises it if the bytes read
        are not the ones the manifest hashed."""
        handle, size = open_regular(self.root, self.relpath)
        return CheckedReader(handle, size, self), size


class CheckedReader(io.RawIOBase):
    """Hashes what is read; at the announced size, checks it against the manifest."""

    def __init__(self, handle: BinaryIO, size: int, source: SourceFile) -> None:
        self._handle, self._size, self._source = handle, size, source
        self._digest = hashlib.sha256()
        self._count = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        want = self._size - self._count if n is None or n < 0 else min(n, self._size - self._count)
        data = self._handle.read(want) if want > 0 else b""
        self._digest.update(data)
        self._count += len(data)
        if len(data) < want:
            raise self._changed("it got shorter while it was read")
        return data

    def verify_complete(self) -> None:
        """After the announced size was read: nothing more, and the right bytes."""
        if self._count != self._size:
            raise self._changed("it was not read to the end")
        if self._handle.read(1):
            raise self._changed("it grew while it was read")
        if self._digest.hexdigest() != self._source.sha256:
            raise self._changed(f"its sha256 is now {self._digest.hexdigest()[:16]}..., "
                                f"the manifest has {self._source.sha256[:16]}...")

    def _changed(self, why: str) -> SourceChangedError:
        return SourceChangedError(f"{self._source.relpath}: changed after it was hashed ({why}); "
                                  "nothing was switched: run pulumi up again to deploy what is there now")

    def close(self) -> None:
        self._handle.close()
        super().close()


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
            digest, size = _sha256_of(root, relpath)
            mode = ENTRY_POINT_MODE if relpath == entry_point else FILE_MODE
            manifest[relpath] = FileEntry(sha256=digest, size=size, mode=mode)
    if entry_point is not None and entry_point not in manifest:
        raise ManifestError(f"entry point {entry_point!r} is not in source {root!r}")
    return dict(sorted(manifest.items()))


def app_entry_point(app: AppSpec) -> str:
    """The file of the app's module in its source (the release's entry point)."""
    root = os.path.expanduser(app.source)
    entry = next((c for c in app.entry_point_candidates if os.path.isfile(os.path.join(root, c))), None)
    if entry is None:
        raise ManifestError(f"module {app.module!r} has no file in {app.source!r}: expected "
                            f"{' or '.join(app.entry_point_candidates)}")
    return entry


def build_app_manifest(app: AppSpec) -> Manifest:
    """The manifest of `app.source`, with the module's file as the entry point."""
    return build_manifest(os.path.expanduser(app.source), entry_point=app_entry_point(app))


def read_requirements(app: AppSpec) -> bytes:
    """The bytes of the app's requirements file (the input of `venv_key`)."""
    path = Path(os.path.expanduser(app.source)) / app.requirements
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"requirements {app.requirements!r} cannot be read from "
                            f"{app.source!r}: {exc.strerror}") from exc


def manifest_data(manifest: Mapping[str, FileEntry]) -> dict[str, dict[str, Any]]:
    """Plain JSON-able form: {path: {"mode": "0644", "sha256": ..., "size": n}} (the
    mode as an octal string, so a preview diff reads "0644", not 420)."""
    return {path: {"mode": f"{e.mode:04o}", "sha256": e.sha256, "size": e.size}
            for path, e in sorted(manifest.items())}


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
