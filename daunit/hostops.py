"""Remote steps as argv: pure functions, no I/O.

Each step is ONE command (one SSH round trip), never one per file. A step
that needs several shell operations is `sh -c SCRIPT sh ARG...`: the script is
a constant of this module and every variable part travels as a positional
parameter, so nothing a user typed is ever parsed by the remote shell.
Bulk or secret data travels on stdin.
"""
from __future__ import annotations

from collections.abc import Sequence

Argv = list[str]


def sh(script: str, *args: str) -> Argv:
    return ["sh", "-c", script, "sh", *args]


# -- Release -------------------------------------------------------------

# $1 app dir, $2 user, $3 new release id, $4 previous release id ("" if none).
# stdin: NUL-separated relative paths to drop from the copied tree (files
# that changed or went away). Prints FULL when the new tree starts empty,
# EXISTS when the release is already complete, else SEEDED.
_PREPARE_RELEASE = r'''
set -eu
app=$1 user=$2 new=$3 prev=$4
install -d -m 755 -o "$user" -g "$user" "$app" "$app/releases" "$app/venvs"
install -d -m 700 -o "$user" -g "$user" "$app/instance" "$app/logs"
# Leftovers of an interrupted deploy (killed mid-upload, connection lost):
# one deploy per app runs at a time (Pulumi's stack lock), so any incoming
# tree here is stale.
rm -rf "$app/releases/".incoming-*
if [ -d "$app/releases/$new" ]; then cat >/dev/null; echo EXISTS; exit 0; fi
tmp="$app/releases/.incoming-$new"
if [ -n "$prev" ] && [ -d "$app/releases/$prev" ]; then
  # Hard links: unchanged files cost no bytes and no transfer. Files that
  # change are unlinked first, so the previous release is never written to.
  cp -al "$app/releases/$prev" "$tmp"
  cd "$tmp" && xargs -0 -r rm -f --
  echo SEEDED
else
  cat >/dev/null
  install -d -m 755 "$tmp"
  echo FULL
fi
'''


def prepare_release(app_dir: str, user: str, release_id: str, previous_id: str) -> Argv:
    return sh(_PREPARE_RELEASE, app_dir, user, release_id, previous_id)


# $1 app dir, $2 user, $3 release id, $4 entry point file (relative).
_FINISH_RELEASE = r'''
set -eu
app=$1 user=$2 new=$3 entry=$4
tmp="$app/releases/.incoming-$new"
[ -d "$tmp" ] || exit 0
cd "$tmp"
find . -depth -type d -empty ! -name . -exec rmdir {} + 2>/dev/null || true
ln -sfn ../../instance instance
ln -sfn ../../logs logs
chown -R -h "$user:$user" "$tmp"
find . -type d -exec chmod 755 {} +
find . -type f -exec chmod 644 {} +
if [ -f "$entry" ]; then chmod 755 "$entry"; fi
mv -T "$tmp" "$app/releases/$new"
'''


def finish_release(app_dir: str, user: str, release_id: str, entry_point: str) -> Argv:
    return sh(_FINISH_RELEASE, app_dir, user, release_id, entry_point)


def incoming_dir(app_dir: str, release_id: str) -> str:
    return f"{app_dir}/releases/.incoming-{release_id}"


# $1 release dir. Prints "sha256  ./path" per file (instance/ and logs/ are links,
# not followed).
_HASH_TREE = r'''
set -eu
cd "$1"
# Bytecode the running app writes into its release is not part of it.
find . -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | sort -z | xargs -0 -r sha256sum
'''


def hash_tree(release_dir: str) -> Argv:
    return sh(_HASH_TREE, release_dir)


def parse_hash_tree(output: str) -> dict[str, str]:
    files: dict[str, str] = {}
    for line in output.splitlines():
        digest, _, path = line.partition("  ")
        if path.startswith("./"):
            path = path[2:]
        if digest and path:
            files[path] = digest
    return files


# $1 app dir, $2 release id to point `current` at. Atomic: rename over the link.
_SWITCH_CURRENT = r'''
set -eu
ln -sfn "releases/$2" "$1/.current-new"
mv -T "$1/.current-new" "$1/current"
'''


def switch_current(app_dir: str, release_id: str) -> Argv:
    return sh(_SWITCH_CURRENT, app_dir, release_id)


# $1 app dir, $2 how many to keep, $3.. release ids that must stay (live ones).
# Removes older releases and venvs no kept release uses is not knowable here,
# so venvs are pruned by the same rule: newest N plus the live ones.
_PRUNE = r'''
set -eu
app=$1 keep=$2; shift 2
for kind in releases venvs; do
  [ -d "$app/$kind" ] || continue
  cd "$app/$kind"
  ls -1t | grep -v '^\.' | tail -n +"$((keep + 1))" | while IFS= read -r old; do
    live=0
    for k in "$@"; do [ "$old" = "$k" ] && live=1; done
    [ $live = 1 ] || rm -rf -- "$old"
  done
done
'''


