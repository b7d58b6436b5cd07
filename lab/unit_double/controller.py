"""The control API's behaviour: routing of paths, config edits, validation,
"router" application of a new configuration, certificates, status, restarts
and the state directory.  No sockets here: `Controller.handle` maps a request
to a `Reply`, or raises `Drop` where Unit closes the connection unanswered.

Ported from src/nxt_controller.c and nxt_conf.c of NGINX Unit 1.35.0; every
answer was compared against a real 1.35.0 daemon (tests/contract).
"""
from __future__ import annotations

import copy
import itertools
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import confjson
from .apps import Interpreter, StartResult, initial_processes, start_python
from .certs import Bundle, BundleError, parse_bundle
from .confjson import JsonParseError
from .validate import Invalid, Module, Validation, decode_uri, int_parse, validate

JsonValue = Any

VERSION = "1.35.0"
VERSION_NUMBER = "13500"  # the statedir's "version" file, as Unit writes it
MAX_TOKEN_LEN = 256  # NXT_CONF_MAX_TOKEN_LEN

DEFAULT_CONF: JsonValue = {"listeners": {}, "routes": [], "applications": {}}

MSG_NOT_FOUND = "Value doesn't exist."
MSG_NOT_ALLOWED = "Method isn't allowed."
MSG_INVALID_METHOD = "Invalid method."
MSG_INVALID_CONF = "Invalid configuration."
MSG_ALLOC = "Memory allocation failed."
MSG_DONE = "Reconfiguration done."
MSG_APPLY_FAILED = "Failed to apply new configuration."


@dataclass
class Reply:
    status: int
    body: JsonValue


def success(text: str) -> Reply:
    return Reply(200, {"success": text})


def error(status: int, text: str, detail: str | None = None) -> Reply:
    body: dict[str, JsonValue] = {"error": text}
    if detail is not None:
        body["detail"] = detail
    return Reply(status, body)


class Drop(Exception):
    """Unit closes the connection without a response."""


class Log:
    """unit.log: "2026/11/23 20:45:06 [info] 15490#15490 text"."""

    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._file = os.fdopen(fd, "a", buffering=1, encoding="utf-8",
                               errors="surrogateescape")
        self._lock = threading.Lock()

    def line(self, level: str, pid: int, text: str) -> None:
        with self._lock:
            self._file.write(self.format(level, pid, text))

    def take_stderr(self) -> None:
        """From now on stderr is unit.log, as for unitd once it runs."""
        self._file.flush()
        os.dup2(self._file.fileno(), 2)

    @staticmethod
    def format(level: str, pid: int, text: str) -> str:
        return f"{time.strftime('%Y/%m/%d %H:%M:%S')} [{level}] {pid}#{pid} {text}\n"

    def raw(self, text: str) -> None:
        if text:
            with self._lock:
                self._file.write(text if text.endswith("\n") else text + "\n")

    def close(self) -> None:
        self._file.close()


class _Missing:
    pass


MISSING = _Missing()


class _OpNotFound(Exception):
    pass


class _OpNotAllowed(Exception):
    pass


class _OpError(Exception):
    pass


class _OpCrash(Exception):
    """Unit 1.35.0's controller dies with SIGSEGV on this edit."""


def _tokens(path: str) -> list[str]:
    return path.split("/")[1:]


def _decode_token(token: str) -> str:
    if len(token) > MAX_TOKEN_LEN:
        raise _OpError
    decoded = decode_uri(token)
    if decoded is None:
        raise _OpError
    return decoded


def get_path(root: JsonValue, path: str) -> JsonValue:
    """nxt_conf_get_path; MISSING when absent."""
    if path == "/":
        return root
    value = root
    for token in _tokens(path):
        try:
            name = _decode_token(token)
        except _OpError:
            return MISSING
        if isinstance(value, dict):
            value = value.get(name, MISSING)
        elif isinstance(value, list):
            index = int_parse(name)
            value = value[index] if 0 <= index < len(value) else MISSING
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value


