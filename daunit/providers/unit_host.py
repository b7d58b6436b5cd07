"""UnitHost: facts about NGINX Unit on a DirectAdmin host, and enabling it.

When the control socket is missing and the config asks for it, Unit is
enabled the way DirectAdmin documents it, through CustomBuild
(`build set unit yes`, `build unit`). Deleting this resource leaves Unit
installed: other sites on the host may be using it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pulumi.dynamic import CreateResult, ReadResult, UpdateResult

from daunit.errors import UnitUnavailableError
from daunit.layout import CUSTOMBUILD
from daunit.providers.base import Provider, plain

if TYPE_CHECKING:
    from daunit.remote.ssh import SSHSession

class UnitHostProvider(Provider):
    kind = "UnitHost"
    required = ("connection", "socket")
    replace_on = ("connection.host", "connection.port")
    outputs = ("unitVersion", "pythonModules", "enabledByUs")

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = plain(props)
        return CreateResult(id_=f"{props['connection']['host']}:{props['socket']}",
                            outs=self._ensure(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._ensure(plain(news)))

    def _ensure(self, props: dict[str, Any]) -> dict[str, Any]:
        enabled = False
        with self.session(props) as s:
            try:
                facts = self._facts(s, props)
            except UnitUnavailableError:
                if not props.get("enableUnit"):
                    raise
                # CustomBuild prints a lot; its tail is in CommandError on failure.
                s.run([CUSTOMBUILD, "set", "unit", "yes"], timeout=120)
                s.run([CUSTOMBUILD, "unit"], timeout=1800)
                enabled = True
                facts = self._facts(s, props)
        return {**props, **facts, "enabledByUs": enabled}

    @staticmethod
    def _facts(s: SSHSession, props: dict[str, Any]) -> dict[str, Any]:
        from daunit.remote.unit import DEFAULT_LOG, UnitClient

        with UnitClient(s, props["socket"], props.get("log", DEFAULT_LOG)) as unit:
            status = unit.status()
        server = unit.server
        modules = status.get("modules") or {}
        pythons = []
        for mod in modules.values() if isinstance(modules, dict) else []:
            entries = mod if isinstance(mod, list) else [mod]
            pythons += [e.get("version", "") for e in entries if "python" in e.get("lib", "")]
        version = server.split("/", 1)[1] if server.startswith("Unit/") else server
        return {"unitVersion": version, "pythonModules": sorted(pythons)}

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = plain(props)
        with self.session(props) as s:
            facts = self._facts(s, props)
        return ReadResult(id_=id_, outs={**props, **facts})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None

