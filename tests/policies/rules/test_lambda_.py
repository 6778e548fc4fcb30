"""`policies/rules/lambda_.py`, Lambda functions: each case's compliant input passes, each violating one is reported
with what to change, and unknown values are no violation (helpers.case_tests)."""

from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE

from tests.policies.rules.helpers import FUNCTION, Case, case_tests, changed

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
