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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Argv = list[str]

# Exit status of a step that refused to act (tampered tree, foreign domain,
# system account); its stderr lines starting with REFUSAL_PREFIX say why.
REFUSED = 65
REFUSAL_PREFIX = "da-flask: "

# Where DirectAdmin keeps its per-user data (domains.list, user.conf).
DA_USERS = "/usr/local/directadmin/data/users"


def sh(script: str, *args: str) -> Argv:
    return ["sh", "-c", script, "sh", *args]


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
# $7 the step's script, $8.. its arguments. Runs $5 as the user with
# $2 as its $1. setpriv, not su/runuser -l: no PAM, no login shell, no
# profile; the environment is rebuilt from nothing (env -i), so nothing of
# root's session reaches the user's process.
_AS_SITE_USER = _ROOT_CHECKS + r'''
user=$1 app=$2 domain=$3 mode=$4 claim=$5 claim_from=$6 step=$7; shift 7
check_user
check_app_dir
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
  PATH=/usr/local/bin:/usr/bin:/bin sh -c "$step" sh "$app" "$@"
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
              step, *args)


# User mode (access: user): the same arguments as _AS_SITE_USER, run by the
# user's own SSH login. No root anywhere: the login must be daUser, the app
# dir in its home, and the domain's directory one it owns (DirectAdmin's data
# is not readable by a user; CMD_UNIT refuses a domain that is not theirs).
_AS_SELF = r'''
set -eu
refuse() { printf 'da-flask: %s\n' "$*" >&2; exit 65; }
user=$1 app=$2 domain=$3 mode=$4 claim=$5 claim_from=$6 step=$7; shift 7
me=$(id -un)
[ "$me" = "$user" ] || refuse "access: user runs every step as daUser $user, but this SSH login is $me: set sshUser to $user (or leave it out)"
home=$(getent passwd -- "$user" | cut -d: -f6)
case $home in /?*) ;; *) refuse "daUser $user has no home directory";; esac
case "$app/" in
  *//*|*/./*|*/../*) refuse "appDir $app must be a plain absolute path (no //, /./ or /../)";;
  "$home"/?*) ;;
  *) refuse "appDir $app is not inside $user's home $home: put the app under $home/domains/DOMAIN/";;
esac
if [ "$mode" = domain ]; then
  if [ -z "$domain" ]; then rest=${app#"$home/domains/"}; [ "$rest" = "$app" ] || domain=${rest%%/*}; fi
  case $domain in ''|.*|*..*|*[!a-z0-9.-]*) refuse "domain '$domain' is not a valid domain name";; esac
  [ ! -L "$home/domains/$domain" ] && [ "$(stat -c '%u %F' -- "$home/domains/$domain" 2>/dev/null)" = "$(id -u) directory" ] ||
    refuse "domain $domain: $home/domains/$domain is not a directory of $user's (add the domain to $user in DirectAdmin first)"
fi
cd /
exec env -i HOME="$home" USER="$user" LOGNAME="$user" LC_ALL=C DAFLASK_CLAIM="$claim" DAFLASK_CLAIM_FROM="$claim_from" \
  PATH=/usr/local/bin:/usr/bin:/bin sh -c "$step" sh "$app" "$@"
