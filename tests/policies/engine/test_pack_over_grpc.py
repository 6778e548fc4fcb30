"""The policy pack as `pulumi preview --policy-pack policies` runs it (tests/servers/policy_analyzer.py: the pack's
virtualenv python, `-u -m pulumi.policy <engine> <pack dir>`, then the CLI's gRPC calls), on the recorded graphs of
both stacks, of the misconfigured stack files and of the misconfigured prod graphs, each as previewed against an
existing stack (known outputs) and as the first preview of a new stack (new resources' ids and computed outputs
unknown): its diagnostics must equal the offline runner's violations, message for message."""

import copy
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from policies.rules import all_rules
from scripts.preview.engine_view import analyzed_resources
from scripts.preview.mock_engine import Evaluation, RecordedResource, evaluate
from scripts.preview.policy_runner import POLICY_CONFIG_DIR, PolicyConfigError, run_policies
from tests.policies.test_stacks import KUBERNETES_EXAMPLE, MISCONFIGURATIONS, WITHOUT_SHARD2_ALERTS
from tests.servers.policy_analyzer import PACK_DIR, PackSession, engine_policy_config, policy_pack

RULES = {rule.name: rule for rule in all_rules()}
MISCONFIGURED_FILES = Path(__file__).parents[1] / "misconfigured"
ORPHAN_KEY = "cryb-prod-orphan-key"
EXPORTED_KEY = "cryb-prod-exported-key"


