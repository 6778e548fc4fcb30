"""ElastiCache (Valkey / Redis OSS): replication groups, single-node clusters, serverless caches and users."""

from collections.abc import Iterator

from pulumi_policy import Severity

from .base import Config, RuleSet
from .props import UNKNOWN, as_bool, as_list, as_number
from .resource import Resource

RULES = RuleSet()

REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
CLUSTER = "aws:elasticache/cluster:Cluster"
SERVERLESS_CACHE = "aws:elasticache/serverlessCache:ServerlessCache"
USER = "aws:elasticache/user:User"

KEY_VALUE_ENGINES = ("redis", "valkey")


def is_key_value_store(resource: Resource) -> bool:
    """Valkey/Redis OSS (snapshots, AUTH, replication apply); Memcached nodes have none of these."""
    value = resource.get("engine", default="redis")
    return value is UNKNOWN or value in KEY_VALUE_ENGINES


def is_global_secondary(resource: Resource) -> bool:
    """A replication group joining a Global Datastore as its secondary inherits engine, node type and in-transit
    and at-rest encryption from the datastore (the provider refuses them on it); its primary, which these rules
    check like any group, decides them."""
    return resource.type == REPLICATION_GROUP and "globalReplicationGroupId" in resource.props


def is_group_member(resource: Resource) -> bool:
    """A cache cluster created inside a replication group takes its settings from the group."""
    return resource.type == CLUSTER and "replicationGroupId" in resource.props


@RULES.resource(
    types=(REPLICATION_GROUP, CLUSTER, SERVERLESS_CACHE),
    name="elasticache-automatic-backups",
    description="Valkey/Redis caches keep automatic snapshots at least `minRetentionDays` days.",
    controls=("ElastiCache.1",),
    severity=Severity.HIGH,
    remediation="Set snapshot_retention_limit to at least the configured minimum (and a snapshot_window).",
    config_schema={"minRetentionDays": {"type": "integer", "minimum": 1, "maximum": 35, "default": 1}},
)
def elasticache_automatic_backups(resource: Resource, config: Config) -> Iterator[str]:
    if not is_key_value_store(resource) or is_group_member(resource):
        return
    days = as_number(resource.get("snapshotRetentionLimit", default=0))  # AWS default: no snapshots
    minimum = float(config["minRetentionDays"])
    if days is not UNKNOWN and (days is None or days < minimum):
        yield (
            f"snapshotRetentionLimit is {resource.get('snapshotRetentionLimit', default='unset (0)')}: "
            f"set snapshot_retention_limit to at least {int(minimum)}."
        )


@RULES.resource(
    types=(REPLICATION_GROUP, CLUSTER),
    name="elasticache-auto-minor-version-upgrade",
    description="Cache nodes take minor engine upgrades (security fixes) automatically.",
    controls=("ElastiCache.2",),
    severity=Severity.HIGH,
    remediation="Leave auto_minor_version_upgrade unset or set it to True.",
)
def elasticache_auto_minor_version_upgrade(resource: Resource, config: Config) -> Iterator[str]:
    if is_group_member(resource):
        return
    if as_bool(resource.get("autoMinorVersionUpgrade", default=True)) is False:
        yield "autoMinorVersionUpgrade is false: set auto_minor_version_upgrade=True."


@RULES.resource(
    types=(REPLICATION_GROUP,),
    name="elasticache-automatic-failover",
    description="Replication groups fail over automatically to a replica in another AZ.",
    controls=("ElastiCache.3",),
    severity=Severity.HIGH,
    remediation="Set automatic_failover_enabled=True and multi_az_enabled=True with at least one replica.",
)
def elasticache_automatic_failover(resource: Resource, config: Config) -> Iterator[str]:
    if as_bool(resource.get("automaticFailoverEnabled", default=False)) is False:
        yield "automaticFailoverEnabled is not true: set automatic_failover_enabled=True (needs a replica)."
    if as_bool(resource.get("multiAzEnabled", default=False)) is False:
        yield "multiAzEnabled is not true: set multi_az_enabled=True so the replica lives in another AZ."


