"""IAM documents of the ElastiCache user rotation function (components/cache_rotation.py): pure, unit-tested."""

from collections.abc import Sequence
from typing import Any

from .iam_documents import service_trust
from .lambda_policies import vpc_access_statement

SECRET_ACTIONS = [
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
]
# The AWS ElastiCache guide to user rotation (User-Secrets-Manager) scopes both to the user's ARN, and the Service
# Authorization Reference lists the `user` resource type for them; the function always calls DescribeUsers with
# UserId, which is what makes the ARN scope work (an unfiltered DescribeUsers would need "*").
USER_ACTIONS = ["elasticache:DescribeUsers", "elasticache:ModifyUser"]


def lambda_trust() -> dict[str, Any]:
    """Lambda assumes the role. No aws:SourceAccount condition: Lambda does not send it with AssumeRole, and a
    condition on a missing key would deny the function its own role."""
    return service_trust("lambda.amazonaws.com")


def rotation_policy(
    secret_arns: Sequence[str],
    user_arns: Sequence[str],
    secrets_key_arn: str,
    log_group_arn: str,
    region: str,
) -> dict[str, Any]:
    """Read and restage only the rotated secrets, modify only their users, write its own logs, trace, and manage
    the network interfaces of its VPC attachment. "*" only where AWS offers no resource-level permission."""
    if not secret_arns or not user_arns:
        raise ValueError("the rotation policy needs at least one secret and one user")
    return {
        "Version": "2012-10-17",
        "Statement": [
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
            {"Sid": "ModifyCacheUsers", "Effect": "Allow", "Action": USER_ACTIONS, "Resource": sorted(user_arns)},
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
        ],
    }
