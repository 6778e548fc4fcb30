"""Disaster recovery: the warm standby in the DR region (docs/disaster-recovery.md#the-warm-standby). Every RDS shard
has an encrypted cross-Region standby with a lag alarm, every self-hosted cluster a standby cluster, the standby is in
another region than its shard, and nothing
declared for the DR region (tagged `dr: standby`) is reachable from the internet."""

import re
from collections.abc import Iterator

from pulumi_policy import Severity

from .base import Config, RuleSet
from .graph import Stack
from .props import UNKNOWN, as_bool, as_list, has_unknown
from .resource import Resource
from .tagging import tag_map

RULES = RuleSet()

INSTANCE = "aws:rds/instance:Instance"
CLUSTER = "aws:rds/cluster:Cluster"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DR_TAG = ("dr", "standby")
_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:([a-z]{2}(?:-[a-z]+)+-\d):")
ANYWHERE = ("0.0.0.0/0", "::/0")


def arn_region(value: object) -> str | None:
    """The region an ARN names (None: not a regional ARN)."""
    match = _ARN_REGION.match(value) if isinstance(value, str) else None
    return match.group(1) if match else None


def is_dr_resource(resource: Resource) -> bool:
    tags = resource.get("tags", default={})
    return tags is not UNKNOWN and tag_map(tags).get(DR_TAG[0]) == DR_TAG[1]


def _is_replica(resource: Resource) -> bool:
    return "replicateSourceDb" in resource.props


@RULES.resource(
    types=(INSTANCE,),
    name="dr-standby-in-another-region",
    description="A DR standby (an RDS replica tagged dr=standby) replicates from another region, names its source by "
    "ARN and is encrypted with a key of its own region.",
    controls=("CRYB.20",),
    severity=Severity.HIGH,
    remediation="Declare the standby with the DR-region provider (backups.drRegion), replicate_source_db set to the "
    "shard writer's ARN and kms_key_id to the DR region's `data` key.",
)
def dr_standby_in_another_region(resource: Resource, config: Config) -> Iterator[str]:
    if not (is_dr_resource(resource) and _is_replica(resource)):
        return
    source, key = resource.get("replicateSourceDb"), resource.get("kmsKeyId")
    if has_unknown(source) or has_unknown(key):
        return
    source_region, key_region = arn_region(source), arn_region(key)
    if source_region is None:
        yield f"replicateSourceDb = {source!r} is not an ARN: a cross-Region standby names its source by ARN."
    if as_bool(resource.get("storageEncrypted", default=False)) is not True or key_region is None:
        yield "not encrypted with a key of its region: set storage_encrypted=True and kms_key_id to the DR `data` key."
    elif source_region is not None and key_region == source_region:
        yield (
            f"the standby is in its source's region ({source_region}): a region loss takes both; declare it in "
            "backups.drRegion."
        )


@RULES.stack(
    name="dr-standby-per-shard",
    description="Every RDS shard writer has a standby in another region: an encrypted cross-Region read replica "
    "with a replica-lag alarm that notifies someone. Multi-AZ DB clusters cannot have one.",
    controls=("CRYB.20",),
    severity=Severity.HIGH,
    remediation="Set cryb-db:dr.standby (prod: on by default) with backups.drRegion and topology 'instance' "
    "(components/dr/component.py).",
)
def dr_standby_per_shard(stack: Stack, config: Config) -> Iterator[tuple[Resource | None, str]]:
    for cluster in stack.of_type(CLUSTER):
        if "dbClusterInstanceClass" in cluster.props:
            yield cluster, "a Multi-AZ DB cluster cannot have a cross-Region standby: use topology 'instance'."
    instances = stack.of_type(INSTANCE)
    replicas = [i for i in instances if _is_replica(i)]
    lag_alarms: dict[str, Resource] = {}
    for alarm in stack.of_type(METRIC_ALARM):
        dimensions = alarm.get("dimensions", default={})
        actions = as_list(alarm.get("alarmActions"))
        if alarm.get("metricName") == "ReplicaLag" and isinstance(dimensions, dict) and actions:
            member = dimensions.get("DBInstanceIdentifier")
            if isinstance(member, str):
                lag_alarms[member] = alarm
    for writer in (i for i in instances if not _is_replica(i)):
        region = arn_region(writer.get("arn"))
        if region is None:
            continue  # not known yet
        standbys = [
            r
            for r in replicas
            if stack.references(r, writer, ["replicateSourceDb"]) and arn_region(r.get("arn")) not in (None, region)
        ]
        if not standbys:
            yield writer, f"no standby in another region than {region}: a region loss means restoring from backups."
        for standby in standbys:
            if as_bool(standby.get("storageEncrypted", default=False)) is not True or not standby.get("kmsKeyId"):
                yield standby, "the standby is not encrypted with a key of its region (kms_key_id)."
            if standby.get("identifier") not in lag_alarms:
                yield standby, "no ReplicaLag alarm with alarm actions on this standby: nobody learns the RPO grows."


