"""What made the offline preview faster changes nothing it reports (docs/benchmarks.md#offline-preview-at-scale).

- The CLI process collects no garbage and ends with `os._exit`: its JSON document for dev and prod equals the
  document built in this (collecting) test process from the same evaluation, resources, outputs, policy report and
  cost estimate alike.
- `data-stores-have-alarms` finds each store's alarms through indexes: on the recorded graphs of prod and of a
  self-hosted prod (cache nodes, database node groups), every store is watched by exactly the alarms the pairwise
  check (every store x every alarm, as the rule did before) finds.
"""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_policy import StackValidationArgs

from policies.rules.graph import Stack
from policies.rules.props import UNKNOWN
from policies.rules.resource import Resource
from policies.rules.stack import (
    AUTOSCALING_GROUP,
    METRIC_ALARM,
    WATCHED,
    _AlarmIndex,  # pyright: ignore[reportPrivateUsage]
    _is_database_node,  # pyright: ignore[reportPrivateUsage]
    _metrics,  # pyright: ignore[reportPrivateUsage]
)
from scripts import PROJECT_DIR
from scripts.bench.preview_sweep import SweepPoint, point_config
from scripts.cost.render import cost_section
from scripts.preview.command import _cost  # pyright: ignore[reportPrivateUsage]
from scripts.preview.engine_view import stack_resources
from scripts.preview.mock_engine import Evaluation, evaluate
from scripts.preview.policy_runner import _policy_resources  # pyright: ignore[reportPrivateUsage]
from scripts.preview.render import policy_report, write_json
from tests.helpers import evaluate_with


def cli_document(stack: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "scripts", "preview", "--stack", stack, "--json"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_cli_document_is_the_preview_built_in_a_collecting_process(each_stack: Evaluation) -> None:
    assert __import__("gc").isenabled()  # this process collects; the CLI does not
    estimate, compared = _cost(each_stack.stack, each_stack, None)
    in_process = json.loads(write_json(each_stack, policy_report(each_stack), cost=cost_section(estimate, compared)))
    from_cli = cli_document(each_stack.stack)
    assert len(from_cli["resources"]) == len(each_stack.resources) > 100
    assert from_cli == in_process


def pairwise_watching(
    alarms: list[Resource], store: Resource, names: set[str], dimension_names: tuple[str, ...]
) -> set[int] | None:
    """The rule's check before the index: every alarm against the store, in order, stopping at an unknown one."""
    found: set[int] = set()
    for index, alarm in enumerate(alarms):
        dependencies = {u for urns in alarm.property_dependencies.values() for u in urns}
        if store.urn in dependencies:
            found.add(index)
            continue
        unknown = watched = False
        for _, dimensions in _metrics(alarm):
            for key in dimension_names:
                value = dimensions.get(key)
                if value is UNKNOWN:
                    unknown = True
                elif isinstance(value, str) and any(value == n or value.startswith(f"{n}-") for n in names):
                    watched = True
        if watched:
            found.add(index)
        elif unknown:
            return None
    return found


def stack_graph(evaluation: Evaluation) -> Stack:
    return Stack.from_args(StackValidationArgs(_policy_resources(stack_resources(evaluation)), {}))


@pytest.fixture(scope="module")
def selfhosted_prod(tmp_path_factory: pytest.TempPathFactory) -> Evaluation:
    """prod with self-hosted shards and cache nodes: database node groups and cache nodes among the stores."""
    base = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())
    document = point_config(base, SweepPoint(4, None, postgres_engine="ec2", cache_engine="ec2"))
    return evaluate_with(Path(tmp_path_factory.mktemp("selfhosted")), "prod", document["config"])


@pytest.fixture(scope="module")
def prod_first_preview() -> Evaluation:
    """prod as its first `pulumi preview`: alarm dimensions computed from new resources are unknown."""
    return evaluate("prod", first_preview=True)


@pytest.mark.parametrize("which", ["prod", "selfhosted_prod", "prod_first_preview"])
def test_the_alarm_index_finds_what_the_pairwise_check_finds(which: str, request: pytest.FixtureRequest) -> None:
    stack = stack_graph(request.getfixturevalue(which))
    alarms = stack.of_type(METRIC_ALARM)
    index = _AlarmIndex(alarms)
    answers: list[set[int] | None] = []
    for type_token, (_, name_keys, dimension_names) in WATCHED.items():
        for store in stack.of_type(type_token):
            if type_token == AUTOSCALING_GROUP and not _is_database_node(store):
                continue
            names = {v for k in name_keys if isinstance(v := store.get(k), str)}
            names |= {v for v in (store.get("id"),) if isinstance(v, str)}
            expected = pairwise_watching(alarms, store, names, dimension_names)
            assert index.watching(store, names, dimension_names) == expected, store.urn
            answers.append(expected)
    assert len(answers) >= 8  # prod: 4 shards, their replicas and standbys, the cache; self-hosted: node groups
    if which != "prod_first_preview":
        assert all(answers), "a store without alarms: the comparison would show little"
