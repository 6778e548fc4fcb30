"""cryb-db: read the typed stack config, wire the components, export the documented outputs (docs/outputs.md)."""

import dataclasses
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.backups import Backups, RestoreTestingSettings, VaultLockSettings
from components.backups.policies import BACKUP_SELECTION_TAG, BackupRule, LifecycleSettings
from components.cache import Cache, CacheUserRotation, SelfHostedCacheUserRotation
from components.config import ConfigError, load_stack_config
from components.config.kubernetes import CNPG_CHART_VERSION, pooler_targets
from components.config.region_checks import region_problems
from components.config.selfhosted import PatroniNodesConfig, SelfHostedClusterConfig
from components.dr import CacheStandby, RegionStandby, StandbyShard
from components.kubernetes import (
    ApplicationAccess,
    DataStores,
    PgBouncerPoolers,
    PoolerTargetArgs,
    PostgresClusterArgs,
    SecretsIdentityArgs,
)
from components.kubernetes.manifests import pooler_endpoint as kubernetes_pooler_endpoint
from components.local import CacheSpec, Limits, LocalPlatform, PatroniClusterSpec
from components.monitoring import AlertTopics, AlertTopicsArgs, Monitoring
from components.network import Network
from components.network.plan import plan_subnets
from components.postgres import PROXY_PORT, BackupReplicationArgs, Postgres, PostgresShard, shard_map
from components.postgres.shard_ledger import LedgerError, ledger_problems, load_stack_ledger, published_map_shards
from components.security import KmsKeys
from components.selfhosted import (
    SecretReplica,
    SelfHostedCluster,
    SelfHostedClusterArgs,
    SelfHostedCredentialRotation,
    StandbyOf,
)
from components.selfhosted.pgbackrest_node import backup_prefix
from components.signing import CodeSigning

# The local stack (cryb-db:target: docker): the bridge network's subnet and the first published port on 127.0.0.1.
LOCAL_SUBNET = "172.28.0.0/24"
LOCAL_HOST_PORT_BASE = 15400


def standby_outputs(standby: StandbyShard, region: str, port: int) -> dict[str, Any]:
    """One shard's entry of the `dr` outputs section (docs/outputs.md)."""
    return {
        "id": standby.shard,
        "source": standby.source_identifier,
        "kind": "rds-cross-region-replica",
        "standbyIdentifier": standby.identifier,
        "standbyEndpoint": standby.endpoint,
        "standbyArn": standby.arn,
        "port": port,
        "region": region,
        "lagAlarmName": standby.lag_alarm_name,
        "unhealthyAlarmName": standby.unhealthy_alarm_name,
    }


def standby_cluster_outputs(standby: SelfHostedCluster, primary: SelfHostedCluster, region: str) -> dict[str, Any]:
    """One self-hosted cluster's entry of the `dr` outputs section (docs/outputs.md)."""
    entry = standby.cluster_outputs()
    return {
        "name": entry["name"],
        "source": primary.identifier,
        "kind": "patroni-standby-cluster",
        "standbyIdentifier": standby.identifier,
        "writerEndpoint": entry["writerEndpoint"],
        "readerEndpoints": entry["readerEndpoints"],
        "port": entry["port"],
        "databaseName": entry["databaseName"],
        "region": region,
        "nodes": entry["nodes"],
        "secretArn": entry["secretArn"],
        "restApiSecretArn": standby.secret_arns["restapi"],
        "sourceBackupPrefix": backup_prefix(entry["name"]),
        "backup": entry["backup"],
        "unhealthyAlarmName": f"{standby.identifier}-unhealthy",
        "alarmPrefix": standby.identifier,
    }


config = load_stack_config()  # raises ConfigError naming every bad key before any resource is registered
stack = pulumi.get_stack()


def published_shards() -> int:
    """The shards the published map spans: the last map the finished bucket moves completed (shardmoves/<stack>.json,
    docs/sharding.md), or every shard when the stack keeps no ledger. New shards stay empty until moves fill them."""
    ledger_source = f"shardmoves/{stack}.json"
    try:
        ledger = load_stack_ledger(Path(__file__).parent, stack)
    except LedgerError as exc:
        raise ConfigError([str(exc)]) from None
    if ledger is not None:
        problems = ledger_problems(ledger, config.postgres.shard_count, config.postgres.bucket_count, ledger_source)
        if problems:
            raise ConfigError(problems)  # before the first resource is registered
    return published_map_shards(ledger, config.postgres.shard_count)


def bucket_range(ranges: dict[int, dict[str, int]], shard_id: int) -> dict[str, int] | None:
    """A shard's range in the published map; None for a new shard that holds no buckets yet."""
    found = ranges.get(shard_id)
    return {"first": found["first"], "last": found["last"]} if found else None


map_shards = published_shards()


def cluster_entry_settings(cluster: SelfHostedClusterConfig, port: int) -> dict[str, Any]:
    """What a `selfhosted.clusters` entry sets on its cluster, on AWS and on the local (Docker) stack alike."""
    return {
        "timescaledb": cluster.timescaledb,
        "port": port,
        "database_name": cluster.database_name,
        "admin_user": cluster.admin_user,
        "backup_retention_days": cluster.backup_retention_days,
    }


