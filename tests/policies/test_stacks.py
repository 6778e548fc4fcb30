"""The policy pack on the graphs the real program registers: the shipped stacks are clean, each
misconfiguration is reported as exactly the expected violations, policy configs are valid, and a mandatory
violation makes the offline preview exit 3."""

import ast
import copy
import json
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

import policies.rules as rules_package
from policies.rules import RULE_MODULES, all_policies, all_rules
from policies.rules.base import RuleSet
from scripts import PROJECT_DIR
from scripts.__main__ import app
from scripts.preview import mock_engine
from scripts.preview.command import EXIT_POLICY_VIOLATION
from scripts.preview.mock_engine import Evaluation, RecordedResource
from scripts.preview.policy_runner import POLICY_CONFIG_DIR, load_policy_config, policy_config_file, run_policies
from scripts.preview.render import policy_report
from tests.helpers import evaluate_with

RULES = {rule.name: rule for rule in all_rules()}
# Advisory by design: secret rotation (the kubernetes engines' credentials do not rotate yet; docs/policies.md).
ADVISORY_IN_PROD = {"secretsmanager-every-secret-rotates"}
# dev trades availability and in-VPC API endpoints for cost.
ADVISORY_IN_DEV = ADVISORY_IN_PROD | {
    "rds-multi-az",
    "rds-cluster-multi-az",
    "rds-deletion-protection",
    "elasticache-automatic-failover",
    "ec2-vpc-interface-endpoints",
    "s3-every-bucket-replicated",
    "dr-standby-per-shard",  # dev has no warm standby (cryb-db:dr.standby off)
}
TAGS = {"environment": "prod", "service": "cryb-db", "owner": "platform-team", "data-classification": "confidential"}
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/cryb-prod-keys-data"


