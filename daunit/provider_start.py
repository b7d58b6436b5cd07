"""Have the engine start the dynamic provider's process as the program starts.

Why: the engine starts a provider's process when the first resource of its
package registers, and the Python SDK sends registrations only after the
program's synchronous part has returned (imports, config validation, building
the components: about 0.25 s). The provider's start (a Python process that
imports the SDK: about 0.3 s) then comes on top of that on every command.
One invoke of the dynamic provider's package, sent from a thread as the
program starts, makes the engine load the same default provider right away,
so its start overlaps with the program's own work. The state does not change:
the resources register with that same default provider, as before.

The dynamic provider implements no functions, so the invoke itself always
fails (the provider answers "unknown function"); that answer is expected and
dropped. Nothing else waits on the thread.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pulumi.runtime.proto.resource_pb2_grpc import ResourceMonitorStub

# `pulumi-python` is the dynamic provider's package; the function name is only
# what the engine logs for the call.
TOKEN = "pulumi-python:dynamic:startProvider"


def start_provider_early() -> threading.Thread | None:
    """Send the invoke from a daemon thread; None when there is no engine to ask
    (the SDK's mocks, or a program run outside `pulumi`)."""
    from pulumi.runtime import settings
    from pulumi.runtime.proto import resource_pb2_grpc

    monitor = settings.get_monitor()
    if not isinstance(monitor, resource_pb2_grpc.ResourceMonitorStub):
        return None
    thread = threading.Thread(target=_invoke, args=(monitor,), name="provider-start", daemon=True)
    thread.start()
    return thread


def _invoke(monitor: ResourceMonitorStub) -> None:
    import grpc
    from google.protobuf import struct_pb2
    from pulumi.runtime.proto import resource_pb2

    request = resource_pb2.ResourceInvokeRequest(tok=TOKEN, args=struct_pb2.Struct())
    try:
        monitor.Invoke(request)
    except grpc.RpcError:
        pass  # the expected "unknown function": the provider is loaded by now