'''


# $1 user, $2.. domains: exits 0 when every domain is the user's.
_CHECK_DOMAINS = _ROOT_CHECKS + r'''
user=$1; shift
check_user
for d; do check_domain "$d"; done
'''


def check_domains(user: str, *domains: str) -> Argv:
    """Root-only check (no tree access) that `domains` belong to `user`,
    for steps that route a domain without touching the tree."""
    return sh(_CHECK_DOMAINS, user, *domains)


# -- The site user's part: constant scripts run by as_site_user ------------

# Shared by every step below. `own_dir` refuses a link or a non-directory
# where da-flask keeps a directory, rather than working through it.
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
  chmod "$2" -- "$1"
}
# "SHA256  ./path" lines, sorted, for every regular file of the current
# directory (links are not followed; bytecode the app writes is not part of
# a release). Plain lines, not `sha256sum -z`, which older coreutils lack:
# a shipped name never holds a newline or a backslash (manifest.py), the two
# characters sha256sum escapes.
list_files() {
  find . -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | xargs -0 -r sha256sum -- | sort
}
# Entries a release must not hold: links other than its own instance/ and
# logs/ links, and anything neither a file nor a directory. Same format.
odd_entries() {
  for l in instance logs; do
    if [ "$(readlink -- "$l" 2>/dev/null || true)" != "../../$l" ]; then
      printf 'not-the-link-to-../../%s  ./%s\n' "$l" "$l"
    fi
  done
  find . ! -type f ! -type d ! -path ./instance ! -path ./logs -print0 |
    xargs -0 -r -n 1 sh -c 'printf "not-a-regular-file  %s\n" "$1"' sh
}
# The stack that owns the app dir, kept in .daflask-owner: another stack
# deploying (or destroying) an app with the same dir is refused before it
# writes anything. Written by the first step that finds the dir there.
claim_app() {
  [ -n "${DAFLASK_CLAIM:-}" ] && [ -d "$1" ] && [ ! -L "$1" ] || return 0
  f="$1/.daflask-owner"
  if [ ! -e "$f" ] && [ ! -L "$f" ]; then
    # Whole or not at all: the first steps of one deploy run at once, and a
    # half-written claim must never be read as someone else's.
    tmp=$(mktemp "$1/.daflask-owner.XXXXXX")
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
    tmp=$(mktemp "$1/.daflask-owner.XXXXXX")  # this stack, renamed
    printf '%s\n' "$DAFLASK_CLAIM" > "$tmp"
    mv -f -- "$tmp" "$f"
    return 0
  fi
  refuse "$1 belongs to da-flask stack $have, not to $DAFLASK_CLAIM: give this app another name or domain, or remove it from stack $have first"
}
claim_app "$1"
'''

# -- Release -------------------------------------------------------------

# $1 app dir, $2 new release id, $3 previous release id ("" if none).
# stdin: the manifest as "SHA256  ./path" lines.
# Prints EXISTS when releases/<new> already matches the manifest exactly.
# Otherwise builds releases/.incoming-<new> from the files of releases/<new>
# (a repair) or of the previous release whose content matches the manifest
# (hard links, verified by hash: unchanged files cost no transfer), prints
# BUILD and then, one a line, the paths still to upload.
_PREPARE_RELEASE = _USER_PRELUDE + r'''
app=$1 new=$2 prev=$3 rel="$1/releases"
own_dir "$app" 755
own_dir "$rel" 755
# Leftovers of an interrupted deploy: one deploy per app runs at a time
# (Pulumi's stack lock), so any incoming or stale tree here is dead.
for old in "$rel"/.incoming-* "$rel"/.stale-*; do
  if [ -e "$old" ] || [ -L "$old" ]; then rm -rf -- "$old"; fi
done
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
cat > "$work/manifest"
sort < "$work/manifest" > "$work/want"
src=
for id in "$new" "$prev"; do
  if [ -n "$id" ] && [ -d "$rel/$id" ] && [ ! -L "$rel/$id" ]; then src="$rel/$id"; break; fi
done
: > "$work/have"
if [ -n "$src" ]; then (cd "$src" && list_files) > "$work/have"; fi
if [ "$src" = "$rel/$new" ] && cmp -s "$work/want" "$work/have" &&
   [ -z "$(cd "$src" && odd_entries | head -c 1)" ]; then
  echo EXISTS
  exit 0
fi
tmp="$rel/.incoming-$new"
mkdir -m 755 -- "$tmp"
# For upload_and_finish, which checks it against the hash it is given.
cp -- "$work/manifest" "$tmp.manifest"
comm -12 "$work/want" "$work/have" | cut -c67- > "$work/link"
if [ -n "$src" ]; then (cd "$src" && xargs -d '\n' -r cp -P -l --parents -t "$tmp" --) < "$work/link"; fi
echo BUILD
comm -23 "$work/want" "$work/have" | cut -c67-
'''


