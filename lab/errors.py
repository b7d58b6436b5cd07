"""The one exception the lab raises."""

from __future__ import annotations


class LabError(RuntimeError):
    """A lab host could not be made, reached or removed; the message says why."""
