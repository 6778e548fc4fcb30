"""CloudWatch: alarms that notify someone, and log groups that are encrypted and kept long enough."""

from collections.abc import Iterator

from pulumi_policy import Severity

from .base import Config, RuleSet
from .props import UNKNOWN, as_bool, as_list, as_number
from .resource import Resource

RULES = RuleSet()

# A DR standby's alarms wait with their actions off until `dr promote-region` enables them: a standby cluster has no
# writer by design (docs/disaster-recovery.md#the-patroni-standby-cluster). Both tags, and their actions set.
ENABLED_AT_PROMOTION = {"dr": "standby", "actions-enabled-by": "dr-promote-region"}

METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE_ALARM = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


@RULES.resource(
    types=(METRIC_ALARM, COMPOSITE_ALARM),
    name="cloudwatch-alarm-has-actions",
    description="Every alarm has an enabled action for the ALARM state (an alarm nobody hears is no alarm).",
    controls=("CloudWatch.15", "CloudWatch.17", "CRYB.5"),
    severity=Severity.HIGH,
    remediation="Set alarm_actions to the alerting SNS topic ARN and leave actions_enabled True.",
)
def cloudwatch_alarm_has_actions(resource: Resource, config: Config) -> Iterator[str]:
    actions = as_list(resource.get("alarmActions"))
    if actions is not UNKNOWN and not actions:
        yield "alarmActions is empty: set alarm_actions to the alerting SNS topic ARN."
    tags = resource.get("tags", default={})
    waits_for_promotion = isinstance(tags, dict) and all(tags.get(k) == v for k, v in ENABLED_AT_PROMOTION.items())
    if as_bool(resource.get("actionsEnabled", default=True)) is False and not waits_for_promotion:
        yield "actionsEnabled is false: set actions_enabled=True so the alarm notifies."


@RULES.resource(
    types=(LOG_GROUP,),
    name="cloudwatch-log-group-encrypted",
    description="Log groups are encrypted with the stack's customer-managed `logs` key.",
    controls=("CRYB.9",),
    severity=Severity.MEDIUM,
    remediation="Set kms_key_id to the stack's `logs` KMS key ARN.",
)
def cloudwatch_log_group_encrypted(resource: Resource, config: Config) -> Iterator[str]:
    if "kmsKeyId" not in resource.props:
        yield "kmsKeyId is not set: set kms_key_id to the `logs` key ARN."


@RULES.resource(
    types=(LOG_GROUP,),
    name="cloudwatch-log-group-retention",
    description="Log groups keep events at least `minRetentionDays` days (0 / unset keeps them forever).",
    controls=("CloudWatch.16",),
    severity=Severity.MEDIUM,
    remediation="Set retention_in_days to at least the configured minimum (365 in prod).",
    config_schema={"minRetentionDays": {"type": "integer", "minimum": 1, "maximum": 3653, "default": 365}},
)
def cloudwatch_log_group_retention(resource: Resource, config: Config) -> Iterator[str]:
    days = as_number(resource.get("retentionInDays", default=0))
    minimum = float(config["minRetentionDays"])
    if days is not UNKNOWN and days is not None and 0 < days < minimum:
        yield f"retentionInDays is {days:g}: set retention_in_days to at least {minimum:g}."
