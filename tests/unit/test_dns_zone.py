"""examples/dns_zone: da-flask's dnsRecords output rendered into a zone file
(pure parts and the file-writing provider; tests/e2e/test_edge.py runs the
program itself against a real stack through a StackReference)."""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "dns_zone"))

from zonefile import ZoneFileProvider, next_serial, render_zone, zone_records

RECORDS = [
    {"name": "example.com", "type": "A", "value": "203.0.113.10", "ttl": 3600},
    {"name": "www.example.com", "type": "CNAME", "value": "example.com", "ttl": 3600},
    {"name": "api.example.com", "type": "AAAA", "value": "2001:DB8::1", "ttl": 300},
    {"name": "shop.other.org", "type": "A", "value": "203.0.113.11", "ttl": 3600},
]


def parse(text: str) -> list[tuple[str, ...]]:
    """(name, ttl, class, type, value) of every one-line record."""
    return [tuple(line.split("\t")) for line in text.splitlines()
            if line and not line.startswith((";", "$", "\t")) and "SOA" not in line]


def test_only_the_zones_records_relative_to_its_origin() -> None:
    assert zone_records("Example.com.", RECORDS) == [
        {"name": "@", "type": "A", "value": "203.0.113.10", "ttl": 3600},
        {"name": "api", "type": "AAAA", "value": "2001:db8::1", "ttl": 300},
        {"name": "www", "type": "CNAME", "value": "example.com.", "ttl": 3600},
    ]
    assert zone_records("other.org", RECORDS) == [
        {"name": "shop", "type": "A", "value": "203.0.113.11", "ttl": 3600}]


@pytest.mark.parametrize("record,message", [
    ({"name": "example.com", "type": "MX", "value": "x", "ttl": 1}, "type 'MX'"),
    ({"name": "example.com", "type": "A", "value": "2001:db8::1", "ttl": 1}, "not an A address"),
    ({"name": "example.com", "type": "CNAME", "value": "x.org", "ttl": 1}, "apex"),
    ({"name": "a b.example.com", "type": "A", "value": "192.0.2.1", "ttl": 1}, "not a host name"),
])
def test_bad_records_are_refused(record: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        zone_records("example.com", [record])


def test_zone_text() -> None:
    text = render_zone("example.com", zone_records("example.com", RECORDS),
                       nameservers=["ns1.example.net", "ns2.example.net."],
                       hostmaster="hostmaster.example.com", serial=2026112301,
                       source="organization/da-flask/prod")
    assert "$ORIGIN example.com.\n$TTL 3600\n" in text
    assert "@\t3600\tIN\tSOA\tns1.example.net. hostmaster.example.com. (\n\t\t2026112301\t; serial" in text
    assert parse(text) == [
        ("@", "3600", "IN", "NS", "ns1.example.net."),
        ("@", "3600", "IN", "NS", "ns2.example.net."),
        ("@", "3600", "IN", "A", "203.0.113.10"),
        ("api", "300", "IN", "AAAA", "2001:db8::1"),
        ("www", "3600", "IN", "CNAME", "example.com."),
    ]
    with pytest.raises(ValueError, match="name server"):
        render_zone("example.com", [], nameservers=[], hostmaster="h.example.com", serial=1)


def test_serials_only_go_up() -> None:
    day = dt.date(2026, 11, 23)
    assert next_serial(None, day) == 2026112300
    assert next_serial(2026112300, day) == 2026112301
    assert next_serial(2026112099, day) == 2026112300
    assert next_serial(2026112400, day) == 2026112401


def test_provider_writes_rewrites_and_removes(tmp_path: Path) -> None:
    provider = ZoneFileProvider()
    path = tmp_path / "zones" / "example.com.zone"
    props = {"path": str(path), "zone": "example.com", "records": RECORDS,
             "nameservers": ["ns1.example.net."], "hostmaster": "hostmaster.example.com",
             "ttl": 3600, "source": "organization/da-flask/prod"}
    outs = provider.create(props).outs
    assert path.read_text().count("\tIN\t") == 5 and outs["recordCount"] == 3
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert not provider.diff(str(path), outs, props).changes
    changed = {**props, "records": RECORDS[:1]}
    assert provider.diff(str(path), outs, changed).changes
    updated = provider.update(str(path), outs, changed).outs
    assert updated["serial"] > outs["serial"] and updated["recordCount"] == 1
    assert provider.diff(str(path), outs, {**props, "path": "/elsewhere"}).replaces == ["path"]
    # A hand edit is seen by read; a missing file is gone.
    path.write_text(path.read_text() + "evil\t60\tIN\tA\t192.0.2.66\n")
    assert provider.diff(str(path), provider.read(str(path), updated).outs, changed).changes
    provider.delete(str(path), updated)
    assert not path.exists()
    assert provider.read(str(path), updated).id is None