def mandatory(violations: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {(v["policy"], v["name"]) for v in violations if v["level"] == "mandatory"}


def ordered(violations: list[dict[str, str]]) -> list[dict[str, str]]:
    return sorted(violations, key=lambda v: json.dumps(v, sort_keys=True))


def previewed_as_prod() -> list[Path]:
    """The misconfigured stack files the config model accepts, so the pack is what refuses them (exit 3)."""
    return sorted(p for p in MISCONFIGURED_FILES.glob("*.yaml") if "# exit: 3" in p.read_text())


@pytest.fixture(scope="module")
def graphs(prod: Evaluation, dev: Evaluation) -> dict[str, tuple[Evaluation, str]]:
    """Every evaluated graph with the policy config it is previewed under."""
    found: dict[str, tuple[Evaluation, str]] = {
        "prod": (prod, "prod"),
        "dev": (dev, "dev"),
        "prod first preview": (evaluate("prod", first_preview=True), "prod"),
        "dev first preview": (evaluate("dev", first_preview=True), "dev"),
    }
    for path in previewed_as_prod():
        found[path.stem] = (evaluate("prod", path), "prod")
        found[f"{path.stem} first preview"] = (evaluate("prod", path, first_preview=True), "prod")
    return found


@pytest.fixture(scope="module")
def packs(tmp_path_factory: pytest.TempPathFactory, prod: Evaluation, dev: Evaluation) -> Iterator[dict[str, Any]]:
    """One pack process per stack, started as the CLI starts it (stack name and config in its environment)."""
    tmp = tmp_path_factory.mktemp("packs")
    with policy_pack(tmp, "prod", prod.config) as for_prod, policy_pack(tmp, "dev", dev.config) as for_dev:
        yield {"prod": for_prod, "dev": for_dev}


def over_grpc(pack: PackSession, evaluation: Evaluation, policy_config: str) -> list[dict[str, str]]:
    pack.configure_file(POLICY_CONFIG_DIR / f"{policy_config}.json")
    return pack.violations(evaluation)


def offline(evaluation: Evaluation, policy_config: str) -> list[dict[str, str]]:
    return run_policies(evaluation, POLICY_CONFIG_DIR / f"{policy_config}.json")


def test_the_pack_serves_every_rule_as_declared(packs: dict[str, PackSession]) -> None:
    info = packs["prod"].info
    assert info.name == "cryb-db-baseline" and info.supportsConfig
    served = {p.name: p for p in info.policies}
    assert set(served) == set(RULES)
    for name, rule in RULES.items():
        schema = json_format.MessageToDict(served[name].configSchema.properties)
        assert schema == {k: dict(v) for k, v in rule.config_schema.items()}, name  # numbers arrive as floats
        assert list(served[name].tags) == list(rule.controls), name


SHIPPED = ("prod", "dev", "prod first preview", "dev first preview")


@pytest.mark.parametrize(
    "graph", [*SHIPPED, *[name for p in previewed_as_prod() for name in (p.stem, f"{p.stem} first preview")]]
)
def test_diagnostics_over_grpc_equal_the_offline_report(
    graph: str, graphs: dict[str, tuple[Evaluation, str]], packs: dict[str, PackSession]
) -> None:
    evaluation, policy_config = graphs[graph]
    expected = offline(evaluation, policy_config)
    assert ordered(over_grpc(packs[evaluation.stack], evaluation, policy_config)) == ordered(expected)
    if graph in SHIPPED:  # the shipped stacks under their own policy config
        assert mandatory(expected) == set()
    else:
        assert mandatory(expected), "a misconfigured graph must fail the preview"
    assert packs[evaluation.stack].engine.logs == []


def test_first_previews_see_unknowns_where_the_shipped_preview_sees_values(
    graphs: dict[str, tuple[Evaluation, str]],
) -> None:
    """The first-preview graphs are what a first preview sends: values computed from new resources are unknown."""
    shipped, first = graphs["prod"][0], graphs["prod first preview"][0]
    instance = next(r for r in first.resources if r.name == "cryb-prod-pg-00")  # a shard writer (not a DR standby)
    assert instance.inputs["kmsKeyId"] is None  # the data key's ARN, unknown before the key exists
    key = next(r for r in first.resources if r.name == "cryb-prod-keys-data")
    assert key.urn in instance.property_dependencies["kmsKeyId"]
    assert shipped.named(instance.name).inputs["kmsKeyId"].startswith("arn:aws:kms:")
    assert first.outputs["kmsKeyArns"] is None and isinstance(shipped.outputs["kmsKeyArns"], dict)


# ---- misconfigured graphs


def with_orphan_keys(evaluation: Evaluation) -> Evaluation:
    """Add two keys nothing uses (copies of the logs key); the stack exports the second one's ARN."""
    model = evaluation.named(f"cryb-{evaluation.stack}-keys-logs")
    keys = [
        RecordedResource(
            f"urn:pulumi:{evaluation.stack}::cryb-db::aws:kms/key:Key::{name}",
            model.type,
            name,
            None,
            copy.deepcopy(model.inputs),
            model.id and f"{name}-id",
            True,
        )
        for name in (ORPHAN_KEY, EXPORTED_KEY)
    ]
    outputs = dict(evaluation.outputs)
    if isinstance(outputs.get("kmsKeyArns"), dict):  # unknown (None) in a first preview
        arn = f"arn:aws:kms:us-east-1:123456789012:key/{EXPORTED_KEY}"
        outputs["kmsKeyArns"] = {**outputs["kmsKeyArns"], "orphan": arn}
    return replace(evaluation, resources=[*evaluation.resources, *keys], outputs=outputs)


@pytest.mark.parametrize("graph", ["prod", "prod first preview"])
def test_kms_key_in_use_fires_under_the_engine(
    graph: str, graphs: dict[str, tuple[Evaluation, str]], packs: dict[str, PackSession]
) -> None:
    """A key nothing uses is reported over gRPC (the stack resource's exports once made the rule 'cannot tell'), in
    a first preview too; exporting a key's ARN hands it out but encrypts nothing (docs/policies.md)."""
    evaluation = with_orphan_keys(graphs[graph][0])
    reported = over_grpc(packs["prod"], evaluation, "prod")
    assert mandatory(reported) == {("kms-key-in-use", ORPHAN_KEY), ("kms-key-in-use", EXPORTED_KEY)}
    assert ordered(reported) == ordered(offline(evaluation, "prod"))


def touched(mutate: Callable[[Evaluation], Evaluation], base: Evaluation) -> set[str]:
    """Names of the resources a misconfiguration adds, removes or changes."""
    before = {r.name: r for r in base.resources}
    after = {r.name: r for r in mutate(base).resources}
    return {n for n in before.keys() | after.keys() if before.get(n) != after.get(n)}


def combined_misconfigurations(base: Evaluation) -> list[tuple[list[str], Evaluation, set[tuple[str, str]]]]:
    """The graph-level misconfigurations of tests/policies/test_stacks.py packed into a few graphs, each combining
    misconfigurations that touch different resources and report on different ones, with the union of their expected
    violations (each one's own is asserted offline there). A few AnalyzeStack calls instead of one per case."""
    groups: list[tuple[list[str], set[str], set[tuple[str, str]]]] = []
    for name, (mutate, expected) in MISCONFIGURATIONS.items():
        names = touched(mutate, base) | {resource for _, resource in expected}
        group = next((g for g in groups if not g[1] & names), None)
        if group is None:
            groups.append(([name], names, set(expected)))
        else:
            group[0].append(name)
            group[1].update(names)
            group[2].update(expected)
    combined = []
    for names, _, expected in groups:
        evaluation = base
        for name in names:
            evaluation = MISCONFIGURATIONS[name][0](evaluation)
        combined.append((names, evaluation, expected))
    return combined


def test_misconfigured_prod_graphs_report_the_same_over_grpc(
    graphs: dict[str, tuple[Evaluation, str]], packs: dict[str, PackSession]
) -> None:
    """Every graph-level misconfiguration of tests/policies/test_stacks.py, sent to the pack as the engine would."""
    combined = combined_misconfigurations(graphs["prod"][0])
    assert sum(len(names) for names, _, _ in combined) == len(MISCONFIGURATIONS)
    packs["prod"].configure_file(POLICY_CONFIG_DIR / "prod.json")
    for names, evaluation, expected in combined:
        reported = packs["prod"].violations(evaluation)
        assert mandatory(reported) == expected, names
        assert ordered(reported) == ordered(offline(evaluation, "prod")), names


@pytest.mark.parametrize("first_preview", [False, True], ids=["existing stack", "first preview"])
def test_a_cloudnativepg_cluster_without_its_alerts_is_refused_over_grpc(
    first_preview: bool, packs: dict[str, PackSession]
) -> None:
    """The example stack with every store on the cluster passes; without shard2's PrometheusRule the pack refuses
    shard2's Cluster, as the offline runner does (docs/policies.md)."""
    example = evaluate("prod", KUBERNETES_EXAMPLE, first_preview=first_preview)
    assert mandatory(over_grpc(packs["prod"], example, "prod")) == set()
    broken = WITHOUT_SHARD2_ALERTS(example)
    reported = over_grpc(packs["prod"], broken, "prod")
    assert mandatory(reported) == {("data-stores-have-alarms", "cryb-prod-data-shard2-cluster")}
    assert ordered(reported) == ordered(offline(broken, "prod"))


# ---- policy config


def configure_error(pack: PackSession, document: dict[str, Any]) -> str:
    with pytest.raises(grpc.RpcError) as failure:
        pack.configure(engine_policy_config(document, pack.info))
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # pyright: ignore[reportAttributeAccessIssue]
    return str(failure.value.details())  # pyright: ignore[reportAttributeAccessIssue]


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"rds-multiaz": "advisory"}, "rds-multiaz: unknown policy (did you mean 'rds-multi-az'?)"),
        (
            {"rds-backup-retention": {"minRetention": 7}},
            "rds-backup-retention.minRetention: unknown setting (did you mean 'minRetentionDays'?) "
            "(allowed: minRetentionDays)",
        ),
        ({"all": {"enforcementLevel": "advisory", "minRetentionDays": 7}}, "all.minRetentionDays: `all` sets only"),
    ],
)
def test_unknown_policies_and_settings_are_refused_by_the_pack_and_offline(
    document: dict[str, Any], problem: str, packs: dict[str, PackSession], tmp_path: Path
) -> None:
    assert problem in configure_error(packs["prod"], document)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(document))
    with pytest.raises(PolicyConfigError, match=re.escape(problem)):
        run_policies(evaluate_nothing(), path)
    packs["prod"].configure_file(POLICY_CONFIG_DIR / "prod.json")  # and a valid config is accepted again


