"""Rules across a stack's hosts and apps, one function each.

Each takes the stack's hosts and apps and returns (loc, message) problems with
locs from the stack's root (("apps", 0, "domain")). An app whose host is not
defined is reported once, by `app_hosts_defined`; the others skip it.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence

from pydantic.alias_generators import to_camel

from daunit.spec import access
from daunit.spec.app import AppSpec
from daunit.spec.base import Loc, Problem
from daunit.spec.host import HostSpec
from daunit.spec.text import dns_name_problem, parse_listener
from daunit.spec.tls import DIRECTADMIN_USER_DOMAINS

Hosts = Mapping[str, HostSpec]
Apps = Sequence[AppSpec]
Rule = Callable[[Hosts, Apps], list[Problem]]

# Directories DirectAdmin makes and manages in each domain's directory: never an app's own.
DA_DOMAIN_DIRS = frozenset({"public_html", "private_html", "public_ftp", "logs", "stats", "awstats"})


def _hosted(hosts: Hosts, apps: Apps) -> Iterator[tuple[int, AppSpec, HostSpec]]:
    """(index, app, its host) for each app whose host is defined."""
    for index, app in enumerate(apps):
        host = hosts.get(app.host)
        if host is not None:
            yield index, app, host


# What an app takes that no other app may: (field, key, the value as the message shows it).
Uses = Callable[[AppSpec, HostSpec], Iterable[tuple[str, Hashable, str]]]


def _repeats(hosts: Hosts, apps: Apps, uses: Uses) -> Iterator[tuple[int, AppSpec, str, str, int]]:
    """(index, app, field, value, first index) for each key an app takes that an
    earlier app took already."""
    seen: dict[Hashable, int] = {}
    for index, app, host in _hosted(hosts, apps):
        for field, key, value in uses(app, host):
            other = seen.setdefault(key, index)
            if other != index:
                yield index, app, field, value, other


def host_names_match_keys(hosts: Hosts, apps: Apps) -> list[Problem]:
    return [(("hosts", key, "name"), (
        f"host name {host.name!r} differs from its key {key!r} under hosts: drop name or make them equal"))
        for key, host in hosts.items() if key != host.name]


def app_hosts_defined(hosts: Hosts, apps: Apps) -> list[Problem]:
    defined = ", ".join(sorted(hosts)) or "none"
    return [(("apps", index, "host"), (
        f"host {app.host!r} is not defined under hosts (defined: {defined}): add it there or fix the name"))
        for index, app in enumerate(apps) if app.host not in hosts]


def app_names_unique(hosts: Hosts, apps: Apps) -> list[Problem]:
    # Also across hosts: the name keys the app's resources (their URNs), its
    # appSecrets and its stack outputs.
    return [(("apps", index, "name"), (
        f"app name {app.name!r} is already used by apps[{other}]: app names are unique "
        "in a stack (they name its resources, appSecrets and outputs), rename one"))
        for index, app, _, _, other in _repeats(hosts, apps, lambda app, _: [("name", app.name, app.name)])]


def host_names_route_once(hosts: Hosts, apps: Apps) -> list[Problem]:
    def uses(app: AppSpec, _: HostSpec) -> list[tuple[str, Hashable, str]]:
        return [(field, (app.host, name), name)
                for field, names in (("domain", (app.domain,)), ("aliases", app.aliases)) for name in names]

    return [(("apps", index, field), (
        f"{field} {name!r} is already served on host {app.host!r} by apps[{other}]: "
        "a host name can route to one app only, remove it from one of them"))
        for index, app, field, name, other in _repeats(hosts, apps, uses)]


def app_dirs_unique(hosts: Hosts, apps: Apps) -> list[Problem]:
    def uses(app: AppSpec, host: HostSpec) -> list[tuple[str, Hashable, str]]:
        return [("appDir", (app.host, app.app_dir_on(host)), app.app_dir_on(host))]

    return [(("apps", index, "appDir"), (
        f"appDir {app_dir!r} is already used on host {app.host!r} by apps[{other}]: "
        "give each app its own directory"))
        for index, app, _, app_dir, other in _repeats(hosts, apps, uses)]


def listeners_agree(hosts: Hosts, apps: Apps) -> list[Problem]:
    """Apps sharing a port on a host use one listener string, all TLS or all plain HTTP."""
    first_use: dict[tuple[str, int], tuple[str, int, bool]] = {}  # (host, port) -> (address, index, TLS)
    problems: list[Problem] = []
    for index, app, _ in _hosted(hosts, apps):
        uses: list[tuple[Loc, str, bool]] = [(("apps", index, "listener"), app.listener, False)]
        if app.tls is not None:
            uses.append((("apps", index, "tls", "listener"), app.tls.listener, True))
        for loc, listener, tls in uses:
            address, port = parse_listener(listener)
            first = first_use.setdefault((app.host, port), (address, index, tls))
            if first[0] != address:
                problems.append((loc, (
                    f"listener {listener!r} overlaps {first[0]}:{port} of apps[{first[1]}] on host "
                    f"{app.host!r}: Unit binds a port once, use the same listener string for both")))
            elif first[2] != tls:
                problems.append((loc, (
                    f"listener {listener!r} is {'TLS' if tls else 'plain HTTP'} here but "
                    f"{'TLS' if first[2] else 'plain HTTP'} for apps[{first[1]}] on host {app.host!r}: "
                    "a port serves either TLS or plain HTTP, use another port")))
    return problems


def site_tree_problem(app_dir: str, da_user: str) -> str | None:
    """Why `app_dir` (already a clean absolute path) is not a directory of its own in
    daUser's site tree /home/USER/domains/DOMAIN/..., or None."""
    parts = app_dir.split("/")[1:]
    example = f"/home/{da_user}/domains/example.com/public_html/flask_app"
    domain_ok = len(parts) >= 4 and dns_name_problem(parts[3], need_dot=True) is None
    if parts[:3] != ["home", da_user, "domains"] or not domain_ok or len(parts) < 5:
        return (f"appDir {app_dir!r} is outside daUser {da_user!r}'s site tree: the deploy gives the app "
                f"directory to that user, so it must lie under /home/{da_user}/domains/DOMAIN/, like {example}")
    if "private_html" in parts[4:5]:
        return (f"appDir {app_dir!r} goes through private_html, which DirectAdmin makes a link to "
                f"public_html: write the public_html path, like {example}")
    if len(parts) == 5 and parts[4] in DA_DOMAIN_DIRS:
        return (f"appDir {app_dir!r} is a directory DirectAdmin manages: give the app a directory of its "
                f"own inside it, like {example}")
    return None


