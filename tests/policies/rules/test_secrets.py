"""`policies/rules/secrets.py`, Secrets Manager secrets and their rotation: each case's compliant input passes, each
violating one is reported with what to change, and unknown values are no violation (helpers.case_tests); its stack
rules on synthetic graphs."""

import pytest
from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE

from tests.policies.rules.helpers import KEY_ARN, RULES, Case, Node, case_tests, stack_violations

CASES = [
    Case(
        "secretsmanager-secret-encrypted-with-cmk",
        "aws:secretsmanager/secret:Secret",
        {"name": "cache-auth", "kmsKeyId": KEY_ARN},
        [{"name": "cache-auth"}],
        [{"name": "cache-auth", "kmsKeyId": UNKNOWN_STRING_VALUE}],
    ),
    Case(
        "secretsmanager-rotation-schedule",
        "aws:secretsmanager/secretRotation:SecretRotation",
        {"secretId": "s", "rotationRules": {"automaticallyAfterDays": 30.0}},
        [
            {"secretId": "s", "rotationRules": {"automaticallyAfterDays": 180.0}},
            {"secretId": "s", "rotationEnabled": False, "rotationRules": {"automaticallyAfterDays": 30.0}},
        ],
        [{"secretId": "s", "rotationRules": {"automaticallyAfterDays": UNKNOWN_NUMBER_VALUE}}],
    ),
]

(
    test_compliant_input_passes,
    test_violating_input_is_reported_with_what_to_change,
    test_unknown_values_are_not_violations,
    test_unknowns_recorded_offline_are_not_violations,
) = case_tests(CASES)


def test_every_secret_rotates() -> None:
    rule = RULES["secretsmanager-every-secret-rotates"]
    secret = Node(
        "aws:secretsmanager/secret:Secret", "s", {"name": "cache-auth", "arn": "arn:secret:s", "id": "arn:secret:s"}
    )
    rotation = Node("aws:secretsmanager/secretRotation:SecretRotation", "r", {"secretId": "arn:secret:s"})
    assert stack_violations(rule, [secret, rotation]) == []
    assert [n for n, _ in stack_violations(rule, [secret])] == ["s"]


@pytest.mark.parametrize(
    ("reason", "flagged"),
    [
        ("issued-by-third-party", False),
        ("encrypts-existing-backups", False),
        ("certificate-authority", False),
        ("too-busy", True),
        ("", True),
    ],
)
def test_only_a_listed_reason_exempts_a_secret_from_rotation(reason: str, flagged: bool) -> None:
    rule = RULES["secretsmanager-every-secret-rotates"]
    props = {"name": "webhooks", "arn": "arn:secret:w", "id": "arn:secret:w", "tags": {"rotation-exempt": reason}}
    found = stack_violations(rule, [Node("aws:secretsmanager/secret:Secret", "w", props)])
    assert bool(found) == flagged
    if flagged:
        assert "is not an accepted reason" in found[0][1]
