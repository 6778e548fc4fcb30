"""PostgreSQL on RDS: N hash-sharded shards, each a Multi-AZ DB instance with read replicas or a Multi-AZ DB
cluster, fronted by an RDS Proxy for the writer (docs/postgres.md)."""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components.metrics.metric import Metric
from components.postgres.role_secrets import role_secrets, rotation_function
from components.postgres.schedule import ShardWindows
from components.postgres.tuning import InstanceClass, Parameter, family, instance_class, max_connections, parameters
from components.security.iam_documents import service_trust

LOG_EXPORTS = ("postgresql", "upgrade")
PROXY_PORT = 5432  # RDS Proxy listens on the engine's default port whatever the database port is
ENHANCED_MONITORING_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
# Event categories per source type: `warning` keeps the record (the Security Hub RDS.19-22 sets and more),
# `critical` only what should page someone.
EVENT_CATEGORIES: dict[str, dict[str, list[str]]] = {
    "db-instance": {
        "critical": ["availability", "failover", "failure", "low storage"],
        "warning": ["configuration change", "deletion", "failure", "maintenance", "notification", "recovery"],
    },
    "db-cluster": {
        "critical": ["failover", "failure"],
        "warning": ["configuration change", "deletion", "failure", "maintenance", "notification"],
    },
    "db-parameter-group": {"warning": ["configuration change"]},
    "db-security-group": {"warning": ["configuration change", "failure"]},
    "db-proxy": {"warning": ["configuration change", "creation", "deletion"]},
}


DEFAULT_MASTER_SECRET_ROTATION_DAYS = 30


def _proxy_resource_id(arn: str) -> str:
    """arn:aws:rds:<region>:<account>:db-proxy:prx-0123456789abcdef -> prx-0123456789abcdef."""
    return arn.rsplit(":", 1)[-1]


def _secret_arn(secrets: Sequence[Any]) -> str:
    """The ARN of the secret RDS keeps the master password in (the password itself never enters state)."""
    arn = secrets[0].secret_arn if secrets else None
    if not arn:
        raise ValueError("RDS reported no managed master user secret although manage_master_user_password is set")
    return arn


class BackupReplicationArgs(TypedDict):
    """Where automated backups are copied (topology `instance` only)."""

    region: str
    """Destination region of the replicated automated backups."""
    kms_key_arn: pulumi.Input[str]
    """CMK in the destination region that encrypts the replicated backups."""


