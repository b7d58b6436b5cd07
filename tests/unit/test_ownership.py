"""Names and ownership marks of Unit objects, and the dispatch-route edits (pure)."""
from __future__ import annotations

import re
from typing import Any

import pytest

from daunit.ownership import (
    OWNER_ENV,
    Owner,
    app_claim_problem,
    dir_sharing_problem,
    name_owner,
    passes_to_app,
    points_into,
    unit_name,
)
from daunit.routing import dispatch_with, host_conflicts, normalized_routes_config

APP_DIR = "/home/alice/domains/shop.example.org/public_html/shop"
OURS = Owner("da-flask", "prod")

# What DirectAdmin names apps (`DOMAIN_APP`), Unit's name for a pre-existing
# unnamed route, and the shared dispatch route.
FOREIGN_NAMES = ["example.com_shop", "shop.example.org_app", "default", "da-flask-hosts",
                 "daflask-x.com_shop", "shop", "daflask:p:s:shop\n", "daflask:p:s:t:shop"]


def app(path: str = f"{APP_DIR}/releases/0123456789abcdef", mark: str | None = None,
        **extra: Any) -> dict[str, Any]:
    env = {"A": "1", **({OWNER_ENV: mark} if mark else {})}
    return {"type": "python 3.11", "path": path, "working_directory": path,
            "environment": env, **extra}


def test_names_are_one_stacks_and_never_directadmins() -> None:
    name = unit_name(OURS, "shop")
    assert name == "daflask:da-flask:prod:shop"
    assert name_owner(name) == "da-flask/prod"
    for foreign in FOREIGN_NAMES:
        assert name_owner(foreign) is None
    # Unit accepts it in `pass` and in the control API's path (tests/e2e prove it on unitd);
    # no character outside what a project, stack or app name may hold, besides ':'.
    assert re.fullmatch(r"[A-Za-z0-9_.:-]+", name)
    # A DirectAdmin name is a domain then '_': ours has ':' where the domain would end.
    assert not re.match(r"^[a-z0-9.-]+_", name)


@pytest.mark.parametrize(("one", "two"), [
    (("a-b", "c", "shop"), ("a", "b-c", "shop")),
    (("a.b", "c", "shop"), ("a", "b.c", "shop")),
    (("p", "s", "a_b"), ("p", "s_a", "b")),
    (("p", "prod", "shop"), ("p", "dev", "shop")),
    (("p", "s", "default"), ("p", "s", "shop")),
])
def test_different_stacks_or_apps_never_share_a_name(one: tuple[str, str, str],
                                                     two: tuple[str, str, str]) -> None:
    assert unit_name(Owner(*one[:2]), one[2]) != unit_name(Owner(*two[:2]), two[2])


@pytest.mark.parametrize("bad", ["", "a:b", "a/b", "a b", "x" * 101, "a\n"])
def test_owner_names_unit_cannot_carry_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not usable in Unit names"):
        Owner(bad, "prod")
    with pytest.raises(ValueError, match="not usable in Unit names"):
        Owner("da-flask", bad)
    with pytest.raises(ValueError, match="app name"):
        unit_name(OURS, bad or "Shop")


def test_claims() -> None:
    name = unit_name(OURS, "shop")
    assert app_claim_problem(name, None, {OURS.mark}, APP_DIR) is None  # free to make
    assert app_claim_problem(name, app(mark=OURS.mark), {OURS.mark}, APP_DIR) is None
    # A renamed stack still owns what its state says it made.
    assert app_claim_problem(name, app(mark="da-flask/old"), {OURS.mark, "da-flask/old"},
                             APP_DIR) is None
    # Our mark but another tree: a stack of our name deploying from another backend.
    twin = app(path="/home/bob/domains/b.example/public_html/shop/releases/x", mark=OURS.mark)
    problem = app_claim_problem(name, twin, {OURS.mark}, APP_DIR)
    assert problem is not None and "marked as the stack da-flask/prod" in problem
    assert "another deployment" in problem
    # ... unless the state says the app lived there (its domain or appDir changed).
    assert app_claim_problem(name, twin, {OURS.mark},
                             [APP_DIR, "/home/bob/domains/b.example/public_html/shop"]) is None
    other = app_claim_problem(name, app(mark="shop/prod"), {OURS.mark}, APP_DIR)
    assert other is not None and "belongs to the stack shop/prod" in other
    # Unmarked: adopted when it runs our code (the previous release made it) ...
    assert app_claim_problem("shop", app(), {OURS.mark}, APP_DIR) is None
    isolated = app(path="/releases/0123456789abcdef", isolation={"rootfs": APP_DIR})
    assert app_claim_problem("shop", isolated, {OURS.mark}, APP_DIR) is None
    # ... refused otherwise: another site's app, or a sibling dir sharing a prefix.
    for path in ("/home/bob/domains/b.example/public_html/shop/releases/x", "/tmp",
                 APP_DIR + "2/releases/x"):
        problem = app_claim_problem("shop", app(path=path), {OURS.mark}, APP_DIR)
        assert problem is not None and "not made by da-flask" in problem and path in problem
    assert not points_into(app(), "")  # no app dir known: nothing is ours by path


