"""A bounded loop of requests in a background thread, counting every answer,
to show that a change served no failed request."""
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

import httpx


class RequestLoop:
    """Calls each of `requests` in turn until stopped (at most `limit` seconds).

    A request is a callable returning an httpx.Response; any status other than
    `expect`, and any httpx error, is a failure.
    """

    def __init__(self, requests: Sequence[Callable[[], httpx.Response]], *, expect: int = 200,
                 limit: float = 300.0, warmup: float = 0.0,
                 cleanup: Callable[[], object] | None = None) -> None:
        self.requests, self.expect, self.limit, self.warmup = list(requests), expect, limit, warmup
        self.cleanup = cleanup
        self.results: Counter[str] = Counter()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            for request in self.requests:
                try:
                    response = request()
                    self.results[str(response.status_code)] += 1
                    if response.status_code != self.expect:
                        self.failures.append(f"HTTP {response.status_code}: {response.text[:200]}")
                except httpx.HTTPError as exc:
                    self.results["error"] += 1
                    self.failures.append(repr(exc))

    def __enter__(self) -> RequestLoop:
        self._thread.start()
        time.sleep(self.warmup)
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(self.warmup)
        self._stop.set()
        self._thread.join()
        if self.cleanup is not None:
            self.cleanup()
