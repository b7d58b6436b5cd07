"""The dynamic resources: thin declarations binding inputs to providers.

Output-only properties are declared with None so Pulumi registers them.
"""
from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import Resource

from daunit.providers.instance import InstanceConfigProvider
from daunit.providers.release import ReleaseProvider
from daunit.providers.release_commands import ReleaseCommandsProvider
from daunit.providers.unit_app import UnitApplicationProvider
from daunit.providers.unit_cert import UnitCertificateProvider
from daunit.providers.unit_host import UnitHostProvider
from daunit.providers.unit_route import UnitRouteProvider
from daunit.providers.virtualenv import VirtualenvProvider


def _out(name: str) -> property:
    """Dynamic resources expose outputs under their input names (camelCase)."""
    return property(lambda self: getattr(self, name))


class Release(Resource):
    release_dir = _out("releaseDir")
    files_sent = _out("filesSent")
    bytes_sent = _out("bytesSent")

    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(ReleaseProvider(), name,
                         {**props, "releaseDir": None, "filesSent": None, "bytesSent": None},
                         opts)


class Virtualenv(Resource):
    venv_dir = _out("venvDir")

    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(VirtualenvProvider(), name, {**props, "venvDir": None, "built": None},
                         opts)


class InstanceConfig(Resource):
    revision: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["environment"]))
        super().__init__(InstanceConfigProvider(), name,
                         {**props, "envFile": None, "keys": None, "revision": None}, opts)


class ReleaseCommands(Resource):
    """Commands run in a new release before the switch (providers/release_commands.py)."""

    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["environment"]))
        super().__init__(ReleaseCommandsProvider(), name, {**props, "ran": None}, opts)


class UnitApplication(Resource):
    config: pulumi.Output[dict[str, Any]]

    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(UnitApplicationProvider(), name, {**props, "healthChecked": None}, opts)


class UnitRoute(Resource):
    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(UnitRouteProvider(), name, {**props, "healthChecked": None}, opts)


class UnitHost(Resource):
    unit_version = _out("unitVersion")
    python_modules = _out("pythonModules")
    da_mode = _out("daMode")

    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(UnitHostProvider(), name,
                         {**props, "unitVersion": None, "pythonModules": None,
                          "enabledByUs": None, "daMode": None}, opts)


class UnitCertificate(Resource):
    """One app's PEM bundle in Unit, on a TLS listener (see providers/unit_cert.py).

    The key is a secret input only: it is never an output. Outputs name the
    bundle and describe the certificate (nothing secret).
    """

    # The SDK sets an attribute per property key, so these differ from the keys.
    bundle_name = _out("name")
    subject_names = _out("subjectNames")
    issuer_name = _out("issuer")
    not_before = _out("notBefore")
    not_after = _out("notAfter")

    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["chain", "key"]))
        super().__init__(UnitCertificateProvider(), name,
                         {**props, **dict.fromkeys(UnitCertificateProvider.outputs)}, opts)