def test_an_app_dir_another_stack_runs_from_is_not_ours() -> None:
    name = unit_name(OURS, "shop")
    apps = {"daflask:da-flask:staging:shop": app(mark="da-flask/staging"),
            "shop": app(),  # the previous release's, unmarked: adopted, no conflict
            name: app(mark=OURS.mark),
            "example.com_app": app(path="/home/alice/domains/example.com/public_html/x")}
    problem = dir_sharing_problem(name, apps, {OURS.mark}, APP_DIR)
    assert problem is not None and "of the stack da-flask/staging" in problem
    assert APP_DIR in problem
    del apps["daflask:da-flask:staging:shop"]
    assert dir_sharing_problem(name, apps, {OURS.mark}, APP_DIR) is None
    # A renamed stack's own app under the old name is no conflict.
    apps["daflask:da-flask:old:shop"] = app(mark="da-flask/old")
    assert dir_sharing_problem(name, apps, {OURS.mark, "da-flask/old"}, APP_DIR) is None


def test_route_passes() -> None:
    steps = [{"match": {"uri": "/static/*"}, "action": {"share": "/x$uri"}},
             {"action": {"pass": "applications/daflask:p:s:shop"}}]
    assert passes_to_app(steps) == {"daflask:p:s:shop"}
    assert passes_to_app([{"action": {"return": 204}}]) == set()
    assert passes_to_app(None) == set()


def entry(route: str, *hosts: str) -> dict[str, Any]:
    return {"match": {"host": list(hosts)}, "action": {"pass": f"routes/{route}"}}


def test_a_domain_another_entry_serves_is_a_conflict() -> None:
    dispatch = [entry("daflask:p:a:shop", "shop.example.org", "www.shop.example.org"),
                {"match": {"host": "blog.example.org"}, "action": {"pass": "routes/manual"}},
                {"match": {"host": ["*.example.net", "!x.example.net"]},
                 "action": {"pass": "routes/wild"}},
                {"action": {"return": 404}}]
    mine = "daflask:p:b:shop"
    assert host_conflicts(dispatch, ["SHOP.example.org"], mine) == [
        ("daflask:p:a:shop", ["shop.example.org"])]
    assert host_conflicts(dispatch, ["blog.example.org"], mine) == [("manual", ["blog.example.org"])]
    assert host_conflicts(dispatch, ["x.example.net", "new.example.org"], mine) == []
    # Our own entry, under the current or the previous name, is no conflict.
    assert host_conflicts(dispatch, ["shop.example.org"], {"daflask:p:a:shop", "shop"}) == []


def test_a_rename_switches_the_entry_in_place() -> None:
    dispatch = [entry("other", "o.example"), entry("shop", "shop.example"), entry("z", "z.example")]
    new = entry("daflask:p:s:shop", "shop.example")
    assert dispatch_with(dispatch, {"daflask:p:s:shop", "shop"}, new) == [
        dispatch[0], new, dispatch[2]]
    # Only one entry survives when both names had one.
    both = [entry("shop", "shop.example"), entry("daflask:p:s:shop", "shop.example")]
    assert dispatch_with(both, {"daflask:p:s:shop", "shop"}, new) == [new]


def test_no_app_route_can_be_named_default() -> None:
    # Unit's unnamed route becomes "default"; an app called default gets a daflask: name.
    fixed = normalized_routes_config({"routes": [{"action": {"return": 204}}],
                                      "listeners": {"*:8080": {"pass": "routes"}}})
    assert fixed is not None and set(fixed["routes"]) == {"default"}
    assert unit_name(OURS, "default") != "default"
