"""A lab that is a DirectAdmin server (--front nginx|apache), against real processes:
Debian's nginx and apache2 in front, DirectAdmin's data tree and Unit storage, the re-fill,
`rewrite_confs` with the custom configuration, and the CMD_UNIT API stand-in on 2222."""

from __future__ import annotations

import json
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lab import dactl, network, processes, vhosts
from lab.da_api import as_strings
from lab.errors import LabError
from lab.host import LabHost, down, up

FRONTS = ("nginx", "apache")
DA = "/usr/local/directadmin"
WSGI = """\
def application(environ, start_response):
    body = " ".join([environ["HTTP_HOST"], environ["PATH_INFO"],
                     environ.get("HTTP_X_FORWARDED_PROTO", "-"), "MARK"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
"""


# --- helpers ------------------------------------------------------------------------------

def http_get(lab: LabHost, path: str, host: str | None = None) -> httpx.Response:
    return httpx.get(f"http://{lab.address}{path}", headers={"Host": host or lab.domain}, timeout=15)


def https_get(lab: LabHost, path: str, host: str | None = None) -> httpx.Response:
    """HTTPS to the lab's :443 with SNI, the chain verified against the lab CA only."""
    name = host or lab.domain
    context = ssl.create_default_context(cafile=lab.ca_cert_path)
    with httpx.Client(verify=context, timeout=15) as client:
        return client.get(f"https://{lab.address}{path}", headers={"Host": name},
                          extensions={"sni_hostname": name})


def api(lab: LabHost, method: str, data: dict[str, str] | None = None, *, login: str | None = None,
        key: str | None = None, path: str = "/CMD_UNIT") -> httpx.Response:
    """A CMD_UNIT call as the lab user (or `login`), the API's certificate checked against the lab CA."""
    login = login or lab.da_user
    key = key if key is not None else lab.da_login_key(login.split("|")[0])
    context = ssl.create_default_context(cafile=lab.ca_cert_path)
    context.check_hostname = False  # the API is reached by IP; its certificate names the IP too
    with httpx.Client(verify=context, timeout=30, auth=(login, key)) as client:
        if method == "GET":
            return client.get(lab.da_api_url + path, params=data)
        return client.post(lab.da_api_url + path, data=data)


def unit(lab: LabHost, method: str, path: str, body: Any = None) -> Any:
    transport = httpx.HTTPTransport(uds=str(lab.host_path(lab.unit_socket)))
    with httpx.Client(transport=transport, base_url="http://localhost", timeout=30) as client:
        response = client.request(method, path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def write_as_user(lab: LabHost, path: str, text: str) -> None:
    lab.run(["sh", "-c", 'mkdir -p "$(dirname "$1")" && cat > "$1"', "sh", path], input=text,
            user=lab.da_user)


def write_as_root(lab: LabHost, path: str, text: str) -> None:
    lab.run(["sh", "-c", 'mkdir -p "$(dirname "$1")" && cat > "$1"', "sh", path], input=text)


def wsgi_app(lab: LabHost, marker: str) -> dict[str, Any]:
    """A tiny WSGI app of the user's (outside public_html), and its Unit application object."""
    folder = f"/home/{lab.da_user}/apps/{marker}"
    write_as_user(lab, f"{folder}/wsgi.py", WSGI.replace("MARK", marker))
    return {"type": "python 3", "path": folder, "module": "wsgi", "user": lab.da_user, "group": lab.da_user,
            "processes": {"max": 2, "spare": 0}}


def storage(lab: LabHost) -> Path:
    return lab.host_path(f"{DA}/data/users/{lab.da_user}/domains")


# --- pure: no root needed -------------------------------------------------------------------

def _tree(tmp_path: Path) -> dactl.DirectAdmin:
    da = dactl.DirectAdmin(tmp_path)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "directadmin.conf").write_text("unit_port=8899\n")
    users = tmp_path / "data" / "users" / "fred"
    (users / "domains").mkdir(parents=True)
    (users / "user.conf").write_text("usertype=user\n")
    (users / "domains.list").write_text("fred.example\n")
    return da


