"""The rotation function's IAM documents as data: every statement scoped to what rotation touches, "*" only where AWS
offers no resource-level permission, and the pack's IAM rules satisfied."""

import json
from typing import Any

import pytest

from components.cache.rotation_policies import lambda_trust, rotation_policy
from components.security.lambda_policies import VPC_ACCESS_ACTIONS
from policies.rules import all_rules
from policies.rules.base import ResourceRule
from policies.rules.resource import Resource

REGION = "eu-west-1"
SECRETS = [
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cryb-db/cryb-prod-cache/reader-AbCdEf",
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cryb-db/cryb-prod-cache/app-GhIjKl",
]
USERS = [
    "arn:aws:elasticache:eu-west-1:123456789012:user:cryb-prod-cache-reader",
    "arn:aws:elasticache:eu-west-1:123456789012:user:cryb-prod-cache-app",
]
KEY = "arn:aws:kms:eu-west-1:123456789012:key/0000-secrets"
LOG_GROUP = "arn:aws:logs:eu-west-1:123456789012:log-group:/cryb-db/cryb-prod-cache-rotation/function"


@pytest.fixture
def document() -> dict[str, Any]:
    return rotation_policy(SECRETS, USERS, KEY, LOG_GROUP, REGION)


def by_sid(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in document["Statement"]}


def actions(statement: dict[str, Any]) -> list[str]:
    value = statement["Action"]
    return [value] if isinstance(value, str) else list(value)


def resources(statement: dict[str, Any]) -> list[str]:
    value = statement["Resource"]
    return [value] if isinstance(value, str) else list(value)


def test_only_the_statements_aws_forces_use_a_wildcard(document: dict[str, Any]) -> None:
    wildcard = {sid: s for sid, s in by_sid(document).items() if s["Resource"] == "*"}
    assert set(wildcard) == {"GeneratePasswords", "Tracing", "VpcNetworkInterfaces"}
    assert actions(wildcard["GeneratePasswords"]) == ["secretsmanager:GetRandomPassword"]
    assert set(actions(wildcard["Tracing"])) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    assert actions(wildcard["VpcNetworkInterfaces"]) == list(VPC_ACCESS_ACTIONS)
    assert wildcard["VpcNetworkInterfaces"]["Condition"] == {"StringEquals": {"aws:RequestedRegion": REGION}}
    # nothing else in the document may act on everything
    scoped = [s for sid, s in by_sid(document).items() if sid not in wildcard]
    assert all(r != "*" and r.startswith("arn:aws:") for s in scoped for r in resources(s))
    assert all(s["Effect"] == "Allow" and not any(a.endswith("*") for a in actions(s)) for s in document["Statement"])


def test_secrets_statement_is_the_rotation_contract_on_these_secrets_only(document: dict[str, Any]) -> None:
    statement = by_sid(document)["RotateSecrets"]
    assert set(actions(statement)) == {
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    }
    assert statement["Resource"] == sorted(SECRETS)
    secret_actions = {a for s in document["Statement"] for a in actions(s) if a.startswith("secretsmanager:")}
    # no RotateSecret, DeleteSecret, PutResourcePolicy ...: the function cannot restart or weaken a rotation
    assert secret_actions == set(actions(statement)) | {"secretsmanager:GetRandomPassword"}


def test_cache_users_are_modified_only_by_arn(document: dict[str, Any]) -> None:
    statement = by_sid(document)["ModifyCacheUsers"]
    assert set(actions(statement)) == {"elasticache:ModifyUser", "elasticache:DescribeUsers"}
    assert statement["Resource"] == sorted(USERS)
    assert [s["Sid"] for s in document["Statement"] if any(a.startswith("elasticache:") for a in actions(s))] == [
        "ModifyCacheUsers"
    ]


def test_the_secrets_key_is_usable_only_through_secrets_manager(document: dict[str, Any]) -> None:
    statement = by_sid(document)["SecretsKeyThroughSecretsManager"]
    assert statement["Resource"] == KEY and set(actions(statement)) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert statement["Condition"] == {"StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}}


def test_logs_only_into_its_own_group(document: dict[str, Any]) -> None:
    statement = by_sid(document)["Logs"]
    assert statement["Resource"] == f"{LOG_GROUP}:*"
    assert set(actions(statement)) == {"logs:CreateLogStream", "logs:PutLogEvents"}


def _kms_rule_findings(document: dict[str, Any]) -> list[str]:
    (rule,) = [r for r in all_rules() if r.name == "iam-no-kms-decrypt-on-all-keys"]
    assert isinstance(rule, ResourceRule)
    resource = Resource("aws:iam/rolePolicy:RolePolicy", "rotation", "urn:rotation", {"policy": json.dumps(document)})
    return list(rule.check(resource, rule.settings(None)))


def test_the_pack_finds_nothing_in_the_role_policy(document: dict[str, Any]) -> None:
    assert _kms_rule_findings(document) == []
    widened = json.loads(json.dumps(document))
    by_sid(widened)["SecretsKeyThroughSecretsManager"]["Resource"] = "*"
    assert _kms_rule_findings(widened)  # the same rule does see a decrypt on every key


def test_trust_is_lambda_only() -> None:
    (statement,) = lambda_trust()["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }


def test_an_empty_scope_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        rotation_policy([], USERS, KEY, LOG_GROUP, REGION)
    with pytest.raises(ValueError, match="at least one secret"):
        rotation_policy(SECRETS, [], KEY, LOG_GROUP, REGION)
