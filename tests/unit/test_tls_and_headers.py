"""Security headers and TLS, the pure parts: config validation, rendering,
certificate naming, the listener's certificate list, the provider's diff and
check, and the typed stack outputs."""
from __future__ import annotations

import hashlib
import ssl
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from pydantic import ValidationError

from daunit.outputs import validate_outputs
from daunit.providers.base import UNKNOWN
from daunit.providers.unit_cert import UnitCertificateProvider
from daunit.render import (
    app_urls,
    certificate_facts,
    certificate_name,
    chain_sha256,
    directadmin_cert_files,
    leaf_sha256,
    owns_certificate,
    tls_bundle,
    unit_route,
    unit_time_iso,
)
from daunit.routing import certificates_with, certificates_without, listener_certificates
from daunit.spec import DEFAULT_SECURITY_HEADERS, AppSpec
from daunit.spec.pem import tls_bundle_problems
from tests.support.certs import TestCA
from tests.unit.conftest import app_raw, host_raw
from tests.unit.test_models import app_errors, stack_errors
from tests.unit.test_render import OWNER, specs


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA()


@pytest.fixture(scope="module")
def leaf(ca: TestCA) -> Any:
    return ca.issue("example.com", "www.example.com")


# --- security headers: config -----------------------------------------------------------


def test_security_headers_default_to_the_seeds() -> None:
    app, _ = specs()
    assert app.security_headers == {
        "Content-Security-Policy": "default-src 'self'",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "SAMEORIGIN",
    }
    assert specs(securityHeaders=True)[0].security_headers == DEFAULT_SECURITY_HEADERS


def test_security_headers_off() -> None:
    app, host = specs(securityHeaders=False)
    assert app.security_headers == {}
    assert all("response_headers" not in step["action"] for step in unit_route(app, host, OWNER))


def test_security_headers_merge_over_the_defaults_by_name() -> None:
    app, _ = specs(securityHeaders={"content-security-policy": "default-src 'self' cdn.example.com",
                                    "X-Frame-Options": None,
                                    "Strict-Transport-Security": "max-age=63072000"})
    assert app.security_headers == {
        "Strict-Transport-Security": "max-age=63072000",
        "X-Content-Type-Options": "nosniff",
        "content-security-policy": "default-src 'self' cdn.example.com",
    }


def test_every_route_action_carries_the_headers() -> None:
    app, host = specs()
    static, rest = unit_route(app, host, OWNER)
    assert static["action"]["response_headers"] == DEFAULT_SECURITY_HEADERS
    assert rest["action"]["response_headers"] == DEFAULT_SECURITY_HEADERS


@pytest.mark.parametrize(("headers", "path", "fragment"), [
    ({"Bad Name": "x"}, "apps[0].securityHeaders['Bad Name']", "not an HTTP header name"),
    ({"Content-Length": "5"}, "apps[0].securityHeaders.Content-Length", "frames the response"),
    ({"X-Test": "a\r\nSet-Cookie: x=1"}, "apps[0].securityHeaders.X-Test", "line break"),
    ({"X-Test": "$host"}, "apps[0].securityHeaders.X-Test", "variable"),
    ({"X-Test": ""}, "apps[0].securityHeaders.X-Test", "non-empty text"),
    ({"X-Test": 5}, "apps[0].securityHeaders.X-Test", "quote it"),
    ("yes", "apps[0].securityHeaders", "map of header name"),
])
def test_bad_security_headers(headers: Any, path: str, fragment: str) -> None:
    errors = app_errors(securityHeaders=headers)
    assert fragment in errors[path], errors


# --- TLS: config -------------------------------------------------------------------------


def test_tls_defaults_and_shorthand() -> None:
    app, host = specs(tls={"source": "directadmin"})
    assert app.tls is not None and (app.tls.source, app.tls.listener) == ("directadmin", "*:443")
    assert specs(tls="config")[0].tls == AppSpec.model_validate(app_raw(tls={"source": "config"})).tls
    assert specs(tls=False)[0].tls is None
    assert directadmin_cert_files(app, host) == (
        "/usr/local/directadmin/data/users/username/domains/example.com.cert.combined",
        "/usr/local/directadmin/data/users/username/domains/example.com.key")
    data = "/usr/local/directadmin/data/users/username/domains"
    app, host = specs(tls={"source": "directadmin", "certFile": f"{data}/shop.example.com.cert.combined",
                           "keyFile": f"{data}/shop.example.com.key"})
    assert directadmin_cert_files(app, host) == (f"{data}/shop.example.com.cert.combined",
                                                 f"{data}/shop.example.com.key")


