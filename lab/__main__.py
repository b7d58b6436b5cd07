"""Command line for lab hosts.

    python -m lab up [--name lab1] [--unit auto|real|double|absent] [--user username] [--domain example.com]
                     [--front none|nginx|apache]
    python -m lab refill [--name lab1]          DirectAdmin's re-fill of Unit from its stored apps/routes
    python -m lab rewrite-confs [--name lab1]   `da build rewrite_confs`: re-fill, then vhosts rewritten
    python -m lab down [--name lab1] | --all
    python -m lab list
    python -m lab get [--name lab1] FIELD          one fact of lab.json (address, unit_kind, ...)
    python -m lab ssh [--name lab1] [--user root] -- COMMAND...   OpenSSH to the lab, host key pinned
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

from lab.host import LabError, LabHost, down, down_all, list_labs, up


def _rel(path: str) -> str:
    rel = os.path.relpath(path)
    return rel if not rel.startswith("../..") else path


def summary(lab: LabHost, seconds: float | None) -> str:
    took = f" in {seconds:.2f} s" if seconds is not None else ""
    ssh = " ".join(lab.ssh_argv())
    return "\n".join([
        f"lab {lab.name} is up{took} (unit: {lab.unit_kind})",
        f"  address   {lab.address}:{lab.port}   gateway {lab.gateway}   pip proxy {lab.proxy_url}",
        "  ssh       " + ssh.replace(lab.client_key_path, _rel(lab.client_key_path))
                            .replace(lab.known_hosts_path, _rel(lab.known_hosts_path)),
        f"  host key  {lab.host_key_line}",
        f"  site      {lab.da_user} (uid {lab.da_uid}) {lab.public_html}",
        f"  unit      {lab.unit_socket} (here: {_rel(str(lab.host_path(lab.unit_socket)))})",
        *([f"  front     {lab.front} on :80/:443, Unit behind it on 127.0.0.1:{lab.unit_port}; "
           f"DirectAdmin API {lab.da_api_url} (CA {_rel(lab.ca_cert_path)})"] if lab.front != "none" else []),
        f"  state     {_rel(os.path.join(lab.state_dir, 'lab.json'))}",
    ])


def running(name: str) -> LabHost:
    """The lab ``name`` as recorded, refusing one whose processes are gone."""
    lab = LabHost.load(name)
    if not lab.is_running():
        raise LabError(f"lab {name} is not running (python -m lab up --name {name})")
    return lab


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lab", description="DirectAdmin-like lab hosts on this machine")
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="make a lab host (or show the running one)")
    p_up.add_argument("--name", default="lab1")
    p_up.add_argument("--unit", default="auto", choices=["auto", "real", "double", "absent"])
    p_up.add_argument("--user", default="username", help="the DirectAdmin user")
    p_up.add_argument("--domain", default="example.com")
    p_up.add_argument("--front", default="nginx", choices=["none", "nginx", "apache"],
                      help="the web server on :80/:443 with Unit behind it, as on DirectAdmin "
                           "(default nginx; none: Unit alone, on its own listeners)")
    for command, text in (("refill", "DirectAdmin's re-fill of Unit from its stored apps and routes"),
                          ("rewrite-confs", "`da build rewrite_confs`: re-fill Unit, rewrite the vhosts")):
        sub.add_parser(command, help=text).add_argument("--name", default="lab1")
    p_down = sub.add_parser("down", help="remove a lab host and everything it made")
    group = p_down.add_mutually_exclusive_group()
    group.add_argument("--name", default="lab1")
    group.add_argument("--all", action="store_true", help="every lab of .lab/ and every dalab-* netns")
    sub.add_parser("list", help="labs recorded in .lab/")
    p_get = sub.add_parser("get", help="print one fact of a running lab (a field of its lab.json)")
    p_get.add_argument("--name", default="lab1")
    p_get.add_argument("field", choices=sorted(f.name for f in dataclasses.fields(LabHost)))
    p_ssh = sub.add_parser("ssh", help="run a command on a lab over OpenSSH (the command line `up` prints)")
    p_ssh.add_argument("--name", default="lab1")
    p_ssh.add_argument("--user", default="root")
    p_ssh.add_argument("remote", nargs=argparse.REMAINDER, help="-- COMMAND... (run by the lab user's shell)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    try:
        if args.command == "up":
            started = time.monotonic()
            lab = up(args.name, unit=args.unit, user=args.user, domain=args.domain, front=args.front)
            print(summary(lab, time.monotonic() - started))
        elif args.command == "down":
            started = time.monotonic()
            if args.all:
                names = down_all()
                print(f"removed {len(names)} lab(s){': ' + ' '.join(names) if names else ''}"
                      f" in {time.monotonic() - started:.2f} s")
            else:
                gone = down(args.name)
                print(f"lab {args.name} {'removed' if gone else 'was not there'}"
                      f" in {time.monotonic() - started:.2f} s")
        elif args.command == "refill":
            running(args.name).refill()
            print(f"lab {args.name}: Unit re-filled from DirectAdmin's storage")
        elif args.command == "rewrite-confs":
            running(args.name).rewrite_confs()
            print(f"lab {args.name}: rewrite_confs done (Unit re-filled, vhosts rewritten)")
        elif args.command == "get":
            print(getattr(running(args.name), args.field))
        elif args.command == "ssh":
            remote = args.remote[1:] if args.remote[:1] == ["--"] else args.remote
            argv_ssh = running(args.name).ssh_argv(*remote, user=args.user)
            sys.stdout.flush()
            os.execvp(argv_ssh[0], argv_ssh)
        else:
            for lab in list_labs():
                state = "running" if lab.is_running() else "stale"
                print(f"{lab.name:16} {lab.address:14} unit={lab.unit_kind:7} front={lab.front:6} {state}")
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # `python -m lab up | head -1`: the lab is up; only the reader went away.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
