"""cryb-db: read the typed stack config, wire the components, export the documented outputs (docs/outputs.md)."""

import pulumi
import pulumi_aws as aws

from components import shard_map
from components.alerts import AlertTopics
from components.config import load_stack_config
from components.kms import KmsKeys
from components.network import Network
from components.postgres import PROXY_PORT, BackupReplicationArgs, Postgres

config = load_stack_config()  # raises ConfigError naming every bad key before any resource is registered
stack = pulumi.get_stack()
tags = config.tags_for(stack)
region = aws.get_region().region
account_id = aws.get_caller_identity().account_id
zones = aws.get_availability_zones(state="available").names
if len(zones) < config.network.az_count:
    raise ValueError(f"cryb-db:network.azCount = {config.network.az_count}: region {region} has only {len(zones)} AZs")

keys = KmsKeys(
    f"cryb-{stack}-keys",
    {
        "purposes": ["logs", "data", "secrets"],
        "account_id": account_id,
        "region": region,
        "deletion_window_days": config.kms.deletion_window_days,
        "rotation_period_days": config.kms.rotation_period_days,
        "tags": tags,
    },
)

network = Network(
    f"cryb-{stack}",
    {
        "cidr": config.network.cidr,
        "availability_zones": zones[: config.network.az_count],
        "nat_gateways": config.network.nat_gateways,
        "interface_endpoints": config.network.interface_endpoints,
        "flow_log_retention_days": config.network.flow_log_retention_days,
        "flow_log_aggregation_seconds": config.network.flow_log_aggregation_seconds,
        "logs_kms_key_arn": keys.arns["logs"],
        "postgres_port": config.postgres.port,
        "pooler_port": PROXY_PORT,
        "cache_port": config.cache.port,
        "region": region,
        "account_id": account_id,
        "tags": {**tags, "data-classification": "internal"},
    },
)

pulumi.export("environment", config.environment)
pulumi.export("region", region)
pulumi.export(
    "network",
    {
        "vpcId": network.vpc_id,
        "vpcCidr": network.vpc_cidr,
        "availabilityZones": zones[: config.network.az_count],
        "appSubnetIds": network.app_subnet_ids,
        "dataSubnetIds": network.data_subnet_ids,
        "dbSubnetGroupName": network.db_subnet_group_name,
        "cacheSubnetGroupName": network.cache_subnet_group_name,
        "securityGroupIds": network.security_groups.ids(),
    },
)
pulumi.export("kmsKeyArns", keys.arns)

alerts = AlertTopics(
    f"cryb-{stack}-alerts",
    {
        "account_id": account_id,
        "deletion_window_days": config.kms.deletion_window_days,
        "rotation_period_days": config.kms.rotation_period_days,
        "tags": tags,
    },
)

pg = config.postgres
backup_replication: BackupReplicationArgs | None = None
backup_region = pg.backup_region(region)  # raises naming the key if it cannot be honoured
if backup_region is not None:
    # Replicated backups are encrypted with a CMK of the destination region; KmsKeys creates it there.
    dr_provider = aws.Provider(f"cryb-{stack}-{backup_region}", region=backup_region)
    dr_keys = KmsKeys(
        f"cryb-{stack}-dr-keys",
        {
            "purposes": ["data"],
            "account_id": account_id,
            "region": backup_region,
            "deletion_window_days": config.kms.deletion_window_days,
            "rotation_period_days": config.kms.rotation_period_days,
            "tags": tags,
        },
        opts=pulumi.ResourceOptions(providers={"aws": dr_provider}),
    )
    backup_replication = {"region": backup_region, "kms_key_arn": dr_keys.arns["data"]}

postgres = Postgres(
    f"cryb-{stack}-pg",
    {
        "shard_count": pg.shard_count,
        "topology": pg.topology,
        "instance_class": pg.instance_class,
        "engine_version": pg.engine_version,
        "read_replicas": pg.read_replicas,
        "multi_az": pg.multi_az,
        "storage_type": pg.storage_type,
        "allocated_storage_gb": pg.allocated_storage_gb,
        "max_allocated_storage_gb": pg.max_allocated_storage_gb,
        "iops": pg.iops,
        "port": pg.port,
        "database_name": pg.database_name,
        "admin_user": pg.admin_user,
        "iam_authentication": pg.iam_authentication,
        "extensions": pg.extensions,
        "backup_retention_days": pg.backup_retention_days,
        "backup_window_start": pg.backup_window_start,
        "backup_window_minutes": pg.backup_window_minutes,
        "maintenance_window_start": pg.maintenance_window_start,
        "maintenance_window_minutes": pg.maintenance_window_minutes,
        "performance_insights_retention_days": pg.performance_insights_retention_days,
        "monitoring_interval_seconds": pg.monitoring_interval_seconds,
        "log_retention_days": pg.log_retention_days,
        "deletion_protection": pg.deletion_protection,
        "final_snapshot": pg.final_snapshot,
        "apply_immediately": pg.apply_immediately,
        "ca_cert_identifier": pg.ca_cert_identifier,
        "backup_replication": backup_replication,
        "db_subnet_group_name": network.db_subnet_group_name,
        "availability_zones": zones[: config.network.az_count],
        "security_group_id": network.security_groups.postgres.id,
        "proxy_security_group_id": network.security_groups.pooler.id,
        # Proxies fetch the managed secret: data subnets reach Secrets Manager only through interface endpoints.
        "proxy_subnet_ids": network.data_subnet_ids if config.network.interface_endpoints else network.app_subnet_ids,
        "data_kms_key_arn": keys.arns["data"],
        "logs_kms_key_arn": keys.arns["logs"],
        "secrets_kms_key_arn": keys.arns["secrets"],
        "alert_topic_arns": alerts.arns,
        "account_id": account_id,
        "region": region,
        "tags": tags,
    },
)

routing = shard_map.document(pg.bucket_count, pg.shard_count)
ranges = {r["shard"]: r for r in routing["ranges"]}
pulumi.export(
    "postgres",
    {
        "engine": "rds-postgresql",
        "engineVersion": pg.engine_version,
        "topology": pg.topology,
        "shardMap": routing,
        "shards": [
            {
                **postgres.shard_outputs(shard),
                "bucketRange": {"first": ranges[shard.index]["first"], "last": ranges[shard.index]["last"]},
                "shardMapVersion": routing["version"],
            }
            for shard in postgres.shards
        ],
    },
)
pulumi.export("alertTopicArns", alerts.arns)