def prepare_release(site: Site, release_id: str, previous_id: str) -> Argv:
    return as_site_user(site, _PREPARE_RELEASE, release_id, previous_id)


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


# $1 app dir, $2 release id, $3 entry point (relative). stdin: the manifest.
# Sets the modes, checks the whole tree against the manifest, and only then
# puts it in place (replacing a damaged release of the same id).
_FINISH_BODY = r'''
tmp="$rel/.incoming-$new"
if [ -L "$tmp" ] || [ ! -d "$tmp" ]; then
  refuse "$tmp was replaced or removed during the deploy; run pulumi up again"
fi
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
sort > "$work/want"
cd "$tmp"
ln -s ../../instance instance
ln -s ../../logs logs
find . -type d -exec chmod 755 {} +
find . -type f -exec chmod 644 {} +
if [ -f "$entry" ] && [ ! -L "$entry" ]; then chmod 755 -- "$entry"; fi
list_files > "$work/have"
odd=$(odd_entries | tr '\n' ' ')
if ! cmp -s "$work/want" "$work/have" || [ -n "$odd" ]; then
  diff=$(comm -3 "$work/want" "$work/have" | cut -c67- | tr '\n' ' ' | head -c 400)
  refuse "the new release does not match the source after the upload (${diff}${odd}): something changed it during the deploy; run pulumi up again"
fi
cd /
if [ -e "$rel/$new" ] || [ -L "$rel/$new" ]; then
  # A damaged release of the same id: swap the verified one in.
  mv -T -- "$rel/$new" "$rel/.stale-$new"
  mv -T -- "$tmp" "$rel/$new"
  rm -rf -- "$rel/.stale-$new"
else
  mv -T -- "$tmp" "$rel/$new"
fi
rm -f -- "$tmp.manifest"  # prepare_release's copy, for upload_and_finish
'''
_FINISH_RELEASE = _USER_PRELUDE + 'app=$1 new=$2 entry=$3 rel="$1/releases"\n' + _FINISH_BODY


def finish_release(site: Site, release_id: str, entry_point: str) -> Argv:
    return as_site_user(site, _FINISH_RELEASE, release_id, entry_point)


# $1 app dir, $2 release id, $3 entry point, $4 the manifest's sha256,
# $5 the upload's extracting script, $6.. its arguments. stdin: the upload.
# The upload and finish_release in one command (one round trip fewer): the
# manifest is the copy prepare_release left beside the incoming tree, used
# only when its hash is the one the deploying machine computed.
_UPLOAD_AND_FINISH = _USER_PRELUDE + r'''
app=$1 new=$2 entry=$3 sum=$4 extract=$5 rel="$1/releases"; shift 5
sh -c "$extract" sh "$@"
saved="$rel/.incoming-$new.manifest"
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
    return as_site_user(site, _UPLOAD_AND_FINISH, release_id, entry_point, digest, extract, *extract_args)


def incoming_dir(app_dir: str, release_id: str) -> str:
    return f"{app_dir}/releases/.incoming-{release_id}"


# $1 app dir, $2 release id. Prints the release as list_files does, plus
# odd_entries (a swapped-in link shows as a changed file); nothing for a
# release that is itself a link; exits 3 when it is missing.
_HASH_TREE = _USER_PRELUDE + r'''
d="$1/releases/$2"
if [ -L "$d" ]; then exit 0; fi
[ -d "$d" ] || exit 3
cd "$d"
list_files
odd_entries
'''


def hash_tree(site: Site, release_id: str) -> Argv:
    return as_site_user(site, _HASH_TREE, release_id, check_domain=False)


def parse_hash_tree(output: bytes) -> dict[str, str]:
    files: dict[str, str] = {}
    for record in output.split(b"\n"):
        digest, _, path = record.decode("utf-8", "surrogateescape").partition("  ")
        path = path.removeprefix("./")
        if digest and path:
            files[path] = digest
    return files


# Points `current` at releases/$id ($app and $id set). Atomic: rename over the link.
_SWITCH_BODY = r'''
[ ! -L "$app" ] || refuse "$app is a symbolic link, not the app's directory: remove it and run pulumi up again"
if [ -L "$app/releases/$id" ] || [ ! -d "$app/releases/$id" ]; then
  refuse "$app/releases/$id is not the release directory da-flask made: run pulumi up --refresh to repair it"
