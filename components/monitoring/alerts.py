"""Alert routing: a critical and a warning SNS topic (KMS-encrypted, SNS.1) that only AWS services of this account
may publish to, with delivery-status logging (SNS.2), PagerDuty on the critical topic and a Slack/Discord forwarder
Lambda on both (docs/monitoring.md#alert-routing)."""

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components.monitoring.alert_forwarder import HANDLER, HANDLER_FILE
from components.network.https_egress import https_only_security_group
from components.security.iam_documents import service_trust
from components.security.lambda_policies import vpc_access_statement
from components.signing import CodeSigning

SEVERITIES = ("critical", "warning")
# Services that publish alerts: CloudWatch alarms, RDS event subscriptions, ElastiCache and AWS Backup
# notifications, and EventBridge, which carries ElastiCache events here because ElastiCache's own notifications
# go inactive on an encrypted topic (components/cache/component.py).
PUBLISHERS = (
    "cloudwatch.amazonaws.com",
    "events.rds.amazonaws.com",
    "elasticache.amazonaws.com",
    "backup.amazonaws.com",
    "events.amazonaws.com",
)
FORWARDER_RUNTIME = "python3.12"
FORWARDER_TIMEOUT_SECONDS = 120  # two webhooks x 4 attempts x 5 s timeout, plus backoff
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
SECRET_RECOVERY_DAYS = 30
# PagerDuty retries on its side too; SNS retries an HTTPS endpoint 10 times over ~2 minutes before giving up.
HTTPS_DELIVERY_POLICY = {
    "healthyRetryPolicy": {
        "minDelayTarget": 5,
        "maxDelayTarget": 60,
        "numRetries": 10,
        "numNoDelayRetries": 0,
        "numMinDelayRetries": 2,
        "numMaxDelayRetries": 3,
        "backoffFunction": "exponential",
    }
}


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


def delivery_log_group_names(region: str, account_id: str, topic_name: str) -> tuple[str, str]:
    """Where SNS writes delivery status: successes and failures (fixed names, so they are created ahead)."""
    base = f"sns/{region}/{account_id}/{topic_name}"
    return base, f"{base}/Failure"


def delivery_logging_policy(region: str, account_id: str) -> dict[str, Any]:
    """SNS writes delivery status to its `sns/<region>/<account>/<topic>` log groups, and nowhere else."""
    groups = f"arn:aws:logs:{region}:{account_id}:log-group:sns/{region}/{account_id}/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteDeliveryStatus",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:PutMetricFilter",
                    "logs:PutRetentionPolicy",
                ],
                "Resource": [groups, f"{groups}:*"],
            }
        ],
    }


def forwarder_policy(
    log_group_arn: str,
    secret_arn: str,
    secrets_key_arn: str,
    dlq_arn: str,
    alerts_key_arn: str,
    region: str,
    in_vpc: bool = False,
) -> dict[str, Any]:
    """The forwarder reads its webhook secret, writes its logs, traces, parks failed events in its queue and, in a
    VPC, manages its network interfaces."""
    document = _forwarder_statements(log_group_arn, secret_arn, secrets_key_arn, dlq_arn, alerts_key_arn, region)
    if in_vpc:
        document["Statement"].append(vpc_access_statement(region))
    return document


def _forwarder_statements(
    log_group_arn: str, secret_arn: str, secrets_key_arn: str, dlq_arn: str, alerts_key_arn: str, region: str
) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{log_group_arn}:*",
            },
            {
                "Sid": "WebhookSecret",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": secret_arn,
            },
            {
                "Sid": "DecryptWebhookSecret",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": secrets_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
            },
            {"Sid": "DeadLetters", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": dlq_arn},
            {
                "Sid": "EncryptDeadLetters",
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": alerts_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"sqs.{region}.amazonaws.com"}},
            },
            {
                # X-Ray has no resource-level permissions.
                "Sid": "Tracing",
                "Effect": "Allow",
                "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                "Resource": "*",
            },
        ],
    }


