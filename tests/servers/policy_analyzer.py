"""The policy pack as the Pulumi CLI runs it, driven over the analyzer's gRPC protocol.

`pulumi preview --policy-pack policies` (pulumi-language-python `RunPlugin`, kind analyzer) starts
`<policies/.venv>/bin/python -u -m pulumi.policy <engine address> <pack dir>` with the pack directory as working
directory and PULUMI_PROJECT/STACK/ORGANIZATION/DRY_RUN/CONFIG in the environment, reads the analyzer's port from the
first line of its stdout, then calls Handshake, ConfigureStack, GetAnalyzerInfo, Configure (the policy config file
reconciled with the pack's defaults: pkg/resource/analyzer/config.go), Analyze once per resource and AnalyzeStack
once. `policy_pack()` does the same; `FakeEngine` is the engine's gRPC service the pack is given the address of (it
records any log message the pack sends).

`PackSession.violations()` turns the diagnostics into the offline runner's violation dicts
(scripts/preview/policy_runner.py), so a test can require both to be equal.
"""

import json
import os
import select
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, engine_pb2, engine_pb2_grpc

from scripts import PROJECT_DIR
from scripts.preview.engine_view import EngineResource, analyzed_resources, stack_resources
from scripts.preview.mock_engine import Evaluation

PACK_DIR = PROJECT_DIR / "policies"
PACK_VENV_PYTHON = PACK_DIR / ".venv" / "bin" / "python"
LEVELS = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
LEVEL_VALUES = {name: value for value, name in LEVELS.items()}
SEVERITIES = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "",
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}
STARTUP_TIMEOUT_S = 60.0
CALL_TIMEOUT_S = 120.0


class FakeEngine(engine_pb2_grpc.EngineServicer):
    """The engine service a plugin may call back (logging); keeps what it is sent."""

    def __init__(self) -> None:
        self.logs: list[tuple[int, str]] = []

    def Log(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC method name)
        self.logs.append((request.severity, request.message))
        return empty_pb2.Empty()

    def GetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        return engine_pb2.GetRootResourceResponse(urn="")

    def SetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        return engine_pb2.SetRootResourceResponse()


def pack_python() -> Path:
    """The interpreter the CLI runs the pack with: policies/.venv (PulumiPolicy.yaml `virtualenv`), created by
    `make setup`. Without it (a worktree that never ran setup) the test interpreter stands in; a test in
    tests/policies/engine/ requires the virtualenv itself."""
    return PACK_VENV_PYTHON if PACK_VENV_PYTHON.exists() else Path(sys.executable)


def engine_policy_config(document: dict[str, Any], info: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """The config the engine sends at Configure for a `--policy-pack-config` document (already valid), as
    ReconcilePolicyPackConfig builds it: every policy's level and schema defaults from GetAnalyzerInfo, `all`'s level on
    every policy, then each entry (unknown names included, as the engine passes them on)."""
    result: dict[str, tuple[str, dict[str, Any]]] = {}
    for policy in info.policies:
        schema = json_format.MessageToDict(policy.configSchema.properties)
        defaults = {key: value["default"] for key, value in schema.items() if "default" in value}
        result[policy.name] = (LEVELS[policy.enforcementLevel], defaults)
    given: dict[str, tuple[str | None, dict[str, Any]]] = {}
    for name, value in document.items():
        if isinstance(value, str):
            given[name] = (value, {})
        else:
            settings = dict(value)
            level = settings.pop("enforcementLevel", None)
            if level is not None or settings:
                given[name] = (level, settings)
    everything = given.get("all", (None, {}))[0]
    if everything:
        result = {name: (everything, settings) for name, (_, settings) in result.items()}
    for name, (level, settings) in given.items():
        current_level, current = result.get(name, ("", {}))
        result[name] = (level or current_level, {**current, **settings})
    return result


@dataclass
class PackSession:
    """A running pack and the channel to it."""

    process: subprocess.Popen[bytes]
    analyzer: analyzer_pb2_grpc.AnalyzerStub
    engine: FakeEngine
    engine_address: str
    stderr_path: Path
    info: Any = None
    _configured: bytes = b""
    _answers: dict[tuple[bytes, bytes], list[Any]] = field(default_factory=dict)
    analyze_calls: int = 0

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def configure(self, config: dict[str, tuple[str, dict[str, Any]]]) -> None:
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, (level, settings) in config.items():
            entry = request.policyConfig[name]
            if level:
                entry.enforcementLevel = LEVEL_VALUES[level]
            if settings:
                entry.properties.update(settings)
        self.analyzer.Configure(request, timeout=CALL_TIMEOUT_S)
        self._configured = request.SerializeToString(deterministic=True)

    def configure_file(self, path: Path) -> None:
        self.configure(engine_policy_config(json.loads(path.read_text()), self.info))

    def analyze(self, resource: EngineResource) -> list[Any]:
        """Analyze one resource (its inputs). The SDK's servicer keeps no state between calls, so a byte-identical
        request under the same Configure gets the first answer again (misconfigured variants of a stack re-send
        hundreds of unchanged resources)."""
        request = analyzer_pb2.AnalyzeRequest(
            urn=resource.urn,
            type=resource.type,
            name=resource.name,
            properties=resource.struct(),
            options=analyzer_pb2.AnalyzerResourceOptions(parent=resource.parent or ""),
        )
        key = (self._configured, request.SerializeToString(deterministic=True))
        if key not in self._answers:
            self.analyze_calls += 1
            response = self.analyzer.Analyze(request, timeout=CALL_TIMEOUT_S)
            self._answers[key] = [(d, resource.urn) for d in response.diagnostics]
        return self._answers[key]

    def analyze_stack(self, resources: list[EngineResource]) -> list[Any]:
        request = analyzer_pb2.AnalyzeStackRequest()
        for r in resources:
            request.resources.append(
                analyzer_pb2.AnalyzerResource(
                    urn=r.urn,
                    type=r.type,
                    name=r.name,
                    properties=r.struct(),
                    options=analyzer_pb2.AnalyzerResourceOptions(parent=r.parent or ""),
                    parent=r.parent or "",
                    dependencies=r.dependencies,
                    propertyDependencies={
                        k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v) for k, v in r.property_dependencies.items()
                    },
                )
            )
        response = self.analyzer.AnalyzeStack(request, timeout=CALL_TIMEOUT_S)
        return [(d, d.urn) for d in response.diagnostics]

    def violations(self, evaluation: Evaluation) -> list[dict[str, str]]:
        """Analyze every resource and the stack as the engine does; the diagnostics as the offline runner's dicts."""
        analyzed = analyzed_resources(evaluation)
        found = [d for r in analyzed for d in self.analyze(r)]
        found += self.analyze_stack(stack_resources(evaluation))
        by_urn = {r.urn: r for r in analyzed}
        tags = {p.name: ", ".join(p.tags) for p in self.info.policies}
        violations = []
        for diagnostic, urn in found:
            prefix = diagnostic.description + "\n"
            if not diagnostic.message.startswith(prefix):
                raise AssertionError(f"diagnostic without the policy's description: {diagnostic}")
            target = by_urn.get(urn)
            violations.append(
                {
                    "policy": diagnostic.policyName,
                    "level": LEVELS[diagnostic.enforcementLevel],
                    "resource": target.urn if target else "",
                    "message": diagnostic.message[len(prefix) :],
                    "controls": tags.get(diagnostic.policyName, ""),
                    "severity": SEVERITIES[diagnostic.severity],
                    "type": target.type if target else "",
                    "name": target.name if target else "",
                }
            )
        return violations