def edit(root: JsonValue, path: str, value: JsonValue, add: bool) -> JsonValue:
    """nxt_conf_op_compile + nxt_conf_clone on a copy: the edited tree.

    value MISSING means delete; add means POST (append to an array).
    """
    new_root = copy.deepcopy(root)
    tokens = _tokens(path)
    parent = new_root
    key: Any = None
    node: JsonValue = MISSING
    for i, token in enumerate(tokens):
        name = _decode_token(token)
        if isinstance(parent, dict):
            key, node = name, parent.get(name, MISSING)
        elif isinstance(parent, list):
            key = int_parse(name)
            if key < 0 or key > 2**31 - 1:
                raise _OpNotFound
            node = parent[key] if key < len(parent) else MISSING
        else:
            key, node = None, MISSING
        if i == len(tokens) - 1:
            break
        if node is MISSING:
            raise _OpNotFound
        parent = node
    if value is MISSING:
        if node is MISSING:
            raise _OpNotFound
        del parent[key]
    elif add:
        if node is MISSING:
            raise _OpNotFound
        if not isinstance(node, list):
            raise _OpNotAllowed
        node.append(value)
    elif node is not MISSING:
        parent[key] = value
    elif isinstance(parent, list):
        if key > len(parent):
            raise _OpNotFound
        parent.append(value)
    elif isinstance(parent, dict):
        parent[key] = value
    else:
        raise _OpCrash
    return new_root


def parse_target(target: str) -> str | None:
    """What Unit's HTTP parser makes of a request target, for the controller:
    the path without query or fragment, %XX decoded except %25 and %2F (left
    for the per-segment decoding of config paths), repeated slashes merged,
    "." and ".." resolved.  None where Unit answers "parsing error"."""
    cut = len(target)
    for mark in ("?", "#"):
        at = target.find(mark)
        if at >= 0:
            cut = min(cut, at)
    raw = target[:cut]
    if not raw.startswith("/"):
        return None
    segments: list[str] = []
    for segment in raw.split("/")[1:]:
        out: list[str] = []
        i = 0
        while i < len(segment):
            ch = segment[i]
            if ch != "%":
                out.append(ch)
                i += 1
                continue
            pair = segment[i + 1:i + 3]
            if len(pair) < 2 or any(c not in "0123456789abcdefABCDEF" for c in pair):
                return None
            code = int(pair, 16)
            if code == 0:
                return None
            if code == 0x25 or code == 0x2F:
                out.append("%" + pair)
            else:
                out.append(chr(code))
            i += 3
        text = "".join(out)
        if text in ("", "."):
            continue
        if text == "..":
            if not segments:
                return None
            segments.pop()
            continue
        segments.append(text)
    # Bytes decoded above are latin-1 characters; make them UTF-8 text.
    path = "/" + "/".join(segments)
    return path.encode("latin-1", "surrogateescape").decode("utf-8", "surrogateescape")


@dataclass
class AppState:
    text: bytes  # the object as last applied; a change restarts the app
    running: int


