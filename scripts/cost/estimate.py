"""The estimator (pure): the preview's recorded resources -> monthly line items and totals (docs/cost.md).

Each custom resource gets line items priced from the table of its region (the stack's `aws:region`, or the region
of its explicit provider, or the `region` input of a cross-region copy), attributed to its top-level component. A
type known to be free gets one 0 item saying so; a type with no rule is listed as "not estimated", never dropped.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from . import assumptions as assume
from .prices import HOURS_PER_MONTH, PriceTable, PriceTables

Status = Literal["priced", "free", "not estimated"]
STACK_COMPONENT = "(stack)"


class Resource(Protocol):
    """What the estimator reads of a recorded resource (scripts/preview/mock_engine.py: RecordedResource)."""

    urn: str
    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    id: str | None
    custom: bool
    provider: str | None


def _camel(name: str) -> str:
    """unit_price -> unitPrice: the JSON documents use the stack outputs' key style."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass(frozen=True)
class LineItem:
    component: str
    resource: str
    type: str
    item: str
    region: str
    quantity: float
    unit: str
    unit_price: float
    monthly_usd: float
    assumption: str = ""
    status: Status = "priced"


@dataclass
class Estimate:
    stack: str
    items: list[LineItem]
    tables: dict[str, str] = field(default_factory=dict)  # region -> as_of of the table used

    @property
    def total(self) -> float:
        return round(sum(i.monthly_usd for i in self.items), 2)

    def _by(self, key: Callable[[LineItem], str]) -> dict[str, float]:
        sums: dict[str, float] = defaultdict(float)
        for item in self.items:
            sums[key(item)] += item.monthly_usd
        return {k: round(v, 2) for k, v in sorted(sums.items(), key=lambda kv: (-kv[1], kv[0]))}

    @property
    def by_component(self) -> dict[str, float]:
        return self._by(lambda i: i.component)

    @property
    def by_type(self) -> dict[str, float]:
        return self._by(lambda i: i.type)

    @property
    def by_region(self) -> dict[str, float]:
        return self._by(lambda i: i.region)

    @property
    def not_estimated(self) -> list[LineItem]:
        return [i for i in self.items if i.status == "not estimated"]

    def top(self, n: int) -> list[LineItem]:
        return sorted(self.items, key=lambda i: -i.monthly_usd)[:n]

    def as_dict(self) -> dict[str, Any]:
        return {
            "currency": "USD",
            "hoursPerMonth": HOURS_PER_MONTH,
            "priceTables": self.tables,
            "totalMonthlyUsd": self.total,
            "byComponent": self.by_component,
            "byType": self.by_type,
            "byRegion": self.by_region,
            "notEstimated": sorted({f"{i.type} ({i.resource})" for i in self.not_estimated}),
            "assumptions": assume.printed(),
            "items": [{_camel(k): v for k, v in asdict(i).items()} for i in self.items],
        }