def test_tls_files_are_the_users_own_in_directadmins_data() -> None:
    """Root reads them on the host: never a root file, nor another user's."""
    errors = app_errors(tls={"source": "directadmin", "certFile": "/etc/ssl/site.pem",
                             "keyFile": "/usr/local/directadmin/data/users/bob/domains/b.com.key"})
    assert "not one of daUser 'username'" in errors["apps[0].tls.certFile"]
    assert "/usr/local/directadmin/data/users/username/domains/" in errors["apps[0].tls.keyFile"]


def test_https_urls_come_first() -> None:
    assert app_urls(specs(tls="config")[0]) == [
        "https://example.com/", "https://www.example.com/",
        "http://example.com/", "http://www.example.com/"]
    app = specs(tls={"source": "config", "listener": "*:8443"}, listener="*:8080")[0]
    assert app_urls(app)[0] == "https://example.com:8443/"
    assert app_urls(specs()[0]) == ["http://example.com/", "http://www.example.com/"]


def test_bad_tls_config() -> None:
    assert "not known" in app_errors(tls={"source": "letsencrypt"})["apps[0].tls.source"]
    assert "port of the app's listener" in app_errors(tls={"source": "config",
                                                           "listener": "*:80"})["apps[0].tls"]
    assert "not a Unit listener" in app_errors(tls={"source": "config",
                                                    "listener": "443"})["apps[0].tls.listener"]
    assert "source: directadmin" in app_errors(tls={"source": "config", "certFile": "/x.pem"})[
        "apps[0].tls.certFile"]
    assert "absolute path" in app_errors(tls={"source": "directadmin", "keyFile": "x.key"})[
        "apps[0].tls.keyFile"]


