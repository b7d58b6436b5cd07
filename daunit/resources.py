"""The dynamic resources: thin declarations binding inputs to providers.

Each names its type (`pulumi-python:dynamic/daflask:Release`; the SDK puts
the `pulumi-python:dynamic/` prefix on every dynamic resource) so previews
and state say what a resource is. Stacks deployed before the types were named
hold `pulumi-python:dynamic:Resource`: the alias makes the engine take those
as the same resources (same name, same parent), with no replacement.

Output-only properties are registered as None placeholders, one per field of
the provider's `Outputs` model; `output(field)` reads one of them.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import Resource

from daunit.providers.base import Provider
from daunit.providers.instance import InstanceConfigProvider
from daunit.providers.release import ReleaseProvider
from daunit.providers.release_commands import ReleaseCommandsProvider
from daunit.providers.unit_app import UnitApplicationProvider
from daunit.providers.unit_cert import UnitCertificateProvider
from daunit.providers.unit_host import UnitHostProvider
from daunit.providers.unit_route import UnitRouteProvider
from daunit.providers.virtualenv import VirtualenvProvider

# The module of every type token here: `pulumi-python:dynamic/daflask:<Name>`.
MODULE = "daflask"
# The type every dynamic resource had before they were named.
UNTYPED = "pulumi-python:dynamic:Resource"


class TypedResource(Resource):
    provider_type: ClassVar[type[Provider[Any, Any]]]
    # Inputs kept encrypted in state (and shown as [secret]) among outputs too.
    secret_properties: ClassVar[Sequence[str]] = ()

    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        own = pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=UNTYPED)])
        if self.secret_properties:
            own.additional_secret_outputs = list(self.secret_properties)
        outputs = dict.fromkeys(self.provider_type.outputs)
        super().__init__(self.provider_type(), name, {**props, **outputs},
                         pulumi.ResourceOptions.merge(opts, own))

    def output(self, field: str) -> pulumi.Output[Any]:
        """One output, by its field name in the provider's `Outputs` (snake_case)."""
        fields = self.provider_type.outputs_type.model_fields
        if field not in fields:
            raise AttributeError(f"{type(self).__name__} has no output {field!r}: "
                                 f"one of {', '.join(fields)}")
        value: pulumi.Output[Any] = getattr(self, fields[field].alias or field)
        return value


class Release(TypedResource, module=MODULE, name="Release"):
    provider_type = ReleaseProvider


class Virtualenv(TypedResource, module=MODULE, name="Virtualenv"):
    provider_type = VirtualenvProvider


class InstanceConfig(TypedResource, module=MODULE, name="InstanceConfig"):
    provider_type = InstanceConfigProvider
    secret_properties = ("environment",)


class ReleaseCommands(TypedResource, module=MODULE, name="ReleaseCommands"):
    """Commands run in a new release before the switch (providers/release_commands.py)."""

    provider_type = ReleaseCommandsProvider
    secret_properties = ("environment",)


class UnitApplication(TypedResource, module=MODULE, name="UnitApplication"):
    provider_type = UnitApplicationProvider


class UnitRoute(TypedResource, module=MODULE, name="UnitRoute"):
    provider_type = UnitRouteProvider


class UnitHost(TypedResource, module=MODULE, name="UnitHost"):
    provider_type = UnitHostProvider


class UnitCertificate(TypedResource, module=MODULE, name="UnitCertificate"):
    """One app's PEM bundle in Unit, on a TLS listener (see providers/unit_cert.py).

    The key is a secret input only: it is never an output. Outputs name the
    bundle and describe the certificate (nothing secret).
    """

    provider_type = UnitCertificateProvider
    secret_properties = ("chain", "key")