# Types that cost nothing themselves (configuration, attachments, identities) or whose usage stays in free tiers.
FREE: dict[str, str] = {
    # AWS's single-user rotation application: the CloudFormation stack is free, its Lambda runs a few times a month.
    "aws:serverlessrepository/cloudFormationStack:CloudFormationStack": "free: rotation Lambda, a few runs a month",
    **{
        t: "free: network configuration"
        for t in (
            "aws:ec2/vpc:Vpc",
            "aws:ec2/subnet:Subnet",
            "aws:ec2/routeTable:RouteTable",
            "aws:ec2/routeTableAssociation:RouteTableAssociation",
            "aws:ec2/route:Route",
            "aws:ec2/internetGateway:InternetGateway",
            "aws:ec2/securityGroup:SecurityGroup",
            "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
            "aws:ec2/networkAcl:NetworkAcl",
            "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl",
            "aws:ec2/networkInterface:NetworkInterface",
            "aws:ec2/flowLog:FlowLog",
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
            "aws:lb/listener:Listener",
            "aws:lb/targetGroup:TargetGroup",
            "aws:lb/targetGroupAttachment:TargetGroupAttachment",
            "aws:route53/record:Record",
        )
    },
    **{
        t: "free: IAM"
        for t in (
            "aws:iam/role:Role",
            "aws:iam/rolePolicy:RolePolicy",
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            "aws:iam/instanceProfile:InstanceProfile",
            "aws:iam/policy:Policy",
        )
    },
    **{
        t: "free: configuration of a priced resource"
        for t in (
            "aws:ec2/launchTemplate:LaunchTemplate",
            "aws:kms/alias:Alias",
            "aws:rds/parameterGroup:ParameterGroup",
            "aws:rds/clusterParameterGroup:ClusterParameterGroup",
            "aws:rds/subnetGroup:SubnetGroup",
            "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup",
            "aws:rds/proxyTarget:ProxyTarget",
            "aws:rds/eventSubscription:EventSubscription",
            "aws:elasticache/parameterGroup:ParameterGroup",
            "aws:elasticache/subnetGroup:SubnetGroup",
            "aws:elasticache/user:User",
            "aws:elasticache/userGroup:UserGroup",
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            "aws:s3/bucketLogging:BucketLogging",
            "aws:s3/bucketNotification:BucketNotification",
            "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
            "aws:s3/bucketPolicy:BucketPolicy",
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "aws:s3/bucketVersioning:BucketVersioning",
            "aws:backup/plan:Plan",
            "aws:backup/selection:Selection",
            "aws:backup/vaultLockConfiguration:VaultLockConfiguration",
            "aws:backup/restoreTestingPlan:RestoreTestingPlan",
            "aws:backup/restoreTestingSelection:RestoreTestingSelection",
            "aws:secretsmanager/secretVersion:SecretVersion",
            "aws:secretsmanager/secretRotation:SecretRotation",
            "aws:lambda/permission:Permission",
            "aws:cloudwatch/eventTarget:EventTarget",
            "aws:sns/topicPolicy:TopicPolicy",
            "aws:sns/topicSubscription:TopicSubscription",
            "random:index/randomPassword:RandomPassword",
        )
    },
    # The local stack (components/local/): containers on the developer's own Docker host.
    **{
        t: "free: runs on the local Docker host"
        for t in (
            "docker:index/container:Container",
            "docker:index/image:Image",
            "docker:index/remoteImage:RemoteImage",
            "docker:index/network:Network",
            "docker:index/volume:Volume",
        )
    },
    # Kubernetes objects (components/kubernetes/): they run on the applications' EKS cluster, whose nodes and
    # control plane are not this stack's (PgBouncer's requests are in docs/kubernetes.md).
    **{
        f"kubernetes:{t}": "0: on the applications' EKS cluster (its nodes are not this stack's)"
        for t in (
            "core/v1:Namespace",
            "core/v1:ConfigMap",
            "core/v1:ServiceAccount",
            "core/v1:Service",
            "apps/v1:Deployment",
            "policy/v1:PodDisruptionBudget",
            "autoscaling/v2:HorizontalPodAutoscaler",
            "networking.k8s.io/v1:NetworkPolicy",
            "external-secrets.io/v1:SecretStore",
            "external-secrets.io/v1:ExternalSecret",
            "cert-manager.io/v1:Certificate",
        )
    },
    # Lambda code signing (components/signing): Signer charges nothing for the Lambda platform; the packages are a
    # few kilobytes each.
    **{
        t: "free: Lambda code signing"
        for t in (
            "aws:signer/signingProfile:SigningProfile",
            "aws:signer/signingJob:SigningJob",
            "aws:lambda/codeSigningConfig:CodeSigningConfig",
            "aws:s3/bucketObjectv2:BucketObjectv2",
        )
    },
    # The Global Datastore itself; its members' nodes are priced as replication groups.
    "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup": "free: configuration of priced replication groups",
    **{
        t: "0: usage within the free tier (assumed)"
        for t in ("aws:sns/topic:Topic", "aws:sqs/queue:Queue", "aws:cloudwatch/eventRule:EventRule")
    },
}

_VCPU_BY_SIZE = {"micro": 2, "small": 2, "medium": 2, "large": 2, "xlarge": 4}


def vcpus(instance_class: str) -> int:
    """vCPUs of an instance class from its size (`db.r7g.2xlarge` -> 8): 2 per `large`, doubling per step."""
    size = instance_class.rsplit(".", 1)[-1]
    if size in _VCPU_BY_SIZE:
        return _VCPU_BY_SIZE[size]
    return 4 * int(size.removesuffix("xlarge") or "1") if size.endswith("xlarge") else 2


def _num(value: Any, default: float = 0.0) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


