"""IAM documents shared by the Secrets Manager rotation functions (cache users, Patroni clusters): pure, unit-tested.
Each function's own module adds what only it may do."""

from collections.abc import Sequence
from typing import Any

from components.rotation.acknowledged import TAG_PREFIX
from components.security.iam_documents import service_trust
from components.security.lambda_policies import vpc_access_statement

SECRET_ACTIONS = [
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
]


def lambda_trust() -> dict[str, Any]:
    """Lambda assumes the role. No aws:SourceAccount condition: Lambda does not send it with AssumeRole, and a
    condition on a missing key would deny the function its own role."""
    return service_trust("lambda.amazonaws.com")


def rotation_statements(
    secret_arns: Sequence[str], secrets_key_arn: str, log_group_arn: str, region: str
) -> list[dict[str, Any]]:
    """Read and restage only the rotated secrets, write its own logs, trace, and manage the network interfaces of its
    VPC attachment. "*" only where AWS offers no resource-level permission."""
    if not secret_arns:
        raise ValueError("a rotation policy needs at least one secret")
    return [
        {"Sid": "RotateSecrets", "Effect": "Allow", "Action": SECRET_ACTIONS, "Resource": sorted(secret_arns)},
        {
            # GetRandomPassword acts on no resource.
            "Sid": "GeneratePasswords",
            "Effect": "Allow",
            "Action": "secretsmanager:GetRandomPassword",
            "Resource": "*",
        },
        {
            "Sid": "SecretsKeyThroughSecretsManager",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": secrets_key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
        },
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{log_group_arn}:*",
        },
        {
            # X-Ray has no resource-level permissions.
            "Sid": "Tracing",
            "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Resource": "*",
        },
        vpc_access_statement(region),
    ]


def acknowledgement_tags_only() -> dict[str, dict[str, object]]:
    """IAM condition: the request sets or removes `cryb-rotation-*` tags and no other (the nodes tag, the rotation
    function untags)."""
    return {
        "ForAllValues:StringLike": {"aws:TagKeys": [f"{TAG_PREFIX}*"]},
        "Null": {"aws:TagKeys": "false"},
    }


def acknowledged_rotation_policy(
    secret_arns: Sequence[str], secrets_key_arn: str, log_group_arn: str, region: str
) -> dict[str, Any]:
    """The role policy of a function whose nodes acknowledge (components/rotation/acknowledged.py): the shared
    rotation statements, plus: remove the nodes' acknowledgement tags from the rotated secrets, and no other tag."""
    untag = {
        "Sid": "ClearAcknowledgements",
        "Effect": "Allow",
        "Action": "secretsmanager:UntagResource",
        "Resource": sorted(secret_arns),
        "Condition": acknowledgement_tags_only(),
    }
    return {
        "Version": "2012-10-17",
        "Statement": [*rotation_statements(secret_arns, secrets_key_arn, log_group_arn, region), untag],
    }