def _await_port(process: subprocess.Popen[bytes], stderr_path: Path) -> int:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], STARTUP_TIMEOUT_S)
    line = process.stdout.readline().decode().strip() if ready else ""
    if not line.isdigit():
        process.kill()
        process.wait()
        raise RuntimeError(
            f"the policy pack did not print its port (got {line!r}, exit {process.returncode}):\n"
            + stderr_path.read_text(errors="replace")[-4000:]
        )
    # Keep draining stdout so that a chatty pack can never block on a full pipe.
    threading.Thread(target=process.stdout.read, daemon=True).start()
    return int(line)


@contextmanager
def policy_pack(
    tmp_dir: Path,
    stack: str,
    config: dict[str, str] | None = None,
    python: Path | None = None,
    python_path: Path | None = None,
) -> Iterator[PackSession]:
    """Start the pack as the CLI does for `stack` and yield a session that has done the CLI's opening calls
    (Handshake, ConfigureStack, GetAnalyzerInfo). `python_path` puts a directory first on the pack's import path (a
    test breaking its environment). The pack and the fake engine are always stopped."""
    engine = FakeEngine()
    engine_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    engine_pb2_grpc.add_EngineServicer_to_server(engine, engine_server)
    engine_port = engine_server.add_insecure_port("127.0.0.1:0")
    engine_server.start()
    engine_address = f"127.0.0.1:{engine_port}"
    environment = {
        **os.environ,
        "PULUMI_ORGANIZATION": "organization",
        "PULUMI_PROJECT": "cryb-db",
        "PULUMI_STACK": stack,
        "PULUMI_DRY_RUN": "true",
        "PULUMI_CONFIG": json.dumps(config or {}),
    }
    environment.pop("PYTHONPATH", None)  # the pack sees only its own directory and virtualenv
    if python_path is not None:
        environment["PYTHONPATH"] = str(python_path)
    stderr_path = tmp_dir / f"policy-pack-{stack}.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [str(python or pack_python()), "-u", "-m", "pulumi.policy", engine_address, str(PACK_DIR)],
            cwd=PACK_DIR,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    channel = None
    try:
        port = _await_port(process, stderr_path)
        channel = grpc.insecure_channel(
            f"127.0.0.1:{port}",
            options=[("grpc.max_receive_message_length", 256 << 20), ("grpc.max_send_message_length", 256 << 20)],
        )
        analyzer = analyzer_pb2_grpc.AnalyzerStub(channel)
        session = PackSession(process, analyzer, engine, engine_address, stderr_path)
        try:
            analyzer.Handshake(
                analyzer_pb2.AnalyzerHandshakeRequest(
                    engine_address=engine_address, root_directory=str(PACK_DIR), program_directory=str(PACK_DIR)
                ),
                timeout=CALL_TIMEOUT_S,
            )
        except grpc.RpcError as exc:  # pulumi-policy 1.21 does not implement it; the CLI then goes on
            if exc.code() != grpc.StatusCode.UNIMPLEMENTED:  # pyright: ignore[reportAttributeAccessIssue]
                raise
        analyzer.ConfigureStack(
            analyzer_pb2.AnalyzerStackConfigureRequest(
                stack=stack, project="cryb-db", organization="organization", dry_run=True, config=config or {}
            ),
            timeout=CALL_TIMEOUT_S,
        )
        session.info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=CALL_TIMEOUT_S)
        analyzer.GetPluginInfo(empty_pb2.Empty(), timeout=CALL_TIMEOUT_S)
        yield session
    finally:
        if channel is not None:
            channel.close()
        process.kill()
        process.wait()
        engine_server.stop(0)
