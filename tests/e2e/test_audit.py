"""Vulnerable pins caught at preview (issue 14, item 1), under the real engine.

pycrypto 2.6.1 is listed by PyPI's vulnerability data (PYSEC-2017-94, no
fixed release). The audit runs in the program before any resource is
declared: it opens no SSH connection, a no-op asks PyPI nothing (cache), and
no answer from PyPI is a warning, never a silent pass.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Deployment, app_config, host_config

pytestmark = [pytest.mark.root, pytest.mark.engine]

APP = "flask_app"
NO_NETWORK = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> Any:
    return lab_factory("audit", front="none")


@pytest.fixture(scope="module")
def project(lab: Any, deployment_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    d = deployment_factory("audit")
    req = d.app_sources[APP] / "requirements.txt"
    req.write_text(req.read_text() + "pycrypto==2.6.1\n")
    d.stack.extra_env["DAFLASK_AUDIT_CACHE"] = str(tmp_path_factory.mktemp("audit-cache"))
    return d


def _configure(d: Deployment, lab: Any, mode: str) -> None:
    d.write_config({"lab": host_config(lab)},
                   [app_config(APP, "lab", "example.com", d.app_sources[APP], audit=mode,
                               healthCheck=False)])


def test_warn_lists_the_pin_with_its_advisory(lab: Any, project: Any) -> None:
    _configure(project, lab, "warn")
    before = lab.ssh_connections_accepted()
    run = project.stack.preview()
    out = run.stdout + run.stderr
    assert "app flask_app: vulnerable pin pycrypto==2.6.1:" in out and "PYSEC-2017-94" in out
    assert "(no fixed version)" in out
    assert lab.ssh_connections_accepted() == before


def test_cached_no_network_needed_the_second_time(lab: Any, project: Any) -> None:
    _configure(project, lab, "warn")
    project.stack.extra_env.update(NO_NETWORK)
    try:
        out = project.stack.preview().stdout
    finally:
        for k in NO_NETWORK:
            project.stack.extra_env.pop(k)
    assert "PYSEC-2017-94" in out and "did not answer" not in out


def test_block_stops_the_preview_naming_the_pin(lab: Any, project: Any) -> None:
    _configure(project, lab, "block")
    before = lab.ssh_connections_accepted()
    run = project.stack.preview(check=False)
    assert run.returncode != 0
    assert "audit: block refuses this deploy" in run.stdout and "pycrypto==2.6.1" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    assert lab.ssh_connections_accepted() == before


def test_no_answer_from_pypi_is_a_warning_or_a_refusal(lab: Any, project: Any, tmp_path: Path) -> None:
    kept_cache = project.stack.extra_env["DAFLASK_AUDIT_CACHE"]
    project.stack.extra_env.update(NO_NETWORK, DAFLASK_AUDIT_CACHE=str(tmp_path))
    try:
        _configure(project, lab, "warn")
        warn = project.stack.preview()
        assert "not audited: flask==3.1.3: PyPI did not answer" in warn.stdout
        _configure(project, lab, "block")
        block = project.stack.preview(check=False)
        assert block.returncode != 0 and "PyPI did not answer" in block.stdout
    finally:
        for k in NO_NETWORK:
            project.stack.extra_env.pop(k)
        project.stack.extra_env["DAFLASK_AUDIT_CACHE"] = kept_cache
