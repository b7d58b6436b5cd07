"""What every dynamic provider here shares: typed inputs and outputs, a pure
diff, one SSH connection per host per run, and errors that name the resource.

Each provider declares its `Inputs` and `Outputs` (pydantic models, camelCase
on the wire as in state) and implements `apply(inputs, olds)`, the one body of
create and update, plus `refresh` and `remove` where reading or deleting needs
the host. `Provider` does the rest once: check is validation of `Inputs`, the
diff compares the wire values, and create/update/read/delete turn the engine's
dicts into models and back.

State keeps the engine's own input values (not a re-serialized model), so a
stack written by an earlier release diffs as unchanged.

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
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, get_args, get_origin

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)
from pulumi.output import Unknown
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from daunit.errors import ConfigError, DeployError

if TYPE_CHECKING:
    from daunit import hostops
    from daunit.remote.ssh import SSHSession, SSHTarget
    from daunit.remote.unit import UnitClient

# daunit.remote (paramiko, httpx) is imported where it is used: the Pulumi
# program imports these classes only to hand them to the engine, and every
# method runs in the dynamic-provider process (about 0.1 s per program run).

# The sentinel the Python SDK puts where a value is unknown during preview.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def is_unknown(value: object) -> bool:
    # Check gets the SDK's Unknown object (output.Unknown, or rpc's Unknown from
    # the dynamic provider's server with keep_unknowns); diff the sentinel string.
    if value == UNKNOWN or isinstance(value, Unknown) or type(value).__name__ == "Unknown":
        return True
    if isinstance(value, Mapping):
        return any(is_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(is_unknown(v) for v in value)
    return False


def plain(props: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs without the engine's own keys (the pickled provider)."""
    return {k: v for k, v in props.items() if not k.startswith("__")}


class Wire(BaseModel):
    """A resource's inputs or outputs: snake_case here, camelCase in state."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore",
                              frozen=True, hide_input_in_errors=True)

    def wire(self, exclude: set[str] | None = None, exclude_none: bool = False) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude=exclude, exclude_none=exclude_none)


def wire_names(model: type[BaseModel]) -> tuple[str, ...]:
    """The camelCase keys of a model's fields, in declaration order."""
    return tuple(f.alias or name for name, f in model.model_fields.items())


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


class Connection(Wire):
    """The `connection` input every resource carries: plain data, no secret.

    The private key stays on the deploying machine; only its path is here.
    """

    host: str
    port: int = 22
    user: str = "root"
    known_hosts: str
    key_file: str | None = None

    def target(self) -> SSHTarget:
        from daunit.remote.ssh import SSHTarget

        key_file, use_agent = local_key_file(self.key_file or None)
        return SSHTarget(host=self.host, port=self.port, user=self.user,
                         known_hosts=self.known_hosts, key_file=key_file, use_agent=use_agent)


def target_of(props: Mapping[str, Any]) -> SSHTarget:
    return Connection.model_validate(props["connection"]).target()


def connection_input(host: str, port: int, user: str, known_hosts: str,
                     key_file: str | None) -> dict[str, str | int]:
    """The wire form of `Connection` (no keyFile key when there is none)."""
    out = Connection(host=host, port=port, user=user, known_hosts=known_hosts,
                     key_file=key_file).wire()
    return {k: v for k, v in out.items() if v is not None}


class Inputs(Wire):
    connection: Connection

    def label(self) -> str:
        """How errors name this resource's object."""
        return ""


class SiteInputs(Inputs):
    """Inputs of the resources that work in an app's tree as the site user."""

    app_dir: str
    user: str
    domain: str = ""
    owner: str = ""
    # "user" when the steps run as the SSH login itself (access: user); absent for root.
    access: str | None = None

    def label(self) -> str:
        return self.app_dir

    def site(self, olds: SiteInputs | None = None) -> hostops.Site:
        from daunit import hostops

        return hostops.Site.of(self.wire(), olds.wire() if olds else None)


class UnitInputs(Inputs):
    """Inputs of the resources that talk to Unit's control API."""

    socket: str
    log: str | None = None


class Health(Wire):
    """The request that says the app serves after a change (remote/health.py)."""

    listener: str
    host: str
    path: str = "/"
    status: int = 200
    timeout: float = 30


class NoOutputs(Wire):
    pass


@contextlib.contextmanager
def _session(kind: str, connection: Connection, label: str) -> Iterator[SSHSession]:
    """The process's connection to the host; errors name the resource."""
    _load_remote()
    from daunit.remote.pool import shared_session

    try:
        yield shared_session(connection.target())
    except DeployError as exc:
        if exc.resource is None:
            exc.resource = f"{kind} {label}".strip()
        raise


