"""daunit.provider_start without an engine: what the call sends, and the exit's wait."""
from __future__ import annotations

import threading
import time
from typing import Any

import grpc
import pytest

from daunit import provider_start
from daunit.provider_start import SETTLE_S, TOKEN, ProviderStart


class _Refused(grpc.RpcError):
    pass


class _Monitor:
    """Answers Invoke after `delay` seconds with the error the dynamic provider gives."""

    def __init__(self, delay: float) -> None:
        self.delay, self.requests = delay, []  # type: ignore[var-annotated]
        self.threads: list[str] = []

    def Invoke(self, request: Any) -> None:
        self.requests.append(request)
        self.threads.append(threading.current_thread().name)
        time.sleep(self.delay)
        raise _Refused()


def test_the_call_names_the_dynamic_package_and_its_error_is_dropped() -> None:
    monitor = _Monitor(0.0)
    start = ProviderStart(monitor)  # type: ignore[arg-type]
    start.thread.start()
    start.settle()
    (request,) = monitor.requests
    assert request.tok == TOKEN and TOKEN.startswith("pulumi-python:")
    assert monitor.threads == ["provider-start"]
    assert start.answered_at is not None


def test_exit_waits_for_the_answer_and_a_moment_after_it() -> None:
    start = ProviderStart(_Monitor(0.2))  # type: ignore[arg-type]
    began = time.monotonic()
    start.thread.start()
    start.settle()
    ended = time.monotonic()
    assert start.answered_at is not None and start.answered_at - began >= 0.2
    assert ended - start.answered_at >= SETTLE_S


def test_exit_long_after_the_answer_does_not_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    start = ProviderStart(_Monitor(0.0))  # type: ignore[arg-type]
    start.thread.start()
    start.thread.join()
    time.sleep(SETTLE_S)
    slept: list[float] = []
    monkeypatch.setattr(provider_start.time, "sleep", slept.append)
    start.settle()
    assert slept == []


def test_no_engine_no_call(monkeypatch: pytest.MonkeyPatch) -> None:
    from pulumi.runtime import settings

    monkeypatch.setattr(settings, "get_monitor", lambda: None)
    assert provider_start.start_provider_early() is None