def mandatory(violations: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {(v["policy"], v["name"]) for v in violations if v["level"] == "mandatory"}


def check(evaluation: Evaluation, policy_config: str = "prod") -> list[dict[str, str]]:
    return run_policies(evaluation, POLICY_CONFIG_DIR / f"{policy_config}.json")


# ---- the shipped stacks


def test_shipped_stacks_have_no_mandatory_violations(each_stack: Evaluation) -> None:
    violations = policy_report(each_stack)
    assert mandatory(violations) == set(), json.dumps(violations, indent=1)


def test_violations_name_the_resource_by_urn_and_carry_rule_metadata(dev: Evaluation) -> None:
    violations = policy_report(dev)
    assert violations, "dev is expected to have advisory findings (e.g. no interface endpoints)"
    urns = {r.urn for r in dev.resources}
    for v in violations:
        assert set(v) == {"policy", "level", "resource", "message", "controls", "severity", "type", "name"}
        assert v["level"] in ("mandatory", "advisory") and v["resource"] in urns
        assert v["controls"] == ", ".join(RULES[v["policy"]].controls)
        assert v["severity"] == RULES[v["policy"]].severity.value


def test_dev_relaxations_are_advisory_there_but_mandatory_under_prod_config(dev: Evaluation) -> None:
    relaxed = {(v["policy"], v["name"]) for v in policy_report(dev) if v["level"] == "advisory"}
    assert ("ec2-vpc-interface-endpoints", "cryb-dev-vpc") in relaxed
    strict = mandatory(check(dev, "prod"))
    assert ("ec2-vpc-interface-endpoints", "cryb-dev-vpc") in strict
    assert ("cloudwatch-log-group-retention", "cryb-dev-flow-logs") in strict  # 30 days < 365
    assert {p for p, n in strict if n.startswith("cryb-dev-keys")} == {"kms-key-deletion-window"}  # 7 < 30 days


# The pack's speed is part of `python -m scripts bench preview` (a benchmark, not a test).


# ---- misconfigurations: the prod graph with one thing wrong reports exactly that


def named(evaluation: Evaluation, name: str) -> RecordedResource:
    return evaluation.named(name)


def set_inputs(name: str, **changes: Any) -> Callable[[Evaluation], Evaluation]:
    """Replace (or, with `...`, remove) inputs of the resource `name`."""

    def mutate(evaluation: Evaluation) -> Evaluation:
        def change(r: RecordedResource) -> RecordedResource:
            if r.name != name:
                return r
            inputs = copy.deepcopy(r.inputs)
            for key, value in changes.items():
                if value is ...:
                    inputs.pop(key, None)
                else:
                    inputs[key] = value
            return replace(r, inputs=inputs)

        assert any(r.name == name for r in evaluation.resources), name
        return replace(evaluation, resources=[change(r) for r in evaluation.resources])

    return mutate


def edit_inputs(name: str, edit: Callable[[dict[str, Any]], None]) -> Callable[[Evaluation], Evaluation]:
    def mutate(evaluation: Evaluation) -> Evaluation:
        inputs = copy.deepcopy(named(evaluation, name).inputs)
        edit(inputs)
        return set_inputs(name, **inputs)(evaluation)

    return mutate


def add(*resources: tuple[str, str, dict[str, Any]]) -> Callable[[Evaluation], Evaluation]:
    """Add resources (type, name, inputs) at the top level of the stack."""

    def mutate(evaluation: Evaluation) -> Evaluation:
        added = [
            RecordedResource(
                urn=f"urn:pulumi:{evaluation.stack}::cryb-db::{type_token}::{name}",
                type=type_token,
                name=name,
                parent=None,
                inputs=inputs,
                id=f"{name}-id",
                custom=True,
            )
            for type_token, name, inputs in resources
        ]
        return replace(evaluation, resources=[*evaluation.resources, *added])

    return mutate


def remove(name: str) -> Callable[[Evaluation], Evaluation]:
    def mutate(evaluation: Evaluation) -> Evaluation:
        return replace(evaluation, resources=[r for r in evaluation.resources if r.name != name])

    return mutate


def set_parameter(name: str, value: str) -> Callable[[Evaluation], Evaluation]:
    def edit(inputs: dict[str, Any]) -> None:
        inputs["parameters"] = [{**p, "value": value} if p["name"] == name else p for p in inputs["parameters"]]

    return edit_inputs("cryb-prod-pg-params", edit)


def policy_document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


BUCKET = "cryb-prod-backups"
BUCKET_ID = f"{BUCKET}-id"
COMPLETE_BUCKET = (
    (
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        f"{BUCKET}-pab",
        {
            "bucket": BUCKET_ID,
            "blockPublicAcls": True,
            "blockPublicPolicy": True,
            "ignorePublicAcls": True,
            "restrictPublicBuckets": True,
        },
    ),
    (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        f"{BUCKET}-sse",
        {
            "bucket": BUCKET_ID,
            "rules": [
                {
                    "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN},
                    "bucketKeyEnabled": True,
                }
            ],
        },
    ),
    (
        "aws:s3/bucketVersioning:BucketVersioning",
        f"{BUCKET}-versioning",
        {"bucket": BUCKET_ID, "versioningConfiguration": {"status": "Enabled"}},
    ),
    (
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        f"{BUCKET}-lifecycle",
        {
            "bucket": BUCKET_ID,
            "rules": [
                {"id": "old-versions", "status": "Enabled", "noncurrentVersionExpiration": {"noncurrentDays": 35.0}}
            ],
        },
    ),
    (
        "aws:s3/bucketLogging:BucketLogging",
        f"{BUCKET}-logging",
        {"bucket": BUCKET_ID, "targetBucket": "cryb-prod-access-logs", "targetPrefix": "backups/"},
    ),
    (
        "aws:s3/bucketPolicy:BucketPolicy",
        f"{BUCKET}-policy",
        {
            "bucket": BUCKET_ID,
            "policy": policy_document(
                {
                    "Sid": "DenyPlaintext",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ),
        },
    ),
    (
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        f"{BUCKET}-ownership",
        {"bucket": BUCKET_ID, "rule": {"objectOwnership": "BucketOwnerEnforced"}},
    ),
    ("aws:s3/bucketNotification:BucketNotification", f"{BUCKET}-events", {"bucket": BUCKET_ID, "eventbridge": True}),
    (
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
        f"{BUCKET}-replication",
        {
            "bucket": BUCKET_ID,
            "role": "arn:aws:iam::123456789012:role/replication",
            "rules": [
                {"id": "dr", "status": "Enabled", "destination": {"bucket": "arn:aws:s3:::cryb-prod-backups-dr"}}
            ],
        },
    ),
)
CACHE = {
    "description": "cryb-db cache",
    "engine": "valkey",
    "engineVersion": "8.0",
    "replicationGroupId": "cryb-prod-cache-rg",
    "nodeType": "cache.r7g.large",
    "numCacheClusters": 2.0,
    "snapshotRetentionLimit": 7.0,
    "automaticFailoverEnabled": True,
    "multiAzEnabled": True,
    "atRestEncryptionEnabled": True,
    "kmsKeyId": KEY_ARN,
    "transitEncryptionEnabled": False,
    "userGroupIds": ["cryb-prod-cache-users"],
    "subnetGroupName": "cryb-prod-cache",
    "tags": TAGS,
}
INSTANCES = [f"cryb-prod-pg-0{i}" for i in range(4)]
MISCONFIGURATIONS: dict[str, tuple[Callable[[Evaluation], Evaluation], set[tuple[str, str]]]] = {
    "prod without Multi-AZ": (set_inputs("cryb-prod-pg-00", multiAz=False), {("rds-multi-az", "cryb-prod-pg-00")}),
    "storage not encrypted": (
        set_inputs("cryb-prod-pg-01", storageEncrypted=False),
        {("rds-storage-encrypted", "cryb-prod-pg-01")},
    ),
    "database publicly accessible": (
        set_inputs("cryb-prod-pg-02", publiclyAccessible=True),
        {("rds-not-publicly-accessible", "cryb-prod-pg-02")},
    ),
    "no deletion protection": (
        set_inputs("cryb-prod-pg-03", deletionProtection=False),
        {("rds-deletion-protection", "cryb-prod-pg-03")},
    ),
    "backups kept 3 days": (
        set_inputs("cryb-prod-pg-00", backupRetentionPeriod=3.0),
        {("rds-backup-retention", "cryb-prod-pg-00")},
    ),
    "default PostgreSQL port": (
        set_inputs("cryb-prod-pg-00", port=5432.0),
        {("rds-non-default-port", "cryb-prod-pg-00")},
    ),
    "plaintext connections allowed": (
        set_parameter("rds.force_ssl", "0"),
        {("rds-postgres-force-ssl", "cryb-prod-pg-params")},
    ),
    "TimescaleDB on RDS": (
        set_parameter("shared_preload_libraries", "pg_stat_statements,pgaudit,timescaledb"),
        {("timescaledb-self-hosted-only", "cryb-prod-pg-params")},
    ),
    "proxy without TLS": (
        set_inputs("cryb-prod-pg-00-proxy", requireTls=False),
        {("rds-proxy-requires-tls", "cryb-prod-pg-00-proxy")},
    ),
    "critical events subscription disabled": (
        set_inputs("cryb-prod-pg-instance-critical", enabled=False),
        {("rds-event-subscription-enabled", "cryb-prod-pg-instance-critical")},
    ),
    "security group open to the world": (
        add(
            (
                "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                "cryb-prod-postgres-from-world",
                {
                    "securityGroupId": "cryb-prod-postgres-sg-id",
                    "ipProtocol": "tcp",
                    "fromPort": 5433.0,
                    "toPort": 5433.0,
                    "cidrIpv4": "0.0.0.0/0",
                    "tags": TAGS,
                },
            )
        ),
        {("no-world-ingress", "cryb-prod-postgres-from-world")},
    ),
    "subnet assigns public IPs": (
        set_inputs("cryb-prod-app-a", mapPublicIpOnLaunch=True),
        {("ec2-subnet-no-auto-public-ip", "cryb-prod-app-a")},
    ),
    "data subnets routed through NAT": (
        add(
            (
                "aws:ec2/route:Route",
                "cryb-prod-data-default",
                {
                    "routeTableId": "cryb-prod-data-rt-id",
                    "destinationCidrBlock": "0.0.0.0/0",
                    "natGatewayId": "cryb-prod-nat-a-id",
                },
            )
        ),
        {("data-stores-in-data-subnets", f"cryb-prod-data-{az}") for az in "abc"},
    ),
    "DB subnet group reaches into the app tier": (
        edit_inputs("cryb-prod-db", lambda i: i["subnetIds"].append("cryb-prod-app-a-id")),
        {("data-stores-in-data-subnets", "cryb-prod-db")},
    ),
    "flow log records rejects only": (
        set_inputs("cryb-prod-flow-log", trafficType="REJECT"),
        {("ec2-flow-log-all-traffic", "cryb-prod-flow-log")},
    ),
    "VPC without flow log": (remove("cryb-prod-flow-log"), {("ec2-every-vpc-has-flow-logs", "cryb-prod-vpc")}),
    "default security group with a rule": (
        set_inputs("cryb-prod-default-sg", ingress=[{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "self": True}]),
        {("ec2-default-security-group-no-rules", "cryb-prod-default-sg")},
    ),
    "key rotation off": (
        set_inputs("cryb-prod-keys-data", enableKeyRotation=False),
        {("kms-key-rotation-enabled", "cryb-prod-keys-data")},
    ),
    "key policy open to everyone": (
        edit_inputs(
            "cryb-prod-alerts-key",
            lambda i: i.update(
                policy=policy_document(
                    {
                        "Sid": "Anyone",
                        "Effect": "Allow",
                        "Principal": {"AWS": "*"},
                        "Action": "kms:Decrypt",
                        "Resource": "*",
                    }
                )
            ),
        ),
        {("kms-key-policy-not-public", "cryb-prod-alerts-key")},
    ),
    "role may decrypt with every key": (
        set_inputs(
            "cryb-prod-flow-logs-write",
            policy=policy_document({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}),
        ),
        {("iam-no-kms-decrypt-on-all-keys", "cryb-prod-flow-logs-write")},
    ),
    "log group not encrypted": (
        set_inputs("cryb-prod-flow-logs", kmsKeyId=...),
        {("cloudwatch-log-group-encrypted", "cryb-prod-flow-logs")},
    ),
    "VPC without owner tag": (
        edit_inputs("cryb-prod-vpc", lambda i: i["tags"].pop("owner")),
        {("required-tags", "cryb-prod-vpc")},
    ),
    "cache without transit encryption": (
        add(("aws:elasticache/replicationGroup:ReplicationGroup", "cryb-prod-cache-rg", CACHE)),
        # A group added outside the Cache component also comes without its alarm set.
        {("elasticache-encrypted-in-transit", "cryb-prod-cache-rg"), ("data-stores-have-alarms", "cryb-prod-cache-rg")},
    ),
    "bucket without Object Lock": (
        add(("aws:s3/bucket:Bucket", BUCKET, {"bucket": BUCKET, "tags": TAGS}), *COMPLETE_BUCKET),
        {("s3-bucket-object-lock", BUCKET)},
    ),
    "bucket with no configuration": (
        add(("aws:s3/bucket:Bucket", BUCKET, {"bucket": BUCKET, "objectLockEnabled": True, "tags": TAGS})),
        {(name, BUCKET) for name in RULES if name.startswith("s3-every-bucket-")},
    ),
    "alarm that notifies nobody": (
        add(
            (
                "aws:cloudwatch/metricAlarm:MetricAlarm",
                "cryb-prod-pg-00-cpu",
                {
                    "metricName": "CPUUtilization",
                    "namespace": "AWS/RDS",
                    "threshold": 90.0,
                    "evaluationPeriods": 5.0,
                    "comparisonOperator": "GreaterThanThreshold",
                    "dimensions": {"DBInstanceIdentifier": "cryb-prod-pg-00"},
                    "alarmActions": [],
                    "tags": TAGS,
                },
            )
        ),
        {("cloudwatch-alarm-has-actions", "cryb-prod-pg-00-cpu")},
    ),
    "secret under the AWS-managed key": (
        add(
            ("aws:secretsmanager/secret:Secret", "cryb-prod-cache-auth", {"name": "cryb-prod-cache-auth", "tags": TAGS})
        ),
        {("secretsmanager-secret-encrypted-with-cmk", "cryb-prod-cache-auth")},
    ),
    "function deployed without code signing": (
        set_inputs("cryb-prod-cache-rotation-function", codeSigningConfigArn=...),
        {("lambda-code-signing-enforced", "cryb-prod-cache-rotation-function")},
    ),
    "code signing configuration that only warns": (
        set_inputs("cryb-prod-signing-config", policies={"untrustedArtifactOnDeployment": "Warn"}),
        {
            ("lambda-code-signing-enforced", "cryb-prod-alerts-forwarder"),
            ("lambda-code-signing-enforced", "cryb-prod-analytics-rotation-function"),
            ("lambda-code-signing-enforced", "cryb-prod-cache-rotation-function"),
        },
    ),
}


@pytest.mark.parametrize("misconfiguration", MISCONFIGURATIONS)
def test_each_misconfiguration_reports_exactly_its_violations(prod: Evaluation, misconfiguration: str) -> None:
    mutate, expected = MISCONFIGURATIONS[misconfiguration]
    assert mandatory(check(mutate(prod))) == expected


KUBERNETES_EXAMPLE = PROJECT_DIR / "docs" / "examples" / "Pulumi.prod-kubernetes.yaml"
# The data stores on the cluster without one store's alerts: the PrometheusRule of shard2 is not declared.
WITHOUT_SHARD2_ALERTS = remove("cryb-prod-data-shard2-alerts")
SHARD2_WITHOUT_ALERTS_MESSAGE = (
    "no PrometheusRule alert in namespace 'cryb-db-data' reads ['cnpg_collector_up', "
    "'cnpg_pg_replication_in_recovery', 'cnpg_pg_replication_lag', 'cnpg_backends_total', "
    "'kubelet_volume_stats_used_bytes', "
    "'cnpg_pg_stat_archiver_last_failed_time', 'cnpg_pg_database_xid_age'] for the pods of Cluster 'shard2' "
    '(pod=~"shard2-..."): declare the store\'s alert rules (components/kubernetes/alert_rules.py).'
)


@pytest.fixture(scope="module")
def kubernetes_engines() -> Evaluation:
    return mock_engine.evaluate("prod", KUBERNETES_EXAMPLE)


def test_a_cloudnativepg_cluster_without_its_alerts_is_refused(kubernetes_engines: Evaluation) -> None:
    assert mandatory(check(kubernetes_engines)) == set()
    violations = [v for v in check(WITHOUT_SHARD2_ALERTS(kubernetes_engines)) if v["level"] == "mandatory"]
    assert [(v["policy"], v["name"]) for v in violations] == [
        ("data-stores-have-alarms", "cryb-prod-data-shard2-cluster")
    ]
    assert violations[0]["message"].endswith(SHARD2_WITHOUT_ALERTS_MESSAGE)


def test_the_cache_statefulset_without_its_cluster_state_alert_is_refused(kubernetes_engines: Evaluation) -> None:
    def edit(inputs: dict[str, Any]) -> None:
        group = inputs["spec"]["groups"][0]
        group["rules"] = [r for r in group["rules"] if "redis_cluster_state" not in r["expr"]]

    violations = check(edit_inputs("cryb-prod-data-cache-alerts", edit)(kubernetes_engines))
    assert mandatory(violations) == {("data-stores-have-alarms", "cryb-prod-data-cache-statefulset")}
    (message,) = [v["message"] for v in violations if v["level"] == "mandatory"]
    assert "reads ['redis_cluster_state'] for the pods of StatefulSet 'cache'" in message


def test_prod_with_a_short_key_deletion_window_flags_every_key(tmp_path: Path) -> None:
    evaluation = evaluate_with(tmp_path, "prod", {"cryb-db:kms": {"deletionWindowDays": 7}})
    keys = {r.name for r in evaluation.of_type("aws:kms/key:Key")}
    assert len(keys) >= 3
    assert mandatory(policy_report(evaluation)) == {("kms-key-deletion-window", k) for k in keys}


def test_dev_with_two_weeks_of_flow_logs_is_flagged(tmp_path: Path) -> None:
    network = {
        "cidr": "10.30.0.0/16",
        "azCount": 2,
        "natGateways": "single",
        "interfaceEndpoints": False,
        "flowLogRetentionDays": 14,
    }
    evaluation = evaluate_with(tmp_path, "dev", {"cryb-db:network": network})
    assert mandatory(policy_report(evaluation)) == {("cloudwatch-log-group-retention", "cryb-dev-flow-logs")}


# ---- policy config files


@pytest.mark.parametrize("config_file", sorted(POLICY_CONFIG_DIR.glob("*.json")), ids=lambda p: p.name)
def test_policy_config_files_match_the_rules_schemas(config_file: Path) -> None:
    document = json.loads(config_file.read_text())
    levels = {"advisory", "mandatory", "remediate", "disabled"}
    for name, value in document.items():
        if name == "all":
            assert value in levels
            continue
        assert name in RULES, f"{config_file.name}: unknown policy {name}"
        if isinstance(value, str):
            assert value in levels
            continue
        assert value.get("enforcementLevel", "mandatory") in levels
        schema = {
            "type": "object",
            "additionalProperties": False,
            "properties": {**RULES[name].config_schema, "enforcementLevel": {"enum": sorted(levels)}},
        }
        jsonschema.validate(value, schema)
    load_policy_config(config_file, list(RULES.values()))


@pytest.mark.parametrize(("stack", "advisory"), [("prod", ADVISORY_IN_PROD), ("dev", ADVISORY_IN_DEV)])
def test_enforcement_levels_per_stack(stack: str, advisory: set[str]) -> None:
    settings = load_policy_config(policy_config_file(stack), list(RULES.values()))
    assert {name for name, s in settings.items() if s.level.value == "advisory"} == advisory
    assert {s.level.value for name, s in settings.items() if name not in advisory} == {"mandatory"}


def test_stacks_without_their_own_policy_config_get_prod() -> None:
    assert policy_config_file("staging") == POLICY_CONFIG_DIR / "prod.json"


def test_policy_config_typos_are_errors(tmp_path: Path) -> None:
    rules = list(RULES.values())
    for document, expected in [
        ({"rds-multiaz": "advisory"}, "rds-multiaz: unknown policy (did you mean 'rds-multi-az'?)"),
        (
            {"rds-backup-retention": {"minRetention": 7}},
            "rds-backup-retention.minRetention: unknown setting (did you mean 'minRetentionDays'?)",
        ),
        ({"all": "mandatroy"}, "all: 'mandatroy' is not an enforcement level"),
    ]:
        path = tmp_path / "config.json"
        path.write_text(json.dumps(document))
        with pytest.raises(ValueError, match=re.escape(expected)):
            load_policy_config(path, rules)


def test_levels_and_settings_from_the_config_reach_the_rules(dev: Evaluation, tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                "all": "advisory",
                "ec2-vpc-interface-endpoints": "disabled",
                "cloudwatch-log-group-retention": {"enforcementLevel": "remediate", "minRetentionDays": 3653},
            }
        )
    )
    violations = run_policies(dev, path)
    assert not any(v["policy"] == "ec2-vpc-interface-endpoints" for v in violations)
    retention = {v["level"] for v in violations if v["policy"] == "cloudwatch-log-group-retention"}
    assert retention == {"mandatory"}  # remediate is reported as mandatory (no rule remediates)
    assert {v["level"] for v in violations if v["policy"] != "cloudwatch-log-group-retention"} == {"advisory"}


