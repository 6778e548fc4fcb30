"""RDS: instances, clusters, cluster instances, proxies, parameter groups, snapshots, event subscriptions."""

from collections.abc import Iterator

from pulumi_policy import Severity

from .base import Config, RuleSet
from .graph import Stack
from .props import UNKNOWN, as_bool, as_list, as_number
from .resource import Resource

RULES = RuleSet()

INSTANCE = "aws:rds/instance:Instance"
CLUSTER = "aws:rds/cluster:Cluster"
CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
PROXY = "aws:rds/proxy:Proxy"
PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
CLUSTER_PARAMETER_GROUP = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
EVENT_SUBSCRIPTION = "aws:rds/eventSubscription:EventSubscription"
SNAPSHOT = "aws:rds/snapshot:Snapshot"
CLUSTER_SNAPSHOT = "aws:rds/clusterSnapshot:ClusterSnapshot"
SNAPSHOT_COPY = "aws:rds/snapshotCopy:SnapshotCopy"
CLUSTER_SNAPSHOT_COPY = "aws:rds/clusterSnapshotCopy:ClusterSnapshotCopy"

POSTGRES_ENGINES = ("postgres", "aurora-postgresql")
DEFAULT_PORTS = {"postgres": 5432, "aurora-postgresql": 5432, "mysql": 3306, "aurora-mysql": 3306, "mariadb": 3306}


def is_replica(resource: Resource) -> bool:
    """Read replicas inherit encryption, credentials and backups from their source."""
    return "replicateSourceDb" in resource.props


def is_multi_az_db_cluster(resource: Resource) -> bool:
    """A Multi-AZ DB cluster (engine postgres/mysql, instance class on the cluster), not Aurora."""
    return resource.type == CLUSTER and "dbClusterInstanceClass" in resource.props


def engine(resource: Resource) -> str | None:
    value = resource.get("engine")
    return value if isinstance(value, str) else None


@RULES.resource(
    types=(INSTANCE, CLUSTER_INSTANCE, CLUSTER),
    name="rds-not-publicly-accessible",
    description="RDS instances and clusters are reachable only from inside the VPC.",
    controls=("RDS.2",),
    severity=Severity.CRITICAL,
    remediation="Set publicly_accessible=False (the default); clients connect through the VPC.",
)
def rds_not_publicly_accessible(resource: Resource, config: Config) -> Iterator[str]:
    if as_bool(resource.get("publiclyAccessible", default=False)) is True:
        yield "publiclyAccessible is true: set publicly_accessible=False; clients reach PostgreSQL inside the VPC."


@RULES.resource(
    types=(INSTANCE, CLUSTER),
    name="rds-storage-encrypted",
    description="RDS instances and clusters encrypt storage (and so their snapshots) with a customer-managed key.",
    controls=("RDS.3", "RDS.27", "RDS.4"),
    severity=Severity.HIGH,
    remediation="Set storage_encrypted=True and kms_key_id to the stack's `data` KMS key ARN.",
)
def rds_storage_encrypted(resource: Resource, config: Config) -> Iterator[str]:
    if is_replica(resource):
        return  # a replica's encryption follows its source
    encrypted = as_bool(resource.get("storageEncrypted", default=False))
    if encrypted is False or encrypted is None:
        yield "storageEncrypted is not true: set storage_encrypted=True; snapshots inherit it (RDS.4)."
    if "kmsKeyId" not in resource.props:
        yield "kmsKeyId is not set, so the AWS-managed key is used: set kms_key_id to the stack's `data` key ARN."


@RULES.resource(
    types=(SNAPSHOT, CLUSTER_SNAPSHOT, SNAPSHOT_COPY, CLUSTER_SNAPSHOT_COPY),
    name="rds-snapshot-not-public",
    description="RDS snapshots are never shared with all AWS accounts.",
    controls=("RDS.1",),
    severity=Severity.CRITICAL,
    remediation="Remove 'all' from shared_accounts; share with named account IDs only.",
)
def rds_snapshot_not_public(resource: Resource, config: Config) -> Iterator[str]:
    shared = as_list(resource.get("sharedAccounts"))
    if shared is not UNKNOWN and "all" in shared:
        yield "sharedAccounts contains 'all' (public snapshot): remove it and list the account IDs that need it."


