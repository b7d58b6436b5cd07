"""Canonical JSON: one byte sequence per value.

Unit restarts an application when the same object arrives with its keys in
another order, so every body we send, and every value we compare, goes
through here.
"""
from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no insignificant white space, UTF-8, whole numbers as integers."""
    return json.dumps(_whole(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _whole(value: Any) -> Any:
    """2.0 -> 2, everywhere in `value`.

    Pulumi carries every number as a float, so `processes.max: 2` reaches a
    provider as 2.0, and Unit would store (and show) `"max": 2.0`. Every
    number in Unit's config is a whole one.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_whole(v) for v in value]
    return value
