"""`policies/rules/kms.py`, KMS keys and the IAM policies that use them: each case's compliant input passes, each
violating one is reported with what to change, and unknown values are no violation (helpers.case_tests)."""

from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE

from tests.policies.rules.helpers import ACCOUNT_ROOT, KEY, KEY_ARN, VIA_SERVICE, Case, case_tests, changed, policy_json

DECRYPT_ONE_KEY = {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": KEY_ARN}


CASES = [
    Case(
        "kms-key-rotation-enabled",
        "aws:kms/key:Key",
        KEY,
        [changed(KEY, enableKeyRotation=...), changed(KEY, rotationPeriodInDays=730.0)],
        [
            changed(KEY, enableKeyRotation=UNKNOWN_BOOLEAN_VALUE),
            changed(KEY, rotationPeriodInDays=UNKNOWN_NUMBER_VALUE),
        ],
    ),
    Case(
        "kms-key-rotation-enabled",
        "aws:kms/key:Key",
        changed(KEY, enableKeyRotation=..., customerMasterKeySpec="RSA_2048", keyUsage="SIGN_VERIFY"),
        [changed(KEY, rotationPeriodInDays=365.0)],
        config={"maxRotationPeriodDays": 180},
    ),
    Case(
        "kms-key-deletion-window",
        "aws:kms/key:Key",
        KEY,
        [changed(KEY, deletionWindowInDays=7.0), changed(KEY, isEnabled=False)],
        [changed(KEY, deletionWindowInDays=UNKNOWN_NUMBER_VALUE)],
    ),
    Case(
        "kms-key-deletion-window",
        "aws:kms/key:Key",
        changed(KEY, deletionWindowInDays=7.0),
        [changed(KEY, deletionWindowInDays=6.0)],
        config={"minDeletionWindowDays": 7},
    ),
    Case(
        "kms-key-policy-not-public",
        "aws:kms/key:Key",
        KEY,
        [
            changed(KEY, policy=policy_json(ACCOUNT_ROOT, changed(VIA_SERVICE, Condition=...))),
            changed(
                KEY, policy=policy_json(changed(VIA_SERVICE, Condition={"StringLike": {"kms:CallerAccount": "*"}}))
            ),
        ],
        [changed(KEY, policy=UNKNOWN_STRING_VALUE)],
    ),
    Case(
        "kms-key-policy-not-public",
        "aws:kms/keyPolicy:KeyPolicy",
        {"keyId": "k", "policy": policy_json(ACCOUNT_ROOT)},
        [
            {
                "keyId": "k",
                "policy": policy_json({"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}),
            }
        ],
    ),
    Case(
        "iam-no-kms-decrypt-on-all-keys",
        "aws:iam/rolePolicy:RolePolicy",
        {
            "role": "r",
            "policy": policy_json(DECRYPT_ONE_KEY, {"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"}),
        },
        [
            {"role": "r", "policy": policy_json(changed(DECRYPT_ONE_KEY, Resource="*"))},
            {
                "role": "r",
                "policy": policy_json(
                    {"Effect": "Allow", "Action": "kms:*", "Resource": "arn:aws:kms:us-east-1:123456789012:key/*"}
                ),
            },
        ],
        [{"role": "r", "policy": UNKNOWN_STRING_VALUE}],
    ),
    Case(
        "iam-no-kms-decrypt-on-all-keys",
        "aws:iam/role:Role",
        {"assumeRolePolicy": "{}", "inlinePolicies": [{"name": "p", "policy": policy_json(DECRYPT_ONE_KEY)}]},
        [
            {
                "assumeRolePolicy": "{}",
                "inlinePolicies": [
                    {"name": "p", "policy": policy_json(changed(DECRYPT_ONE_KEY, Action="kms:Decrypt*", Resource="*"))}
                ],
            }
        ],
        [{"assumeRolePolicy": "{}", "inlinePolicies": UNKNOWN_ARRAY_VALUE}],
    ),
]

(
    test_compliant_input_passes,
    test_violating_input_is_reported_with_what_to_change,
    test_unknown_values_are_not_violations,
    test_unknowns_recorded_offline_are_not_violations,
) = case_tests(CASES)
