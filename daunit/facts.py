"""What a host is, read in one command: the facts `python -m daunit.doctor` judges.

Modelled on configuration tools' "facts": each fact is a section of the output of ONE
remote command (a constant script, the variable parts as positional arguments, see
daunit/hostops.py) paired with a pure parser here. The script only reads: files under
/etc, DirectAdmin's tree and /proc, `getent`, `ss`, and DirectAdmin's own read-only
commands (`directadmin version`, `directadmin config-get`).

Sections are printed as `@@NAME [ARG]` lines followed by their text; `split_sections`
cuts the output back into them.
"""
from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from daunit.hostops import Fact, sh
from daunit.layout import DA_ROOT, DA_USERS, domains_dir

# $1 DirectAdmin user, $2 the stack's Unit control socket, $3 the user's domains dir
# (layout.domains_dir), $4.. the apps' domains.
# Every section starts on a line of its own ("\n@@"), whatever the previous one printed.
_HOST_FACTS = f"da={DA_ROOT} users={DA_USERS}\n" + r'''
user=$1 sock=$2 sites=$3; shift 3
section() { printf '\n@@%s\n' "$*"; }
# The lines of file $1 matching the ERE $2, or "!unreadable" when it exists but this SSH
# user may not read it (DirectAdmin's data is root's): "not there" and "not allowed to see"
# must not look alike.
pick() { if [ -r "$1" ]; then grep -E -e "$2" "$1"; elif [ -e "$1" ]; then echo '!unreadable'; fi; }
section os-release; cat /etc/os-release 2>/dev/null
section da-binary; [ -x "$da/directadmin" ] && echo "$da/directadmin"
section da-conf-file; [ -f "$da/conf/directadmin.conf" ] && echo "$da/conf/directadmin.conf"
section da-version
if [ -x "$da/directadmin" ]; then
  timeout 10 "$da/directadmin" version </dev/null 2>/dev/null ||
    timeout 10 "$da/directadmin" v </dev/null 2>/dev/null
fi
section da-config-get
[ -x "$da/directadmin" ] && timeout 10 "$da/directadmin" config-get unit_port </dev/null 2>/dev/null
section da-conf; pick "$da/conf/directadmin.conf" '^(unit_port|port|ssl)='
section options-file; [ -f "$da/custombuild/options.conf" ] && echo "$da/custombuild/options.conf"
section options; pick "$da/custombuild/options.conf" '^(webserver|unit)='
# unitd's main process: owned by root (a site user can name a process anything) and in
# this shell's namespaces (several Unit daemons may run in containers on one machine).
# Started without --control (DirectAdmin's unit.service runs `unitd --no-daemon`), its
# socket is the one built in: `unitd --version` of that very binary prints it.
section unitd
net=$(readlink /proc/self/ns/net) mnt=$(readlink /proc/self/ns/mnt)
processes() {
  if command -v ps >/dev/null 2>&1; then ps -e -o pid= -o uid= -o args=; return; fi
  for p in /proc/[0-9]*; do
    printf '%s %s %s\n' "${p#/proc/}" "$(stat -c %u "$p")" "$(tr '\0' ' ' < "$p/cmdline")"
  done
}
processes 2>/dev/null | while read -r pid uid args; do
  [ "$uid" = 0 ] || continue
  case $args in "unit: main"*|unitd|unitd\ *|*/unitd|*/unitd\ *) ;; *) continue ;; esac
  n=$(readlink "/proc/$pid/ns/net" 2>/dev/null); m=$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)
  { [ -z "$n" ] || [ "$n" = "$net" ]; } && { [ -z "$m" ] || [ "$m" = "$mnt" ]; } || continue
  printf '%s %s\n' "$pid" "$args"
  case " $args" in *" --control"*) continue ;; esac
  built=$(timeout 10 "/proc/$pid/exe" --version </dev/null 2>&1 | grep -o -e '--control=[^ ]*' | head -n 1)
  [ -n "$built" ] && printf '%s built-in %s\n' "$pid" "$built"
done
section socket; [ -S "$sock" ] && echo socket
section passwd; getent passwd "$user"
section user-conf
conf="$users/$user/user.conf"
[ -e "$conf" ] && { echo present; pick "$conf" '^(usertype|nginx_unit)='; }
section domains-list; pick "$users/$user/domains.list" ''
[ -e "$users" ] && [ ! -r "$users" ] && others='!unreadable' || others=''
for d; do
  section domain-dir "$d"; stat -c '%U %u %F' "$sites/$d" 2>/dev/null
  section domain-owners "$d"
  [ -n "$others" ] && echo "$others"
  for f in "$users"/*/domains.list; do
    [ -e "$f" ] || continue
    [ -r "$f" ] || { echo '!unreadable'; continue; }
    grep -qxF -e "$d" "$f" && { f=${f%/domains.list}; echo "${f##*/}"; }
  done
  section storage "$d"
  base="$users/$user/domains"
  if [ -e "$users/$user" ] && [ ! -x "$base" ]; then echo '!unreadable'; continue; fi
  for kind in unit routes; do
    dir="$base/$d.$kind"
    [ -d "$dir" ] || continue
    echo "$kind"
    [ -r "$dir" ] || { echo '!unreadable'; continue; }
    for f in "$dir"/*; do [ -e "$f" ] && echo "$kind ${f##*/}"; done
  done
done
section listeners; ss -ltnpH 2>/dev/null
exit 0
'''