class AlertTopicsArgs(TypedDict):
    """Inputs of AlertTopics."""

    account_id: str
    """Account whose services publish to the topics."""
    region: str
    """Region of the topics (log group names, console links, KMS ViaService conditions)."""
    deletion_window_days: int
    """Days the topics' key waits before deletion once scheduled (7-30)."""
    rotation_period_days: int
    """Automatic rotation period of the topics' key in days."""
    logs_kms_key_arn: pulumi.Input[str]
    """CMK of the delivery-status and forwarder log groups."""
    secrets_kms_key_arn: pulumi.Input[str]
    """CMK of the chat webhook secret."""
    log_retention_days: int
    """Retention of the delivery-status and forwarder log groups (a CloudWatch Logs period)."""
    pagerduty_integration_url: NotRequired[pulumi.Input[str] | None]
    """PagerDuty CloudWatch integration URL (a Pulumi secret): subscribed to the critical topic over HTTPS.
    None: no pager (dev)."""
    delivery_success_sample_rate: NotRequired[int]
    """Percent of successful deliveries logged (failures always are); default 100."""
    forwarder_vpc_id: NotRequired[pulumi.Input[str] | None]
    """VPC the forwarder runs in (Lambda.3); with `forwarder_subnet_ids`. None: outside any VPC."""
    forwarder_subnet_ids: NotRequired[Sequence[pulumi.Input[str]]]
    """Private subnets with NAT egress (the app tier): the webhooks and PagerDuty are on the internet."""
    forwarder_reserved_concurrency: NotRequired[int | None]
    """Concurrent forwarder executions reserved (and capped): bursts queue instead of flooding the webhooks.
    None: unreserved (accounts whose concurrency quota cannot spare any). Default 2."""
    code_signing: CodeSigning
    """Code signing of the topics' region (components/signing): the forwarder runs only its signed package."""
    tags: Mapping[str, str]
    """Tags on every taggable resource."""