class _Context:
    """Lookups across resources (a replica's source, a proxy's target, an instance's launch template)."""

    def __init__(self, resources: list[Resource], default_region: str, tables: PriceTables):
        self.default_region = default_region
        self.tables = tables
        self.by_urn = {r.urn: r for r in resources}
        self.by_id = {r.id: r for r in resources if r.id}
        self.rds_by_identifier = {
            r.inputs.get("identifier") or r.name: r for r in resources if r.type == "aws:rds/instance:Instance"
        }
        self.proxy_targets = {
            r.inputs.get("dbProxyName"): r for r in resources if r.type == "aws:rds/proxyTarget:ProxyTarget"
        }
        self.lifecycles = {
            r.inputs.get("bucket"): r
            for r in resources
            if r.type == "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
        }
        self.provider_regions = {
            r.urn: str(r.inputs.get("region") or default_region) for r in resources if r.type == "pulumi:providers:aws"
        }
        self._components: dict[str, str] = {}

    def region(self, r: Resource) -> str:
        if r.provider:
            return self.provider_regions.get(r.provider.rsplit("::", 1)[0], self.default_region)
        return self.default_region

    def component(self, r: Resource) -> str:
        if r.urn in self._components:
            return self._components[r.urn]
        top: Resource = r
        chain = [r.urn]
        while top.parent is not None and top.parent in self.by_urn:
            top = self.by_urn[top.parent]
            chain.append(top.urn)
        name = STACK_COMPONENT if top.custom else top.name
        for urn in chain:
            self._components[urn] = name
        return name

    def source_instance(self, arn_or_id: Any) -> Resource | None:
        if not isinstance(arn_or_id, str):
            return None
        return self.rds_by_identifier.get(arn_or_id.rsplit(":", 1)[-1])

    def launch_template(self, spec: Any) -> Resource | None:
        template_id = spec.get("id") if isinstance(spec, dict) else None
        return self.by_id.get(template_id) if isinstance(template_id, str) else None


class _Pricer:
    """Builds the line items of one resource in one region."""

    def __init__(self, r: Resource, ctx: _Context, region: str | None = None):
        self.r, self.ctx = r, ctx
        self.region = region or ctx.region(r)
        self.items: list[LineItem] = []

    @property
    def prices(self) -> PriceTable:
        return self.ctx.tables(self.region)

    def add(self, item: str, quantity: float, unit: str, unit_price: float, assumption: str = "") -> None:
        self.items.append(
            LineItem(
                component=self.ctx.component(self.r),
                resource=self.r.name,
                type=self.r.type,
                item=item,
                region=self.region,
                quantity=round(quantity, 4),
                unit=unit,
                unit_price=unit_price,
                monthly_usd=round(quantity * unit_price, 2),
                assumption=assumption,
            )
        )

    def missing(self, item: str, why: str) -> None:
        self.items.append(
            LineItem(
                self.ctx.component(self.r),
                self.r.name,
                self.r.type,
                item,
                self.region,
                0,
                "",
                0,
                0,
                why,
                "not estimated",
            )
        )


def _rds_storage(p: _Pricer, gb: float, storage_type: str, iops: float, copies: int, label: str) -> None:
    storage = p.prices["rds_storage_gb_month"]
    if storage_type not in storage:
        p.missing(f"{storage_type} storage", f"no price for RDS storage type {storage_type!r} in the table")
        return
    p.add(f"{storage_type} storage", gb * copies, "GB-month", storage[storage_type], label)
    if storage_type in ("io1", "io2"):
        p.add(
            f"{storage_type} provisioned IOPS",
            iops * copies,
            "IOPS-month",
            p.prices["rds_iops_month"][storage_type],
            label,
        )
    elif storage_type == "gp3" and iops:
        included = 12_000 if gb >= 400 else 3_000
        extra = max(0.0, iops - included)
        if extra:
            p.add(
                "gp3 IOPS above the baseline",
                extra * copies,
                "IOPS-month",
                p.prices["rds_iops_month"]["gp3"],
                f"{included:,} IOPS included at {gb:g} GB; {label}",
            )


def _rds_compute(p: _Pricer, instance_class: str, copies: int, label: str) -> bool:
    hourly = p.prices["rds_instance_hourly"].get(instance_class)
    if hourly is None:
        p.missing(f"{instance_class} instance", f"no price for {instance_class!r} in the {p.region} table")
        return False
    p.add(f"{instance_class} instance", copies * HOURS_PER_MONTH, "instance-hour", hourly, label)
    return True