# ---- the pack


def test_pack_main_builds_the_pack_from_every_rule_module() -> None:
    rules_dir = Path(rules_package.__file__).parent
    defining = set()
    for path in rules_dir.glob("*.py"):
        tree = ast.parse(path.read_text())
        if any(
            isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "RULES" for t in node.targets)
            for node in tree.body
        ):
            defining.add(path.stem)
    assert defining == {m.__name__.rsplit(".", 1)[-1] for m in RULE_MODULES}, "a rule module is not in RULE_MODULES"
    assert all(isinstance(m.RULES, RuleSet) and m.RULES.rules for m in RULE_MODULES)
    main = ast.parse((PROJECT_DIR / "policies" / "__main__.py").read_text())
    calls = [n for n in ast.walk(main) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "PolicyPack"]
    assert len(calls) == 1
    policies_arg = next(k.value for k in calls[0].keywords if k.arg == "policies")
    assert isinstance(policies_arg, ast.Call) and getattr(policies_arg.func, "id", None) == "all_policies"
    policies = all_policies()
    assert len({p.name for p in policies}) == len(policies) == len(RULES)


def test_nothing_imports_the_pack_entry_point() -> None:
    for path in PROJECT_DIR.rglob("*.py"):
        if {".venv", "venv", "site-packages"} & set(path.parts) or path == Path(__file__).resolve():
            continue
        assert "policies.__main__" not in path.read_text(), f"{path} imports the pack, which starts a server"


