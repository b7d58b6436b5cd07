"""The control API's state and answers: /config, /status, /certificates and
/control, each request mapped to (status, JSON body) as Unit 1.35 answers it."""
from __future__ import annotations

import itertools
import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import tree
from .certstore import BadBundle, Bundle, CertStore
from .checks import Context, Invalid
from .jsonreader import JsonError, parse
from .launcher import Launcher, StartFailed
from .unitconf import validate

VERSION = "1.35.0"
EMPTY_CONFIG: dict[str, Any] = {"listeners": {}, "routes": [], "applications": {}}

Reply = tuple[int, Any]
DONE: Reply = (200, {"success": "Reconfiguration done."})
MISSING: Reply = (404, {"error": "Value doesn't exist."})
NOT_ALLOWED: Reply = (405, {"error": "Method isn't allowed."})
INVALID_METHOD: Reply = (405, {"error": "Invalid method."})
APPLY_FAILED: Reply = (500, {"error": "Failed to apply new configuration."})
NO_CERTIFICATE: Reply = (404, {"error": "Certificate doesn't exist."})


def _failure(status: int, text: str) -> Reply:
    return status, {"error": text}


def _canonical(app: Any) -> str:
    """An application's identity for restarts: its JSON text, key order included
    (Unit restarts an application whose keys were only reordered)."""
    return json.dumps(app)


