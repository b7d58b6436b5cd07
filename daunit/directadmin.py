"""DirectAdmin, as root mode relies on it: the ONE adapter (pure, no I/O).

On a DirectAdmin server Unit sits behind the front web server (Apache or nginx on
80/443) and DirectAdmin keeps its own copy of Unit's config, from which it re-fills
Unit after a unitd start with empty listeners and on every `da build rewrite_confs`
(docs/directadmin.md, "What root mode relies on"). So in root mode on such a host every
app and route we make is also stored where DirectAdmin re-fills from, in the form it
writes, under the names it gives; the front server is wired by DirectAdmin's own vhost
rewrite. Everything here that is DirectAdmin's behaviour is listed in that section of
the docs, documented or inferred.

- apps: `data/users/USER/domains/DOMAIN.unit/N.json`, in Unit as `DOMAIN_N`;
- routes: `data/users/USER/domains/DOMAIN.routes/DOMAIN`, `{location: [steps]}`; in Unit
  one named route per host and location (`DOMAIN` for `/`), an entry in the dispatch
  route `da_dispatch` matching the host (and `www.` + it), the longest location first;
- the listener `127.0.0.1:unit_port`, passing to `da_dispatch`;
- the vhost rewrite: `directadmin taskq --run 'action=rewrite&value=httpd&user=USER'`.

N is ours: `daflask-<app>-<12 hex of the owner>`, stable for one stack's app, and the
application still carries DAFLASK_OWNER (daunit.ownership), which decides whose it is.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from daunit.canonical import canonical_json
from daunit.layout import DA_ROOT
from daunit.ownership import NAME_PREFIX, Owner

Setting = Literal["auto", "on", "off"]
SETTINGS: tuple[Setting, ...] = ("auto", "on", "off")

DA_BINARY = f"{DA_ROOT}/directadmin"
DISPATCH_ROUTE = "da_dispatch"
ROOT_LOCATION = "/"
# The front servers CustomBuild's `webserver=` names (documented: custombuild/build).
FRONT_SERVERS = ("apache", "nginx", "nginx_apache", "litespeed", "openlitespeed")
# What DirectAdmin accepts as an app's name N (the lab's CMD_UNIT checks the same).
STORED_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
OWNER_HASH_LEN = 12


def stored_name(owner: Owner, app_name: str) -> str:
    """N, the app's name in DirectAdmin's storage: `daflask-<app>-<12 hex>`.

    DirectAdmin's names allow no `:` (nor `.`, which project and stack names may hold),
    so the owner goes in as a hash: two stacks never share an N, and the one a stack
    uses never changes. Whose an object is, is still read from its DAFLASK_OWNER mark.
    """
    digest = hashlib.sha256(f"{owner.project}/{owner.stack}".encode()).hexdigest()
    name = f"{NAME_PREFIX}-{app_name}-{digest[:OWNER_HASH_LEN]}"
    if not STORED_NAME_RE.fullmatch(name):
        raise ValueError(f"app name {app_name!r} does not fit DirectAdmin's app names")
    return name


def unit_app_name(domain: str, name: str) -> str:
    """The name DirectAdmin gives a stored app in Unit: DOMAIN_N (documented)."""
    return f"{domain}_{name}"


def route_name(host: str, location: str) -> str:
    """The Unit route the re-fill makes for a host's location (`example.com` for `/`)."""
    return host + location.rstrip("/").replace("/", "_")


def listener(unit_port: int) -> str:
    return f"127.0.0.1:{unit_port}"


def dispatch_entry(domain: str, location: str = ROOT_LOCATION) -> dict[str, Any]:
    """The dispatch entry the re-fill makes for a domain's location."""
    match: dict[str, Any] = {"host": [domain, f"www.{domain}"]}
    loc = location.rstrip("/")
    if loc:
        match["uri"] = [loc, f"{loc}/*"]
    return {"match": match, "action": {"pass": f"routes/{route_name(domain, location)}"}}


def _entry_order(entry: Any) -> tuple[int, str]:
    """The re-fill's order: the longest location first, then by host."""
    match = entry.get("match") if isinstance(entry, Mapping) else None
    match = match if isinstance(match, Mapping) else {}
    hosts, uris = match.get("host") or [""], match.get("uri") or [""]
    host = hosts if isinstance(hosts, str) else hosts[0]
    uri = uris if isinstance(uris, str) else uris[0]
    return -len(str(uri).rstrip("/")), str(host)


def dispatch_with(dispatch: list[Any], entry: dict[str, Any]) -> list[Any]:
    """`da_dispatch` with `entry` in the place the re-fill would give it (any entry to
    the same route replaced), so a re-fill reproduces the same list."""
    target = entry["action"]["pass"]
    rest = [e for e in dispatch
            if not (isinstance(e, Mapping) and (e.get("action") or {}).get("pass") == target)]
    at = next((i for i, e in enumerate(rest) if _entry_order(e) > _entry_order(entry)), len(rest))
    return [*rest[:at], entry, *rest[at:]]


def stored_text(value: Any) -> str:
    """A stored app or routes file as written (JSON, 4-space indent, sorted keys, whole
    numbers as integers: what Unit itself shows for the same object)."""
    return json.dumps(json.loads(canonical_json(value)), indent=4, sort_keys=True) + "\n"


def vhost_rewrite_task(user: str) -> str:
    """The task that rewrites a user's vhosts (and with them the UNIT_PROXY wiring)."""
    return f"action=rewrite&value=httpd&user={user}"


# -- is this a DirectAdmin server? -------------------------------------------------------

def detect(sections: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """What daunit.facts' host command says about DirectAdmin: present, the front server,
    Unit's loopback port (`directadmin config-get unit_port`, else directadmin.conf)."""
    from daunit.facts import parse_kv

    options = parse_kv(sections.get("options", []))
    port_text = next(iter(sections.get("da-config-get", [])), "").strip() \
        or parse_kv(sections.get("da-conf", [])).get("unit_port", "")
    return {"present": bool(sections.get("da-binary")),
            "webserver": options.get("webserver", ""),
            "unitPort": int(port_text) if port_text.isdigit() else 0}


def resolve(setting: str, found: Mapping[str, Any], host: str) -> dict[str, Any] | None:
    """DirectAdmin mode's facts ({"webserver", "unitPort"}), or None for Unit on its own.

    `auto`: on when DirectAdmin is there with a front server and a `unit_port`;
    `on` where that is missing is refused (ValueError, naming what to fix).
    """
    usable = bool(found.get("present")) and found.get("webserver") in FRONT_SERVERS \
        and int(found.get("unitPort") or 0) > 0
    if setting == "off" or (setting == "auto" and not usable):
        return None
    if not usable:
        missing = ("DirectAdmin (no /usr/local/directadmin/directadmin)" if not found.get("present")
                   else f"a front web server (options.conf webserver={found.get('webserver')!r})"
                   if found.get("webserver") not in FRONT_SERVERS
                   else "Unit's port (`directadmin config-get unit_port` is empty)")
        raise ValueError(f"host {host}: directadminMode: on, but the server lacks {missing}. Set "
                         "`directadminMode: off` to run Unit on its own listener, or fix the server "
                         "(`python -m daunit.doctor` says what is there).")
    return {"webserver": found["webserver"], "unitPort": int(found["unitPort"])}
