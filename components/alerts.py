"""Placeholder alert topics (critical, warning) for RDS events until the monitoring component lands."""

import json
from collections.abc import Mapping
from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws

SEVERITIES = ("critical", "warning")
# Services that publish to the topics: RDS event subscriptions now, CloudWatch alarms with the monitoring issue.
PUBLISHERS = ("events.rds.amazonaws.com", "cloudwatch.amazonaws.com")


def topic_key_policy(account_id: str) -> dict[str, Any]:
    """The publishing services must use the key themselves (an AWS-managed SNS key would lock them out)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministersKeyThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "PublishersOfThisAccountEncrypt",
                "Effect": "Allow",
                "Principal": {"Service": list(PUBLISHERS)},
                "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            },
        ],
    }


def topic_policy(topic_arn: str, account_id: str) -> dict[str, Any]:
    """The account manages the topic; the publishing services may publish only on behalf of this account."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountManagesTopic",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": [
                    "sns:GetTopicAttributes",
                    "sns:SetTopicAttributes",
                    "sns:Subscribe",
                    "sns:ListSubscriptionsByTopic",
                    "sns:Publish",
                ],
                "Resource": topic_arn,
            },
            {
                "Sid": "ServicesPublishForThisAccount",
                "Effect": "Allow",
                "Principal": {"Service": list(PUBLISHERS)},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            },
        ],
    }


class AlertTopicsArgs(TypedDict):
    """Inputs of AlertTopics."""

    account_id: str
    """Account whose services publish to the topics."""
    deletion_window_days: int
    """Days the topics' key waits before deletion once scheduled (7-30)."""
    rotation_period_days: int
    """Automatic rotation period of the topics' key in days."""
    tags: Mapping[str, str]
    """Tags on every taggable resource."""


class AlertTopics(pulumi.ComponentResource):
    """A critical and a warning SNS topic encrypted with their own CMK (SNS.1), which RDS may publish to."""

    arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: AlertTopicsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cryb:alerts:AlertTopics", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = args["account_id"]
        key = aws.kms.Key(
            f"{name}-key",
            description=f"cryb-db {name}: SNS alert topics",
            enable_key_rotation=True,
            rotation_period_in_days=args["rotation_period_days"],
            deletion_window_in_days=args["deletion_window_days"],
            policy=json.dumps(topic_key_policy(account)),
            tags={**args["tags"], "Name": f"{name}-key", "purpose": "alerts"},
            opts=child,
        )
        aws.kms.Alias(f"{name}-key-alias", name=f"alias/{name}", target_key_id=key.key_id, opts=child)
        self.arns = {}
        for severity in SEVERITIES:
            topic = aws.sns.Topic(
                f"{name}-{severity}",
                kms_master_key_id=key.arn,
                tags={**args["tags"], "Name": f"{name}-{severity}", "severity": severity},
                opts=child,
            )
            aws.sns.TopicPolicy(
                f"{name}-{severity}-policy",
                arn=topic.arn,
                policy=topic.arn.apply(lambda arn: json.dumps(topic_policy(arn, account))),
                opts=child,
            )
            self.arns[severity] = topic.arn
        self.register_outputs({"arns": self.arns})