def _listener_certificates(config: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for address, listener in (config.get("listeners") or {}).items():
        names = (listener.get("tls") or {}).get("certificate", [])
        for name in [names] if isinstance(names, str) else names:
            yield address, name


def _route_steps(config: dict[str, Any]) -> list[Any]:
    routes = config.get("routes") or []
    return routes if isinstance(routes, list) else list(itertools.chain(*routes.values()))


class Unit:
    """One daemon's state: configuration, certificates, running process counts."""

    def __init__(self, state: Path, launcher: Launcher) -> None:
        self.state = state
        self.launcher = launcher
        self.log = launcher.log
        self.certs = CertStore(state / "certs")
        self.config: dict[str, Any] = json.loads(json.dumps(EMPTY_CONFIG))
        self.running: dict[str, int] = {}  # application -> processes running
        self.lock = threading.Lock()

    def boot(self) -> None:
        """Apply the stored configuration; if it cannot start, run empty (and keep the file)."""
        stored = self.state / "conf.json"
        if not stored.exists():
            return
        config = json.loads(stored.read_bytes())
        try:
            self.running = self._apply(config)
        except StartFailed:
            self.log("alert", "failed to apply previous configuration")
            return
        self.config = config

    def handle(self, method: str, path: Sequence[str], body: bytes) -> Reply | None:
        """The answer to one request; None means the connection just closes."""
        handlers: dict[str, Callable[[str, Sequence[str], bytes], Reply | None]] = {
            "config": self._config, "status": self._status,
            "certificates": self._certificates, "control": self._control,
        }
        with self.lock:
            if not path:
                return self._root(method)
            handler = handlers.get(path[0])
            return MISSING if handler is None else handler(method, path[1:], body)

    # --- /
    def _root(self, method: str) -> Reply:
        if method != "GET":
            return INVALID_METHOD
        return 200, {"certificates": self.certs.describe(), "config": self.config,
                     "status": self._status_tree()}

    # --- /config
    def _config(self, method: str, path: Sequence[str], body: bytes) -> Reply | None:
        if method == "GET":
            try:
                return 200, tree.get(self.config, path)
            except tree.Missing:
                return MISSING
        if method not in ("PUT", "POST", "DELETE"):
            return NOT_ALLOWED
        try:
            new = self._edited(method, path, body)
        except JsonError as exc:
            return 400, {"error": "Invalid JSON.", "detail": exc.detail,
                         "location": exc.location(body)}
        except tree.Missing:
            return MISSING
        except tree.NotAnArray:
            return NOT_ALLOWED
        except tree.BelowScalar:
            return None
        return self._install(new)

    def _edited(self, method: str, path: Sequence[str], body: bytes) -> Any:
        if method == "DELETE":
            return tree.delete(self.config, path) if path else {}
        value = parse(body)
        if method == "POST":
            return tree.append(self.config, path, value)
        return tree.put(self.config, path, value)

    def _install(self, new: Any) -> Reply:
        context = Context(new, self.certs.bundles.keys(), self.launcher.interpreter.version)
        try:
            validate(new, context)
        except Invalid as exc:
            return 400, {"error": "Invalid configuration.", "detail": exc.detail}
        try:
            running = self._apply(new)
        except StartFailed:
            self.log("alert", "failed to apply new conf")
            return APPLY_FAILED
        self.config, self.running = new, running
        self._save()
        return DONE

    def _apply(self, new: dict[str, Any]) -> dict[str, int]:
        """Bring up what new needs; the process counts it leaves running.
        StartFailed (logged) when something cannot start: nothing changes then."""
        self._check_routing(new)
        old_apps = self.config.get("applications") or {}
        running: dict[str, int] = {}
        for name, app in (new.get("applications") or {}).items():
            if name in self.running and _canonical(app) == _canonical(old_apps.get(name)):
                running[name] = self.running[name]
                continue
            try:
                running[name] = self.launcher.start(name, app)
            except StartFailed:
                self.log("warn", f'failed to start application "{name}"')
                raise
        return running

    def _check_routing(self, config: dict[str, Any]) -> None:
        """What passes validation yet fails when the router applies it."""
        def fail(message: str) -> NoReturn:
            self.log("alert", message)
            raise StartFailed(message)

        for address, listener in (config.get("listeners") or {}).items():
            if "pass" not in listener and "application" not in listener:
                fail(f'listener "{address}" has nowhere to pass requests')
        for address, name in _listener_certificates(config):
            if not self.certs.bundles[name].key_fits():
                fail(f'SSL_CTX_check_private_key("{name}") failed for listener "{address}" '
                     "(key values mismatch)")
        if any("action" not in step for step in _route_steps(config)):
            fail("a route step has no action")

    def _save(self) -> None:
        temporary = self.state / "conf.json.new"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(self.config, out)
        temporary.rename(self.state / "conf.json")

    # --- /status
    def _status_tree(self) -> dict[str, Any]:
        python = self.launcher.interpreter
        return {
            "modules": {"python": {"version": python.version, "lib": python.module_lib}},
            "connections": {"accepted": 0, "active": 0, "idle": 0, "closed": 0},
            "requests": {"total": 0},
            "applications": {name: {"processes": {"running": n, "starting": 0, "idle": n},
                                    "requests": {"active": 0}}
                             for name, n in self.running.items()},
        }

    def _status(self, method: str, path: Sequence[str], body: bytes) -> Reply:
        if method != "GET":
            return INVALID_METHOD
        try:
            return 200, tree.get(self._status_tree(), path)
        except tree.Missing:
            return _failure(404, "Invalid path.")

    # --- /certificates
    def _certificates(self, method: str, path: Sequence[str], body: bytes) -> Reply:
        if method == "GET":
            return self._certificate_info(path)
        if method not in ("PUT", "DELETE"):
            return INVALID_METHOD
        if len(path) != 1:
            return _failure(400, "Invalid certificate name.")
        name = path[0]
        if method == "PUT":
            return self._upload(name, body)
        if name not in self.certs.bundles:
            return NO_CERTIFICATE
        if any(used == name for _, used in _listener_certificates(self.config)):
            return _failure(400, "Certificate is used in the configuration.")
        self.certs.remove(name)
        return 200, {"success": "Certificate deleted."}

    def _certificate_info(self, path: Sequence[str]) -> Reply:
        if path and path[0] not in self.certs.bundles:
            return NO_CERTIFICATE
        try:
            return 200, tree.get(self.certs.describe(), path)
        except tree.Missing:
            return _failure(404, "Invalid path.")

    def _upload(self, name: str, body: bytes) -> Reply:
        if name in self.certs.bundles:
            return _failure(400, "Certificate already exists.")
        try:
            bundle = Bundle.parse(body)
        except BadBundle:
            return _failure(400, "Invalid certificate.")
        self.certs.add(name, bundle)
        return 200, {"success": "Certificate chain uploaded."}

    # --- /control
    def _control(self, method: str, path: Sequence[str], body: bytes) -> Reply:
        if len(path) != 3 or (path[0], path[2]) != ("applications", "restart"):
            return MISSING
        if method != "GET":
            return NOT_ALLOWED
        name = path[1]
        app = (self.config.get("applications") or {}).get(name)
        if app is None:
            return MISSING
        # Unit answers Ok whatever the new processes do; they show in /status.
        try:
            self.running[name] = self.launcher.start(name, app)
        except StartFailed:
            self.running[name] = 0
        return 200, {"success": "Ok"}