class AlertTopics(pulumi.ComponentResource):
    """A critical and a warning SNS topic encrypted with their own CMK, published to only by CloudWatch, RDS,
    ElastiCache, Backup and EventBridge of this account, logging delivery status, paging PagerDuty (critical) and
    forwarding both to Slack and Discord."""

    arns: dict[str, pulumi.Output[str]]
    webhook_secret_arn: pulumi.Output[str]
    forwarder_name: pulumi.Output[str]

    def __init__(self, name: str, args: AlertTopicsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cryb:alerts:AlertTopics", name, None, opts)
        self._name, self._args = name, args
        self._tags = dict(args["tags"])
        account = args["account_id"]
        key = aws.kms.Key(
            f"{name}-key",
            description=f"cryb-db {name}: SNS alert topics, forwarder environment and dead letters",
            enable_key_rotation=True,
            rotation_period_in_days=args["rotation_period_days"],
            deletion_window_in_days=args["deletion_window_days"],
            policy=json.dumps(topic_key_policy(account)),
            tags=self._tag(f"{name}-key", purpose="alerts"),
            opts=self._child(),
        )
        aws.kms.Alias(f"{name}-key-alias", name=f"alias/{name}", target_key_id=key.key_id, opts=self._child())
        feedback_role = self._delivery_logging_role()
        sample_rate = args.get("delivery_success_sample_rate", 100)

        topics: dict[str, aws.sns.Topic] = {}
        for severity in SEVERITIES:
            topic = aws.sns.Topic(
                f"{name}-{severity}",
                kms_master_key_id=key.arn,
                # Delivery status of both protocols in use (SNS.2): a page that never arrived must leave a trace.
                http_success_feedback_role_arn=feedback_role.arn,
                http_failure_feedback_role_arn=feedback_role.arn,
                http_success_feedback_sample_rate=sample_rate,
                lambda_success_feedback_role_arn=feedback_role.arn,
                lambda_failure_feedback_role_arn=feedback_role.arn,
                lambda_success_feedback_sample_rate=sample_rate,
                tags=self._tag(f"{name}-{severity}", severity=severity),
                opts=self._child(),
            )
            aws.sns.TopicPolicy(
                f"{name}-{severity}-policy",
                arn=topic.arn,
                policy=topic.arn.apply(lambda arn: json.dumps(topic_policy(arn, account))),
                opts=self._child(),
            )
            self._delivery_log_groups(severity, topic)
            topics[severity] = topic
        self.arns = {severity: topic.arn for severity, topic in topics.items()}

        pagerduty = args.get("pagerduty_integration_url")
        if pagerduty is not None:
            aws.sns.TopicSubscription(
                f"{name}-critical-pagerduty",
                topic=topics["critical"].arn,
                protocol="https",
                endpoint=pulumi.Output.secret(pagerduty),  # the integration key is in the URL
                endpoint_auto_confirms=True,  # PagerDuty confirms SNS subscriptions itself
                confirmation_timeout_in_minutes=5,
                delivery_policy=json.dumps(HTTPS_DELIVERY_POLICY),
                opts=self._child(),
            )
        self._forwarder(key, topics)
        self.register_outputs(
            {"arns": self.arns, "webhookSecretArn": self.webhook_secret_arn, "forwarderName": self.forwarder_name}
        )

    # -- helpers -------------------------------------------------------------------------------------------

    def _tag(self, name: str, **extra: str) -> dict[str, str]:
        return {**self._tags, "Name": name, **extra}

    def _child(self, *depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))

    def _log_group(self, label: str, name: pulumi.Input[str]) -> aws.cloudwatch.LogGroup:
        return aws.cloudwatch.LogGroup(
            label,
            name=name,
            retention_in_days=self._args["log_retention_days"],
            kms_key_id=self._args["logs_kms_key_arn"],
            tags=self._tag(label),
            opts=self._child(),
        )

    def _delivery_logging_role(self) -> aws.iam.Role:
        n, a = self._name, self._args
        role = aws.iam.Role(
            f"{n}-delivery-logging",
            description=f"cryb-db {n}: SNS writes delivery status of the alert topics to CloudWatch Logs",
            assume_role_policy=json.dumps(service_trust("sns.amazonaws.com", a["account_id"])),
            tags=self._tag(f"{n}-delivery-logging"),
            opts=self._child(),
        )
        aws.iam.RolePolicy(
            f"{n}-delivery-logging",
            role=role.id,
            policy=json.dumps(delivery_logging_policy(a["region"], a["account_id"])),
            opts=self._child(),
        )
        return role

    def _delivery_log_groups(self, severity: str, topic: aws.sns.Topic) -> None:
        """Created ahead of SNS so they get retention and the logs CMK instead of SNS's defaults."""
        a = self._args
        names = topic.name.apply(lambda topic_name: delivery_log_group_names(a["region"], a["account_id"], topic_name))
        self._log_group(f"{self._name}-{severity}-delivery-logs", names[0])
        self._log_group(f"{self._name}-{severity}-delivery-failures", names[1])

    # -- chat forwarder ------------------------------------------------------------------------------------

    def _forwarder_security_group(self, vpc_id: pulumi.Input[str]) -> aws.ec2.SecurityGroup:
        """No ingress; HTTPS out only (Slack, Discord, Secrets Manager, SQS), through the app tier's NAT."""
        n = self._name
        return https_only_security_group(
            f"{n}-forwarder-sg",
            vpc_id=vpc_id,
            description=f"cryb-db {n}: alert forwarder Lambda, HTTPS out only",
            egress_description="Webhooks (Slack, Discord) and AWS APIs over HTTPS",
            tags=self._tags,
            opts=self._child(),
        )

    def _forwarder(self, key: aws.kms.Key, topics: dict[str, aws.sns.Topic]) -> None:
        n, a = self._name, self._args
        secret = aws.secretsmanager.Secret(
            f"{n}-chat-webhooks",
            name_prefix=f"cryb-db/{n}/chat-webhooks-",
            description=f"cryb-db {n}: Slack and Discord webhook URLs of the alert forwarder, as "
            '{"slack": "https://hooks.slack.com/...", "discord": "https://discord.com/api/webhooks/..."}',
            kms_key_id=a["secrets_kms_key_arn"],
            recovery_window_in_days=SECRET_RECOVERY_DAYS,
            # Only Slack and Discord can issue new webhook URLs (policies/rules/secrets.py).
            tags={**self._tag(f"{n}-chat-webhooks"), "rotation-exempt": "issued-by-third-party"},
            opts=self._child(),
        )
        self.webhook_secret_arn = secret.arn
        logs = self._log_group(f"{n}-forwarder-logs", f"/cryb-db/{n}/forwarder")
        dlq = aws.sqs.Queue(
            f"{n}-forwarder-dlq",
            kms_master_key_id=key.arn,
            kms_data_key_reuse_period_seconds=3600,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            tags=self._tag(f"{n}-forwarder-dlq"),
            opts=self._child(),
        )
        role = aws.iam.Role(
            f"{n}-forwarder",
            description=f"cryb-db {n}: the Slack/Discord alert forwarder Lambda",
            assume_role_policy=json.dumps(service_trust("lambda.amazonaws.com")),
            tags=self._tag(f"{n}-forwarder"),
            opts=self._child(),
        )
        vpc_id, in_vpc = a.get("forwarder_vpc_id"), bool(a.get("forwarder_subnet_ids"))
        vpc_config = None
        if in_vpc and vpc_id is not None:
            vpc_config = aws.lambda_.FunctionVpcConfigArgs(
                subnet_ids=list(a.get("forwarder_subnet_ids", [])),
                security_group_ids=[self._forwarder_security_group(vpc_id).id],
            )
        policy = aws.iam.RolePolicy(
            f"{n}-forwarder",
            role=role.id,
            policy=pulumi.Output.all(logs.arn, secret.arn, a["secrets_kms_key_arn"], dlq.arn, key.arn).apply(
                lambda v: json.dumps(forwarder_policy(v[0], v[1], v[2], v[3], v[4], a["region"], in_vpc=in_vpc))
            ),
            opts=self._child(),
        )
        severity_by_topic = pulumi.Output.all(*[topics[s].arn for s in SEVERITIES]).apply(
            lambda arns: json.dumps(dict(zip(arns, SEVERITIES, strict=True)))
        )
        package = pulumi.AssetArchive({HANDLER_FILE.name: pulumi.FileAsset(os.path.relpath(HANDLER_FILE))})
        signed = a["code_signing"].sign(f"{n}-forwarder", package, parent=self)
        function = aws.lambda_.Function(
            f"{n}-forwarder",
            description=f"cryb-db {n}: alarms and RDS/ElastiCache events to Slack and Discord",
            runtime=FORWARDER_RUNTIME,
            architectures=["arm64"],
            handler=HANDLER,
            # The signed copy of the package; the code signing configuration refuses any other (docs/code-signing.md).
            s3_bucket=signed.s3_bucket,
            s3_key=signed.s3_key,
            code_signing_config_arn=signed.code_signing_config_arn,
            role=role.arn,
            memory_size=128,
            timeout=FORWARDER_TIMEOUT_SECONDS,
            reserved_concurrent_executions=a.get("forwarder_reserved_concurrency", 2),
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={"WEBHOOK_SECRET_ARN": secret.arn, "SEVERITY_BY_TOPIC": severity_by_topic}
            ),
            kms_key_arn=key.arn,
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
            vpc_config=vpc_config,
            dead_letter_config=aws.lambda_.FunctionDeadLetterConfigArgs(target_arn=dlq.arn),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="JSON", log_group=logs.name, application_log_level="INFO", system_log_level="WARN"
            ),
            tags=self._tag(f"{n}-forwarder"),
            opts=self._child(policy, logs),
        )
        self.forwarder_name = function.name
        for severity, topic in topics.items():
            permission = aws.lambda_.Permission(
                f"{n}-{severity}-invokes-forwarder",
                function=function.name,
                action="lambda:InvokeFunction",
                principal="sns.amazonaws.com",
                source_arn=topic.arn,
                opts=self._child(),
            )
            aws.sns.TopicSubscription(
                f"{n}-{severity}-forwarder",
                topic=topic.arn,
                protocol="lambda",
                endpoint=function.arn,
                opts=self._child(permission),
            )
        # Events the forwarder finally failed on: chat lost them, so page (the critical topic also reaches PagerDuty).
        aws.cloudwatch.MetricAlarm(
            f"{n}-forwarder-dead-letters",
            name=f"{n}-forwarder-dead-letters",
            alarm_description="Alerts the Slack/Discord forwarder could not deliver after retries are waiting in its "
            "dead-letter queue. Runbook: docs/monitoring.md#forwarder-dead-letters",
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": dlq.name},
            statistic="Maximum",
            period=300,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            comparison_operator="GreaterThanThreshold",
            threshold=0,
            treat_missing_data="notBreaching",
            alarm_actions=[topics["critical"].arn],
            ok_actions=[topics["critical"].arn],
            tags=self._tag(f"{n}-forwarder-dead-letters", severity="critical"),
            opts=self._child(),
        )