class Controller:
    def __init__(self, state_dir: Path, log: Log, interpreter: Interpreter,
                 default_user: str = "nobody") -> None:
        self.state_dir = state_dir
        self.log = log
        self.interpreter = interpreter
        self.default_user = default_user
        self.conf: JsonValue = copy.deepcopy(DEFAULT_CONF)
        self.certs: dict[str, Bundle] = {}
        self.apps: dict[str, AppState] = {}
        # Unit's processes, for the log lines only: the double is one process.
        self.main_pid = os.getpid()
        self.controller_pid = self.main_pid + 1
        self.router_pid = self.main_pid + 2
        self.discovery_pid = self.main_pid + 3
        self._pids = itertools.count(self.main_pid + 4)
        self._conns = itertools.count(1)
        self._lock = threading.Lock()
        self.modules = (Module("python", interpreter.version), Module("external", ""))
        self.module_lib = f"/usr/lib/unit/modules/python{interpreter.short_version}.unit.so"

    # --- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Load the state directory and apply the stored configuration."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        certs_dir = self.state_dir / "certs"
        certs_dir.mkdir(mode=0o700, exist_ok=True)
        version = self.state_dir / "version"
        if not version.exists():
            self._write(version, VERSION_NUMBER.encode())
        self.log.line("info", self.discovery_pid, "discovery started")
        self.log.line("notice", self.discovery_pid,
                      f'module: python {self.interpreter.version} "{self.module_lib}"')
        self.log.line("info", self.controller_pid, "controller started")
        self.log.line("notice", self.main_pid,
                      f"process {self.discovery_pid} exited with code 0")
        self.log.line("info", self.router_pid, "router started")
        for path in sorted(certs_dir.iterdir()):
            try:
                self.certs[path.name] = parse_bundle(path.read_bytes())
            except (BundleError, OSError) as exc:
                self.log.line("alert", self.controller_pid, f"{exc}")
        stored = self.state_dir / "conf.json"
        if stored.exists():
            try:
                conf = confjson.parse(stored.read_bytes())
                validate(conf, self._validation())
                if self._apply(conf) is not None:
                    raise Invalid("failed to apply")
            except (JsonParseError, Invalid, OSError):
                self.log.line("alert", self.controller_pid,
                              "failed to apply previous configuration")
                self.conf = copy.deepcopy(DEFAULT_CONF)

    def _write(self, path: Path, data: bytes) -> None:
        # Atomic and 0600, like Unit's conf.json and certs/NAME.
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    # --- request entry point ---------------------------------------------------

    def handle(self, method: str, target: str, body: bytes) -> Reply:
        # One request at a time, as Unit's controller queues them.
        with self._lock:
            conn = next(self._conns)
            path = parse_target(target)
            if path is None:
                self.log.line("error", self.controller_pid, f"*{conn} parsing error")
                raise Drop
            if len(path) > 1 and path.endswith("/"):
                path = path[:-1]
            return self._route(method, path, body, conn)

    def _route(self, method: str, path: str, body: bytes, conn: int) -> Reply:
        for prefix, handler in (("/config", self._config), ("/status", self._status),
                                ("/certificates", self._certificates)):
            if path == prefix or path.startswith(prefix + "/"):
                return handler(method, path[len(prefix):] or "/", body, conn)
        if path.startswith("/control/"):
            return self._control(method, path[len("/control/"):])
        if path == "/":
            if method != "GET":
                return error(405, MSG_INVALID_METHOD)
            return Reply(200, {
                "certificates": self._cert_infos(),
                "config": self.conf,
                "status": self._status_tree(),
            })
        return error(404, MSG_NOT_FOUND)

    # --- /config -----------------------------------------------------------------

    def _config(self, method: str, path: str, body: bytes, conn: int) -> Reply:
        if method == "GET":
            value = get_path(self.conf, path)
            return error(404, MSG_NOT_FOUND) if value is MISSING else Reply(200, value)
        if method == "POST" and path == "/":
            return error(405, MSG_NOT_ALLOWED)
        if method in ("POST", "PUT"):
            if body.startswith(b"\xef\xbb\xbf"):
                body = body[3:]
            try:
                value = confjson.parse(body)
            except JsonParseError as exc:
                return self._json_error(body, exc)
            return self._reconfigure(path, value, add=method == "POST")
        if method == "DELETE":
            if path == "/":
                return self._commit_checked({})
            return self._reconfigure(path, MISSING, add=False)
        return error(405, MSG_NOT_ALLOWED)

    def _json_error(self, body: bytes, exc: JsonParseError) -> Reply:
        location: dict[str, int] = {"offset": exc.pos}
        where = confjson.position(body, exc.pos)
        if where is not None:
            location["line"], location["column"] = where
        return Reply(400, {"error": "Invalid JSON.", "detail": exc.detail,
                           "location": location})

    def _reconfigure(self, path: str, value: JsonValue, add: bool) -> Reply:
        if path == "/":
            return self._commit_checked(value)
        try:
            conf = edit(self.conf, path, value, add)
        except _OpNotFound:
            return error(404, MSG_NOT_FOUND)
        except _OpNotAllowed:
            return error(405, MSG_NOT_ALLOWED)
        except _OpError:
            return error(500, MSG_ALLOC)
        except _OpCrash:
            # Editing below a string or number kills Unit's controller; the
            # client sees the connection close and the main process restarts
            # the controller with the old configuration.
            self.log.line("alert", self.main_pid,
                          f"process {self.controller_pid} exited on signal 11")
            self.controller_pid = next(self._pids)
            self.log.line("info", self.controller_pid, "controller started")
            raise Drop from None
        return self._commit_checked(conf)

    def _validation(self) -> Validation:
        return Validation(frozenset(self.certs), self.modules)

    def _commit_checked(self, conf: JsonValue) -> Reply:
        try:
            validate(conf, self._validation())
        except Invalid as exc:
            return error(400, MSG_INVALID_CONF, exc.detail)
        failure = self._apply(conf)
        return failure if failure is not None else success(MSG_DONE)

    # --- what the router does with a new configuration ---------------------------

    def _apply(self, conf: JsonValue) -> Reply | None:
        """All-or-nothing: on failure nothing changes and a 500 is returned."""
        failed = self._check_listeners(conf) or not self._start_changed_apps(conf)
        if failed:
            self.log.line("alert", self.router_pid, "failed to apply new conf")
            return error(500, MSG_APPLY_FAILED)
        self.conf = conf
        self._write(self.state_dir / "conf.json", confjson.dumps(conf))
        return None

    def _check_listeners(self, conf: JsonValue) -> bool:
        """True when the router would refuse a listener."""
        for listener in (conf.get("listeners") or {}).values():
            if "pass" not in listener and "application" not in listener:
                return True
            names = (listener.get("tls") or {}).get("certificate", [])
            for name in [names] if isinstance(names, str) else names:
                if not self.certs[name].key_matches():
                    self.log.line(
                        "alert", self.router_pid,
                        "nxt_openssl_chain_file() failed (116: key values mismatch) "
                        "(OpenSSL: error:05800074:x509 certificate routines::"
                        "key values mismatch)")
                    return True
        return False

    def _start_changed_apps(self, conf: JsonValue) -> bool:
        # Unit compares each application's object as text: the same object
        # with its keys in another order is a change and restarts the app.
        apps: dict[str, AppState] = {}
        for name, app in (conf.get("applications") or {}).items():
            text = confjson.dumps(app)
            old = self.apps.get(name)
            if old is not None and old.text == text:
                apps[name] = old
                continue
            running = self._start_app(name, app, restart=False)
            if running is None:
                return False
            apps[name] = AppState(text, running)
        self.apps = apps
        return True

    def _start_app(self, name: str, app: dict[str, JsonValue], restart: bool) -> int | None:
        """Start the first processes; their number, or None on failure."""
        count = initial_processes(app)
        if count == 0:
            return 0
        if app["type"].startswith(("external", "go")):
            # Only programs linked with libunit can start; the double cannot
            # run one, so it fails like Unit does for any other executable.
            result = StartResult(False)
        else:
            result = start_python(self.interpreter, app, self.default_user)
        proto = next(self._pids)
        if not result.ok and result.stage == "prototype":
            for level, text in result.log:
                self.log.line(level, proto if result.by_prototype else self.main_pid, text)
            if result.by_prototype:
                self.log.line("notice", self.main_pid, f"process {proto} exited with code 1")
            if not restart:
                self.log.line("warn", self.router_pid, f'failed to start prototype "{name}"')
            return None
        self.log.line("info", proto, f'"{name}" prototype started')
        worker = next(self._pids)
        self.log.line("info", worker, f'"{name}" application started')
        self.log.raw(result.before)
        if not result.ok:
            for level, text in result.log:
                self.log.line(level, worker, text)
            self.log.raw(result.after)
            self.log.line("notice", proto, f"app process {worker} exited with code 1")
            if not restart:
                self.log.line("warn", self.router_pid, f'failed to start application "{name}"')
            return None
        for _ in range(count - 1):
            self.log.line("info", next(self._pids), f'"{name}" application started')
        return count

    # --- /status -------------------------------------------------------------------

    def _status_tree(self) -> JsonValue:
        return {
            "modules": {"python": {"version": self.interpreter.version,
                                   "lib": self.module_lib}},
            "connections": {"accepted": 0, "active": 0, "idle": 0, "closed": 0},
            "requests": {"total": 0},
            "applications": {
                name: {"processes": {"running": st.running, "starting": 0,
                                     "idle": st.running},
                       "requests": {"active": 0}}
                for name, st in self.apps.items()
            },
        }

    def _status(self, method: str, path: str, _body: bytes, _conn: int) -> Reply:
        if method != "GET":
            return error(405, MSG_INVALID_METHOD)
        value = get_path(self._status_tree(), path)
        return error(404, "Invalid path.") if value is MISSING else Reply(200, value)

    # --- /control ------------------------------------------------------------------

    def _control(self, method: str, path: str) -> Reply:
        if method != "GET":
            return error(405, MSG_NOT_ALLOWED)
        prefix, suffix = "applications/", "/restart"
        if not path.startswith(prefix) or not path.endswith(suffix) \
                or len(path) < len(prefix) + len(suffix):
            return error(404, MSG_NOT_FOUND)
        app = (self.conf.get("applications") or {}).get(path[len(prefix):-len(suffix)])
        if app is None:
            return error(404, MSG_NOT_FOUND)
        # Unit answers "Ok" once the old processes are told to go, whatever
        # becomes of the new ones (a broken module leaves none running).
        name = path[len(prefix):-len(suffix)]
        running = self._start_app(name, app, restart=True)
        self.apps[name] = AppState(confjson.dumps(app), running or 0)
        return success("Ok")

    # --- /certificates ---------------------------------------------------------------

    def _cert_infos(self) -> JsonValue:
        return {name: bundle.info() for name, bundle in self.certs.items()}

    def _cert_in_use(self, name: str) -> bool:
        for listener in (self.conf.get("listeners") or {}).values():
            names = get_path(listener, "/tls/certificate")
            if names is MISSING:
                continue
            if name in ([names] if isinstance(names, str) else names):
                return True
        return False

    def _certificates(self, method: str, path: str, body: bytes, conn: int) -> Reply:
        name, slash, rest = path[1:].partition("/")
        sub = "/" + rest if slash else None
        if method == "GET":
            if not name:
                return Reply(200, self._cert_infos())
            bundle = self.certs.get(name)
            if bundle is None:
                return error(404, "Certificate doesn't exist.")
            value = bundle.info() if sub is None else get_path(bundle.info(), sub)
            return error(404, "Invalid path.") if value is MISSING else Reply(200, value)
        if not name or sub is not None:
            return error(400, "Invalid certificate name.")
        if method == "PUT":
            if name in self.certs:
                return error(400, "Certificate already exists.")
            try:
                bundle = parse_bundle(body)
            except BundleError as exc:
                self.log.line("alert", self.controller_pid, f"*{conn} {exc}")
                return error(400, "Invalid certificate.")
            self._write(self.state_dir / "certs" / name, body)
            self.certs[name] = bundle
            return success("Certificate chain uploaded.")
        if method == "DELETE":
            if self._cert_in_use(name):
                return error(400, "Certificate is used in the configuration.")
            if name not in self.certs:
                return error(404, "Certificate doesn't exist.")
            del self.certs[name]
            (self.state_dir / "certs" / name).unlink(missing_ok=True)
            return success("Certificate deleted.")
        return error(405, MSG_INVALID_METHOD)
