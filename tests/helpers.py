"""Helpers shared by the tests: evaluate a stack, or a stack with config overrides, under the mock engine."""

import copy
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