def test_unit_config_from_storage_names_apps_and_dispatches_longest_location_first(tmp_path: Path) -> None:
    da = _tree(tmp_path)
    da.save_app("fred", "fred.example", "shop", {"type": "python 3.11", "path": "/x"})
    da.save_route("fred", "fred.example", "fred.example", "/", [{"action": {"share": "/s$uri"}}])
    da.save_route("fred", "fred.example", "fred.example", "/shop",
                  [{"action": {"pass": "applications/fred.example_shop"}}])
    da.save_route("fred", "fred.example", "api.fred.example", "/", [{"action": {"return": 204}}])
    config = dactl.unit_config(da)
    assert config["applications"] == {"fred.example_shop": {"type": "python 3.11", "path": "/x"}}
    assert config["listeners"] == {"127.0.0.1:8899": {"pass": "routes/da_dispatch"}}
    assert config["routes"]["fred.example_shop"] == [{"action": {"pass": "applications/fred.example_shop"}}]
    assert [step["match"] for step in config["routes"]["da_dispatch"]] == [
        {"host": ["fred.example", "www.fred.example"], "uri": ["/shop", "/shop/*"]},
        {"host": "api.fred.example"},
        {"host": ["fred.example", "www.fred.example"]},
    ]
    da.save_route("fred", "fred.example", "fred.example", "/shop", None)
    assert "fred.example_shop" not in dactl.unit_config(da)["routes"]


def test_sites_read_the_domain_custom_config_and_the_global_token_files(tmp_path: Path) -> None:
    da = _tree(tmp_path)
    (tmp_path / "data" / "users" / "fred" / "domains" / "fred.example.cust_nginx").write_text("# mine\n")
    custom = tmp_path / "data" / "templates" / "custom"
    custom.mkdir(parents=True)
    (custom / "cust_nginx.CUSTOM.4.pre").write_text("# all domains, before\n")
    (custom / "cust_nginx.CUSTOM.4.post").write_text("# all domains, after\n")
    (custom / "cust_httpd.CUSTOM.2.pre").write_text("# Apache only\n")
    da.save_route("fred", "fred.example", "fred.example", "/api", [{"action": {"return": 204}}])
    plan = {"address": "10.0.0.9", "directadmin": {"front": "nginx", "logs": "/logs"}}
    (site,) = dactl.sites(plan, da, "fred")
    assert site.custom == {"CUSTOM": "# mine\n", "CUSTOM4": "# all domains, before\n# all domains, after\n"}
    assert site.unit_locations == ("/api",) and site.unit_port == 8899 and site.ip == "10.0.0.9"
    assert site.cert == "/usr/local/directadmin/data/users/fred/domains/fred.example.cert.combined"


def test_vhosts_carry_unit_proxy_and_custom_tokens() -> None:
    site = vhosts.Site(user="fred", domain="fred.example", ip="10.0.0.2",
                       docroot="/home/fred/domains/fred.example/public_html",
                       cert="/c", key="/k", logs="/l", unit_port=8899, unit_locations=("/", "/api"),
                       custom={"CUSTOM": "add_header X-A 1;", "CUSTOM4": "# last"})
    nginx = vhosts.nginx_server(site, secure=True)
    assert nginx.index("add_header X-A 1;") < nginx.index("listen 10.0.0.2:443 ssl;")
    assert nginx.index("location /api") < nginx.index("location /\n")
    assert nginx.count("proxy_pass http://127.0.0.1:8899;") == 2 and nginx.rstrip().endswith("# last\n}")
    apache = vhosts.apache_vhost(site, secure=False)
    assert "ProxyPass /api http://127.0.0.1:8899/api" in apache
    assert apache.index("ProxyPass /api ") < apache.index("ProxyPass / ")
    plain = vhosts.apache_vhost(vhosts.Site(**{**site.__dict__, "unit_locations": ()}), secure=False)
    assert "ProxyPass" not in plain and "DocumentRoot /home/fred/domains/fred.example/public_html" in plain


def test_numbers_come_back_as_strings() -> None:
    assert as_strings({"type": "python 3.11", "processes": {"max": 2}, "limits": {"timeout": 10.5},
                       "on": True, "args": [1, "a"]}) == \
        {"type": "python 3.11", "processes": {"max": "2"}, "limits": {"timeout": "10.5"}, "on": True,
         "args": ["1", "a"]}


def test_an_unknown_front_is_refused_before_anything_is_made() -> None:
    with pytest.raises(LabError, match="front='iis': use none, nginx or apache"):
        up("never-made", front="iis")  # type: ignore[arg-type]


# --- labs with a front web server -----------------------------------------------------------

@pytest.fixture(scope="module", params=FRONTS)
def da_lab(request: pytest.FixtureRequest, lab_factory: Callable[..., LabHost]) -> Iterator[LabHost]:
    lab = lab_factory(f"da-{request.param}", front=request.param)
    assert lab.front == request.param and lab.da_api_port == 2222 and lab.unit_port > 0
    yield lab


