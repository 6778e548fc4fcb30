"""`policies/rules/lambda_.py`, Lambda functions: each case's compliant input passes, each violating one is reported
with what to change, and unknown values are no violation (helpers.case_tests)."""

from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE

from scripts.preview.mock_engine import Evaluation
from scripts.preview.policy_runner import policy_config_file, run_policies
from tests.policies.rules.helpers import FUNCTION, RULES, Case, Node, case_tests, changed, stack_violations

CASES = [
    Case(
        "lambda-not-public",
        "aws:lambda/permission:Permission",
        {
            "function": "rotate",
            "action": "lambda:InvokeFunction",
            "principal": "secretsmanager.amazonaws.com",
            "sourceArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:cache-auth",
        },
        [
            {"function": "rotate", "action": "lambda:InvokeFunction", "principal": "*"},
            {"function": "rotate", "action": "lambda:InvokeFunction", "principal": "s3.amazonaws.com"},
        ],
        [{"function": "rotate", "action": "lambda:InvokeFunction", "principal": UNKNOWN_STRING_VALUE}],
    ),
    Case(
        "lambda-not-public",
        "aws:lambda/functionUrl:FunctionUrl",
        {"functionName": "f", "authorizationType": "AWS_IAM"},
        [{"functionName": "f", "authorizationType": "NONE"}],
        [{"functionName": "f", "authorizationType": UNKNOWN_STRING_VALUE}],
    ),
    Case(
        "lambda-in-vpc",
        "aws:lambda/function:Function",
        FUNCTION,
        [changed(FUNCTION, vpcConfig=...), changed(FUNCTION, vpcConfig={"subnetIds": [], "securityGroupIds": []})],
        [changed(FUNCTION, vpcConfig={"subnetIds": UNKNOWN_ARRAY_VALUE})],
    ),
    Case(
        "lambda-active-tracing",
        "aws:lambda/function:Function",
        FUNCTION,
        [changed(FUNCTION, tracingConfig=...), changed(FUNCTION, tracingConfig={"mode": "PassThrough"})],
        [changed(FUNCTION, tracingConfig=UNKNOWN_OBJECT_VALUE)],
    ),
]

(
    test_compliant_input_passes,
    test_violating_input_is_reported_with_what_to_change,
    test_unknown_values_are_not_violations,
    test_unknowns_recorded_offline_are_not_violations,
) = case_tests(CASES)


# -- lambda-code-signing-enforced (stack rule): the function and its code signing configuration ----------------------

CODE_SIGNING_CONFIG = "aws:lambda/codeSigningConfig:CodeSigningConfig"
CSC_ARN = "arn:aws:lambda:us-east-1:123456789012:code-signing-config:csc-0123456789abcdef0"
PROFILE_VERSION_ARN = "arn:aws:signer:us-east-1:123456789012:/signing-profiles/cryb_prod_signing_x/Ab1Cd2Ef3G"
ENFORCING = {
    "arn": CSC_ARN,
    "allowedPublishers": {"signingProfileVersionArns": [PROFILE_VERSION_ARN]},
    "policies": {"untrustedArtifactOnDeployment": "Enforce"},
}
SIGNED_FUNCTION = changed(FUNCTION, codeSigningConfigArn=CSC_ARN, s3Bucket="artifacts", s3Key="signed/f/job.zip")


def signing_findings(
    function: dict[str, Any], config: dict[str, Any] | None = ENFORCING, **depends: list[str]
) -> list[tuple[str, str]]:
    nodes = [Node("aws:lambda/function:Function", "forwarder", function, dict(depends))]
    if config is not None:
        nodes.append(Node(CODE_SIGNING_CONFIG, "signing-config", config))
    return stack_violations(RULES["lambda-code-signing-enforced"], nodes)


def test_a_function_under_an_enforcing_configuration_passes() -> None:
    assert signing_findings(SIGNED_FUNCTION) == []


def test_a_function_without_code_signing_is_reported() -> None:
    assert signing_findings(FUNCTION) == [
        ("forwarder", "no codeSigningConfigArn: any package deploys; set code_signing_config_arn (Enforce).")
    ]


@pytest.mark.parametrize("policies", [{"untrustedArtifactOnDeployment": "Warn"}, ...])
def test_a_configuration_that_only_warns_is_reported(policies: Any) -> None:
    config = changed(ENFORCING, policies=policies)  # absent: AWS's default, Warn
    assert signing_findings(SIGNED_FUNCTION, config) == [
        (
            "forwarder",
            "its code signing configuration signing-config has untrustedArtifactOnDeployment 'Warn', which deploys "
            "unsigned code with a warning: set it to 'Enforce'.",
        )
    ]


def test_a_configuration_allowing_no_profile_is_reported() -> None:
    config = changed(ENFORCING, allowedPublishers={"signingProfileVersionArns": []})
    assert signing_findings(SIGNED_FUNCTION, config) == [
        (
            "forwarder",
            "its code signing configuration signing-config allows no signing profile: list the stack's Signer "
            "profile version ARN in allowed_publishers.",
        )
    ]


def test_a_configuration_outside_the_stack_cannot_be_checked_and_is_reported() -> None:
    foreign = "arn:aws:lambda:us-east-1:999999999999:code-signing-config:csc-elsewhere"
    assert signing_findings(changed(SIGNED_FUNCTION, codeSigningConfigArn=foreign)) == [
        (
            "forwarder",
            f"codeSigningConfigArn [{foreign!r}] is no code signing configuration of this stack, so its policy cannot "
            "be checked: use the stack's (components/signing).",
        )
    ]


def test_an_unknown_configuration_waits_unless_the_engine_says_where_it_comes_from() -> None:
    unknown = changed(SIGNED_FUNCTION, codeSigningConfigArn=UNKNOWN_STRING_VALUE)
    assert signing_findings(unknown, changed(ENFORCING, arn=UNKNOWN_STRING_VALUE)) == []
    warning = changed(ENFORCING, arn=UNKNOWN_STRING_VALUE, policies={"untrustedArtifactOnDeployment": "Warn"})
    found = signing_findings(unknown, warning, codeSigningConfigArn=["signing-config"])
    assert [name for name, _ in found] == ["forwarder"] and "'Warn'" in found[0][1]


def test_every_function_of_both_stacks_is_enforced(each_stack: Evaluation) -> None:
    """The rule on the real program's record, and the record itself: no function without an enforcing config."""
    functions = each_stack.of_type("aws:lambda/function:Function")
    assert len(functions) == {"dev": 2, "prod": 4}[each_stack.stack]
    configs = {c.urn: c for c in each_stack.of_type(CODE_SIGNING_CONFIG)}
    for function in functions:
        (config_urn,) = function.property_dependencies["codeSigningConfigArn"]
        assert configs[config_urn].inputs["policies"]["untrustedArtifactOnDeployment"] == "Enforce"
    report = run_policies(each_stack, policy_config_file(each_stack.stack))
    assert [v for v in report if v["policy"] == "lambda-code-signing-enforced"] == []