@RULES.resource(
    types=(SNAPSHOT_COPY, CLUSTER_SNAPSHOT_COPY),
    name="rds-snapshot-copy-encrypted",
    description="Copies of RDS snapshots are encrypted with a customer-managed key.",
    controls=("RDS.4",),
    severity=Severity.MEDIUM,
    remediation="Set kms_key_id on the snapshot copy to the `data` key of the destination region.",
)
def rds_snapshot_copy_encrypted(resource: Resource, config: Config) -> Iterator[str]:
    if "kmsKeyId" not in resource.props:
        yield "kmsKeyId is not set: set kms_key_id so the copy is encrypted with a customer-managed key."


@RULES.resource(
    types=(INSTANCE, CLUSTER),
    name="rds-multi-az",
    description="RDS instances have a Multi-AZ standby; Multi-AZ DB clusters span at least two AZs.",
    controls=("RDS.5", "RDS.15"),
    severity=Severity.HIGH,
    remediation="Set multi_az=True on instances; give clusters availability_zones in at least two AZs.",
)
def rds_multi_az(resource: Resource, config: Config) -> Iterator[str]:
    if resource.type == INSTANCE:
        if not is_replica(resource) and as_bool(resource.get("multiAz", default=False)) is False:
            yield "multiAz is not true: set multi_az=True so an AZ outage fails over to the standby."
        return
    zones = as_list(resource.get("availabilityZones"))
    if zones is not UNKNOWN and len(zones) == 1:
        yield "availabilityZones lists one AZ: list at least two (three in prod) or leave it unset."


@RULES.stack(
    name="rds-cluster-multi-az",
    description="Every Aurora cluster has a writer and at least one reader to fail over to.",
    controls=("RDS.15",),
    severity=Severity.HIGH,
    remediation="Declare at least two aws.rds.ClusterInstance resources for the cluster (spread over AZs).",
    config_schema={"minInstances": {"type": "integer", "minimum": 1, "default": 2}},
)
def rds_cluster_multi_az(stack: Stack, config: Config) -> Iterator[tuple[Resource | None, str]]:
    minimum = int(config["minInstances"])
    for cluster in stack.of_type(CLUSTER):
        if is_multi_az_db_cluster(cluster):
            continue  # AWS places its writer and two readable standbys in three AZs
        members = stack.referrers(cluster, (CLUSTER_INSTANCE,), keys=("clusterIdentifier",))
        if len(members) < minimum and not stack.maybe_referrers(cluster, (CLUSTER_INSTANCE,), ("clusterIdentifier",)):
            yield (
                cluster,
                (
                    f"{len(members)} cluster instance(s): add aws.rds.ClusterInstance resources until there are "
                    f"{minimum}, so a reader in another AZ can take over."
                ),
            )


@RULES.resource(
    types=(INSTANCE, CLUSTER_INSTANCE, CLUSTER),
    name="rds-enhanced-monitoring",
    description="Enhanced Monitoring is on, at most every `maxIntervalSeconds`.",
    controls=("RDS.6",),
    severity=Severity.LOW,
    remediation="Set monitoring_interval (e.g. 15 or 60) and monitoring_role_arn to an RDS monitoring role.",
    config_schema={"maxIntervalSeconds": {"type": "integer", "enum": [1, 5, 10, 15, 30, 60], "default": 60}},
)
def rds_enhanced_monitoring(resource: Resource, config: Config) -> Iterator[str]:
    if resource.type == CLUSTER and not is_multi_az_db_cluster(resource):
        return  # Aurora configures Enhanced Monitoring on its cluster instances
    interval = as_number(resource.get("monitoringInterval", default=0))
    if interval is UNKNOWN:
        return
    if interval is None or interval <= 0 or interval > float(config["maxIntervalSeconds"]):
        shown = resource.get("monitoringInterval", default="unset (0)")
        yield (
            f"monitoringInterval is {shown}: set monitoring_interval to 1-{config['maxIntervalSeconds']} seconds "
            "and monitoring_role_arn."
        )
    elif "monitoringRoleArn" not in resource.props:
        yield "monitoringRoleArn is not set: give Enhanced Monitoring a role with AmazonRDSEnhancedMonitoringRole."


@RULES.resource(
    types=(INSTANCE, CLUSTER),
    name="rds-deletion-protection",
    description="RDS instances and clusters cannot be deleted until deletion protection is turned off.",
    controls=("RDS.7", "RDS.8"),
    severity=Severity.MEDIUM,
    remediation="Set deletion_protection=True.",
)
def rds_deletion_protection(resource: Resource, config: Config) -> Iterator[str]:
    if as_bool(resource.get("deletionProtection", default=False)) is False:
        yield "deletionProtection is not true: set deletion_protection=True."


