"""Virtualenv: keyed by (python version, hash of requirements).

Built beside the live one, as the site user, and used only once pip
succeeded; reused whenever the key is unchanged. A requirements change
starts from a copy of the live venv (hard links, its own bin/), so pip
installs only the difference (daunit.hostops); a first build starts the
same way from the site user's base venv (pip and setuptools only, made
once per user and interpreter). A failed build leaves nothing behind and
says why (pip's stderr tail).
"""
from __future__ import annotations

from daunit import hostops
from daunit.providers.base import SiteInputs, SiteProvider, Wire
from daunit.providers.site import read_fact, run_step


class VirtualenvInputs(SiteInputs):
    python: str
    # Python version and requirements, hashed: the venv's directory name.
    key: str
    requirements: str


class VirtualenvOutputs(Wire):
    venv_dir: str
    built: bool


def seed_key(inputs: VirtualenvInputs, olds: VirtualenvInputs | None) -> str:
    """The live venv to seed a new one from: the previous key, when it was
    built by the same interpreter in the same app dir ("" otherwise)."""
    if not olds or olds.python != inputs.python or olds.app_dir != inputs.app_dir:
        return ""
    return olds.key if olds.key != inputs.key else ""


class VirtualenvProvider(SiteProvider[VirtualenvInputs, VirtualenvOutputs]):
    def apply(self, inputs: VirtualenvInputs, olds: VirtualenvInputs | None) -> VirtualenvOutputs:
        site = inputs.site(olds)
        step = hostops.build_venv(site, inputs.key, inputs.python, seed_key(inputs, olds))
        with self.session(inputs) as s:
            result = run_step(s, step, stdin=inputs.requirements.encode(), timeout=1800)
        return VirtualenvOutputs(venv_dir=site.layout.venv_dir(inputs.key),
                                 built=result.stdout.decode().strip() in ("BUILT", "SEEDED"))

    def refresh(self, id_: str, inputs: VirtualenvInputs,
                recorded: VirtualenvOutputs | None) -> dict[str, object] | None:
        with self.session(inputs) as s:
            ok = read_fact(s, hostops.venv_built(inputs.site(), inputs.key))
        return {} if ok else None

    def remove(self, id_: str, inputs: VirtualenvInputs) -> None:
        site = inputs.site()
        with self.session(inputs) as s:
            run_step(s, hostops.remove(site, site.layout.venvs_dir))
