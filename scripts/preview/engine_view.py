"""What the Pulumi engine hands a policy pack for an evaluation, in the engine's wire form.

`pulumi preview --policy-pack` calls the pack's `Analyze` once per registered resource with its **inputs** (the root
`pulumi:pulumi:Stack` and providers too), then `AnalyzeStack` once with every resource's **outputs** (the stack's
are its exports, a component's what it passed to `register_outputs`), each with its parent URN (top-level resources:
the stack's) and the URNs each property was computed from. Properties travel as a protobuf `Struct`: numbers become
floats, a secret is `{sig: secret, value}`, an unknown value (preview) is the UNKNOWN sentinel string
(pulumi `MarshalProperties(KeepUnknowns, KeepSecrets, SkipInternalKeys)`).

The offline runner (`policy_runner`) and the gRPC harness (`tests/servers/policy_analyzer.py`) both start from this
view, so the pack sees the same thing offline and over gRPC.
"""

from dataclasses import dataclass, field
from typing import Any

import pulumi
from google.protobuf import json_format, struct_pb2

from .mock_engine import EchoMocks, Evaluation, RecordedResource

ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
# The engine's signatures (sdk/go/common/resource/properties.go): a secret is {SIG_KEY: SECRET_SIG, "value": ...}.
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


@dataclass(frozen=True)
class EngineResource:
    """One resource as the engine describes it to a policy pack."""

    urn: str
    type: str
    name: str
    parent: str | None
    properties: dict[str, Any]
    """Wire form (see the module docstring); `struct()` is the protobuf message."""
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    dependencies: list[str] = field(default_factory=list)

    def struct(self) -> struct_pb2.Struct:
        message = struct_pb2.Struct()
        message.update(self.properties)
        return message

    def received(self) -> dict[str, Any]:
        """The properties as the pack's server reads them back (`MessageToDict` of the Struct: numbers as floats)."""
        return json_format.MessageToDict(self.struct())


def _wire(value: Any, secret_paths: frozenset[str], path: str) -> Any:
    """Recorded (plain) values to the wire form: secrets wrapped at their paths, None (unknown) as the sentinel."""
    if path in secret_paths:
        return {SIG_KEY: SECRET_SIG, "value": _wire(value, frozenset(), path)}
    if value is None:
        return UNKNOWN
    if isinstance(value, dict):
        return {k: _wire(v, secret_paths, f"{path}.{k}" if path else k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wire(v, secret_paths, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _parent(evaluation: Evaluation, resource: RecordedResource) -> str | None:
    return resource.parent or evaluation.root_urn or None


def _root(evaluation: Evaluation, properties: dict[str, Any]) -> EngineResource:
    name = evaluation.root_urn.rsplit("::", 1)[-1] if evaluation.root_urn else f"cryb-db-{evaluation.stack}"
    return EngineResource(evaluation.root_urn, ROOT_STACK_TYPE, name, None, properties)


def analyzed_resources(evaluation: Evaluation) -> list[EngineResource]:
    """What `Analyze` gets, one request per resource: the stack resource (no inputs), then every resource's inputs."""
    resources = [_root(evaluation, {})] if evaluation.root_urn else []
    for r in evaluation.resources:
        resources.append(
            EngineResource(
                r.urn,
                r.type,
                r.name,
                _parent(evaluation, r),
                _wire(r.inputs, frozenset(r.secret_paths), ""),
                dict(r.property_dependencies),
            )
        )
    return resources


def resource_outputs(resource: RecordedResource, mocks: EchoMocks) -> tuple[dict[str, Any], list[str]]:
    """The resource's state after the step, plain (None: unknown) with its secret paths: a custom resource's is what
    the mocks return (inputs plus computed ids, names and ARNs; unknown in a first preview), a component's what it
    registered."""
    if not resource.custom:
        if resource.registered_outputs is not None:
            return dict(resource.registered_outputs), list(resource.registered_secret_paths)
        return dict(resource.inputs), list(resource.secret_paths)
    args = pulumi.runtime.MockResourceArgs(
        resource.type, resource.name, dict(resource.inputs), provider=resource.provider, custom=True
    )
    _, state = mocks.new_resource(args)
    state = {k: (None if v == UNKNOWN else v) for k, v in state.items()}
    state["id"] = resource.id  # None (unknown) in a first preview: nothing is created yet
    return state, list(resource.secret_paths)


def stack_resources(evaluation: Evaluation) -> list[EngineResource]:
    """What `AnalyzeStack` gets: every resource's outputs, the stack resource's being the stack's exports."""
    mocks = EchoMocks(evaluation.config.get("aws:region", "us-east-1"), evaluation.first_preview)
    # Providers first: a resource's ARN names its provider's region, and the record may list a provider after its
    # first resource.
    for provider in (r for r in evaluation.resources if r.type.startswith("pulumi:providers:")):
        resource_outputs(provider, mocks)
    resources: list[EngineResource] = []
    if evaluation.root_urn:
        exports = {
            key: (
                {SIG_KEY: SECRET_SIG, "value": _wire(v, frozenset(), "")}
                if key in evaluation.secret_outputs
                else _wire(v, frozenset(), "")
            )
            for key, v in evaluation.outputs.items()
        }
        resources.append(_root(evaluation, exports))
    for r in evaluation.resources:
        outputs, secret_paths = resource_outputs(r, mocks)
        resources.append(
            EngineResource(
                r.urn,
                r.type,
                r.name,
                _parent(evaluation, r),
                _wire(outputs, frozenset(secret_paths), ""),
                dict(r.property_dependencies),
                sorted({urn for urns in r.property_dependencies.values() for urn in urns}),
            )
        )
    return resources