def evaluate_nothing() -> Evaluation:
    return Evaluation("prod", [], {}, set(), {})


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        # What the CLI's JSON-schema check of each policy's settings refuses (type, range, enum).
        (
            {"rds-backup-retention": {"minRetentionDays": "7"}},
            "rds-backup-retention.minRetentionDays: '7' is not of type",
        ),
        (
            {"rds-backup-retention": {"minRetentionDays": 7.5}},
            "rds-backup-retention.minRetentionDays: 7.5 is not of type",
        ),
        (
            {"kms-key-deletion-window": {"minDeletionWindowDays": 5}},
            "kms-key-deletion-window.minDeletionWindowDays: 5 is less than the minimum of 7",
        ),
        (
            {"rds-backup-retention": {"minRetentionDays": 36}},
            "rds-backup-retention.minRetentionDays: 36 is greater than the maximum of 35",
        ),
        (
            {"rds-enhanced-monitoring": {"maxIntervalSeconds": 45}},
            "rds-enhanced-monitoring.maxIntervalSeconds: 45 is not one of [1, 5, 10, 15, 30, 60]",
        ),
        (
            {"required-tags": {"requiredTags": ["owner", 3]}},
            "required-tags.requiredTags.1: 3 is not of type 'string'",
        ),
        (
            {"rds-multi-az": {"enforcementLevel": "block"}},
            "rds-multi-az.enforcementLevel: 'block' is not an enforcement",
        ),
        ({"rds-multi-az": True}, "rds-multi-az: true must be an enforcement level or an object of settings"),
    ],
)
def test_the_offline_runner_validates_settings_as_the_cli_does(
    document: dict[str, Any], problem: str, tmp_path: Path
) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(document))
    with pytest.raises(PolicyConfigError, match=re.escape(problem)):
        run_policies(evaluate_nothing(), path)