def _host_lock(s: SSHSession, holder: str, *,
               user_mode: bool = False) -> contextlib.AbstractContextManager[None]:
    """The host-wide lock around read-modify-write of shared Unit config (user mode:
    the SSH user's own, in their home)."""
    from daunit.remote.hostlock import host_lock

    return host_lock(s, holder=holder, user_mode=user_mode)


_REMOTE_IMPORT = threading.Lock()


def _load_remote() -> None:
    """Import daunit.remote once, in one thread: the engine calls a provider from
    several threads, and two first imports of the package racing each other
    see it half made ("cannot import name ... partially initialized module")."""
    with _REMOTE_IMPORT:
        import daunit.remote
        import daunit.remote.hostlock
        import daunit.remote.pool  # noqa: F401


In = TypeVar("In", bound=Inputs)
Out = TypeVar("Out", bound=Wire)


class Provider(ResourceProvider, Generic[In, Out]):
    """Base of the providers: subclasses name their models, which inputs force
    a replace, and implement `apply` (and `refresh`/`remove` when needed)."""

    kind = "resource"
    inputs_type: type[In]
    outputs_type: type[Out]
    # The keys of `outputs_type`: the engine hands them back in `olds` (old
    # outputs) and as None placeholders in `news`; they never drive a diff.
    outputs: ClassVar[Sequence[str]] = ()
    replace_on: Sequence[str] = ("connection.host", "connection.port")
    # Inputs that say where things are on the deploying machine, not what is
    # deployed: the same stack run from another checkout, laptop or CI has
    # other values here, and that alone must not be a change (nor restart the app).
    machine_local: Sequence[str] = ("connection.keyFile",)
    # Inputs never compared nor kept in outputs (a private key).
    secret_inputs: Sequence[str] = ()
    # Inputs every new resource has, though state of an earlier release
    # may lack them (their models read them as empty there).
    required_news: Sequence[str] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """`class ReleaseProvider(Provider[ReleaseInputs, ReleaseOutputs])`
        names its models and its kind ("Release") once."""
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            origin, args = get_origin(base), get_args(base)
            # A generic middle class (SiteProvider[SI, Out]) names no models yet.
            if isinstance(origin, type) and issubclass(origin, Provider) \
                    and not any(isinstance(arg, TypeVar) for arg in args):
                cls.inputs_type, cls.outputs_type = args
                cls.outputs = wire_names(cls.outputs_type)
                cls.kind = cls.__name__.removesuffix("Provider")

    # -- what each provider says ------------------------------------------
    def id_of(self, inputs: In) -> str:
        raise NotImplementedError

    def apply(self, inputs: In, olds: In | None) -> Out:
        """Make the host match `inputs` (`olds`: the inputs it had, None at create)."""
        raise NotImplementedError

    def refresh(self, id_: str, inputs: In, recorded: Out | None) -> dict[str, object] | None:
        """What `pulumi refresh` finds, as changed state keys; None: gone."""
        return {}

    def remove(self, id_: str, inputs: In) -> None:
        """Nothing to remove unless the provider says so."""

    # -- pure parts -----------------------------------------------------
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return CheckResult(news, self.input_failures(news))

    def input_failures(self, news: Mapping[str, Any]) -> list[CheckFailure]:
        """Validation of `Inputs`, one failure per problem in the project's
        words (daunit.spec.format_errors); a value still unknown in a
        preview is checked when it is known."""
        from daunit.spec.report import format_errors

        props = plain(news)
        failures = [CheckFailure(key, f"{key} is required: add it ({self.kind})")
                    for key in self.required_news if not props.get(key)]
        try:
            self.inputs_type.model_validate(props)
        except ValidationError as exc:
            found = zip(exc.errors(include_input=False), format_errors(exc), strict=True)
            failures += [CheckFailure(str(error["loc"][0]), f"{message} ({self.kind})")
                         for error, (_path, message) in found
                         if not is_unknown(props.get(str(error["loc"][0])))]
        return failures

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return _diff(olds, news, self.outputs, self.replace_on, self.machine_local,
                     self.secret_inputs)

    # -- the engine's calls --------------------------------------------------
    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.parse(props)
        return CreateResult(id_=self.id_of(inputs), outs=self.state(props, self.apply(inputs, None)))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = self.parse(news)
        return UpdateResult(outs=self.state(news, self.apply(inputs, self.recorded(olds))))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        found = self.refresh(id_, self.parse(props), self.recorded_outputs(props))
        if found is None:
            return ReadResult(id_=None, outs={})
        return ReadResult(id_=id_, outs={**plain(props), **found})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        self.remove(id_, self.parse(props))

    # -- between the engine's dicts and the models ---------------------------
    def parse(self, props: Mapping[str, Any]) -> In:
        try:
            return self.inputs_type.model_validate(plain(props))
        except ValidationError as exc:
            from daunit.spec.report import format_errors

            problems = "; ".join(message for _path, message in format_errors(exc))
            raise ConfigError(f"{self.kind} inputs are not valid: {problems}") from None

    def recorded(self, olds: Mapping[str, Any]) -> In | None:
        """The inputs state recorded (what an earlier release did not record
        reads as the model's default); None where they do not fit the model."""
        recorded = plain(olds)
        try:
            return self.inputs_type.model_validate(recorded) if recorded else None
        except ValidationError:
            return None

    def recorded_outputs(self, props: Mapping[str, Any]) -> Out | None:
        try:
            return self.outputs_type.model_validate(plain(props))
        except ValidationError:
            return None

    def state(self, props: Mapping[str, Any], outputs: Out) -> dict[str, Any]:
        """What state keeps: the inputs as the engine gave them (no secret
        input), and the outputs."""
        return {**_without(plain(props), self.secret_inputs), **outputs.wire()}

    # -- helpers for the acting parts ------------------------------------
    def session(self, inputs: Inputs) -> contextlib.AbstractContextManager[SSHSession]:
        return _session(self.kind, inputs.connection, inputs.label())

    host_lock = staticmethod(_host_lock)

    @contextlib.contextmanager
    def unit_api(self, inputs: UnitInputs, *, ahead: bool = True) -> Iterator[tuple[SSHSession, UnitClient]]:
        """The host's shared session and a Unit control-API client over it.

        The client's socket channel is closed on the way out; the connection
        stays for the next resource. ``ahead``: the client opens each next
        channel while a request runs (UnitClient's spare); a read that makes
        one request (refresh) says False, or every read opens a channel for nothing.
        """
        _load_remote()
        from daunit.remote.unit import DEFAULT_LOG, UnitClient

        with self.session(inputs) as s, UnitClient(s, inputs.socket, inputs.log or DEFAULT_LOG,
                                                   spare=ahead) as unit:
            yield s, unit


