"""Key policies of the stack's customer-managed keys, as pure functions returning policy documents."""

from typing import Any

# Which AWS service principals may use a key of each purpose, and through which service (kms:ViaService).
KEY_PURPOSES: dict[str, str] = {
    "logs": "CloudWatch Logs log groups (VPC flow logs, database and cache logs)",
    "data": "Data at rest: RDS storage, Performance Insights, ElastiCache, EBS volumes",
    "secrets": "Secrets Manager secrets (database and cache credentials)",
}


def key_policy(purpose: str, account_id: str, region: str) -> dict[str, Any]:
    """The account administers the key through IAM; services get only what their purpose needs."""
    if purpose not in KEY_PURPOSES:
        raise ValueError(f"purpose={purpose!r}: must be one of {', '.join(KEY_PURPOSES)}")
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AccountAdministersKeyThroughIam",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if purpose == "logs":
        statements.append(
            {
                "Sid": "CloudWatchLogsEncryptsThisAccountsLogGroups",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                "Resource": "*",
                "Condition": {
                    "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account_id}:log-group:*"}
                },
            }
        )
    else:
        via = {
            "data": [
                f"rds.{region}.amazonaws.com",
                f"elasticache.{region}.amazonaws.com",
                f"ec2.{region}.amazonaws.com",
            ],
            "secrets": [f"secretsmanager.{region}.amazonaws.com"],
        }[purpose]
        statements.append(
            {
                "Sid": "AccountPrincipalsUseKeyOnlyThroughItsServices",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": [
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:CreateGrant",
                    "kms:DescribeKey",
                ],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"kms:CallerAccount": account_id, "kms:ViaService": via},
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}
