"""What the rule tests share: synthetic resources shaped like the engine's (camelCase, floats), run through the
same pulumi_policy objects the pack registers, with props behind the SDK's unknown-checking proxy and unknowns
as the engine's sentinel strings, as in a real `pulumi preview`; the resources several services' tests use; and
`case_tests`, the tests every service runs over its `Case`s.
"""

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    unknown_checking_proxy,
)

from policies.rules import all_rules
from policies.rules.base import AnyRule, ResourceRule, StackRule

RULES = {rule.name: rule for rule in all_rules()}
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/data"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:alerts"
ROLE_ARN = "arn:aws:iam::123456789012:role/rds-monitoring"
TAGS = {"environment": "prod", "service": "cryb-db", "owner": "platform-team", "data-classification": "confidential"}
OPTIONS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def changed(base: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of `base` with top-level keys replaced; a value of `...` removes the key."""
    result = copy.deepcopy(dict(base))
    for key, value in changes.items():
        if value is ...:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def urn(type_token: str, name: str) -> str:
    return f"urn:pulumi:test::cryb-db::{type_token}::{name}"


def resource_violations(rule: AnyRule, type_token: str, props: Mapping[str, Any], config: Any = None) -> list[str]:
    assert isinstance(rule, ResourceRule)
    messages: list[str] = []
    args = ResourceValidationArgs(
        type_token, unknown_checking_proxy(copy.deepcopy(dict(props))), urn(type_token, "r"), "r", OPTIONS, None, config
    )
    rule.policy().validate(args, lambda message, _urn=None: messages.append(message))
    return messages


@dataclass
class Node:
    """A resource of a synthetic stack, with the dependencies the real engine would record."""

    type: str
    name: str
    props: dict[str, Any]
    depends: dict[str, list[str]] = field(default_factory=dict)  # property -> names of resources it came from


def stack_violations(rule: AnyRule, nodes: Sequence[Node], config: Any = None) -> list[tuple[str, str]]:
    assert isinstance(rule, StackRule)
    resources = {
        n.name: PolicyResource(
            n.type,
            unknown_checking_proxy(copy.deepcopy(n.props)),
            urn(n.type, n.name),
            n.name,
            OPTIONS,
            None,
            None,
            [],
            {},
        )
        for n in nodes
    }
    for n in nodes:
        resources[n.name].property_dependencies = {k: [resources[d] for d in v] for k, v in n.depends.items()}
    by_urn = {r.urn: name for name, r in resources.items()}
    found: list[tuple[str, str]] = []
    args = StackValidationArgs(list(resources.values()), config)
    rule.policy().validate(args, lambda message, u=None: found.append((by_urn.get(u or "", ""), message)))
    return found


@dataclass(frozen=True)
class Case:
    """One rule on one resource type: `good` passes, each of `bad` is reported, each of `unknown` is silent."""

    rule: str
    type: str
    good: dict[str, Any]
    bad: Sequence[dict[str, Any]]
    unknown: Sequence[dict[str, Any]] = ()
    config: dict[str, Any] | None = None

    def __str__(self) -> str:
        return f"{self.rule}@{self.type.split(':')[-1]}"


# Resources the cases of more than one service use (those of one service live in its module).
RDS_INSTANCE = "aws:rds/instance:Instance"
INSTANCE = {
    "engine": "postgres",
    "engineVersion": "17",
    "instanceClass": "db.r7g.large",
    "publiclyAccessible": False,
    "storageEncrypted": True,
    "kmsKeyId": KEY_ARN,
    "multiAz": True,
    "monitoringInterval": 60.0,
    "monitoringRoleArn": ROLE_ARN,
    "deletionProtection": True,
    "enabledCloudwatchLogsExports": ["postgresql", "upgrade"],
    "iamDatabaseAuthenticationEnabled": True,
    "backupRetentionPeriod": 35.0,
    "autoMinorVersionUpgrade": True,
    "copyTagsToSnapshot": True,
    "dbSubnetGroupName": "cryb-prod-db",
    "port": 5433.0,
    "username": "cryb_admin",
    "parameterGroupName": "cryb-prod-pg17",
    "tags": TAGS,
}
PG_PARAMETERS = {"family": "postgres17", "parameters": [{"name": "rds.force_ssl", "value": "1"}], "tags": TAGS}
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
CACHE = {
    "engine": "valkey",
    "engineVersion": "8.0",
    "replicationGroupId": "cryb-prod-cache",
    "snapshotRetentionLimit": 7.0,
    "autoMinorVersionUpgrade": True,
    "automaticFailoverEnabled": True,
    "multiAzEnabled": True,
    "atRestEncryptionEnabled": True,
    "kmsKeyId": KEY_ARN,
    "transitEncryptionEnabled": True,
    "transitEncryptionMode": "required",
    "userGroupIds": ["cryb-prod-cache-users"],
    "subnetGroupName": "cryb-prod-cache",
    "tags": TAGS,
}


def policy_json(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ACCOUNT_ROOT = {
    "Sid": "Account",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
    "Action": "kms:*",
    "Resource": "*",
}
VIA_SERVICE = {
    "Sid": "Via",
    "Effect": "Allow",
    "Principal": {"AWS": "*"},
    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
    "Resource": "*",
    "Condition": {
        "StringEquals": {"kms:CallerAccount": "123456789012", "kms:ViaService": "rds.us-east-1.amazonaws.com"}
    },
}
PUBLISH_FROM_CLOUDWATCH = {
    "Sid": "CloudWatchPublishes",
    "Effect": "Allow",
    "Principal": {"Service": "cloudwatch.amazonaws.com"},
    "Action": "sns:Publish",
    "Resource": TOPIC_ARN,
    "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
}
EC2_INSTANCE = "aws:ec2/instance:Instance"
HOST = {
    "ami": "ami-0123456789abcdef0",
    "instanceType": "i4i.xlarge",
    "subnetId": "subnet-data-a",
    "associatePublicIpAddress": False,
    "metadataOptions": {"httpTokens": "required"},
    "rootBlockDevice": {"encrypted": True, "kmsKeyId": KEY_ARN},
    "ebsBlockDevices": [{"deviceName": "/dev/sdf", "encrypted": True}],
    "tags": TAGS,
}
KEY = {
    "description": "cryb-db data",
    "enableKeyRotation": True,
    "rotationPeriodInDays": 365.0,
    "deletionWindowInDays": 30.0,
    "customerMasterKeySpec": "SYMMETRIC_DEFAULT",
    "policy": policy_json(ACCOUNT_ROOT, VIA_SERVICE),
    "tags": TAGS,
}
TOPIC = {
    "kmsMasterKeyId": KEY_ARN,
    "httpFailureFeedbackRoleArn": ROLE_ARN,
    "policy": policy_json(PUBLISH_FROM_CLOUDWATCH),
    "tags": TAGS,
}
ALARM = {
    "metricName": "CPUUtilization",
    "namespace": "AWS/RDS",
    "dimensions": {"DBInstanceIdentifier": "cryb-prod-pg-00"},
    "comparisonOperator": "GreaterThanThreshold",
    "threshold": 90.0,
    "evaluationPeriods": 5.0,
    "alarmActions": [TOPIC_ARN],
    "tags": TAGS,
}
FUNCTION = {
    "role": ROLE_ARN,
    "runtime": "python3.12",
    "vpcConfig": {"subnetIds": ["subnet-app-a"], "securityGroupIds": ["sg-app"]},
    "tracingConfig": {"mode": "Active"},
    "tags": TAGS,
}


def offline(value: Any) -> Any:
    """The offline harness records an unknown as None rather than the engine's sentinel."""
    sentinels = {
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
    if isinstance(value, dict):
        return {k: offline(v) for k, v in value.items()}
    if isinstance(value, list):
        return [offline(v) for v in value]
    return None if value in sentinels else value


def case_tests(cases: Sequence[Case]) -> tuple[Callable[[Case], None], ...]:
    """The tests every service module runs over its `CASES`, bound in its namespace under these names:
    compliant input passes, each violating input is reported with what to change, and unknown values (as the
    engine sends them, and as the offline harness records them) are no violation."""

    @pytest.mark.parametrize("case", cases, ids=str)
    def test_compliant_input_passes(case: Case) -> None:
        assert resource_violations(RULES[case.rule], case.type, case.good, case.config) == []

    # The Nth violating input of `rule@Type` (counted over this module's cases, in order) is `rule@Type#N` in
    # expected_messages.EXPECTED: the exact messages a person read and accepted.
    numbered: dict[int, list[str]] = {}
    counts: dict[str, int] = {}
    for case in cases:
        keys = numbered.setdefault(id(case), [])
        for _ in case.bad:
            keys.append(f"{case}#{counts.get(str(case), 0)}")
            counts[str(case)] = counts.get(str(case), 0) + 1

    @pytest.mark.parametrize("case", [c for c in cases if c.bad], ids=str)
    def test_violating_input_is_reported_with_what_to_change(case: Case) -> None:
        from tests.policies.rules.expected_messages import EXPECTED

        for key, props in zip(numbered[id(case)], case.bad, strict=True):
            messages = resource_violations(RULES[case.rule], case.type, props, case.config)
            assert messages, f"{case.rule} missed {props}"
            assert key in EXPECTED, f"add {key!r}: {messages!r} to tests/policies/rules/expected_messages.py"
            assert messages == EXPECTED[key], key

    @pytest.mark.parametrize("case", [c for c in cases if c.unknown], ids=str)
    def test_unknown_values_are_not_violations(case: Case) -> None:
        for props in case.unknown:
            assert resource_violations(RULES[case.rule], case.type, props, case.config) == []

    @pytest.mark.parametrize("case", [c for c in cases if c.unknown], ids=str)
    def test_unknowns_recorded_offline_are_not_violations(case: Case) -> None:
        for props in case.unknown:
            assert resource_violations(RULES[case.rule], case.type, offline(props), case.config) == []

    return (
        test_compliant_input_passes,
        test_violating_input_is_reported_with_what_to_change,
        test_unknown_values_are_not_violations,
        test_unknowns_recorded_offline_are_not_violations,
    )