def app_dirs_in_site_tree(hosts: Hosts, apps: Apps) -> list[Problem]:
    problems: list[Problem] = []
    for index, app, host in _hosted(hosts, apps):
        problem = app.app_dir and site_tree_problem(app.app_dir, host.da_user)
        if problem:  # the default directory is in the tree
            problems.append((("apps", index, "appDir"), problem))
    return problems


def tls_files_in_directadmin_data(hosts: Hosts, apps: Apps) -> list[Problem]:
    """Root reads certFile/keyFile on the host and loads them into Unit: only the
    user's own files in DirectAdmin's data, never any root file."""
    problems: list[Problem] = []
    for index, app, host in _hosted(hosts, apps):
        where = DIRECTADMIN_USER_DOMAINS.format(user=host.da_user) + "/"
        files = (("certFile", app.tls.cert_file), ("keyFile", app.tls.key_file)) if app.tls else ()
        for field, value in files:
            if value is not None and not (value.startswith(where) and "/" not in value[len(where):]):
                problems.append((("apps", index, "tls", field), (
                    f"tls {field} {value!r} is not one of daUser {host.da_user!r}'s certificate files: "
                    f"root reads it on the host, so it must be a file in {where}, like "
                    f"{where}{app.domain}.{'cert.combined' if field == 'certFile' else 'key'}")))
    return problems


# In the order their problems are reported; before the site-tree and TLS-file rules,
# whose problems were reported only when these found none.
def root_only_options_in_user_mode(hosts: Hosts, apps: Apps) -> list[Problem]:
    """Apps on an `access: user` host: what needs root is refused (daunit.spec.access)."""
    return [(("apps", index, *loc), message)
            for index, app, host in _hosted(hosts, apps) if host.access == access.USER
            for loc, message in access.app_problems(
                {to_camel(f) for f in app.model_fields_set},
                {"isolation": app.isolation, "tls": app.tls, "listener": app.listener})]


CONSISTENCY_RULES: tuple[Rule, ...] = (host_names_match_keys, app_hosts_defined, app_names_unique,
                                       host_names_route_once, app_dirs_unique, listeners_agree)
PLACEMENT_RULES: tuple[Rule, ...] = (app_dirs_in_site_tree, tls_files_in_directadmin_data,
                                     root_only_options_in_user_mode)
