"""What root-owned and other users' places of a lab host look like, to show
that nothing outside an app's tree changed (owner, mode, content, link target).

Run inside the lab as root (its mount namespace: /root, /home,
/usr/local/directadmin and the account files are the lab's own).
"""
from __future__ import annotations

import json
from typing import Any

# Root's and DirectAdmin's places, and /home without the site user's own home.
# Of /etc, the files the lab keeps as its own: the rest of the lab's /etc is
# this machine's live /etc, which other processes change (ldconfig rewrote
# /etc/ld.so.cache during one run), and no planted link aims there.
SENSITIVE = ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow", "/etc/pip.conf",
             "/root", "/usr/local/directadmin", "/home")

_LISTER = r'''
import hashlib, json, os, stat, sys
skip = set(sys.argv[2:])
out = {}
def visit(path):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    entry = [st.st_uid, st.st_gid, oct(st.st_mode)]
    if stat.S_ISLNK(st.st_mode):
        entry.append(os.readlink(path))
    elif stat.S_ISREG(st.st_mode):
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        entry.append(h.hexdigest())
    out[path] = entry
    if stat.S_ISDIR(st.st_mode) and path not in skip:
        for name in sorted(os.listdir(path)):
            visit(os.path.join(path, name))
for top in sys.argv[1].split(":"):
    visit(top)
json.dump(out, sys.stdout)
'''


def snapshot(lab: Any, skip: tuple[str, ...] = ()) -> dict[str, list[Any]]:
    """Every entry under SENSITIVE (not descending into `skip` nor the lab
    user's home): [uid, gid, mode, sha256 or link target]."""
    skip = (*skip, f"/home/{lab.da_user}")
    result = lab.run(["python3", "-c", _LISTER, ":".join(SENSITIVE), *skip])
    return json.loads(result.stdout)


def changes(before: dict[str, list[Any]], after: dict[str, list[Any]]) -> list[str]:
    """What differs, one line per path (empty when nothing changed)."""
    lines = []
    for path in sorted(set(before) | set(after)):
        if before.get(path) != after.get(path):
            lines.append(f"{path}: {before.get(path)} -> {after.get(path)}")
    return lines
