"""UnitCertificateProvider against a lab host with a real unitd: upload under a
content-derived name, attach to a shared TLS listener (SNI per app), rotate
with no failed request, notice DirectAdmin's renewal on read, delete only
what it made."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from daunit.errors import ConfigError
from daunit.providers.base import connection_input
from daunit.providers.unit_cert import UnitCertificateProvider
from daunit.remote.ssh import SSHSession, SSHTarget
from daunit.remote.unit import UnitClient
from daunit.render import certificate_name, chain_sha256
from tests.support.certs import Leaf, TestCA, https_get, served_certificate, tls_load

pytestmark = [pytest.mark.root, pytest.mark.real_unitd]

DISPATCH = "da-flask-hosts"
DA_DOMAINS = "/usr/local/directadmin/data/users/{user}/domains"


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> Any:
    return lab_factory("cert", front="none")


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA()


@pytest.fixture
def unit(lab: Any) -> Iterator[UnitClient]:
    target = SSHTarget(host=lab.address, port=lab.port, known_hosts=lab.host_key_line,
                       key_file=str(lab.client_key_path))
    with SSHSession(target) as session, UnitClient(session, lab.unit_socket) as client:
        # A dispatch route to pass to, answering 200 for every host.
        client.put("/config", {"listeners": {}, "applications": {},
                               "routes": {DISPATCH: [{"action": {"return": 200}}]}})
        for name in client.get("/certificates") or {}:
            client.delete(["certificates", name])
        yield client


def props(lab: Any, app: str, domain: str, leaf: Leaf | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "connection": connection_input(lab.address, lab.port, "root", lab.host_key_line,
                                       str(lab.client_key_path)),
        "app": app, "domain": domain, "listener": "*:443", "dispatchRoute": DISPATCH,
        "socket": lab.unit_socket, "log": lab.unit_log, "source": "config",
    }
    if leaf is not None:
        out.update(chain=leaf.chain_pem, key=leaf.key_pem, chainSha256=chain_sha256(leaf.chain_pem))
    out.update(extra)
    return out


def tls_names(unit: UnitClient, listener: str = "*:443") -> list[str]:
    return unit.get(["config", "listeners", listener, "tls", "certificate"])


def test_config_source_lifecycle(lab: Any, unit: UnitClient, ca: TestCA) -> None:
    provider = UnitCertificateProvider()
    first = ca.issue("example.com", "www.example.com")
    created = provider.create(props(lab, "flask_app", "example.com", first))
    outs = created.outs
    name = certificate_name("flask_app", chain_sha256(first.chain_pem))
    assert (created.id, outs["name"]) == ("flask_app", name)
    assert "key" not in outs
    assert outs["subjectNames"] == ["example.com", "www.example.com"]
    assert outs["notAfter"] == first.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert outs["issuer"] == "da-flask test root intermediate"
    assert unit.get("/config/listeners")["*:443"] == {"pass": f"routes/{DISPATCH}",
                                                      "tls": {"certificate": [name]}}
    assert https_get(lab.address, "example.com", "/", ca).status_code == 200
    assert https_get(lab.address, "www.example.com", "/", ca).status_code == 200

    # A second app on the same listener: Unit picks each one's certificate by SNI.
    shop = ca.issue("shop.example.com")
    shop_outs = provider.create(props(lab, "shop", "shop.example.com", shop)).outs
    assert tls_names(unit) == [name, shop_outs["name"]]
    assert served_certificate(lab.address, "shop.example.com") == shop.cert
    assert served_certificate(lab.address, "example.com") == first.cert

    # Rotation under load: upload, switch, verify, then delete the old bundle.
    renewed = ca.issue("example.com", "www.example.com", days=25)
    with tls_load(lab.address, "example.com", ca, warmup=0.5) as load:
        updated = provider.update("flask_app", outs, props(lab, "flask_app", "example.com", renewed)).outs
    assert load.results["200"] > 10 and not load.failures, (load.results, load.failures[:3])
    assert updated["name"] != name and updated["notAfter"] != outs["notAfter"]
    assert tls_names(unit) == [updated["name"], shop_outs["name"]]  # its place kept
    assert sorted(unit.get("/certificates")) == sorted([updated["name"], shop_outs["name"]])
    assert served_certificate(lab.address, "example.com") == renewed.cert

    # read: in place; then taken off the listener by hand, read says "not installed".
    read = provider.read("flask_app", updated)
    assert (read.id, read.outs["installedSha256"]) == ("flask_app", updated["sourceSha256"])
    unit.put(["config", "listeners", "*:443", "tls", "certificate"], [shop_outs["name"]])
    stale = provider.read("flask_app", updated).outs
    assert stale["installedSha256"] is None
    assert provider.diff("flask_app", stale, props(lab, "flask_app", "example.com", renewed)).changes
    provider.update("flask_app", stale, props(lab, "flask_app", "example.com", renewed))
    assert tls_names(unit) == [shop_outs["name"], updated["name"]]

    # Moving to another listener takes it off the old one.
    moved = provider.update("flask_app", updated,
                            props(lab, "flask_app", "example.com", renewed, listener="*:8443")).outs
    assert tls_names(unit) == [shop_outs["name"]]
    assert tls_names(unit, "*:8443") == [moved["name"]]
    assert https_get(lab.address, "example.com", "/", ca, port=8443).status_code == 200

    # Delete: this app's entries and bundles only; the last one takes its listener along.
    provider.delete("flask_app", moved)
    listeners = unit.get("/config/listeners")
    assert "*:8443" not in listeners and listeners["*:443"]["tls"]["certificate"] == [shop_outs["name"]]
    assert list(unit.get("/certificates")) == [shop_outs["name"]]
    provider.delete("shop", shop_outs)
    assert unit.get("/config/listeners") == {} and unit.get("/certificates") == {}
    assert unit.get(["config", "routes", DISPATCH])  # the dispatch route is not ours to remove


def test_directadmin_source_and_renewal(lab: Any, unit: UnitClient, ca: TestCA) -> None:
    provider = UnitCertificateProvider()
    base = DA_DOMAINS.format(user=lab.da_user) + "/example.com"
    p = props(lab, "flask_app", "example.com", source="directadmin",
              certFile=f"{base}.cert.combined", keyFile=f"{base}.key")

    with pytest.raises(ConfigError, match=r"example\.com\.cert\.combined does not exist"):
        provider.create(p)

    def install(leaf: Leaf) -> None:
        lab.run(["install", "-d", "-m", "711", base.rsplit("/", 1)[0]])
        lab.run(["sh", "-c", 'cat > "$1"', "sh", f"{base}.cert.combined"], input=leaf.chain_pem)
        lab.run(["sh", "-c", 'umask 077; cat > "$1"', "sh", f"{base}.key"], input=leaf.key_pem)

    first = ca.issue("example.com")
    install(first)
    outs = provider.create(p).outs
    assert served_certificate(lab.address, "example.com") == first.cert
    assert outs["sourceSha256"] == outs["installedSha256"] == chain_sha256(first.chain_pem)
    assert not provider.diff("flask_app", provider.read("flask_app", outs).outs, p).changes

    # DirectAdmin renews: refresh (read) sees the new chain, the diff asks to update.
    renewed = ca.issue("example.com", days=28)
    install(renewed)
    refreshed = provider.read("flask_app", outs).outs
    assert refreshed["sourceSha256"] == chain_sha256(renewed.chain_pem)
    assert refreshed["installedSha256"] == outs["installedSha256"]
    assert provider.diff("flask_app", refreshed, p).changes
    with tls_load(lab.address, "example.com", ca, warmup=0.5) as load:
        rotated = provider.update("flask_app", refreshed, p).outs
    assert not load.failures, load.failures[:3]
    assert served_certificate(lab.address, "example.com") == renewed.cert
    assert list(unit.get("/certificates")) == [rotated["name"]]

    # A renewal that does not fit the domain is refused, the old one keeps serving.
    install(ca.issue("other.example"))
    with pytest.raises(ConfigError, match="not for the app's domain example.com"):
        provider.update("flask_app", rotated, p)
    assert served_certificate(lab.address, "example.com") == renewed.cert
    provider.delete("flask_app", rotated)
    assert unit.get("/certificates") == {}
