"""Path-addressed reads and edits of a JSON tree, the way Unit's control API
addresses its configuration: object members by name, array elements by a
plain decimal index.  Edits return a new tree and leave the old one alone."""
from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any


class Missing(LookupError):
    """No value at that path (404)."""


class NotAnArray(TypeError):
    """POST to something other than an array (405)."""


class BelowScalar(TypeError):
    """A PUT whose parent is a string or number.  Unit 1.35.0's controller
    crashes on it, so the client only sees its connection close."""


_INDEX = re.compile(r"0|[1-9][0-9]*")


def _index(array: list[Any], segment: str, *, may_append: bool = False) -> int:
    if not _INDEX.fullmatch(segment):
        raise Missing(segment)
    index = int(segment)
    if index < len(array) or (may_append and index == len(array)):
        return index
    raise Missing(segment)


def get(tree: Any, path: Sequence[str]) -> Any:
    node = tree
    for segment in path:
        if isinstance(node, dict) and segment in node:
            node = node[segment]
        elif isinstance(node, list):
            node = node[_index(node, segment)]
        else:
            raise Missing(segment)
    return node


def put(tree: Any, path: Sequence[str], value: Any) -> Any:
    """tree with value at path; an index one past an array's end appends."""
    if not path:
        return value
    new = copy.deepcopy(tree)
    parent, last = get(new, path[:-1]), path[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        index = _index(parent, last, may_append=True)
        parent[index:index + 1] = [value]
    else:
        raise BelowScalar(last)
    return new


def append(tree: Any, path: Sequence[str], value: Any) -> Any:
    """tree with value added at the end of the array at path."""
    new = copy.deepcopy(tree)
    target = get(new, path)
    if not isinstance(target, list):
        raise NotAnArray("/".join(path))
    target.append(value)
    return new


def delete(tree: Any, path: Sequence[str]) -> Any:
    new = copy.deepcopy(tree)
    parent, last = get(new, path[:-1]), path[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(parent, last)]
    else:
        raise Missing(last)
    return new
