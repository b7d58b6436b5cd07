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
dropped. Nothing else waits on the thread, except the program's exit: see
`ProviderStart.settle`.
"""
from __future__ import annotations

import atexit
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pulumi.runtime.proto.resource_pb2_grpc import ResourceMonitorStub

# `pulumi-python` is the dynamic provider's package; the function name is only
# what the engine logs for the call.
TOKEN = "pulumi-python:dynamic:startProvider"
# How long the program's exit waits for the provider's answer, at most.
ANSWER_TIMEOUT_S = 10.0
# How long after that answer the program stays, at least (see _settle).
SETTLE_S = 0.1


class ProviderStart:
    """The call in flight: its thread, and when the provider answered (monotonic)."""

    def __init__(self, monitor: ResourceMonitorStub) -> None:
        self.answered_at: float | None = None
        self.thread = threading.Thread(target=self._invoke, args=(monitor,),
                                       name="provider-start", daemon=True)

    def _invoke(self, monitor: ResourceMonitorStub) -> None:
        import grpc
        from google.protobuf import struct_pb2
        from pulumi.runtime.proto import resource_pb2

        request = resource_pb2.ResourceInvokeRequest(tok=TOKEN, args=struct_pb2.Struct())
        try:
            monitor.Invoke(request)
        except grpc.RpcError:
            pass  # the expected "unknown function": the provider is loaded by now
        finally:
            self.answered_at = time.monotonic()

    def settle(self) -> None:
        """At the program's exit: wait for the answer, then until SETTLE_S after it.

        Why: when the program ended (a config error, say) within moments of the
        provider's answer, the engine's shutdown of the provider stalled for its
        full 5 s grace in about 1 of 40 runs (the provider did not end on the
        engine's interrupt); with this wait, none did in 160. What in the
        provider's shutdown races was not pinned down. A normal run ends long
        after the answer and does not wait here.
        """
        self.thread.join(ANSWER_TIMEOUT_S)
        if self.answered_at is not None:
            left = self.answered_at + SETTLE_S - time.monotonic()
            if left > 0:
                time.sleep(left)


def start_provider_early() -> ProviderStart | None:
    """Send the invoke from a daemon thread, and settle at exit; None when there is
    no engine to ask (the SDK's mocks, or a program run outside `pulumi`)."""
    from pulumi.runtime import settings
    from pulumi.runtime.proto import resource_pb2_grpc

    monitor = settings.get_monitor()
    if not isinstance(monitor, resource_pb2_grpc.ResourceMonitorStub):
        return None
    start = ProviderStart(monitor)
    start.thread.start()
    atexit.register(start.settle)
    return start