def test_data_tree_and_options_are_directadmin_s(da_lab: LabHost) -> None:
    base = f"{DA}/data/users/{da_lab.da_user}"
    assert da_lab.run(["cat", f"{base}/domains.list"]).stdout.split() == [da_lab.domain]
    assert "usertype=user" in da_lab.run(["cat", f"{base}/user.conf"]).stdout.splitlines()
    domain_conf = da_lab.run(["cat", f"{base}/domains/{da_lab.domain}.conf"]).stdout.split()
    assert f"domain={da_lab.domain}" in domain_conf
    options = da_lab.run(["cat", f"{DA}/custombuild/options.conf"]).stdout.splitlines()
    assert {"unit=yes", f"webserver={da_lab.front}"} <= set(options)
    unit_port = da_lab.run([f"{DA}/directadmin", "config-get", "unit_port"]).stdout.strip()
    assert unit_port == str(da_lab.unit_port)
    for suffix in (".cert", ".key", ".cacert", ".cert.combined"):
        owner_mode = da_lab.run(["stat", "-c", "%U %a", f"{base}/domains/{da_lab.domain}{suffix}"]).stdout
        assert owner_mode.split() == ["root", "600"]


def test_front_serves_public_html_on_80_and_443(da_lab: LabHost) -> None:
    write_as_user(da_lab, f"{da_lab.public_html}/hello.txt", f"static from {da_lab.front}\n")
    assert http_get(da_lab, "/hello.txt").text == f"static from {da_lab.front}\n"
    secure = https_get(da_lab, "/hello.txt", f"www.{da_lab.domain}")
    assert secure.status_code == 200 and secure.text == f"static from {da_lab.front}\n"
    # The chain is the lab CA's, not trusted anywhere else.
    with httpx.Client(timeout=15) as client, \
            pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        client.get(f"https://{da_lab.address}/hello.txt", headers={"Host": da_lab.domain},
                   extensions={"sni_hostname": da_lab.domain})
    # The front server, not Unit, owns the public ports; Unit listens on loopback only.
    listening = da_lab.run(["ss", "-Hltnp"]).stdout
    assert f"{da_lab.address}:80 " in listening and f"{da_lab.address}:443 " in listening
    assert ("nginx" if da_lab.front == "nginx" else "apache2") in listening
    assert "unitd" not in next(line for line in listening.splitlines() if ":80 " in line)


def test_the_api_refuses_a_wrong_or_missing_key(da_lab: LabHost) -> None:
    query = {"domain": da_lab.domain, "json": "yes"}
    assert api(da_lab, "GET", query, key="wrong").status_code == 401
    assert api(da_lab, "GET", query, key="").status_code == 401
    other = da_lab.da_login_key("admin")
    assert api(da_lab, "GET", query, key=other).status_code == 401  # the admin's key is not the user's
    # Only an admin acts as another account.
    assert api(da_lab, "GET", query, login=f"{da_lab.da_user}|admin").status_code == 401
    response = httpx.get(f"{da_lab.da_api_url}/CMD_UNIT", params=query, verify=False, timeout=15)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Basic")
    assert api(da_lab, "GET", query).status_code == 200
    assert api(da_lab, "GET", query, login=f"admin|{da_lab.da_user}").status_code == 200
    refused = api(da_lab, "GET", {"domain": "not-theirs.example", "json": "yes"})
    assert refused.status_code == 400 and "not a domain of user" in refused.json()["result"]