@RULES.resource(
    types=(INSTANCE, CLUSTER),
    name="rds-logs-to-cloudwatch",
    description="RDS instances and clusters export their database logs to CloudWatch Logs.",
    controls=("RDS.9", "RDS.36", "RDS.37"),
    severity=Severity.MEDIUM,
    remediation="Set enabled_cloudwatch_logs_exports=['postgresql', 'upgrade'] (PostgreSQL engines).",
    config_schema={"postgresLogTypes": {"type": "array", "items": {"type": "string"}, "default": ["postgresql"]}},
)
def rds_logs_to_cloudwatch(resource: Resource, config: Config) -> Iterator[str]:
    exported = as_list(resource.get("enabledCloudwatchLogsExports"))
    if exported is UNKNOWN or resource.get("engine") is UNKNOWN:
        return
    if engine(resource) in POSTGRES_ENGINES or (engine(resource) is None and is_replica(resource)):
        missing = sorted(set(config["postgresLogTypes"]) - set(exported))
        if missing:
            yield f"enabledCloudwatchLogsExports lacks {missing}: add them to enabled_cloudwatch_logs_exports."
    elif not exported:
        yield "enabledCloudwatchLogsExports is empty: export the engine's error/general logs."


@RULES.resource(
    types=(INSTANCE, CLUSTER),
    name="rds-iam-authentication",
    description="IAM database authentication is enabled, so roles can log in without static passwords.",
    controls=("RDS.10", "RDS.12"),
    severity=Severity.MEDIUM,
    remediation="Set iam_database_authentication_enabled=True.",
)
def rds_iam_authentication(resource: Resource, config: Config) -> Iterator[str]:
    if as_bool(resource.get("iamDatabaseAuthenticationEnabled", default=False)) is False:
        yield "iamDatabaseAuthenticationEnabled is not true: set iam_database_authentication_enabled=True."


@RULES.resource(
    types=(INSTANCE, CLUSTER),
    name="rds-backup-retention",
    description="Automated backups are kept at least `minRetentionDays` days.",
    controls=("RDS.11",),
    severity=Severity.HIGH,
    remediation="Set backup_retention_period to at least the configured minimum (7 days in prod).",
    config_schema={"minRetentionDays": {"type": "integer", "minimum": 1, "maximum": 35, "default": 7}},
)
def rds_backup_retention(resource: Resource, config: Config) -> Iterator[str]:
    if is_replica(resource):
        return
    minimum = float(config["minRetentionDays"])
    days = as_number(resource.get("backupRetentionPeriod", default=1))  # the RDS API default is 1 day
    if days is not UNKNOWN and (days is None or days < minimum):
        yield (
            f"backupRetentionPeriod is {resource.get('backupRetentionPeriod', default='unset (1)')}: "
            f"set backup_retention_period to at least {int(minimum)} days."
        )


@RULES.resource(
    types=(INSTANCE, CLUSTER_INSTANCE, CLUSTER),
    name="rds-auto-minor-version-upgrade",
    description="Minor engine versions (security fixes) are applied automatically in the maintenance window.",
    controls=("RDS.13", "RDS.35"),
    severity=Severity.HIGH,
    remediation="Leave auto_minor_version_upgrade unset or set it to True.",
)
def rds_auto_minor_version_upgrade(resource: Resource, config: Config) -> Iterator[str]:
    if resource.type == CLUSTER and not is_multi_az_db_cluster(resource):
        return  # Aurora sets it per cluster instance
    if as_bool(resource.get("autoMinorVersionUpgrade", default=True)) is False:
        yield "autoMinorVersionUpgrade is false: set auto_minor_version_upgrade=True."


@RULES.resource(
    types=(INSTANCE, CLUSTER),
    name="rds-copy-tags-to-snapshot",
    description="Snapshots carry the tags (owner, data-classification) of their database.",
    controls=("RDS.16", "RDS.17", "RDS.47"),
    severity=Severity.LOW,
    remediation="Set copy_tags_to_snapshot=True.",
)
def rds_copy_tags_to_snapshot(resource: Resource, config: Config) -> Iterator[str]:
    if as_bool(resource.get("copyTagsToSnapshot", default=False)) is False:
        yield "copyTagsToSnapshot is not true: set copy_tags_to_snapshot=True."