fi
if [ -d "$app/current" ] && [ ! -L "$app/current" ]; then
  refuse "$app/current is a directory, not the link da-flask keeps there: move it away and run pulumi up again"
fi
rm -f -- "$app/.current-new"
ln -s "releases/$id" "$app/.current-new"
mv -T -- "$app/.current-new" "$app/current"
'''

# Removes releases and venvs beyond the newest $keep ($app and $keep set),
# except the ones named in "$@". Which venvs old releases use is not knowable
# here, so venvs are pruned by the same rule: newest N plus the live ones.
# Housekeeping only: a releases/ or venvs/ that is not a plain directory is
# left alone, never followed.
_PRUNE_BODY = r'''
for kind in releases venvs; do
  d="$app/$kind"
  if [ -L "$d" ] || [ ! -d "$d" ]; then continue; fi
  ls -1t -- "$d" | grep -v '^\.' | tail -n +"$((keep + 1))" | while IFS= read -r old; do
    live=0
    for k in "$@"; do [ "$old" = "$k" ] && live=1; done
    [ $live = 1 ] || rm -rf -- "$d/$old"
  done
done
'''

# $1 app dir, $2 release id to point `current` at.
_SWITCH_CURRENT = _USER_PRELUDE + "app=$1 id=$2\n" + _SWITCH_BODY


def switch_current(site: Site, release_id: str) -> Argv:
    return as_site_user(site, _SWITCH_CURRENT, release_id)


# $1 app dir, $2 how many to keep, $3.. release ids / venv keys that must stay.
_PRUNE = _USER_PRELUDE + "app=$1 keep=$2; shift 2\n" + _PRUNE_BODY


def prune(site: Site, keep: int, live: Sequence[str]) -> Argv:
    return as_site_user(site, _PRUNE, str(keep), *live, check_domain=False)


# $1 app dir, $2 release id, $3 how many to keep, $4.. what must stay.
# switch_current then prune in one command: one round trip after a switch.
_SWITCH_AND_PRUNE = _USER_PRELUDE + "app=$1 id=$2 keep=$3; shift 3\n" + _SWITCH_BODY + _PRUNE_BODY


def switch_and_prune(site: Site, release_id: str, keep: int, live: Sequence[str]) -> Argv:
    return as_site_user(site, _SWITCH_AND_PRUNE, release_id, str(keep), *live)


# -- Virtualenv ----------------------------------------------------------

# $1 app dir, $2 venv key, $3 python, $4 the live venv's key ("" : none).
# stdin: requirements.txt. The `.complete` marker is written only after pip
# succeeded, and nothing points at a venv before it has one.
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
# incomplete or a link, or its pyvenv.cfg names another interpreter.
_BUILD_VENV = _USER_PRELUDE + r'''
app=$1 key=$2 python=$3 seed=$4
own_dir "$app" 755
own_dir "$app/venvs" 755
venv="$app/venvs/$key"
if [ ! -L "$venv" ] && [ -f "$venv/.complete" ]; then cat >/dev/null; echo REUSED; exit 0; fi
# Venvs without the marker are interrupted builds: nothing points at them.
for d in "$app/venvs"/*; do
  if [ ! -L "$d" ] && [ -d "$d" ] && [ ! -f "$d/.complete" ]; then rm -rf -- "$d"; fi
done
rm -rf -- "$venv"
mkdir -m 755 -- "$venv"
cat > "$venv/.requirements.txt"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
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
  for e in "$1"/bin/*; do
    n=${e##*/} out="$venv/bin/${e##*/}"
    if [ -e "$out" ] || [ -L "$out" ] || [ -L "$e" ] || [ ! -f "$e" ]; then continue; fi
    if [ "$(head -c 2 -- "$e")" = '#!' ]; then
      "$venv/bin/python" -c 'import sys; o, n, s, d = sys.argv[1:]; open(d, "wb").write(open(s, "rb").read().replace(o.encode() + b"/bin/", n.encode() + b"/bin/"))' \
        "$1" "$venv" "$e" "$out" || return 1
      chmod 755 -- "$out"
    else
      cp -p -- "$e" "$out" || return 1
    fi
  done
}
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
live="$app/venvs/$seed"
if [ -n "$seed" ] && [ "$seed" != "$key" ] && [ ! -L "$live" ] && [ -f "$live/.complete" ]; then
  if seed_from "$live"; then
    how=SEEDED
  else
    find "$venv" -mindepth 1 ! -name .requirements.txt -delete
  fi