class PostgresArgs(TypedDict):
    """Inputs of Postgres."""

    shard_count: int
    """Number of physical shards."""
    topology: Literal["instance", "cluster"]
    """`instance`: Multi-AZ DB instance plus read replicas; `cluster`: Multi-AZ DB cluster."""
    instance_class: str
    """Instance class of every member; a row of postgres_tuning.INSTANCE_CLASSES."""
    engine_version: str
    """PostgreSQL version (major or minor); the parameter group family follows it."""
    read_replicas: int
    """Read replicas per shard (topology `instance`)."""
    multi_az: bool
    """Synchronous standby in another AZ (topology `instance`; clusters always are)."""
    storage_type: str
    """`gp3` or `io2`."""
    allocated_storage_gb: int
    """Initial storage per member in GiB."""
    max_allocated_storage_gb: int
    """Storage autoscaling ceiling in GiB (instances only)."""
    iops: int | None
    """Provisioned IOPS, or None for the storage type's baseline."""
    port: int
    """Port PostgreSQL listens on (not 5432)."""
    database_name: str
    """Database created on every shard."""
    admin_user: str
    """Master user name; its password is managed by RDS in Secrets Manager."""
    iam_authentication: bool
    """IAM database authentication."""
    extensions: Sequence[str]
    """Extensions applications create; pg_cron is preloaded when listed."""
    backup_retention_days: int
    """Automated backup retention in days."""
    windows: Sequence[ShardWindows]
    """Each shard's backup and maintenance windows and its replicas' (schedule.place_windows, from the config)."""
    performance_insights_retention_days: int
    """Performance Insights retention (7 or months of 31 days)."""
    monitoring_interval_seconds: int
    """Enhanced Monitoring interval."""
    log_retention_days: int
    """Retention of the exported log groups."""
    deletion_protection: bool
    """Refuse deletion of shards."""
    final_snapshot: bool
    """Take a final snapshot on deletion (and keep automated backups)."""
    apply_immediately: bool
    """Apply modifications now rather than in the maintenance window."""
    ca_cert_identifier: str
    """Server CA, e.g. rds-ca-rsa2048-g1."""
    backup_replication: BackupReplicationArgs | None
    """Cross-region automated backup replication, or None."""
    db_subnet_group_name: pulumi.Input[str]
    """Subnet group over the isolated data subnets."""
    availability_zones: Sequence[str]
    """AZs of the subnet group; read replicas are spread over them."""
    security_group_id: pulumi.Input[str]
    """Security group of the database members."""
    proxy_security_group_id: pulumi.Input[str]
    """Security group of the proxies (the pooler group)."""
    proxy_subnet_ids: Sequence[pulumi.Input[str]]
    """Subnets of the proxies; they must reach Secrets Manager (interface endpoint or NAT)."""
    data_kms_key_arn: pulumi.Input[str]
    """CMK for storage and Performance Insights."""
    logs_kms_key_arn: pulumi.Input[str]
    """CMK for the exported log groups."""
    secrets_kms_key_arn: pulumi.Input[str]
    """CMK for the RDS-managed master user secrets."""
    alert_topic_arns: Mapping[str, pulumi.Input[str]]
    """SNS topics by severity (`critical`, `warning`) for RDS event subscriptions."""
    account_id: str
    """Account of the shards (scopes role trust)."""
    region: str
    """Region of the shards."""
    tags: Mapping[str, str]
    """Tags on every taggable resource."""
    master_secret_rotation_days: NotRequired[int]
    """Days between rotations of each shard's RDS-managed master user secret (default 30; RDS's own default is 7)."""
    backup_selection_tag: NotRequired[tuple[str, str] | None]
    """(key, value) tag on each shard's writer or cluster, by which AWS Backup selects it
    (components/backups/component.py)."""


@dataclass
class PostgresShard:
    """One shard: what apps connect to, and what monitoring needs to know about it."""

    index: int
    identifier: str
    """Writer DB instance identifier (topology instance) or DB cluster identifier (topology cluster)."""
    topology: str
    instance_class: InstanceClass
    max_connections: int
    windows: ShardWindows
    writer_endpoint: pulumi.Output[str]
    reader_endpoints: pulumi.Output[list[str]]
    proxy_endpoint: pulumi.Output[str]
    secret_arn: pulumi.Output[str]
    replica_identifiers: list[str] = field(default_factory=list)
    proxy_resource_id: pulumi.Output[str] | None = None
    """`prx-...`: the proxy's resource id, which `rds-db:connect` policies name (docs/connecting.md)."""
    role_secret_arns: dict[str, pulumi.Output[str]] = field(default_factory=dict)
    """Secret ARN of each least-privilege role (components/postgres/role_secrets.py)."""
    writer_arn: pulumi.Output[str] | None = None
    """ARN of the writer DB instance (topology instance): the source of a cross-Region standby (components/dr)."""

    def metric(
        self, metric_name: str, statistic: str = "Average", period_seconds: int = 60, member: str | None = None
    ) -> Metric:
        """A metric of the writer (or cluster), or of `member` (a replica identifier)."""
        if member is not None or self.topology == "instance":
            dimensions = {"DBInstanceIdentifier": member or self.identifier}
        else:
            dimensions = {"DBClusterIdentifier": self.identifier}
        return Metric("AWS/RDS", metric_name, dimensions, statistic, period_seconds)

    def metric_cpu_utilization(self) -> Metric:
        return self.metric("CPUUtilization")

    def metric_database_connections(self) -> Metric:
        """Alarm at ~80-90% of `max_connections`."""
        return self.metric("DatabaseConnections")

    def metric_freeable_memory(self) -> Metric:
        """Alarm below ~25% of `instance_class.memory_gib`."""
        return self.metric("FreeableMemory")

    def metric_free_storage_space(self) -> Metric:
        return self.metric("FreeStorageSpace", "Minimum")

    def metric_db_load(self) -> Metric:
        """Alarm above `instance_class.vcpu` active sessions."""
        return self.metric("DBLoad")

    def metric_maximum_used_transaction_ids(self) -> Metric:
        return self.metric("MaximumUsedTransactionIDs")

    def metric_replica_lag(self) -> list[Metric]:
        """One per read replica (topology instance); empty for a cluster, whose lag is `ReplicaLag` per reader."""
        return [self.metric("ReplicaLag", "Maximum", member=r) for r in self.replica_identifiers]