def _rds_instance(p: _Pricer) -> None:
    i = p.r.inputs
    source = p.ctx.source_instance(i.get("replicateSourceDb"))
    multi_az = bool(i.get("multiAz"))
    copies = 2 if multi_az else 1
    label = "Multi-AZ: 2 instances" if multi_az else ("read replica" if source else "Single-AZ")
    _rds_compute(p, str(i.get("instanceClass")), copies, label)
    gb = _num(i.get("allocatedStorage"), _num(source.inputs.get("allocatedStorage")) if source else 20.0)
    storage_label = label if not source else f"{label}: the source's {gb:g} GB"
    _rds_storage(p, gb, str(i.get("storageType") or "gp2"), _num(i.get("iops")), copies, storage_label)
    retention = _num(i.get("backupRetentionPeriod"))
    if retention and not source:
        billed = gb * assume.RDS_DAILY_CHANGE_FRACTION * retention
        p.add(
            "backup storage beyond the free share",
            billed,
            "GB-month",
            p.prices["rds_backup_gb_month"],
            f"{gb:g} GB x {assume.RDS_DAILY_CHANGE_FRACTION:.0%} daily change x {retention:g} days",
        )


def _rds_cluster(p: _Pricer) -> None:
    i = p.r.inputs
    label = "Multi-AZ DB cluster: 3 instances"
    _rds_compute(p, str(i.get("dbClusterInstanceClass")), 3, label)
    gb = _num(i.get("allocatedStorage"), 100.0)
    _rds_storage(p, gb, str(i.get("storageType") or "gp3"), _num(i.get("iops")), 3, label)
    retention = _num(i.get("backupRetentionPeriod"))
    if retention:
        p.add(
            "backup storage beyond the free share",
            gb * assume.RDS_DAILY_CHANGE_FRACTION * retention,
            "GB-month",
            p.prices["rds_backup_gb_month"],
            f"{gb:g} GB x {assume.RDS_DAILY_CHANGE_FRACTION:.0%} daily change x {retention:g} days",
        )


def _rds_backup_replication(p: _Pricer) -> None:
    i = p.r.inputs
    source = p.ctx.source_instance(i.get("sourceDbInstanceArn"))
    gb = _num(source.inputs.get("allocatedStorage")) if source else 0.0
    retention = _num(i.get("retentionPeriod"), 7.0)
    daily = gb * assume.RDS_DAILY_CHANGE_FRACTION
    transfer = _Pricer(p.r, p.ctx)  # transfer is billed by the source region
    transfer.add(
        "cross-region backup transfer",
        daily * 30,
        "GB",
        transfer.prices["rds_backup_transfer_gb"],
        f"{gb:g} GB x {assume.RDS_DAILY_CHANGE_FRACTION:.0%} daily change x 30 days",
    )
    p.items.extend(transfer.items)
    p.add(
        "replicated backup storage",
        gb + daily * retention,
        "GB-month",
        p.prices["rds_backup_gb_month"],
        f"one full copy of {gb:g} GB + daily changes for {retention:g} days",
    )


def _rds_proxy(p: _Pricer) -> None:
    target = p.ctx.proxy_targets.get(p.r.inputs.get("name") or p.r.name)
    instance = p.ctx.rds_by_identifier.get(target.inputs.get("dbInstanceIdentifier")) if target else None
    cluster_class = None
    if target and target.inputs.get("dbClusterIdentifier"):
        cluster = next(
            (
                c
                for c in p.ctx.by_urn.values()
                if c.type == "aws:rds/cluster:Cluster"
                and c.inputs.get("clusterIdentifier") == target.inputs.get("dbClusterIdentifier")
            ),
            None,
        )
        cluster_class = cluster.inputs.get("dbClusterInstanceClass") if cluster else None
    instance_class = instance.inputs.get("instanceClass") if instance else cluster_class
    if not isinstance(instance_class, str):
        p.missing("RDS Proxy", "its target instance is not in the preview")
        return
    count = max(2, vcpus(instance_class))
    p.add(
        "RDS Proxy",
        count * HOURS_PER_MONTH,
        "vCPU-hour",
        p.prices["rds_proxy_vcpu_hour"],
        f"{count} vCPUs of the writer ({instance_class}; minimum 2)",
    )