fi
if [ $how = SEEDED ]; then
  "$venv/bin/python" -m pip install -q -r "$venv/.requirements.txt" >&2 || failed
  # What the seed brought and the requirements no longer need goes, as in a
  # venv built from nothing; if pip cannot remove it, the venv is built anew.
  if ! leftovers=$("$venv/bin/python" -c "$LEFTOVERS" "$venv/.requirements.txt") ||
     { [ -n "$leftovers" ] && ! printf '%s\n' "$leftovers" | xargs "$venv/bin/python" -m pip uninstall -q -y >&2; }; then
    find "$venv" -mindepth 1 ! -name .requirements.txt -delete
    how=BUILT
  fi
fi
if [ $how = BUILT ]; then
  "$python" -m venv "$venv" >&2 || failed
  "$venv/bin/python" -m pip install -q -r "$venv/.requirements.txt" >&2 || failed
fi
touch "$venv/.complete"
echo $how
'''


def build_venv(site: Site, venv_key: str, python: str, seed_key: str = "") -> Argv:
    """Build venvs/<venv_key> (REUSED, SEEDED or BUILT on stdout); `seed_key`
    names the live venv to start from when the interpreter is the same."""
    return as_site_user(site, _BUILD_VENV, venv_key, python, seed_key)


_VENV_COMPLETE = _USER_PRELUDE + r'''
[ ! -L "$1/venvs" ] && [ ! -L "$1/venvs/$2" ] && [ -f "$1/venvs/$2/.complete" ]
'''


def venv_complete(site: Site, venv_key: str) -> Argv:
    return as_site_user(site, _VENV_COMPLETE, venv_key, check_domain=False)


# -- Instance config -----------------------------------------------------

# $1 app dir. stdin: the .env bytes. Created under a fresh, unpredictable
# name (mktemp: O_EXCL, mode 600) in an instance/ checked not to be a link,
# then renamed over .env (a rename replaces a link, never follows it).
_WRITE_ENV = _USER_PRELUDE + r'''
app=$1
own_dir "$app" 755
own_dir "$app/instance" 700
own_dir "$app/logs" 700
umask 077
tmp=$(mktemp -- "$app/instance/.env.XXXXXXXXXXXX")
if ! cat > "$tmp"; then rm -f -- "$tmp"; exit 1; fi
chmod 600 -- "$tmp"
mv -f -T -- "$tmp" "$app/instance/.env"
'''


def write_env(site: Site) -> Argv:
    return as_site_user(site, _WRITE_ENV)


# Prints "MODE OWNER SHA256" of .env, or MISSING (also when instance/ or
# .env is a link, or instance/ is open to others: the next write repairs it).
_STAT_ENV = _USER_PRELUDE + r'''
i="$1/instance" f="$1/instance/.env"
if [ ! -L "$i" ] && [ "$(stat -c %a -- "$i" 2>/dev/null)" = 700 ] && [ ! -L "$f" ] && [ -f "$f" ]; then
  printf '%s %s ' "$(stat -c %a -- "$f")" "$(stat -c %U -- "$f")"
  sha256sum < "$f" | cut -d' ' -f1
else
  echo MISSING
