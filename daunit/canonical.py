"""Canonical JSON: one byte sequence per value.

Unit restarts an application when the same object arrives with its keys in
another order, so every body we send, and every value we compare, goes
through here.
"""
from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no insignificant white space, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
