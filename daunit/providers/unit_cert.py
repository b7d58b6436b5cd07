"""UnitCertificate: one app's PEM bundle in Unit, attached to a TLS listener.

Bundles are immutable in Unit, so each is uploaded under a name derived from
its chain (`<unit app name>-<16 hex of sha256(chain)>`, the app's Unit name
being this stack's own: daunit.ownership). The bundle a previous release
named `<app>-<hex>` is the one the state names: it is switched away from
and removed like any old bundle. A rotation is: upload the new
bundle, swap this app's name in the listener's `tls.certificate` array (one
PUT: Unit picks the certificate by SNI, and connections already open keep
theirs), check the listener now serves the new leaf for the domain, and only
then delete the old bundle. The listener's array is shared by every app on
it, so it is edited by read-modify-write of just this app's entry under the
host-wide lock.

Sources: `config` (chain and key are inputs; the key is a secret that is
never compared, returned or stored in outputs: a chain has exactly one key)
or `directadmin` (the files DirectAdmin keeps for the domain, read over SSH
at each create/update). For `directadmin`, `read` (pulumi refresh) hashes the
chain file on the host: when DirectAdmin renewed it, `sourceSha256` moves
away from `installedSha256`, and the next diff asks for an update, which
rotates.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from pulumi.dynamic import CheckFailure, CheckResult, DiffResult, UpdateResult
from pydantic import Field

from daunit.errors import ConfigError, HealthCheckError, UnitAPIError
from daunit.providers.base import Provider, UnitInputs, Wire, is_unknown
from daunit.render import certificate_facts, certificate_name, chain_sha256, leaf_sha256, owns_certificate, tls_bundle
from daunit.routing import certificates_with, certificates_without, listener_certificates
from daunit.spec.pem import tls_bundle_problems

if TYPE_CHECKING:
    from daunit.remote.ssh import SSHSession
    from daunit.remote.unit import UnitClient

Owned = Callable[[str], bool]

# The front server owns 443 on a DirectAdmin server and serves the domain's certificate.
_FRONT_SERVES_TLS = (
    "app {app}: on a DirectAdmin server the front web server serves HTTPS on 443 with the "
    "domain's DirectAdmin certificate; Unit cannot listen there. Remove `tls` from the app "
    "(or set the host's `directadminMode: off` on a server without a front web server).")


def _directadmin_way(mode: object) -> bool:
    """UnitHost's daMode says the host is run the DirectAdmin way (not unknown, not {})."""
    return isinstance(mode, dict) and bool(mode.get("unitPort"))


class UnitCertificateInputs(UnitInputs):
    # The app's name in the stack config, and its Unit name (bundle names
    # start with it; empty in state of the previous release).
    app: str
    unit_name: str = ""
    domain: str
    source: Literal["config", "directadmin"]
    listener: str
    dispatch_route: str
    # source config: the PEM chain and its (secret) key; the chain's hash
    # names a rotation in the preview.
    chain: str | None = None
    key: str | None = None
    chain_sha256: str | None = None
    # source directadmin: DirectAdmin's files on the host.
    cert_file: str | None = None
    key_file: str | None = None
    # UnitHost's daMode (absent in state of an earlier release): TLS is refused there.
    da_mode: Any = None


class UnitCertificateOutputs(Wire):
    name: str | None = None
    source_sha256: str | None = None
    installed_sha256: str | None = None
    subject_names: list[str] = Field(default_factory=list)
    issuer: str = ""
    not_before: str | None = None
    not_after: str | None = None
    key_type: str = ""
    chain_length: int = 0


