"""A DNS zone file from da-flask's `dnsRecords` output, and a dynamic resource
that keeps it written on this machine.

`render_zone` is pure: the records of one zone (names relative to $ORIGIN,
CNAME targets absolute), SOA and NS first, one line per record, sorted, so
the same records always give the same text. `ZoneFile` writes it atomically
(temporary file + rename) and bumps the SOA serial only when the records
change, in the usual YYYYMMDDnn form.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
TYPES = ("A", "AAAA", "CNAME")


def _fqdn(name: str) -> str:
    return name.lower().rstrip(".")


def zone_records(zone: str, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The records that belong in `zone`, checked, names relative to the zone ("@" at the apex).

    Raises ValueError for a record da-flask would never export (a bad type,
    address or name), naming the record.
    """
    zone = _fqdn(zone)
    out = []
    for record in records:
        name, kind, value, ttl = (_fqdn(str(record["name"])), record["type"], str(record["value"]),
                                  int(record["ttl"]))
        if name != zone and not name.endswith("." + zone):
            continue
        if kind not in TYPES:
            raise ValueError(f"record {name}: type {kind!r} is not one of {', '.join(TYPES)}")
        relative = "@" if name == zone else name[: -len(zone) - 1]
        if not all(LABEL_RE.match(label) for label in relative.split(".")) and relative != "@":
            raise ValueError(f"record {name}: not a host name")
        if kind in ("A", "AAAA"):
            ip = ipaddress.ip_address(value)
            if (ip.version == 4) != (kind == "A"):
                raise ValueError(f"record {name}: {value} is not an {kind} address")
            value = str(ip)
        else:
            if relative == "@":
                raise ValueError(f"record {name}: a CNAME cannot sit at the zone apex")
            value = _fqdn(value) + "."
        if not 1 <= ttl <= 2**31 - 1:
            raise ValueError(f"record {name}: ttl {ttl} is out of range")
        out.append({"name": relative, "type": kind, "value": value, "ttl": ttl})
    return sorted(out, key=lambda r: (r["name"] != "@", r["name"], r["type"], r["value"]))


def render_zone(zone: str, records: Sequence[Mapping[str, Any]], *, nameservers: Sequence[str],
                hostmaster: str, serial: int, ttl: int = 3600, source: str = "") -> str:
    """The zone file text (records as zone_records returns them)."""
    zone = _fqdn(zone)
    ns = [_fqdn(n) + "." for n in nameservers]
    if not ns:
        raise ValueError("a zone needs at least one name server (config `nameservers`)")
    lines = [
        f"; {zone}: written by examples/dns_zone from {source or 'a da-flask stack'}. Do not edit:",
        "; the next `pulumi up` of that program writes it again.",
        f"$ORIGIN {zone}.",
        f"$TTL {ttl}",
        f"@\t{ttl}\tIN\tSOA\t{ns[0]} {_fqdn(hostmaster)}. (",
        f"\t\t{serial}\t; serial",
        "\t\t3600\t; refresh",
        "\t\t900\t; retry",
        "\t\t1209600\t; expire",
        "\t\t300 )\t; negative-cache TTL",
    ]
    lines += [f"@\t{ttl}\tIN\tNS\t{n}" for n in ns]
    lines += [f"{r['name']}\t{r['ttl']}\tIN\t{r['type']}\t{r['value']}" for r in records]
    return "\n".join(lines) + "\n"


def next_serial(previous: int | None, today: dt.date | None = None) -> int:
    """YYYYMMDDnn, always above the previous serial."""
    day = int((today or dt.datetime.now(dt.UTC).date()).strftime("%Y%m%d")) * 100
    return max(day, (previous or 0) + 1)


# --- the resource ------------------------------------------------------------------------

_INPUTS = ("path", "zone", "records", "nameservers", "hostmaster", "ttl", "source")


def _write(path: str, text: str) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ZoneFileProvider(ResourceProvider):
    """Holds no data (it is pickled into state)."""

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in _INPUTS if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=["path"] if "path" in changed else [],
                          delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=props["path"], outs=self._write(props, None))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._write(news, olds))

    def _write(self, props: dict[str, Any], olds: dict[str, Any] | None) -> dict[str, Any]:
        records = zone_records(props["zone"], props["records"])
        serial = next_serial((olds or {}).get("serial"))
        text = render_zone(props["zone"], records, nameservers=props["nameservers"],
                           hostmaster=props["hostmaster"], serial=serial, ttl=int(props["ttl"]),
                           source=props.get("source", ""))
        _write(props["path"], text)
        return {**{k: props.get(k) for k in _INPUTS}, "serial": serial,
                "recordCount": len(records), "sha256": hashlib.sha256(text.encode()).hexdigest()}

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            text = Path(props["path"]).read_text()
        except FileNotFoundError:
            return ReadResult(id_=None, outs={})
        if hashlib.sha256(text.encode()).hexdigest() != props.get("sha256"):
            # Edited by hand: forget the serial's content so the next up rewrites it.
            return ReadResult(id_=id_, outs={**props, "records": None})
        return ReadResult(id_=id_, outs=props)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        Path(props["path"]).unlink(missing_ok=True)


class ZoneFile(Resource):
    serial: pulumi.Output[int]
    recordCount: pulumi.Output[int]

    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(ZoneFileProvider(), name,
                         {**props, "serial": None, "recordCount": None, "sha256": None}, opts)
