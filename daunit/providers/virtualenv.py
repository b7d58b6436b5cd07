"""Virtualenv: keyed by (python version, hash of requirements).

Built beside the live one, as the site user, and used only once pip
succeeded; reused whenever the key is unchanged. A requirements change
starts from a copy of the live venv (hard links, its own bin/), so pip
installs only the difference (daunit.hostops). A failed build leaves
nothing behind and says why (pip's stderr tail).
"""
from __future__ import annotations

from typing import Any

from pulumi.dynamic import CreateResult, ReadResult, UpdateResult

from daunit import hostops
from daunit.providers.base import Provider, plain
from daunit.providers.site import read_fact, run_step


def seed_key(props: dict[str, Any], olds: dict[str, Any] | None) -> str:
    """The live venv to seed a new one from: the previous key, when it was
    built by the same interpreter in the same app dir ("" otherwise)."""
    if not olds or olds.get("python") != props["python"] or olds.get("appDir") != props["appDir"]:
        return ""
    previous = str(olds.get("key") or "")
    return previous if previous != props["key"] else ""


class VirtualenvProvider(Provider):
    kind = "Virtualenv"
    required = ("connection", "appDir", "user", "python", "key", "requirements")
    replace_on = ("connection.host", "connection.port", "appDir")
    outputs = ("venvDir", "built")

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=props["appDir"], outs=self._build(plain(props)))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._build(plain(news), plain(olds)))

    def _build(self, props: dict[str, Any], olds: dict[str, Any] | None = None) -> dict[str, Any]:
        site = hostops.Site.of(props, olds)
        step = hostops.build_venv(site, props["key"], props["python"], seed_key(props, olds))
        with self.session(props) as s:
            result = run_step(s, step, stdin=props["requirements"].encode(), timeout=1800)
        return {**props, "venvDir": site.layout.venv_dir(props["key"]),
                "built": result.stdout.decode().strip() in ("BUILT", "SEEDED")}

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = plain(props)
        with self.session(props) as s:
            ok = read_fact(s, hostops.venv_built(hostops.Site.of(props), props["key"]))
        return ReadResult(id_=id_, outs=props) if ok else ReadResult(id_=None, outs={})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        props = plain(props)
        site = hostops.Site.of(props)
        with self.session(props) as s:
            run_step(s, hostops.remove(site, site.layout.venvs_dir))
