"""SelfHostedCredentialRotation as the real program declares it (prod's analytics cluster, and every shard with
`postgres.engine: ec2`), and its IAM document. The function's behaviour is in
tests/components/selfhosted/test_rotation_function.py and, with real Patroni nodes,
tests/real/test_patroni_rotation.py."""

import json
from typing import Any

import pytest

from components.selfhosted.cloud_init import ROTATED_SECRET_KEYS
from components.selfhosted.credentials_agent import ROTATION_TAG_PREFIX
from components.selfhosted.rotation import SelfHostedCredentialRotation
from components.selfhosted.rotation_policies import rotation_policy
from scripts.preview.mock_engine import Evaluation, RecordedResource, evaluate
from tests.helpers import evaluate_with, evaluate_with_ignore_changes

ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"
FUNCTION = "aws:lambda/function:Function"
COMPONENT = "cryb:selfhosted_rotation:SelfHostedCredentialRotation"
SECRET = "aws:secretsmanager/secret:Secret"
VERSION = "aws:secretsmanager/secretVersion:SecretVersion"


@pytest.fixture(scope="module")
def prod() -> Evaluation:
    return evaluate("prod")


def descendants(evaluation: Evaluation, root: RecordedResource) -> list[RecordedResource]:
    return [r for r in evaluation.resources if any(a.urn == root.urn for a in evaluation.ancestors(r))]


def test_every_patroni_credential_rotates_except_the_backup_passphrase(prod: Evaluation) -> None:
    (component,) = prod.of_type(COMPONENT)
    assert component.name == "cryb-prod-analytics-rotation"
    ours = descendants(prod, component)
    rotations = [r for r in ours if r.type == ROTATION]
    purposes = {
        s.inputs["tags"]["secret-purpose"]: s for s in prod.of_type(SECRET) if s.name.startswith("cryb-prod-analytics-")
    }
    assert set(purposes) == {*ROTATED_SECRET_KEYS, "pgbackrest", "etcd-ca", "tls-ca-cert"}
    assert "rotation-exempt" in purposes["pgbackrest"].inputs["tags"]
    assert purposes["etcd-ca"].inputs["tags"]["rotation-exempt"] == "certificate-authority"
    assert purposes["tls-ca-cert"].inputs["tags"]["rotation-exempt"] == "certificate-authority"
    rotated_names = sorted(r.name.removeprefix("cryb-prod-analytics-rotation-") for r in rotations)
    assert rotated_names == sorted(ROTATED_SECRET_KEYS)
    admin_arn = prod.outputs["selfhosted"]["clusters"][0]["secretArn"]
    assert {r.name: r.inputs["secretId"] for r in rotations}["cryb-prod-analytics-rotation-admin"] == admin_arn
    assert len({r.inputs["secretId"] for r in rotations}) == len(ROTATED_SECRET_KEYS)
    for rotation in rotations:
        assert rotation.inputs["rotateImmediately"] is False  # nodes are still booting when it is created
        assert rotation.inputs["rotationRules"]["automaticallyAfterDays"] == 30
    (function,) = [r for r in ours if r.type == FUNCTION]
    assert function.inputs["environment"]["variables"] == {"CLUSTER_NODES": "analytics-a,analytics-b,analytics-c"}
    assert function.inputs["timeout"] == 900
    assert function.inputs["reservedConcurrentExecutions"] == len(ROTATED_SECRET_KEYS)  # one per secret
    assert function.inputs["vpcConfig"]["subnetIds"] and function.inputs["tracingConfig"]["mode"] == "Active"


def test_the_prod_stack_has_no_policy_findings_at_all(prod: Evaluation) -> None:
    from scripts.preview.render import policy_report

    assert policy_report(prod) == []


def test_every_self_hosted_shard_gets_its_rotation(tmp_path: Any) -> None:
    evaluation = evaluate_with(
        tmp_path,
        "prod",
        {"cryb-db:postgres": json.dumps({"engine": "ec2", "shardCount": 2, "ec2": {"instanceType": "i4i.xlarge"}})},
    )
    names = sorted(c.name for c in evaluation.of_type(COMPONENT))
    assert names == ["cryb-prod-analytics-rotation", "cryb-prod-pg-00-rotation", "cryb-prod-pg-01-rotation"]
    functions = {f.name: f for f in evaluation.of_type(FUNCTION)}
    assert functions["cryb-prod-pg-01-rotation-function"].inputs["environment"]["variables"]["CLUSTER_NODES"] == (
        "shard1-a,shard1-b,shard1-c"
    )