def test_whole_numbers_written_as_floats_are_integers_as_for_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"rds-backup-retention": {"minRetentionDays": 14.0}}))
    assert run_policies(evaluate_nothing(), path) == []


# ---- the pack's environment


def test_required_tags_fails_the_preview_when_the_provider_sdk_is_missing(tmp_path: Path, prod: Evaluation) -> None:
    """A pack environment without pulumi_aws must not pass untagged resources: Analyze fails, and so the preview."""
    broken = tmp_path / "site"
    (broken / "pulumi_aws").mkdir(parents=True)
    (broken / "pulumi_aws" / "__init__.py").write_text("raise ImportError('pulumi_aws is not installed')\n")
    vpc = next(r for r in analyzed_resources(prod) if r.type == "aws:ec2/vpc:Vpc")
    with policy_pack(tmp_path, "prod", prod.config, python_path=broken) as pack:
        pack.configure_file(POLICY_CONFIG_DIR / "prod.json")
        with pytest.raises(grpc.RpcError) as failure:
            pack.analyze(vpc)
    details = str(failure.value.details())  # pyright: ignore[reportAttributeAccessIssue]
    assert "required-tags: cannot import pulumi_aws.ec2 for aws:ec2/vpc:Vpc" in details


def test_the_pack_virtualenv_holds_its_pinned_requirements() -> None:
    """`pulumi preview --policy-pack policies` runs the pack with policies/.venv and installs nothing into it:
    `make setup` (.ci/setup.sh) creates it from policies/requirements.txt, isolated from the system site-packages."""
    venv = PACK_DIR / ".venv"
    assert (venv / "bin" / "python").exists(), "policies/.venv is missing: run `make setup` (docs/policies.md)"
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    pins = dict(line.split("==") for line in (PACK_DIR / "requirements.txt").read_text().splitlines() if "==" in line)
    script = "import importlib.metadata as m, json, sys; print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
    installed = json.loads(
        subprocess.run(
            [venv / "bin" / "python", "-c", script, *pins], check=True, capture_output=True, text=True
        ).stdout
    )
    assert installed == pins
    ignored = subprocess.run(["git", "check-ignore", "-q", str(venv)], cwd=PACK_DIR, check=False)
    assert ignored.returncode == 0, "policies/.venv must be git-ignored"