@pytest.mark.real_unitd
def test_cmd_unit_create_list_modify_route_delete(da_lab: LabHost) -> None:
    domain, app = da_lab.domain, wsgi_app(da_lab, "apiapp")
    create = {"domain": domain, "action": "create", "name": "apiapp", "json": json.dumps(app)}
    created = api(da_lab, "POST", create)
    assert created.status_code == 200, created.text
    assert json.loads((storage(da_lab) / f"{domain}.unit" / "apiapp.json").read_text()) == app
    assert unit(da_lab, "GET", f"/config/applications/{domain}_apiapp") == app
    listed = api(da_lab, "GET", {"domain": domain, "json": "yes"}, login=f"admin|{da_lab.da_user}").json()
    assert listed["applications"]["apiapp"]["processes"] == {"max": "2", "spare": "0"}
    again = api(da_lab, "POST", create)
    assert again.status_code == 400 and "use action=modify" in again.json()["result"]
    bad = api(da_lab, "POST", dict(create, name="bad", json='{"type": "cobol"}'))
    assert bad.status_code == 400 and "Unit refused" in bad.json()["result"]
    assert not (storage(da_lab) / f"{domain}.unit" / "bad.json").exists()
    as_root = api(da_lab, "POST", dict(create, name="root", json=json.dumps(dict(app, user="root"))))
    assert as_root.status_code == 400 and '"user" must be' in as_root.json()["result"]
    outside = api(da_lab, "POST", {"domain": domain, "action": "set_route", "location": "/a/../b",
                                   "routes": "[]"})
    assert outside.status_code == 400 and "location '/a/../b'" in outside.json()["result"]

    modified = dict(app, processes={"max": 3, "spare": 1})
    assert api(da_lab, "POST", {"domain": domain, "action": "modify", "name": "apiapp",
                                "json": json.dumps(modified)}).status_code == 200
    assert unit(da_lab, "GET", f"/config/applications/{domain}_apiapp/processes") == {"max": 3, "spare": 1}
    one = api(da_lab, "GET", {"domain": domain, "action": "modify", "name": "apiapp", "json": "yes"}).json()
    assert one["application"]["processes"] == {"max": "3", "spare": "1"}

    steps = [{"action": {"pass": f"applications/{domain}_apiapp"}}]
    routed = api(da_lab, "POST", {"domain": domain, "action": "set_route", "location": "/apiapp",
                                  "routes": json.dumps(steps)})
    assert routed.status_code == 200, routed.text
    assert http_get(da_lab, "/apiapp/x").text == f"{domain} /apiapp/x http apiapp"
    assert https_get(da_lab, "/apiapp").text == f"{domain} /apiapp https apiapp"
    listed = api(da_lab, "GET", {"domain": domain, "json": "yes"}).json()
    assert listed["routes"] == {domain: {"/apiapp": steps}}

    in_use = api(da_lab, "POST", {"domain": domain, "delete": "yes", "select0": "apiapp"})
    assert in_use.status_code == 400 and "route still uses it" in in_use.json()["result"]
    assert api(da_lab, "POST", {"domain": domain, "action": "select_routes", "delete": "yes",
                                "select0": "/apiapp"}).status_code == 200
    assert http_get(da_lab, "/apiapp/x").status_code == 404  # the front no longer proxies it
    assert api(da_lab, "POST", {"domain": domain, "delete": "yes", "select0": "apiapp"},
               path="/CMD_API_UNIT").status_code == 200
    assert api(da_lab, "GET", {"domain": domain, "json": "yes"}).json() == {"applications": {}, "routes": {}}
    assert f"{domain}_apiapp" not in unit(da_lab, "GET", "/config/applications")


@pytest.mark.real_unitd
def test_stored_app_and_route_are_re_filled_into_unit_and_served_through_the_front(da_lab: LabHost) -> None:
    domain, app = da_lab.domain, wsgi_app(da_lab, "stored")
    base = f"{DA}/data/users/{da_lab.da_user}/domains"
    write_as_root(da_lab, f"{base}/{domain}.unit/stored.json", json.dumps(app))
    write_as_root(da_lab, f"{base}/{domain}.routes/{domain}",
                  json.dumps({"/stored": [{"action": {"pass": f"applications/{domain}_stored"}}]}))
    da_lab.refill()
    assert unit(da_lab, "GET", f"/config/applications/{domain}_stored") == app
    assert http_get(da_lab, "/stored").status_code == 404  # Unit has it; the vhost does not proxy yet
    da_lab.rewrite_confs()
    assert http_get(da_lab, "/stored/a").text == f"{domain} /stored/a http stored"
    assert https_get(da_lab, "/stored/b").text == f"{domain} /stored/b https stored"

    # Config that exists only in Unit is gone after the next re-fill.
    unit(da_lab, "PUT", "/config/applications/only_in_unit", dict(app))
    da_lab.refill()
    assert "only_in_unit" not in unit(da_lab, "GET", "/config/applications")

    # unitd starting with no listeners: DirectAdmin's start check re-fills it.
    unit(da_lab, "PUT", "/config", {"listeners": {}, "applications": {}, "routes": []})
    log = da_lab.host_path(f"{DA}/data/task.queue.log")
    tasks = log.read_text().count("value=nginx_unit")
    da_lab.stop_unit()
    da_lab.start_unit()
    assert log.read_text().count("value=nginx_unit") == tasks + 1
    assert http_get(da_lab, "/stored/c").text == f"{domain} /stored/c http stored"
    # A restart with listeners keeps Unit's own config, no re-fill.
    da_lab.stop_unit()
    da_lab.start_unit()
    assert log.read_text().count("value=nginx_unit") == tasks + 1
    assert http_get(da_lab, "/stored/d").text == f"{domain} /stored/d http stored"
    write_as_root(da_lab, f"{base}/{domain}.routes/{domain}", "{}")
    da_lab.rewrite_confs()
    assert http_get(da_lab, "/stored/e").status_code == 404