ASG = "aws:autoscaling/group:Group"
CLUSTER_TAG = "cryb-db-cluster"
_SHARD_CLUSTER = re.compile(r"^shard\d+$")  # `postgres.engine: ec2` shards: no standby cluster declared for them


@RULES.stack(
    name="dr-standby-cluster-per-selfhosted-cluster",
    description="Where the stack has a DR standby, every self-hosted (Patroni) cluster has a standby cluster in the DR "
    "region: nodes tagged with its cluster name and dr=standby. Shards with engine ec2 are not covered.",
    controls=("CRYB.20",),
    severity=Severity.HIGH,
    remediation="Declare the cluster's standby cluster (SelfHostedCluster with standby_of, through the DR-region "
    "provider; __main__.py does so for selfhosted.clusters when cryb-db:dr is on).",
)
def dr_standby_cluster_per_selfhosted_cluster(stack: Stack, config: Config) -> Iterator[tuple[Resource | None, str]]:
    if not any(is_dr_resource(r) for r in stack.resources):
        return  # no warm standby in this stack (dev): dr-standby-per-shard says whether there must be one
    primaries: dict[str, Resource] = {}
    standbys: set[str] = set()
    for group in stack.of_type(ASG):
        tags = group.get("tags", default=[])
        name = tag_map(tags).get(CLUSTER_TAG) if tags is not UNKNOWN else None
        if not isinstance(name, str):
            continue
        if is_dr_resource(group):
            standbys.add(name)
        elif not _SHARD_CLUSTER.match(name):
            primaries.setdefault(name, group)
    for name, group in sorted(primaries.items()):
        if name not in standbys:
            yield (
                group,
                (
                    f"self-hosted cluster {name!r} has no standby cluster in the DR region: a region loss means "
                    "restoring it from the replicated repository (hours)."
                ),
            )


@RULES.resource(
    types=None,
    name="dr-not-publicly-reachable",
    description="Nothing declared for the DR region (tagged dr=standby) is reachable from the internet: no public "
    "database, no subnet handing out public addresses, no security group rule admitting the world.",
    controls=("CRYB.20", "RDS.2", "EC2.15", "EC2.18"),
    severity=Severity.CRITICAL,
    remediation="Keep the DR region's data tier private, as the primary's: publicly_accessible=False, "
    "map_public_ip_on_launch=False, ingress only from security groups or the VPC.",
)
def dr_not_publicly_reachable(resource: Resource, config: Config) -> Iterator[str]:
    if not is_dr_resource(resource):
        return
    for flag in (
        "publiclyAccessible",
        "mapPublicIpOnLaunch",
        "associatePublicIpAddress",
        "assignIpv6AddressOnCreation",
    ):
        if as_bool(resource.get(flag, default=False)) is True:
            yield f"{flag} is true: a DR resource must not be reachable from the internet; set it false."
    for key in ("cidrIpv4", "cidrIpv6"):
        if resource.type.endswith("SecurityGroupIngressRule") and resource.get(key) in ANYWHERE:
            yield f"{key} = {resource.get(key)!r}: admits the whole internet; admit a security group or the VPC."
    ingress = as_list(resource.get("ingress")) if resource.type == "aws:ec2/securityGroup:SecurityGroup" else []
    for rule in ingress if ingress is not UNKNOWN else []:
        blocks = (
            [*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])] if isinstance(rule, dict) else []
        )
        if any(block in ANYWHERE for block in blocks):
            yield "an inline ingress rule admits the whole internet; admit a security group or the VPC."