fi
'''


def stat_env(site: Site) -> Argv:
    return as_site_user(site, _STAT_ENV, check_domain=False)


# -- Commands in a release (release commands, one-off commands) ----------

# $1 app dir, $2 release id, $3 venv key, $4 merged|split, $5.. the command.
# Runs it in the release, with the venv first on PATH, through da-flask's
# entry module, which loads instance/.env into the environment: secrets
# never travel in this command line. `merged` sends the command's output
# to stderr too, so a failure's message carries it (masked). A release or
# venv that is a link, or not what da-flask made, is refused, not entered.
_RUN_IN_RELEASE = _USER_PRELUDE + r"""
app=$1 id=$2 key=$3 output=$4; shift 4
rel="$app/releases/$id" venv="$app/venvs/$key"
for d in "$app" "$app/releases" "$rel" "$app/venvs" "$venv"; do
  if [ -L "$d" ] || [ ! -d "$d" ]; then
    refuse "$d is not the directory da-flask made: run pulumi up to make or repair it"
  fi
done
[ -f "$venv/.complete" ] || refuse "the virtualenv $venv is incomplete: run pulumi up to rebuild it"
if [ -L "$rel/_daflask_entry.py" ] || [ ! -f "$rel/_daflask_entry.py" ]; then
  refuse "release $id has no _daflask_entry.py (deployed by an older da-flask): run pulumi up first"
fi
cd "$rel"
PATH="$venv/bin:$PATH" VIRTUAL_ENV=$venv PYTHONPATH=$rel
export PATH VIRTUAL_ENV PYTHONPATH
if [ "$output" = merged ]; then exec 1>&2; fi
exec "$venv/bin/python" _daflask_entry.py run -- "$@"
"""


def run_in_release(site: Site, release_id: str, venv_key: str, command: Sequence[str], *,
                   merge_output: bool = False) -> Argv:
    """Run `command` as the site user in the release with its venv and the
    app's environment (from instance/.env, loaded by the entry module)."""
    if not command:
        raise ValueError("run_in_release needs a command")
    mode = "merged" if merge_output else "split"
    return as_site_user(site, _RUN_IN_RELEASE, release_id, venv_key, mode, *command)


# -- Removal -------------------------------------------------------------

# $1 app dir, $2.. subpaths. Removes them, then the app dir if nothing else is left.
# The app's resources are deleted in parallel, each ending here: the dir may be
# gone by the time this one's rmdir runs, which is what it wanted anyway.
_REMOVE = _USER_PRELUDE + r'''
app=$1; shift
if [ -L "$app" ]; then
  refuse "$app is a symbolic link, not the app's directory: nothing removed through it; remove the link yourself"
fi
[ -d "$app" ] || exit 0
for p in "$@"; do rm -rf -- "$app/$p"; done
# The claim goes with the last of the app's parts (its resources are removed in parallel).
if [ "$(ls -A -- "$app")" = .daflask-owner ]; then rm -f -- "$app/.daflask-owner"; fi
rmdir --ignore-fail-on-non-empty -- "$app" 2>/dev/null || [ ! -e "$app" ] ||
  rmdir --ignore-fail-on-non-empty -- "$app"  # again, for its message
'''


def remove(site: Site, *subpaths: str) -> Argv:
    return as_site_user(site, _REMOVE, *subpaths, check_domain=False)


# -- Host-wide lock ------------------------------------------------------

# In a directory only root can write (/run is root's, 755): in /run/lock
# (1777) any user could plant the lock or its holder file as a link that
# root's open would follow.
LOCK_DIR = "/run/daunit"
LOCK_FILE = f"{LOCK_DIR}/unit.lock"

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
USER_LOCK_FILE = "~/.daflask/unit.lock"
_USER_LOCK = r'''
dir="$HOME/.daflask"
mkdir -p -m 700 -- "$dir"
if [ -L "$dir" ] || [ "$(stat -c %u -- "$dir")" != "$(id -u)" ]; then
  echo "da-flask: $dir is not a directory of $(id -un)'s; refusing to lock there" >&2
  exit 65
fi
set -- "$dir/unit.lock" "$2" "$3"
''' + _LOCK_HOLD


def hold_lock(timeout_s: int, holder: str, lock_file: str = LOCK_FILE, *, user_mode: bool = False) -> Argv:
    if user_mode:
        return sh(_USER_LOCK, USER_LOCK_FILE, str(timeout_s), holder)
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