def _elasticache(p: _Pricer) -> None:
    i = p.r.inputs
    if "nodeType" not in i and "globalReplicationGroupId" in i:
        p.missing("secondary nodes", "a Global Datastore secondary inherits the primary's node type: as many again")
        return
    node_type = str(i.get("nodeType"))
    nodes = (
        _num(i.get("numNodeGroups"), 1) * (1 + _num(i.get("replicasPerNodeGroup")))
        if i.get("numNodeGroups") is not None
        else _num(i.get("numCacheClusters"), 1)
    )
    hourly = p.prices["elasticache_node_hourly"].get(node_type)
    if hourly is None:
        p.missing(f"{node_type} nodes", f"no price for {node_type!r} in the {p.region} table")
        return
    engine = str(i.get("engine") or "redis")
    factor = p.prices["elasticache_valkey_factor"] if engine == "valkey" else 1.0
    p.add(
        f"{node_type} nodes ({engine})",
        nodes * HOURS_PER_MONTH,
        "node-hour",
        round(hourly * factor, 6),
        f"{nodes:g} nodes" + (f"; Valkey at {factor:g} x the Redis OSS price" if factor != 1.0 else ""),
    )


def _ec2(p: _Pricer, instance_type: Any, count: float, volume_gb: float, volume_type: str, label: str) -> None:
    hourly = p.prices["ec2_instance_hourly"].get(instance_type) if isinstance(instance_type, str) else None
    if hourly is None:
        p.missing(f"{instance_type} instance", f"no price for EC2 {instance_type!r} in the {p.region} table")
    else:
        p.add(f"{instance_type} instance", count * HOURS_PER_MONTH, "instance-hour", hourly, label)
    if volume_gb:
        ebs = p.prices["ebs_gb_month"].get(volume_type)
        if ebs is None:
            p.missing(f"{volume_type} volume", f"no price for EBS {volume_type!r}")
        else:
            p.add(f"EBS {volume_type} volume", volume_gb * count, "GB-month", ebs, f"{volume_gb:g} GB per instance")


def _template_volume(template: Resource | None) -> tuple[float, str]:
    mappings = template.inputs.get("blockDeviceMappings") if template else None
    total, kind = 0.0, "gp3"
    for mapping in mappings or []:
        ebs = mapping.get("ebs") or {}
        total += _num(ebs.get("volumeSize"))
        kind = str(ebs.get("volumeType") or kind)
    return total, kind


def _ec2_instance(p: _Pricer) -> None:
    i = p.r.inputs
    template = p.ctx.launch_template(i.get("launchTemplate"))
    instance_type = i.get("instanceType") or (template.inputs.get("instanceType") if template else None)
    root = i.get("rootBlockDevice") or {}
    gb, kind = (
        (_num(root.get("volumeSize")), str(root.get("volumeType") or "gp3")) if root else _template_volume(template)
    )
    _ec2(p, instance_type, 1, gb, kind, "1 instance")


def _autoscaling_group(p: _Pricer) -> None:
    i = p.r.inputs
    template = p.ctx.launch_template(i.get("launchTemplate"))
    count = _num(i.get("desiredCapacity"), _num(i.get("minSize"), 1))
    gb, kind = _template_volume(template)
    instance_type = template.inputs.get("instanceType") if template else None
    _ec2(p, instance_type, count, gb, kind, f"desired capacity {count:g}")


def _nat(p: _Pricer) -> None:
    p.add("NAT gateway", HOURS_PER_MONTH, "hour", p.prices["nat_gateway_hour"])
    p.add(
        "NAT data processed",
        assume.NAT_GB_PER_GATEWAY,
        "GB",
        p.prices["nat_gateway_gb"],
        f"{assume.NAT_GB_PER_GATEWAY:g} GB/month assumed",
    )


def _eip(p: _Pricer) -> None:
    p.add("public IPv4 address", HOURS_PER_MONTH, "hour", p.prices["public_ipv4_hour"])


def _endpoint(p: _Pricer) -> None:
    i = p.r.inputs
    if i.get("vpcEndpointType") != "Interface":
        p.add("gateway endpoint", 0, "", 0.0, "gateway endpoints are free")
        return
    azs = len(i.get("subnetIds") or []) or 1
    p.add("interface endpoint", azs * HOURS_PER_MONTH, "AZ-hour", p.prices["interface_endpoint_az_hour"], f"{azs} AZs")
    p.add(
        "endpoint data processed",
        assume.ENDPOINT_GB_PER_ENDPOINT,
        "GB",
        p.prices["interface_endpoint_gb"],
        f"{assume.ENDPOINT_GB_PER_ENDPOINT:g} GB/month assumed",
    )


