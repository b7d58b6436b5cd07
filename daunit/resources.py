"""The dynamic resources: thin declarations binding inputs to providers.

Each names its type after its class (`pulumi-python:dynamic/daflask:Release`;
the SDK puts `pulumi-python:dynamic/` before every dynamic resource) so previews
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
    """A resource of ours: `class Release(TypedResource, provider=ReleaseProvider)`
    registers as `pulumi-python:dynamic/daflask:Release`."""

    provider_type: ClassVar[type[Provider[Any, Any]]]
    # Inputs kept encrypted in state (and shown as [secret]) among outputs too.
    secret_properties: ClassVar[Sequence[str]] = ()

    def __init_subclass__(cls, *, provider: type[Provider[Any, Any]],
                          secret: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init_subclass__(module=MODULE, name=cls.__name__, **kwargs)
        cls.provider_type = provider
        cls.secret_properties = tuple(secret)

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


class Release(TypedResource, provider=ReleaseProvider):
    """The app's source as a content-addressed tree on the host."""


class Virtualenv(TypedResource, provider=VirtualenvProvider):
    """The app's venv, keyed by Python version and requirements."""


class InstanceConfig(TypedResource, provider=InstanceConfigProvider, secret=("environment",)):
    """instance/ and logs/, and instance/.env from the (secret) environment."""


class ReleaseCommands(TypedResource, provider=ReleaseCommandsProvider, secret=("environment",)):
    """Commands run in a new release before the switch."""


class UnitApplication(TypedResource, provider=UnitApplicationProvider):
    """The app's Unit application object: the switch to a new release."""


class UnitRoute(TypedResource, provider=UnitRouteProvider):
    """The app's route, joined to the host's shared listener."""


class UnitHost(TypedResource, provider=UnitHostProvider):
    """Unit on a host: its facts, and enabling it through CustomBuild."""


class UnitCertificate(TypedResource, provider=UnitCertificateProvider, secret=("chain", "key")):
    """One app's PEM bundle in Unit, on a TLS listener.

    The key is a secret input only: it is never an output. Outputs name the
    bundle and describe the certificate (nothing secret).
    """
