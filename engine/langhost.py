"""A Python language host for the Pulumi engine.

Why this exists: the engine (the `pulumi` binary) is built from Go modules by
scripts/build-pulumi.sh, but the module of Pulumi's own Python language host,
github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3, is not
served by the Go module proxy these machines reach (403 for every version).
The language host's only job is small and documented by the LanguageRuntime
gRPC service: print a port, and on Run spawn the Pulumi SDK's own executor
script (`pulumi-language-python-exec`, shipped in the sdk/v3 module) with the
engine's addresses and the stack config. That script and the SDK do all of
the real work, unchanged. This module implements that service with the gRPC
stubs the Pulumi Python SDK ships, and nothing more.

The engine starts it as `pulumi-language-python [flags] ENGINE_ADDRESS`.
"""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import types
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2


def _bare_packages() -> None:
    """Make `pulumi`, `pulumi.runtime` and `pulumi.runtime.proto` importable as bare
    packages, so the stubs below load without the SDK's package initialisers.

    Why: `import pulumi` runs the whole SDK's __init__ (the runtime, the automation
    API, OpenTelemetry), about 0.2 s of CPU, and the engine starts this host twice per
    `pulumi up` (plugin discovery, then the run), both on the critical path. This
    process only needs the generated gRPC stubs, which import nothing but each other.
    The program itself runs in the executor's own process, with the SDK as shipped.
    """
    spec = importlib.util.find_spec("pulumi")
    if spec is None or not spec.submodule_search_locations or "pulumi" in sys.modules:
        return
    root = Path(next(iter(spec.submodule_search_locations)))
    for name, where in (("pulumi", root), ("pulumi.runtime", root / "runtime"),
                        ("pulumi.runtime.proto", root / "runtime" / "proto")):
        package = types.ModuleType(name)
        package.__path__ = [str(where)]
        sys.modules[name] = package


_bare_packages()
from pulumi.runtime.proto import language_pb2, language_pb2_grpc, plugin_pb2  # noqa: E402

# Exit code the executor uses after it already showed the user an actionable message.
USER_ACTIONABLE_EXIT = 32
ENGINE_VERSION = "3.259.0"
RUN_PROGRAM = Path(__file__).resolve().parent / "run_program.py"


def _python_for(info: Any, fallback: str) -> str:
    """The project's interpreter: its Pulumi.yaml `virtualenv` option, else ours."""
    options = dict(info.options) if info is not None and info.HasField("options") else {}
    venv = options.get("virtualenv")
    if venv:
        root = Path(info.root_directory or ".")
        venv_path = Path(venv) if os.path.isabs(venv) else root / venv
        candidate = venv_path / "bin" / "python"
        if candidate.exists():
            return str(candidate)
    return fallback


class PythonLanguageHost(language_pb2_grpc.LanguageRuntimeServicer):
    def __init__(self, executor: str, engine_address: str) -> None:
        self.executor = executor
        self.engine_address = engine_address

    def Handshake(self, request: Any, context: Any) -> Any:
        if request.engine_address:
            self.engine_address = request.engine_address
        return language_pb2.LanguageHandshakeResponse()

    def GetPluginInfo(self, request: Any, context: Any) -> Any:
        return plugin_pb2.PluginInfo(version=ENGINE_VERSION)

    def GetRequiredPlugins(self, request: Any, context: Any) -> Any:
        # Plugins are installed ahead of time (no downloads here); the engine
        # loads providers on demand as resources register them.
        return language_pb2.GetRequiredPluginsResponse()

    def GetRequiredPackages(self, request: Any, context: Any) -> Any:
        return language_pb2.GetRequiredPackagesResponse()

    def GetProgramDependencies(self, request: Any, context: Any) -> Any:
        return language_pb2.GetProgramDependenciesResponse()

    def About(self, request: Any, context: Any) -> Any:
        return language_pb2.AboutResponse(executable=sys.executable,
                                          version=sys.version.split()[0])

    def InstallDependencies(self, request: Any, context: Any) -> Any:
        # The project's virtualenv is built by scripts/setup.sh from
        # requirements.txt; nothing to install during a deployment.
        return iter(())

    def Run(self, request: Any, context: Any) -> Any:
        info = request.info if request.HasField("info") else None
        python = _python_for(info, sys.executable)
        # run_program.py runs the executor and ends the process without
        # Python's teardown once the program is done (see its docstring).
        args = [python, "-u", str(RUN_PROGRAM), self.executor,
                "--monitor", request.monitor_address,
                "--engine", self.engine_address,
                "--project", request.project,
                "--stack", request.stack,
                "--pwd", request.pwd,
                "--dry_run", "true" if request.dryRun else "false",
                "--parallel", str(request.parallel)]
        if request.organization:
            args += ["--organization", request.organization]
        if info is not None and info.root_directory:
            args += ["--root_directory", info.root_directory]
        program = request.program or (info.entry_point if info is not None else "") or "."
        args.append(program)
        args += list(request.args)

        env = dict(os.environ)
        env["PULUMI_CONFIG"] = json.dumps(dict(request.config))
        env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(request.configSecretKeys))
        # The executor's stdout/stderr are the engine's diagnostics stream.
        proc = subprocess.run(args, env=env, cwd=request.pwd or None,
                              stdout=sys.stdout, stderr=sys.stderr)
        if proc.returncode == 0:
            return language_pb2.RunResponse()
        if proc.returncode == USER_ACTIONABLE_EXIT:
            return language_pb2.RunResponse(bail=True)
        return language_pb2.RunResponse(
            error=f"Program exited with non-zero exit code: {proc.returncode}")

    def Cancel(self, request: Any, context: Any) -> Any:
        return empty_pb2.Empty()


def main(argv: list[str]) -> int:
    # Flags the engine may pass come first; its address is always the last argument.
    engine_address = argv[-1] if argv and not argv[-1].startswith("-") else ""
    executor = os.environ.get("PULUMI_PYTHON_EXECUTOR") or str(
        Path(__file__).resolve().parent / "pulumi-language-python-exec")
    for arg in argv:
        if arg.startswith("-use-executor="):
            executor = arg.split("=", 1)[1]

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)])
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(
        PythonLanguageHost(executor, engine_address), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    # The engine ends its plugins with SIGINT or SIGTERM: stop quietly.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: server.stop(0))
    server.wait_for_termination()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
