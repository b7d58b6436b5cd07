"""The lab's network: a named netns joined to this machine by one veth pair.

Addresses are 10.77.N.1 (this machine) and 10.77.N.2 (the lab); there is no default
route in the netns, so the lab reaches nothing but the link (and, through the proxy on
10.77.N.1, the package index). N is claimed by creating the veth named after it:
link creation is atomic, so concurrent `up` calls (even from other checkouts) never
share an index.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field

from lab.errors import LabError

NETNS_PREFIX = "dalab-"
_LINK_RE = re.compile(r"^dlab(\d+)h$")
_MAX_INDEX = 254


@dataclass(frozen=True)
class LabNet:
    """A lab's namespace and its veth pair number `index`: the link names on
    either side and the two addresses, all made from the index."""

    netns: str
    index: int
    # IFNAMSIZ is 16 including the NUL: "dlab254h" is 8.
    host_link: str = field(init=False)
    lab_link: str = field(init=False)
    gateway: str = field(init=False)
    address: str = field(init=False)

    def __post_init__(self) -> None:
        made = {"host_link": f"dlab{self.index}h", "lab_link": f"dlab{self.index}n",
                "gateway": f"10.77.{self.index}.1", "address": f"10.77.{self.index}.2"}
        for name, value in made.items():
            object.__setattr__(self, name, value)  # frozen: set once, here


def netns_name(lab_name: str) -> str:
    return NETNS_PREFIX + lab_name


def _ip(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], input=stdin, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise LabError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def list_netns() -> list[str]:
    out = _ip("netns", "list").stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def netns_exists(name: str) -> bool:
    return name in list_netns()


def link_exists(link: str) -> bool:
    return _ip("link", "show", "dev", link, check=False).returncode == 0


def _used_indices() -> set[int]:
    used: set[int] = set()
    for line in _ip("-o", "link", "show").stdout.splitlines():
        name = line.split(":", 2)[1].strip().split("@")[0]
        m = _LINK_RE.match(name)
        if m:
            used.add(int(m.group(1)))
    # An address in 10.77.N.0/24 on any other interface also rules N out.
    for line in _ip("-o", "-4", "addr", "show").stdout.splitlines():
        m = re.search(r"inet 10\.77\.(\d+)\.", line)
        if m:
            used.add(int(m.group(1)))
    return used


def create(lab_name: str) -> LabNet:
    """Create netns, veth pair and addresses; return what was made."""
    ns = netns_name(lab_name)
    _ip("netns", "add", ns)
    try:
        index = _claim_index(ns)
        net = LabNet(ns, index)
        _ip("-batch", "-", stdin=f"addr add {net.gateway}/24 dev {net.host_link}\n"
                                f"link set {net.host_link} up\n")
        _ip("-n", ns, "-batch", "-", stdin=f"addr add {net.address}/24 dev {net.lab_link}\n"
                                         f"link set {net.lab_link} up\n"
                                         "link set lo up\n")
    except BaseException:
        destroy(ns, None)
        raise
    return net


def _claim_index(ns: str) -> int:
    used = _used_indices()
    last_error = ""
    for index in range(1, _MAX_INDEX + 1):
        if index in used:
            continue
        net = LabNet(ns, index)
        result = _ip("link", "add", net.host_link, "type", "veth",
                     "peer", "name", net.lab_link, "netns", ns, check=False)
        if result.returncode == 0:
            return index
        last_error = result.stderr.strip()
        if "exists" not in last_error:
            raise LabError(f"cannot create veth {net.host_link}: {last_error}")
    raise LabError(f"no free lab index in 10.77.1-{_MAX_INDEX}.0/24 ({last_error})")


def destroy(ns: str, host_link: str | None) -> None:
    """Remove the veth (both ends go) and the netns; quiet when already gone."""
    if host_link and link_exists(host_link):
        _ip("link", "del", "dev", host_link, check=False)
    if netns_exists(ns):
        _ip("netns", "del", ns)
