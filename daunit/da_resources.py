"""The user-mode (`access: user`) dynamic resources: CMD_UNIT's application and route
(daunit/providers/da_unit.py), typed as the others (daunit.resources): registered as
`pulumi-python:dynamic/daflask:DaUnitApplication` and `...:DaUnitRoute`, with the alias
from `pulumi-python:dynamic:Resource`, the type they had before, so a user-mode stack
deployed then upgrades in place. The login key is a secret input and stays a secret
output, so state holds it encrypted only (the provider reads it again to refresh and delete)."""
from __future__ import annotations

from daunit.providers.da_unit import DaUnitApplicationProvider, DaUnitRouteProvider
from daunit.resources import TypedResource


class DaUnitApplication(TypedResource, provider=DaUnitApplicationProvider, secret=("loginKey",)):
    """The app in Unit through DirectAdmin's CMD_UNIT: the switch to a new release."""


class DaUnitRoute(TypedResource, provider=DaUnitRouteProvider, secret=("loginKey",)):
    """The app's location routed through CMD_UNIT's set_route."""
