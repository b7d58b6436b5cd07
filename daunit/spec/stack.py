"""StackSpec: every host and app of one stack, checked against each other; the entry points."""
from __future__ import annotations

from typing import Any

from pydantic import ValidationError, model_validator

from daunit.errors import StackConfigError
from daunit.spec.app import AppSpec
from daunit.spec.app_secrets import app_secrets_problems
from daunit.spec.base import Loc, Problem, Spec, errors_at, raise_problems
from daunit.spec.host import HostSpec
from daunit.spec.report import format_errors
from daunit.spec.rules import CONSISTENCY_RULES, PLACEMENT_RULES, Rule


def _hosts_by_name(raw: Any) -> Any:
    """Hosts as a mapping keyed by name, from a mapping (key = name, the usual YAML; the
    name filled in) or a list of objects with a name; anything else is left to the type check."""
    if isinstance(raw, dict):
        return {key: {**item, "name": key} if isinstance(item, dict) and "name" not in item else item
                for key, item in raw.items()}
    if not isinstance(raw, (list, tuple)):
        return raw
    hosts: dict[str, Any] = {}
    for index, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        key = name if isinstance(name, str) else str(index)
        if key in hosts:
            raise errors_at("StackSpec", [(("hosts", index, "name"), (
                f"host name {key!r} is used twice in hosts: give each host its own name"))])
        hosts[key] = item
    return hosts


def _by_place(problem: Problem) -> tuple[int, int]:
    # Host problems first, then each app's in the order of apps (as one app's
    # problems read together), keeping the rules' order within each.
    loc: Loc = problem[0]
    return (0, 0) if loc[0] == "hosts" else (1, int(loc[1]))


class StackSpec(Spec):
    """Every host and app of one stack, checked against each other."""

    hosts: dict[str, HostSpec]
    apps: tuple[AppSpec, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _hosts_by_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "hosts" in data:
            return {**data, "hosts": _hosts_by_name(data["hosts"])}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> StackSpec:
        return self._follow(CONSISTENCY_RULES)

    @model_validator(mode="after")
    def _placed(self) -> StackSpec:
        return self._follow(PLACEMENT_RULES)

    def _follow(self, rules: tuple[Rule, ...]) -> StackSpec:
        problems = [problem for rule in rules for problem in rule(self.hosts, self.apps)]
        raise_problems("StackSpec", sorted(problems, key=_by_place))
        return self


def parse_stack(hosts_raw: Any, apps_raw: Any, *, check_source: bool = True) -> StackSpec:
    """Validate a stack's `hosts` and `apps` config; raises pydantic.ValidationError.

    With check_source (the default) the files the config names are read (the
    app's source tree, hostKeyFile): see daunit.spec.local.
    """
    return StackSpec.model_validate({"hosts": hosts_raw, "apps": apps_raw},
                                    context={"check_source": check_source})


def validate_stack(hosts_raw: Any, apps_raw: Any, app_secrets_raw: Any = None, *,
                   check_source: bool = True) -> StackSpec:
    """parse_stack, then the appSecrets against it; raises StackConfigError with one
    (field path, message) per problem, before anything reaches a host."""
    try:
        spec = parse_stack(hosts_raw, apps_raw, check_source=check_source)
    except ValidationError as exc:
        raise StackConfigError(format_errors(exc)) from None
    problems = app_secrets_problems(spec, app_secrets_raw)
    if problems:
        raise StackConfigError(problems)
    return spec
