"""Certificate bundles on the control API, for the double and a real unitd."""
from __future__ import annotations

import httpx

from .conftest import SINCE_TEXT, UNTIL_TEXT, Pem, UnitApi, make_cert
from .helpers import APPLY_FAILED, DONE, assert_reply, invalid, put

UPLOADED = {"success": "Certificate chain uploaded."}
INVALID_CERT = {"error": "Invalid certificate."}
VALIDITY = {"since": SINCE_TEXT, "until": UNTIL_TEXT}


def upload(api: UnitApi, name: str, data: bytes) -> httpx.Response:
    return api.client.put(f"/certificates/{name}", content=data)


def test_upload_and_read_back(unit_api: UnitApi, localhost_cert: Pem) -> None:
    assert_reply(upload(unit_api, "site", localhost_cert.bundle), 200, UPLOADED)
    info = {"key": "RSA (2048 bits)", "chain": [{
        "subject": {"common_name": "localhost", "alt_names": ["localhost"]},
        "issuer": {"common_name": "localhost"},
        "validity": VALIDITY,
    }]}
    assert_reply(unit_api.client.get("/certificates"), 200, {"site": info})
    assert_reply(unit_api.client.get("/certificates/site"), 200, info)
    assert_reply(unit_api.client.get("/certificates/site/chain/0/validity/until"), 200,
                 UNTIL_TEXT)
    assert unit_api.client.get("/").json()["certificates"] == {"site": info}


def test_name_details_and_key_kinds(unit_api: UnitApi, ec_cert: Pem) -> None:
    # Key after the chain or before it: both are one bundle to Unit.
    assert_reply(upload(unit_api, "shop", ec_cert.key + ec_cert.cert), 200, UPLOADED)
    subject = {"common_name": "shop.example",
               "alt_names": ["shop.example", "www.shop.example"],
               "country": "DE", "state_or_province": "Berlin", "locality": "Berlin",
               "organization": "Contract Org", "department": "Web"}
    issuer = {k: v for k, v in subject.items() if k != "alt_names"}
    assert_reply(unit_api.client.get("/certificates/shop"), 200, {
        "key": "ECDH",
        "chain": [{"subject": subject, "issuer": issuer, "validity": VALIDITY}]})


def test_bundles_are_immutable(unit_api: UnitApi, localhost_cert: Pem) -> None:
    assert_reply(upload(unit_api, "site", localhost_cert.bundle), 200, UPLOADED)
    assert_reply(upload(unit_api, "site", localhost_cert.bundle), 400,
                 {"error": "Certificate already exists."})


def test_invalid_bundles(unit_api: UnitApi, localhost_cert: Pem, ec_cert: Pem) -> None:
    cases = {
        "nokey": localhost_cert.cert,
        "keyonly": localhost_cert.key,
        "garbage": b"garbage",
        "empty": b"",
        "stripped": localhost_cert.bundle.replace(b"\n", b""),  # what curl -d sends
        "twokeys": localhost_cert.bundle + ec_cert.key,
        "badbase64": localhost_cert.cert.replace(b"MII", b"M!I") + localhost_cert.key,
    }
    for name, data in cases.items():
        response = upload(unit_api, name, data)
        assert (name, response.status_code, response.json()) == (name, 400, INVALID_CERT)
    assert_reply(unit_api.client.get("/certificates"), 200, {})


def test_names_and_methods(unit_api: UnitApi, localhost_cert: Pem) -> None:
    bad_name = {"error": "Invalid certificate name."}
    assert_reply(unit_api.client.put("/certificates", content=localhost_cert.bundle), 400,
                 bad_name)
    assert_reply(unit_api.client.put("/certificates/a/b", content=localhost_cert.bundle), 400,
                 bad_name)
    assert_reply(unit_api.client.post("/certificates/c", content=localhost_cert.bundle), 405,
                 {"error": "Invalid method."})
    missing = {"error": "Certificate doesn't exist."}
    assert_reply(unit_api.client.get("/certificates/nope"), 404, missing)
    assert_reply(unit_api.client.get("/certificates/nope/chain"), 404, missing)
    assert_reply(unit_api.client.delete("/certificates/nope"), 404, missing)
    assert_reply(upload(unit_api, "site", localhost_cert.bundle), 200, UPLOADED)
    assert_reply(unit_api.client.get("/certificates/site/chain/5"), 404,
                 {"error": "Invalid path."})


def test_listeners_and_certificates(unit_api: UnitApi, localhost_cert: Pem,
                                    ec_cert: Pem) -> None:
    listener = {"pass": "routes", "tls": {"certificate": "nosuchcert"}}
    assert_reply(put(unit_api, "/config/listeners/127.0.0.1:18443", listener), 400,
                 invalid('Certificate "nosuchcert" is not found.'))
    assert_reply(put(unit_api, "/config/listeners/127.0.0.1:18443",
                     {"pass": "routes", "tls": {}}), 400,
                 invalid('Required parameter "certificate" is missing.'))
    assert_reply(put(unit_api, "/config/listeners/127.0.0.1:18443",
                     {"pass": "routes", "tls": {"certificate": []}}), 400,
                 invalid('The "certificate" array must contain at least one element.'))

    assert_reply(upload(unit_api, "site", localhost_cert.bundle), 200, UPLOADED)
    assert_reply(upload(unit_api, "shop", ec_cert.bundle), 200, UPLOADED)
    assert_reply(put(unit_api, "/config/listeners/127.0.0.1:18443",
                     {"pass": "routes", "tls": {"certificate": ["site", "shop"]}}), 200, DONE)
    used = {"error": "Certificate is used in the configuration."}
    assert_reply(unit_api.client.delete("/certificates/site"), 400, used)
    assert_reply(unit_api.client.delete("/certificates/shop"), 400, used)

    # Rotation: a new bundle under a new name, switch, then remove the old one.
    assert_reply(upload(unit_api, "site-2", localhost_cert.bundle), 200, UPLOADED)
    assert_reply(put(unit_api, "/config/listeners/127.0.0.1:18443/tls/certificate",
                     "site-2"), 200, DONE)
    assert_reply(unit_api.client.delete("/certificates/site"), 200,
                 {"success": "Certificate deleted."})
    assert_reply(unit_api.client.delete("/certificates/shop"), 200,
                 {"success": "Certificate deleted."})
    assert set(unit_api.client.get("/certificates").json()) == {"site-2"}


def test_a_key_that_does_not_fit_fails_only_when_used(unit_api: UnitApi,
                                                      localhost_cert: Pem) -> None:
    other = make_cert("localhost", ("localhost",))
    assert_reply(upload(unit_api, "mismatch", localhost_cert.cert + other.key), 200, UPLOADED)
    before = unit_api.client.get("/config").json()
    assert_reply(put(unit_api, "/config/listeners/127.0.0.1:18444",
                     {"pass": "routes", "tls": {"certificate": "mismatch"}}), 500,
                 APPLY_FAILED)
    assert unit_api.client.get("/config").json() == before
    assert "key values mismatch" in unit_api.log_text()

