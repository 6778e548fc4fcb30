"""What holds for every rule of the pack (`policies/rules/base.py`): its metadata, the resource types a resource rule
checks, and a test input for each rule in the service modules here."""

from collections import Counter

from policies.rules.base import ResourceRule
from tests.policies.rules import (
    test_cloudwatch,
    test_docker,
    test_ec2,
    test_elasticache,
    test_kms,
    test_kubernetes,
    test_lambda_,
    test_project,
    test_rds,
    test_s3,
    test_secrets,
    test_sns,
    test_tagging,
)
from tests.policies.rules.helpers import RULES, TAGS, resource_violations

CASE_MODULES = (
    test_rds,
    test_elasticache,
    test_s3,
    test_ec2,
    test_kms,
    test_secrets,
    test_sns,
    test_cloudwatch,
    test_lambda_,
    test_tagging,
    test_project,
    test_docker,
    test_kubernetes,
)
CASES = [case for module in CASE_MODULES for case in module.CASES]
EVERY_BUCKET_RULES = test_s3.EVERY_BUCKET_RULES


def test_resource_rules_ignore_other_types() -> None:
    for rule in RULES.values():
        if isinstance(rule, ResourceRule) and rule.resource_types is not None:
            assert resource_violations(rule, "aws:sqs/queue:Queue", {"name": "q", "tags": TAGS}) == []


def test_every_rule_has_metadata_and_is_exercised_here() -> None:
    exercised = (
        {c.rule for c in CASES}
        | set(EVERY_BUCKET_RULES)
        | {
            "rds-cluster-multi-az",
            "rds-event-subscriptions",
            "ec2-every-vpc-has-flow-logs",
            "ec2-vpc-interface-endpoints",
            "ec2-network-acl-in-use",
            "ec2-security-group-in-use",
            "secretsmanager-every-secret-rotates",
            "data-stores-in-data-subnets",
            "data-stores-have-alarms",
            "sns-topic-has-subscription",
            "kms-key-in-use",
            "s3-bucket-object-lock",
            "kubernetes-network-policy-per-namespace",  # stack rules: tests/policies/rules/test_kubernetes.py
            "kubernetes-pdb-for-replicated-workloads",
            "dr-standby-in-another-region",  # tests/policies/rules/test_dr.py
            "dr-standby-per-shard",
            "dr-standby-cluster-per-selfhosted-cluster",
            "dr-not-publicly-reachable",
            "lambda-code-signing-enforced",  # stack rule: tests/policies/rules/test_lambda_.py
        }
    )
    assert set(RULES) - exercised == set(), "every rule needs a compliant and a violating test input"
    for rule in RULES.values():
        assert rule.controls and rule.description and rule.remediation, rule.name
        assert all(isinstance(schema.get("default"), (int, str, list, dict)) for schema in rule.config_schema.values())


def test_every_expected_message_belongs_to_a_violating_case() -> None:
    """expected_messages.py holds no line for a case that no longer exists (a stale line would hide a missing one)."""
    from tests.policies.rules.expected_messages import EXPECTED

    totals = Counter(str(case) for case in CASES for _ in case.bad)
    assert set(EXPECTED) == {f"{name}#{n}" for name, total in totals.items() for n in range(total)}