@RULES.resource(
    types=(REPLICATION_GROUP, SERVERLESS_CACHE),
    name="elasticache-encrypted-at-rest",
    description="Cache data and snapshots are encrypted at rest with a customer-managed key.",
    controls=("ElastiCache.4",),
    severity=Severity.MEDIUM,
    remediation="Set at_rest_encryption_enabled=True and kms_key_id to the stack's `data` key ARN.",
)
def elasticache_encrypted_at_rest(resource: Resource, config: Config) -> Iterator[str]:
    inherited = is_global_secondary(resource)
    if (
        resource.type == REPLICATION_GROUP
        and not inherited
        and as_bool(resource.get("atRestEncryptionEnabled", default=False)) is False
    ):
        yield "atRestEncryptionEnabled is not true: set at_rest_encryption_enabled=True."
    if "kmsKeyId" not in resource.props:
        yield "kmsKeyId is not set, so the AWS-managed key is used: set kms_key_id to the `data` key ARN."


@RULES.resource(
    types=(REPLICATION_GROUP, CLUSTER),
    name="elasticache-encrypted-in-transit",
    description="Clients must use TLS; plaintext connections are refused.",
    controls=("ElastiCache.5",),
    severity=Severity.HIGH,
    remediation="Set transit_encryption_enabled=True and leave transit_encryption_mode unset or 'required'.",
)
def elasticache_encrypted_in_transit(resource: Resource, config: Config) -> Iterator[str]:
    if is_group_member(resource) or is_global_secondary(resource) or not is_key_value_store(resource):
        return
    if as_bool(resource.get("transitEncryptionEnabled", default=False)) is False:
        yield "transitEncryptionEnabled is not true: set transit_encryption_enabled=True."
    if resource.get("transitEncryptionMode") == "preferred":
        yield "transitEncryptionMode is 'preferred' (plaintext still accepted): set it to 'required'."


@RULES.resource(
    types=(REPLICATION_GROUP,),
    name="elasticache-authentication",
    description="Clients authenticate: RBAC user groups (Valkey/Redis 6+) or an AUTH token.",
    controls=("ElastiCache.6",),
    severity=Severity.HIGH,
    remediation="Set user_group_ids to the cache's RBAC user group (or auth_token from Secrets Manager).",
)
def elasticache_authentication(resource: Resource, config: Config) -> Iterator[str]:
    groups = as_list(resource.get("userGroupIds"))
    if groups is UNKNOWN or groups or "authToken" in resource.props or "authTokenWo" in resource.props:
        return
    yield "neither userGroupIds nor authToken is set, so anyone who reaches the port can run commands: set one."


@RULES.resource(
    types=(REPLICATION_GROUP, CLUSTER),
    name="elasticache-not-default-subnet-group",
    description="Caches run in this stack's data subnets, not the default subnet group.",
    controls=("ElastiCache.7",),
    severity=Severity.HIGH,
    remediation="Set subnet_group_name to the network's cacheSubnetGroupName output.",
)
def elasticache_not_default_subnet_group(resource: Resource, config: Config) -> Iterator[str]:
    if is_group_member(resource):
        return
    if resource.get("subnetGroupName", default="default") in ("", "default"):
        yield "subnetGroupName is the default group: set subnet_group_name to the data-tier cache subnet group."


@RULES.resource(
    types=(USER,),
    name="elasticache-user-requires-authentication",
    description="Cache RBAC users authenticate with a password or IAM; none is password-less.",
    controls=("ElastiCache.6",),
    severity=Severity.HIGH,
    remediation="Set authentication_mode={'type': 'iam'} or {'type': 'password', 'passwords': [...]}.",
)
def elasticache_user_requires_authentication(resource: Resource, config: Config) -> Iterator[str]:
    if as_bool(resource.get("noPasswordRequired", default=False)) is True:
        yield "noPasswordRequired is true: remove it and set authentication_mode to 'iam' or 'password'."
    if resource.get("authenticationMode", "type") == "no-password-required":
        yield "authenticationMode.type is 'no-password-required': use 'iam' or 'password'."