def prune(app_dir: str, keep: int, live: Sequence[str]) -> Argv:
    return sh(_PRUNE, app_dir, str(keep), *live)


# -- Virtualenv ----------------------------------------------------------

# $1 venv dir, $2 user, $3 python. stdin: requirements.txt.
# Built in place as the site's user; the `.complete` marker is written only
# after pip succeeded, and nothing points at a venv before it has one.
_BUILD_VENV = r'''
set -eu
venv=$1 user=$2 python=$3
if [ -f "$venv/.complete" ]; then cat >/dev/null; echo REUSED; exit 0; fi
# Venvs without the marker are interrupted builds: nothing points at them.
for d in "${venv%/*}"/*/; do
  [ -d "$d" ] && [ ! -f "$d.complete" ] && rm -rf "$d"
done
rm -rf "$venv"
install -d -m 755 -o "$user" -g "$user" "$venv"
cat > "$venv/.requirements.txt"
chown "$user:$user" "$venv/.requirements.txt"
home=$(getent passwd "$user" | cut -d: -f6)
as_user() { runuser -u "$user" -- env HOME="$home" PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 "$@"; }
if ! as_user "$python" -m venv "$venv" >&2 \
   || ! as_user "$venv/bin/python" -m pip install -q -r "$venv/.requirements.txt" >&2; then
  rm -rf "$venv"
  exit 3
fi
touch "$venv/.complete"
echo BUILT
'''


def build_venv(venv_dir: str, user: str, python: str) -> Argv:
    return sh(_BUILD_VENV, venv_dir, user, python)


def venv_complete(venv_dir: str) -> Argv:
    return ["test", "-f", f"{venv_dir}/.complete"]


# -- Instance config -----------------------------------------------------

# $1 app dir, $2 user. stdin: the .env bytes. Written beside, then renamed.
_WRITE_ENV = r'''
set -eu
app=$1 user=$2
install -d -m 755 -o "$user" -g "$user" "$app"
install -d -m 700 -o "$user" -g "$user" "$app/instance" "$app/logs"
umask 077
cat > "$app/instance/.env.new"
chown "$user:$user" "$app/instance/.env.new"
chmod 600 "$app/instance/.env.new"
mv -f "$app/instance/.env.new" "$app/instance/.env"
'''


def write_env(app_dir: str, user: str) -> Argv:
    return sh(_WRITE_ENV, app_dir, user)


# Prints "MODE OWNER SHA256" of .env, or MISSING.
_STAT_ENV = r'''
f="$1/instance/.env"
if [ -f "$f" ]; then
  printf '%s %s ' "$(stat -c %a "$f")" "$(stat -c %U "$f")"
  sha256sum < "$f" | cut -d' ' -f1
else
  echo MISSING
fi
'''


def stat_env(app_dir: str) -> Argv:
    return sh(_STAT_ENV, app_dir)


# -- Removal -------------------------------------------------------------

# $1 app dir, $2.. subpaths. Removes them, then the app dir if nothing else is left.
# The app's resources are deleted in parallel, each ending here: the dir may be
# gone by the time this one's rmdir runs, which is what it wanted anyway.
_REMOVE = r'''
set -eu
app=$1; shift
[ -d "$app" ] || exit 0
for p in "$@"; do rm -rf -- "$app/$p"; done
rmdir --ignore-fail-on-non-empty -- "$app" 2>/dev/null || [ ! -e "$app" ] ||
  rmdir --ignore-fail-on-non-empty -- "$app"  # again, for its message
'''


def remove(app_dir: str, *subpaths: str) -> Argv:
    return sh(_REMOVE, app_dir, *subpaths)


# -- Host-wide lock ------------------------------------------------------

LOCK_FILE = "/run/lock/daunit-unit.lock"

# Holds an flock while the channel's stdin stays open; prints LOCKED once held.
# The holder's identity goes into a side file for the "who holds it" message.
_LOCK = r'''
exec 9>>"$1"
if ! flock -w "$2" 9; then
  echo "HELD-BY $(cat "$1.holder" 2>/dev/null || echo unknown)"
  exit 75
fi
printf '%s\n' "$3" > "$1.holder"
echo LOCKED
cat >/dev/null
'''


def hold_lock(timeout_s: int, holder: str, lock_file: str = LOCK_FILE) -> Argv:
    return sh(_LOCK, lock_file, str(timeout_s), holder)