def _load_balancer(p: _Pricer) -> None:
    if p.r.inputs.get("loadBalancerType") != "network":
        p.missing("load balancer", f"only Network Load Balancers are priced ({p.r.inputs.get('loadBalancerType')!r})")
        return
    p.add("Network Load Balancer", HOURS_PER_MONTH, "hour", p.prices["nlb_hour"])
    p.add(
        "NLB capacity units",
        assume.NLB_LCU * HOURS_PER_MONTH,
        "LCU-hour",
        p.prices["nlb_lcu_hour"],
        f"{assume.NLB_LCU:g} LCU assumed",
    )


def _metric_alarm(p: _Pricer) -> None:
    i = p.r.inputs
    queries = i.get("metricQueries") or []
    metrics = sum(1 for q in queries if q.get("metric")) or 1
    periods = [_num(i.get("period"), 60)] + [_num((q.get("metric") or {}).get("period"), 60) for q in queries]
    kind = "high_resolution" if min(periods) < 60 else "standard"
    p.add(
        f"{kind.replace('_', '-')} alarm",
        metrics,
        "alarm metric-month",
        p.prices["cloudwatch_alarm_month"][kind],
        f"{metrics} metric(s)" if queries else "",
    )


def _log_group(p: _Pricer) -> None:
    name = str(p.r.inputs.get("name") or p.r.name)
    ingest = (
        assume.FLOW_LOG_INGEST_GB if "flow-log" in name or "flow-log" in p.r.name else assume.LOG_INGEST_GB_PER_GROUP
    )
    retention = _num(p.r.inputs.get("retentionInDays"))
    months = retention / 30.4 if retention else 24.0
    p.add("log ingestion", ingest, "GB", p.prices["cloudwatch_logs_ingest_gb"], f"{ingest:g} GB/month assumed")
    p.add(
        "log storage",
        ingest * assume.LOG_STORAGE_COMPRESSION * months,
        "GB-month",
        p.prices["cloudwatch_logs_storage_gb_month"],
        f"{ingest:g} GB/month x {assume.LOG_STORAGE_COMPRESSION:.0%} compressed x {months:.1f} months retained"
        + ("" if retention else " (never expires: 24 months assumed)"),
    )


def _s3_classes(lifecycle: Resource | None) -> list[tuple[str, float]]:
    """Share of the bucket's data in each storage class: ages up to the horizon held evenly."""
    transitions: list[tuple[float, str]] = []
    horizon = assume.S3_HORIZON_DAYS
    for rule in (lifecycle.inputs.get("rules") or []) if lifecycle else []:
        if rule.get("status") != "Enabled":
            continue
        for t in rule.get("transitions") or []:
            transitions.append((_num(t.get("days")), str(t.get("storageClass"))))
        days = _num((rule.get("expiration") or {}).get("days"))
        if days:
            horizon = min(horizon, days)
    edges = [(0.0, "STANDARD"), *sorted(t for t in transitions if t[0] < horizon)]
    shares: list[tuple[str, float]] = []
    for index, (start, storage_class) in enumerate(edges):
        end = edges[index + 1][0] if index + 1 < len(edges) else horizon
        if end > start:
            shares.append((storage_class, (end - start) / horizon))
    return shares


def _s3_bucket(p: _Pricer) -> None:
    logs = "log" in p.r.name
    gb = assume.S3_LOG_BUCKET_GB if logs else assume.S3_BACKUP_BUCKET_GB
    lifecycle = p.ctx.lifecycles.get(p.r.id)
    prices = p.prices["s3_gb_month"]
    for storage_class, share in _s3_classes(lifecycle):
        if storage_class not in prices:
            p.missing(f"S3 {storage_class}", f"no price for S3 class {storage_class!r}")
            continue
        p.add(
            f"S3 {storage_class}",
            gb * share,
            "GB-month",
            prices[storage_class],
            f"{gb:g} GB assumed, {share:.0%} in {storage_class}",
        )


