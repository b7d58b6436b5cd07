"""Remote steps as argv: pure functions, no I/O.

Each step is ONE command (one SSH round trip), never one per file. A step
that needs several shell operations is `sh -c SCRIPT sh ARG...`: the script is
a constant of this module and every variable part travels as a positional
parameter, so nothing a user typed is ever parsed by the remote shell.
Bulk or secret data travels on stdin.

Everything that touches an app's tree (/home/USER/...) runs AS THE SITE USER
(`as_site_user`): root checks the account and the domain, then drops to the
user with setpriv before the first path inside the tree is opened. A link or
a swapped directory the user planted can then only lead where the user could
already write (docs/security.md). Root keeps Unit's socket, DirectAdmin's data
and the host lock, none of them inside a user's tree.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from daunit.layout import (
    DA_USERS,
    ENTRY_POINT_MODE,
    ENV_FILE_MODE,
    FILE_MODE,
    LOCK_NAME,
    PRIVATE_DIR_MODE,
    TREE_DIR_MODE,
    USER_LOCK_DIR,
    VENV_COMPLETE,
    AppLayout,
    fmt_mode,
    links_arg,
)

# Named in daunit.remote.hostlock's messages.
from daunit.layout import LOCK_FILE as LOCK_FILE
from daunit.layout import USER_LOCK_FILE as USER_LOCK_FILE
from daunit.shipped import ENTRY_NAME

Argv = list[str]
T = TypeVar("T")

# Exit status of a step that refused to act (tampered tree, foreign domain,
# system account); its stderr lines starting with REFUSAL_PREFIX say why.
REFUSED = 65
REFUSAL_PREFIX = "da-flask: "


def sh(script: str, *args: str) -> Argv:
    return ["sh", "-c", script, "sh", *args]


@dataclass(frozen=True)
class Fact(Generic[T]):
    """A read of host state: ONE command paired with the pure parser of what it
    printed (configuration tools' "facts"; daunit.facts holds the doctor's).
    The parser gets the exit status too: for some reads "missing" is a
    status. With `check`, a status other than 0 is an error, not an answer."""

    argv: Argv
    parse: Callable[[int, bytes], T]
    check: bool = True


@dataclass(frozen=True)
class Site:
    """Whose tree a step works in: the DirectAdmin user and the app's dir.

    `domain` is checked against the user's DirectAdmin domains; when empty it
    is the DOMAIN of an app dir under HOME/domains/DOMAIN/.
    """

    user: str
    app_dir: str
    domain: str = ""
    # The stack that owns the app dir ("<project>/<stack>", daunit.ownership);
    # empty in the state of releases before the claim existed: no check then.
    owner: str = ""
    # This stack's owner before an update (a renamed stack): its claim is ours.
    previous_owner: str = ""
    # "root": SSH as root, steps drop to the user (as_site_user); "user": the
    # SSH login is the user itself (access: user), steps run as that login.
    access: str = "root"

    @classmethod
    def of(cls, props: Mapping[str, Any], olds: Mapping[str, Any] | None = None) -> Site:
        owner = str(props.get("owner") or "")
        previous = str((olds or {}).get("owner") or "")
        return cls(str(props["user"]), str(props["appDir"]), str(props.get("domain") or ""),
                   owner, previous if previous != owner else "", str(props.get("access") or "root"))

    @property
    def layout(self) -> AppLayout:
        return AppLayout(self.app_dir)


def refusal_message(stderr: str) -> str | None:
    """The reason a step refused (REFUSED exit status), from its stderr."""
    lines = [line[len(REFUSAL_PREFIX):] for line in stderr.splitlines()
             if line.startswith(REFUSAL_PREFIX)]
    return "; ".join(lines) if lines else None


# -- Root's part: who the site user is, and what they own -----------------

# Shell functions run as root. They read only root's files (passwd through
# getent, /etc/login.defs, DirectAdmin's data) and, without DirectAdmin's
# data, lstat one path: nothing here opens, writes or follows a path inside a
# user's tree.
_ROOT_CHECKS = f"DA_USERS={DA_USERS}\n" + r'''
set -eu
refuse() { printf 'da-flask: %s\n' "$*" >&2; exit 65; }
defs() { awk -v k="$1" '$1 == k { print $2; exit }' /etc/login.defs 2>/dev/null || true; }
check_user() {
  case $user in
    ''|-*|*[!a-z0-9_.-]*) refuse "daUser '$user' is not a valid account name";;
  esac
  entry=$(getent passwd -- "$user") || refuse "daUser $user: no such account on this host"
  IFS=: read -r _ _ uid gid _ home _ <<EOF
$entry
EOF
  uid_min=$(defs UID_MIN); uid_max=$(defs UID_MAX)
  uid_min=${uid_min:-1000}; uid_max=${uid_max:-60000}
  if [ "$uid" -eq 0 ] || [ "$uid" -lt "$uid_min" ] || [ "$uid" -gt "$uid_max" ]; then
    refuse "daUser $user is a system account (uid $uid; site users have uid $uid_min-$uid_max in /etc/login.defs): set daUser to the site's DirectAdmin user"
  fi
  case $home in /?*) ;; *) refuse "daUser $user has no home directory";; esac
}
check_app_dir() {
  case "$app/" in
    *//*|*/./*|*/../*) refuse "appDir $app must be a plain absolute path (no //, /./ or /../)";;
  esac
  case "$app/" in
    "$home"/?*) ;;
    *) refuse "appDir $app is not inside $user's home $home: put the app under $home/domains/DOMAIN/";;
  esac
}
check_domain() {
  d=$1
  case $d in
    ''|.*|*..*|*[!a-z0-9.-]*) refuse "domain '$d' is not a valid domain name";;
  esac
  if [ -d "$DA_USERS" ]; then
    list="$DA_USERS/$user/domains.list"
    [ -f "$list" ] || refuse "$user is not a DirectAdmin user on this host ($list does not exist)"
    if grep -qxF -- "$d" "$list"; then return 0; fi
    for other in "$DA_USERS"/*/domains.list; do
      if [ -f "$other" ] && grep -qxF -- "$d" "$other"; then
        owner=${other%/domains.list}; owner=${owner##*/}
        refuse "domain $d belongs to DirectAdmin user $owner, not to $user"
      fi
    done
    p=$d
    while case $p in *.*.*) true;; *) false;; esac; do
      p=${p#*.}
      if grep -qxF -- "$p" "$list"; then return 0; fi
    done
    refuse "domain $d does not belong to DirectAdmin user $user: neither it nor a parent domain is in $list (add the domain to $user in DirectAdmin first)"
  fi
  # No DirectAdmin data: the domain's directory must be the user's own.
  [ "$(stat -c '%u %F' -- "$home/domains/$d" 2>/dev/null)" = "$uid directory" ] ||
    refuse "domain $d: $home/domains/$d is not a directory owned by $user (without DirectAdmin's data, that is how the domain's owner is checked)"
}
'''

# $1 user, $2 app dir, $3 domain ("" : from the app dir), $4 domain|nodomain,
# $5 the owning stack ("" : unchecked), $6 its name before an update ("" : none),
# $7 the claim file, $8 the tree's directory mode, $9 the step's script,
# $10.. its arguments. Runs $9 as the user with $2 as its $1. setpriv, not su/runuser -l: no PAM, no login shell, no
# profile; the environment is rebuilt from nothing (env -i), so nothing of
# root's session reaches the user's process.
_AS_SITE_USER = _ROOT_CHECKS + r'''
user=$1 app=$2 domain=$3 mode=$4 claim=$5 claim_from=$6 claim_file=$7 tree_mode=$8 step=$9; shift 9
check_user
check_app_dir
case $claim_file in "$app"/[!/]*) ;; *) refuse "the claim file $claim_file is not in $app";; esac
if [ "$mode" = domain ]; then
  if [ -z "$domain" ]; then
    rest=${app#"$home/domains/"}
    [ "$rest" = "$app" ] || domain=${rest%%/*}
  fi
  [ -z "$domain" ] || check_domain "$domain"
fi
cd /
exec setpriv --reuid="$uid" --regid="$gid" --init-groups -- \
  env -i HOME="$home" USER="$user" LOGNAME="$user" LC_ALL=C DAFLASK_CLAIM="$claim" DAFLASK_CLAIM_FROM="$claim_from" \
  DAFLASK_CLAIM_FILE="$claim_file" DAFLASK_TREE_MODE="$tree_mode" PATH=/usr/local/bin:/usr/bin:/bin sh -c "$step" sh "$app" "$@"
'''


def as_site_user(site: Site, step: str, *args: str, check_domain: bool = True) -> Argv:
    """Run the constant script `step` as the site's user, `$1` being the app dir.

    Root first checks that the user is a real site account (not root, uid in
    login.defs' UID_MIN..UID_MAX), that the app dir lies in the user's home,
    and (check_domain) that the domain is the user's. Reads and removals skip
    the domain: they must still work after a domain moved away. In user mode
    (site.access "user") the SSH login already is the user: `_AS_SELF` checks
    that, and the same tree rules, and runs the step with no change of identity.
    """
    mode = "domain" if check_domain else "nodomain"
    wrapper = _AS_SELF if site.access == "user" else _AS_SITE_USER
    return sh(wrapper, site.user, site.app_dir, site.domain, mode, site.owner, site.previous_owner,
              site.layout.owner_file, fmt_mode(TREE_DIR_MODE), step, *args)


# User mode (access: user): the same arguments as _AS_SITE_USER, run by the
# user's own SSH login. No root anywhere: the login must be daUser, the app
# dir in its home, and the domain's directory one it owns (DirectAdmin's data
# is not readable by a user; CMD_UNIT refuses a domain that is not theirs).
_AS_SELF = r'''
set -eu
refuse() { printf 'da-flask: %s\n' "$*" >&2; exit 65; }
user=$1 app=$2 domain=$3 mode=$4 claim=$5 claim_from=$6 claim_file=$7 tree_mode=$8 step=$9; shift 9
me=$(id -un)
[ "$me" = "$user" ] || refuse "access: user runs every step as daUser $user, but this SSH login is $me: set sshUser to $user (or leave it out)"
home=$(getent passwd -- "$user" | cut -d: -f6)
case $home in /?*) ;; *) refuse "daUser $user has no home directory";; esac
case "$app/" in
  *//*|*/./*|*/../*) refuse "appDir $app must be a plain absolute path (no //, /./ or /../)";;
  "$home"/?*) ;;
  *) refuse "appDir $app is not inside $user's home $home: put the app under $home/domains/DOMAIN/";;
esac
case $claim_file in "$app"/[!/]*) ;; *) refuse "the claim file $claim_file is not in $app";; esac
if [ "$mode" = domain ]; then
  if [ -z "$domain" ]; then rest=${app#"$home/domains/"}; [ "$rest" = "$app" ] || domain=${rest%%/*}; fi
  case $domain in ''|.*|*..*|*[!a-z0-9.-]*) refuse "domain '$domain' is not a valid domain name";; esac
  [ ! -L "$home/domains/$domain" ] && [ "$(stat -c '%u %F' -- "$home/domains/$domain" 2>/dev/null)" = "$(id -u) directory" ] ||
    refuse "domain $domain: $home/domains/$domain is not a directory of $user's (add the domain to $user in DirectAdmin first)"
fi
cd /
exec env -i HOME="$home" USER="$user" LOGNAME="$user" LC_ALL=C DAFLASK_CLAIM="$claim" DAFLASK_CLAIM_FROM="$claim_from" \
  DAFLASK_CLAIM_FILE="$claim_file" DAFLASK_TREE_MODE="$tree_mode" PATH=/usr/local/bin:/usr/bin:/bin sh -c "$step" sh "$app" "$@"
'''


# -- The site user's part: constant scripts run by as_site_user ------------

# Shared by every step below. `own_dir DIR [MODE]` refuses a link or a
# non-directory where da-flask keeps a directory, rather than working through
# it; MODE is the tree's (DAFLASK_TREE_MODE) unless given.
_USER_PRELUDE = r'''
set -eu
umask 022
refuse() { printf 'da-flask: %s\n' "$*" >&2; exit 65; }
own_dir() {
  if [ -L "$1" ]; then
    refuse "$1 is a symbolic link, not the directory da-flask keeps there: remove the link (rm '$1'), check what it pointed at, and run pulumi up again"
  fi
  if [ -e "$1" ] && [ ! -d "$1" ]; then
    refuse "$1 is not a directory: move it away and run pulumi up again"
  fi
  [ -d "$1" ] || mkdir -p -- "$1"
  chmod "${2:-$DAFLASK_TREE_MODE}" -- "$1"
}
# "SHA256  ./path" lines, sorted, for every regular file of the current
# directory (links are not followed; bytecode the app writes is not part of
# a release). Plain lines, not `sha256sum -z`, which older coreutils lack:
# a shipped name never holds a newline or a backslash (manifest.py), the two
# characters sha256sum escapes.
list_files() {
  find . -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | xargs -0 -r sha256sum -- | sort
}
# Entries a release must not hold: links other than its own ($1, "NAME=TARGET
# ...", layout.links_arg), and anything neither a file nor a directory. Same format.
odd_entries() {
  links=$1; set --
  for spec in $links; do
    l=${spec%%=*}
    if [ "$(readlink -- "$l" 2>/dev/null || true)" != "${spec#*=}" ]; then
      printf 'not-the-link-to-%s  ./%s\n' "${spec#*=}" "$l"
    fi
    set -- "$@" ! -path "./$l"
  done
  find . ! -type f ! -type d "$@" -print0 |
    xargs -0 -r -n 1 sh -c 'printf "not-a-regular-file  %s\n" "$1"' sh
}
# The release's links ($1, as odd_entries takes them), made in the current directory.
make_links() {
  for spec in $1; do ln -s -- "${spec#*=}" "${spec%%=*}"; done
}
# The stack that owns the app dir, kept in its claim file (DAFLASK_CLAIM_FILE,
# layout.owner_file): another stack deploying (or destroying) an app with the
# same dir is refused before it writes anything. Written by the first step
# that finds the dir there.
claim_app() {
  [ -n "${DAFLASK_CLAIM:-}" ] && [ -d "$1" ] && [ ! -L "$1" ] || return 0
  f=$DAFLASK_CLAIM_FILE
  if [ ! -e "$f" ] && [ ! -L "$f" ]; then
    # Whole or not at all: the first steps of one deploy run at once, and a
    # half-written claim must never be read as someone else's.
    tmp=$(mktemp "$f.XXXXXX")
    printf '%s\n' "$DAFLASK_CLAIM" > "$tmp"
    ln -- "$tmp" "$f" 2>/dev/null || true
    rm -f -- "$tmp"
  fi
  if [ -L "$f" ] || [ ! -f "$f" ]; then
    refuse "$f is not a plain file: remove it and run pulumi up again"
  fi
  have=$(head -n 1 -- "$f")
  [ "$have" != "$DAFLASK_CLAIM" ] || return 0
  if [ -n "${DAFLASK_CLAIM_FROM:-}" ] && [ "$have" = "$DAFLASK_CLAIM_FROM" ]; then
    tmp=$(mktemp "$f.XXXXXX")  # this stack, renamed
    printf '%s\n' "$DAFLASK_CLAIM" > "$tmp"
    mv -f -- "$tmp" "$f"
    return 0
  fi
  refuse "$1 belongs to da-flask stack $have, not to $DAFLASK_CLAIM: give this app another name or domain, or remove it from stack $have first"
}
claim_app "$1"
'''

# -- Release -------------------------------------------------------------

# A release's file modes (the manifest's), as finish_release sets them.
_RELEASE_MODES = (fmt_mode(FILE_MODE), fmt_mode(ENTRY_POINT_MODE))


def _release_paths(site: Site, release_id: str) -> list[str]:
    """The paths every release step takes after the app dir: the release,
    its incoming tree, the manifest beside it, the stale place and the links."""
    layout = site.layout
    return [layout.release_dir(release_id), layout.incoming_dir(release_id),
            layout.incoming_manifest(release_id), layout.stale_dir(release_id), links_arg()]


# $1 app dir, $2 releases dir, $3 the new release's dir, $4 its incoming dir,
# $5 the manifest beside it, $6 the stale dir (unused here), $7 the links,
# $8 the previous release's dir ("" if none). stdin: the manifest as
# "SHA256  ./path" lines.
# Prints EXISTS when the new release already matches the manifest exactly.
# Otherwise builds the incoming tree from the files of the new release (a
# repair) or of the previous one whose content matches the manifest (hard
# links, verified by hash: unchanged files cost no transfer), prints BUILD
# and then, one a line, the paths still to upload.
# With $app $rel $new $tmp $saved $links $prev set and read_manifest defined
# (it writes the manifest to stdout): cleans leftovers, reads the manifest,
# picks the tree to link from ($src: the release itself, else the previous
# one; never a link) and lists it ($work/have). Prints EXISTS and exits when
# the release is there whole; else makes the incoming tree and the manifest
# copy upload_and_finish checks.
_RELEASE_START = r'''
own_dir "$app"
# A dir this step made: the prelude found nothing to claim. In a subshell:
# claim_app sets variables of its own ($tmp).
(claim_app "$app")
own_dir "$rel"
# Leftovers of an interrupted deploy (a deploy's work in releases/ is named
# .*): one deploy per app runs at a time (Pulumi's stack lock), so any is dead.
find "$rel" -mindepth 1 -maxdepth 1 -name '.*' -exec rm -rf -- {} +
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
read_manifest > "$work/manifest"
sort < "$work/manifest" > "$work/want"
src=
for d in "$new" "$prev"; do
  if [ -n "$d" ] && [ -d "$d" ] && [ ! -L "$d" ]; then src=$d; break; fi
done
: > "$work/have"
if [ -n "$src" ]; then (cd "$src" && list_files) > "$work/have"; fi
if [ "$src" = "$new" ] && cmp -s "$work/want" "$work/have" &&
   [ -z "$(cd "$src" && odd_entries "$links" | head -c 1)" ]; then
  echo EXISTS
  exit 0
fi
mkdir -m "$DAFLASK_TREE_MODE" -- "$tmp"
# For upload_and_finish, which checks it against the hash it is given.
cp -- "$work/manifest" "$saved"
'''

_PREPARE_RELEASE = _USER_PRELUDE + r'''
app=$1 rel=$2 new=$3 tmp=$4 saved=$5 links=$7 prev=$8
read_manifest() { cat; }
''' + _RELEASE_START + r'''
comm -12 "$work/want" "$work/have" | cut -c67- > "$work/link"
if [ -n "$src" ]; then (cd "$src" && xargs -d '\n' -r cp -P -l --parents -t "$tmp" --) < "$work/link"; fi
echo BUILD
comm -23 "$work/want" "$work/have" | cut -c67-
'''


def prepare_release(site: Site, release_id: str, previous_id: str) -> Argv:
    previous = site.layout.release_dir(previous_id) if previous_id else ""
    return as_site_user(site, _PREPARE_RELEASE, site.layout.releases_dir,
                        *_release_paths(site, release_id), previous)


def manifest_records(files: Mapping[str, str]) -> bytes:
    """The stdin of prepare_release/finish_release: path -> sha256 as
    `sha256sum` prints it ("SHA256  ./path" lines)."""
    return b"".join(f"{digest}  ./{path}\n".encode() for path, digest in sorted(files.items()))


def parse_prepare(output: bytes) -> tuple[str, list[str]]:
    """("EXISTS", []) or ("BUILD", paths to upload) from prepare_release's output."""
    head, _, rest = output.partition(b"\n")
    state = head.decode().strip()
    paths = [p.decode("utf-8", "surrogateescape").removeprefix("./")
             for p in rest.split(b"\n") if p]
    return state, paths


# With $new $tmp $saved $stale $links $entry (the entry point, relative),
# $fmode and $emode (the modes of files and of the entry point) set
# and the manifest on stdin: sets the modes, checks the whole incoming tree
# against the manifest, and only then puts it in place (replacing a damaged
# release of the same id).
_FINISH_BODY = r'''
if [ -L "$tmp" ] || [ ! -d "$tmp" ]; then
  refuse "$tmp was replaced or removed during the deploy; run pulumi up again"
fi
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
sort > "$work/want"
cd "$tmp"
make_links "$links"
find . -type d -exec chmod "$DAFLASK_TREE_MODE" {} +
find . -type f -exec chmod "$fmode" {} +
if [ -f "$entry" ] && [ ! -L "$entry" ]; then chmod "$emode" -- "$entry"; fi
list_files > "$work/have"
odd=$(odd_entries "$links" | tr '\n' ' ')
if ! cmp -s "$work/want" "$work/have" || [ -n "$odd" ]; then
  diff=$(comm -3 "$work/want" "$work/have" | cut -c67- | tr '\n' ' ' | head -c 400)
  refuse "the new release does not match the source after the upload (${diff}${odd}): something changed it during the deploy; run pulumi up again"
fi
cd /
if [ -e "$new" ] || [ -L "$new" ]; then
  # A damaged release of the same id: swap the verified one in.
  mv -T -- "$new" "$stale"
  mv -T -- "$tmp" "$new"
  rm -rf -- "$stale"
else
  mv -T -- "$tmp" "$new"
fi
rm -f -- "$saved"  # prepare_release's copy, for upload_and_finish
'''
# $1 app dir, $2..$6 as _release_paths, $7 the entry point, $8 $9 the modes.
# stdin: the manifest.
_FINISH_RELEASE = _USER_PRELUDE + 'new=$2 tmp=$3 saved=$4 stale=$5 links=$6 entry=$7 fmode=$8 emode=$9\n' + \
    _FINISH_BODY


def finish_release(site: Site, release_id: str, entry_point: str) -> Argv:
    return as_site_user(site, _FINISH_RELEASE, *_release_paths(site, release_id), entry_point, *_RELEASE_MODES)


# $1 app dir, $2..$6 as _release_paths, $7 the entry point, $8 $9 the modes,
# $10 the manifest's sha256, $11 the upload's extracting script, $12.. its
# arguments. stdin: the upload. The upload and finish_release in one command (one round trip
# fewer): the manifest is the copy prepare_release left beside the incoming
# tree, used only when its hash is the one the deploying machine computed.
_UPLOAD_AND_FINISH = _USER_PRELUDE + r'''
new=$2 tmp=$3 saved=$4 stale=$5 links=$6 entry=$7 fmode=$8 emode=$9 sum=${10} extract=${11}; shift 11
sh -c "$extract" sh "$@"
if [ -L "$saved" ] || [ ! -f "$saved" ] ||
   [ "$(sha256sum < "$saved" | cut -d' ' -f1)" != "$sum" ]; then
  refuse "$saved was changed or removed during the deploy; run pulumi up again"
fi
exec < "$saved"
''' + _FINISH_BODY


# The host's side of an upload (daunit.remote.transfer): unpack the gzipped tar
# on stdin into $1 (created if missing), modes exactly as archived (-p).
# $1 dest dir, then tar's ownership option.
_EXTRACT = 'd=$1; shift; mkdir -p -- "$d" && exec tar -x -z -p -f - -C "$d" "$@"'
# The same, owned by $2/$3 (either may be empty). GNU tar falls back to the
# numeric id (ours: 0) for unknown names: check first, so a typo never leaves
# root-owned files behind.
_EXTRACT_OWNED = (
    'd=$1; o=$2; g=$3; shift 3; '
    '{ [ -z "$o" ] || id -u -- "$o" >/dev/null; } && '
    '{ [ -z "$g" ] || getent group -- "$g" >/dev/null || { echo "no such group: $g" >&2; false; }; } && '
    'mkdir -p -- "$d" && exec tar -x -z -p -f - -C "$d" "$@"'
)


def extract(dest_dir: str, owner: str | None = None, group: str | None = None) -> tuple[str, list[str]]:
    """(script, args) that unpack an upload's stream into dest_dir (see _EXTRACT)."""
    if not (owner or group):
        return _EXTRACT, [dest_dir, "--no-same-owner"]
    return _EXTRACT_OWNED, [dest_dir, owner or "", group or "", "--same-owner"]


def upload_and_finish(site: Site, release_id: str, entry_point: str, records: bytes,
                      extract: str, extract_args: Sequence[str]) -> Argv:
    """The argv of an upload (`extract`, the script of hostops.extract) that
    finishes the release (finish_release) in the same command."""
    digest = hashlib.sha256(records).hexdigest()
    return as_site_user(site, _UPLOAD_AND_FINISH, *_release_paths(site, release_id), entry_point,
                        *_RELEASE_MODES, digest, extract, *extract_args)


# prepare_release, the upload and finish_release in one command (two round
# trips fewer): $1 app dir, $2 releases dir, $3..$7 as _release_paths, $8 the
# previous release's dir (or ""), $9 the entry point, $10 $11 the modes, $12
# the manifest's length in bytes, $13 the upload's extracting script (into
# $4), $14.. its arguments. stdin: the manifest, then the upload of the files
# the deploying machine expects the host to lack (those not in the previous
# release's manifest). The upload is unpacked into the empty incoming tree
# first; only then are the paths it did not bring hard-linked from the
# previous release (never a path the upload wrote: no write reaches an inode
# of a live release). Prints EXISTS (the release is there whole: the upload is
# not read), NEED and the paths still missing (the incoming tree and the
# manifest copy stay for upload_and_finish), or DONE after finish_release's
# check and swap-in.
_DEPLOY_RELEASE = _USER_PRELUDE + r'''
app=$1 rel=$2 new=$3 tmp=$4 saved=$5 stale=$6 links=$7 prev=$8 entry=$9 fmode=${10} emode=${11}
size=${12} extract=${13}; shift 13
read_manifest() { head -c "$size"; }
''' + _RELEASE_START + r'''
sh -c "$extract" sh "$@"
(cd "$tmp" && find . ! -type d) | sort > "$work/sent"
comm -12 "$work/want" "$work/have" | cut -c67- | sort | comm -23 - "$work/sent" > "$work/link"
if [ -n "$src" ]; then (cd "$src" && xargs -d '\n' -r cp -P -l --parents -t "$tmp" --) < "$work/link"; fi
(cd "$tmp" && list_files) > "$work/now"
if ! cmp -s "$work/want" "$work/now"; then
  echo NEED
  comm -23 "$work/want" "$work/now" | cut -c67-
  exit 0
fi
echo DONE
rm -rf -- "$work"  # finish_release's part makes its own
exec < "$saved"
''' + _FINISH_BODY


def deploy_release(site: Site, release_id: str, previous_id: str, entry_point: str, records: bytes,
                   extract: str, extract_args: Sequence[str]) -> Argv:
    """The argv of prepare_release, an upload and finish_release in one command
    (stdin: ``records``, then the upload); its output is read by parse_deploy."""
    previous = site.layout.release_dir(previous_id) if previous_id else ""
    return as_site_user(site, _DEPLOY_RELEASE, site.layout.releases_dir, *_release_paths(site, release_id),
                        previous, entry_point, *_RELEASE_MODES, str(len(records)), extract, *extract_args)


def parse_deploy(output: bytes) -> tuple[str, list[str]]:
    """("EXISTS" or "DONE", []) or ("NEED", paths still to upload) from deploy_release's output."""
    return parse_prepare(output)


# $1 app dir, $2 the release's dir, $3 its links. Prints the release as
# list_files does, plus odd_entries (a swapped-in link shows as a changed
# file); nothing for a release that is itself a link; exits 3 when it is missing.
_RELEASE_FILES = _USER_PRELUDE + r'''
d=$2
if [ -L "$d" ]; then exit 0; fi
[ -d "$d" ] || exit 3
cd "$d"
list_files
odd_entries "$3"
'''


def _parse_release_files(status: int, output: bytes) -> dict[str, str] | None:
    if status != 0:
        return None
    files: dict[str, str] = {}
    for record in output.split(b"\n"):
        digest, _, path = record.decode("utf-8", "surrogateescape").partition("  ")
        path = path.removeprefix("./")
        if digest and path:
            files[path] = digest
    return files


def release_files(site: Site, release_id: str) -> Fact[dict[str, str] | None]:
    """What the release holds (path -> sha256, odd entries as odd "digests"), or
    None when it is missing."""
    argv = as_site_user(site, _RELEASE_FILES, site.layout.release_dir(release_id), links_arg(),
                        check_domain=False)
    return Fact(argv, _parse_release_files, check=False)


# $1 app dir: the space left where it lies, as `df -P` prints it (KiB).
_FREE_SPACE = 'df -Pk -- "$1"'


def _parse_free_kib(_status: int, output: bytes) -> int | None:
    lines = output.decode("utf-8", "replace").splitlines()
    fields = lines[-1].split() if len(lines) > 1 else []
    return int(fields[3]) if len(fields) > 3 and fields[3].isdigit() else None


def free_space(site: Site) -> Fact[int | None]:
    """KiB free on the app dir's file system; None when df could not tell."""
    return Fact(as_site_user(site, _FREE_SPACE, check_domain=False), _parse_free_kib, check=False)


# With $app $rdir (the release's dir) $current $staging $target set: points
# `current` at the release. Atomic: rename over the link.
_SWITCH_BODY = r'''
[ ! -L "$app" ] || refuse "$app is a symbolic link, not the app's directory: remove it and run pulumi up again"
if [ -L "$rdir" ] || [ ! -d "$rdir" ]; then
  refuse "$rdir is not the release directory da-flask made: run pulumi up --refresh to repair it"
fi
if [ -d "$current" ] && [ ! -L "$current" ]; then
  refuse "$current is a directory, not the link da-flask keeps there: move it away and run pulumi up again"
fi
rm -f -- "$staging"
ln -s "$target" "$staging"
mv -T -- "$staging" "$current"
'''

# With $releases $venvs $keep set: removes releases and venvs beyond the
# newest $keep, except the ones named in "$@". Which venvs old releases use is
# not knowable here, so venvs are pruned by the same rule: newest N plus the
# live ones. Housekeeping only: a releases/ or venvs/ that is not a plain
# directory is left alone, never followed, and so is a deploy's work (.*).
_PRUNE_BODY = r'''
for d in "$releases" "$venvs"; do
  if [ -L "$d" ] || [ ! -d "$d" ]; then continue; fi
  ls -1t -- "$d" | grep -v '^\.' | tail -n +"$((keep + 1))" | while IFS= read -r old; do
    live=0
    for k in "$@"; do [ "$old" = "$k" ] && live=1; done
    [ $live = 1 ] || rm -rf -- "$d/$old"
  done
done
'''

# $1 app dir, $2 the release's dir, $3 `current`, $4 the new link's staging
# name, $5 its target, $6 releases dir, $7 venvs dir, $8 how many to keep,
# $9.. release ids / venv keys that must stay. Switch, then prune: one round trip.
_SWITCH_AND_PRUNE = _USER_PRELUDE + r'''
app=$1 rdir=$2 current=$3 staging=$4 target=$5 releases=$6 venvs=$7 keep=$8; shift 8
''' + _SWITCH_BODY + _PRUNE_BODY


def switch_and_prune(site: Site, release_id: str, keep: int, live: Sequence[str]) -> Argv:
    layout = site.layout
    return as_site_user(site, _SWITCH_AND_PRUNE, layout.release_dir(release_id), layout.current_link,
                        layout.current_staging, layout.current_target(release_id), layout.releases_dir,
                        layout.venvs_dir, str(keep), *live)


# -- Virtualenv ----------------------------------------------------------

# Run by the site's python with the base venv's path: makes it as `python -m
# venv` would (the same files, pip and setuptools from the interpreter's own
# wheels), in about two thirds of the time. ensurepip runs pip from its wheel
# file, where no module's bytecode can be cached, and pip then compiles every
# file it installs one after the other; here pip runs from the wheel unpacked
# inside the new venv (no bytecode written), installs without compiling, and
# compileall compiles on every core. Exits non-zero when the interpreter does
# not name its wheel files: `python -m venv` then.
MAKE_BASE_VENV = r'''
import ensurepip, os, shutil, subprocess, sys, tempfile, venv, zipfile


def wheels():
    get = getattr(ensurepip, "_get_packages", None)
    found = {}
    for name, package in (get() if get else {}).items():
        path = getattr(package, "wheel_path", None)
        if not path and getattr(package, "wheel_name", None):
            path = os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", package.wheel_name)
        if not path or not os.path.isfile(path):
            sys.exit(f"no wheel file for {name}")
        found[name] = (package.version, path)
    if "pip" not in found:
        sys.exit("no pip wheel")
    return found


class Builder(venv.EnvBuilder):
    def post_setup(self, context):
        python = getattr(context, "env_exec_cmd", context.env_exe)
        scratch = tempfile.mkdtemp(prefix=".bootstrap-", dir=context.env_dir)
        links, source = os.path.join(scratch, "wheels"), os.path.join(scratch, "pip")
        os.mkdir(links)
        for _version, path in found.values():
            os.symlink(path, os.path.join(links, os.path.basename(path)))
        # The package only, not its .dist-info: a pip that sees itself installed
        # on PYTHONPATH would not install itself into the venv.
        with zipfile.ZipFile(found["pip"][1]) as wheel:
            wheel.extractall(source, [n for n in wheel.namelist() if n.startswith("pip/")])
        env = dict(os.environ, PYTHONPATH=source, PYTHONDONTWRITEBYTECODE="1")
        env.pop("PYTHONHOME", None)
        subprocess.run([python, "-W", "ignore::DeprecationWarning", "-m", "pip", "install", "-q",
                        "--no-cache-dir", "--no-index", "--no-compile", "--find-links", links,
                        *(f"{name}=={version}" for name, (version, _path) in sorted(found.items()))],
                       env=env, cwd=context.env_dir, stdout=sys.stderr, check=True)
        shutil.rmtree(scratch)
        purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        # As pip does, a file that does not compile is left without bytecode.
        subprocess.run([python, "-m", "compileall", "-q", "-j", "0", purelib], stdout=sys.stderr, check=False)


found = wheels()  # before anything is made: none, and `python -m venv` does it all
Builder(symlinks=os.name != "nt", with_pip=False).create(sys.argv[1])
'''


# $1 app dir, $2 venvs dir, $3 the venv's dir, $4 python, $5 the live venv's
# dir ("" : none), $6 the name of the marker (layout.VENV_COMPLETE) written
# in a venv only after pip succeeded: nothing points at a venv before it has one.
# stdin: requirements.txt.
#
# A requirements change seeds the new venv from the live one instead of
# starting empty: a fresh `venv --without-pip` (its own bin/python links and
# pyvenv.cfg), the live venv's other trees (lib/, include/, share/ ...) as
# hard links, and bin/'s scripts written anew with this venv's path in their
# shebangs; then `pip install -r` fetches and installs only the difference.
# Hard links are safe against pip: it unlinks a file before writing one at
# its path, moves files aside to uninstall them, and replaces RECORD and the
# other metadata by rename, so a pip run here never writes into an inode the
# live venv uses (Python's .pyc writes are renames too). bin/ is copied, not
# linked. The seed is skipped (a full build instead) when the live venv is
# incomplete or a link, or its pyvenv.cfg names another interpreter. A full
# build seeds from the user's base venv (base_venv below) the same way.
# pip runs only when the requirement lines changed, and the leftover check
# only when pip may have left something the new requirements do not need.
_BUILD_VENV = _USER_PRELUDE + r'''
app=$1 venvs=$2 venv=$3 python=$4 live=$5 marker=$6
own_dir "$app"
own_dir "$venvs"
if [ ! -L "$venv" ] && [ -f "$venv/$marker" ]; then cat >/dev/null; echo REUSED; exit 0; fi
# Venvs without the marker are interrupted builds: nothing points at them.
for d in "$venvs"/*; do
  if [ ! -L "$d" ] && [ -d "$d" ] && [ ! -f "$d/$marker" ]; then rm -rf -- "$d"; fi
done
rm -rf -- "$venv"
mkdir -m "$DAFLASK_TREE_MODE" -- "$venv"
cat > "$venv/.requirements.txt"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
# --no-warn-conflicts: pip's scan of every installed distribution after an
# install only prints warnings (the resolution of -r already failed on a real
# conflict); it changes nothing that gets installed.
PIP_INSTALL="-q --no-warn-conflicts -r"
failed() { rm -rf -- "$venv"; exit 3; }
# $1 the live venv. Fills $venv from it; fails (leaving $venv to be emptied) when it cannot.
seed_from() {
  "$python" -m venv --without-pip "$venv" >&2 || return 1
  [ "$(grep -v '^command' -- "$1/pyvenv.cfg")" = "$(grep -v '^command' -- "$venv/pyvenv.cfg")" ] || return 1
  for e in "$1"/*; do
    n=${e##*/}
    case $n in bin|pyvenv.cfg|lib64) continue;; esac
    cp -a -l -- "$e" "$venv/" || return 1
  done
  "$venv/bin/python" -c "$REBIN" "$1" "$venv"
}
# bin/'s scripts of the live venv ($1) written into $2/bin, their shebangs
# naming $2: one Python for all of them. Links, dotfiles and what the fresh
# venv already has (python, activate ...) are left out.
REBIN=$(cat <<'PY'
import os, shutil, sys

old, new = sys.argv[1:]
for name in sorted(os.listdir(old + "/bin")):
    src, dst = f"{old}/bin/{name}", f"{new}/bin/{name}"
    if name.startswith(".") or os.path.lexists(dst) or os.path.islink(src) or not os.path.isfile(src):
        continue
    with open(src, "rb") as f:
        data = f.read()
    if data.startswith(b"#!"):
        with open(dst, "xb") as f:
            f.write(data.replace(old.encode() + b"/bin/", new.encode() + b"/bin/"))
        os.chmod(dst, 0o755)
    else:
        shutil.copy2(src, dst)
PY
)
# The distributions a venv ($1) holds: "pythonX.Y/site-packages/NAME-VERSION.dist-info"
# lines, sorted. A venv records its own in .dists once built.
dists() {
  find "$1/lib" -mindepth 3 -maxdepth 3 \( -name '*.dist-info' -o -name '*.egg-info' \) -printf '%P\n' | LC_ALL=C sort
}
# The requirements of a requirements file ($1): its lines without comments,
# blanks and outer spaces, sorted, each once. Fails when the file holds more
# than plain requirements (options, -r, -e, --hash, continued lines): then
# nothing is concluded from its text.
req_lines() {
  [ -f "$1" ] || return 1
  ! grep -q -e '^[[:space:]]*-' -e '[[:space:]]-' -e '\\[[:space:]]*$' -- "$1" || return 1
  sed -e 's/^#.*//' -e 's/[[:space:]]#.*//' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e '/^$/d' -- "$1" | LC_ALL=C sort -u
}
# The lines of $1 that are not lines of $2.
only_in() { printf '%s\n%s\n%s\n' "$1" "$2" "$2" | LC_ALL=C sort | uniq -u; }
# The user's base venv: one holding only what `python -m venv` installs (pip
# and setuptools, which ensurepip unpacks and compiles: seconds), made once
# per user and interpreter in ~/.cache/da-flask and then seeded from like a
# live venv, so a full build costs hard links and `pip install -r`. Its name
# hashes the interpreter and what ensurepip would install now: a new pip in
# the interpreter, a new base. Made by MAKE_BASE (the same venv, in less
# time), else by `python -m venv`. Prints its path; fails when none can be made.
base_venv() {
  [ -n "${HOME:-}" ] && desc=$("$python" -c "$ENSUREPIP" "$python") || return 1
  root="$HOME/.cache/da-flask/venv-base"
  base="$root/$(printf '%s' "$desc" | sha256sum | cut -c1-16)"
  mkdir -p -- "$root" || return 1
  (
    flock -w 600 9 || exit 1
    if [ -L "$base" ] || [ ! -f "$base/$marker" ]; then
      { rm -rf -- "$base" && { "$python" -c "$MAKE_BASE" "$base" >&2 ||
          { rm -rf -- "$base" && "$python" -m venv "$base" >&2; }; } && : > "$base/.requirements.txt" &&
        dists "$base" > "$base/.dists" && touch "$base/$marker"; } || { rm -rf -- "$base"; exit 1; }
    fi
  ) 9> "$root/.lock" || return 1
  printf '%s\n' "$base"
}
# What a fresh `python -m venv` of $1 would install (ensurepip's packages, and
# the wheel files they come from when the interpreter names them).
ENSUREPIP=$(cat <<'PY'
import ensurepip, os, sys

get = getattr(ensurepip, "_get_packages", None)
packages = get() if get else {"pip": ensurepip.version()}
print(sys.argv[1], sys.version)
for name, package in sorted(packages.items()):
    path = getattr(package, "wheel_path", None) or ""
    stat = os.stat(path) if path and os.path.isfile(path) else None
    print(name, getattr(package, "version", package), path, stat and (stat.st_size, stat.st_mtime_ns))
PY
)
MAKE_BASE=$(cat <<'PY'
''' + MAKE_BASE_VENV + r'''PY
)
LEFTOVERS=$(cat <<'PY'
import sys
from importlib import metadata
from pip._vendor.packaging.requirements import InvalidRequirement, Requirement
from pip._vendor.packaging.utils import canonicalize_name

NESTED = {"-e", "--editable", "-r", "--requirement", "-c", "--constraint"}


def top_level(path):
    """The requirements' own lines; None when pip's file holds more than
    plain requirements (includes, editables, paths): nothing is removed then."""
    reqs = []
    for raw in open(path, encoding="utf-8"):
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            if line.split()[0].split("=")[0] in NESTED:
                return None
            continue
        try:
            reqs.append(Requirement(line.split(" --")[0]))
        except InvalidRequirement:
            return None
    return reqs


def needed(reqs):
    need, seen, todo = set(), set(), [(r, ("",)) for r in reqs]
    while todo:
        req, extras = todo.pop()
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in extras):
            continue
        name = canonicalize_name(req.name)
        need.add(name)
        key = (name, tuple(sorted(req.extras)))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue
        todo.extend((Requirement(d), ("",) + key[1]) for d in dist.requires or [])
    return need


reqs = top_level(sys.argv[1])
if reqs is not None:
    keep = needed(reqs) | {"pip", "setuptools", "wheel"}
    names = {canonicalize_name(d.metadata["Name"] or "") for d in metadata.distributions()}
    print("\n".join(sorted(n for n in names if n and n not in keep)))
PY
)
how=BUILT
if [ -n "$live" ] && [ "$live" != "$venv" ] && [ ! -L "$live" ] && [ -f "$live/$marker" ]; then
  if seed_from "$live"; then
    how=SEEDED seed=$live
  else
    find "$venv" -mindepth 1 ! -name .requirements.txt -delete
  fi
fi
# No live venv to start from: the user's base venv is one (only pip and setuptools).
if [ $how = BUILT ] && base=$(base_venv); then
  if seed_from "$base"; then
    how=SEEDED seed=$base
  else
    find "$venv" -mindepth 1 ! -name .requirements.txt -delete
  fi
fi
if [ $how = SEEDED ]; then
  # What pip and the leftover check can skip, proven from the two texts: the
  # seed holds exactly its own requirements' build (the distributions it
  # recorded once built are still the ones it has), so with the same lines
  # there is nothing to install or remove, and when lines were only added
  # nothing can be left over unless pip replaced a distribution of the seed
  # (another version may need fewer packages).
  plan=check
  if old=$(req_lines "$seed/.requirements.txt") && new=$(req_lines "$venv/.requirements.txt") &&
     [ -f "$seed/.dists" ] && seeded=$(dists "$venv") && [ "$seeded" = "$(cat -- "$seed/.dists")" ]; then
    if [ "$old" = "$new" ]; then plan=none
    elif [ -z "$(only_in "$old" "$new")" ]; then plan=added
    fi
  fi
  if [ $plan != none ]; then
    "$venv/bin/python" -m pip install $PIP_INSTALL "$venv/.requirements.txt" >&2 || failed
  fi
  if [ $plan = added ] && [ -z "$(only_in "$seeded" "$(dists "$venv")")" ]; then plan=none; fi
  # What the seed brought and the requirements no longer need goes, as in a
  # venv built from nothing; if pip cannot remove it, the venv is built anew.
  if [ $plan != none ] && { ! leftovers=$("$venv/bin/python" -c "$LEFTOVERS" "$venv/.requirements.txt") ||
     { [ -n "$leftovers" ] && ! printf '%s\n' "$leftovers" | xargs "$venv/bin/python" -m pip uninstall -q -y >&2; }; }; then
    find "$venv" -mindepth 1 ! -name .requirements.txt -delete
    how=BUILT
  fi
fi
if [ $how = BUILT ]; then
  "$python" -m venv "$venv" >&2 || failed
  "$venv/bin/python" -m pip install $PIP_INSTALL "$venv/.requirements.txt" >&2 || failed
fi
dists "$venv" > "$venv/.dists"
touch "$venv/$marker"
echo $how
'''


def build_venv(site: Site, venv_key: str, python: str, seed_key: str = "") -> Argv:
    """Build venvs/<venv_key> (REUSED, SEEDED or BUILT on stdout); `seed_key`
    names the live venv to start from when the interpreter is the same."""
    layout = site.layout
    seed = layout.venv_dir(seed_key) if seed_key else ""
    return as_site_user(site, _BUILD_VENV, layout.venvs_dir, layout.venv_dir(venv_key), python, seed,
                        VENV_COMPLETE)


# $1 app dir, $2 venvs dir, $3 the venv's dir, $4 the marker's name.
_VENV_BUILT = _USER_PRELUDE + r'''
[ ! -L "$2" ] && [ ! -L "$3" ] && [ -f "$3/$4" ]
'''


def venv_built(site: Site, venv_key: str) -> Fact[bool]:
    """Whether the venv is there, complete and no link."""
    argv = as_site_user(site, _VENV_BUILT, site.layout.venvs_dir, site.layout.venv_dir(venv_key),
                        VENV_COMPLETE, check_domain=False)
    return Fact(argv, lambda status, _out: status == 0, check=False)


# -- Instance config -----------------------------------------------------

# $1 app dir, $2 instance dir, $3 logs dir, $4 the .env file, $5 the dirs'
# mode, $6 the file's. stdin: the .env bytes. Created under a fresh,
# unpredictable name (mktemp: O_EXCL, mode 600) in an instance dir checked not
# to be a link, then renamed over .env (a rename replaces a link, never follows it).
_WRITE_ENV = _USER_PRELUDE + r'''
app=$1 inst=$2 logs=$3 env=$4 dmode=$5 fmode=$6
own_dir "$app"
own_dir "$inst" "$dmode"
own_dir "$logs" "$dmode"
umask 077
tmp=$(mktemp -- "$env.XXXXXXXXXXXX")
if ! cat > "$tmp"; then rm -f -- "$tmp"; exit 1; fi
chmod "$fmode" -- "$tmp"
mv -f -T -- "$tmp" "$env"
'''


def write_env(site: Site) -> Argv:
    layout = site.layout
    return as_site_user(site, _WRITE_ENV, layout.instance_dir, layout.logs_dir, layout.env_file,
                        fmt_mode(PRIVATE_DIR_MODE), fmt_mode(ENV_FILE_MODE))


# $1 app dir, $2 instance dir, $3 the .env file, $4 the instance dir's mode.
# Prints "MODE OWNER SHA256" of .env, or MISSING (also when the instance dir or
# .env is a link, or the dir is open to others: the next write repairs it).
_ENV_FILE = _USER_PRELUDE + r'''
i=$2 f=$3
if [ ! -L "$i" ] && [ "$(stat -c %a -- "$i" 2>/dev/null)" = "$4" ] && [ ! -L "$f" ] && [ -f "$f" ]; then
  printf '%s %s ' "$(stat -c %a -- "$f")" "$(stat -c %U -- "$f")"
  sha256sum < "$f" | cut -d' ' -f1
else
  echo MISSING
fi
'''


@dataclass(frozen=True)
class EnvFile:
    mode: int
    owner: str
    sha256: str


def _parse_env_file(_status: int, output: bytes) -> EnvFile | None:
    words = output.decode().split()
    if len(words) != 3 or not words[0].isdigit():
        return None
    return EnvFile(int(words[0], 8), words[1], words[2])


def env_file(site: Site) -> Fact[EnvFile | None]:
    """The .env file's mode, owner and hash; None when it is missing, a link,
    or in an instance dir open to others."""
    layout = site.layout
    argv = as_site_user(site, _ENV_FILE, layout.instance_dir, layout.env_file,
                        fmt_mode(PRIVATE_DIR_MODE), check_domain=False)
    return Fact(argv, _parse_env_file)


# -- Commands in a release (release commands, one-off commands) ----------

# $1 app dir, $2 releases dir, $3 the release's dir, $4 venvs dir, $5 the
# venv's dir, $6 the venv's marker name, $7 the entry module's file name,
# $8 merged|split, $9.. the command.
# Runs it in the release, with the venv first on PATH, through da-flask's
# entry module, which loads instance/.env into the environment: secrets
# never travel in this command line. `merged` sends the command's output
# to stderr too, so a failure's message carries it (masked). A release or
# venv that is a link, or not what da-flask made, is refused, not entered.
_RUN_IN_RELEASE = _USER_PRELUDE + r"""
app=$1 releases=$2 rel=$3 venvs=$4 venv=$5 marker=$6 entry=$7 output=$8; shift 8
for d in "$app" "$releases" "$rel" "$venvs" "$venv"; do
  if [ -L "$d" ] || [ ! -d "$d" ]; then
    refuse "$d is not the directory da-flask made: run pulumi up to make or repair it"
  fi
done
[ -f "$venv/$marker" ] || refuse "the virtualenv $venv is incomplete: run pulumi up to rebuild it"
if [ -L "$rel/$entry" ] || [ ! -f "$rel/$entry" ]; then
  refuse "release ${rel##*/} has no $entry (deployed by an older da-flask): run pulumi up first"
fi
cd "$rel"
PATH="$venv/bin:$PATH" VIRTUAL_ENV=$venv PYTHONPATH=$rel
export PATH VIRTUAL_ENV PYTHONPATH
if [ "$output" = merged ]; then exec 1>&2; fi
exec "$venv/bin/python" "$entry" run -- "$@"
"""


def run_in_release(site: Site, release_id: str, venv_key: str, command: Sequence[str], *,
                   merge_output: bool = False) -> Argv:
    """Run `command` as the site user in the release with its venv and the
    app's environment (from instance/.env, loaded by the entry module)."""
    if not command:
        raise ValueError("run_in_release needs a command")
    mode = "merged" if merge_output else "split"
    layout = site.layout
    return as_site_user(site, _RUN_IN_RELEASE, layout.releases_dir, layout.release_dir(release_id),
                        layout.venvs_dir, layout.venv_dir(venv_key), VENV_COMPLETE, ENTRY_NAME, mode,
                        *command)


# -- Removal -------------------------------------------------------------

# $1 app dir, $2.. paths inside it. Removes them, then the app dir if nothing
# but its claim file (DAFLASK_CLAIM_FILE) is left.
# The app's resources are deleted in parallel, each ending here: the dir may be
# gone by the time this one's rmdir runs, which is what it wanted anyway.
_REMOVE = _USER_PRELUDE + r'''
app=$1; shift
if [ -L "$app" ]; then
  refuse "$app is a symbolic link, not the app's directory: nothing removed through it; remove the link yourself"
fi
[ -d "$app" ] || exit 0
for p in "$@"; do
  case "$p/" in
    *//*|*/./*|*/../*) refuse "$p is not a plain path: nothing removed";;
    "$app"/?*) rm -rf -- "$p";;
    *) refuse "$p is not inside $app: nothing removed";;
  esac
done
# The claim goes with the last of the app's parts (its resources are removed in parallel).
if [ "$(ls -A -- "$app")" = "${DAFLASK_CLAIM_FILE##*/}" ]; then rm -f -- "$DAFLASK_CLAIM_FILE"; fi
rmdir --ignore-fail-on-non-empty -- "$app" 2>/dev/null || [ ! -e "$app" ] ||
  rmdir --ignore-fail-on-non-empty -- "$app"  # again, for its message
'''


def remove(site: Site, *paths: str) -> Argv:
    """Remove `paths` (the site's layout's) and then the app dir, once empty."""
    return as_site_user(site, _REMOVE, *paths, check_domain=False)


# -- DirectAdmin's Unit storage (root mode on a DirectAdmin server) ---------

# Root reads and writes DirectAdmin's own per-domain Unit storage
# (daunit/directadmin.py): DA_USERS/USER/domains/DOMAIN.unit/N.json and
# DOMAIN.routes/DOMAIN. That tree is DirectAdmin's (root or diradmin), never a
# site user's; still, a link or a directory of anyone else where it is expected
# is refused rather than followed. The DirectAdmin binary is run by its fixed path.
_DA_STORAGE_PRELUDE = _ROOT_CHECKS + r"""
user=$1 domain=$2; shift 2
check_user
check_domain "$domain"
base="$DA_USERS/$user/domains"
for p in "$DA_USERS" "$DA_USERS/$user" "$base"; do
  [ -d "$p" ] && [ ! -L "$p" ] || refuse "$p is not a directory of DirectAdmin's (a link, or missing)"
  case $(stat -c %U -- "$p") in root|diradmin) ;; *) refuse "$p is not owned by root or diradmin";; esac
done
kind_dir() {
  d="$base/$domain.$1"
  if [ -e "$d" ] || [ -L "$d" ]; then
    [ -d "$d" ] && [ ! -L "$d" ] || refuse "$d is not a directory (a link?): not followed"
    case $(stat -c %U -- "$d") in root|diradmin) ;; *) refuse "$d is not owned by root or diradmin";; esac
  fi
}
"""

# $1 user, $2 domain, $3 the app's stored name N: prints `@@app` and the stored
# app, `@@routes` and the domain's routes file (each empty when absent).
_DA_READ_STORAGE = _DA_STORAGE_PRELUDE + r"""
name=$1
kind_dir unit; kind_dir routes
printf '@@app\n'
f="$base/$domain.unit/$name.json"
[ -f "$f" ] && [ ! -L "$f" ] && cat -- "$f"
printf '\n@@routes\n'
f="$base/$domain.routes/$domain"
[ -f "$f" ] && [ ! -L "$f" ] && cat -- "$f"
exit 0
"""


def da_read_storage(user: str, domain: str, name: str) -> Argv:
    """The stored app N and the domain's stored routes, in one command."""
    return sh(_DA_READ_STORAGE, user, domain, name)


# $1 user, $2 domain, $3 unit|routes, $4 file name, $5 a DirectAdmin task to run
# after ("" none); the file's new content on stdin (empty: the file is removed).
# Written whole (a temp file renamed into place), mode 600, owned as the folder is.
_DA_WRITE_STORAGE = _DA_STORAGE_PRELUDE + r"""
kind=$1 file=$2 task=$3
case $kind in unit|routes) ;; *) refuse "storage kind '$kind' is not unit or routes";; esac
case $file in ''|.*|*/*) refuse "storage file name '$file' is not a plain name";; esac
kind_dir "$kind"
dir="$base/$domain.$kind"
umask 077
tmp="$base/.$domain.$kind.daflask.$$"
cat > "$tmp"
if [ -s "$tmp" ]; then
  [ -d "$dir" ] || { mkdir -m 700 -- "$dir"; chown --reference="$base" -- "$dir"; }
  chown --reference="$base" -- "$tmp"
  chmod 600 -- "$tmp"
  mv -f -T -- "$tmp" "$dir/$file"
else
  rm -f -- "$tmp"
  [ ! -e "$dir/$file" ] || rm -f -- "$dir/$file"
fi
if [ -n "$task" ]; then
  /usr/local/directadmin/directadmin taskq --run "$task" >&2 ||
    refuse "DirectAdmin's task '$task' failed (see above)"
fi
"""


def da_write_storage(user: str, domain: str, kind: str, file: str, task: str = "") -> Argv:
    """Write (content on stdin) or remove (empty stdin) one stored file, then run `task`."""
    return sh(_DA_WRITE_STORAGE, user, domain, kind, file, task)


# -- Host-wide lock ------------------------------------------------------

# Holds an flock while the channel's stdin stays open; prints LOCKED once held.
# The holder's identity goes into a side file for the "who holds it" message.
_LOCK_HOLD = r'''exec 9>>"$1"
if ! flock -w "$2" 9; then
  echo "HELD-BY $(cat "$1.holder" 2>/dev/null || echo unknown)"
  exit 75
fi
printf '%s\n' "$3" > "$1.holder"
echo LOCKED
cat >/dev/null
'''
_LOCK = r'''
dir=${1%/*}
mkdir -p -m 700 -- "$dir"
if [ -L "$dir" ] || [ "$(stat -c %u -- "$dir")" != 0 ]; then
  echo "da-flask: $dir is not a directory of root's; refusing to lock there" >&2
  exit 65
fi
''' + _LOCK_HOLD

# User mode (access: user) has no root: the lock of one DirectAdmin user's deploys
# (two stacks routing the same domain through CMD_UNIT) lives in their own home.
# $1 its dir there, $2 timeout, $3 holder, $4 the lock's name.
_USER_LOCK = r'''
dir="$HOME/$1"
mkdir -p -m 700 -- "$dir"
if [ -L "$dir" ] || [ "$(stat -c %u -- "$dir")" != "$(id -u)" ]; then
  echo "da-flask: $dir is not a directory of $(id -un)'s; refusing to lock there" >&2
  exit 65
fi
set -- "$dir/$4" "$2" "$3"
''' + _LOCK_HOLD


def hold_lock(timeout_s: int, holder: str, lock_file: str = LOCK_FILE, *, user_mode: bool = False) -> Argv:
    if user_mode:
        return sh(_USER_LOCK, USER_LOCK_DIR, str(timeout_s), holder, LOCK_NAME)
    return sh(_LOCK, lock_file, str(timeout_s), holder)


def _constant_scripts() -> frozenset[str]:
    """Every script constant of this module (`_NAME = r'''...'''`)."""
    return frozenset(value for name, value in globals().items()
                     if name.startswith("_") and name[1:].replace("_", "").isupper()
                     and isinstance(value, str))


# For the argv secret guard (daunit.remote.commands): a script of this module is
# code, not data, even where it travels as a positional argument (the site
# user's step inside `as_site_user`).
CONSTANT_SCRIPTS = _constant_scripts()