class UnitCertificateProvider(Provider[UnitCertificateInputs, UnitCertificateOutputs]):
    replace_on = ("connection.host", "connection.port", "socket", "app")
    # The key is never compared, returned or stored in outputs: a chain has exactly one key.
    secret_inputs = ("key",)

    # -- pure parts -----------------------------------------------------
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = self.input_failures(news)
        app = news.get("app", "APP")
        if news.get("source") == "config":
            chain, key = news.get("chain"), news.get("key")
            where = f"tlsCertificates.{app}"
            missing = [f for f, v in (("chain", chain), ("key", key)) if not v]
            for field in missing:
                failures.append(CheckFailure(field, (
                    f"{where}.{field} is not set: `pulumi config set --secret --path {where}.{field} "
                    f"< {'fullchain.pem' if field == 'chain' else 'privkey.pem'}`")))
            if not missing and isinstance(chain, str) and isinstance(key, str) \
                    and not is_unknown(chain) and not is_unknown(key):
                for field, message in tls_bundle_problems(chain, key, news.get("domain", ""),
                                                          where=where):
                    failures.append(CheckFailure(field.rsplit(".", 1)[-1], message))
        elif news.get("source") == "directadmin":
            failures += [CheckFailure(f, f"{f} is required by UnitCertificate with source directadmin")
                         for f in ("certFile", "keyFile") if not news.get(f)]
        if _directadmin_way(news.get("daMode")):
            failures.append(CheckFailure("daMode", _FRONT_SERVES_TLS.format(app=app)))
        return CheckResult(news, failures)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        result = super().diff(id_, olds, news)
        # Seen by refresh: DirectAdmin renewed the certificate, or the bundle
        # left Unit or the listener. Either way an update installs it again.
        if not result.changes and olds.get("sourceSha256") != olds.get("installedSha256"):
            return DiffResult(changes=True, replaces=[], stables=result.stables,
                              delete_before_replace=False)
        return result

    # -- acting parts ----------------------------------------------------
    def id_of(self, inputs: UnitCertificateInputs) -> str:
        return inputs.app

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # The bundle state recorded (an output) is this app's too: see _owner.
        recorded = self.recorded_outputs(olds)
        outputs = self._install(self.parse(news), self.recorded(olds),
                                recorded.name if recorded else None)
        return UpdateResult(outs=self.state(news, outputs))

    def apply(self, inputs: UnitCertificateInputs,
              olds: UnitCertificateInputs | None) -> UnitCertificateOutputs:
        return self._install(inputs, olds, None)

    def _install(self, inputs: UnitCertificateInputs, olds: UnitCertificateInputs | None,
                 recorded_name: str | None) -> UnitCertificateOutputs:
        if _directadmin_way(inputs.da_mode):
            raise ConfigError(_FRONT_SERVES_TLS.format(app=inputs.app))
        listener, domain = inputs.listener, inputs.domain
        dispatch = inputs.dispatch_route
        owned = _owner(inputs, olds, recorded_name)
        with self.unit_api(inputs) as (s, unit):
            chain, key = self._material(s, inputs)
            digest = chain_sha256(chain)
            name = certificate_name(_prefix(inputs), digest)
            with self.host_lock(s, f"UnitCertificate {name}"):
                installed = unit.get("/certificates") or {}
                if name not in installed:
                    unit.put_raw(["certificates", name], tls_bundle(chain, key))
                listeners = unit.get("/config/listeners") or {}
                before = listeners.get(listener)
                self._attach(unit, listener, before, dispatch, owned, name)
                from daunit.remote.tlsprobe import wait_for_leaf

                try:
                    wait_for_leaf(s, listener, domain, leaf_sha256(chain))
                except HealthCheckError as exc:
                    if before is not None:
                        unit.put(["config", "listeners", listener], before)
                    else:
                        unit.delete(["config", "listeners", listener])
                    raise ConfigError(
                        f"{exc.message}\n  Unit accepted the bundle {name}, but the listener {listener} "
                        f"serves another certificate for {domain}: another bundle on it names {domain} "
                        "too, and Unit picks the first match. The listener was put back as it was.",
                        host=s.target.host) from exc
                old_listener = olds.listener if olds else None
                if old_listener and old_listener != listener:
                    self._detach(unit, old_listener, dispatch, owned)
                self._delete_unused(unit, owned, keep=name)
                facts = certificate_facts(unit.get(["certificates", name]))
        return UnitCertificateOutputs.model_validate(
            {**facts, "name": name, "sourceSha256": digest, "installedSha256": digest})

    @staticmethod
    def _material(s: SSHSession, inputs: UnitCertificateInputs) -> tuple[str, str]:
        """The PEM chain and key: from the inputs, or read from DirectAdmin's files."""
        if inputs.source != "directadmin":
            if inputs.chain is None or inputs.key is None:
                raise ConfigError(f"the certificate of {inputs.app} has no chain or no key",
                                  host=s.target.host)
            return inputs.chain, inputs.key
        texts = []
        for field, path in (("certFile", inputs.cert_file), ("keyFile", inputs.key_file)):
            if path is None:
                raise ConfigError(f"{field} is required by UnitCertificate with source directadmin")
            try:
                texts.append(s.read_bytes(path).decode("ascii"))
            except FileNotFoundError:
                raise ConfigError(
                    f"{path} does not exist: DirectAdmin has no certificate for {inputs.domain} "
                    "there. Issue one (User level -> SSL Certificates -> Let's Encrypt), or set the "
                    f"app's tls {field} to where it is.", host=s.target.host) from None
            except UnicodeDecodeError:
                raise ConfigError(f"{path} is not a PEM file", host=s.target.host) from None
        problems = tls_bundle_problems(texts[0], texts[1], inputs.domain, where="DirectAdmin's")
        if problems:
            files = f"{inputs.cert_file} and {inputs.key_file}"
            raise ConfigError(f"the certificate in {files} cannot be served: "
                              + "; ".join(m for _, m in problems), host=s.target.host)
        return texts[0], texts[1]

    @staticmethod
    def _attach(unit: UnitClient, listener: str, current: dict[str, Any] | None, dispatch: str,
                owned: Owned, name: str) -> None:
        want = f"routes/{dispatch}"
        if current is None:
            unit.put(["config", "listeners", listener], {"pass": want, "tls": {"certificate": [name]}})
            return
        if current.get("pass") != want:
            raise ConfigError(
                f"listener {listener!r} passes requests to {current.get('pass')!r}, not to {want!r}: "
                "it is not da-flask's. Choose another tls listener for this app.")
        if "tls" not in current:
            raise ConfigError(
                f"listener {listener!r} serves plain HTTP: give this app a tls listener on another "
                "port (tls: {listener: '*:443'}).")
        names = listener_certificates(current)
        wanted = certificates_with(names, owned, name)
        if wanted != names:
            unit.put(["config", "listeners", listener, "tls", "certificate"], wanted)

    @staticmethod
    def _detach(unit: UnitClient, listener: str, dispatch: str, owned: Owned) -> None:
        """Take this app's bundle off `listener`; the listener goes with the last one."""
        current = (unit.get("/config/listeners") or {}).get(listener)
        if current is None:
            return
        names = listener_certificates(current)
        remaining = certificates_without(names, owned)
        if remaining == names:
            return
        if remaining:
            unit.put(["config", "listeners", listener, "tls", "certificate"], remaining)
        elif current.get("pass") == f"routes/{dispatch}":
            unit.delete(["config", "listeners", listener])
        else:
            raise ConfigError(f"listener {listener!r} would be left with no certificate and is not "
                              "da-flask's: remove it by hand")

    @staticmethod
    def _delete_unused(unit: UnitClient, owned: Owned, keep: str | None) -> None:
        """Delete this app's bundles that no listener uses any more (the old one
        after a switch, and leftovers of an interrupted rotation)."""
        listeners = unit.get("/config/listeners") or {}
        used = {n for conf in listeners.values() for n in listener_certificates(conf)}
        for name in sorted(unit.get("/certificates") or {}):
            if owned(name) and name != keep and name not in used:
                try:
                    unit.delete(["certificates", name])
                except UnitAPIError as exc:
                    if exc.status != 404:
                        raise

    def refresh(self, id_: str, inputs: UnitCertificateInputs,
                recorded: UnitCertificateOutputs | None) -> dict[str, object] | None:
        recorded = recorded or UnitCertificateOutputs()
        name, listener = recorded.name, inputs.listener
        with self.unit_api(inputs, ahead=False) as (s, unit):
            source = recorded.source_sha256
            if inputs.source == "directadmin" and inputs.cert_file:
                try:
                    source = chain_sha256(s.read_bytes(inputs.cert_file).decode("ascii", "replace"))
                except FileNotFoundError:
                    source = None
            bundles = unit.get("/certificates") or {}
            current = (unit.get("/config/listeners") or {}).get(listener) or {}
        attached = bool(name) and name in bundles and name in listener_certificates(current)
        facts = certificate_facts(bundles[name]) if name in bundles else {}
        return {**facts, "sourceSha256": source,
                "installedSha256": recorded.installed_sha256 if attached else None}

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        # The bundle state recorded (an output) is this app's too: see _owner.
        recorded = self.recorded_outputs(props)
        self._remove(id_, self.parse(props), recorded.name if recorded else None)

    def _remove(self, id_: str, inputs: UnitCertificateInputs, recorded_name: str | None) -> None:
        app = inputs.app or id_
        owned = _owner(inputs, None, recorded_name)
        with self.unit_api(inputs) as (s, unit), self.host_lock(s, f"UnitCertificate {app} (delete)"):
            for listener in list(unit.get("/config/listeners") or {}):
                self._detach(unit, listener, inputs.dispatch_route, owned)
            self._delete_unused(unit, owned, keep=None)


def _prefix(inputs: UnitCertificateInputs) -> str:
    """What bundle names start with: the app's Unit name (`unitName`); state of
    the previous release has only the bare app name."""
    return inputs.unit_name or inputs.app


def _owner(inputs: UnitCertificateInputs, olds: UnitCertificateInputs | None,
           recorded_name: str | None) -> Owned:
    """Which bundle names are this resource's: its own name pattern, and the
    exact bundle its state recorded (named by the previous scheme, or by the
    stack's previous name)."""
    # A bare app name (previous release's state) is no claim on every bundle
    # named after it: another stack's app of that name has such bundles too.
    prefixes = {p.unit_name for p in (inputs, olds) if p is not None and p.unit_name}
    recorded = {recorded_name} if recorded_name else set()
    return lambda name: name in recorded or any(owns_certificate(p, name) for p in prefixes)
