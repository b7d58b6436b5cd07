"""Lab supervisor: the first and longest-lived process of one lab host.

lab.host.up() starts it as

    ip netns exec dalab-NAME unshare --mount --propagation private -- \\
        /usr/bin/python3 -E -s lab/supervisor.py STATE_DIR READY_FD HOSTNET_FD

so it runs in the lab's netns and in a fresh mount namespace whose mounts never
propagate back to this machine. It then
  1. drops the copies of netns handles (/run/netns/*) its mount namespace inherited,
     so deleting another lab's netns really frees it;
  2. gives the lab private directories and files by bind mounts (plan.json "binds"):
     where a mount point is missing on this machine (/usr/local/directadmin, /etc/pip.conf,
     ...) the parent directory is overlaid with a tmpfs-backed overlayfs first, so the
     point is created in the lab only and nothing is added to this machine;
  3. becomes a child subreaper, so daemons started in the lab (unitd forks away from its
     parent) stay its descendants and get reaped;
  4. starts sshd, tinyproxy (put back into this machine's netns via HOSTNET_FD, to
     listen on the gateway address), the plan's "services" (a front web server and the
     DirectAdmin API stand-in, when the lab has them) and Unit (via unitctl.py), waits
     until they answer,
     writes "ready" (or "error: ...") to READY_FD and then only reaps children.

Standard library only, everything imported up front: the interpreter that started the
lab may live under /root, which step 2 hides.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MNT_DETACH = 2
CLONE_NEWNET = 0x40000000
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(None, use_errno=True)


class SetupError(Exception):
    pass


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(err)}")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source.encode(), target.encode(),
                       fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                       data.encode() if data else None),
           f"mount {source} on {target} ({fstype or 'bind'})")


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounts() -> list[tuple[str, str]]:
    """(mount point, fstype) for every mount of this namespace, parents first."""
    result = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            result.append((_unescape(left.split()[4]), right.split()[0]))
    return result


def detach_netns_handles() -> None:
    for point, fstype in reversed(mounts()):
        if fstype == "nsfs":
            _libc.umount2(point.encode(), MNT_DETACH)  # gone already is fine


class Overlays:
    """Creates missing mount points by overlaying their nearest existing parent."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.done: list[str] = []

    def ensure(self, target: str, kind: str) -> None:
        path = Path(target)
        if path.exists() or path.is_symlink():
            return
        parent = path.parent
        while not parent.exists():
            parent = parent.parent
        if not any(parent == Path(d) or Path(d) in parent.parents for d in self.done):
            self._overlay(str(parent))
        if kind == "dir":
            path.mkdir(parents=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()

    def _overlay(self, parent: str) -> None:
        k = len(self.done)
        # Submounts of `parent` are not part of an overlay's lower layer: keep them
        # aside and move them back on top of the overlay (e.g. docker's /etc/hosts).
        subs: list[str] = []
        for point, _ in mounts():
            if point.startswith(parent.rstrip("/") + "/") and point not in subs:
                subs.append(point)
        top = [p for p in subs if not any(p.startswith(o + "/") for o in subs if o != p)]
        stashed = []
        for i, point in enumerate(top):
            stash_path = self.scratch / f"stash{k}-{i}"
            if os.path.isdir(point):
                stash_path.mkdir()
            else:
                stash_path.touch()
            mount(point, str(stash_path), None, MS_BIND | MS_REC)
            stashed.append((str(stash_path), point))
        upper, work = self.scratch / f"ovl{k}" / "upper", self.scratch / f"ovl{k}" / "work"
        upper.mkdir(parents=True)
        work.mkdir(parents=True)
        mount("overlay", parent, "overlay", 0, f"lowerdir={parent},upperdir={upper},workdir={work}")
        for stash, point in stashed:
            mount(stash, point, None, MS_MOVE)
        self.done.append(parent)


def setup_mounts(plan: dict[str, Any]) -> None:
    detach_netns_handles()
    scratch = Path(plan["scratch"])
    # Overlay upper layers live on a tmpfs of this namespace only: they vanish with it
    # and work even where the state dir is itself on overlayfs (containers).
    mount("dalab-scratch", str(scratch), "tmpfs", 0, "mode=700")
    overlays = Overlays(scratch)
    for bind in plan["binds"]:
        overlays.ensure(bind["dst"], bind["kind"])
    # Every source, and every path that must stay visible, is opened before the
    # first bind: a bind over /tmp or /root would otherwise hide the ones below it
    # (the lab's state dir when the checkout lives under /tmp, say).
    sources = [os.open(bind["src"], os.O_PATH) for bind in plan["binds"]]
    keep = [(path, os.open(path, os.O_PATH)) for path in plan.get("keep_visible", [])]
    for bind, fd in zip(plan["binds"], sources, strict=True):
        mount(f"/proc/self/fd/{fd}", bind["dst"], None, MS_BIND)
    for path, fd in keep:
        seen = os.stat(path) if os.path.exists(path) else None
        here = os.fstat(fd)
        if seen is None or (seen.st_dev, seen.st_ino) != (here.st_dev, here.st_ino):
            os.makedirs(path, exist_ok=True)
            mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
    for fd in sources + [fd for _, fd in keep]:
        os.close(fd)
    os.chdir("/")


def wait_tcp(address: str, port: int, proc: subprocess.Popen[bytes], what: str, deadline: float) -> None:
    while True:
        if proc.poll() is not None:
            raise SetupError(f"{what} exited with status {proc.returncode} (see its log in the state dir)")
        try:
            with socket.create_connection((address, port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SetupError(f"{what} does not listen on {address}:{port}") from None
            time.sleep(0.01)


def start_services(plan: dict[str, Any], hostnet_fd: int) -> dict[str, subprocess.Popen[bytes]]:
    env = plan["env"]
    state = Path(plan["state_dir"])
    procs: dict[str, subprocess.Popen[bytes]] = {}
    procs["sshd"] = subprocess.Popen(plan["sshd"]["argv"], env=env, cwd="/", stdin=subprocess.DEVNULL)

    def to_host_net() -> None:
        _check(_libc.setns(hostnet_fd, CLONE_NEWNET), "setns(host netns)")

    with open(state / "proxy" / "tinyproxy.log", "ab") as proxy_log:
        # preexec_fn runs before close_fds, so hostnet_fd is still open there; and the
        # supervisor has no threads, which is what makes preexec_fn unsafe elsewhere.
        procs["proxy"] = subprocess.Popen(plan["proxy"]["argv"], env=env, cwd="/", stdin=subprocess.DEVNULL,
                                          stdout=proxy_log, stderr=proxy_log,
                                          preexec_fn=to_host_net)
    # In this machine's netns, so a sweep of the lab's netns cannot find it: recorded
    # with its start time so that down() finds it even when this supervisor is gone.
    (state / "proxy" / "tinyproxy.pid").write_text(f"{procs['proxy'].pid} {start_ticks(procs['proxy'].pid)}\n")
    os.close(hostnet_fd)
    for service in plan.get("services", []):  # the front web server, the DirectAdmin API
        procs[service["name"]] = start_service(service, env)
    if plan["unit"]["start"]:
        procs["unit"] = subprocess.Popen(
            [plan["python"], "-E", "-s", plan["unitctl"], str(state), "start"],
            env=env, cwd="/", stdin=subprocess.DEVNULL)
    return procs


def start_service(service: dict[str, Any], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Run the service's "pre" command (it must succeed), then start the service."""
    pre = service.get("pre")
    if pre:
        done = subprocess.run(pre["argv"], env=env, cwd=pre["cwd"], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise SetupError(f"{service['name']}: preparing failed: {done.stderr.strip()[-800:]}")
    with open(service["log"], "ab") as log:
        return subprocess.Popen(service["argv"], env=env, cwd=service["cwd"], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log)


def wait_ready(plan: dict[str, Any], procs: dict[str, subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 20
    wait_tcp(plan["address"], plan["sshd"]["port"], procs["sshd"], "sshd", deadline)
    wait_tcp(plan["gateway"], plan["proxy"]["port"], procs["proxy"], "tinyproxy", deadline)
    for service in plan.get("services", []):
        address, port = service["wait"]
        wait_tcp(address, port, procs[service["name"]], service["name"], deadline)
    unit = procs.get("unit")
    if unit is not None:
        try:
            rc = unit.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise SetupError("Unit did not answer on its control socket in time") from None
        if rc != 0:
            raise SetupError(f"starting Unit failed (unitctl status {rc}; see supervisor.log)")


class Stop(Exception):
    pass


def _on_term(signum: int, frame: object) -> None:
    raise Stop()


def reap_forever(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    # A handler (not SIG_DFL) so that pause() returns when an orphan is handed to us
    # after all our own children have gone.
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            signal.pause()


def main(argv: list[str]) -> int:
    state, ready_fd, hostnet_fd = Path(argv[1]), int(argv[2]), int(argv[3])
    plan = json.loads((state / "plan.json").read_text())
    ready = os.fdopen(ready_fd, "w")
    signal.signal(signal.SIGTERM, _on_term)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        _check(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl(PR_SET_CHILD_SUBREAPER)")
        setup_mounts(plan)
        procs = start_services(plan, hostnet_fd)
        wait_ready(plan, procs)
    except (SetupError, OSError, KeyError) as exc:
        print(f"supervisor: {exc}", file=sys.stderr, flush=True)
        ready.write(f"error: {exc}\n")
        ready.close()
        _terminate(procs)
        return 1
    ready.write("ready\n")
    ready.close()
    print(f"supervisor: lab {plan['name']} ready", flush=True)
    try:
        reap_forever(procs)
    except Stop:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _terminate(procs)
    return 0


def start_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2:].split()[19])


def _children() -> list[int]:
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == me:
                found.append(int(entry))
    return found


def _reap_all() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _terminate(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    """Stop every child, adopted ones (unitd, the double) included, then reap them.

    lab.host.down() kills every process of the lab anyway; this is for a plain `kill`.
    """
    for pid in _children():
        try:
            os.kill(pid, signal.SIGTERM)  # unitd stops its workers and removes its socket
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 3
    while _children() and time.monotonic() < deadline:
        _reap_all()
        time.sleep(0.02)
    for pid in _children():
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


if __name__ == "__main__":
    sys.exit(main(sys.argv))
