"""SNS: alerting topics are encrypted, private and log failed deliveries."""

from collections.abc import Iterator

from pulumi_policy import Severity

from .base import Config, RuleSet
from .documents import parse, public_statements
from .props import UNKNOWN
from .resource import Resource

RULES = RuleSet()

TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
TOPIC_SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
FAILURE_FEEDBACK_ROLES = (
    "applicationFailureFeedbackRoleArn",
    "firehoseFailureFeedbackRoleArn",
    "httpFailureFeedbackRoleArn",
    "lambdaFailureFeedbackRoleArn",
    "sqsFailureFeedbackRoleArn",
)


@RULES.resource(
    types=(TOPIC,),
    name="sns-topic-encrypted",
    description="Topics encrypt messages at rest with KMS.",
    controls=("SNS.1",),
    severity=Severity.MEDIUM,
    remediation="Set kms_master_key_id to a customer-managed key that CloudWatch and RDS events may use.",
)
def sns_topic_encrypted(resource: Resource, config: Config) -> Iterator[str]:
    if "kmsMasterKeyId" not in resource.props:
        yield "kmsMasterKeyId is not set: set kms_master_key_id so messages are encrypted at rest."


@RULES.resource(
    types=(TOPIC, TOPIC_POLICY),
    name="sns-topic-policy-not-public",
    description="Topic policies let only named principals or pinned sources publish and subscribe.",
    controls=("SNS.4",),
    severity=Severity.HIGH,
    remediation="Name principals (e.g. cloudwatch.amazonaws.com) and add an aws:SourceAccount/aws:SourceArn condition.",
)
def sns_topic_policy_not_public(resource: Resource, config: Config) -> Iterator[str]:
    document = parse(resource.get("policy"))
    if document is UNKNOWN or document is None:
        return
    for statement in public_statements(document):
        yield f"statement {statement.get('Sid', '(no Sid)')!r} allows anyone: name principals or add a condition."


@RULES.resource(
    types=(TOPIC,),
    name="sns-delivery-status-logging",
    description="Failed deliveries are logged to CloudWatch Logs, so a lost page is noticed.",
    controls=("SNS.2",),
    severity=Severity.MEDIUM,
    remediation="Set the *_failure_feedback_role_arn for the subscription protocols used (e.g. "
    "http_failure_feedback_role_arn, sqs_failure_feedback_role_arn).",
)
def sns_delivery_status_logging(resource: Resource, config: Config) -> Iterator[str]:
    if not any(key in resource.props for key in FAILURE_FEEDBACK_ROLES):
        yield "no *FailureFeedbackRoleArn is set: set one for each protocol the topic delivers to."