def host_facts(da_user: str, unit_socket: str, domains: Sequence[str]) -> Fact[dict[str, list[str]]]:
    """The one command that reads every file and /proc fact of a host, and its
    sections (split_sections); the parsers below read each section."""
    return Fact(sh(_HOST_FACTS, da_user, unit_socket, domains_dir(da_user), *domains),
                lambda _status, out: split_sections(out.decode("utf-8", "replace")))


# $1.. paths: the host's clock, then "MTIME PATH" per path that exists: ages
# come from the host's clock, not this machine's.
_AGES = r'''
date +%s
for d; do stat -c '%Y %n' -- "$d" 2>/dev/null || true; done
'''


def ages(paths: Sequence[str]) -> Fact[dict[str, int]]:
    """How long ago each path changed, by the host's clock (a release's age)."""
    return Fact(sh(_AGES, *paths), lambda _status, out: parse_ages(out.decode("utf-8", "replace")),
                check=False)


def parse_ages(text: str) -> dict[str, int]:
    """`now` then `MTIME PATH` lines (_AGES) -> path -> age in seconds."""
    lines = text.splitlines()
    if not lines:
        return {}
    now = int(lines[0])
    ages = {}
    for line in lines[1:]:
        mtime, _, path = line.partition(" ")
        if mtime.isdigit():
            ages[path] = max(0, now - int(mtime))
    return ages


UNREADABLE = "!unreadable"  # the line a section holds for a file this SSH user may not read


def unreadable(lines: Sequence[str]) -> bool:
    return UNREADABLE in lines


def split_sections(text: str) -> dict[str, list[str]]:
    """`@@NAME [ARG]` headed output -> {"NAME" or "NAME ARG": its non-blank lines}."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("@@"):
            current = sections.setdefault(line[2:].strip(), [])
        elif current is not None and line.strip():
            current.append(line.rstrip())
    return sections


# -- parsers (pure) ----------------------------------------------------------------------

def parse_kv(lines: Sequence[str]) -> dict[str, str]:
    """key=value lines (os-release, options.conf, directadmin.conf); quotes removed."""
    out: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            out[key.strip()] = value.strip().strip('"').strip("'")
    return out


def os_name(os_release: Mapping[str, str]) -> str:
    return os_release.get("PRETTY_NAME") or " ".join(
        v for v in (os_release.get("NAME"), os_release.get("VERSION_ID")) if v) or ""


_DA_VERSION = re.compile(r"\bv?\.?(\d+\.\d+(?:\.\d+)?)\b")


def parse_da_version(lines: Sequence[str]) -> str | None:
    """DirectAdmin's version from `directadmin version` ("DirectAdmin 1.680 ...") or the
    older `directadmin v` ("Version: DirectAdmin v.1.62.4"); None when neither said one."""
    for line in lines:
        if "directadmin" in line.lower() or line.lower().startswith("version"):
            found = _DA_VERSION.search(line.split("DirectAdmin", 1)[-1])
            if found:
                return found.group(1)
    return None


@dataclass(frozen=True)
class UnitProcess:
    pid: int
    command: str  # the process title: "unit: main v1.35.0 [/usr/sbin/unitd --control ...]"
    control: str | None  # the --control argument, else the binary's built-in one, else None
    built_in: bool = False  # control is the built-in one (`unitd --version`), not an argument

    @property
    def control_socket(self) -> str | None:
        """The control socket's path when --control names a Unix socket."""
        if self.control and self.control.startswith("unix:"):
            return self.control[len("unix:"):]
        return None


def _control_argument(words: Sequence[str]) -> str | None:
    for i, word in enumerate(words):
        if word == "--control" and i + 1 < len(words):
            return words[i + 1]
        if word.startswith("--control="):
            return word.split("=", 1)[1]
    return None