def test_the_function_may_remove_only_acknowledgement_tags() -> None:
    arns = [f"arn:aws:secretsmanager:us-east-1:1:secret:{k}" for k in ROTATED_SECRET_KEYS]
    policy = rotation_policy(arns, "arn:aws:kms:us-east-1:1:key/s", "arn:aws:logs:us-east-1:1:log-group:f", "us-east-1")
    statements = {s["Sid"]: s for s in policy["Statement"]}
    untag = statements["ClearAcknowledgements"]
    assert untag["Action"] == "secretsmanager:UntagResource" and untag["Resource"] == sorted(arns)
    assert untag["Condition"]["ForAllValues:StringLike"]["aws:TagKeys"] == [f"{ROTATION_TAG_PREFIX}*"]
    assert statements["RotateSecrets"]["Resource"] == sorted(arns)
    assert "secretsmanager:TagResource" not in json.dumps(policy)  # the nodes acknowledge; the function only clears


@pytest.mark.parametrize(
    ("secret_keys", "nodes", "message"),
    [
        (("superuser", "replication", "rewind", "restapi"), ["a", "b", "c"], "no secret for admin"),
        (ROTATED_SECRET_KEYS, ["a", "a", "c"], "must name every node of the cluster once"),
        (ROTATED_SECRET_KEYS, [], "must name every node of the cluster once"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_registered(
    secret_keys: tuple[str, ...], nodes: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        SelfHostedCredentialRotation(
            "cryb-test-rotation",
            {
                "secret_arns": {k: f"arn:{k}" for k in secret_keys},
                "nodes": nodes,
                "secrets_kms_key_arn": "k",
                "logs_kms_key_arn": "l",
                "log_retention_days": 365,
                "vpc_id": "vpc-1",
                "subnet_ids": ["subnet-1"],
                "region": "us-east-1",
                "account_id": "123456789012",
                "tags": {},
            },
        )


def test_pulumi_never_writes_a_rotated_password_back() -> None:
    """After a rotation the SecretVersion Pulumi created is no longer AWSCURRENT and holds a stale password: `pulumi
    up` must neither write it again nor move AWSCURRENT back to it. The unrotated passphrase stays Pulumi's."""
    evaluation, ignored = evaluate_with_ignore_changes("prod")
    versions = [v.name for v in evaluation.of_type(VERSION) if v.name.startswith("cryb-prod-analytics-")]
    assert sorted(versions) == sorted(f"cryb-prod-analytics-{k}-value" for k in (*ROTATED_SECRET_KEYS, "pgbackrest"))
    for key in ROTATED_SECRET_KEYS:
        assert ignored[f"cryb-prod-analytics-{key}-value"] == ["secretString", "versionStages"], key
    assert ignored["cryb-prod-analytics-pgbackrest-value"] == []


def test_every_rotation_function_has_a_failed_step_alarm(prod: Evaluation) -> None:
    alarms = {a.inputs["name"]: a.inputs for a in prod.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    warning_topic = prod.outputs["monitoring"]["topicArns"]["warning"]
    for component in ("cryb-prod-analytics-rotation", "cryb-prod-cache-rotation"):
        alarm = alarms[f"{component}-failed"]
        assert (alarm["namespace"], alarm["metricName"], alarm["statistic"]) == ("AWS/Lambda", "Errors", "Sum")
        assert alarm["dimensions"] == {"FunctionName": f"{component}-function"}  # the mock names it so
        assert (alarm["comparisonOperator"], alarm["threshold"], alarm["period"]) == ("GreaterThanThreshold", 0, 300)
        assert alarm["treatMissingData"] == "notBreaching"  # no invocation is no failure
        assert alarm["alarmActions"] == alarm["okActions"] == [warning_topic]
        assert alarm["alarmDescription"].endswith("docs/monitoring.md#failed-rotation")
