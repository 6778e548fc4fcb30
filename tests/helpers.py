"""Helpers shared by the tests: evaluate a stack, or a stack with config overrides, under the mock engine."""

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.preview import mock_engine
from scripts.preview.mock_engine import Evaluation, evaluate
from scripts.preview.stack_files import stack_file_path


def stack_document(stack: str) -> dict[str, Any]:
    return yaml.safe_load(stack_file_path(stack).read_text())


def write_config(tmp_path: Path, stack: str, overrides: dict[str, Any], drop: tuple[str, ...] = ()) -> Path:
    """A copy of Pulumi.<stack>.yaml with top-level `config:` keys replaced (or dropped), for negative tests."""
    document = copy.deepcopy(stack_document(stack))
    document["config"].update(overrides)
    for key in drop:
        document["config"].pop(key, None)
    path = tmp_path / f"Pulumi.{stack}-variant.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def evaluate_with(tmp_path: Path, stack: str, overrides: dict[str, Any]) -> Evaluation:
    return evaluate(stack, write_config(tmp_path, stack, overrides))


# The smallest `cryb-db:selfhosted` a prod config may have: prod requires the TimescaleDB analytics cluster.
PROD_SELFHOSTED = (
    '{"imageSsmParameter": "/cryb-db/images/selfhosted-postgres", "clusters": {"analytics": {"timescaledb": true}}}'
)


class OptionsMonitor(mock_engine.RecordingMonitor):
    """Also keeps each resource's ignoreChanges (the engine's names), which RecordedResource does not."""

    last: "OptionsMonitor | None" = None

    def __init__(self, mock: mock_engine.EchoMocks):
        super().__init__(mock)
        self.ignore_changes: dict[str, list[str]] = {}
        OptionsMonitor.last = self

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        self.ignore_changes[request.name] = list(request.ignoreChanges)
        return response


def evaluate_with_ignore_changes(stack: str, config: Path | None = None) -> tuple[Evaluation, dict[str, list[str]]]:
    """The stack's evaluation and every resource's ignoreChanges, by logical name."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mock_engine, "RecordingMonitor", OptionsMonitor)
        evaluation = evaluate(stack, config)
    assert OptionsMonitor.last is not None
    return evaluation, OptionsMonitor.last.ignore_changes


def without_standby(evaluation: Evaluation) -> Evaluation:
    """The stack without its warm standby in the DR region (the DR network, its alert topics and the RDS standbys:
    tests/components/dr covers them), for tests about the primary region's components."""
    standby = {f"cryb-{evaluation.stack}-{suffix}" for suffix in ("dr", "dr-alerts", "pg-dr", "standby-keys")}

    def of_standby(resource: mock_engine.RecordedResource) -> bool:
        return resource.name in standby or any(a.name in standby for a in evaluation.ancestors(resource))

    kept = [r for r in evaluation.resources if not of_standby(r)]
    outputs = {k: v for k, v in evaluation.outputs.items() if k != "dr"}
    view = dataclasses.replace(evaluation, resources=kept, outputs=outputs)
    _WHOLE[id(view)] = (view, evaluation)
    return view


_WHOLE: dict[int, tuple[Evaluation, Evaluation]] = {}


def whole_stack(evaluation: Evaluation) -> Evaluation:
    """The whole stack behind a `without_standby` view (the policy pack judges the whole graph)."""
    view, whole = _WHOLE.get(id(evaluation), (None, evaluation))
    return whole if view is evaluation else evaluation
