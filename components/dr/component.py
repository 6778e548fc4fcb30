"""The warm standby of the RDS shards in the DR region: per shard a cross-Region read replica (encrypted with the DR
region's CMK, Performance Insights, Enhanced Monitoring, deletion protection, the shard's parameter family and
values), its log groups, alarms to the DR region's topics and a composite per standby (docs/disaster-recovery.md).

Declared with the DR-region provider (passed in `opts`; this component creates none)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

import pulumi
import pulumi_aws as aws

from components.dr.plan import standby_alarm_specs, standby_identifier
from components.monitoring.alarm_thresholds import AlarmSettings
from components.monitoring.component import COMPARISON_SIGNS
from components.postgres.component import EVENT_CATEGORIES, LOG_EXPORTS, Postgres, PostgresShard
from components.postgres.tuning import family

RUNBOOK = "docs/disaster-recovery.md"


class RegionStandbyArgs(TypedDict):
    """Inputs of RegionStandby."""

    source: Postgres
    """The primary shards (topology `instance`): their writers' ARNs, tuned parameters and Enhanced Monitoring role."""
    instance_class: str
    """Instance class of each standby (the shards' own: a standby that takes over carries their load)."""
    engine_version: str
    """The shards' engine version: the standby's parameter group has the same family."""
    storage_type: str
    """`gp3` or `io2`, as the shards."""
    iops: int | None
    """Provisioned IOPS, as the shards (None: the storage type's baseline)."""
    allocated_storage_gb: int
    """The shards' allocated storage (the free-storage alarm is 10 % of it)."""
    max_allocated_storage_gb: int
    """Storage autoscaling ceiling of each standby."""
    port: int
    """PostgreSQL port, as the shards."""
    iam_authentication: bool
    """IAM database authentication, as the shards."""
    performance_insights_retention_days: int
    """Performance Insights retention."""
    monitoring_interval_seconds: int
    """Enhanced Monitoring interval."""
    log_retention_days: int
    """Retention of the standbys' exported log groups."""
    deletion_protection: bool
    """Refuse deletion of a standby (a standby is the region-loss recovery of its shard)."""
    ca_cert_identifier: str
    """Server CA, as the shards."""
    region: str
    """The DR region."""
    db_subnet_group_name: pulumi.Input[str]
    """Subnet group over the DR VPC's isolated data subnets."""
    security_group_id: pulumi.Input[str]
    """The DR VPC's postgres security group."""
    data_kms_key_arn: pulumi.Input[str]
    """The DR region's data CMK: storage and Performance Insights."""
    logs_kms_key_arn: pulumi.Input[str]
    """The DR region's logs CMK: the exported log groups."""
    alert_topic_arns: Mapping[str, pulumi.Input[str]]
    """The DR region's topics by severity (`critical`, `warning`): alarms and events raised there go to them."""
    alarm_settings: AlarmSettings
    """The stack's alarm settings (cryb-db:monitoring)."""
    lag_alarm_seconds: int
    """Lag above which a standby's lag alarm fires (cryb-db:dr.lagAlarmSeconds)."""
    maintenance_windows: Sequence[str]
    """Each shard's standby's maintenance window (placed with every other window, none overlapping)."""
    tags: Mapping[str, str]
    """Tags on every taggable resource."""


@dataclass(frozen=True)
class StandbyShard:
    """One shard's standby, as the outputs contract (`dr.shards`) and the promotion need it."""

    shard: int
    source_identifier: str
    identifier: str
    endpoint: pulumi.Output[str]
    arn: pulumi.Output[str]
    lag_alarm_name: str
    unhealthy_alarm_name: str