def local_platform() -> None:
    """`cryb-db:target: docker` (the `local` stack, docs/local.md): the same rendered node files as containers."""
    sh, pg, cache_config = config.selfhosted, config.postgres, config.cache

    def patroni(name: str, nodes: PatroniNodesConfig, **cluster: Any) -> PatroniClusterSpec:
        return PatroniClusterSpec(
            name=name,
            node_count=nodes.node_count,
            instance_type=nodes.instance_type,
            synchronous_mode=nodes.synchronous_mode,
            synchronous_mode_strict=nodes.strict_for(config.environment),
            timing=nodes.timing,
            **cluster,
        )

    clusters = [
        patroni(name, cluster, **cluster_entry_settings(cluster, sh.port)) for name, cluster in sh.clusters.items()
    ]
    # A shard's stand-in: a Patroni cluster with the shard's database, admin user and port, laid out as
    # `postgres.ec2` says (3 nodes by default: etcd needs an odd number of at least 3 members; docs/local.md).
    shard_nodes = pg.ec2
    shards = [
        patroni(
            f"shard{index}",
            shard_nodes,
            timescaledb=False,
            port=pg.port,
            database_name=pg.database_name,
            admin_user=pg.admin_user,
            backup_retention_days=pg.backup_retention_days,
        )
        for index in range(pg.shard_count)
    ]
    platform = LocalPlatform(
        f"cryb-{stack}",
        {
            "stack": stack,
            "postgres_major": sh.postgres_major,
            "clusters": clusters,
            "shards": shards,
            "cache": CacheSpec(
                shards=cache_config.shards,
                replicas_per_shard=cache_config.replicas_per_shard,
                port=cache_config.port,
                cluster_port=cache_config.cluster_port,
                instance_type=cache_config.ec2_instance_type,
                maxmemory_policy=cache_config.maxmemory_policy,
            ),
            "subnet": LOCAL_SUBNET,
            "postgres_limits": Limits(memory_mb=512, cpus="1"),
            "cache_limits": Limits(memory_mb=256, cpus="0.5"),
            "moto_limits": Limits(memory_mb=512, cpus="0.5"),
            "host_port_base": LOCAL_HOST_PORT_BASE,
        },
    )
    routing = shard_map.document(pg.bucket_count, map_shards)
    ranges = {r["shard"]: r for r in routing["ranges"]}

    def endpoints(cluster: dict[str, Any]) -> dict[str, Any]:
        first, *others = cluster["nodes"]
        return {
            "writerEndpoint": "127.0.0.1",  # no NLB: the first node's published port; libpq multi-host below
            "readerEndpoints": ["127.0.0.1"] if others else [],
            "port": first["hostPort"],
            "nodePorts": [node["hostPort"] for node in cluster["nodes"]],
            "databaseName": cluster["databaseName"],
            "adminUser": cluster["adminUser"],
            "iamAuthentication": False,
            "region": "local",
        }

    pulumi.export("environment", config.environment)
    pulumi.export("region", "local")
    pulumi.export("target", "docker")
    pulumi.export(
        "postgres",
        {
            "engine": "patroni-postgresql",
            "engineVersion": sh.postgres_major,
            "topology": "patroni",
            "shardMap": routing,
            "shards": [
                {
                    "id": index,
                    "name": shard["name"],
                    "topology": "patroni",
                    **endpoints(shard),
                    "bucketRange": bucket_range(ranges, index),
                    "shardMapVersion": routing["version"],
                }
                for index, shard in enumerate(platform.shard_outputs)
            ],
        },
    )
    pulumi.export(
        "selfhosted",
        {
            "clusters": [
                {"name": c["name"], "engine": "patroni-postgresql", "engineVersion": sh.postgres_major, **endpoints(c)}
                for c in platform.cluster_outputs
            ]
        },
    )
    pulumi.export(
        "cache",
        {
            "engine": "ec2",
            "engineFlavor": "redis",
            "engineVersion": "7.0",
            "configurationEndpoint": None,
            "nodes": platform.cache_outputs["nodes"],
            "hostPorts": platform.cache_outputs["hostPorts"],
            "port": cache_config.port,
            "tls": True,
            "userNames": {user: user for user in ("app", "reader")},
        },
    )
    pulumi.export("awsEndpoint", platform.moto_endpoint)
    # Passwords: Pulumi secrets, shown only by `pulumi stack output --show-secrets credentials` (docs/local.md).
    pulumi.export(
        "credentials",
        pulumi.Output.secret(
            {
                "postgres": {
                    c["name"]: c["adminPassword"] for c in [*platform.cluster_outputs, *platform.shard_outputs]
                },
                "cache": platform.cache_outputs["passwords"],
            }
        ),
    )


if config.target == "docker":
    local_platform()