def test_pasted_pem_in_a_path_is_not_echoed(leaf: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        AppSpec.model_validate(app_raw(tls={"source": "directadmin", "keyFile": leaf.key_pem}))
    text = str(caught.value) + repr(caught.value.errors())
    assert "PEM material" in text
    assert leaf.key_pem.splitlines()[1] not in text


def test_a_port_is_either_tls_or_plain_on_a_host() -> None:
    errors = stack_errors({"web1": host_raw()}, [
        app_raw(),
        app_raw(name="blog", domain="blog.example.com", listener="*:8443",
                tls={"source": "config", "listener": "*:443"}),
        app_raw(name="shop", domain="shop.example.com", tls={"source": "config", "listener": "*:8443"}),
    ])
    assert "TLS here but plain HTTP" in errors["apps[2].tls.listener"]
    # Two apps sharing one TLS listener are fine (Unit picks the certificate by SNI).
    stack_errors_free = [app_raw(tls="config"),
                         app_raw(name="shop", domain="shop.example.com", tls="config")]
    from daunit.spec import parse_stack
    parse_stack({"web1": host_raw()}, stack_errors_free, check_source=False)


# --- TLS material ------------------------------------------------------------------------


def test_a_good_bundle_has_no_problems(ca: TestCA, leaf: Any) -> None:
    assert tls_bundle_problems(leaf.chain_pem, leaf.key_pem, "example.com") == []
    wildcard = ca.issue("*.example.com", rsa_key=True)
    assert tls_bundle_problems(wildcard.chain_pem, wildcard.key_pem, "shop.example.com") == []
    assert tls_bundle_problems(wildcard.chain_pem, wildcard.key_pem, "a.b.example.com") != []


def test_bundle_problems_name_fields_never_content(ca: TestCA, leaf: Any) -> None:
    other = ca.issue("other.example")
    encrypted = serialization.load_pem_private_key(leaf.key_pem.encode(), None).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass")).decode()
    cases = {
        "mismatch": (leaf.chain_pem, other.key_pem, "does not belong to the first certificate"),
        "wrong name": (other.chain_pem, other.key_pem, "not for the app's domain example.com"),
        "key in chain": (leaf.chain_pem + leaf.key_pem, leaf.key_pem, "holds a private key"),
        "no key": (leaf.chain_pem, "", "holds no PEM private key"),
        "encrypted": (leaf.chain_pem, encrypted, "is encrypted"),
        "garbled": (leaf.chain_pem.replace("MII", "M!I"), leaf.key_pem, "not readable"),
        "not text": (None, leaf.key_pem, "holds no PEM certificate"),
    }
    secrets = [line for pem in (leaf.key_pem, other.key_pem, encrypted)
               for line in pem.splitlines() if "-----" not in line]
    for label, (chain, key, fragment) in cases.items():
        problems = tls_bundle_problems(chain, key, "example.com", where="tlsCertificates.flask_app")
        text = " ".join(m for _, m in problems)
        assert fragment in text, (label, problems)
        assert all(f.startswith("tlsCertificates.flask_app.") for f, _ in problems)
        assert not any(s in text for s in secrets), label


# --- naming and bundles -----------------------------------------------------------------


def test_names_are_content_derived_and_owned_per_app(leaf: Any) -> None:
    digest = chain_sha256(leaf.chain_pem)
    assert digest == chain_sha256(leaf.chain_pem.replace("\n", "\r\n") + "\n\n")
    name = certificate_name("flask_app", digest)
    assert name == f"flask_app-{digest[:16]}"
    assert owns_certificate("flask_app", name)
    assert not owns_certificate("flask", name)
    assert not owns_certificate("flask_app", f"flask_app_2-{digest[:16]}")
    assert not owns_certificate("flask_app", "flask_app-manual")
    with pytest.raises(ValueError):
        certificate_name("flask_app", "nothex")


def test_bundle_is_chain_then_key_with_line_breaks(leaf: Any) -> None:
    body = tls_bundle(leaf.chain_pem, leaf.key_pem).decode()
    assert body.index("BEGIN CERTIFICATE") < body.index("PRIVATE KEY")
    assert body.count("BEGIN CERTIFICATE") == 2 and body.endswith("-----\n")
    assert "\n\n" not in body


def test_leaf_sha256_is_the_served_der(leaf: Any) -> None:
    der = ssl.PEM_cert_to_DER_cert(leaf.cert_pem)
    assert leaf_sha256(leaf.chain_pem) == hashlib.sha256(der).hexdigest()


def test_certificate_facts_from_units_answer() -> None:
    info = {"key": "RSA (2048 bits)", "chain": [
        {"subject": {"common_name": "example.com", "alt_names": ["example.com", "www.example.com"]},
         "issuer": {"common_name": "R11", "organization": "Let's Encrypt"},
         "validity": {"since": "Nov  3 21:16:09 2026 GMT", "until": "Feb  1 21:16:08 2027 GMT"}},
        {"subject": {"common_name": "R11"}, "issuer": {"organization": "ISRG"},
         "validity": {"since": "Mar 13 00:00:00 2024 GMT", "until": "Mar 12 23:59:59 2027 GMT"}}]}
    assert certificate_facts(info) == {
        "subjectNames": ["example.com", "www.example.com"], "issuer": "R11",
        "notBefore": "2026-11-03T21:16:09Z", "notAfter": "2027-02-01T21:16:08Z",
        "keyType": "RSA (2048 bits)", "chainLength": 2}
    with pytest.raises(ValueError):
        unit_time_iso("2026-11-03")


# --- the listener's certificate array ----------------------------------------------------


def test_certificate_list_edits_touch_only_this_apps_entry() -> None:
    def mine(n: str) -> bool:
        return owns_certificate("shop", n)
    old, new = "shop-" + "a" * 16, "shop-" + "b" * 16
    others = ["blog-" + "c" * 16, "manual"]
    assert certificates_with([others[0], old, others[1]], mine, new) == [others[0], new, others[1]]
    assert certificates_with(others, mine, new) == [*others, new]
    assert certificates_with([new, *others], mine, new) == [new, *others]
    assert certificates_without([others[0], old, others[1]], mine) == others
    assert listener_certificates({"tls": {"certificate": "one"}}) == ["one"]
    assert listener_certificates({"pass": "routes/x"}) == []


# --- the provider's pure parts ---------------------------------------------------------------


def cert_props(**changes: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "connection": {"host": "203.0.113.10", "port": 22, "user": "root", "knownHosts": "x"},
        "app": "flask_app", "domain": "example.com", "source": "config", "listener": "*:443",
        "dispatchRoute": "da-flask-hosts", "socket": "/var/run/unit/control.sock",
    }
    props.update(changes)
    return props


def test_diff_ignores_the_key_and_follows_the_chain(leaf: Any, ca: TestCA) -> None:
    provider = UnitCertificateProvider()
    digest = chain_sha256(leaf.chain_pem)
    olds = cert_props(chain=leaf.chain_pem, chainSha256=digest, name="flask_app-x",
                      sourceSha256=digest, installedSha256=digest)
    news = cert_props(chain=leaf.chain_pem, chainSha256=digest, key=leaf.key_pem,
                      **dict.fromkeys(UnitCertificateProvider.outputs))
    assert not provider.diff("flask_app", olds, news).changes
    renewed = ca.issue("example.com")
    changed = provider.diff("flask_app", olds, {**news, "chain": renewed.chain_pem,
                                                "chainSha256": chain_sha256(renewed.chain_pem)})
    assert changed.changes and not changed.replaces
    moved = provider.diff("flask_app", olds, {**news, "listener": "*:8443"})
    assert moved.changes and not moved.replaces
    assert provider.diff("flask_app", olds, {**news, "app": "shop"}).replaces == ["app"]


def test_diff_after_refresh_saw_a_renewal_or_a_missing_bundle() -> None:
    provider = UnitCertificateProvider()
    base = cert_props(source="directadmin", certFile="/c", keyFile="/k")
    olds = {**base, "name": "flask_app-x", "sourceSha256": "b" * 64, "installedSha256": "a" * 64}
    news = {**base, **dict.fromkeys(UnitCertificateProvider.outputs)}
    assert provider.diff("flask_app", olds, news).changes
    assert provider.diff("flask_app", {**olds, "sourceSha256": "a" * 64, "installedSha256": None},
                         news).changes
    assert not provider.diff("flask_app", {**olds, "sourceSha256": "a" * 64}, news).changes


def test_check_reports_missing_and_bad_material_without_content(leaf: Any, ca: TestCA) -> None:
    provider = UnitCertificateProvider()
    failures = provider.check({}, cert_props(chain=None, key=None)).failures
    assert {f.property for f in failures} == {"chain", "key"}
    assert "pulumi config set --secret --path tlsCertificates.flask_app.chain" in failures[0].reason
    other = ca.issue("example.com")
    failures = provider.check({}, cert_props(chain=leaf.chain_pem, key=other.key_pem)).failures
    assert [f.property for f in failures] == ["key"]
    assert other.key_pem.splitlines()[1] not in failures[0].reason
    assert provider.check({}, cert_props(chain=leaf.chain_pem, key=leaf.key_pem)).failures == []
    assert provider.check({}, cert_props(chain=UNKNOWN, key=UNKNOWN)).failures == []
    failures = provider.check({}, cert_props(source="directadmin")).failures
    assert {f.property for f in failures} == {"certFile", "keyFile"}


# --- outputs ------------------------------------------------------------------------------


def test_outputs_shape_is_checked() -> None:
    good = {
        "outputsVersion": 1,
        "hosts": {"web1": {"address": "203.0.113.10", "dnsAddress": "203.0.113.10",
                           "unitVersion": "1.35.0", "pythonModules": ["3.11.2"]}},
        "apps": {"shop": {"host": "web1", "domain": "shop.example.com",
                          "domains": ["shop.example.com"], "urls": ["https://shop.example.com/"],
                          "releaseId": "0" * 16, "venvKey": "py3.11-" + "0" * 16,
                          "tls": {"listener": "*:443", "source": "directadmin",
                                  "certificateName": "shop-" + "0" * 16,
                                  "subjectNames": ["shop.example.com"], "issuer": "R11",
                                  "notBefore": "2026-01-01T00:00:00Z",
                                  "notAfter": "2026-04-01T00:00:00Z"}}},
        "dnsRecords": [{"name": "shop.example.com", "type": "A", "value": "203.0.113.10",
                        "ttl": 3600}],
        "urls": ["https://shop.example.com/"],
        "certificates": [],
    }
    assert validate_outputs(good) == good
    with pytest.raises(ValidationError, match="dnsRecords.0.type"):
        validate_outputs({**good, "dnsRecords": [{**good["dnsRecords"][0], "type": "MX"}]})
