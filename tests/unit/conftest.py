"""Builders shared by the pure unit tests: valid raw config to start from."""
from __future__ import annotations

import base64
import struct
from typing import Any

import pytest


def ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def ed25519_key_b64(seed: int = 1) -> str:
    """A well-formed ssh-ed25519 public key blob (type string + 32 key bytes)."""
    return base64.b64encode(ssh_string(b"ssh-ed25519") + ssh_string(bytes([seed]) * 32)).decode()


def host_raw(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": "web1",
        "address": "203.0.113.10",
        "hostKey": f"ssh-ed25519 {ed25519_key_b64()}",
        "daUser": "username",
    }
    raw.update(changes)
    return raw


def app_raw(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": "flask_app",
        "host": "web1",
        "domain": "example.com",
        "source": "examples/flask_app",
        "environment": {"FLASK_CONFIG": "production"},
        "secretEnvironmentKeys": ["SECRET_KEY"],
    }
    raw.update(changes)
    return raw


@pytest.fixture
def key_b64() -> str:
    return ed25519_key_b64()
