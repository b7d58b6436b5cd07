"""The user-mode (`access: user`) dynamic resources: CMD_UNIT's application and route
(daunit/providers/da_unit.py). The login key is a secret input and stays a secret
output, so state holds it encrypted only."""
from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import Resource

from daunit.providers.da_unit import DaUnitApplicationProvider, DaUnitRouteProvider

_KEY_STAYS_SECRET = pulumi.ResourceOptions(additional_secret_outputs=["loginKey"])


class DaUnitApplication(Resource):
    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(DaUnitApplicationProvider(), name, {**props, "healthChecked": None},
                         pulumi.ResourceOptions.merge(opts, _KEY_STAYS_SECRET))


class DaUnitRoute(Resource):
    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(DaUnitRouteProvider(), name, {**props, "healthChecked": None},
                         pulumi.ResourceOptions.merge(opts, _KEY_STAYS_SECRET))