def _backup_vault(p: _Pricer) -> None:
    p.add(
        "AWS Backup warm storage",
        assume.BACKUP_VAULT_GB,
        "GB-month",
        p.prices["backup_warm_gb_month"],
        f"{assume.BACKUP_VAULT_GB:g} GB assumed",
    )


def _lambda(p: _Pricer) -> None:
    memory_gb = _num(p.r.inputs.get("memorySize"), 128) / 1024
    p.add(
        "Lambda requests",
        assume.LAMBDA_INVOCATIONS / 1e6,
        "million requests",
        p.prices["lambda_request_million"],
        f"{assume.LAMBDA_INVOCATIONS:,.0f} invocations assumed",
    )
    p.add(
        "Lambda compute",
        assume.LAMBDA_INVOCATIONS * assume.LAMBDA_AVG_SECONDS * memory_gb,
        "GB-second",
        p.prices["lambda_gb_second"],
        f"{assume.LAMBDA_AVG_SECONDS:g} s x {memory_gb * 1024:g} MB each",
    )


def _fixed(item: str, key: str) -> Callable[[_Pricer], None]:
    def price(p: _Pricer) -> None:
        p.add(item, 1, "month", p.prices[key])

    return price


RULES: dict[str, Callable[[_Pricer], None]] = {
    "aws:rds/instance:Instance": _rds_instance,
    "aws:rds/cluster:Cluster": _rds_cluster,
    "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication": _rds_backup_replication,
    "aws:rds/proxy:Proxy": _rds_proxy,
    "aws:elasticache/replicationGroup:ReplicationGroup": _elasticache,
    "aws:ec2/instance:Instance": _ec2_instance,
    "aws:autoscaling/group:Group": _autoscaling_group,
    "aws:ec2/natGateway:NatGateway": _nat,
    "aws:ec2/eip:Eip": _eip,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _endpoint,
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:kms/key:Key": _fixed("KMS key", "kms_key_month"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": _metric_alarm,
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": lambda p: p.add(
        "composite alarm", 1, "alarm-month", p.prices["cloudwatch_alarm_month"]["composite"]
    ),
    "aws:cloudwatch/dashboard:Dashboard": _fixed("dashboard", "cloudwatch_dashboard_month"),
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:s3/bucket:Bucket": _s3_bucket,
    "aws:s3/bucketV2:BucketV2": _s3_bucket,
    "aws:backup/vault:Vault": _backup_vault,
    "aws:lambda/function:Function": _lambda,
    "aws:secretsmanager/secret:Secret": _fixed("secret", "secretsmanager_secret_month"),
    "aws:route53/zone:Zone": _fixed("hosted zone", "route53_zone_month"),
}


def _region_of(r: Resource, ctx: _Context) -> str:
    """Cross-region copies are stored in the region they name."""
    if r.type == "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication":
        return str(r.inputs.get("region") or ctx.region(r))
    return ctx.region(r)


def estimate(
    stack: str, resources: Iterable[Resource], default_region: str, tables: PriceTables | None = None
) -> Estimate:
    """Line items of every custom resource; PriceTableError when a region the stack uses has no table."""
    tables = tables or PriceTables()
    recorded = list(resources)
    ctx = _Context(recorded, default_region, tables)
    tables(default_region)  # an unknown stack region fails here, naming it
    items: list[LineItem] = []
    for r in recorded:
        if not r.custom or r.type.startswith("pulumi:providers:"):
            continue
        p = _Pricer(r, ctx, _region_of(r, ctx))
        rule = RULES.get(r.type)
        if rule is not None:
            rule(p)
        elif r.type in FREE:
            p.items.append(
                LineItem(
                    ctx.component(r),
                    r.name,
                    r.type,
                    r.type.rsplit(":", 1)[-1],
                    p.region,
                    1,
                    "",
                    0,
                    0,
                    FREE[r.type],
                    "free",
                )
            )
        else:
            p.missing(r.type.rsplit(":", 1)[-1], "no price rule for this type")
        items.extend(p.items)
    return Estimate(stack, items, {t.region: t.as_of for t in tables.loaded})


def estimate_evaluation(evaluation: Any, tables: PriceTables | None = None) -> Estimate:
    """The estimate of a preview `Evaluation` (its stack region from the `aws:region` config)."""
    region = str(evaluation.config.get("aws:region") or "us-east-1")
    return estimate(evaluation.stack, evaluation.resources, region, tables)
