"""Files da-flask ships into every release (not imported by da-flask itself)."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

# The name the entry module has inside a release; an app file of this name is refused.
ENTRY_NAME = "_daflask_entry.py"
ENTRY_MODULE = ENTRY_NAME.removesuffix(".py")
_ENTRY_SOURCE = Path(__file__).with_name("daflask_entry.py")


def entry_bytes() -> bytes:
    """The entry module's bytes, as shipped."""
    return _ENTRY_SOURCE.read_bytes()


def entry_sha256() -> str:
    return hashlib.sha256(entry_bytes()).hexdigest()


def with_entry_module(manifest: dict[str, Any]) -> dict[str, Any]:
    """The app's manifest plus the entry module (mode 0644).

    Part of the release, so part of its id: the entry runs in front of the
    app's code, and a release is everything that runs. Same bytes, same
    release; a rollback brings back the entry it ran with; the host checks
    it like every other file (a hand edit shows as drift).
    """
    from daunit.manifest import FILE_MODE, FileEntry, ManifestError

    if ENTRY_NAME in manifest:
        raise ManifestError(f"{ENTRY_NAME}: this name is da-flask's own entry module in every "
                            "release; rename the app's file")
    data = entry_bytes()
    entry = FileEntry(sha256=hashlib.sha256(data).hexdigest(), size=len(data), mode=FILE_MODE)
    return dict(sorted({**manifest, ENTRY_NAME: entry}.items()))
