"""pyinfra's inventory for the bench: one lab host, read from the JSON file the
bench wrote for this world (BENCH_PYINFRA_HOST names it; bench/pyinfra_world.py).

The host key is pinned: a known_hosts file of the lab's key only, and strict
checking ("yes": an unknown or other key fails the connection).
"""
import json
import os

with open(os.environ["BENCH_PYINFRA_HOST"]) as _f:
    _host = json.load(_f)

lab = [(_host["name"], _host["data"])]
