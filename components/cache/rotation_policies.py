"""IAM documents of the ElastiCache user rotation function (components/cache/rotation.py): pure, unit-tested."""

from collections.abc import Sequence
from typing import Any

from components.rotation.policies import SECRET_ACTIONS, lambda_trust, rotation_statements

__all__ = ["SECRET_ACTIONS", "USER_ACTIONS", "lambda_trust", "rotation_policy"]

# The AWS ElastiCache guide to user rotation (User-Secrets-Manager) scopes both to the user's ARN, and the Service
# Authorization Reference lists the `user` resource type for them; the function always calls DescribeUsers with
# UserId, which is what makes the ARN scope work (an unfiltered DescribeUsers would need "*").
USER_ACTIONS = ["elasticache:DescribeUsers", "elasticache:ModifyUser"]


def rotation_policy(
    secret_arns: Sequence[str],
    user_arns: Sequence[str],
    secrets_key_arn: str,
    log_group_arn: str,
    region: str,
) -> dict[str, Any]:
    """The shared rotation statements (components/rotation/policies.py), plus: modify only the secrets' users."""
    if not secret_arns or not user_arns:
        raise ValueError("the rotation policy needs at least one secret and one user")
    statements = rotation_statements(secret_arns, secrets_key_arn, log_group_arn, region)
    users = {"Sid": "ModifyCacheUsers", "Effect": "Allow", "Action": USER_ACTIONS, "Resource": sorted(user_arns)}
    return {"Version": "2012-10-17", "Statement": [*statements[:3], users, *statements[3:]]}
