"""Feed da-flask's stack outputs into DNS: a zone file for one zone.

Reads the `dnsRecords` (and `outputsVersion`) outputs of a da-flask stack
through a StackReference and keeps a zone file written at `path`. Config:

    source       the da-flask stack: organization/da-flask/<stack> on a file
                 backend, <org>/da-flask/<stack> on Pulumi Cloud
    zone         the zone to write, e.g. example.com (records outside it are left out)
    path         where to write the zone file (relative to this directory)
    nameservers  the zone's NS records, e.g. [ns1.example.net., ns2.example.net.]
    hostmaster   SOA contact, default hostmaster.<zone>.
    ttl          default TTL of the zone, default 3600

The records' shape is documented in docs/outputs.md of da-flask.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
from zonefile import ZoneFile

SUPPORTED_OUTPUTS = 1

config = pulumi.Config()
source = config.require("source")
zone = config.require("zone").lower().rstrip(".")
path = str(Path(config.require("path")).expanduser().resolve())
nameservers = config.require_object("nameservers")
hostmaster = config.get("hostmaster") or f"hostmaster.{zone}"
ttl = config.get_int("ttl") or 3600

stack = pulumi.StackReference(source)


def checked(values: list[Any]) -> list[dict[str, Any]]:
    version, records = values
    if version != SUPPORTED_OUTPUTS:
        raise pulumi.RunError(f"{source} exports outputsVersion {version!r}; this program reads "
                              f"version {SUPPORTED_OUTPUTS} (see docs/outputs.md)")
    return list(records or [])


records = pulumi.Output.all(stack.require_output("outputsVersion"),
                            stack.require_output("dnsRecords")).apply(checked)
zone_file = ZoneFile(f"zone-{zone}", {
    "path": path, "zone": zone, "records": records, "nameservers": list(nameservers),
    "hostmaster": hostmaster, "ttl": ttl, "source": source,
})

pulumi.export("path", path)
pulumi.export("serial", zone_file.serial)
pulumi.export("recordCount", zone_file.recordCount)
