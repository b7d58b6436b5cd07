"""UnitHost: facts about NGINX Unit on a DirectAdmin host, and enabling it.

When the control socket is missing and the config asks for it, Unit is
enabled the way DirectAdmin documents it, through CustomBuild
(`build set unit yes`, `build unit`). Deleting this resource leaves Unit
installed: other sites on the host may be using it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from daunit.errors import UnitUnavailableError
from daunit.providers.base import Provider, UnitInputs, Wire

if TYPE_CHECKING:
    from daunit.remote.ssh import SSHSession

CUSTOMBUILD = "/usr/local/directadmin/custombuild/build"


class UnitHostInputs(UnitInputs):
    # Enable Unit through CustomBuild when its control socket is missing.
    enable_unit: bool = False


class UnitHostOutputs(Wire):
    unit_version: str
    python_modules: list[str]
    enabled_by_us: bool = False


class UnitHostProvider(Provider[UnitHostInputs, UnitHostOutputs]):
    replace_on = ("connection.host", "connection.port")

    def id_of(self, inputs: UnitHostInputs) -> str:
        return f"{inputs.connection.host}:{inputs.socket}"

    def apply(self, inputs: UnitHostInputs, olds: UnitHostInputs | None) -> UnitHostOutputs:
        with self.session(inputs) as s:
            try:
                return self._facts(s, inputs)
            except UnitUnavailableError:
                if not inputs.enable_unit:
                    raise
                # CustomBuild prints a lot; its tail is in CommandError on failure.
                s.run([CUSTOMBUILD, "set", "unit", "yes"], timeout=120)
                s.run([CUSTOMBUILD, "unit"], timeout=1800)
                return self._facts(s, inputs).model_copy(update={"enabled_by_us": True})

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
            facts = self._facts(s, inputs)
        return facts.wire(exclude={"enabled_by_us"})