else:
    tags = config.tags_for(stack)
    region = aws.get_region().region
    account_id = aws.get_caller_identity().account_id
    zones = aws.get_availability_zones(state="available").names
    problems = region_problems(config, region, len(zones))
    # The warm standby's region (docs/disaster-recovery.md#the-warm-standby): the same AZ count as the primary.
    standby_region = config.backups.dr_region if config.dr.enabled_for(config.environment) else None
    dr_zones: list[str] = []
    if standby_region is not None:
        dr_zones = list(aws.get_availability_zones(state="available", region=standby_region).names)
        if len(dr_zones) < config.network.az_count:
            problems.append(
                f"cryb-db:backups.drRegion = {standby_region!r}: has only {len(dr_zones)} AZs, the standby needs "
                f"network.azCount ({config.network.az_count})"
            )
        dr_zones = dr_zones[: config.network.az_count]
    if problems:
        raise ConfigError(problems)  # before the first resource is registered
    zones = zones[: config.network.az_count]
    pg = config.postgres
    backup_region = pg.backup_region(region)
    windows = config.window_plan()  # every shard's, replica's and the cache's window, none overlapping
    # The DR standbys' maintenance windows are placed as each shard's last replica window (components/config/stack.py).
    standby_windows = [w.replica_maintenance[-1] for w in windows.shards] if config.rds_standbys() else []
    shard_windows = [
        dataclasses.replace(w, replica_maintenance=w.replica_maintenance[: len(w.replica_maintenance) - 1])
        if standby_windows
        else w
        for w in windows.shards
    ]
    if windows.outside_quiet_hours:
        pulumi.log.warn(
            f"{len(windows.outside_quiet_hours)} backup/maintenance windows run past cryb-db:windows.quietHours "
            f"({config.windows.quiet_hours}), e.g. the {windows.outside_quiet_hours[-1]}: widen the quiet hours or "
            "accept it (docs/postgres.md#backup-and-maintenance-windows)"
        )
    monitoring_config = config.monitoring

    _providers: dict[str, aws.Provider] = {}

    def provider_for(other_region: str) -> aws.Provider:
        """One explicit provider per second region (components never create providers)."""
        if other_region not in _providers:
            _providers[other_region] = aws.Provider(f"cryb-{stack}-{other_region}", region=other_region)
        return _providers[other_region]

    keys = KmsKeys(
        f"cryb-{stack}-keys",
        {
            "purposes": ["logs", "data", "secrets", "artifacts"],
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
            "availability_zones": zones,
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
            "availabilityZones": zones,
            "appSubnetIds": network.app_subnet_ids,
            "dataSubnetIds": network.data_subnet_ids,
            "dbSubnetGroupName": network.db_subnet_group_name,
            "cacheSubnetGroupName": network.cache_subnet_group_name,
            "securityGroupIds": network.security_groups.ids(),
        },
    )
    pulumi.export("kmsKeyArns", keys.arns)

    pagerduty_url = monitoring_config.pagerduty_integration_url

    def code_signing_for(name: str, signing_region: str, signing_keys: KmsKeys, **opts: Any) -> CodeSigning:
        """A region's artifacts bucket, Signer profile and code signing configuration: every Lambda function of the
        region is deployed from a package it signed (docs/code-signing.md)."""
        return CodeSigning(
            name,
            {
                "account_id": account_id,
                "region": signing_region,
                "kms_key_arn": signing_keys.arns["artifacts"],
                "access_log_retention_days": config.backups.access_log_retention_days,
                "tags": {**tags, "data-classification": "internal"},
            },
            opts=pulumi.ResourceOptions(**opts),
        )

    code_signing = code_signing_for(f"cryb-{stack}-signing", region, keys)

    def alert_topics_args(
        topic_region: str,
        topic_keys: KmsKeys,
        topic_network: Network,
        topic_tags: dict[str, str],
        topic_signing: CodeSigning,
    ) -> AlertTopicsArgs:
        """The alert topics of one region (the primary, and the DR region's for the alarms raised there)."""
        return {
            "account_id": account_id,
            "region": topic_region,
            "deletion_window_days": config.kms.deletion_window_days,
            "rotation_period_days": config.kms.rotation_period_days,
            "logs_kms_key_arn": topic_keys.arns["logs"],
            "secrets_kms_key_arn": topic_keys.arns["secrets"],
            "log_retention_days": monitoring_config.log_retention_days,
            # Decrypted by the engine, kept a Pulumi secret from here on (state, previews, the subscription).
            "pagerduty_integration_url": pulumi.Output.secret(pagerduty_url.get_secret_value())
            if pagerduty_url
            else None,
            "delivery_success_sample_rate": monitoring_config.delivery_success_sample_rate,
            "forwarder_reserved_concurrency": monitoring_config.forwarder_reserved_concurrency,
            # In the VPC (Lambda.3), in the app tier: its NAT reaches the webhooks, PagerDuty and AWS APIs.
            "forwarder_vpc_id": topic_network.vpc_id,
            "forwarder_subnet_ids": topic_network.app_subnet_ids,
            "code_signing": topic_signing,
            "tags": topic_tags,
        }

    alerts = AlertTopics(f"cryb-{stack}-alerts", alert_topics_args(region, keys, network, tags, code_signing))

    # -- backups (docs/backups.md): immutable encrypted buckets, AWS Backup for the shards, restore testing --
    bk = config.backups
    vault_lock = bk.vault_lock_for(config.environment)
    restore_testing = bk.restore_testing
    backups = Backups(
        f"cryb-{stack}-backups",
        {
            "account_id": account_id,
            "region": region,
            "object_lock_mode": bk.object_lock_mode_for(config.environment),
            "lifecycle": LifecycleSettings(
                object_lock_days=bk.object_lock_days,
                infrequent_access_after_days=bk.infrequent_access_after_days,
                cold_storage_after_days=bk.cold_storage_after_days,
                cold_storage_class=bk.cold_storage_class,
                abort_incomplete_uploads_after_days=bk.abort_incomplete_uploads_after_days,
            ),
            "access_log_retention_days": bk.access_log_retention_days,
            "writer_prefixes": bk.writer_prefixes,
            "replication_time_control": bk.replication_time_control,
            "kms_deletion_window_days": config.kms.deletion_window_days,
            "kms_rotation_period_days": config.kms.rotation_period_days,
            "backup_rules": [
                BackupRule(name, rule.schedule, rule.retention_days, rule.copy_to_dr)
                for name, rule in bk.plan.rules().items()
            ],
            "vault_lock": VaultLockSettings(
                vault_lock.min_retention_days, vault_lock.max_retention_days, vault_lock.changeable_for_days
            )
            if vault_lock
            else None,
            "restore_testing": RestoreTestingSettings(
                restore_testing.schedule,
                restore_testing.start_window_hours,
                restore_testing.selection_window_days,
                restore_testing.validation_window_hours,
                restore_testing.instance_class,
            )
            if restore_testing.enabled
            else None,
            "restore_db_subnet_group_name": network.db_subnet_group_name,
            "restore_security_group_ids": [network.security_groups.postgres.id],
            "selection_tag": BACKUP_SELECTION_TAG,
            "tags": tags,
            "dr": {"region": bk.dr_region, "provider": provider_for(bk.dr_region)} if bk.dr_region else None,
        },
    )
    pulumi.export(
        "backups",
        {
            "bucketName": backups.bucket_name,
            "bucketArn": backups.bucket_arn,
            "bucketKmsKeyArn": backups.bucket_kms_key_arn,
            "accessLogBucketName": backups.access_log_bucket_name,
            "writerRoleArns": backups.writer_role_arns,
            "replicaRegion": bk.dr_region,
            "replicaBucketName": backups.replica_bucket_name,
            "replicaBucketArn": backups.replica_bucket_arn,
            "replicaKmsKeyArn": backups.replica_kms_key_arn,
            "vaultName": backups.vault_name,
            "vaultArn": backups.vault_arn,
            "drVaultArn": backups.dr_vault_arn,
            "planId": backups.plan_id,
            "restoreTestingPlanName": backups.restore_testing_plan_name,
            "selectionTag": {"key": backups.selection_tag[0], "value": backups.selection_tag[1]},
        },
    )

    backup_replication: BackupReplicationArgs | None = None
    dr_keys: KmsKeys | None = None
    if backup_region is not None:
        # Replicated backups are encrypted with a CMK of the destination region; KmsKeys creates it there.
        dr_provider = provider_for(backup_region)
        dr_keys = KmsKeys(
            f"cryb-{stack}-dr-keys",
            {
                # The warm standby in the same region also needs its logs and secrets keys (section `dr` below).
                "purposes": ["data", "logs", "secrets", "artifacts"] if backup_region == standby_region else ["data"],
                "account_id": account_id,
                "region": backup_region,
                "deletion_window_days": config.kms.deletion_window_days,
                "rotation_period_days": config.kms.rotation_period_days,
                "tags": tags,
            },
            opts=pulumi.ResourceOptions(providers={"aws": dr_provider}),
        )
        backup_replication = {"region": backup_region, "kms_key_arn": dr_keys.arns["data"]}

    # The warm standby's keys (docs/disaster-recovery.md#the-warm-standby): the replicated backups' key set when both
    # regions are the same; declared before the self-hosted clusters, whose secrets are replicated with its key.
    standby_keys: KmsKeys | None = None
    dr_provider_opts: pulumi.ResourceOptions | None = None
    if standby_region is not None:
        dr_provider_opts = pulumi.ResourceOptions(providers={"aws": provider_for(standby_region)})
        standby_keys = dr_keys
        if dr_keys is None or backup_region != standby_region:
            standby_keys = KmsKeys(
                f"cryb-{stack}-standby-keys",
                {
                    # `data` encrypts the RDS standbys and the standby clusters' volumes (a key nothing uses is
                    # refused): none with self-hosted shards and no self-hosted cluster.
                    # (and the cache's Global Datastore secondary, with dr.cacheGlobalDatastore).
                    "purposes": ["data", "logs", "secrets", "artifacts"]
                    if pg.engine == "rds"
                    or config.dr.cache_global_datastore
                    or (config.selfhosted.engine == "ec2" and config.selfhosted.clusters)
                    else ["logs", "secrets", "artifacts"],
                    "account_id": account_id,
                    "region": standby_region,
                    "deletion_window_days": config.kms.deletion_window_days,
                    "rotation_period_days": config.kms.rotation_period_days,
                    "tags": tags,
                },
                opts=dr_provider_opts,
            )

    # -- self-hosted PostgreSQL (docs/selfhosted.md): Patroni on EC2 NVMe, for analytics clusters and `engine: ec2` --
    sh = config.selfhosted
    data_subnet_cidrs = [
        subnet.cidr for subnet in plan_subnets(config.network.cidr, len(zones)) if subnet.tier == "data"
    ]

    def selfhosted_args(
        cluster_name: str,
        nodes: PatroniNodesConfig,
        *,
        timescaledb: bool,
        port: int,
        database_name: str,
        admin_user: str,
        backup_retention_days: int,
        log_retention_days: int,
    ) -> SelfHostedClusterArgs:
        return {
            "cluster": cluster_name,
            "instance_type": nodes.instance_type,
            "node_count": nodes.node_count,
            "postgres_major": sh.postgres_major,
            "timescaledb": timescaledb,
            "synchronous_mode": nodes.synchronous_mode,
            "synchronous_mode_strict": nodes.strict_for(config.environment),
            "timing": nodes.timing,
            "port": port,
            "database_name": database_name,
            "admin_user": admin_user,
            "backup_retention_days": backup_retention_days,
            "vpc_id": network.vpc_id,
            "vpc_cidr": network.vpc_cidr,
            "availability_zones": zones[: nodes.node_count],
            "subnet_ids": network.data_subnet_ids[: nodes.node_count],
            "subnet_cidrs": data_subnet_cidrs[: nodes.node_count],
            "client_security_group_ids": [network.security_groups.app.id, network.security_groups.pooler.id],
            "backup_bucket_arn": backups.bucket_arn,
            "backup_kms_key_arn": backups.bucket_kms_key_arn,
            "data_kms_key_arn": keys.arns["data"],
            "secrets_kms_key_arn": keys.arns["secrets"],
            "logs_kms_key_arn": keys.arns["logs"],
            "log_retention_days": log_retention_days,
            "root_volume_gib": sh.root_volume_gib,
            "image_ssm_parameter": sh.image_ssm_parameter,
            "package_proxy": sh.package_proxy,
            "dns_zone_name": f"{cluster_name}.{stack}.cryb-db.internal",
            "account_id": account_id,
            "region": region,
            "tags": tags,
        }

    def analytics_args(cluster_name: str, cluster: SelfHostedClusterConfig) -> SelfHostedClusterArgs:
        """A `selfhosted.clusters` entry's args (the primary's, and its DR standby cluster's before its changes)."""
        return selfhosted_args(
            cluster_name,
            cluster,
            **cluster_entry_settings(cluster, sh.port),
            log_retention_days=sh.log_retention_days,
        )

    selfhosted_clusters: list[SelfHostedCluster] = []
    for cluster_name, cluster in sh.clusters.items() if sh.engine == "ec2" else []:
        primary_args = analytics_args(cluster_name, cluster)
        if standby_region is not None and standby_keys is not None:
            # Each cluster has a standby cluster in the DR region, which needs the same credentials there.
            primary_args["secret_replica"] = SecretReplica(standby_region, standby_keys.arns["secrets"])
        selfhosted_clusters.append(SelfHostedCluster(f"cryb-{stack}-{cluster_name}", primary_args))
    selfhosted_outputs: dict[str, Any] = {"clusters": [cluster.cluster_outputs() for cluster in selfhosted_clusters]}

    # -- PostgreSQL shards (docs/postgres.md): RDS, or self-hosted Patroni clusters with `engine: ec2` --
    monitored_shards: list[PostgresShard] = []
    shard_clusters: list[SelfHostedCluster] = []
    postgres: Postgres | None = None
    if pg.engine == "rds":
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
                "windows": shard_windows,
                "performance_insights_retention_days": pg.performance_insights_retention_days,
                "monitoring_interval_seconds": pg.monitoring_interval_seconds,
                "log_retention_days": pg.log_retention_days,
                "deletion_protection": pg.deletion_protection,
                "final_snapshot": pg.final_snapshot,
                "apply_immediately": pg.apply_immediately,
                "ca_cert_identifier": pg.ca_cert_identifier,
                "backup_replication": backup_replication,
                "db_subnet_group_name": network.db_subnet_group_name,
                "availability_zones": zones,
                "security_group_id": network.security_groups.postgres.id,
                "proxy_security_group_id": network.security_groups.pooler.id,
                # Proxies fetch the managed secret: data subnets reach Secrets Manager only through interface endpoints.
                "proxy_subnet_ids": network.data_subnet_ids
                if config.network.interface_endpoints
                else network.app_subnet_ids,
                "data_kms_key_arn": keys.arns["data"],
                "logs_kms_key_arn": keys.arns["logs"],
                "secrets_kms_key_arn": keys.arns["secrets"],
                "alert_topic_arns": alerts.arns,
                "account_id": account_id,
                "region": region,
                "tags": tags,
                "backup_selection_tag": BACKUP_SELECTION_TAG,
            },
        )
        monitored_shards = postgres.shards
        shard_entries = [postgres.shard_outputs(shard) for shard in postgres.shards]
        engine_name, engine_version, topology = "rds-postgresql", pg.engine_version, pg.topology
    elif pg.engine == "kubernetes":
        shard_entries = []  # the CloudNativePG clusters' entries come with them (DataStores, after the cache)
        engine_name, engine_version, topology = "cloudnativepg-postgresql", sh.postgres_major, "cloudnativepg"
    else:
        shard_clusters = [
            SelfHostedCluster(
                f"cryb-{stack}-pg-{index:02d}",
                selfhosted_args(
                    f"shard{index}",
                    pg.ec2,
                    timescaledb=False,
                    port=pg.port,
                    database_name=pg.database_name,
                    admin_user=pg.admin_user,
                    backup_retention_days=pg.backup_retention_days,
                    log_retention_days=pg.log_retention_days,
                ),
            )
            for index in range(pg.shard_count)
        ]
        shard_entries = [cluster.shard_outputs(index) for index, cluster in enumerate(shard_clusters)]
        if config.kubernetes.enabled:  # Patroni shards are pooled by their PgBouncer (docs/kubernetes.md)
            pooler_namespace = config.kubernetes.pooler_namespace
            shard_entries = [
                {**entry, **kubernetes_pooler_endpoint(f"shard{entry['id']}", pooler_namespace)}
                for entry in shard_entries
            ]
        engine_name, engine_version, topology = "patroni-postgresql", sh.postgres_major, "patroni"

    routing = shard_map.document(pg.bucket_count, map_shards)
    ranges = {r["shard"]: r for r in routing["ranges"]}

    def postgres_contract(entries: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "engine": engine_name,
            "engineVersion": engine_version,
            "topology": topology,
            "shardMap": routing,
            "shards": [
                {
                    **entry,
                    "bucketRange": bucket_range(ranges, entry["id"]),
                    "shardMapVersion": routing["version"],
                }
                for entry in entries
            ],
        }

    pulumi.export("alertTopicArns", alerts.arns)

    # -- cache (docs/cache.md): ElastiCache Valkey/Redis cluster mode, or self-hosted Redis Cluster nodes --
    cache_config = config.cache
    cache = Cache(
        f"cryb-{stack}-cache",
        {
            "engine": cache_config.engine,
            "engine_flavor": cache_config.engine_flavor,
            "engine_version": cache_config.engine_version,
            "parameter_group_family": cache_config.parameter_group_family,
            "node_type": cache_config.node_type,
            "shards": cache_config.shards,
            "replicas_per_shard": cache_config.replicas_per_shard,
            "port": cache_config.port,
            "cluster_port": cache_config.cluster_port,
            "maxmemory_policy": cache_config.maxmemory_policy,
            "snapshot_retention_days": cache_config.snapshot_retention_days,
            "snapshot_window": windows.cache_snapshot,
            "maintenance_window": windows.cache_maintenance,
            "data_tiering": cache_config.data_tiering,
            "log_retention_days": cache_config.log_retention_days,
            "ec2_instance_type": cache_config.ec2_instance_type,
            "availability_zones": zones,
            "data_subnet_ids": network.data_subnet_ids,
            "data_subnet_cidrs": data_subnet_cidrs,
            "subnet_group_name": network.cache_subnet_group_name,
            "security_group_id": network.security_groups.cache.id,
            "data_kms_key_arn": keys.arns["data"],
            "logs_kms_key_arn": keys.arns["logs"],
            "secrets_kms_key_arn": keys.arns["secrets"],
            "alert_topic_arn": alerts.arns["warning"],
            "region": region,
            "tags": {**tags, "data-classification": config.data_classification},
        },
    )
    cache_outputs = {
        "engine": cache.engine,
        "engineFlavor": cache_config.engine_flavor,
        "engineVersion": cache_config.engine_version,
        "configurationEndpoint": cache.configuration_endpoint,
        "nodes": cache.nodes,
        "port": cache.port,
        "tls": True,
        "tlsCaCertSecretArn": cache.tls_ca_cert_secret_arn,
        "userNames": cache.user_names,
        "secretArns": cache.secret_arns,
    }

    # -- the data stores on the EKS cluster (docs/kubernetes.md#part-b-the-data-stores-on-the-cluster): CloudNativePG
    # shards and clusters, the cache StatefulSet (engine kubernetes); one explicit Kubernetes provider --
    k8s = config.kubernetes
    k8s_opts: pulumi.ResourceOptions | None = None
    identity: SecretsIdentityArgs | None = None
    if k8s.enabled:
        import pulumi_kubernetes

        k8s_provider = pulumi_kubernetes.Provider(
            f"cryb-{stack}-kubernetes",
            context=k8s.context,
            kubeconfig=pulumi.Output.secret(k8s.kubeconfig.get_secret_value()) if k8s.kubeconfig else None,
        )
        k8s_opts = pulumi.ResourceOptions(providers={"kubernetes": k8s_provider})
        identity = {
            "authentication": k8s.authentication,
            "oidc_provider_arn": k8s.oidc_provider_arn,
            "controller_role_arn": k8s.controller_role_arn,
            "secrets_kms_key_arn": keys.arns["secrets"],
            "region": region,
        }
    ds = k8s.data_stores
    cnpg_shards: list[PostgresClusterArgs] = [
        {
            "name": f"shard{index}",
            "instances": pg.ec2.node_count,
            "image": ds.postgres_image,
            "timescaledb": False,
            "database": pg.database_name,
            "owner": pg.admin_user,
            "backup_retention_days": pg.backup_retention_days,
        }
        for index in range(pg.shard_count)
        if pg.engine == "kubernetes"
    ]
    cnpg_clusters: list[PostgresClusterArgs] = [
        {
            "name": name,
            "instances": cluster.node_count,
            "image": ds.timescaledb_image if cluster.timescaledb else ds.postgres_image,
            "timescaledb": cluster.timescaledb,
            "database": cluster.database_name,
            "owner": cluster.admin_user,
            "backup_retention_days": cluster.backup_retention_days,
        }
        for name, cluster in sh.clusters.items()
        if sh.engine == "kubernetes"
    ]
    data_stores: DataStores | None = None
    if k8s_opts is not None and identity is not None and (cnpg_shards or cnpg_clusters or cache.engine == "kubernetes"):
        p = k8s.pgbouncer
        data_stores = DataStores(
            f"cryb-{stack}-data",
            {
                "namespace": ds.namespace,
                "kubernetes_version": k8s.version,
                "install_operator": ds.install_operator,
                "operator_namespace": ds.operator_namespace,
                "operator_chart_version": CNPG_CHART_VERSION,
                "clusters": [*cnpg_shards, *cnpg_clusters],
                "postgres": {
                    "cpu": ds.postgres_cpu,
                    "memory_mib": ds.postgres_memory_mib,
                    "storage_gib": ds.postgres_storage_gib,
                    "wal_storage_gib": ds.wal_storage_gib,
                    "backup_schedule": ds.backup_schedule,
                    "pooler_instances": ds.pooler_instances,
                    "reserved_connections": p.reserved_connections,
                    "max_client_connections": p.max_client_connections,
                    "max_prepared_statements": p.max_prepared_statements,
                },
                "cache": {
                    "plan": cache.plan,
                    "image": ds.cache_image,
                    "cli_image": ds.cache_cli_image or ds.cache_image,
                    "port": cache_config.port,
                    "cluster_port": cache_config.cluster_port,
                    "cpu": ds.cache_cpu,
                    "memory_mib": ds.cache_memory_mib,
                    "storage_gib": ds.cache_storage_gib,
                    "maxmemory_policy": cache_config.maxmemory_policy,
                    "secret_arns": cache.secret_arns,
                    "exporter_image": ds.exporter_image,
                }
                if cache.engine == "kubernetes"
                else None,
                "alerting": {
                    "thresholds": monitoring_config.alert_thresholds(),
                    "prometheus_namespace": ds.prometheus_namespace,
                    "selector_labels": ds.prometheus_selector_labels,
                },
                "identity": identity,
                "issuer_name": k8s.tls_issuer.name,
                "issuer_kind": k8s.tls_issuer.kind,
                "data_kms_key_arn": keys.arns["data"],
                "backup_bucket_name": backups.bucket_name,
                "backup_bucket_arn": backups.bucket_arn,
                "backup_kms_key_arn": backups.bucket_kms_key_arn,
                "secrets_kms_key_arn": keys.arns["secrets"],
                "region": region,
                "tags": {**tags, "data-classification": config.data_classification},
            },
            opts=k8s_opts,
        )
        entries = data_stores.shard_entries
        shard_entries += [{**entry, "id": index} for index, entry in enumerate(entries[: len(cnpg_shards)])]
        selfhosted_outputs["clusters"] += [
            {
                "name": c["name"],
                "engine": "cloudnativepg-postgresql",
                "engineVersion": sh.postgres_major,
                **{k: entry[k] for k in ("writerEndpoint", "readerEndpoints", "port", "databaseName", "secretArn")},
                "proxyEndpoint": entry["proxyEndpoint"],
                "iamAuthentication": False,
                "region": region,
                "timescaledb": c["timescaledb"],
                "backupPrefix": entry["backupPrefix"],
            }
            for c, entry in zip(cnpg_clusters, entries[len(cnpg_shards) :], strict=True)
        ]
        if cache.engine == "kubernetes":
            cache_outputs["nodes"] = data_stores.cache_nodes
            cache_outputs["configurationEndpoint"] = data_stores.cache_endpoint
    postgres_outputs = postgres_contract(shard_entries)
    pulumi.export("postgres", postgres_outputs)
    pulumi.export("selfhosted", selfhosted_outputs)
    pulumi.export("cache", cache_outputs)

    # -- cache password rotation (docs/cache.md#password-rotation): ElastiCache users, or the ec2 engine's ACL users
    # (applied by the nodes' credentials agent); the kubernetes engine's are the data stores' (docs/kubernetes.md) --
    rotations: list[CacheUserRotation | SelfHostedCacheUserRotation | SelfHostedCredentialRotation] = []
    if cache_config.engine == "elasticache":
        cache_rotation = CacheUserRotation(
            f"cryb-{stack}-cache-rotation",
            {
                "secret_arns": {user: cache.secret_arns[user] for user in cache.user_arns},
                "user_arns": cache.user_arns,
                "secrets_kms_key_arn": keys.arns["secrets"],
                "logs_kms_key_arn": keys.arns["logs"],
                "log_retention_days": cache_config.log_retention_days,
                "vpc_id": network.vpc_id,
                "subnet_ids": network.app_subnet_ids,
                "rotate_after": [cache],  # the users and the secrets' first versions exist before the first rotation
                "region": region,
                "code_signing": code_signing,
                "account_id": account_id,
                "tags": {**tags, "data-classification": config.data_classification},
            },
        )
        rotations.append(cache_rotation)
    elif cache_config.engine == "ec2":
        node_rotation = SelfHostedCacheUserRotation(
            f"cryb-{stack}-cache-rotation",
            {
                "secret_arns": cache.secret_arns,
                "nodes": [node.name for node in cache.plan.nodes],
                "secrets_kms_key_arn": keys.arns["secrets"],
                "logs_kms_key_arn": keys.arns["logs"],
                "log_retention_days": cache_config.log_retention_days,
                "vpc_id": network.vpc_id,
                "subnet_ids": network.app_subnet_ids,
                "rotate_after": [cache],
                "region": region,
                "code_signing": code_signing,
                "account_id": account_id,
                "tags": {**tags, "data-classification": config.data_classification},
            },
        )
        rotations.append(node_rotation)

    # -- self-hosted PostgreSQL credential rotation (docs/selfhosted.md#credential-rotation): every Patroni cluster's
    # passwords, applied by the nodes' credentials agent --
    for patroni_cluster in [*selfhosted_clusters, *shard_clusters]:
        patroni_rotation = SelfHostedCredentialRotation(
            f"{patroni_cluster.identifier}-rotation",
            {
                "secret_arns": patroni_cluster.secret_arns,
                "nodes": [group.node for group in patroni_cluster.node_groups],
                "secrets_kms_key_arn": keys.arns["secrets"],
                "logs_kms_key_arn": keys.arns["logs"],
                "log_retention_days": sh.log_retention_days,
                "vpc_id": network.vpc_id,
                "subnet_ids": network.app_subnet_ids,
                "rotate_after": [patroni_cluster],
                "region": region,
                "code_signing": code_signing,
                "account_id": account_id,
                "tags": tags,
            },
        )
        rotations.append(patroni_rotation)

    # -- the warm standby in the DR region (docs/disaster-recovery.md#the-warm-standby): its network, alert topics,
    # a cross-Region replica per RDS shard; `python -m scripts dr promote-region` promotes it --
    dr_outputs: dict[str, Any] | None = None
    if standby_region is not None:
        assert standby_keys is not None and dr_provider_opts is not None
        dr_keys = standby_keys
        dr_network = Network(
            f"cryb-{stack}-dr",
            {
                "cidr": config.dr.cidr,
                "availability_zones": dr_zones,
                "nat_gateways": config.network.nat_gateways,
                "interface_endpoints": config.network.interface_endpoints,
                "flow_log_retention_days": config.network.flow_log_retention_days,
                "flow_log_aggregation_seconds": config.network.flow_log_aggregation_seconds,
                "logs_kms_key_arn": dr_keys.arns["logs"],
                "postgres_port": config.postgres.port,
                "pooler_port": PROXY_PORT,
                "cache_port": config.cache.port,
                "region": standby_region,
                "account_id": account_id,
                "tags": {**tags, "data-classification": "internal", "dr": "standby"},
            },
            opts=dr_provider_opts,
        )
        # The DR region's forwarder needs its own: Signer signs only within a region, Lambda takes code only from
        # its own region. The primary's artifacts are replicated there (S3.7).
        dr_code_signing = code_signing_for(
            f"cryb-{stack}-dr-signing", standby_region, dr_keys, providers={"aws": provider_for(standby_region)}
        )
        code_signing.replicate_to(dr_code_signing)
        dr_alerts = AlertTopics(
            f"cryb-{stack}-dr-alerts",
            alert_topics_args(standby_region, dr_keys, dr_network, {**tags, "dr": "standby"}, dr_code_signing),
            opts=dr_provider_opts,
        )
        standby_shards: list[dict[str, Any]] = []
        if postgres is not None:
            standby = RegionStandby(
                f"cryb-{stack}-pg-dr",
                {
                    "source": postgres,
                    "instance_class": pg.instance_class,
                    "engine_version": pg.engine_version,
                    "storage_type": pg.storage_type,
                    "iops": pg.iops,
                    "allocated_storage_gb": pg.allocated_storage_gb,
                    "max_allocated_storage_gb": pg.max_allocated_storage_gb,
                    "port": pg.port,
                    "iam_authentication": pg.iam_authentication,
                    "performance_insights_retention_days": pg.performance_insights_retention_days,
                    "monitoring_interval_seconds": pg.monitoring_interval_seconds,
                    "log_retention_days": pg.log_retention_days,
                    "deletion_protection": pg.deletion_protection,
                    "ca_cert_identifier": pg.ca_cert_identifier,
                    "region": standby_region,
                    "db_subnet_group_name": dr_network.db_subnet_group_name,
                    "security_group_id": dr_network.security_groups.postgres.id,
                    "data_kms_key_arn": dr_keys.arns["data"],
                    "logs_kms_key_arn": dr_keys.arns["logs"],
                    "alert_topic_arns": dr_alerts.arns,
                    "alarm_settings": monitoring_config.alarm_settings(),
                    "lag_alarm_seconds": config.dr.lag_alarm_seconds,
                    "maintenance_windows": standby_windows,
                    "tags": {**tags, "dr": "standby"},
                },
                opts=dr_provider_opts,
            )
            standby_shards = [standby_outputs(s, standby_region, pg.port) for s in standby.standbys]
        # Per self-hosted cluster a Patroni standby cluster (docs/disaster-recovery.md#the-patroni-standby-cluster):
        # the same component through the DR provider, in the DR VPC, replaying the replicated repository.
        dr_data_cidrs = [s.cidr for s in plan_subnets(config.dr.cidr, len(dr_zones)) if s.tier == "data"]
        standby_clusters: list[dict[str, Any]] = []
        dr_patroni_clusters: list[SelfHostedCluster] = []
        # The Patroni clusters on EC2 (`selfhosted.engine: ec2`); CloudNativePG clusters get no standby here.
        ec2_clusters = sh.clusters.items() if sh.engine == "ec2" else []
        for (cluster_name, cluster), primary in zip(ec2_clusters, selfhosted_clusters, strict=True):
            count = cluster.node_count
            assert backups.replica_bucket_arn is not None and backups.replica_kms_key_arn is not None
            standby_args = analytics_args(cluster_name, cluster)
            standby_args.update(
                vpc_id=dr_network.vpc_id,
                vpc_cidr=config.dr.cidr,
                availability_zones=dr_zones[:count],
                subnet_ids=dr_network.data_subnet_ids[:count],
                subnet_cidrs=dr_data_cidrs[:count],
                client_security_group_ids=[dr_network.security_groups.app.id, dr_network.security_groups.pooler.id],
                backup_bucket_arn=backups.replica_bucket_arn,
                backup_kms_key_arn=backups.replica_kms_key_arn,
                data_kms_key_arn=dr_keys.arns["data"],
                secrets_kms_key_arn=dr_keys.arns["secrets"],
                logs_kms_key_arn=dr_keys.arns["logs"],
                dns_zone_name=f"{cluster_name}.{stack}-dr.cryb-db.internal",
                region=standby_region,
                tags={**tags, "dr": "standby"},
                standby_of=StandbyOf(
                    source=primary.identifier,
                    repository_prefix=backup_prefix(cluster_name),
                    secret_arns=primary.replica_secret_arns(standby_region),
                ),
            )
            standby_cluster = SelfHostedCluster(f"cryb-{stack}-dr-{cluster_name}", standby_args, opts=dr_provider_opts)
            standby_clusters.append(standby_cluster_outputs(standby_cluster, primary, standby_region))
            dr_patroni_clusters.append(standby_cluster)
        if dr_patroni_clusters:
            # Their alarms, to the DR topics, with actions off until promotion: a standby cluster has no writer
            # (its NLB's /primary check fails by design) and archives nothing; `dr promote-region` enables them.
            Monitoring(
                f"cryb-{stack}-dr-monitoring",
                {
                    "postgres_shards": [],
                    "postgres_allocated_storage_gb": pg.allocated_storage_gb,
                    "postgres_storage_type": pg.storage_type,
                    "selfhosted_clusters": dr_patroni_clusters,
                    "notify_topic_arn": dr_alerts.arns["warning"],
                    "page_topic_arn": dr_alerts.arns["critical"],
                    "settings": monitoring_config.alarm_settings(),
                    "dashboard_name": f"cryb-db-{stack}-dr",
                    "region": standby_region,
                    "account_id": account_id,
                    "tags": {**tags, "dr": "standby"},
                    "actions_enabled": False,
                },
                opts=dr_provider_opts,
            )
        # The cache's standby (dr.cacheGlobalDatastore; docs/disaster-recovery.md#the-cache). Without it the DR
        # region starts with an empty cache.
        cache_standby_outputs: dict[str, Any] | None = None
        if config.dr.cache_global_datastore and cache.replication_group_id is not None:
            cache_standby = CacheStandby(
                f"cryb-{stack}-cache-dr",
                {
                    "primary_replication_group_id": cache.replication_group_id,
                    "engine_flavor": cache_config.engine_flavor,
                    "node_type": cache_config.node_type,
                    "maxmemory_policy": cache_config.maxmemory_policy,
                    "shards": cache_config.shards,
                    "replicas_per_shard": cache_config.replicas_per_shard,
                    "initial_passwords": cache.initial_passwords,
                    "subnet_group_name": dr_network.cache_subnet_group_name,
                    "security_group_id": dr_network.security_groups.cache.id,
                    "data_kms_key_arn": dr_keys.arns["data"],
                    "snapshot_retention_days": cache_config.snapshot_retention_days,
                    "alert_topic_arns": dr_alerts.arns,
                    "alarm_settings": monitoring_config.alarm_settings(),
                    "dr_provider": provider_for(standby_region),
                    "tags": {**tags, "data-classification": config.data_classification, "dr": "standby"},
                },
            )
            cache_standby_outputs = {
                "kind": "elasticache-global-datastore",
                "globalReplicationGroupId": cache_standby.outputs.global_replication_group_id,
                "replicationGroupId": cache_standby.outputs.replication_group_id,
                "configurationEndpoint": cache_standby.outputs.configuration_endpoint,
                "port": cache_config.port,
                "region": standby_region,
            }
        dr_outputs = {
            "region": standby_region,
            "network": {
                "vpcId": dr_network.vpc_id,
                "vpcCidr": dr_network.vpc_cidr,
                "availabilityZones": dr_zones,
                "appSubnetIds": dr_network.app_subnet_ids,
                "dataSubnetIds": dr_network.data_subnet_ids,
                "dbSubnetGroupName": dr_network.db_subnet_group_name,
                "securityGroupIds": dr_network.security_groups.ids(),
            },
            "kmsKeyArns": dr_keys.arns,
            "alertTopicArns": dr_alerts.arns,
            "shards": standby_shards,
            "clusters": standby_clusters,
            "cache": cache_standby_outputs,
        }
    pulumi.export("dr", dr_outputs)

    # -- monitoring (docs/monitoring.md): alarms per data store member, composite per shard, the stack's dashboard --
    monitoring = Monitoring(
        f"cryb-{stack}-monitoring",
        {
            "postgres_shards": monitored_shards,
            "postgres_allocated_storage_gb": pg.allocated_storage_gb,
            "postgres_storage_type": pg.storage_type,
            "cache": {
                "node_groups": cache.node_groups,
                "node_type": cache.alarm_node_type,
                "maxmemory_policy": cache_config.maxmemory_policy,
            },
            "selfhosted_clusters": [*selfhosted_clusters, *shard_clusters],
            "rotations": rotations,
            "notify_topic_arn": alerts.arns["warning"],
            "page_topic_arn": alerts.arns["critical"],
            "settings": monitoring_config.alarm_settings(),
            "dashboard_name": f"cryb-db-{stack}",
            "region": region,
            "account_id": account_id,
            "tags": tags,
        },
    )
    pulumi.export(
        "monitoring",
        {
            "dashboardName": monitoring.dashboard_name,
            "dashboardUrl": monitoring.dashboard_url,
            "topicArns": alerts.arns,
            "compositeAlarmNames": monitoring.composite_alarm_names,
            "chatWebhookSecretArn": alerts.webhook_secret_arn,
            "forwarderFunctionName": alerts.forwarder_name,
        },
    )

    # -- Kubernetes (docs/kubernetes.md): each consuming application's namespace and the PgBouncers on the EKS
    # cluster (the cluster is not this project's); one explicit provider, passed to the components --
    if k8s_opts is not None and identity is not None:
        budgets = {target.name: target for target in pooler_targets(config)}

        def pooler_target(
            name: str, database: str, writer: Any, readers: Any, port: int, secret: Any
        ) -> PoolerTargetArgs:
            return {
                "name": name,
                "database": database,
                "writer_hosts": pulumi.Output.from_input(writer).apply(lambda host: [host]),
                "reader_hosts": readers,
                "port": port,
                "secret_arn": secret,
                "max_connections": budgets[name].max_connections,
                "other_poolers": budgets[name].other_poolers,
                "pools_per_server": budgets[name].pools_per_server(k8s.pgbouncer.max_replicas),
            }

        if pg.engine == "rds":
            shard_targets = [
                pooler_target(
                    f"shard{shard.index}",
                    pg.database_name,
                    shard.writer_endpoint,
                    shard.reader_endpoints,
                    pg.port,
                    shard.secret_arn,
                )
                for shard in monitored_shards
            ]
        elif pg.engine == "ec2":
            shard_targets = [
                pooler_target(
                    f"shard{i}",
                    pg.database_name,
                    c.writer_endpoint,
                    [c.reader_endpoint],
                    pg.port,
                    c.secret_arns["admin"],
                )
                for i, c in enumerate(shard_clusters)
            ]
        else:
            shard_targets = []  # CloudNativePG shards have their own Pooler
        cluster_targets = [
            pooler_target(
                name,
                sh.clusters[name].database_name,
                c.writer_endpoint,
                [c.reader_endpoint],
                sh.port,
                c.secret_arns["admin"],
            )
            for name, c in zip(sh.clusters if sh.engine == "ec2" else [], selfhosted_clusters, strict=True)
        ]
        p = k8s.pgbouncer
        pooler_endpoints: dict[str, Any] = {}
        targets = [*shard_targets, *cluster_targets]
        if targets:  # none when every cluster is a CloudNativePG one (each brings its Pooler)
            poolers = PgBouncerPoolers(
                f"cryb-{stack}-poolers",
                {
                    "namespace": k8s.pooler_namespace,
                    "kubernetes_version": k8s.version,
                    "targets": targets,
                    "pgbouncer": {
                        "image": p.image,
                        "min_replicas": p.min_replicas,
                        "max_replicas": p.max_replicas,
                        "processes_per_pod": p.processes_per_pod,
                        "target_cpu_percent": p.target_cpu_percent,
                        "reserved_connections": p.reserved_connections,
                        "max_client_connections": p.max_client_connections,
                        "max_prepared_statements": p.max_prepared_statements,
                        "cpu_request": p.cpu_request,
                        "cpu_limit": p.cpu_limit,
                        "memory": p.memory,
                        "server_ca_config_map": k8s.server_ca_config_map,
                        "issuer_name": k8s.tls_issuer.name,
                        "issuer_kind": k8s.tls_issuer.kind,
                        "reloader_image": p.reloader_image,
                    },
                    "identity": identity,
                    "data_subnet_cidrs": data_subnet_cidrs,
                    "tags": tags,
                },
                opts=k8s_opts,
            )
            pooler_endpoints = poolers.endpoints

        contract = pulumi.Output.json_dumps(
            {
                "environment": config.environment,
                "region": region,
                "postgres": postgres_outputs,
                "cache": cache_outputs,
                "selfhosted": selfhosted_outputs,
            },
            sort_keys=True,
        )
        shard_secrets = {f"postgres-shard{e['id']}": e["secretArn"] for e in shard_entries}
        cluster_secrets: dict[str, Any] = (
            {name: c.secret_arns["admin"] for name, c in zip(sh.clusters, selfhosted_clusters, strict=True)}
            if sh.engine == "ec2"
            else dict(data_stores.secret_arns if data_stores else {})
        )
        for app in k8s.applications:
            secrets = dict(shard_secrets) if app.postgres else {}
            secrets |= {f"postgres-{name}": cluster_secrets[name] for name in app.selfhosted_clusters}
            if app.cache_user != "none":
                secrets[f"cache-{app.cache_user}"] = cache.secret_arns[app.cache_user]
            ApplicationAccess(
                f"cryb-{stack}-app-{app.name}",
                {
                    "namespace": app.namespace_name,
                    "kubernetes_version": k8s.version,
                    "outputs_json": contract,
                    "secret_arns": secrets,
                    "identity": identity,
                    "pooler_namespace": k8s.pooler_namespace,
                    "data_subnet_cidrs": data_subnet_cidrs,
                    "cache_port": cache_config.port if app.cache_user != "none" else None,
                    "data_namespace": ds.namespace if data_stores else None,
                    "tags": tags,
                },
                opts=k8s_opts,
            )
        pulumi.export(
            "kubernetes",
            {
                "poolerNamespace": k8s.pooler_namespace,
                "poolers": pooler_endpoints,
                "applications": [{"name": a.name, "namespace": a.namespace_name} for a in k8s.applications],
            },
        )