class Postgres(pulumi.ComponentResource):
    """N PostgreSQL shards with tuned parameters, managed credentials, RDS Proxy and RDS event subscriptions."""

    shards: list[PostgresShard]
    parameter_group_name: pulumi.Output[str]
    parameters: list[Parameter]
    """The tuned parameters of every member: a standby in another region gets a group with the same ones."""
    monitoring_role_arn: pulumi.Output[str]
    """Enhanced Monitoring role (IAM is global: a standby in another region publishes with it too)."""

    def __init__(self, name: str, args: PostgresArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cryb:postgres:Postgres", name, None, opts)
        self._name, self._args = name, args
        self._tags = dict(args["tags"])
        cls = instance_class(args["instance_class"])
        windows = args["windows"]
        replicas = args["read_replicas"] if args["topology"] == "instance" else 0
        if len(windows) != args["shard_count"] or any(len(w.replica_maintenance) != replicas for w in windows):
            raise ValueError(f"windows: one per shard ({args['shard_count']}), each with {replicas} replica windows")
        cron = args["database_name"] if "pg_cron" in args["extensions"] else None
        self.parameters = list(parameters(cls.name, cron_database=cron))
        self._parameter_group(self.parameters)
        self._monitoring_role_arn, monitoring_ready = self._monitoring_role()
        self.monitoring_role_arn = self._monitoring_role_arn

        self.shards = []
        for index in range(args["shard_count"]):
            if args["topology"] == "instance":
                shard = self._instance_shard(index, cls, windows[index], monitoring_ready)
            else:
                shard = self._cluster_shard(index, cls, windows[index], monitoring_ready)
            self.shards.append(shard)
        self._role_secrets()
        self._event_subscriptions()

        self.register_outputs({"shards": [self.shard_outputs(s) for s in self.shards]})

    # -- helpers -------------------------------------------------------------------------------------------

    def _tag(self, name: str, **extra: str) -> dict[str, str]:
        return {**self._tags, "Name": name, **extra}

    def _backup_tag(self) -> dict[str, str]:
        selection = self._args.get("backup_selection_tag")
        return {selection[0]: selection[1]} if selection else {}

    def _child(self, *depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))

    def shard_outputs(self, shard: PostgresShard) -> dict[str, Any]:
        """What an app needs to connect to a shard (docs/outputs.md); the password is never part of it."""
        return {
            "id": shard.index,
            "name": shard.identifier,
            "topology": shard.topology,
            "writerEndpoint": shard.writer_endpoint,
            "readerEndpoints": shard.reader_endpoints,
            "proxyEndpoint": shard.proxy_endpoint,
            "proxyResourceId": shard.proxy_resource_id,
            "port": self._args["port"],
            "proxyPort": PROXY_PORT,
            "databaseName": self._args["database_name"],
            "secretArn": shard.secret_arn,
            "roleSecretArns": shard.role_secret_arns,
            "iamAuthentication": self._args["iam_authentication"],
            "region": self._args["region"],
        }

    def _role_secrets(self) -> None:
        """A secret per least-privilege role and shard, rotated by one single-user rotation function."""
        a = self._args
        rotation_arn = rotation_function(
            self._name,
            region=a["region"],
            subnet_ids=a["proxy_subnet_ids"],
            security_group_id=a["proxy_security_group_id"],
            kms_key_arn=a["secrets_kms_key_arn"],
            tags=self._tags,
            parent=self,
        )
        for shard in self.shards:
            shard.role_secret_arns = role_secrets(
                shard.identifier,
                host=shard.writer_endpoint,
                port=a["port"],
                database=a["database_name"],
                kms_key_arn=a["secrets_kms_key_arn"],
                rotation_lambda_arn=rotation_arn,
                tags=self._tags,
                parent=self,
            )

    def _parameter_group(self, params: Sequence[Parameter]) -> None:
        """One group for all shards: they run the same class, so the numbers are the same."""
        n, version = self._name, self._args["engine_version"]
        description = f"cryb-db {n}: tuned for {self._args['instance_class']} (docs/postgres.md)"
        if self._args["topology"] == "instance":
            group = aws.rds.ParameterGroup(
                f"{n}-params",
                family=family(version),
                description=description,
                parameters=[
                    aws.rds.ParameterGroupParameterArgs(name=p.name, value=p.value, apply_method=p.apply_method)
                    for p in params
                ],
                tags=self._tag(f"{n}-params"),
                opts=self._child(),
            )
        else:
            group = aws.rds.ClusterParameterGroup(
                f"{n}-params",
                family=family(version),
                description=description,
                parameters=[
                    aws.rds.ClusterParameterGroupParameterArgs(name=p.name, value=p.value, apply_method=p.apply_method)
                    for p in params
                ],
                tags=self._tag(f"{n}-params"),
                opts=self._child(),
            )
        self.parameter_group_name = group.name

    def _monitoring_role(self) -> tuple[pulumi.Output[str], pulumi.Resource]:
        """Enhanced Monitoring publishes OS metrics with this role (RDS.6); trusted only from this account."""
        n = self._name
        role = aws.iam.Role(
            f"{n}-monitoring-role",
            description="RDS Enhanced Monitoring of the cryb-db PostgreSQL shards",
            assume_role_policy=json.dumps(service_trust("monitoring.rds.amazonaws.com", self._args["account_id"])),
            tags=self._tag(f"{n}-monitoring-role"),
            opts=self._child(),
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{n}-monitoring-policy", role=role.name, policy_arn=ENHANCED_MONITORING_POLICY, opts=self._child()
        )
        return role.arn, attachment

    def _log_groups(self, kind: str, identifier: str) -> list[aws.cloudwatch.LogGroup]:
        """Created before the database so RDS exports into groups with our retention and CMK (RDS.9/36)."""
        a = self._args
        return [
            aws.cloudwatch.LogGroup(
                f"{identifier}-{log}-logs",
                name=f"/aws/rds/{kind}/{identifier}/{log}",
                retention_in_days=a["log_retention_days"],
                kms_key_id=a["logs_kms_key_arn"],
                tags=self._tag(f"{identifier}-{log}-logs"),
                opts=self._child(),
            )
            for log in LOG_EXPORTS
        ]

    def _common(self) -> dict[str, Any]:
        """Arguments every member shares, instance or cluster alike."""
        a = self._args
        return {
            "engine_version": a["engine_version"],
            "storage_type": a["storage_type"],
            "iops": a["iops"],
            "storage_encrypted": True,
            "kms_key_id": a["data_kms_key_arn"],
            "vpc_security_group_ids": [a["security_group_id"]],
            "publicly_accessible": False,
            "network_type": "IPV4",
            "port": a["port"],
            "iam_database_authentication_enabled": a["iam_authentication"],
            "auto_minor_version_upgrade": True,
            "allow_major_version_upgrade": False,
            "apply_immediately": a["apply_immediately"],
            "copy_tags_to_snapshot": True,
            "deletion_protection": a["deletion_protection"],
            "performance_insights_enabled": True,
            "performance_insights_kms_key_id": a["data_kms_key_arn"],
            "performance_insights_retention_period": a["performance_insights_retention_days"],
            "monitoring_interval": a["monitoring_interval_seconds"],
            "monitoring_role_arn": self._monitoring_role_arn,
            "enabled_cloudwatch_logs_exports": list(LOG_EXPORTS),
        }

    def _final_snapshot(self, identifier: str) -> dict[str, Any]:
        keep = self._args["final_snapshot"]
        return {
            "skip_final_snapshot": not keep,
            "final_snapshot_identifier": f"{identifier}-final" if keep else None,
            # Retained automated backups still allow point-in-time restore after an accidental delete.
            "delete_automated_backups": not keep,
        }

    # -- topologies ----------------------------------------------------------------------------------------

    def _instance_shard(
        self, index: int, cls: InstanceClass, windows: ShardWindows, monitoring_ready: pulumi.Resource
    ) -> PostgresShard:
        a, ident = self._args, f"{self._name}-{index:02d}"
        primary = aws.rds.Instance(
            ident,
            identifier=ident,
            engine="postgres",
            instance_class=cls.name,
            multi_az=a["multi_az"],
            db_subnet_group_name=a["db_subnet_group_name"],
            db_name=a["database_name"],
            username=a["admin_user"],
            manage_master_user_password=True,
            master_user_secret_kms_key_id=a["secrets_kms_key_arn"],
            allocated_storage=a["allocated_storage_gb"],
            max_allocated_storage=a["max_allocated_storage_gb"],
            parameter_group_name=self.parameter_group_name,
            ca_cert_identifier=a["ca_cert_identifier"],
            backup_retention_period=a["backup_retention_days"],
            backup_window=windows.backup,
            maintenance_window=windows.maintenance,
            **self._final_snapshot(ident),
            **self._common(),
            tags={**self._tag(ident, shard=str(index), role="writer"), **self._backup_tag()},
            opts=self._child(*self._log_groups("instance", ident), monitoring_ready),
        )
        replicas = []
        for number, window in enumerate(windows.replica_maintenance, start=1):
            replica_ident = f"{ident}-replica-{number}"
            azs = a["availability_zones"]
            replicas.append(
                aws.rds.Instance(
                    replica_ident,
                    identifier=replica_ident,
                    replicate_source_db=primary.arn,
                    instance_class=cls.name,
                    # Replicas of a shard land in different AZs, starting one over per shard.
                    availability_zone=azs[(index + number) % len(azs)],
                    multi_az=False,
                    db_subnet_group_name=a["db_subnet_group_name"],
                    max_allocated_storage=a["max_allocated_storage_gb"],
                    parameter_group_name=self.parameter_group_name,
                    ca_cert_identifier=a["ca_cert_identifier"],
                    maintenance_window=window,
                    skip_final_snapshot=True,  # the writer keeps the backups
                    # A replica runs its source's engine version; RDS takes no version when creating one.
                    **{k: v for k, v in self._common().items() if k != "engine_version"},
                    tags=self._tag(replica_ident, shard=str(index), role="reader"),
                    opts=self._child(*self._log_groups("instance", replica_ident), monitoring_ready),
                )
            )
        if a["backup_replication"] is not None:
            target = a["backup_replication"]
            aws.rds.InstanceAutomatedBackupsReplication(
                f"{ident}-backup-replication",
                region=target["region"],
                source_db_instance_arn=primary.arn,
                kms_key_id=target["kms_key_arn"],
                retention_period=a["backup_retention_days"],
                opts=self._child(),
            )
        secret_arn = primary.master_user_secrets.apply(_secret_arn)
        self._rotate_master_secret(ident, secret_arn, primary)
        proxy = self._proxy(ident, secret_arn, {"db_instance_identifier": primary.identifier})
        readers: pulumi.Output[list[str]] = (
            pulumi.Output.all(*[r.address for r in replicas]) if replicas else pulumi.Output.from_input([])
        )
        return PostgresShard(
            index=index,
            identifier=ident,
            topology="instance",
            instance_class=cls,
            max_connections=max_connections(cls),
            windows=windows,
            writer_endpoint=primary.address,
            reader_endpoints=readers,
            proxy_endpoint=proxy.endpoint,
            proxy_resource_id=proxy.arn.apply(_proxy_resource_id),
            secret_arn=secret_arn,
            replica_identifiers=[f"{ident}-replica-{n}" for n in range(1, len(replicas) + 1)],
            writer_arn=primary.arn,
        )

    def _cluster_shard(
        self, index: int, cls: InstanceClass, windows: ShardWindows, monitoring_ready: pulumi.Resource
    ) -> PostgresShard:
        a, ident = self._args, f"{self._name}-{index:02d}"
        cluster = aws.rds.Cluster(
            ident,
            cluster_identifier=ident,
            engine="postgres",
            db_cluster_instance_class=cls.name,
            db_subnet_group_name=a["db_subnet_group_name"],
            database_name=a["database_name"],
            master_username=a["admin_user"],
            manage_master_user_password=True,
            master_user_secret_kms_key_id=a["secrets_kms_key_arn"],
            allocated_storage=a["allocated_storage_gb"],
            db_cluster_parameter_group_name=self.parameter_group_name,
            ca_certificate_identifier=a["ca_cert_identifier"],
            backup_retention_period=a["backup_retention_days"],
            preferred_backup_window=windows.backup,
            preferred_maintenance_window=windows.maintenance,
            **self._final_snapshot(ident),
            **self._common(),
            tags={**self._tag(ident, shard=str(index), role="cluster"), **self._backup_tag()},
            opts=self._child(*self._log_groups("cluster", ident), monitoring_ready),
        )
        secret_arn = cluster.master_user_secrets.apply(_secret_arn)
        self._rotate_master_secret(ident, secret_arn, cluster)
        proxy = self._proxy(ident, secret_arn, {"db_cluster_identifier": cluster.cluster_identifier})
        return PostgresShard(
            index=index,
            identifier=ident,
            topology="cluster",
            instance_class=cls,
            max_connections=max_connections(cls),
            windows=windows,
            writer_endpoint=cluster.endpoint,
            reader_endpoints=cluster.reader_endpoint.apply(lambda endpoint: [endpoint]),
            proxy_endpoint=proxy.endpoint,
            proxy_resource_id=proxy.arn.apply(_proxy_resource_id),
            secret_arn=secret_arn,
        )

    def _rotate_master_secret(self, ident: str, secret_arn: pulumi.Output[str], owner: pulumi.Resource) -> None:
        """The schedule of RDS's managed rotation of the master user secret: RDS rotates it itself (no Lambda; AWS
        calls this managed rotation) every 7 days unless the secret's rotation rules say otherwise."""
        days = self._args.get("master_secret_rotation_days", DEFAULT_MASTER_SECRET_ROTATION_DAYS)
        aws.secretsmanager.SecretRotation(
            f"{ident}-master-secret-rotation",
            secret_id=secret_arn,
            rotation_rules=aws.secretsmanager.SecretRotationRotationRulesArgs(automatically_after_days=days),
            rotate_immediately=False,  # the first rotation follows the schedule, not `pulumi up`
            opts=self._child(owner),
        )

    def _proxy(self, ident: str, secret_arn: pulumi.Output[str], target: dict[str, Any]) -> aws.rds.Proxy:
        """RDS Proxy for the writer: TLS and IAM required from clients; it logs in with the managed secret."""
        a = self._args
        role = aws.iam.Role(
            f"{ident}-proxy-role",
            description=f"RDS Proxy of {ident}: reads only that shard's master secret",
            assume_role_policy=json.dumps(service_trust("rds.amazonaws.com", self._args["account_id"])),
            tags=self._tag(f"{ident}-proxy-role"),
            opts=self._child(),
        )
        policy = aws.iam.RolePolicy(
            f"{ident}-proxy-secret",
            role=role.id,
            policy=pulumi.Output.all(secret_arn, a["secrets_kms_key_arn"]).apply(
                lambda values: json.dumps(self._proxy_policy(values[0], values[1]))
            ),
            opts=self._child(),
        )
        proxy = aws.rds.Proxy(
            f"{ident}-proxy",
            name=f"{ident}-proxy",
            engine_family="POSTGRESQL",
            role_arn=role.arn,
            vpc_subnet_ids=list(a["proxy_subnet_ids"]),
            vpc_security_group_ids=[a["proxy_security_group_id"]],
            require_tls=True,
            debug_logging=False,  # debug logs would contain SQL text
            idle_client_timeout=1800,
            auths=[
                aws.rds.ProxyAuthArgs(
                    auth_scheme="SECRETS",
                    secret_arn=secret_arn,
                    iam_auth="REQUIRED",
                    client_password_auth_type="POSTGRES_SCRAM_SHA_256",
                    description=f"{ident} master user (managed by RDS)",
                )
            ],
            tags=self._tag(f"{ident}-proxy"),
            opts=self._child(policy),
        )
        group = aws.rds.ProxyDefaultTargetGroup(
            f"{ident}-proxy-targets",
            db_proxy_name=proxy.name,
            connection_pool_config=aws.rds.ProxyDefaultTargetGroupConnectionPoolConfigArgs(
                # 20% of max_connections stay free for migrations, admin and monitoring that connect directly.
                max_connections_percent=80,
                max_idle_connections_percent=50,
                connection_borrow_timeout=120,
            ),
            opts=self._child(),
        )
        aws.rds.ProxyTarget(
            f"{ident}-proxy-writer",
            db_proxy_name=proxy.name,
            target_group_name=group.name,
            **target,
            opts=self._child(),
        )
        return proxy

    def _proxy_policy(self, secret_arn: str, secrets_key_arn: str) -> dict[str, Any]:
        return {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret_arn},
                {
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": secrets_key_arn,
                    "Condition": {
                        "StringEquals": {"kms:ViaService": f"secretsmanager.{self._args['region']}.amazonaws.com"}
                    },
                },
            ],
        }

    def _event_subscriptions(self) -> None:
        """RDS events of these shards, their parameter group, security groups and proxies to the alert topics."""
        n, topics = self._name, self._args["alert_topic_arns"]
        members = [s.identifier for s in self.shards]
        replicas = [r for s in self.shards for r in s.replica_identifiers]
        sources: dict[str, Sequence[pulumi.Input[str]] | None] = {
            "db-instance" if self._args["topology"] == "instance" else "db-cluster": members + replicas,
            # Multi-AZ DB clusters use a cluster parameter group, which has no events: watch all groups then.
            "db-parameter-group": [self.parameter_group_name] if self._args["topology"] == "instance" else None,
            "db-security-group": None,  # VPC security groups are not RDS sources; kept for Security Hub RDS.22
            "db-proxy": [f"{m}-proxy" for m in members],
        }
        for source_type, source_ids in sources.items():
            for severity, categories in EVENT_CATEGORIES[source_type].items():
                label = f"{n}-{source_type.removeprefix('db-')}-{severity}"
                aws.rds.EventSubscription(
                    label,
                    sns_topic=topics[severity],
                    source_type=source_type,
                    source_ids=source_ids,
                    event_categories=categories,
                    enabled=True,
                    tags=self._tag(label, severity=severity),
                    opts=self._child(),
                )