@RULES.resource(
    types=(INSTANCE, CLUSTER),
    name="rds-in-vpc-subnet-group",
    description="RDS instances and clusters run in this stack's VPC, through an explicit DB subnet group.",
    controls=("RDS.18",),
    severity=Severity.HIGH,
    remediation="Set db_subnet_group_name to the network's dbSubnetGroupName output (data subnets only).",
)
def rds_in_vpc_subnet_group(resource: Resource, config: Config) -> Iterator[str]:
    if is_replica(resource):
        return
    if resource.get("dbSubnetGroupName", default="default") in ("", "default"):
        yield "dbSubnetGroupName is not set (the default VPC): set db_subnet_group_name to the data subnet group."


@RULES.resource(
    types=(INSTANCE, CLUSTER),
    name="rds-non-default-port",
    description="Databases listen on a port other than their engine's default.",
    controls=("RDS.23",),
    severity=Severity.LOW,
    remediation="Set port to the stack's cryb-db:postgres.port (5433 by default), not 5432.",
)
def rds_non_default_port(resource: Resource, config: Config) -> Iterator[str]:
    default = DEFAULT_PORTS.get(engine(resource) or "")
    port = as_number(resource.get("port", default=default))
    if default is not None and port is not UNKNOWN and port == default:
        yield f"port is the engine default {default}: set port to another value (cryb-db:postgres.port)."


@RULES.resource(
    types=(INSTANCE, CLUSTER),
    name="rds-custom-admin-username",
    description="The master user is not a well-known name such as `postgres`.",
    controls=("RDS.24", "RDS.25"),
    severity=Severity.MEDIUM,
    remediation="Set username (instances) / master_username (clusters) to a project-specific name.",
    config_schema={
        "forbiddenUsernames": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["postgres", "admin", "root", "administrator", "rdsadmin"],
        }
    },
)
def rds_custom_admin_username(resource: Resource, config: Config) -> Iterator[str]:
    key = "username" if resource.type == INSTANCE else "masterUsername"
    username = resource.get(key)
    if isinstance(username, str) and username.lower() in {u.lower() for u in config["forbiddenUsernames"]}:
        yield f"{key} is {username!r}: choose a non-default admin username."


def _parameters(resource: Resource) -> dict[str, object] | None:
    """The group's parameters by lower-case name; None while the list is unknown."""
    items = as_list(resource.get("parameters"))
    if items is UNKNOWN:
        return None
    return {str(p.get("name", "")).lower(): p.get("value") for p in items if isinstance(p, dict)}


@RULES.resource(
    types=(PARAMETER_GROUP, CLUSTER_PARAMETER_GROUP, INSTANCE, CLUSTER),
    name="rds-postgres-force-ssl",
    description="PostgreSQL accepts only TLS connections (rds.force_ssl=1 in a custom parameter group).",
    controls=("RDS.38",),
    severity=Severity.HIGH,
    remediation="Use a custom parameter group with the parameter rds.force_ssl = 1 and attach it.",
)
def rds_postgres_force_ssl(resource: Resource, config: Config) -> Iterator[str]:
    if resource.type in (PARAMETER_GROUP, CLUSTER_PARAMETER_GROUP):
        family = resource.get("family")
        if not isinstance(family, str) or not family.startswith(POSTGRES_ENGINES):
            return
        parameters = _parameters(resource)
        if parameters is not None and parameters.get("rds.force_ssl") not in ("1", 1, 1.0, UNKNOWN):
            yield "rds.force_ssl is not 1: add the parameter {name: 'rds.force_ssl', value: '1'}."
        return
    if engine(resource) not in POSTGRES_ENGINES:
        return
    key = "parameterGroupName" if resource.type == INSTANCE else "dbClusterParameterGroupName"
    if key not in resource.props and not is_replica(resource):
        yield f"{key} is not set (the default group may allow plaintext): attach a group with rds.force_ssl=1."


AUDIT_CLASSES = ("ddl", "role")


