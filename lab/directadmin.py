"""What a lab needs to be a DirectAdmin server, prepared on this machine before `up` starts it.

- DirectAdmin's data tree (always): data/users/USER/{user.conf,domains.list},
  domains/DOMAIN.conf, the admin account, conf/directadmin.conf (`unit_port`), CustomBuild's
  options.conf (`webserver=`), the `directadmin` binary stand-in (config-get, taskq).
- With a front web server (`front` nginx|apache): the lab's own CA, the domain's certificate
  in DirectAdmin's data dir, DirectAdmin's own certificate for port 2222, login keys for the
  API stand-in, and the plan entries that make the supervisor start the front server and the
  API (lab/dactl.py and lab/da_api.py do the work inside the lab).

Every behaviour is listed, documented or inferred, in docs/directadmin.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import os
import secrets
import shlex
from pathlib import Path
from typing import Any

from lab import dactl
from lab.errors import LabError
from lab.layout import _mkdir, _write

FRONTS = ("none", "nginx", "apache")
UNIT_PORT = 8899  # DirectAdmin's `unit_port` in the lab (inferred: no documented default)
API_PORT = 2222
ADMIN = "admin"
KEYS_FILE = "conf/lab_login_keys.json"  # sha256 of each account's login key (lab-only format)


FRONT_BINARIES = {"nginx": ("/usr/sbin/nginx", "nginx"), "apache": ("/usr/sbin/apache2", "apache2")}


def check_front_installed(front: str) -> None:
    """Refuse, before anything is made, a front server whose Debian package is missing."""
    binary, package = FRONT_BINARIES.get(front, ("", ""))
    if binary and not os.access(binary, os.X_OK):
        raise LabError(f"front={front}: {binary} is missing; install Debian's {package} "
                       f"(apt-get install {package}, or scripts/setup.sh)")


def da_dir(state: Path) -> Path:
    return state / "fs" / "directadmin"


def write_data_tree(state: Path, user: str, domain: str, address: str, front: str) -> None:
    """DirectAdmin's account files for the admin and the lab's user with its one domain."""
    da = da_dir(state)
    users = da / "data" / "users"
    for name, kind, domains in ((ADMIN, "admin", []), (user, "user", [domain])):
        _mkdir(users / name / "domains", 0o711)
        _write(users / name / "user.conf",
               f"username={name}\nusertype={kind}\ncreator={ADMIN}\nip={address}\n"
               f"domain={domains[0] if domains else ''}\nemail={name}@{domain}\nnginx_unit=ON\n", 0o600)
        _write(users / name / "domains.list", "".join(f"{d}\n" for d in domains), 0o600)
    _write(users / user / "domains" / f"{domain}.conf",
           f"domain={domain}\nusername={user}\nip={address}\ndefaultdomain=yes\n"
           "ssl=ON\nphp=OFF\ncgi=OFF\n", 0o600)
    _mkdir(da / "data" / "templates" / "custom", 0o755)
    _write(da / "data" / "task.queue.log", "", 0o600)
    _write(da / "conf" / "directadmin.conf",
           f"port={API_PORT}\nssl=1\nunit_port={UNIT_PORT}\n"
           f"cacert={dactl.DA_ROOT}/conf/cacert.pem\ncakey={dactl.DA_ROOT}/conf/cakey.pem\n", 0o600)
    options = da / "custombuild" / "options.conf"
    if front != "none" and options.exists():  # written by layout.write_custombuild first
        _write(options, options.read_text() + f"webserver={front}\n")


def write_da_binary(state: Path, python: str, repo: Path) -> None:
    """/usr/local/directadmin/directadmin: `config-get KEY` and `taskq --run TASK` (lab/dactl.py)."""
    cmd = " ".join(shlex.quote(a) for a in (python, "-E", "-s", "-m", "lab.dactl", str(state), "da"))
    _write(da_dir(state) / "directadmin",
           f"#!/bin/sh\n# Lab stand-in for the directadmin binary (config-get, taskq --run)\n"
           f"cd {shlex.quote(str(repo))} && exec {cmd} \"$@\"\n", 0o755)


# --- TLS: the lab's own CA --------------------------------------------------------------

def _name(common: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem(cert: Any) -> str:
    from cryptography.hazmat.primitives import serialization
    return str(cert.public_bytes(serialization.Encoding.PEM).decode())


def _key_pem(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization
    return str(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode())


def _sign(subject: str, key: Any, issuer: Any, issuer_key: Any, sans: list[Any] | None) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=90)))
    if sans is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    else:
        builder = (builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                                  critical=False))
    return builder.sign(issuer_key, hashes.SHA256())


def write_certificates(state: Path, user: str, domain: str, address: str) -> Path:
    """The lab CA (STATE/ca/ca.pem), the domain's certificate where DirectAdmin keeps it, and
    DirectAdmin's own (conf/cacert.pem, conf/cakey.pem) for port 2222. Returns the CA's path."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _sign(f"dalab {state.name} CA", ca_key, _name(f"dalab {state.name} CA"), ca_key, None)
    _write(state / "ca" / "ca.pem", _pem(ca_cert))
    _write(state / "ca" / "ca.key", _key_pem(ca_key), 0o600)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _sign(domain, leaf_key, ca_cert.subject, ca_key,
                 [x509.DNSName(domain), x509.DNSName(f"www.{domain}")])
    base = da_dir(state) / "data" / "users" / user / "domains" / domain
    _write(Path(f"{base}.cert"), _pem(leaf), 0o600)
    _write(Path(f"{base}.key"), _key_pem(leaf_key), 0o600)
    _write(Path(f"{base}.cacert"), _pem(ca_cert), 0o600)
    _write(Path(f"{base}.cert.combined"), _pem(leaf) + _pem(ca_cert), 0o600)
    api_key = ec.generate_private_key(ec.SECP256R1())
    api = _sign(address, api_key, ca_cert.subject, ca_key,
                [x509.IPAddress(ipaddress.ip_address(address)), x509.DNSName(f"server.{domain}")])
    _write(da_dir(state) / "conf" / "cacert.pem", _pem(api) + _pem(ca_cert), 0o600)
    _write(da_dir(state) / "conf" / "cakey.pem", _key_pem(api_key), 0o600)
    return state / "ca" / "ca.pem"


