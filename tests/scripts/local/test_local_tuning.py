"""The local platform's PostgreSQL tuning: the shared tuning function for each node's share, applied to the rendered
patroni.yml of the user data (and nothing else of it)."""

from __future__ import annotations

import pytest
import yaml

from components.postgres.tuning import machine_size, parameters_for
from scripts.local.stack import evaluate_local
from scripts.local.tuning import PATRONI_FILE, SCALED, local_parameters, node_budget, retune_user_data
from scripts.sandbox.preview import node_specs
from scripts.sandbox.userdata import decode_user_data, parse_cloud_config


def test_the_budget_is_split_over_the_postgres_nodes() -> None:
    assert node_budget(3, 4096, 2).memory_mib == 682
    assert node_budget(1, 4096, 2).memory_mib == 2048 and node_budget(1, 4096, 2).vcpu == 2
    with pytest.raises(ValueError, match="postgres_nodes = 0"):
        node_budget(0)


def test_the_parameters_are_the_tuning_function_s_for_the_share() -> None:
    parameters = local_parameters(node_budget(3, 4096, 2))
    assert set(parameters) == set(SCALED)
    assert int(parameters["shared_buffers"]) * 8 == 682 * 1024 // 4  # 25 % of the share, in 8 kB pages
    assert int(parameters["effective_cache_size"]) * 8 == 682 * 1024 * 3 // 4
    same = {p.name: p.value for p in parameters_for(machine_size("x", 1, 682))}
    assert all(same[name] == value for name, value in parameters.items())
    with pytest.raises(ValueError, match="at least 1 vCPU and 256 MiB"):
        machine_size("tiny", 1, 100)


def test_retuning_changes_only_the_bootstrap_parameters_of_patroni_yml() -> None:
    evaluation = evaluate_local("dev")
    spec = node_specs(evaluation, evaluation.outputs["postgres"]["shards"][0]["name"])[0]
    parameters = local_parameters(node_budget(3, 4096, 2))
    before = parse_cloud_config(decode_user_data(spec.user_data))
    after = parse_cloud_config(decode_user_data(retune_user_data(spec.user_data, parameters, "a label")))
    assert after.runcmd == before.runcmd
    assert [(f.path, f.content) for f in after.files if f.path != PATRONI_FILE] == [
        (f.path, f.content) for f in before.files if f.path != PATRONI_FILE
    ]
    old, new = (yaml.safe_load(c.file(PATRONI_FILE).content) for c in (before, after))
    old_parameters = old["bootstrap"]["dcs"]["postgresql"].pop("parameters")
    new_parameters = new["bootstrap"]["dcs"]["postgresql"].pop("parameters")
    assert new == old
    assert new_parameters == {**old_parameters, **parameters} and new_parameters != old_parameters
    assert "retuned by scripts/local/tuning.py for the local platform: a label" in after.file(PATRONI_FILE).content


def test_retuning_a_user_data_without_patroni_fails_naming_the_file() -> None:
    evaluation = evaluate_local("dev")
    cache_template = next(r for r in evaluation.resources if r.type.endswith("LaunchTemplate") and "cache" in r.name)
    with pytest.raises(ValueError, match=r"patroni\.yml"):
        retune_user_data(cache_template.inputs["userData"], {"shared_buffers": "1"}, "x")
