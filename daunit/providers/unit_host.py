"""UnitHost: facts about NGINX Unit on a DirectAdmin host, and enabling it.

When the control socket is missing and the config asks for it, Unit is
enabled the way DirectAdmin documents it, through CustomBuild
(`build set unit yes`, `build unit`). Deleting this resource leaves Unit
installed: other sites on the host may be using it.

`daMode` says whether the host is run the DirectAdmin way (Unit behind the front
web server, apps and routes stored where DirectAdmin re-fills from): the host's
`directadminMode` setting, `auto` deciding from the server (daunit.directadmin).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from daunit import directadmin
from daunit.errors import ConfigError, UnitUnavailableError
from daunit.layout import CUSTOMBUILD
from daunit.providers.base import Provider, UnitInputs, Wire

if TYPE_CHECKING:
    from daunit.remote.ssh import SSHSession


class UnitHostInputs(UnitInputs):
    # Enable Unit through CustomBuild when its control socket is missing.
    enable_unit: bool = False
    # auto | on | off (daunit.spec.host checks it); absent in state of an earlier release.
    directadmin_mode: str = "auto"
    # The DirectAdmin user whose domains the facts command reads ("" when none).
    da_user: str = ""


class UnitHostOutputs(Wire):
    unit_version: str
    python_modules: list[str]
    enabled_by_us: bool = False
    # {"webserver", "unitPort"} on a host run the DirectAdmin way, else {}.
    da_mode: dict[str, Any] = Field(default_factory=dict)


class UnitHostProvider(Provider[UnitHostInputs, UnitHostOutputs]):
    replace_on = ("connection.host", "connection.port")

    def id_of(self, inputs: UnitHostInputs) -> str:
        return f"{inputs.connection.host}:{inputs.socket}"

    def apply(self, inputs: UnitHostInputs, olds: UnitHostInputs | None) -> UnitHostOutputs:
        with self.session(inputs) as s:
            try:
                facts = self._facts(s, inputs)
            except UnitUnavailableError:
                if not inputs.enable_unit:
                    raise
                # CustomBuild prints a lot; its tail is in CommandError on failure.
                s.run([CUSTOMBUILD, "set", "unit", "yes"], timeout=120)
                s.run([CUSTOMBUILD, "unit"], timeout=1800)
                facts = self._facts(s, inputs).model_copy(update={"enabled_by_us": True})
            return facts.model_copy(update={"da_mode": self._da_mode(s, inputs)})

    @staticmethod
    def _da_mode(s: SSHSession, inputs: UnitHostInputs) -> dict[str, Any]:
        """Whether apps here go the DirectAdmin way (daunit.directadmin), from the same
        read-only facts command the doctor runs: {"webserver", "unitPort"}, or {} when
        not. Never None: a None output reads as unknown in every preview."""
        from daunit.facts import host_facts
        from daunit.providers.site import read_fact

        setting = inputs.directadmin_mode or "auto"
        if setting == "off":
            return {}
        sections = read_fact(s, host_facts(inputs.da_user or "-", inputs.socket, []))
        try:
            return directadmin.resolve(setting, directadmin.detect(sections), s.target.host) or {}
        except ValueError as exc:
            raise ConfigError(str(exc), host=s.target.host) from None

    @staticmethod
    def _facts(s: SSHSession, inputs: UnitHostInputs) -> UnitHostOutputs:
        from daunit.remote.unit import DEFAULT_LOG, UnitClient

        with UnitClient(s, inputs.socket, inputs.log or DEFAULT_LOG) as unit:
            status = unit.status()
        server = unit.server
        modules = status.get("modules") or {}
        pythons = []
        for mod in modules.values() if isinstance(modules, dict) else []:
            entries = mod if isinstance(mod, list) else [mod]
            pythons += [e.get("version", "") for e in entries if "python" in e.get("lib", "")]
        version = server.split("/", 1)[1] if server.startswith("Unit/") else server
        return UnitHostOutputs(unit_version=version, python_modules=sorted(pythons))

    def refresh(self, id_: str, inputs: UnitHostInputs,
                recorded: UnitHostOutputs | None) -> dict[str, object] | None:
        """The facts as they are now; deleting leaves Unit installed (see above)."""
        with self.session(inputs) as s:
            facts = self._facts(s, inputs).model_copy(update={"da_mode": self._da_mode(s, inputs)})
        return facts.wire(exclude={"enabled_by_us"})
