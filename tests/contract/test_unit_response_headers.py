"""`response_headers` on route actions (Unit >= 1.31), for the double and a real
unitd: what da-flask renders for its security headers is accepted, on a `pass`
and a `share` action alike, and Unit's refusals read the same on both."""
from __future__ import annotations

from typing import Any

import pytest

from .conftest import UnitApi
from .helpers import DONE, EMPTY_CONF, assert_reply, invalid, put

HEADERS = {
    "Content-Security-Policy": "default-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
}


def test_security_headers_on_share_and_pass(unit_api: UnitApi) -> None:
    app = unit_api.python_app()
    assert_reply(put(unit_api, "/config/applications/flask", app), 200, DONE)
    route = [
        {"match": {"uri": "/static/*"},
         "action": {"share": f"{unit_api.app_dir}$uri", "response_headers": HEADERS}},
        {"action": {"pass": "applications/flask", "response_headers": HEADERS}},
    ]
    assert_reply(put(unit_api, "/config/routes", {"site": route}), 200, DONE)
    assert unit_api.client.get("/config/routes/site").json() == route
    # A null value (remove the header) is accepted too.
    assert_reply(put(unit_api, "/config/routes/site/1/action/response_headers/X-Powered-By",
                     None), 200, DONE)


@pytest.mark.parametrize("headers,detail", [
    ({"Content-Length": "5"}, 'The "Content-Length" response header value is not supported'),
    ({"X-Test": 5}, 'The "X-Test" response header value must either be a string or a null'),
    ({"X-Test": "$nosuchvar"}, 'Unknown variable "nosuchvar" in the "X-Test" value.'),
    ("x", 'The "response_headers" value must be an object, but not a string.'),
])
def test_refused_response_headers(unit_api: UnitApi, headers: Any, detail: str) -> None:
    route = [{"action": {"return": 204, "response_headers": headers}}]
    assert_reply(put(unit_api, "/config/routes", route), 400, invalid(detail))
    assert_reply(unit_api.client.get("/config"), 200, EMPTY_CONF)
