"""The requirements audit: which lines are pins, what PyPI says of them,
what happens without an answer, and the cache that keeps no-ops quiet."""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from daunit.audit import audit, cached_audit, pins, summary_lines

VULN = {"id": "PYSEC-2099-1", "aliases": ["CVE-2099-1"], "fixed_in": ["2.0.1"], "withdrawn": None}


def fake_index(pages: dict[str, tuple[int, Any]], calls: list[str] | None = None) -> Any:
    def fetch(url: str) -> httpx.Response:
        if calls is not None:
            calls.append(url)
        if url not in pages:
            return httpx.Response(404, json={"message": "Not Found"})
        status, body = pages[url]
        if isinstance(body, Exception):
            raise body
        return httpx.Response(status, json=body)
    return fetch


def test_pins_and_what_cannot_be_audited() -> None:
    found, skipped = pins("Flask==3.1.3\n# c\n\nrequests>=2\nsome_pkg===1.0 ; python_version>'3'\n"
                          "-r other.txt\ngit+https://example.org/x.git#egg=x\nzope.interface==7.0 \\\n"
                          "  --hash=sha256:abc\n")
    assert found == [("flask", "3.1.3"), ("some-pkg", "1.0"), ("zope-interface", "7.0")]
    assert any(s.startswith("requests: not pinned") for s in skipped)
    assert any(s.startswith("-r:") for s in skipped)
    assert len(skipped) == 3


def test_a_vulnerable_release_is_named_with_its_fix() -> None:
    fetch = fake_index({"https://pypi.org/pypi/flask/0.12/json": (200, {"vulnerabilities": [VULN]}),
                        "https://pypi.org/pypi/jinja2/3.1.6/json": (200, {"vulnerabilities": []})})
    report = audit("flask==0.12\njinja2==3.1.6\n", fetch)
    assert [f.describe() for f in report.findings] == ["flask==0.12: PYSEC-2099-1 (fixed in 2.0.1)"]
    assert report.complete


def test_an_index_with_only_project_pages_still_audits_the_latest_release() -> None:
    project = {"info": {"version": "2.6.1"}, "vulnerabilities": [dict(VULN, fixed_in=[])]}
    fetch = fake_index({"https://pypi.org/pypi/pycrypto/json": (200, project),
                        "https://pypi.org/pypi/old/json": (200, {"info": {"version": "9"}})})
    report = audit("pycrypto==2.6.1\nold==1.0\n", fetch)
    assert report.findings[0].describe() == "pycrypto==2.6.1: PYSEC-2099-1 (no fixed version)"
    assert report.unaudited == ["old==1.0: no vulnerability data for 1.0 from this index "
                                "(only for the latest release)"]


def test_no_answer_is_said_never_passed() -> None:
    fetch = fake_index({"https://pypi.org/pypi/flask/3.1.3/json": (0, httpx.ConnectError("refused"))})
    report = audit("flask==3.1.3\n", fetch)
    assert not report.complete and report.unaudited == ["flask==3.1.3: PyPI did not answer (ConnectError)"]
    assert list(summary_lines("shop", report)) == [
        "app shop: not audited: flask==3.1.3: PyPI did not answer (ConnectError)"]


def test_cache_by_requirements_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAFLASK_AUDIT_CACHE", str(tmp_path))
    calls: list[str] = []
    fetch = fake_index({"https://pypi.org/pypi/flask/0.12/json": (200, {"vulnerabilities": [VULN]})}, calls)
    first = cached_audit("flask==0.12\n", fetch)
    second = cached_audit("flask==0.12\n", fetch)
    assert len(calls) == 1 and not first.cached and second.cached
    assert second.findings == first.findings
    assert json.loads(next(tmp_path.glob("*.json")).read_text())["findings"][0]["name"] == "flask"
    # An incomplete answer is not kept: the next run asks again.
    offline = fake_index({})
    cached_audit("nothere==1\n", offline)
    assert len(list(tmp_path.glob("*.json"))) == 1


def test_pypi_itself_lists_a_vulnerable_pin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Against the real index: pycrypto 2.6.1 (its last release) has advisories."""
    monkeypatch.setenv("DAFLASK_AUDIT_CACHE", str(tmp_path))
    report = cached_audit("pycrypto==2.6.1\n")
    ids = {a.id for f in report.findings for a in f.advisories}
    assert "PYSEC-2017-94" in ids, report


def test_a_requirements_change_asks_only_about_the_pins_it_adds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAFLASK_AUDIT_CACHE", str(tmp_path))
    calls: list[str] = []
    fetch = fake_index({"https://pypi.org/pypi/flask/0.12/json": (200, {"vulnerabilities": [VULN]}),
                        "https://pypi.org/pypi/jinja2/3.1.6/json": (200, {"vulnerabilities": []}),
                        "https://pypi.org/pypi/six/1.17.0/json": (200, {"vulnerabilities": []})}, calls)
    cached_audit("flask==0.12\njinja2==3.1.6\n", fetch)
    assert len(calls) == 2
    report = cached_audit("flask==0.12\njinja2==3.1.6\nsix==1.17.0\n", fetch)
    assert calls[2:] == ["https://pypi.org/pypi/six/1.17.0/json"]
    assert [f.describe() for f in report.findings] == ["flask==0.12: PYSEC-2099-1 (fixed in 2.0.1)"]
    # A pin without an answer is asked again next time; kept answers age out with the TTL.
    cached_audit("flask==0.12\nnothere==1\n", fetch)
    cached_audit("flask==0.12\nnothere==1\n", fetch)
    assert calls.count("https://pypi.org/pypi/nothere/1/json") == 2
    monkeypatch.setenv("DAFLASK_AUDIT_TTL", "0")
    cached_audit("flask==0.12\n", fetch)
    assert calls[-1] == "https://pypi.org/pypi/flask/0.12/json"


def test_pins_without_an_answer_yet_are_asked_at_once() -> None:
    """Three lookups meet at a barrier: asked one after another, the first would wait alone."""
    barrier = threading.Barrier(3, timeout=10)
    answered = fake_index({f"https://pypi.org/pypi/p{i}/1.0/json": (200, {"vulnerabilities": []})
                           for i in range(3)})

    def fetch(url: str) -> httpx.Response:
        barrier.wait()
        return answered(url)

    report = audit("p0==1.0\np1==1.0\np2==1.0\n", fetch)
    assert report.complete and not report.findings
