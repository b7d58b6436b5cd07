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

from pulumi.dynamic import CreateResult, ReadResult, UpdateResult

from daunit import directadmin
from daunit.errors import ConfigError, UnitUnavailableError
from daunit.layout import CUSTOMBUILD
from daunit.providers.base import Provider, plain

if TYPE_CHECKING:
    from daunit.remote.ssh import SSHSession

class UnitHostProvider(Provider):
    kind = "UnitHost"
    required = ("connection", "socket")
    replace_on = ("connection.host", "connection.port")
    outputs = ("unitVersion", "pythonModules", "enabledByUs", "daMode")

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
        return {**props, **facts, "enabledByUs": enabled, "daMode": self._da_mode(s, props)}

    @staticmethod
    def _da_mode(s: SSHSession, props: dict[str, Any]) -> dict[str, Any]:
        """Whether apps here go the DirectAdmin way (daunit.directadmin), from the same
        read-only facts command the doctor runs: {"webserver", "unitPort"}, or {} when
        not. Never None: a None output reads as unknown in every preview."""
        from daunit.facts import host_facts
        from daunit.providers.site import read_fact

        setting = props.get("directadminMode") or "auto"
        if setting == "off":
            return {}
        sections = read_fact(s, host_facts(props.get("daUser") or "-", props["socket"], []))
        try:
            return directadmin.resolve(setting, directadmin.detect(sections), s.target.host) or {}
        except ValueError as exc:
            raise ConfigError(str(exc), host=s.target.host) from None

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
            mode = self._da_mode(s, props)
        return ReadResult(id_=id_, outs={**props, **facts, "daMode": mode})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None

