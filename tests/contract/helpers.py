"""Expected bodies and small request helpers shared by the contract tests."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from .conftest import UnitApi

EMPTY_CONF: dict[str, Any] = {"listeners": {}, "routes": [], "applications": {}}
DONE = {"success": "Reconfiguration done."}
NOT_FOUND = {"error": "Value doesn't exist."}
NOT_ALLOWED = {"error": "Method isn't allowed."}
APPLY_FAILED = {"error": "Failed to apply new configuration."}


def invalid(detail: str) -> dict[str, str]:
    return {"error": "Invalid configuration.", "detail": detail}


def points_nowhere(target: str) -> dict[str, str]:
    return invalid(f'Request "pass" points to invalid location "{target}".')


def put(api: UnitApi, path: str, value: Any) -> httpx.Response:
    return api.client.put(path, content=json.dumps(value))


def logged(api: UnitApi, text: str) -> Callable[[], bool]:
    """A check for wait_for: text has reached unit.log."""
    return lambda: text in api.log_text()


def assert_reply(response: httpx.Response, status: int, body: Any) -> None:
    assert (response.status_code, response.json()) == (status, body)
