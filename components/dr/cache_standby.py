"""The cache's standby in the DR region: an ElastiCache Global Datastore made from the primary replication group,
and its secondary replication group in the DR region (`cryb-db:dr.cacheGlobalDatastore`,
docs/disaster-recovery.md#the-cache). The secondary is read-only until promoted; it inherits engine, version, node
type, shard count and in-transit/at-rest encryption from the global datastore, and has its own subnet group,
security group, KMS key, users and alarms in the DR region."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

import pulumi
import pulumi_aws as aws

from components.cache.component import CLIENT_USERS, elasticache_node_groups
from components.cache.redis_conf import ACCESS_STRINGS, DISABLED_DEFAULT_ACCESS_STRING
from components.monitoring.alarm_thresholds import AlarmSettings, cache_alarm_specs
from components.monitoring.component import COMPARISON_SIGNS

RUNBOOK = "docs/disaster-recovery.md"


class CacheStandbyArgs(TypedDict):
    """Inputs of CacheStandby."""

    primary_replication_group_id: pulumi.Input[str]
    """The primary's replication group (Cache.replication_group_id): the global datastore is made from it."""
    engine_flavor: str
    """`valkey` or `redis` (the users' engine; the secondary inherits the group's)."""
    node_type: str
    """The primary's node type (inherited by the secondary; sizes its alarms)."""
    maxmemory_policy: str
    """The primary's eviction policy (its evictions alarm threshold)."""
    shards: int
    """The primary's shard count (inherited: the secondary's node names follow it)."""
    replicas_per_shard: int
    """Replicas per shard in the DR region (at least 1: Multi-AZ and automatic failover after promotion)."""
    initial_passwords: Mapping[str, pulumi.Input[str]]
    """The client users' first passwords (Pulumi secrets), by user name: the DR region's users start with them."""
    subnet_group_name: pulumi.Input[str]
    """The DR network's cache subnet group (data subnets only)."""
    security_group_id: pulumi.Input[str]
    """The DR network's cache security group."""
    data_kms_key_arn: pulumi.Input[str]
    """The DR region's `data` key: the secondary's storage and snapshots."""
    snapshot_retention_days: int
    """Automatic snapshots of the secondary kept this many days."""
    alert_topic_arns: Mapping[str, pulumi.Input[str]]
    """The DR region's alert topics by severity."""
    alarm_settings: AlarmSettings
    """The stack's alarm settings (the primary's cache alarms use the same)."""
    dr_provider: pulumi.ProviderResource
    """The DR region's provider (created by __main__): the secondary and its users, alarms there; the global
    datastore itself is created in the primary's region (this component's provider)."""
    tags: Mapping[str, str]
    """Tags of every taggable child."""


@dataclass(frozen=True)
class CacheStandbyOutputs:
    global_replication_group_id: pulumi.Output[str]
    replication_group_id: str
    configuration_endpoint: pulumi.Output[str]
    alarm_names: Sequence[str]