def _diff(olds: Mapping[str, Any], news: Mapping[str, Any], outputs: Sequence[str],
          replace_on: Sequence[str], machine_local: Sequence[str],
          secret_inputs: Sequence[str]) -> DiffResult:
    old = _without_local(_without(plain(olds), secret_inputs), outputs, machine_local)
    new = _without_local(_without(plain(news), secret_inputs), outputs, machine_local)
    changed = sorted(k for k in set(old) | set(new)
                     if old.get(k) != new.get(k) or is_unknown(new.get(k)))
    # The engine takes top-level property names: a change at a dotted
    # path (connection.host) replaces through its top-level key.
    replaces = sorted({path.split(".")[0] for path in replace_on
                       if _get_path(old, path) != _get_path(new, path)
                       or is_unknown(_get_path(new, path))})
    stables = sorted(k for k in set(old) & set(new) if k not in changed)
    return DiffResult(changes=bool(changed), replaces=replaces, stables=stables,
                      delete_before_replace=bool(replaces))


def _without(props: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k not in keys}


def _without_local(props: Mapping[str, Any], outputs: Sequence[str],
                   machine_local: Sequence[str]) -> dict[str, Any]:
    """The inputs that describe the deployment: no computed outputs, no
    paths on the deploying machine."""
    out = _without(props, outputs)
    for dotted in machine_local:
        head, _, tail = dotted.partition(".")
        if not tail:
            out.pop(head, None)
        elif isinstance(out.get(head), Mapping):
            out[head] = _without(out[head], (tail,))
    return out


def _get_path(data: Mapping[str, Any], dotted: str) -> object:
    value: object = data
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


SI = TypeVar("SI", bound=SiteInputs)


class SiteProvider(Provider[SI, Out]):
    """A resource of one app's tree (release, venv, .env, release commands): known by
    its app dir, and a new app dir (or host) is a new resource."""

    replace_on = ("connection.host", "connection.port", "appDir")

    def id_of(self, inputs: SI) -> str:
        return inputs.app_dir
