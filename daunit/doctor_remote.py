"""The acting half of `python -m daunit.doctor`: one SSH connection per host (one command
for the file and /proc facts, then Unit's `/status` over the same connection), and
DirectAdmin's API from this machine. Only reads."""
from __future__ import annotations

import ssl
from collections.abc import Sequence

import httpx

from daunit import facts
from daunit.da_api import ApiSettings
from daunit.doctor import (
    FAIL,
    Check,
    HostReport,
    UnitAnswer,
    api_applies,
    api_not_checked,
    api_result,
    judge_host,
    socket_to_ask,
    stack_hosts,
)
from daunit.errors import DeployError, mask_secrets
from daunit.providers.site import read_fact
from daunit.remote.ssh import SSHSession
from daunit.remote.unit import UnitClient
from daunit.spec import AppSpec, HostSpec, StackSpec
from daunit.status_remote import target_for

API_TIMEOUT = 15.0


def examine_stack(spec: StackSpec, api: ApiSettings | str | None) -> list[HostReport]:
    hosts = stack_hosts(spec)
    return [examine_host(name, host, apps, api, len(hosts)) for name, host, apps in hosts]


def examine_host(name: str, host: HostSpec, apps: Sequence[AppSpec], api: ApiSettings | str | None,
                 hosts: int) -> HostReport:
    report = HostReport(host=name, address=host.address)
    domains = list(dict.fromkeys(a.domain for a in apps))
    try:
        with SSHSession(target_for(host)) as session:
            fact = facts.host_facts(host.da_user, host.unit_socket, domains)
            sections = read_fact(session, fact, timeout=120)
            unit = ask_unit(session, socket_to_ask(sections, host.unit_socket), host.unit_log)
    except DeployError as exc:
        report.error = str(exc).splitlines()[0]
        return report
    report.checks = judge_host(sections, unit, host, apps)
    report.checks.append(check_api(api, host, domains, hosts))
    return report


def ask_unit(session: SSHSession, socket: str, log: str) -> UnitAnswer:
    try:
        with UnitClient(session, socket, log, timeout=15) as unit:
            status = unit.get("/status")
            return UnitAnswer(socket, unit.server, status if isinstance(status, dict) else {})
    except DeployError as exc:
        # The first sentence: what happened (the rest is advice the check gives its own way).
        return UnitAnswer(socket, error=str(exc).splitlines()[0].split(". ", 1)[0])


def check_api(api: ApiSettings | str | None, host: HostSpec, domains: Sequence[str], hosts: int) -> Check:
    if api is None:
        return api_not_checked("DAFLASK_DA_URL and DAFLASK_DA_LOGIN are not set",
                               "to check DirectAdmin's API, set DAFLASK_DA_URL=https://SERVER:2222, "
                               "DAFLASK_DA_LOGIN=USER:LOGIN_KEY (and DAFLASK_DA_CA for a private CA)")
    if isinstance(api, str):
        return Check("da-api", FAIL, f"not checked: {api}", "fix the environment variable")
    if not api_applies(api, host, hosts):
        return api_not_checked(f"DAFLASK_DA_URL names another server than {host.address}",
                               "run the doctor once per server with its own DAFLASK_DA_URL")
    if not domains:
        return api_not_checked("no app on this host, so no domain to list", "")
    return call_api(api, domains[0])


def call_api(api: ApiSettings, domain: str) -> Check:
    """GET CMD_API_UNIT?domain=D&json=yes with Basic auth (the login key), TLS verified."""
    verify: ssl.SSLContext | bool = True  # the system's CAs
    try:
        if api.ca_file:
            verify = ssl.create_default_context(cafile=api.ca_file)
    except (OSError, ssl.SSLError) as exc:
        return Check("da-api", FAIL, f"cannot read DAFLASK_DA_CA {api.ca_file}: {exc}",
                     "point DAFLASK_DA_CA at the PEM file of the CA that signed DirectAdmin's certificate")
    try:
        with httpx.Client(verify=verify, timeout=API_TIMEOUT) as client:
            response = client.get(f"{api.url}/CMD_API_UNIT", params={"domain": domain, "json": "yes"},
                                  auth=(api.user, api.key))
    except httpx.ConnectError as exc:
        said = mask_secrets(str(exc), [api.key])
        fix = ("TLS: give the CA that signed DirectAdmin's certificate in DAFLASK_DA_CA"
               if "CERTIFICATE" in said.upper() else "check DAFLASK_DA_URL and that port 2222 is reachable")
        return Check("da-api", FAIL, f"{api.url}: {said}", fix, subject=domain)
    except httpx.HTTPError as exc:
        return Check("da-api", FAIL, f"{api.url}: {mask_secrets(str(exc), [api.key]) or type(exc).__name__}",
                     "check DAFLASK_DA_URL and that DirectAdmin answers", subject=domain)
    try:
        body = response.json()
    except ValueError:
        body = None
    check = api_result(response.status_code, body, api.user, domain)
    check.detail = mask_secrets(check.detail, [api.key])
    return check