class CacheStandby(pulumi.ComponentResource):
    """Global Datastore: the primary replicates asynchronously (typically under a second) to the DR secondary."""

    def __init__(self, name: str, args: CacheStandbyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cryb:dr:CacheStandby", name, None, opts)
        self._name, self._args = name, args
        here = pulumi.ResourceOptions(parent=self)
        there = pulumi.ResourceOptions(parent=self, provider=args["dr_provider"])
        global_group = aws.elasticache.GlobalReplicationGroup(
            f"{name}-global",
            global_replication_group_id_suffix=name,
            primary_replication_group_id=args["primary_replication_group_id"],
            global_replication_group_description=f"cryb-db {name}: the cache replicated to the DR region",
            opts=here,
        )
        users = [self._user(user, ACCESS_STRINGS[user], args["initial_passwords"][user]) for user in CLIENT_USERS]
        default = self._user(
            "default",
            DISABLED_DEFAULT_ACCESS_STRING,
            args["initial_passwords"][CLIENT_USERS[0]],
            user_id=f"{name}-default-off",
        )
        group = aws.elasticache.UserGroup(
            f"{name}-users",
            user_group_id=f"{name}-users",
            engine=args["engine_flavor"],
            user_ids=[u.user_id for u in [default, *users]],
            tags=self._tag(f"{name}-users"),
            opts=there,
        )
        # Engine, version, node type, shard count and encryption come from the global datastore: the provider
        # refuses them on a secondary (they conflict with global_replication_group_id).
        secondary = aws.elasticache.ReplicationGroup(
            f"{name}-rg",
            replication_group_id=name,
            description=f"cryb-db {name}: DR-region secondary of the cache's Global Datastore (read-only until "
            "promoted)",
            global_replication_group_id=global_group.global_replication_group_id,
            replicas_per_node_group=args["replicas_per_shard"],
            automatic_failover_enabled=True,
            multi_az_enabled=True,
            subnet_group_name=args["subnet_group_name"],
            security_group_ids=[args["security_group_id"]],
            kms_key_id=args["data_kms_key_arn"],
            user_group_ids=[group.id],
            auto_minor_version_upgrade=True,
            snapshot_retention_limit=args["snapshot_retention_days"],
            final_snapshot_identifier=f"{name}-final",
            tags=self._tag(f"{name}-rg", dr="standby"),
            opts=there,
        )
        alarm_names = self._alarms(secondary)
        self.outputs = CacheStandbyOutputs(
            global_replication_group_id=global_group.global_replication_group_id,
            replication_group_id=name,
            configuration_endpoint=secondary.configuration_endpoint_address,
            alarm_names=alarm_names,
        )
        self.register_outputs(
            {
                "globalReplicationGroupId": self.outputs.global_replication_group_id,
                "replicationGroupId": name,
                "configurationEndpoint": self.outputs.configuration_endpoint,
            }
        )

    def _tag(self, label: str, **extra: str) -> dict[str, str]:
        return {**self._args["tags"], "Name": label, **extra}

    def _user(
        self, user: str, access_string: str, password: pulumi.Input[str], user_id: str | None = None
    ) -> aws.elasticache.User:
        """A DR-region user of the same name and access as the primary's. Its first password is the primary's
        first; rotation changes the primary's only, so promotion sets the current one (the runbook's step)."""
        n = self._name
        return aws.elasticache.User(
            f"{n}-user-{user}",
            user_id=user_id or f"{n}-{user}",
            user_name=user,
            engine=self._args["engine_flavor"],
            access_string=access_string,
            authentication_mode={"type": "password", "passwords": [pulumi.Output.secret(password)]},
            tags=self._tag(f"{n}-user-{user}"),
            opts=pulumi.ResourceOptions(
                parent=self, provider=self._args["dr_provider"], ignore_changes=["authenticationMode"]
            ),
        )

    def _alarms(self, secondary: aws.elasticache.ReplicationGroup) -> list[str]:
        """The primary's recommended cache alarm set on every node of the secondary, to the DR region's topics."""
        a = self._args
        names: list[str] = []
        for group in elasticache_node_groups(self._name, a["shards"], a["replicas_per_shard"]):
            for index, member in enumerate(group.member_ids):
                for spec in cache_alarm_specs(a["node_type"], a["maxmemory_policy"], index > 0, a["alarm_settings"]):
                    alarm_name = f"{member}-{spec.key}"
                    sign = COMPARISON_SIGNS[spec.comparison]
                    topic = a["alert_topic_arns"]["critical" if spec.severity == "critical" else "warning"]
                    aws.cloudwatch.MetricAlarm(
                        alarm_name,
                        name=alarm_name,
                        alarm_description=(
                            f"{spec.why} Fires when {spec.statistic} {spec.metric_name} {sign} {spec.threshold:g} "
                            f"for {spec.datapoints_to_alarm} of {spec.evaluation_periods} x {spec.period_seconds} s. "
                            f"Runbook: {RUNBOOK}#the-cache"
                        )[:1024],
                        namespace="AWS/ElastiCache",
                        metric_name=spec.metric_name,
                        dimensions={"CacheClusterId": member},
                        statistic=spec.statistic,
                        period=spec.period_seconds,
                        evaluation_periods=spec.evaluation_periods,
                        datapoints_to_alarm=spec.datapoints_to_alarm,
                        comparison_operator=spec.comparison,
                        threshold=spec.threshold,
                        treat_missing_data=spec.treat_missing_data,
                        actions_enabled=True,
                        alarm_actions=[topic],
                        ok_actions=[topic],
                        tags=self._tag(alarm_name, severity=spec.severity, monitors=member, group=self._name),
                        opts=pulumi.ResourceOptions(parent=self, provider=a["dr_provider"], depends_on=[secondary]),
                    )
                    names.append(alarm_name)
        return names
