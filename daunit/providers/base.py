"""What every dynamic provider here shares: input parsing, a pure diff,
one SSH connection per host per run, and errors that name the resource.

Pulumi pickles each provider object into state, so providers hold no data at
all: every method gets what it needs from its inputs and borrows the
process's connection to that host (daunit.remote.pool; DESIGN.md, "The
provider contract").
"""
from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pulumi.dynamic import CheckFailure, CheckResult, DiffResult, ResourceProvider

from daunit.errors import DeployError

if TYPE_CHECKING:
    from daunit.remote.ssh import SSHSession, SSHTarget
    from daunit.remote.unit import UnitClient

# daunit.remote (paramiko, httpx) is imported where it is used: the Pulumi
# program imports these classes only to hand them to the engine, and every
# method runs in the dynamic-provider process (about 0.1 s per program run).

# The engine calls a provider's methods from several threads at once, and daunit.remote's
# package __init__ imports its submodules: one thread importing the package while another
# imports a submodule can be handed a half-initialized module ("cannot import name
# 'UnitClient' from partially initialized module", seen on a parallel refresh). The
# package is imported once, under this lock, before any method uses it.
_REMOTE_IMPORT = threading.Lock()


def import_remote() -> None:
    with _REMOTE_IMPORT:
        import daunit.remote  # noqa: F401


# The sentinel the Python SDK puts where a value is unknown during preview.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def is_unknown(value: Any) -> bool:
    # The dynamic provider's server hands unknowns to check/diff as rpc.Unknown objects
    # (deserialize_properties with keep_unknowns); the sentinel string where it is not.
    if value == UNKNOWN or type(value).__name__ == "Unknown":
        return True
    if isinstance(value, Mapping):
        return any(is_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(is_unknown(v) for v in value)
    return False


def plain(props: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs without the engine's own keys (the pickled provider)."""
    return {k: v for k, v in props.items() if not k.startswith("__")}


# Overrides the stack's `keyFile` on this machine (CI, a teammate whose key
# lives elsewhere); "agent" means ssh-agent only.
KEY_FILE_ENV = "DAFLASK_SSH_KEY_FILE"


def local_key_file(configured: str | None) -> tuple[str | None, bool | None]:
    """(key file, use_agent) for this machine: the override, else the stack's
    key file where it exists here, else ssh-agent."""
    override = os.environ.get(KEY_FILE_ENV, "").strip()
    if override == "agent":
        return None, True
    if override:
        return override, None
    if configured and not os.path.exists(os.path.expanduser(configured)) \
            and os.environ.get("SSH_AUTH_SOCK"):
        # State written on another machine names its key path: use the agent here.
        return None, True
    return configured, None


def target_of(props: Mapping[str, Any]) -> SSHTarget:
    from daunit.remote.ssh import SSHTarget

    c = props["connection"]
    key_file, use_agent = local_key_file(c.get("keyFile") or None)
    return SSHTarget(
        host=c["host"],
        port=int(c.get("port", 22)),
        user=c.get("user", "root"),
        known_hosts=c["knownHosts"],
        key_file=key_file,
        use_agent=use_agent,
    )


def connection_input(host: str, port: int, user: str, known_hosts: str,
                     key_file: str | None) -> dict[str, Any]:
    """The `connection` input every resource carries: plain data, no secret.

    The private key stays on the deploying machine; only its path is here.
    """
    out: dict[str, Any] = {"host": host, "port": port, "user": user, "knownHosts": known_hosts}
    if key_file:
        out["keyFile"] = key_file
    return out


class Provider(ResourceProvider):
    """Base of the providers: subclasses say which inputs force a replace
    and which must be present, and implement create/update/read/delete."""

    kind = "resource"
    required: Sequence[str] = ("connection",)
    # Keys the provider computes: the engine hands them back in `olds` (old
    # outputs) and as None placeholders in `news`; they never drive a diff.
    outputs: Sequence[str] = ()
    replace_on: Sequence[str] = ("connection.host", "connection.port")
    # Inputs that say where things are on the deploying machine, not what is
    # deployed: the same stack run from another checkout, laptop or CI has
    # other values here, and that alone must not be a change (nor restart the app).
    machine_local: Sequence[str] = ("connection.keyFile",)

    # -- pure parts -----------------------------------------------------
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = [CheckFailure(key, f"{key} is required by {self.kind}")
                    for key in self.required if key not in news]
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        old = _without_local(plain(olds), self.outputs, self.machine_local)
        new = _without_local(plain(news), self.outputs, self.machine_local)
        changed = sorted(k for k in set(old) | set(new)
                         if old.get(k) != new.get(k) or is_unknown(new.get(k)))
        # The engine takes top-level property names: a change at a dotted
        # path (connection.host) replaces through its top-level key.
        replaces = sorted({path.split(".")[0] for path in self.replace_on
                           if _get_path(old, path) != _get_path(new, path)
                           or is_unknown(_get_path(new, path))})
        stables = sorted(k for k in set(old) & set(new) if k not in changed)
        return DiffResult(changes=bool(changed), replaces=replaces, stables=stables,
                          delete_before_replace=bool(replaces))

    # -- helpers for the acting parts ------------------------------------
    @contextlib.contextmanager
    def session(self, props: Mapping[str, Any]) -> Iterator[SSHSession]:
        import_remote()
        from daunit.remote.pool import shared_session

        target = target_of(props)
        try:
            yield shared_session(target)
        except DeployError as exc:
            if exc.resource is None:
                exc.resource = f"{self.kind} {props.get('name') or props.get('appDir', '')}".strip()
            raise

    @staticmethod
    def host_lock(s: SSHSession, holder: str, *,
                  user_mode: bool = False) -> contextlib.AbstractContextManager[None]:
        """The host-wide lock around read-modify-write of shared Unit config (user mode:
        the SSH user's own, in their home)."""
        from daunit.remote.hostlock import host_lock

        return host_lock(s, holder=holder, user_mode=user_mode)

    @contextlib.contextmanager
    def unit_api(self, props: Mapping[str, Any]) -> Iterator[tuple[SSHSession, UnitClient]]:
        """The host's shared session and a Unit control-API client over it.

        The client's socket channel is closed on the way out; the connection
        stays for the next resource.
        """
        import_remote()
        from daunit.remote.unit import DEFAULT_LOG, UnitClient

        with self.session(props) as s, UnitClient(s, props["socket"],
                                                  props.get("log", DEFAULT_LOG)) as unit:
            yield s, unit


def _without_local(props: Mapping[str, Any], outputs: Sequence[str],
                   machine_local: Sequence[str]) -> dict[str, Any]:
    """The inputs that describe the deployment: no computed outputs, no
    paths on the deploying machine."""
    out = {k: v for k, v in props.items() if k not in outputs}
    for dotted in machine_local:
        head, _, tail = dotted.partition(".")
        if not tail:
            out.pop(head, None)
        elif isinstance(out.get(head), Mapping):
            out[head] = {k: v for k, v in out[head].items() if k != tail}
    return out


def _get_path(data: Mapping[str, Any], dotted: str) -> Any:
    value: Any = data
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value
