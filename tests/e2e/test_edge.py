"""Issue-5 behaviours under the real Pulumi engine, on a lab host: security
headers at the edge, TLS from stack config and from DirectAdmin's files
(rotation with no failed request, renewal seen by refresh), typed outputs fed
to a second program (a DNS zone file), and preview summaries for pull
requests from the engine's own `preview --json`.

One deployment walked through in order, each step starting from the state
the previous one left.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from daunit.outputs import validate_outputs
from daunit.preview_summary import summarize
from daunit.render import certificate_name, chain_sha256
from tests.e2e.conftest import Deployment, app_config, host_config
from tests.e2e.test_deploy import get, unit_config
from tests.e2e.test_ownership import unit_name
from tests.support.certs import Leaf, TestCA, https_get, served_certificate, tls_load
from tests.support.engine import REPO, Stack

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.real_unitd]

APP = "flask_app"
UNIT_APP = unit_name("edge", APP)  # its name in Unit (daunit.ownership)
DOMAIN = "example.com"
SEED_HEADERS = {
    "content-security-policy": "default-src 'self'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "SAMEORIGIN",
}
# Where to keep the recorded previews for a look (RECORD_PREVIEWS=dir).
RECORD = os.environ.get("RECORD_PREVIEWS")


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> Any:
    return lab_factory("edge", front="none")


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA()


@pytest.fixture(scope="module")
def certs(ca: TestCA) -> dict[str, Leaf]:
    return {"first": ca.issue(DOMAIN, f"www.{DOMAIN}", days=20),
            "second": ca.issue(DOMAIN, f"www.{DOMAIN}", days=25),
            "da1": ca.issue(DOMAIN, f"www.{DOMAIN}", days=60, rsa_key=True),
            "da2": ca.issue(DOMAIN, f"www.{DOMAIN}", days=89, rsa_key=True)}


@pytest.fixture(scope="module")
def edge(lab: Any, deployment_factory: Any) -> Deployment:
    d = deployment_factory("edge")
    d.stack.set_config(f"appSecrets.{APP}.SECRET_KEY", d.secret_key, secret=True, path=True)
    return d


def configure(d: Deployment, lab: Any, **extra: Any) -> None:
    d.write_config({"lab": host_config(lab)},
                   [app_config(APP, "lab", DOMAIN, d.app_sources[APP],
                               secretEnvironmentKeys=["SECRET_KEY"], **extra)])


def set_pem(d: Deployment, leaf: Leaf) -> None:
    d.stack.set_config(f"tlsCertificates.{APP}.chain", leaf.chain_pem, secret=True, path=True)
    d.stack.set_config(f"tlsCertificates.{APP}.key", leaf.key_pem, secret=True, path=True)


def preview_json(d: Deployment, label: str) -> dict[str, Any]:
    result = d.stack.preview("--json")
    data = json.loads(result.stdout)
    if RECORD:
        Path(RECORD).mkdir(parents=True, exist_ok=True)
        (Path(RECORD) / f"{label}.json").write_text(result.stdout)
    return data


def key_lines(leaf: Leaf) -> list[str]:
    return [line for line in leaf.key_pem.splitlines() if "-----" not in line]


def lower_headers(response: httpx.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items()}


def unit_certificates(lab: Any) -> dict[str, Any]:
    sock = lab.host_path(lab.unit_socket)
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), base_url="http://unit") as c:
        return c.get("/certificates").json()


def da_files(lab: Any) -> tuple[str, str]:
    base = f"/usr/local/directadmin/data/users/{lab.da_user}/domains/{DOMAIN}"
    return f"{base}.cert.combined", f"{base}.key"


def install_da_certificate(lab: Any, leaf: Leaf) -> None:
    """What DirectAdmin's Let's Encrypt run leaves for the domain."""
    cert, key = da_files(lab)
    lab.run(["install", "-d", "-m", "711", cert.rsplit("/", 1)[0]])
    lab.run(["sh", "-c", 'cat > "$1.tmp" && mv "$1.tmp" "$1"', "sh", cert], input=leaf.chain_pem)
    lab.run(["sh", "-c", 'umask 077; cat > "$1.tmp" && mv "$1.tmp" "$1"', "sh", key],
            input=leaf.key_pem)


# --- 1. headers and TLS from config ------------------------------------------------------


def test_1_up_with_tls_from_config_and_seed_headers(lab: Any, edge: Deployment, ca: TestCA,
                                                    certs: dict[str, Leaf]) -> None:
    d = edge
    configure(d, lab, tls={"source": "config"})
    # Missing PEM: the preview stops with the command that sets it, nothing changes.
    failed = d.stack.preview(check=False)
    assert failed.returncode != 0
    assert f"pulumi config set --secret --path tlsCertificates.{APP}.chain" in failed.stdout

    set_pem(d, certs["first"])
    created = preview_json(d, "create")
    summary = summarize(created)
    assert "certificate" in summary and "created" in summary, summary
    d.stack.up()

    name = certificate_name(UNIT_APP, chain_sha256(certs["first"].chain_pem))
    assert unit_config(lab)["listeners"]["*:443"] == {
        "pass": "routes/da-flask-hosts", "tls": {"certificate": [name]}}
    for path in ("/", "/static/style.css"):
        plain = get(lab, path)
        secure = https_get(lab.address, DOMAIN, path, ca)
        assert plain.status_code == secure.status_code == 200, path
        for response in (plain, secure):
            headers = lower_headers(response)
            assert {k: headers.get(k) for k in SEED_HEADERS} == SEED_HEADERS, (path, headers)
    assert "Hello from da-flask" in https_get(lab.address, DOMAIN, "/", ca).text
    assert https_get(lab.address, f"www.{DOMAIN}", "/", ca).status_code == 200

    outputs = validate_outputs(d.stack.outputs())
    tls = outputs["apps"][APP]["tls"]
    assert tls is not None
    assert (tls["certificateName"], tls["source"], tls["listener"]) == (name, "config", "*:443")
    assert tls["subjectNames"] == [DOMAIN, f"www.{DOMAIN}"]
    assert tls["notAfter"] == certs["first"].not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert outputs["certificates"] == [{"app": APP, "domain": DOMAIN, **tls}]
    assert outputs["urls"][:2] == [f"https://{DOMAIN}/", f"https://www.{DOMAIN}/"]
    assert outputs["apps"][APP]["domains"] == [DOMAIN, f"www.{DOMAIN}"]
    # The key is nowhere but Unit's store and the encrypted state.
    state = d.stack.state_text()
    shown = json.dumps(d.stack.outputs(show_secrets=True))
    for line in key_lines(certs["first"]):
        assert line not in state and line not in shown


# --- 2. an edit reviewed from the preview, then a rotation with no failed request --------


def test_2_preview_summary_then_rotation_under_load(lab: Any, edge: Deployment, ca: TestCA,
                                                    certs: dict[str, Leaf]) -> None:
    d = edge
    template = d.app_sources[APP] / "app" / "templates" / "index.html"
    template.write_text(template.read_text().replace("Hello from da-flask", "Hello over TLS"))
    configure(d, lab, tls={"source": "config"},
              securityHeaders={"Strict-Transport-Security": "max-age=300",
                               "X-Frame-Options": "DENY"})
    set_pem(d, certs["second"])
    before = unit_config(lab)
    preview = preview_json(d, "edit-and-rotate")
    assert unit_config(lab) == before  # a preview never touches the host
    summary = summarize(preview)
    assert "app/templates/index.html" in summary
    assert re.search(r"virtualenv.*reused", summary, re.I), summary
    assert "response_headers" in summary
    old = certificate_name(UNIT_APP, chain_sha256(certs["first"].chain_pem))
    new = certificate_name(UNIT_APP, chain_sha256(certs["second"].chain_pem))
    assert old in summary and new in summary, summary

    with tls_load(lab.address, DOMAIN, ca, "/healthz") as load:
        d.stack.up()
    assert load.results["200"] > 20 and not load.failures, (load.results, load.failures[:3])
    assert served_certificate(lab.address, DOMAIN) == certs["second"].cert
    assert sorted(unit_certificates(lab)) == [new]
    page = https_get(lab.address, DOMAIN, "/", ca)
    assert "Hello over TLS" in page.text
    assert page.headers["strict-transport-security"] == "max-age=300"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["content-security-policy"] == "default-src 'self'"


# --- 3. DirectAdmin's certificate, renewed behind our back -------------------------------


def test_3_directadmin_certificate_and_its_renewal(lab: Any, edge: Deployment, ca: TestCA,
                                                   certs: dict[str, Leaf]) -> None:
    d = edge
    install_da_certificate(lab, certs["da1"])
    configure(d, lab, tls={"source": "directadmin"})
    d.stack.up()
    assert served_certificate(lab.address, DOMAIN) == certs["da1"].cert
    first_name = certificate_name(UNIT_APP, chain_sha256(certs["da1"].chain_pem))
    assert list(unit_certificates(lab)) == [first_name]

    # No change: nothing to do, and the host is only read.
    assert "unchanged" in d.stack.preview("--diff").stdout

    # DirectAdmin's nightly renewal rewrites the files.
    install_da_certificate(lab, certs["da2"])
    refresh = d.stack.refresh("--diff")
    assert chain_sha256(certs["da2"].chain_pem) in refresh.stdout
    preview = preview_json(d, "directadmin-renewal")
    summary = summarize(preview)
    assert "renewed" in summary.lower() and "DirectAdmin" in summary, summary

    with tls_load(lab.address, DOMAIN, ca, "/healthz") as load:
        d.stack.up()
    assert not load.failures, load.failures[:3]
    assert served_certificate(lab.address, DOMAIN) == certs["da2"].cert
    renewed_name = certificate_name(UNIT_APP, chain_sha256(certs["da2"].chain_pem))
    assert list(unit_certificates(lab)) == [renewed_name]
    outputs = validate_outputs(d.stack.outputs())
    tls = outputs["apps"][APP]["tls"]
    assert tls is not None and tls["certificateName"] == renewed_name
    assert tls["notAfter"] == certs["da2"].not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    for line in key_lines(certs["da2"]):
        assert line not in d.stack.state_text()


# --- 4. the outputs feed another program: a DNS zone file ---------------------------------


def test_4_dns_zone_program_reads_the_outputs(lab: Any, edge: Deployment,
                                              tmp_path: Path) -> None:
    zone_path = tmp_path / "zones" / f"{DOMAIN}.zone"
    # The example as a user would run it: its own project, the same venv and backend.
    project = tmp_path / "dns_zone"
    (project / "stacks").mkdir(parents=True)
    for part in ("__main__.py", "zonefile.py"):
        (project / part).symlink_to(REPO / "examples" / "dns_zone" / part)
    (project / "Pulumi.yaml").write_text(
        (REPO / "examples" / "dns_zone" / "Pulumi.yaml").read_text()
        .replace("virtualenv: ../../.venv", f"virtualenv: {REPO / '.venv'}"))
    dns = Stack(project, "edge-dns", edge.stack.state_dir, passphrase=edge.stack.passphrase)
    try:
        dns.init()
        dns.set_config("source", f"organization/da-flask/{edge.stack.name}")
        dns.set_config("zone", DOMAIN)
        dns.set_config("path", str(zone_path))
        dns.set_config("nameservers", json.dumps(["ns1.example.net.", "ns2.example.net."]))
        dns.up()
        text = zone_path.read_text()
        assert f"$ORIGIN {DOMAIN}." in text
        assert re.search(rf"^@\s+3600\s+IN\s+A\s+{re.escape(lab.address)}$", text, re.M), text
        assert re.search(rf"^www\s+3600\s+IN\s+CNAME\s+{re.escape(DOMAIN)}\.$", text, re.M), text
        assert re.search(r"^@\s+\d+\s+IN\s+NS\s+ns1\.example\.net\.$", text, re.M), text
        serial = int(re.search(r"SOA\s+\S+\s+\S+\s+\(\s*(\d+)", text).group(1))  # type: ignore[union-attr]
        outputs = dns.outputs()
        assert outputs["serial"] == serial and outputs["path"] == str(zone_path)
        # No change upstream: no change here either (same serial).
        assert "unchanged" in dns.up().stdout and zone_path.read_text() == text
        # The zone follows the app's records: another alias, a new serial.
        configure(edge, lab, tls={"source": "directadmin"},
                  aliases=[f"www.{DOMAIN}", f"shop.{DOMAIN}"])
        edge.stack.up()
        dns.up()
        updated = zone_path.read_text()
        assert re.search(rf"^shop\s+3600\s+IN\s+A\s+{re.escape(lab.address)}$", updated, re.M)
        assert dns.outputs()["serial"] > serial
        dns.destroy()
        assert not zone_path.exists()
    finally:
        dns.run("stack", "rm", "--yes", "--force", "edge-dns", check=False)


# --- 5. destroy takes the certificate and the TLS listener away ----------------------------


def test_5_destroy_removes_the_tls_listener_and_bundles(lab: Any, edge: Deployment) -> None:
    edge.stack.destroy()
    config = unit_config(lab)
    assert "*:443" not in config.get("listeners", {})
    assert unit_certificates(lab) == {}
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"https://{lab.address}/", verify=False, timeout=5)



# --- two apps on one TLS listener, deployed in parallel -----------------------------------


def test_two_apps_share_the_tls_listener(lab_factory: Any, deployment_factory: Any,
                                         ca: TestCA) -> None:
    lab = lab_factory("edge-two", front="none")
    d = deployment_factory("edge-two", apps=("shop", "blog"))
    shop, blog = ca.issue("shop.example.com"), ca.issue("blog.example.com")
    d.stack.set_config("tlsCertificates.shop.chain", shop.chain_pem, secret=True, path=True)
    d.stack.set_config("tlsCertificates.shop.key", shop.key_pem, secret=True, path=True)
    base = f"/usr/local/directadmin/data/users/{lab.da_user}/domains/blog.example.com"
    lab.run(["install", "-d", "-m", "711", base.rsplit("/", 1)[0]])
    lab.run(["sh", "-c", 'cat > "$1"', "sh", f"{base}.cert.combined"], input=blog.chain_pem)
    lab.run(["sh", "-c", 'umask 077; cat > "$1"', "sh", f"{base}.key"], input=blog.key_pem)
    for app in ("shop", "blog"):
        d.stack.set_config(f"appSecrets.{app}.SECRET_KEY", f"{d.secret_key}-{app}", secret=True,
                           path=True)
    apps = [app_config("shop", "lab", "shop.example.com", d.app_sources["shop"], tls="config",
                       aliases=[], secretEnvironmentKeys=["SECRET_KEY"]),
            app_config("blog", "lab", "blog.example.com", d.app_sources["blog"], tls="directadmin",
                       aliases=[], secretEnvironmentKeys=["SECRET_KEY"])]
    d.write_config({"lab": host_config(lab)}, apps)
    d.stack.up("--parallel", "8")

    names = unit_config(lab)["listeners"]["*:443"]["tls"]["certificate"]
    assert sorted(names) == sorted([certificate_name(unit_name("edge-two", "shop"), chain_sha256(shop.chain_pem)),
                                    certificate_name(unit_name("edge-two", "blog"), chain_sha256(blog.chain_pem))])
    for domain, leaf in (("shop.example.com", shop), ("blog.example.com", blog)):
        assert served_certificate(lab.address, domain) == leaf.cert
        assert https_get(lab.address, domain, "/", ca).status_code == 200
    outputs = validate_outputs(d.stack.outputs())
    assert sorted(c["app"] for c in outputs["certificates"]) == ["blog", "shop"]

    # Removing one app leaves the other's certificate serving on the same listener.
    d.write_config({"lab": host_config(lab)}, apps[1:])
    d.stack.up()
    assert unit_config(lab)["listeners"]["*:443"]["tls"]["certificate"] == [
        certificate_name(unit_name("edge-two", "blog"), chain_sha256(blog.chain_pem))]
    assert list(unit_certificates(lab)) == [
        certificate_name(unit_name("edge-two", "blog"), chain_sha256(blog.chain_pem))]
    assert https_get(lab.address, "blog.example.com", "/", ca).status_code == 200