@RULES.resource(
    types=(PARAMETER_GROUP, CLUSTER_PARAMETER_GROUP),
    name="rds-postgres-audit-logging",
    description="PostgreSQL keeps an audit trail: pgaudit preloaded and logging DDL and role changes, and every "
    "connection and disconnection logged.",
    controls=("CRYB.30",),
    severity=Severity.MEDIUM,
    remediation="Add pgaudit to shared_preload_libraries, set pgaudit.log to include ddl and role, and "
    "log_connections = 1, log_disconnections = 1 (components/postgres/tuning.py does).",
)
def rds_postgres_audit_logging(resource: Resource, config: Config) -> Iterator[str]:
    family = resource.get("family")
    if not isinstance(family, str) or not family.startswith(POSTGRES_ENGINES):
        return
    parameters = _parameters(resource)
    if parameters is None:
        return
    preload = parameters.get("shared_preload_libraries")
    if preload is not UNKNOWN and "pgaudit" not in str(preload or "").split(","):
        yield "shared_preload_libraries does not load pgaudit: add it (a reboot applies it)."
    classes = parameters.get("pgaudit.log")
    if classes is not UNKNOWN:
        logged = {c.strip().lower() for c in str(classes or "").split(",")}
        missing = [c for c in AUDIT_CLASSES if c not in logged and "all" not in logged]
        if missing:
            yield f"pgaudit.log does not log {missing}: set it to include {', '.join(AUDIT_CLASSES)}."
    for name in ("log_connections", "log_disconnections"):
        if parameters.get(name) not in ("1", 1, 1.0, "on", UNKNOWN):
            yield f"{name} is not 1: set it so every session is on record."


@RULES.resource(
    types=(PROXY,),
    name="rds-proxy-requires-tls",
    description="RDS Proxy accepts only TLS connections from clients.",
    controls=("RDS.43",),
    severity=Severity.HIGH,
    remediation="Set require_tls=True on the proxy.",
)
def rds_proxy_requires_tls(resource: Resource, config: Config) -> Iterator[str]:
    if as_bool(resource.get("requireTls", default=False)) is False:
        yield "requireTls is not true: set require_tls=True."


# Security Hub RDS.19/.20/.21: which events a subscription must cover for each kind of source in the stack.
CRITICAL_EVENTS = {
    "db-cluster": ("RDS.19", CLUSTER, {"failure", "maintenance"}),
    "db-instance": ("RDS.20", INSTANCE, {"failure", "maintenance", "configuration change"}),
    "db-parameter-group": ("RDS.21", PARAMETER_GROUP, {"configuration change"}),
}


@RULES.stack(
    name="rds-event-subscriptions",
    description="Critical RDS events (failure, maintenance, configuration change) reach an SNS topic.",
    controls=("RDS.19", "RDS.20", "RDS.21"),
    severity=Severity.LOW,
    remediation="Declare an aws.rds.EventSubscription per source type with the listed categories and an SNS topic.",
)
def rds_event_subscriptions(stack: Stack, config: Config) -> Iterator[tuple[Resource | None, str]]:
    subscriptions = [
        s for s in stack.of_type(EVENT_SUBSCRIPTION) if as_bool(s.get("enabled", default=True)) is not False
    ]
    for source_type, (control, type_token, required) in CRITICAL_EVENTS.items():
        sources = stack.of_type(type_token)
        if not sources:
            continue
        covered: set[str] = set()
        for subscription in subscriptions:
            if subscription.get("sourceType") is UNKNOWN:
                return
            if subscription.get("sourceType") != source_type:
                continue
            categories = as_list(subscription.get("eventCategories"))
            if categories is UNKNOWN:
                return
            covered |= set(required) if not categories else set(categories)  # no categories = all of them
        missing = sorted(required - covered)
        if missing:
            for source in sources:
                yield (
                    source,
                    (
                        f"no enabled RDS event subscription for source type {source_type!r} covers {missing} "
                        f"({control}): add one with event_categories {sorted(required)} and an SNS topic."
                    ),
                )


@RULES.resource(
    types=(EVENT_SUBSCRIPTION,),
    name="rds-event-subscription-enabled",
    description="RDS event subscriptions are enabled and deliver to an SNS topic.",
    controls=("RDS.19", "RDS.20", "RDS.21"),
    severity=Severity.LOW,
    remediation="Leave enabled unset or True and set sns_topic to the alerting topic ARN.",
)
def rds_event_subscription_enabled(resource: Resource, config: Config) -> Iterator[str]:
    if as_bool(resource.get("enabled", default=True)) is False:
        yield "enabled is false: events are dropped; set enabled=True."
    if "snsTopic" not in resource.props:
        yield "snsTopic is not set: set sns_topic to the alerting topic ARN."