def test_rewrite_confs_keeps_the_custom_configuration_and_drops_hand_edits(da_lab: LabHost) -> None:
    domain, user = da_lab.domain, da_lab.da_user
    kind = "cust_nginx" if da_lab.front == "nginx" else "cust_httpd"
    directive = ('add_header X-Lab-Custom "kept" always;' if da_lab.front == "nginx"
                 else 'Header always set X-Lab-Custom "kept"')
    write_as_root(da_lab, f"{DA}/data/users/{user}/domains/{domain}.{kind}", directive + "\n")
    vhost = f"{DA}/data/users/{user}/{'nginx' if da_lab.front == 'nginx' else 'httpd'}.conf"
    hand_edit = directive.replace("X-Lab-Custom", "X-Hand-Edit")
    text = da_lab.host_path(vhost).read_text()
    da_lab.host_path(vhost).write_text(text.replace("DocumentRoot", f"{hand_edit}\n\tDocumentRoot")
                                       if da_lab.front == "apache" else
                                       text.replace("\tindex ", f"\t{hand_edit}\n\tindex "))
    da_lab.run([f"{DA}/directadmin", "build", "rewrite_confs"])
    write_as_user(da_lab, f"{da_lab.public_html}/custom.txt", "x")
    for response in (http_get(da_lab, "/custom.txt"), https_get(da_lab, "/custom.txt")):
        assert response.headers.get("X-Lab-Custom") == "kept"
        assert "X-Hand-Edit" not in response.headers
    # A custom configuration the server rejects fails the rewrite and names the server.
    write_as_root(da_lab, f"{DA}/data/users/{user}/domains/{domain}.{kind}", "this is not a directive\n")
    with pytest.raises(LabError, match=f"{da_lab.front} rejects the rewritten config"):
        da_lab.rewrite_confs()
    da_lab.run(["rm", f"{DA}/data/users/{user}/domains/{domain}.{kind}"])
    da_lab.rewrite_confs()
    assert http_get(da_lab, "/custom.txt").headers.get("X-Lab-Custom") is None


# --- up and down --------------------------------------------------------------------------------

@pytest.mark.root
@pytest.mark.parametrize("front", FRONTS)
def test_up_and_down_with_a_front_server_leave_no_trace(front: str, lab_name: Callable[[str], str]) -> None:
    name = lab_name(f"trace-{front}")
    lab = up(name, front=front)
    try:
        assert lab.front == front and up(name, front=front) == lab
        with pytest.raises(LabError, match="already runs"):
            up(name, front="none")
        net = processes.ns_id(Path("/run/netns", lab.netns))
        mnt = processes.ns_id(f"/proc/{lab.supervisor_pid}/ns/mnt")
        pids = processes.lab_pids(net, mnt, {lab.supervisor_pid})
        commands = [" ".join(processes.cmdline(pid)) for pid in pids]
        server = "/usr/sbin/nginx" if front == "nginx" else "/usr/sbin/apache2"
        assert any(server in c or c.startswith("nginx: ") for c in commands)
        assert any("lab.da_api" in c for c in commands)
    finally:
        assert down(name) is True
    assert not any(processes.is_alive(pid) for pid in pids), "a lab process survived"
    assert lab.netns not in network.list_netns() and not Path(lab.state_dir).exists()
    left = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout
    assert f"{lab.address}:" not in left


def test_a_default_lab_has_no_front_server(lab_factory: Callable[..., LabHost]) -> None:
    lab = lab_factory("nofront", unit="absent", front="none")
    assert lab.front == "none" and lab.da_api_port == 0 and lab.ca_cert_path == ""
    with pytest.raises(LabError, match="--front nginx"):
        lab.refill()
    done = lab.run([f"{DA}/custombuild/build", "rewrite_confs"], check=False)
    assert done.returncode == 2 and "no front web server" in done.stderr
    # DirectAdmin's data tree is there all the same (read by tools that detect DirectAdmin).
    assert lab.run(["cat", f"{DA}/data/users/{lab.da_user}/domains.list"]).stdout.split() == [lab.domain]