class RegionStandby(pulumi.ComponentResource):
    """A cross-Region read replica per RDS shard in the DR region, with its alarms and events."""

    standbys: list[StandbyShard]

    def __init__(self, name: str, args: RegionStandbyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cryb:dr:RegionStandby", name, None, opts)
        self._name, self._args, self._tags = name, args, dict(args["tags"])
        source = args["source"]
        group = aws.rds.ParameterGroup(
            f"{name}-params",
            family=family(args["engine_version"]),
            description=f"cryb-db {name}: the shards' tuned parameters, for their standbys in {args['region']}",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(name=p.name, value=p.value, apply_method=p.apply_method)
                for p in source.parameters
            ],
            tags=self._tag(f"{name}-params"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.standbys = [self._standby(shard, group) for shard in source.shards]
        self._event_subscriptions()
        self.register_outputs(
            {"standbys": [{"identifier": s.identifier, "endpoint": s.endpoint} for s in self.standbys]}
        )

    def _tag(self, name: str, **extra: str) -> dict[str, str]:
        return {**self._tags, "Name": name, **extra}

    def _standby(self, shard: PostgresShard, group: aws.rds.ParameterGroup) -> StandbyShard:
        a, ident = self._args, standby_identifier(self._name, shard.index)
        if shard.writer_arn is None:
            raise ValueError(f"shard {shard.identifier} has no writer DB instance: only topology 'instance' replicates")
        logs = [
            aws.cloudwatch.LogGroup(
                f"{ident}-{log}-logs",
                name=f"/aws/rds/instance/{ident}/{log}",
                retention_in_days=a["log_retention_days"],
                kms_key_id=a["logs_kms_key_arn"],
                tags=self._tag(f"{ident}-{log}-logs"),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for log in LOG_EXPORTS
        ]
        replica = aws.rds.Instance(
            ident,
            identifier=ident,
            # A cross-Region source is named by its ARN; RDS takes no engine version or credentials for a replica.
            replicate_source_db=shard.writer_arn,
            instance_class=a["instance_class"],
            # Single-AZ while it waits; `dr promote-region` makes it Multi-AZ and turns backups on when it takes over.
            multi_az=False,
            db_subnet_group_name=a["db_subnet_group_name"],
            vpc_security_group_ids=[a["security_group_id"]],
            publicly_accessible=False,
            network_type="IPV4",
            port=a["port"],
            storage_type=a["storage_type"],
            iops=a["iops"],
            max_allocated_storage=a["max_allocated_storage_gb"],
            storage_encrypted=True,
            kms_key_id=a["data_kms_key_arn"],  # a cross-Region encrypted replica needs a key of its own region
            parameter_group_name=group.name,
            ca_cert_identifier=a["ca_cert_identifier"],
            iam_database_authentication_enabled=a["iam_authentication"],
            auto_minor_version_upgrade=True,
            allow_major_version_upgrade=False,
            copy_tags_to_snapshot=True,
            deletion_protection=a["deletion_protection"],
            performance_insights_enabled=True,
            performance_insights_kms_key_id=a["data_kms_key_arn"],
            performance_insights_retention_period=a["performance_insights_retention_days"],
            monitoring_interval=a["monitoring_interval_seconds"],
            monitoring_role_arn=a["source"].monitoring_role_arn,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            maintenance_window=a["maintenance_windows"][shard.index],
            skip_final_snapshot=True,  # the shard keeps the backups until the standby takes over
            tags=self._tag(ident, shard=str(shard.index), role="standby", source=shard.identifier),
            opts=pulumi.ResourceOptions(parent=self, depends_on=logs),
        )
        alarm_names = self._alarms(ident, shard, replica)
        return StandbyShard(
            shard=shard.index,
            source_identifier=shard.identifier,
            identifier=ident,
            endpoint=replica.address,
            arn=replica.arn,
            lag_alarm_name=alarm_names["replica-lag"],
            unhealthy_alarm_name=f"{ident}-unhealthy",
        )

    def _alarms(self, ident: str, shard: PostgresShard, replica: aws.rds.Instance) -> dict[str, str]:
        """The standby's alarms notify the DR region's warning topic; its composite pages through the critical one."""
        a = self._args
        topics = a["alert_topic_arns"]
        specs = standby_alarm_specs(
            shard.instance_class,
            a["allocated_storage_gb"],
            a["storage_type"],
            a["alarm_settings"],
            a["lag_alarm_seconds"],
        )
        names: dict[str, str] = {}
        critical: list[aws.cloudwatch.MetricAlarm] = []
        for spec in specs:
            alarm_name = f"{ident}-{spec.key}"
            sign = COMPARISON_SIGNS[spec.comparison]
            alarm = aws.cloudwatch.MetricAlarm(
                alarm_name,
                name=alarm_name,
                alarm_description=(
                    f"{spec.why} Fires when {spec.statistic} {spec.metric_name} {sign} {spec.threshold:g} for "
                    f"{spec.datapoints_to_alarm} of {spec.evaluation_periods} x {spec.period_seconds} s. "
                    f"Runbook: {RUNBOOK}#standby-alarms"
                )[:1024],
                namespace="AWS/RDS",
                metric_name=spec.metric_name,
                dimensions={"DBInstanceIdentifier": ident},
                statistic=spec.statistic,
                period=spec.period_seconds,
                evaluation_periods=spec.evaluation_periods,
                datapoints_to_alarm=spec.datapoints_to_alarm,
                comparison_operator=spec.comparison,
                threshold=spec.threshold,
                treat_missing_data=spec.treat_missing_data,
                actions_enabled=True,
                alarm_actions=[topics["warning"]],
                ok_actions=[topics["warning"]],
                tags=self._tag(alarm_name, severity=spec.severity, monitors=ident, group=ident),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[replica]),
            )
            names[spec.key] = alarm_name
            if spec.severity == "critical":
                critical.append(alarm)
        composite = f"{ident}-unhealthy"
        aws.cloudwatch.CompositeAlarm(
            composite,
            alarm_name=composite,
            alarm_description=f"The DR standby of {shard.identifier} is unhealthy (lagging, out of storage or "
            f"overloaded; the state reason names which): a region loss now would cost data or time. Runbook: "
            f"{RUNBOOK}#standby-alarms",
            alarm_rule=" OR ".join(f'ALARM("{ident}-{s.key}")' for s in specs if s.severity == "critical"),
            actions_enabled=True,
            alarm_actions=[topics["critical"]],
            ok_actions=[topics["critical"]],
            tags=self._tag(composite, severity="critical", group=ident),
            opts=pulumi.ResourceOptions(parent=self, depends_on=critical),
        )
        return names

    def _event_subscriptions(self) -> None:
        """The standbys' RDS events (failure, recovery, a broken replication) to the DR region's topics."""
        topics = self._args["alert_topic_arns"]
        for severity, categories in EVENT_CATEGORIES["db-instance"].items():
            label = f"{self._name}-instance-{severity}"
            aws.rds.EventSubscription(
                label,
                sns_topic=topics[severity],
                source_type="db-instance",
                source_ids=[s.identifier for s in self.standbys],
                event_categories=categories,
                enabled=True,
                tags=self._tag(label, severity=severity),
                opts=pulumi.ResourceOptions(parent=self),
            )
