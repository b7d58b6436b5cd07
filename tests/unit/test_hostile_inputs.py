"""Config a hostile or careless user would write (issue 9, "Trust": input).

Each case is a stack config as the program gets it (hosts, apps, appSecrets)
and the outcome `validate_stack` must give: refused with the field's path and
words of the fix (and, where it matters, none of the secret or key material
in any message), or accepted (with what it is normalized to). Validation reads
the local source tree and hostKeyFile as `pulumi preview` does, before any
resource exists, so a refused case never reaches a host (tests/e2e/
test_hostile_config.py shows that under the real engine).
"""
from __future__ import annotations

import base64
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from daunit import hostops
from daunit.errors import StackConfigError
from daunit.remote.commands import MIN_GUARDED_SECRET, _checked_argv
from daunit.spec import StackSpec, validate_stack
from daunit.spec.local import known_hosts_text
from tests.unit.conftest import app_raw, ed25519_key_b64, host_raw, ssh_string

REPO = Path(__file__).resolve().parents[2]
ADDRESS = "203.0.113.10"
SECRET = "sk-9f2c41d0e7b3a6c58e1d"
DEFAULT_SECRETS = object()  # the app's one declared secret, set


# --- test material, made at run time ---------------------------------------------------------


def rsa_public_b64(bits: int) -> str:
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key().public_numbers()

    def mpint(value: int) -> bytes:
        return ssh_string(value.to_bytes(value.bit_length() // 8 + 1, "big"))

    return base64.b64encode(ssh_string(b"ssh-rsa") + mpint(numbers.e) + mpint(numbers.n)).decode()


@dataclass(frozen=True)
class Material:
    """Paths and texts the cases refer to as @NAME@."""

    root: Path
    source: Path
    subs: dict[str, str]
    key_body: tuple[str, ...]  # the base64 lines of the private key files: never in a message


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> Material:
    root = tmp_path_factory.mktemp("hostile")
    source = root / "src"
    shutil.copytree(REPO / "examples" / "flask_app", source,
                    ignore=shutil.ignore_patterns("__pycache__", "instance", "logs"))
    keys = root / "keys"
    keys.mkdir()
    openssh = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption())
    (keys / "id_ed25519").write_bytes(openssh)
    (keys / "id_rsa").write_bytes(pem)
    ours = f"{ADDRESS} ssh-ed25519 {ed25519_key_b64(1)}"
    other = f"198.51.100.7 ssh-ed25519 {ed25519_key_b64(2)}"
    files = {
        "kh_ours": ours + "\n",
        "kh_mixed": f"# my machine's known_hosts\n{other}\n{ours}\nweb.example ssh-dss AAAAB3NzaC1kc3M=\n",
        "kh_other": other + "\n",
        "kh_rsa1024": f"{ADDRESS} ssh-rsa {rsa_public_b64(1024)}\n",
        "kh_empty": "",
        "kh_big": (ours + "\n") * 20000,
        "kh_revoked": f"@revoked {ADDRESS} ssh-ed25519 {ed25519_key_b64(3)}\n",
    }
    for name, text in files.items():
        (keys / name).write_text(text)
    body = tuple(line for blob in (openssh, pem) for line in blob.decode().splitlines()
                 if line and not line.startswith("-----"))
    subs = {"@KEYS@": str(keys), "@SRC@": str(source), "@RSA1024@": rsa_public_b64(1024),
            "@RSA2048@": rsa_public_b64(2048), "@ED@": ed25519_key_b64(1)}
    return Material(root, source, subs, body)


def substitute(value: Any, subs: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for marker, text in subs.items():
            value = value.replace(marker, text)
        return value
    if isinstance(value, dict):
        return {substitute(k, subs): substitute(v, subs) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [substitute(v, subs) for v in value]
    return value


# --- the cases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    host: Mapping[str, Any] = field(default_factory=dict)  # changes to the one host
    app: Mapping[str, Any] = field(default_factory=dict)  # changes to the first app
    secrets: Any = DEFAULT_SECRETS
    more_apps: tuple[Mapping[str, Any], ...] = ()
    more_hosts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    tree: Callable[[Path], None] | None = None  # changes to a copy of the source tree
    refused: str | None = None  # the field path named; None: accepted
    words: tuple[str, ...] = ()  # in that field's message
    hidden: tuple[str, ...] = ()  # in no message ("@KEYBODY@": the private keys' lines)
    check: Callable[[StackSpec], bool] | None = None  # for an accepted case


def refused(id: str, path: str, *words: str, hidden: tuple[str, ...] = (), **config: Any) -> Case:
    return Case(id, refused=path, words=words, hidden=hidden, **config)


def accepted(id: str, check: Callable[[StackSpec], bool] | None = None, **config: Any) -> Case:
    return Case(id, check=check, **config)


def tree_writes(relpath: str, text: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_text(text)
    return change


def tree_symlink(relpath: str, target: str) -> Callable[[Path], None]:
    return lambda root: (root / relpath).symlink_to(target)


def requirements(text: str) -> Callable[[Path], None]:
    return tree_writes("requirements.txt", "Flask==3.1.3\n" + text + "\n")


def env_path(key: str) -> str:
    # As format_errors writes a path: .NAME for a plain name, ['...'] for anything else.
    plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key)
    return f"apps[0].environment.{key}" if plain else f"apps[0].environment[{key!r}]"


def app0(spec: StackSpec) -> Any:
    return spec.apps[0]


SITE = "/home/username/domains/example.com"

NEWLINES = [
    refused("newline-app-name", "apps[0].name", "not valid", app={"name": "shop\n"}),
    refused("newline-da-user", "hosts.web1.daUser", "not a DirectAdmin user name", host={"daUser": "alice\n"}),
    refused("newline-env-key", env_path("FOO\n"), "environment name", app={"environment": {"FOO\n": "x"}}),
    refused("newline-secret-key", "apps[0].secretEnvironmentKeys", "not valid",
            app={"secretEnvironmentKeys": ["SECRET_KEY\n"]}),
    refused("newline-header-name", "apps[0].securityHeaders['X-Frame-Options\\n']", "not an HTTP header name",
            app={"securityHeaders": {"X-Frame-Options\n": "DENY"}}),
    refused("newline-python-version", "apps[0].pythonVersion", "like 3.11", app={"pythonVersion": "3.11\n"}),
    refused("newline-domain", "apps[0].domain", "line break", app={"domain": "example.com\n"}),
    refused("newline-alias", "apps[0].aliases", "line break", app={"aliases": ["www.example.com\n"]}),
    refused("newline-host-key-name", "hosts['web1\\n'].name", "host name", host={"name": "web1\n"}),
    refused("newline-app-host", "apps[0].host", "is not a host name", app={"host": "web1\n"}),
    refused("newline-ssh-user", "hosts.web1.sshUser", "not a safe user name", host={"sshUser": "root\n"}),
    refused("newline-module", "apps[0].module", "not a Python module name", app={"module": "wsgi\n"}),
    refused("newline-callable", "apps[0].callable", "not a Python identifier", app={"callable": "application\n"}),
    refused("newline-static-url", "apps[0].staticUrl", "not a URL prefix", app={"staticUrl": "/static/\n"}),
    refused("newline-listener", "apps[0].listener", "line break", app={"listener": "*:80\n"}),
    refused("newline-address", "hosts.web1.address", "line break", host={"address": f"{ADDRESS}\n"}),
    refused("newline-unit-socket", "hosts.web1.unitSocket", "line break",
            host={"unitSocket": "/var/run/unit/control.sock\n"}),
    refused("newline-python", "hosts.web1.python", "line break", host={"python": "/usr/bin/python3.11\n"}),
    refused("newline-app-dir", "apps[0].appDir", "line break", app={"appDir": f"{SITE}/public_html/shop\n"}),
    refused("newline-health-path", "apps[0].healthPath", "not a URL path", app={"healthPath": "/\n"}),
    refused("newline-key-file", "hosts.web1.keyFile", "single path", host={"keyFile": "~/.ssh/id_ed25519\n"}),
    refused("newline-host-key-file", "hosts.web1.hostKeyFile", "single path",
            host={"hostKey": None, "hostKeyFile": "@KEYS@/kh_ours\n"}),
    refused("newline-requirements", "apps[0].requirements", "line break", app={"requirements": "requirements.txt\n"}),
    refused("newline-static-dir", "apps[0].staticDir", "line break", app={"staticDir": "app/static\n"}),
    refused("newline-env-value", env_path("GREETING"), "line break", app={"environment": {"GREETING": "a\nb"}}),
    refused("newline-tls-listener", "apps[0].tls.listener", "line break",
            app={"tls": {"source": "directadmin", "listener": "*:443\n"}}),
    refused("newline-public-address", "hosts.web1.publicAddress", "not an IP address",
            host={"publicAddress": f"{ADDRESS}\n"}),
    refused("newline-unit-log", "hosts.web1.unitLog", "line break", host={"unitLog": "/var/log/unit/unit.log\n"}),
    refused("newline-header-value", "apps[0].securityHeaders.X-Test", "line break",
            app={"securityHeaders": {"X-Test": "a\nb"}}),
    refused("carriage-return-env-key", env_path("FOO\r"), "environment name", app={"environment": {"FOO\r": "x"}}),
    refused("line-separator-domain", "apps[0].domain", "line break", app={"domain": "example.com\u2028"}),
]

NUL_BYTES = [
    refused("nul-app-name", "apps[0].name", "not valid", app={"name": "shop\x00"}),
    refused("nul-env-value", env_path("GREETING"), "NUL", app={"environment": {"GREETING": "a\x00b"}}),
    refused("nul-domain", "apps[0].domain", "line break or control", app={"domain": "exa\x00mple.com"}),
    refused("nul-source", "apps[0].source", "single path", app={"source": "@SRC@\x00"}),
    refused("nul-secret", "appSecrets.flask_app.SECRET_KEY", "NUL", hidden=("nul-in-secret",),
            secrets={"flask_app": {"SECRET_KEY": "nul-in-secret\x00x"}}),
    refused("nul-app-dir", "apps[0].appDir", "control", app={"appDir": f"{SITE}/public_html/a\x00b"}),
    refused("nul-da-user", "hosts.web1.daUser", "not a DirectAdmin user name", host={"daUser": "ali\x00ce"}),
]

APP_DIRS = [
    refused("app-dir-etc", "apps[0].appDir", "outside daUser 'username''s site tree", "/home/username/domains/",
            app={"appDir": "/etc"}),
    refused("app-dir-other-user", "apps[0].appDir", "outside", "site tree",
            app={"appDir": "/home/other/domains/example.com/public_html/shop"}),
    refused("app-dir-home", "apps[0].appDir", "outside", app={"appDir": "/home/username"}),
    refused("app-dir-domains", "apps[0].appDir", "outside", app={"appDir": "/home/username/domains"}),
    refused("app-dir-domain-itself", "apps[0].appDir", "outside", app={"appDir": SITE}),
    refused("app-dir-public-html", "apps[0].appDir", "DirectAdmin manages", app={"appDir": f"{SITE}/public_html"}),
    refused("app-dir-logs", "apps[0].appDir", "DirectAdmin manages", app={"appDir": f"{SITE}/logs"}),
    refused("app-dir-private-html", "apps[0].appDir", "private_html", app={"appDir": f"{SITE}/private_html/shop"}),
    refused("app-dir-not-a-domain", "apps[0].appDir", "outside",
            app={"appDir": "/home/username/domains/not_a_domain/shop"}),
    refused("app-dir-dotdot", "apps[0].appDir", "'..'", app={"appDir": f"{SITE}/public_html/../../../../etc"}),
    refused("app-dir-dollar", "apps[0].appDir", "'$'", "variable", app={"appDir": f"{SITE}/public_html/$host"}),
    refused("app-dir-root-home", "apps[0].appDir", "outside", app={"appDir": "/root/shop"}),
    refused("app-dir-var-www", "apps[0].appDir", "outside", app={"appDir": "/var/www/html/shop"}),
    refused("app-dir-relative", "apps[0].appDir", "absolute path", app={"appDir": "public_html/shop"}),
    refused("app-dir-too-long", "apps[0].appDir", "too long", app={"appDir": f"{SITE}/public_html/" + "a" * 300}),
    refused("app-dir-uppercase-home", "apps[0].appDir", "outside", app={"appDir": "/HOME/username/domains/x.com/a"}),
    accepted("app-dir-in-public-html", lambda s: app0(s).app_dir == f"{SITE}/public_html/shop",
             app={"appDir": f"{SITE}/public_html/shop"}),
    accepted("app-dir-beside-public-html", app={"appDir": f"{SITE}/shop"}),
    accepted("app-dir-normalized", lambda s: app0(s).app_dir == f"{SITE}/public_html/shop",
             app={"appDir": "/home/username//domains/example.com/public_html/shop/"}),
    accepted("app-dir-of-another-domain-of-the-user", app={"appDir": "/home/username/domains/other.org/apps/x"}),
]

SYSTEM_USERS = [
    refused(f"da-user-{user}", "hosts.web1.daUser", "system account", host={"daUser": user})
    for user in ("root", "daemon", "bin", "www-data", "nobody", "admin", "diradmin", "mysql", "apache",
                 "nginx", "sshd", "nginx_unit", "mail", "ftp", "postgres")
] + [
    accepted("da-user-plain", lambda s: s.hosts["web1"].da_user == "alice", host={"daUser": "alice"}),
    refused("da-user-uppercase", "hosts.web1.daUser", "lower-case", host={"daUser": "Alice"}),
    refused("da-user-empty", "hosts.web1.daUser", "not a DirectAdmin user name", host={"daUser": ""}),
    refused("da-user-too-long", "hosts.web1.daUser", "1-16", host={"daUser": "a" * 17}),
    refused("da-user-cyrillic-a", "hosts.web1.daUser", "not a DirectAdmin user name", host={"daUser": "\u0430lice"}),
    refused("da-user-path", "hosts.web1.daUser", "not a DirectAdmin user name", host={"daUser": "../root"}),
]

DOLLARS = [
    refused("static-dir-dollar", "apps[0].staticDir", "'$'", "variable",
            app={"staticUrl": "/static/", "staticDir": "$uri/static"}),
    refused("static-dir-dollar-brace", "apps[0].staticDir", "'$'", app={"staticDir": "app/${host}/static"}),
    refused("domain-dollar", "apps[0].domain", "not a valid host name", app={"domain": "exa$mple.com"}),
    refused("static-url-dollar", "apps[0].staticUrl", "not a URL prefix", app={"staticUrl": "/$host/"}),
    refused("header-value-dollar", "apps[0].securityHeaders.X-Test", "variable",
            app={"securityHeaders": {"X-Test": "$host"}}),
    refused("unit-log-dollar", "hosts.web1.unitLog", "not a log file", host={"unitLog": "/var/log/unit/$x.log"}),
]

RESERVED_NAMES = [
    # Unit's objects are daflask:<project>:<stack>:default, not Unit's own "default" route.
    accepted("app-name-default", app={"name": "default"}, secrets={"default": {"SECRET_KEY": SECRET}}),
    refused("env-daflask-owner", "apps[0].environment.DAFLASK_OWNER", "set by da-flask",
            app={"environment": {"DAFLASK_OWNER": "other/stack"}}),
    refused("app-name-da-flask", "apps[0].name", "reserved", app={"name": "da_flask_hosts"}),
    refused("app-name-daflask", "apps[0].name", "reserved", app={"name": "daflask"}),
    refused("app-name-Default", "apps[0].name", "lower-case", app={"name": "Default"}),
    accepted("app-name-default2", app={"name": "default2"}, secrets={"default2": {"SECRET_KEY": SECRET}}),
]

HOST_KEYS = [
    refused("host-key-file-openssh-private-key", "hosts.web1.hostKeyFile", "is a private key",
            "Nothing of it is shown", hidden=("@KEYBODY@",),
            host={"hostKey": None, "hostKeyFile": "@KEYS@/id_ed25519"}),
    refused("host-key-file-pem-private-key", "hosts.web1.hostKeyFile", "is a private key", hidden=("@KEYBODY@",),
            host={"hostKey": None, "hostKeyFile": "@KEYS@/id_rsa"}),
    refused("host-key-file-missing", "hosts.web1.hostKeyFile", "cannot be read", "No such file",
            host={"hostKey": None, "hostKeyFile": "@KEYS@/nothing-here"}),
    refused("host-key-file-directory", "hosts.web1.hostKeyFile", "cannot be read",
            host={"hostKey": None, "hostKeyFile": "@KEYS@"}),
    accepted("host-key-file-ours", lambda s: known_hosts_text(s.hosts["web1"]).startswith(ADDRESS),
             host={"hostKey": None, "hostKeyFile": "@KEYS@/kh_ours"}),
    accepted("host-key-file-whole-known-hosts-keeps-only-ours",
             lambda s: known_hosts_text(s.hosts["web1"]).count("\n") == 1
             and "198.51.100.7" not in known_hosts_text(s.hosts["web1"]),
             host={"hostKey": None, "hostKeyFile": "@KEYS@/kh_mixed"}),
    refused("host-key-file-other-hosts-only", "hosts.web1.hostKeyFile", f"has no line for {ADDRESS}",
            host={"hostKey": None, "hostKeyFile": "@KEYS@/kh_other"}),
    refused("host-key-file-rsa-1024", "hosts.web1.hostKeyFile", "only 1024 bits", "ed25519",
            host={"hostKey": None, "hostKeyFile": "@KEYS@/kh_rsa1024"}),
    refused("host-key-file-empty", "hosts.web1.hostKeyFile", "has no line",
            host={"hostKey": None, "hostKeyFile": "@KEYS@/kh_empty"}),
    refused("host-key-file-huge", "hosts.web1.hostKeyFile", "larger than 1 MiB",
            host={"hostKey": None, "hostKeyFile": "@KEYS@/kh_big"}),
    refused("host-key-file-revoked-marker", "hosts.web1.hostKeyFile", "markers are not supported",
            host={"hostKey": None, "hostKeyFile": "@KEYS@/kh_revoked"}),
    refused("host-key-file-empty-path", "hosts.web1.hostKeyFile", "is empty",
            host={"hostKey": None, "hostKeyFile": ""}),
    refused("host-key-rsa-1024", "hosts.web1.hostKey", "only 1024 bits", host={"hostKey": "ssh-rsa @RSA1024@"}),
    accepted("host-key-rsa-2048", host={"hostKey": "ssh-rsa @RSA2048@"}),
    refused("host-key-pasted-private-key", "hosts.web1.hostKey", "holds a private key", hidden=("@KEYBODY@",),
            host={"hostKey": "@PRIVATE@"}),
    refused("host-key-and-file", "hosts.web1.hostKeyFile", "not both", host={"hostKeyFile": "@KEYS@/kh_ours"}),
    refused("host-key-none", "hosts.web1.hostKey", "never trusts a key on first use", host={"hostKey": None}),
    refused("host-key-dss", "hosts.web1.hostKey", "'ssh-dss'", host={"hostKey": "ssh-dss AAAAB3NzaC1kc3M="}),
    refused("host-key-revoked", "hosts.web1.hostKey", "markers", host={"hostKey": "@revoked * ssh-ed25519 @ED@"}),
    refused("host-key-other-host", "hosts.web1.hostKey", "not for 203.0.113.10",
            host={"hostKey": "198.51.100.7 ssh-ed25519 @ED@"}),
    refused("host-key-garbage-type", "hosts.web1.hostKey", "an unknown key type",
            host={"hostKey": f"{ADDRESS} QUJDREVGR0hJSktMTU5PUA AAAA"}),
    refused("key-file-pasted-private-key", "hosts.web1.keyFile", "holds key material", hidden=("@KEYBODY@",),
            host={"keyFile": "@PRIVATE@"}),
]

UNIT_LOGS = [
    refused("unit-log-shadow", "hosts.web1.unitLog", "not a log file under /var/log/", "*.log",
            host={"unitLog": "/etc/shadow"}),
    refused("unit-log-traversal", "hosts.web1.unitLog", "'..'", host={"unitLog": "/var/log/../../etc/shadow"}),
    refused("unit-log-no-suffix", "hosts.web1.unitLog", "not a log file", host={"unitLog": "/var/log/auth"}),
    refused("unit-log-user-home", "hosts.web1.unitLog", "not a log file",
            host={"unitLog": "/home/username/unit.log"}),
    refused("unit-log-relative", "hosts.web1.unitLog", "absolute path", host={"unitLog": "unit.log"}),
    accepted("unit-log-default", lambda s: s.hosts["web1"].unit_log == "/var/log/unit/unit.log"),
    accepted("unit-log-elsewhere-in-var-log", host={"unitLog": "/var/log/unit.log"}),
]

TOKEN = "ghp_Zx81TokenValue7"
REQUIREMENTS = [
    refused("req-extra-index-url-credentials", "apps[0].requirements", "line 2 has credentials", "~/.netrc",
            hidden=(TOKEN,), tree=requirements(f"--extra-index-url https://user:{TOKEN}@pypi.example.org/simple")),
    refused("req-index-url-short-option", "apps[0].requirements", "credentials", hidden=(TOKEN,),
            tree=requirements(f"-i https://user:{TOKEN}@pypi.example.org/simple")),
    refused("req-index-url-equals", "apps[0].requirements", "credentials", hidden=(TOKEN,),
            tree=requirements(f"--index-url=https://__token__:{TOKEN}@pypi.example.org/simple")),
    refused("req-git-https-user-token", "apps[0].requirements", "credentials", hidden=(TOKEN,),
            tree=requirements(f"shop-lib @ git+https://user:{TOKEN}@git.example.org/org/lib.git")),
    refused("req-git-https-token-as-user", "apps[0].requirements", "credentials", hidden=(TOKEN,),
            tree=requirements(f"git+https://{TOKEN}@git.example.org/org/lib.git#egg=lib")),
    refused("req-token-in-comment", "apps[0].requirements", "credentials", hidden=(TOKEN,),
            tree=requirements(f"# --extra-index-url https://u:{TOKEN}@pypi.example.org/simple")),
    refused("req-find-links-credentials", "apps[0].requirements", "credentials", hidden=(TOKEN,),
            tree=requirements(f"-f https://u:{TOKEN}@files.example.org/wheels/")),
    refused("req-include", "apps[0].requirements", "includes another file", tree=requirements("-r other.txt")),
    refused("req-include-long", "apps[0].requirements", "includes another file",
            tree=requirements("--requirement=other.txt")),
    refused("req-constraints", "apps[0].requirements", "includes another file",
            tree=requirements("-c constraints.txt")),
    accepted("req-git-ssh-account", tree=requirements("lib @ git+ssh://git@git.example.org/org/lib.git")),
    accepted("req-index-without-credentials",
             tree=requirements("--extra-index-url https://pypi.example.org/simple")),
    accepted("req-wheel-url", tree=requirements("https://files.example.org/pkg-1.0-py3-none-any.whl")),
    accepted("req-plain"),
]

ENVIRONMENT = [
    accepted("env-flask-debug-1", lambda s: app0(s).environment["FLASK_DEBUG"] == "1",
             app={"environment": {"FLASK_DEBUG": "1"}}),
    accepted("env-server-name", app={"environment": {"SERVER_NAME": "shop.example.org"}}),
    accepted("env-yaml-number", lambda s: app0(s).environment["WORKERS"] == "1",
             app={"environment": {"WORKERS": 1}}),
    accepted("env-tab", app={"environment": {"SEP": "a\tb"}}),
    accepted("env-unicode", app={"environment": {"GREETING": "h\u00e9llo w\u00f6rld"}}),
    accepted("env-empty-value", app={"environment": {"EMPTY": ""}}),
    accepted("env-dollar-without-brace", app={"environment": {"PRICE": "$5"}}),
    refused("env-dollar-brace", env_path("PATH_X"), "python-dotenv", app={"environment": {"PATH_X": "${HOME}/x"}}),
    refused("env-carriage-return", env_path("X"), "line break", app={"environment": {"X": "a\rb"}}),
    refused("env-escape", env_path("X"), "control", app={"environment": {"X": "\x1b[31m"}}),
    refused("env-pythonpath", env_path("PYTHONPATH"), "set by da-flask", app={"environment": {"PYTHONPATH": "/x"}}),
    refused("env-revision", env_path("DAFLASK_ENV_REVISION"), "set by da-flask",
            app={"environment": {"DAFLASK_ENV_REVISION": "x"}}),
    refused("env-key-digit", env_path("1ABC"), "environment name", app={"environment": {"1ABC": "x"}}),
    refused("env-key-empty", env_path(""), "environment name", app={"environment": {"": "x"}}),
    refused("env-key-unicode", env_path("F\u00d6O"), "environment name", app={"environment": {"F\u00d6O": "x"}}),
    refused("env-key-equals", env_path("A=B"), "environment name", app={"environment": {"A=B": "x"}}),
    refused("env-value-bool", "apps[0].environment.DEBUG", "must be text", app={"environment": {"DEBUG": True}}),
    refused("env-value-null", "apps[0].environment.DEBUG", "must be text", app={"environment": {"DEBUG": None}}),
    refused("env-value-list", "apps[0].environment.DEBUG", "must be text", app={"environment": {"DEBUG": [1]}}),
    refused("env-secret-also-plain", "apps[0].secretEnvironmentKeys", "also in environment", hidden=("oops-value",),
            app={"environment": {"SECRET_KEY": "oops-value"}}),
]

SECRETS = [
    accepted("secret-one-char", secrets={"flask_app": {"SECRET_KEY": "1"}}),
    accepted("secret-multi-line", secrets={"flask_app": {"SECRET_KEY": "line1\nline2\n"}}),
    accepted("secret-empty", secrets={"flask_app": {"SECRET_KEY": ""}}),
    accepted("secret-unicode", secrets={"flask_app": {"SECRET_KEY": "p\u00e4ss\u00f6rd"}}),
    accepted("secret-none-declared", app={"secretEnvironmentKeys": []}, secrets=None),
    refused("secret-missing", "appSecrets.flask_app.SECRET_KEY", "has no value", "pulumi config set --secret",
            secrets={"flask_app": {}}),
    refused("secret-all-missing", "appSecrets.flask_app.SECRET_KEY", "has no value", secrets=None),
    refused("secret-undeclared", "appSecrets.flask_app.OTHER", "not listed in apps[0].secretEnvironmentKeys",
            hidden=("undeclared-value",),
            secrets={"flask_app": {"SECRET_KEY": SECRET, "OTHER": "undeclared-value"}}),
    refused("secret-number", "appSecrets.flask_app.SECRET_KEY", "a number, not text",
            secrets={"flask_app": {"SECRET_KEY": 5}}),
    refused("secret-bool", "appSecrets.flask_app.SECRET_KEY", "true/false",
            secrets={"flask_app": {"SECRET_KEY": True}}),
    refused("secret-list", "appSecrets.flask_app.SECRET_KEY", "a list", secrets={"flask_app": {"SECRET_KEY": ["x"]}}),
    refused("secret-map", "appSecrets.flask_app.SECRET_KEY", "a map",
            secrets={"flask_app": {"SECRET_KEY": {"a": "b"}}}),
    refused("secret-null", "appSecrets.flask_app.SECRET_KEY", "null", secrets={"flask_app": {"SECRET_KEY": None}}),
    accepted("secret-of-a-removed-app-is-left-alone",
             secrets={"flask_app": {"SECRET_KEY": SECRET}, "removed": {"X": 5}}),
    refused("secret-under-a-misspelt-app", "appSecrets.flask_app.SECRET_KEY", "has no value",
            secrets={"flask_ap": {"SECRET_KEY": SECRET}}),
    refused("secrets-not-a-map", "appSecrets", "must be a map", secrets="SECRET_KEY=x"),
    refused("secrets-app-not-a-map", "appSecrets.flask_app", "must be a map", secrets={"flask_app": "x"}),
    refused("secret-dollar-brace", "appSecrets.flask_app.SECRET_KEY", "python-dotenv", hidden=("s3cret-part",),
            secrets={"flask_app": {"SECRET_KEY": "s3cret-part${HOME}"}}),
    refused("secret-escape", "appSecrets.flask_app.SECRET_KEY", "control", hidden=("s3cret-part",),
            secrets={"flask_app": {"SECRET_KEY": "s3cret-part\x1b"}}),
]

SOURCE_TREES = [
    refused("source-symlink-file", "apps[0].source", "is a symlink", tree=tree_symlink("app/link.py", "/etc/passwd")),
    refused("source-symlink-dir", "apps[0].source", "is a symlink", tree=tree_symlink("app/etc", "/etc")),
    refused("source-newline-file-name", "apps[0].source", "control characters",
            tree=tree_writes("app/bad\nname.py", "x = 1\n")),
    refused("source-top-level-instance-file", "apps[0].source", "instance", "rename it",
            tree=tree_writes("instance", "x")),
    refused("source-top-level-logs-file", "apps[0].source", "logs", "rename it", tree=tree_writes("logs", "x")),
    accepted("source-top-level-instance-dir-not-shipped", tree=tree_writes("instance/config.py", "SECRET = 1\n")),
    accepted("source-dotenv-not-shipped", tree=tree_writes(".env", "SECRET_KEY=local\n")),
    refused("source-missing", "apps[0].source", "not a directory", app={"source": "@SRC@/nowhere"}),
    refused("source-empty", "apps[0].source", "is empty", app={"source": ""}),
    refused("source-traversal-to-etc", "apps[0].module", "has no file", app={"source": "@SRC@/" + "../" * 12 + "etc"}),
    refused("source-no-entry-point", "apps[0].module", "has no file", app={"module": "missing_module"}),
    refused("source-no-requirements", "apps[0].requirements", "is not a file", app={"requirements": "req.txt"}),
    refused("module-traversal", "apps[0].module", "not a Python module name", app={"module": "../wsgi"}),
    refused("module-path", "apps[0].module", "not a Python module name", app={"module": "app/wsgi"}),
    refused("module-file", "apps[0].module", "names a file", app={"module": "wsgi.py"}),
    refused("module-unicode", "apps[0].module", "not a Python module name", app={"module": "ws\u0261i"}),
    refused("callable-expression", "apps[0].callable", "not a Python identifier",
            app={"callable": "__import__('os')"}),
    refused("requirements-traversal", "apps[0].requirements", "stay inside", app={"requirements": "../secret.txt"}),
    refused("requirements-absolute", "apps[0].requirements", "relative", app={"requirements": "/etc/passwd"}),
]

NUMBERS = [
    refused("port-true", "hosts.web1.port", "whole number", host={"port": True}),
    refused("port-text", "hosts.web1.port", "whole number", host={"port": "22"}),
    refused("port-float", "hosts.web1.port", "whole number", host={"port": 22.5}),
    refused("port-zero", "hosts.web1.port", "out of range", host={"port": 0}),
    refused("threads-true", "apps[0].threads", "whole number", app={"threads": True}),
    refused("keep-releases-false", "apps[0].keepReleases", "whole number", app={"keepReleases": False}),
    refused("health-status-text", "apps[0].healthStatus", "whole number", app={"healthStatus": "200"}),
    refused("processes-true", "apps[0].processes", "not a number of processes", app={"processes": True}),
    refused("processes-text", "apps[0].processes", "not a number of processes", app={"processes": "4"}),
    refused("processes-max-true", "apps[0].processes.max", "whole number", app={"processes": {"max": True}}),
    accepted("port-2222", lambda s: s.hosts["web1"].port == 2222, host={"port": 2222, "hostKey": "ssh-ed25519 @ED@"}),
    accepted("processes-int", lambda s: app0(s).processes.to_unit() == 4, app={"processes": 4}),
]

STATIC = [
    refused("static-url-assets-default-dir", "apps[0].staticUrl", "default staticDir 'app/static'", "app/assets",
            app={"staticUrl": "/assets/"}),
    accepted("static-url-assets-with-dir", app={"staticUrl": "/assets/", "staticDir": "app/assets"},
             tree=tree_writes("app/assets/site.css", "body {}\n")),
    refused("static-dir-not-matching", "apps[0].staticDir", "does not end with 'static'",
            app={"staticDir": "app/public"}),
    accepted("static-off", lambda s: app0(s).static_url is None, app={"staticUrl": None}),
    refused("static-dir-traversal", "apps[0].staticDir", "stay inside", app={"staticDir": "../static"}),
    refused("static-dir-absolute", "apps[0].staticDir", "relative", app={"staticDir": "/var/www/static"}),
    refused("static-dir-backslash", "apps[0].staticDir", "backslashes", app={"staticDir": "app\\static"}),
    refused("static-dir-missing", "apps[0].staticDir", "not a directory",
            app={"staticUrl": "/media/", "staticDir": "app/media"}),
]

DOMAINS = [
    accepted("domain-uppercase", lambda s: app0(s).domain == "example.com", app={"domain": "EXAMPLE.COM"}),
    accepted("domain-trailing-dot", lambda s: app0(s).domain == "example.com", app={"domain": "example.com."}),
    accepted("domain-punycode", app={"domain": "xn--bcher-kva.de"},
             check=lambda s: app0(s).aliases == ("www.xn--bcher-kva.de",)),
    accepted("domain-surrounding-spaces", lambda s: app0(s).domain == "example.com", app={"domain": " example.com "}),
    refused("domain-two-trailing-dots", "apps[0].domain", "not a valid host name", app={"domain": "example.com.."}),
    refused("domain-cyrillic-a", "apps[0].domain", "non-ASCII", app={"domain": "ex\u0430mple.com"}),
    refused("domain-kelvin-sign", "apps[0].domain", "non-ASCII", app={"domain": "\u212aey.com"}),
    refused("domain-fullwidth", "apps[0].domain", "non-ASCII", app={"domain": "\uff45xample.com"}),
    refused("domain-umlaut", "apps[0].domain", "punycode", app={"domain": "b\u00fccher.de"}),
    refused("domain-localhost", "apps[0].domain", "no dot", app={"domain": "localhost"}),
    refused("domain-ipv4", "apps[0].domain", "IP address", app={"domain": "1.2.3.4"}),
    refused("domain-ipv6", "apps[0].domain", "not a valid host name", app={"domain": "::1"}),
    refused("domain-ipv6-brackets", "apps[0].domain", "not a valid host name", app={"domain": "[::1]"}),
    refused("domain-long-label", "apps[0].domain", "1-63", app={"domain": "a" * 64 + ".com"}),
    refused("domain-too-long", "apps[0].domain", "longer than 253", app={"domain": ("a" * 60 + ".") * 5 + "com"}),
    refused("domain-empty", "apps[0].domain", "empty", app={"domain": ""}),
    refused("domain-wildcard", "apps[0].domain", "not a valid host name", app={"domain": "*.example.com"}),
    refused("domain-underscore", "apps[0].domain", "not a valid host name", app={"domain": "exa_mple.com"}),
    refused("domain-tab", "apps[0].domain", "line break", app={"domain": "example.com\t"}),
    refused("domain-slash", "apps[0].domain", "not a valid host name", app={"domain": "example.com/../x"}),
    refused("domain-duplicate-on-host", "apps[1].domain", "already served", app={},
            more_apps=({"name": "second", "domain": "example.com"},)),
    refused("alias-is-other-apps-domain", "apps[1].aliases", "already served",
            more_apps=({"name": "second", "domain": "other.org", "aliases": ["example.com"]},)),
    refused("domain-duplicate-case-and-dot", "apps[1].domain", "already served",
            more_apps=({"name": "second", "domain": "EXAMPLE.com."},)),
    accepted("domain-same-on-two-hosts", more_hosts={"web2": {"address": "198.51.100.7"}},
             more_apps=({"name": "second", "domain": "example.com", "host": "web2"},)),
    refused("app-name-duplicate", "apps[1].name", "already used", more_apps=({"domain": "other.org"},)),
    refused("app-dir-duplicate", "apps[1].appDir", "already used",
            app={"appDir": f"{SITE}/public_html/shop"},
            more_apps=({"name": "second", "domain": "other.org", "appDir": f"{SITE}/public_html/shop"},)),
]

ADDRESSES = [
    accepted("address-ipv6", lambda s: s.hosts["web1"].address == "::1",
             host={"address": "::1", "hostKey": "ssh-ed25519 @ED@"}),
    accepted("address-ipv6-long-form", lambda s: s.hosts["web1"].address == "2001:db8::10",
             host={"address": "2001:0db8:0000::0010", "hostKey": "ssh-ed25519 @ED@"}),
    refused("address-ipv6-brackets", "hosts.web1.address", "without brackets", host={"address": "[::1]"}),
    refused("address-ipv6-zone", "hosts.web1.address", "zone", host={"address": "fe80::1%eth0"}),
    accepted("address-host-name", lambda s: s.hosts["web1"].address == "host.example.com",
             host={"address": "Host.Example.com.", "hostKey": "ssh-ed25519 @ED@"}),
    refused("address-empty", "hosts.web1.address", "empty", host={"address": ""}),
    refused("address-fullwidth", "hosts.web1.address", "non-ASCII", host={"address": "\uff48ost.example.com"}),
    refused("address-with-user", "hosts.web1.address", "neither an IP address", host={"address": "root@host.example"}),
    accepted("public-address-ipv6", lambda s: s.hosts["web1"].dns_address == "2001:db8::1",
             host={"publicAddress": "2001:db8::1"}),
    refused("public-address-zone", "hosts.web1.publicAddress", "not an IP address",
            host={"publicAddress": "fe80::1%eth0"}),
    accepted("listener-ipv6-any", lambda s: app0(s).listener == "[::]:80", app={"listener": "[::]:80"}),
    refused("listener-ipv6-zone", "apps[0].listener", "zone", app={"listener": "[fe80::1%eth0]:80"}),
    refused("listener-fullwidth-digits", "apps[0].listener", "non-ASCII", app={"listener": "*:\uff18\uff10"}),
    refused("listener-name", "apps[0].listener", "not a Unit listener", app={"listener": "localhost:80"}),
]

NAMES = [
    refused("app-name-too-long", "apps[0].name", "1-32", app={"name": "a" * 33}),
    refused("app-name-empty", "apps[0].name", "not valid", app={"name": ""}),
    refused("app-name-cyrillic", "apps[0].name", "not valid", app={"name": "\u0455hop"}),
    refused("app-name-traversal", "apps[0].name", "'..'", app={"name": "../shop"}),
    refused("app-name-space", "apps[0].name", "shell characters", app={"name": "my shop"}),
    refused("app-name-hyphen", "apps[0].name", "not valid", app={"name": "my-shop"}),
    refused("app-name-number", "apps[0].name", "must be text", app={"name": 7}),
    refused("host-name-empty", "apps[0].host", "is not a host name", app={"host": ""}),
    refused("host-undefined", "apps[0].host", "not defined under hosts", app={"host": "web9"}),
    refused("ssh-user-empty", "hosts.web1.sshUser", "not a safe user name", host={"sshUser": ""}),
    refused("ssh-user-option", "hosts.web1.sshUser", "not a safe user name", host={"sshUser": "-oProxyCommand=x"}),
    refused("python-version-arabic-digits", "apps[0].pythonVersion", "not valid",
            app={"pythonVersion": "3.\u0661\u0661"}),
    refused("python-version-space", "apps[0].pythonVersion", "not valid", app={"pythonVersion": "3.11 "}),
    refused("python-version-number", "apps[0].pythonVersion", "must be text", app={"pythonVersion": 3.11}),
    refused("unknown-field", "apps[0].appdir", "did you mean 'appDir'", app={"appdir": "/x"}),
    refused("header-content-length", "apps[0].securityHeaders.Content-Length", "frames the response",
            app={"securityHeaders": {"Content-Length": "0"}}),
    refused("health-path-space", "apps[0].healthPath", "not a URL path", app={"healthPath": "/a b"}),
]

CASES = (NEWLINES + NUL_BYTES + APP_DIRS + SYSTEM_USERS + DOLLARS + RESERVED_NAMES + HOST_KEYS + UNIT_LOGS
         + REQUIREMENTS + ENVIRONMENT + SECRETS + SOURCE_TREES + NUMBERS + STATIC + DOMAINS + ADDRESSES + NAMES)


def test_the_table_is_large_and_ids_are_unique() -> None:
    assert len(CASES) >= 150
    assert len({c.id for c in CASES}) == len(CASES)


# --- running a case ----------------------------------------------------------------------------


def build_config(case: Case, material: Material, source: Path) -> tuple[Any, Any, Any]:
    subs = {**material.subs, "@SRC@": str(source),
            "@PRIVATE@": (Path(material.subs["@KEYS@"]) / "id_ed25519").read_text()}
    host = {**host_raw(hostKey=f"{ADDRESS} ssh-ed25519 @ED@"), **case.host}
    hosts = {host.pop("name"): {**host, "name": case.host.get("name", "web1")}}
    hosts.update({name: host_raw(name=name, **changes) for name, changes in case.more_hosts.items()})
    hosts = {k: {f: v for f, v in h.items() if v is not None} for k, h in hosts.items()}
    apps = [{**app_raw(source="@SRC@"), **case.app}]
    apps += [{**app_raw(source="@SRC@"), "secretEnvironmentKeys": [], **extra} for extra in case.more_apps]
    secrets = case.secrets
    if secrets is DEFAULT_SECRETS:
        secrets = {"flask_app": {"SECRET_KEY": SECRET}}
    return substitute(hosts, subs), substitute(apps, subs), substitute(secrets, subs)


def outcome(case: Case, material: Material, tmp_path: Path) -> tuple[StackSpec | None, dict[str, str], str]:
    source = material.source
    if case.tree is not None:
        source = tmp_path / "src"
        shutil.copytree(material.source, source, symlinks=True)
        case.tree(source)
    hosts, apps, secrets = build_config(case, material, source)
    try:
        return validate_stack(hosts, apps, secrets), {}, ""
    except StackConfigError as exc:
        return None, dict(exc.problems), str(exc)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, material: Material, tmp_path: Path) -> None:
    spec, problems, text = outcome(case, material, tmp_path)
    if case.refused is None:
        assert spec is not None, problems
        assert case.check is None or case.check(spec)
        return
    assert case.refused in problems, f"expected {case.refused!r}, got {problems}"
    message = problems[case.refused]
    for word in case.words:
        assert word in message, message
    hidden = [h for item in case.hidden for h in (material.key_body if item == "@KEYBODY@" else (item,))]
    for secret in hidden:
        assert secret not in text, f"{secret[:6]}... shown in: {text}"


# --- the argv guard: precise, and only for secret values ------------------------------------------


def test_guard_ignores_short_secrets_found_in_ordinary_arguments() -> None:
    argv = hostops.write_env(hostops.Site("username", "/home/username/domains/shop1.example.org/public_html/shop"))
    assert _checked_argv(argv, {"PIN": "1", "FLAG": "true", "NAME": "shop"}) == argv


def test_guard_ignores_secrets_that_are_words_of_the_constant_script() -> None:
    argv = hostops.write_env(hostops.Site("username", f"{SITE}/public_html/shop"))
    words = [w for w in argv[2].split() if len(w) >= MIN_GUARDED_SECRET]
    assert words  # the script has words as long as a guarded secret
    assert _checked_argv(argv, {f"K{i}": w for i, w in enumerate(words)}) == argv


def test_guard_refuses_a_secret_in_a_data_argument_naming_it_not_showing_it() -> None:
    argv = hostops.write_env(hostops.Site("username", f"{SITE}/public_html/{SECRET}"))
    with pytest.raises(ValueError, match="secret SECRET_KEY: send secrets on stdin") as info:
        _checked_argv(argv, {"SECRET_KEY": SECRET})
    assert SECRET not in str(info.value)


def test_guard_refuses_a_secret_inside_a_plain_argv() -> None:
    with pytest.raises(ValueError, match=r"argv\[1\]"):
        _checked_argv(["echo", f"token={SECRET}"], [SECRET])