def parse_unitd(lines: Sequence[str]) -> list[UnitProcess]:
    """unitd main processes from `PID ARGS` lines, and `PID built-in --control=X` lines for
    those started without --control. Unit rewrites its main process's title to
    `unit: main vX [ORIGINAL COMMAND LINE]`; the original arguments are inside []."""
    found: dict[int, UnitProcess] = {}
    built_in: dict[int, str | None] = {}
    for line in lines:
        pid, _, command = line.strip().partition(" ")
        if not pid.isdigit():
            continue
        if command.startswith("built-in "):
            built_in[int(pid)] = _control_argument(command.split()[1:])
            continue
        inner = command
        if command.startswith("unit: ") and "[" in command:
            inner = command[command.index("[") + 1:].rstrip("]")
        found[int(pid)] = UnitProcess(int(pid), command, _control_argument(inner.split()))
    return [UnitProcess(p.pid, p.command, built_in[p.pid], True)
            if p.control is None and built_in.get(p.pid) else p for p in found.values()]


def same_path(a: str, b: str) -> bool:
    """Two absolute paths naming the same file, /var/run being /run on every current system."""
    def norm(p: str) -> str:
        p = posixpath.normpath(p)
        return "/run" + p[len("/var/run"):] if p == "/var/run" or p.startswith("/var/run/") else p
    return norm(a) == norm(b)


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    home: str
    shell: str


def parse_passwd(lines: Sequence[str]) -> Account | None:
    for line in lines:
        parts = line.split(":")
        if len(parts) >= 7 and parts[2].isdigit():
            return Account(parts[0], int(parts[2]), parts[5], parts[6])
    return None


@dataclass(frozen=True)
class PathOwner:
    owner: str
    uid: int
    kind: str  # stat's %F: "directory", "symbolic link", ...


def parse_stat(lines: Sequence[str]) -> PathOwner | None:
    """`stat -c '%U %u %F'` -> owner, uid, kind; None when the path does not exist."""
    if not lines:
        return None
    owner, uid, kind = [*lines[0].split(" ", 2), "", ""][:3]
    return PathOwner(owner, int(uid) if uid.isdigit() else -1, kind)


@dataclass
class Storage:
    """DirectAdmin's Unit storage of one domain: DOMAIN.unit/ (APP.json) and DOMAIN.routes/."""

    unit_dir: bool = False
    routes_dir: bool = False
    apps: list[str] = field(default_factory=list)
    route_hosts: list[str] = field(default_factory=list)


def parse_storage(lines: Sequence[str]) -> Storage:
    out = Storage()
    for line in lines:
        kind, _, name = line.partition(" ")
        if kind == "unit":
            out.unit_dir = True
            if name.endswith(".json"):
                out.apps.append(name[:-len(".json")])
        elif kind == "routes":
            out.routes_dir = True
            if name:
                out.route_hosts.append(name)
    return out


@dataclass(frozen=True)
class Listening:
    address: str  # "0.0.0.0", "127.0.0.1", "::", "*"
    port: int
    processes: tuple[tuple[str, str], ...]  # (program, pid); empty when ss may not show them


_SS_USERS = re.compile(r'\("([^"]*)",pid=(\d+)')


def parse_ss(lines: Sequence[str]) -> list[Listening]:
    """`ss -ltnpH` lines: State Recv-Q Send-Q Local:Port Peer:Port [users:((...))]."""
    found = []
    for line in lines:
        parts = line.split()
        if len(parts) < 4 or not parts[0].startswith("LISTEN"):
            continue
        address, _, port = parts[3].rpartition(":")
        if not port.isdigit():
            continue
        address = address.split("%", 1)[0].strip("[]")  # "0.0.0.0%lo", "[::]"
        users = tuple(dict.fromkeys((name, pid) for name, pid in _SS_USERS.findall(line)))
        found.append(Listening(address, int(port), users))
    return found


_WILDCARDS = ("*", "0.0.0.0", "::")


def port_users(listening: Sequence[Listening], address: str, port: int) -> list[Listening]:
    """The sockets that keep `address:port` from being bound: the same port on the same
    address, or either side a wildcard (Linux refuses 0.0.0.0:80 while 10.0.0.2:80 listens)."""
    wanted = address.strip("[]")
    return [s for s in listening if s.port == port
            and (s.address == wanted or s.address in _WILDCARDS or wanted in _WILDCARDS)]


def python_modules(status: Mapping[str, Any]) -> list[str]:
    """Versions of the Python modules Unit has loaded, from its `/status` (1.33+): `modules`
    maps a language to one {"version", "lib"} object, or to a list of them."""
    entry = (status.get("modules") or {}).get("python")
    entries = entry if isinstance(entry, list) else [entry] if isinstance(entry, Mapping) else []
    return [str(e["version"]) for e in entries if isinstance(e, Mapping) and e.get("version")]


def module_serves(module_version: str, python_version: str) -> bool:
    """A module "3.11.2" serves pythonVersion "3.11" (Unit's type "python 3.11")."""
    return (module_version + ".").startswith(python_version + ".")