def test_pack_files_for_the_pulumi_cli() -> None:
    import yaml

    manifest = yaml.safe_load((PROJECT_DIR / "policies" / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"]["name"] == "python" and manifest["runtime"]["options"]["virtualenv"]
    requirements = (PROJECT_DIR / "policies" / "requirements.txt").read_text().split()
    assert {"pulumi-policy==1.21.0", "pulumi==3.272.0"} <= set(requirements)


# ---- the offline preview CLI


def test_preview_exits_3_on_a_mandatory_violation(prod: Evaluation, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = set_inputs("cryb-prod-pg-00", publiclyAccessible=True)(prod)
    monkeypatch.setattr(mock_engine, "evaluate", lambda stack, config=None: broken)
    result = CliRunner().invoke(app, ["preview", "--stack", "prod", "--json"])
    assert result.exit_code == EXIT_POLICY_VIOLATION
    violations = json.loads(result.stdout)["policy"]["violations"]
    assert ("rds-not-publicly-accessible", "cryb-prod-pg-00") in mandatory(violations)


def test_preview_exits_0_with_only_advisory_findings(dev: Evaluation, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mock_engine, "evaluate", lambda stack, config=None: dev)
    result = CliRunner().invoke(app, ["preview", "--stack", "dev"])
    assert result.exit_code == 0, result.output
    assert "advisory" in result.stdout


# ---- coverage of the baseline and the docs

# Control IDs of ../shared/reference/aws-baseline.md (copied: the reference is outside this repository).
BASELINE = (
    [f"RDS.{n}" for n in (*range(1, 28), 34, 35, 36, 37, 38, 43, 45, 47)]
    + [f"ElastiCache.{n}" for n in range(1, 8)]
    + [f"S3.{n}" for n in (1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17, 19, 20, 24)]
    + [
        f"EC2.{n}"
        for n in (1, 2, 3, 6, 7, 8, 9, 10, 13, 14, 15, 16, 17, 18, 19, 21, 25, 28, *range(55, 61), 170, 172, 181)
    ]
    + [f"KMS.{n}" for n in range(1, 6)]
    + [f"SecretsManager.{n}" for n in range(1, 5)]
    + [f"SNS.{n}" for n in (1, 2, 4)]
    + [f"CloudWatch.{n}" for n in range(1, 18)]
)
# Not applicable to, or not enforceable in, this program; docs/policies.md says why for each.
NOT_IN_RULES = {
    "RDS.14", "RDS.22", "RDS.26", "RDS.34", "RDS.45", "S3.20", "EC2.1", "EC2.28", "SecretsManager.2",
    "SecretsManager.3", *(f"CloudWatch.{n}" for n in range(1, 15)),
}  # fmt: skip


def test_every_applicable_baseline_control_is_in_a_rule() -> None:
    implemented = {control for rule in RULES.values() for control in rule.controls}
    assert [c for c in BASELINE if c not in NOT_IN_RULES and c not in implemented] == []
    assert NOT_IN_RULES & implemented == set()


def test_docs_list_every_rule_and_explain_every_gap() -> None:
    docs = (PROJECT_DIR / "docs" / "policies.md").read_text()
    assert [name for name in RULES if f"`{name}`" not in docs] == []
    ranges = {f"CloudWatch.{n}" for n in range(1, 15)} if "CloudWatch.1–14" in docs else set()
    explained = {c for c in NOT_IN_RULES if re.search(rf"(?<![\w.]){re.escape(c)}(?!\d)", docs)} | ranges
    assert explained == NOT_IN_RULES


# The pack as the Pulumi CLI starts it, over gRPC, unknowns included: tests/policies/engine/.
