"""Where da-flask keeps things on a host: the one place these paths are written.

Pure. The host scripts (daunit/hostops.py) compose no path of their own: each
gets the paths it works on as positional arguments taken from here, so this
file, its tests and the scripts cannot drift apart.

    app_dir/.daflask-owner             the stack that owns the dir (its first line)
    app_dir/releases/<release id>/     one per release, immutable
             releases/<id>/instance -> ../../instance
             releases/<id>/logs     -> ../../logs
             releases/<id>/_daflask_entry.py   da-flask's entry module
    app_dir/releases/.<anything>       work in progress of a deploy (the incoming
                                       tree, its manifest, a damaged release on
                                       its way out): dead when the next deploy starts
    app_dir/venvs/<venv key>/          one per (python, requirements); .complete once built
    app_dir/current -> releases/<id>   the live release
    app_dir/instance/      (0700)      instance/.env (0600)
    app_dir/logs/          (0700)
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daunit.spec import AppSpec, HostSpec

# Host-wide, outside every user's tree: in a directory only root can write
# (/run is root's, 755); in /run/lock (1777) any user could plant the lock or
# its holder file as a link that root's open would follow.
LOCK_DIR = "/run/daunit"
LOCK_NAME = "unit.lock"
LOCK_FILE = f"{LOCK_DIR}/{LOCK_NAME}"
# User mode (access: user) has no root: the lock of one DirectAdmin user's
# deploys lives in their own home, in this directory.
USER_LOCK_DIR = ".daflask"
USER_LOCK_FILE = f"~/{USER_LOCK_DIR}/{LOCK_NAME}"  # as messages name it

# DirectAdmin's tree: its binary and config, per-user data (domains.list,
# user.conf, DOMAIN.cert.combined ...) and CustomBuild, which installs Unit.
DA_ROOT = "/usr/local/directadmin"
DA_USERS = f"{DA_ROOT}/data/users"
CUSTOMBUILD = f"{DA_ROOT}/custombuild/build"


def da_user_domains(user: str) -> str:
    """Where DirectAdmin keeps a user's per-domain data (certificates, Unit storage)."""
    return f"{DA_USERS}/{user}/domains"


def domains_dir(user: str) -> str:
    """The user's site tree: one DOMAIN/ per domain, DirectAdmin's public_html inside."""
    return f"/home/{user}/domains"


# Modes in the app's tree. The web server reads it through "other": the
# tree's directories (the app dir, releases/, venvs/, a release's dirs) and a
# release's files; the entry point is executable, as the seed had it. A
# release's file modes are part of its manifest, so of its id. instance/,
# logs/ and .env are the user's alone.
TREE_DIR_MODE = 0o755
FILE_MODE = 0o644
ENTRY_POINT_MODE = 0o755
PRIVATE_DIR_MODE = 0o700
ENV_FILE_MODE = 0o600

# Links inside every release dir, to the app's shared dirs. Relative, so they
# resolve the same way inside a Unit rootfs (isolation) as outside it. A
# seed-style app finds its instance folder next to its package (Flask's
# default instance_path) and its logs next to the instance folder.
RELEASE_LINKS: Mapping[str, str] = {"instance": "../../instance", "logs": "../../logs"}

# The file in a venv that says its build finished.
VENV_COMPLETE = ".complete"

RELEASE_ID_RE = re.compile(r"^[0-9a-f]{16}$")
VENV_KEY_RE = re.compile(r"^py(3\.\d{1,2})-[0-9a-f]{16}$")


def check_release_id(release_id: str) -> str:
    if not RELEASE_ID_RE.match(release_id):
        raise ValueError(f"release id {release_id!r} is not 16 lower-case hex digits (see manifest.release_id)")
    return release_id


def check_venv_key(venv_key: str) -> str:
    if not VENV_KEY_RE.match(venv_key):
        raise ValueError(f"venv key {venv_key!r} is not like py3.11-<16 hex digits> (see manifest.venv_key)")
    return venv_key


# A deploy's work beside the releases, by release id: dot names, which prune
# and `ls` pass over and the next deploy's first step clears.
WORK: Mapping[str, str] = {"incoming": ".incoming-{}", "manifest": ".incoming-{}.manifest",
                           "stale": ".stale-{}"}


def fmt_mode(mode: int) -> str:
    """A mode as chmod takes it ("700")."""
    return f"{mode:o}"


def links_arg() -> str:
    """RELEASE_LINKS as one script argument: "NAME=TARGET NAME=TARGET"."""
    return " ".join(f"{name}={target}" for name, target in RELEASE_LINKS.items())


class _Under:
    """An AppLayout attribute: a fixed path under the app dir."""

    def __init__(self, relpath: str) -> None:
        self.relpath = relpath

    def __get__(self, layout: AppLayout, _owner: type | None = None) -> str:
        return f"{layout.app_dir}/{self.relpath}"


@dataclass(frozen=True)
class AppLayout:
    """The paths of one app's tree on the host, all under `app_dir`."""

    app_dir: str

    owner_file = _Under(".daflask-owner")
    releases_dir = _Under("releases")
    venvs_dir = _Under("venvs")
    current_link = _Under("current")
    current_staging = _Under(".current-new")  # the new `current`, renamed over the old one
    instance_dir = _Under("instance")
    env_file = _Under("instance/.env")
    logs_dir = _Under("logs")

    @classmethod
    def of(cls, app: AppSpec, host: HostSpec) -> AppLayout:
        return cls(app.app_dir_on(host))

    def current_target(self, release_id: str) -> str:
        """What `current` points at: relative, so it also holds inside a rootfs."""
        return f"releases/{check_release_id(release_id)}"

    def release_dir(self, release_id: str, work: str = "") -> str:
        """releases/<id>, or with `work` the deploy's work of that name for it
        (WORK: the incoming tree, its manifest, the stale copy)."""
        name = check_release_id(release_id)
        return f"{self.releases_dir}/{WORK[work].format(name) if work else name}"

    def incoming_dir(self, release_id: str) -> str:
        """Where a release is built before it is checked and renamed into place."""
        return self.release_dir(release_id, "incoming")

    def incoming_manifest(self, release_id: str) -> str:
        return self.release_dir(release_id, "manifest")

    def stale_dir(self, release_id: str) -> str:
        """Where a damaged release of the same id goes while the verified one replaces it."""
        return self.release_dir(release_id, "stale")

    def venv_dir(self, venv_key: str) -> str:
        return f"{self.venvs_dir}/{check_venv_key(venv_key)}"

    def in_root(self, path: str) -> str:
        """`path` as an isolated app sees it, with app_dir as its root filesystem."""
        if path == self.app_dir:
            return "/"
        prefix = self.app_dir + "/"
        if not path.startswith(prefix):
            raise ValueError(f"{path!r} is outside the app directory {self.app_dir!r}")
        return "/" + path[len(prefix):]

    def release_of(self, path: str) -> str | None:
        """The release id of a path inside one of this app's releases (as Unit's
        config holds it), or None."""
        prefix = self.releases_dir + "/"
        if not path.startswith(prefix):
            return None
        return path[len(prefix):].split("/", 1)[0]


def app_dir_of(path: str) -> str | None:
    """The app dir of a path inside one of its releases (a static share in a
    route of the previous release's state), or None."""
    head, found, _ = path.partition("/releases/")
    return head if found else None