def test_the_preview_refuses_a_bad_policy_config_with_exit_2(
    dev: Evaluation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from scripts.__main__ import app
    from scripts.preview import mock_engine, policy_runner

    path = tmp_path / "dev.json"
    path.write_text(json.dumps({"all": "mandatory", "kms-key-deletion-window": {"minDeletionWindowDays": 5}}))
    monkeypatch.setattr(mock_engine, "evaluate", lambda stack, config=None: dev)
    monkeypatch.setattr(policy_runner, "policy_config_file", lambda stack: path)
    result = CliRunner().invoke(app, ["preview", "--stack", "dev"], env={"COLUMNS": "400"})
    assert result.exit_code == 2, result.output
    assert "kms-key-deletion-window.minDeletionWindowDays: 5 is less than the minimum of 7" in result.output


def test_unknown_inputs_get_no_verdict_and_no_crash_diagnostic(packs: dict[str, PackSession]) -> None:
    """Values a preview does not know yet arrive as the engine's sentinels: the rules read them as "cannot tell" (no
    violation, and no "can't run policy ... during preview" diagnostic from the SDK), and still judge known values."""
    from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE, UNKNOWN_STRING_VALUE

    from scripts.preview.engine_view import EngineResource

    packs["prod"].configure_file(POLICY_CONFIG_DIR / "prod.json")
    tags = {
        "environment": "prod",
        "service": "cryb-db",
        "owner": "platform-team",
        "data-classification": "confidential",
    }
    props = {
        "engine": "postgres",
        "publiclyAccessible": True,
        "storageEncrypted": UNKNOWN_BOOLEAN_VALUE,
        "kmsKeyId": UNKNOWN_STRING_VALUE,
        "tags": tags,
    }
    instance = EngineResource(
        "urn:pulumi:prod::cryb-db::aws:rds/instance:Instance::db", "aws:rds/instance:Instance", "db", None, props
    )
    diagnostics = [d for d, _ in packs["prod"].analyze(instance)]
    reported = {d.policyName for d in diagnostics}
    assert "rds-not-publicly-accessible" in reported
    assert not {"rds-storage-encrypted", "required-tags"} & reported
    assert all(d.message.startswith(d.description + "\n") for d in diagnostics)  # no SDK "can't run policy" notice


def test_levels_and_settings_reach_the_pack_as_they_reach_the_offline_rules(
    dev: Evaluation, packs: dict[str, PackSession], tmp_path: Path
) -> None:
    """`all`, `disabled`, `remediate` (reported as mandatory) and a setting, through the CLI's reconciliation and
    Configure, give the same report as the offline runner's reading of the same file."""
    path = tmp_path / "config.json"
    document = {
        "all": "advisory",
        "ec2-vpc-interface-endpoints": "disabled",
        "cloudwatch-log-group-retention": {"enforcementLevel": "remediate", "minRetentionDays": 3653},
    }
    path.write_text(json.dumps(document))
    packs["dev"].configure_file(path)
    reported = packs["dev"].violations(dev)
    assert ordered(reported) == ordered(run_policies(dev, path))
    assert not any(v["policy"] == "ec2-vpc-interface-endpoints" for v in reported)
    assert {v["level"] for v in reported if v["policy"] == "cloudwatch-log-group-retention"} == {"mandatory"}
    assert {v["level"] for v in reported if v["policy"] != "cloudwatch-log-group-retention"} == {"advisory"}