def write_login_keys(state: Path, user: str) -> Path:
    """One login key per account: hashed in the lab's DirectAdmin, plain for the tests here."""
    keys = {name: secrets.token_hex(32) for name in (ADMIN, user)}
    hashes = {name: hashlib.sha256(key.encode()).hexdigest() for name, key in keys.items()}
    _write(da_dir(state) / KEYS_FILE, json.dumps(hashes, indent=2) + "\n", 0o600)
    plain = state / "client" / "da_login_keys.json"
    _write(plain, json.dumps(keys, indent=2) + "\n", 0o600)
    return plain


# --- the processes: front web server and API stand-in --------------------------------------

def _dactl(python: str, state: Path, *args: str) -> list[str]:
    return [python, "-E", "-s", "-m", "lab.dactl", str(state), *args]


def write_front(state: Path, front: str, address: str) -> dict[str, Any]:
    """The front server's main config in STATE/front; plan["directadmin"] for dactl."""
    from lab import vhosts
    front_dir = state / "front"
    for sub in ("logs", "run", "tmp"):
        _mkdir(front_dir / sub, 0o755)
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        _mkdir(front_dir / "tmp" / kind, 0o700, 33, 33)  # nginx workers (www-data) buffer here
    users = f"{dactl.DA_ROOT}/data/users/*"
    if front == "nginx":
        conf = front_dir / "nginx.conf"
        _write(conf, vhosts.nginx_main_conf(str(front_dir), address, f"{users}/nginx.conf"))
        # -e: nginx opens its built-in error log (/var/log/nginx, this machine's) before reading -c.
        errors = str(front_dir / "error.log")
        argv = ["/usr/sbin/nginx", "-e", errors, "-c", str(conf), "-g", "daemon off;"]
        check = ["/usr/sbin/nginx", "-e", errors, "-t", "-q", "-c", str(conf)]
        pidfile = front_dir / "nginx.pid"
    else:
        conf = front_dir / "apache2.conf"
        _write(conf, vhosts.apache_main_conf(str(front_dir), address, f"{users}/httpd.conf"))
        argv = ["/usr/sbin/apache2", "-f", str(conf), "-DFOREGROUND"]
        check = ["/usr/sbin/apache2", "-t", "-f", str(conf)]
        pidfile = front_dir / "apache2.pid"
    return {"front": front, "front_dir": str(front_dir), "logs": str(front_dir / "logs"), "argv": argv,
            "check_argv": check, "pidfile": str(pidfile), "unit_checks": True}


def plan_entries(state: Path, front: str, address: str, python: str,
                 repo: Path) -> tuple[dict[str, Any], list[Any]]:
    """(plan["directadmin"], plan["services"]) for a lab with a front server; empty for none."""
    if front == "none":
        return {"front": "none", "unit_checks": False}, []
    da = write_front(state, front, address)
    services = [
        {"name": front, "argv": da["argv"], "cwd": "/", "log": str(state / "front" / "stdout.log"),
         "pre": {"argv": _dactl(python, state, "rewrite-vhosts"), "cwd": str(repo)},
         "wait": [address, 80]},
        {"name": "directadmin-api", "argv": [python, "-E", "-s", "-m", "lab.da_api", str(state)],
         "cwd": str(repo), "log": str(state / "directadmin-api.log"), "wait": [address, API_PORT]},
    ]
    return da, services
