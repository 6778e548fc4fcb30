"""The cache tier: an ElastiCache Valkey/Redis OSS replication group in cluster mode, or self-hosted nodes on EC2.

Both engines give applications the same contract (docs/cache.md): a TLS-only cluster, RBAC users `app` and
`reader` whose passwords live in Secrets Manager, and the same ACL rules (components/cache/redis_conf.py).
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.cache.cloud_init import (
    NodeBootInputs,
    ami_ssm_parameter,
    encode_user_data,
    node_conf_inputs,
    node_role_policy,
    render_bootstrap_script,
    render_join_script,
    render_user_data,
)
from components.cache.cluster_plan import ClusterPlan, node_address, plan_cluster
from components.cache.metrics_agent import NAMESPACE as METRICS_NAMESPACE
from components.cache.metrics_agent import NODE_DIMENSIONS
from components.cache.redis_conf import (
    ACCESS_STRINGS,
    DISABLED_DEFAULT_ACCESS_STRING,
    data_volume_gib,
    render_redis_conf,
)
from components.metrics.metric import Metric
from components.security.iam_documents import service_trust
from components.security.launch_templates import hardened_launch_template

CACHE_CLUSTER_TAG = "cryb-db-cache"
"""Tag of every self-hosted cache node: the cache component's name (with `cache-node`, the node's identity in its
metrics; policies/rules/stack.py checks each such node has alarms)."""
CLIENT_USERS = ("app", "reader")
INTERNAL_USERS = ("admin", "replicator")  # self-hosted only
PASSWORD_LENGTH = 40  # letters and digits only: safe in redis.conf, URLs and shells; ~238 bits
SECRET_RECOVERY_DAYS = 30


class CacheArgs(TypedDict):
    """Inputs of Cache."""

    engine: Literal["elasticache", "ec2", "kubernetes"]
    """`elasticache`: managed replication group in cluster mode; `ec2`: self-hosted cluster nodes; `kubernetes`: only
    the users' secrets here, the StatefulSet is components/kubernetes' `DataStores`."""
    engine_flavor: Literal["valkey", "redis"]
    """Valkey or Redis OSS (the ec2 engine installs Valkey)."""
    engine_version: str
    """Engine version, major.minor (e.g. 8.1)."""
    parameter_group_family: str
    """ElastiCache parameter-group family matching the version (e.g. valkey8)."""
    node_type: str
    """ElastiCache node type (elasticache engine)."""
    shards: int
    """Shards (node groups), one master each."""
    replicas_per_shard: int
    """Replicas per shard, each in another AZ than its master."""
    port: int
    """Client port (TLS)."""
    cluster_port: int
    """Cluster bus port of self-hosted nodes."""
    maxmemory_policy: str
    """Eviction policy (components/cache/redis_conf.MAXMEMORY_POLICIES)."""
    snapshot_retention_days: int
    """Days automatic snapshots are kept (elasticache engine)."""
    snapshot_window: str
    """Daily snapshot window `hh:mm-hh:mm` UTC."""
    maintenance_window: str
    """Weekly maintenance window `ddd:hh:mm-ddd:hh:mm` UTC."""
    data_tiering: bool
    """Data tiering to local SSD (r6gd node types only)."""
    log_retention_days: int
    """Retention of the cache log groups (a CloudWatch Logs period)."""
    ec2_instance_type: str
    """Instance type of a self-hosted node (ec2 engine)."""
    availability_zones: Sequence[str]
    """AZs of the data subnets, in the order of `data_subnet_ids`."""
    data_subnet_ids: Sequence[pulumi.Input[str]]
    """Isolated data subnets, one per AZ (ec2 nodes are placed in them)."""
    data_subnet_cidrs: NotRequired[Sequence[str]]
    """CIDRs of `data_subnet_ids` (ec2 engine): each node's fixed address is taken from the top of its subnet, so
    every node's user data names every peer and a replaced node keeps its address (cluster_plan.node_address)."""
    subnet_group_name: pulumi.Input[str]
    """The network's ElastiCache subnet group (data subnets only)."""
    security_group_id: pulumi.Input[str]
    """The network's cache security group (admits the port from the app group)."""
    data_kms_key_arn: pulumi.Input[str]
    """CMK for data at rest (ElastiCache storage and snapshots, EBS volumes)."""
    logs_kms_key_arn: pulumi.Input[str]
    """CMK of the log groups."""
    secrets_kms_key_arn: pulumi.Input[str]
    """CMK of the Secrets Manager secrets."""
    alert_topic_arn: NotRequired[pulumi.Input[str] | None]
    """SNS topic ElastiCache events are routed to (through EventBridge: ElastiCache cannot publish to an
    encrypted topic directly)."""
    region: str
    """Region of the stack (service endpoints, KMS ViaService conditions)."""
    tags: Mapping[str, str]
    """Tags on every taggable resource."""


@dataclass
class CacheNodeGroup:
    """One ElastiCache shard: its node group id and member cache-cluster ids (primary first at creation)."""

    node_group_id: str
    member_ids: list[str] = field(default_factory=list)

    def metric(self, metric_name: str, member: str, statistic: str = "Average") -> Metric:
        return Metric("AWS/ElastiCache", metric_name, {"CacheClusterId": member}, statistic)

    def metric_engine_cpu_utilization(self) -> list[Metric]:
        """Alarm > 90 % (the engine thread is single-threaded); one per member."""
        return [self.metric("EngineCPUUtilization", m) for m in self.member_ids]

    def metric_database_memory_usage_percentage(self) -> list[Metric]:
        """Alarm > 90 %: beyond it maxmemory-policy evicts."""
        return [self.metric("DatabaseMemoryUsagePercentage", m) for m in self.member_ids]

    def metric_curr_connections(self) -> list[Metric]:
        return [self.metric("CurrConnections", m) for m in self.member_ids]

    def metric_evictions(self) -> list[Metric]:
        return [self.metric("Evictions", m, "Sum") for m in self.member_ids]

    def metric_replication_lag(self) -> list[Metric]:
        """Reported by replicas; which member is a replica changes after a failover, so alarm on all but
        the first (the initial primary reports nothing while it is primary)."""
        return [self.metric("ReplicationLag", m, "Maximum") for m in self.member_ids[1:]]

    def metric_authentication_failures(self) -> list[Metric]:
        """Alarm > 0: wrong passwords hitting the cache."""
        return [self.metric("AuthenticationFailures", m, "Sum") for m in self.member_ids]


@dataclass
class SelfHostedCacheNodeGroup(CacheNodeGroup):
    """One shard of self-hosted nodes (engine `ec2`): the same metric names as ElastiCache, published by each node's
    metrics agent (components/cache/metrics_agent/) in `cryb-db/cache` as {CacheCluster, Node}; host CPU from EC2.
    Members are `<component>-<plan name>` (`cryb-prod-cache-s0-master`), master first."""

    cluster: str = ""
    node_names: dict[str, str] = field(default_factory=dict)
    """Member id -> the node's plan name (`s0-master`), the `Node` dimension."""
    instance_ids: dict[str, pulumi.Input[str]] = field(default_factory=dict)

    def metric(self, metric_name: str, member: str, statistic: str = "Average") -> Metric:
        if metric_name == "CPUUtilization":
            return Metric("AWS/EC2", metric_name, {"InstanceId": self.instance_ids[member]}, statistic)
        dimensions: dict[str, pulumi.Input[str]] = dict(
            zip(NODE_DIMENSIONS, (self.cluster, self.node_names[member]), strict=True)
        )
        return Metric(METRICS_NAMESPACE, metric_name, dimensions, statistic)

    def metric_master_link_health_status(self) -> list[Metric]:
        """1 while the node is a master or a replica whose link to its master is up, 0 while the link is down."""
        return [self.metric("MasterLinkHealthStatus", m, "Minimum") for m in self.member_ids]

    def metric_cluster_state_ok(self) -> list[Metric]:
        """1 while the node sees `cluster_state:ok` (every slot served)."""
        return [self.metric("ClusterStateOk", m, "Minimum") for m in self.member_ids]

    def metric_cluster_failed_nodes(self) -> list[Metric]:
        """Nodes this node sees failed, or planned nodes it does not know: a node out of the cluster."""
        return [self.metric("ClusterFailedNodes", m, "Maximum") for m in self.member_ids]


def elasticache_node_groups(replication_group_id: str, shards: int, replicas_per_shard: int) -> list[CacheNodeGroup]:
    """ElastiCache names cluster-mode members `<group>-<shard:04d>-<node:03d>`, counting from 1."""
    return [
        CacheNodeGroup(
            f"{s:04d}", [f"{replication_group_id}-{s:04d}-{m:03d}" for m in range(1, replicas_per_shard + 2)]
        )
        for s in range(1, shards + 1)
    ]


class Cache(pulumi.ComponentResource):
    """A TLS-only Valkey/Redis OSS cluster with RBAC users whose passwords live only in Secrets Manager
    (and, encrypted, in the Pulumi state)."""

    engine: str
    port: int
    configuration_endpoint: pulumi.Output[str] | None
    nodes: list[dict[str, Any]]
    user_names: dict[str, str]
    secret_arns: dict[str, pulumi.Output[str]]
    user_arns: dict[str, pulumi.Output[str]]
    tls_ca_cert_secret_arn: pulumi.Output[str] | None
    plan: ClusterPlan
    alarm_node_type: str
    node_groups: list[CacheNodeGroup]
    """ElastiCache node groups, or the self-hosted shards (`SelfHostedCacheNodeGroup`): what the alarms watch."""

    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cryb:cache:Cache", name, None, opts)
        self._name, self._args, self._tags = name, args, dict(args["tags"])
        self.engine, self.port = args["engine"], args["port"]
        # The size the alarm thresholds read (vCPUs): ElastiCache and EC2 share size names (r7g.large).
        self.alarm_node_type = (
            args["node_type"] if self.engine == "elasticache" else f"cache.{args['ec2_instance_type']}"
        )
        self.user_names = {user: user for user in CLIENT_USERS}
        self.configuration_endpoint, self.tls_ca_cert_secret_arn = None, None
        self.nodes, self.node_groups = [], []
        self.user_arns = {}  # elasticache: the ARN of each client user (components/cache/rotation.py)
        # The same anti-affinity layout for both engines; ElastiCache applies it itself with Multi-AZ.
        self.plan = plan_cluster(args["shards"], args["replicas_per_shard"], args["availability_zones"])

        passwords = {user: self._password(user) for user in CLIENT_USERS}
        # The client users' first passwords (secret): the DR region's users of a Global Datastore start with them.
        self.initial_passwords = {user: pulumi.Output.secret(passwords[user].result) for user in CLIENT_USERS}
        self.replication_group_id: pulumi.Output[str] | None = None  # elasticache: the replication group's id
        if self.engine != "elasticache":
            passwords.update({user: self._password(user) for user in INTERNAL_USERS})
        self._secrets = {user: self._user_secret(user, pw) for user, pw in passwords.items()}
        self.secret_arns = {user: s.arn for user, s in self._secrets.items()}

        if self.engine == "elasticache":
            self._elasticache(passwords)
        elif self.engine == "ec2":
            self._ec2()

        self.register_outputs(
            {
                "engine": self.engine,
                "port": self.port,
                "configurationEndpoint": self.configuration_endpoint,
                "nodes": self.nodes,
                "tlsCaCertSecretArn": self.tls_ca_cert_secret_arn,
                "userNames": self.user_names,
                "secretArns": self.secret_arns,
                "userArns": self.user_arns,
            }
        )

    # -- shared ---------------------------------------------------------------------------------------------
    def _tag(self, name: str, **extra: str) -> dict[str, str]:
        return {**self._tags, "Name": name, **extra}

    def _child(self, *depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))

    def _password(self, user: str) -> random.RandomPassword:
        """Generated once and kept stable: a Secrets Manager GetRandomPassword invoke would return a new value
        on every preview. The result is a Pulumi secret, so the state holds it only encrypted."""
        return random.RandomPassword(
            f"{self._name}-{user}-password", length=PASSWORD_LENGTH, special=False, opts=self._child()
        )

    def _user_secret(self, user: str, password: random.RandomPassword) -> aws.secretsmanager.Secret:
        n = self._name
        value: dict[str, pulumi.Input[str]] = {"username": user, "password": password.result}
        if self.engine == "elasticache":
            # The rotation function (components/cache/rotation_function/) modifies the user by this id.
            value["userId"] = self._elasticache_user_id(user)
        secret = aws.secretsmanager.Secret(
            f"{n}-{user}",
            name_prefix=f"cryb-db/{n}/{user}-",  # a prefix: a deleted secret's name stays reserved for 30 days
            description=f"cryb-db {n}: password of the cache user `{user}` ({self.engine})",
            kms_key_id=self._args["secrets_kms_key_arn"],
            recovery_window_in_days=SECRET_RECOVERY_DAYS,
            tags=self._tag(f"{n}-{user}", **{"cache-user": user}),
            opts=self._child(),
        )
        aws.secretsmanager.SecretVersion(
            f"{n}-{user}-value",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(pulumi.Output.json_dumps(value)),
            # elasticache, ec2: Secrets Manager rotation owns the value after the first rotation (CacheUserRotation,
            # SelfHostedCacheUserRotation); Pulumi's stale RandomPassword must never be written back, nor AWSCURRENT
            # moved back to this version.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["secretString", "versionStages"])
            if self.engine in ("elasticache", "ec2")
            else self._child(),
        )
        return secret

    def _log_group(self, kind: str) -> aws.cloudwatch.LogGroup:
        n = self._name
        return aws.cloudwatch.LogGroup(
            f"{n}-{kind}",
            name=f"/cryb-db/{n}/{kind}",
            retention_in_days=self._args["log_retention_days"],
            kms_key_id=self._args["logs_kms_key_arn"],
            tags=self._tag(f"{n}-{kind}"),
            opts=self._child(),
        )

    # -- ElastiCache ----------------------------------------------------------------------------------------
    def _elasticache(self, passwords: dict[str, random.RandomPassword]) -> None:
        a, n = self._args, self._name
        flavor = a["engine_flavor"]
        params = aws.elasticache.ParameterGroup(
            f"{n}-params",
            family=a["parameter_group_family"],
            description=f"cryb-db {n}: cluster mode, {a['maxmemory_policy']} eviction",
            parameters=[
                aws.elasticache.ParameterGroupParameterArgs(name="cluster-enabled", value="yes"),
                aws.elasticache.ParameterGroupParameterArgs(name="maxmemory-policy", value=a["maxmemory_policy"]),
            ],
            tags=self._tag(f"{n}-params"),
            opts=self._child(),
        )
        users = [
            self._elasticache_user(user, ACCESS_STRINGS[user], passwords[user], rotated=True) for user in CLIENT_USERS
        ]
        self.user_arns = {user: u.arn for user, u in zip(CLIENT_USERS, users, strict=True)}
        # Every user group needs a user named `default`; ours is switched off and holds an unused password
        # (Valkey user groups accept only users that authenticate).
        default = self._elasticache_user(
            "default", DISABLED_DEFAULT_ACCESS_STRING, self._password("default"), user_id=f"{n}-default-off"
        )
        group = aws.elasticache.UserGroup(
            f"{n}-users",
            user_group_id=f"{n}-users",
            engine=flavor,
            user_ids=[u.user_id for u in [default, *users]],
            tags=self._tag(f"{n}-users"),
            opts=self._child(),
        )
        slow, engine_log = self._log_group("slow-log"), self._log_group("engine-log")
        group_id = n
        rg = aws.elasticache.ReplicationGroup(
            f"{n}-rg",
            replication_group_id=group_id,
            description=f"cryb-db {n}: sessions, feeds, rate limits, locks, pub/sub",
            engine=flavor,
            engine_version=a["engine_version"],
            node_type=a["node_type"],
            port=a["port"],
            parameter_group_name=params.name,
            cluster_mode="enabled",
            # Shard and replica counts only: node_group_configuration is left out because the provider then
            # always sends ReplicaCount and conflicts with replicas_per_node_group (terraform-provider-aws#49695);
            # with Multi-AZ on, ElastiCache keeps each replica in another AZ than its primary.
            num_node_groups=a["shards"],
            replicas_per_node_group=a["replicas_per_shard"],
            automatic_failover_enabled=True,
            multi_az_enabled=True,
            subnet_group_name=a["subnet_group_name"],
            security_group_ids=[a["security_group_id"]],
            at_rest_encryption_enabled=True,
            kms_key_id=a["data_kms_key_arn"],
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            user_group_ids=[group.id],
            auto_minor_version_upgrade=True,
            snapshot_retention_limit=a["snapshot_retention_days"],
            snapshot_window=a["snapshot_window"],
            maintenance_window=a["maintenance_window"],
            final_snapshot_identifier=f"{n}-final",
            data_tiering_enabled=a["data_tiering"],
            apply_immediately=False,  # changes wait for the maintenance window unless an operator says otherwise
            log_delivery_configurations=[
                aws.elasticache.ReplicationGroupLogDeliveryConfigurationArgs(
                    destination=group_log.name,
                    destination_type="cloudwatch-logs",
                    log_format="json",
                    log_type=kind,
                )
                for kind, group_log in (("slow-log", slow), ("engine-log", engine_log))
            ],
            tags=self._tag(f"{n}-rg"),
            opts=self._child(),
        )
        self.configuration_endpoint = rg.configuration_endpoint_address
        self.replication_group_id = rg.id
        self.node_groups = elasticache_node_groups(group_id, a["shards"], a["replicas_per_shard"])
        self._route_events()

    def _elasticache_user_id(self, user: str) -> str:
        return f"{self._name}-{user}"

    def _elasticache_user(
        self,
        user: str,
        access_string: str,
        password: random.RandomPassword,
        user_id: str | None = None,
        rotated: bool = False,
    ) -> aws.elasticache.User:
        n = self._name
        # Marked secret here as well, not only by the provider, so no engine or mock can record it in clear.
        secret_password = pulumi.Output.secret(password.result)
        return aws.elasticache.User(
            f"{n}-user-{user}",
            user_id=user_id or self._elasticache_user_id(user),
            user_name=user,
            engine=self._args["engine_flavor"],
            access_string=access_string,
            authentication_mode=aws.elasticache.UserAuthenticationModeArgs(
                type="password", passwords=[secret_password]
            ),
            tags=self._tag(f"{n}-user-{user}"),
            # A rotated user's passwords belong to Secrets Manager rotation (ModifyUser) after the first rotation:
            # `pulumi up` must not set the stale RandomPassword again. The engine's (camelCase) property name; the
            # Python name `authentication_mode` would be translated to it as well. The whole block is ignored:
            # `type` is always "password" here, and `passwords` is what rotation changes.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["authenticationMode"])
            if rotated
            else self._child(),
        )

    def _route_events(self) -> None:
        """ElastiCache events to the alerts topic through EventBridge: ElastiCache's own notification_topic_arn
        goes inactive on a KMS-encrypted topic, and the alert topics are encrypted (SNS.1)."""
        topic = self._args.get("alert_topic_arn")
        if topic is None:
            return
        n = self._name
        rule = aws.cloudwatch.EventRule(
            f"{n}-events",
            description=f"cryb-db {n}: ElastiCache events (failover, update, snapshot failures) to the alerts topic",
            event_pattern=json.dumps({"source": ["aws.elasticache"]}),
            tags=self._tag(f"{n}-events"),
            opts=self._child(),
        )
        aws.cloudwatch.EventTarget(f"{n}-events-to-alerts", rule=rule.name, arn=topic, opts=self._child())

    # -- self-hosted on EC2 ---------------------------------------------------------------------------------
    def _ec2(self) -> None:
        a, n = self._args, self._name
        azs, subnets = list(a["availability_zones"]), list(a["data_subnet_ids"])
        if len(subnets) != len(azs):
            raise ValueError(f"{len(subnets)} data subnets for {len(azs)} availability zones")
        ca = self._ca_secret("tls-ca", "the cluster's TLS CA certificate and key (nodes only)")
        ca_cert = self._ca_secret("tls-ca-cert", "the cluster's TLS CA certificate (clients verify nodes with it)")
        self.tls_ca_cert_secret_arn = ca_cert.arn
        engine_log = self._log_group("engine-log")
        self._node_rules()
        profile = self._node_profile([ca.arn, ca_cert.arn], engine_log.arn)
        conf = render_redis_conf(
            node_conf_inputs(
                a["port"], a["cluster_port"], a["ec2_instance_type"], a["maxmemory_policy"], a["replicas_per_shard"]
            )
        )

        def user_data(index: int, bootstrap: str | None, join: str) -> pulumi.Output[str]:
            def render(values: list[Any]) -> str:
                arns, ca_arn, ca_cert_arn, log_name = values
                text = render_user_data(
                    NodeBootInputs(
                        cluster_name=n,
                        node_index=index,
                        node_count=len(self.plan.nodes),
                        region=a["region"],
                        redis_conf=conf,
                        secret_arns=arns,
                        tls_ca_secret_arn=ca_arn,
                        tls_ca_cert_secret_arn=ca_cert_arn,
                        engine_log_group=log_name,
                        port=a["port"],
                        bootstrap_script=bootstrap,
                        join_script=join,
                        node_name=self.plan.nodes[index].name,
                        cluster_nodes=tuple(node.name for node in self.plan.nodes),
                    )
                )
                return encode_user_data(text)

            return pulumi.Output.all(self.secret_arns, ca.arn, ca_cert.arn, engine_log.name).apply(render)

        # Fixed addresses (top of each node's data subnet): every node's user data names every peer, which a node
        # replaced with empty data needs to rejoin (render_join_script), and node 0's bootstrap needs to form it.
        cidrs = list(a.get("data_subnet_cidrs") or [])
        if len(cidrs) != len(azs):
            raise ValueError(f"data_subnet_cidrs: {len(cidrs)} CIDRs for {len(azs)} availability zones")
        addresses = [node_address(cidrs[azs.index(node.az)], node.index) for node in self.plan.nodes]
        endpoints = [(ip, a["port"], a["cluster_port"]) for ip in addresses]
        bootstrap = render_bootstrap_script(self.plan, [("127.0.0.1", a["port"], a["cluster_port"]), *endpoints[1:]])
        instances: dict[int, aws.ec2.Instance] = {}
        for node in self.plan.nodes:
            subnet = subnets[azs.index(node.az)]
            join = render_join_script(self.plan, endpoints, node.index)
            data = user_data(node.index, bootstrap if node.index == 0 else None, join)
            instances[node.index] = self._node(node.index, profile, subnet, data, addresses[node.index])
        self.nodes = [
            {"name": node.name, "availabilityZone": node.az, "address": instances[node.index].private_ip}
            for node in self.plan.nodes
        ]
        self.node_groups = []
        for master in self.plan.masters:
            members = [master, *self.plan.replicas_of(master.index)]
            ids = {f"{n}-{node.name}": node for node in members}
            self.node_groups.append(
                SelfHostedCacheNodeGroup(
                    f"s{master.shard}",
                    list(ids),
                    cluster=n,
                    node_names={member: node.name for member, node in ids.items()},
                    instance_ids={member: instances[node.index].id for member, node in ids.items()},
                )
            )

    def _ca_secret(self, kind: str, what: str) -> aws.secretsmanager.Secret:
        """Created empty: the first node to boot generates the CA and stores it (components/cache/cloud_init.py),
        so the CA key never passes through Pulumi."""
        n = self._name
        return aws.secretsmanager.Secret(
            f"{n}-{kind}",
            name_prefix=f"cryb-db/{n}/{kind}-",
            description=f"cryb-db {n}: {what}",
            kms_key_id=self._args["secrets_kms_key_arn"],
            recovery_window_in_days=SECRET_RECOVERY_DAYS,
            # The nodes renew the certificates it signs; replacing the CA is a planned change of trust on every node.
            tags=self._tag(f"{n}-{kind}", **{"rotation-exempt": "certificate-authority"}),
            opts=self._child(),
        )

    def _node_rules(self) -> None:
        """Nodes talk to each other on the client port (replication, bootstrap) and the cluster bus, and reach
        AWS APIs on 443: the data route table has no default route, so that is only the VPC endpoints and S3."""
        a, n = self._args, self._name
        sg = a["security_group_id"]
        for port, what in ((a["port"], "client port"), (a["cluster_port"], "cluster bus")):
            label = "bus" if port == a["cluster_port"] else "port"
            for rule, direction in ((aws.vpc.SecurityGroupIngressRule, "in"), (aws.vpc.SecurityGroupEgressRule, "out")):
                rule(
                    f"{n}-nodes-{direction}-{label}",
                    security_group_id=sg,
                    ip_protocol="tcp",
                    from_port=port,
                    to_port=port,
                    referenced_security_group_id=sg,
                    description=f"Cache nodes to each other: {what}",
                    tags=self._tag(f"{n}-nodes-{direction}-{label}"),
                    opts=self._child(),
                )
        aws.vpc.SecurityGroupEgressRule(
            f"{n}-nodes-out-https",
            security_group_id=sg,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4="0.0.0.0/0",
            description="Secrets Manager, KMS and Logs endpoints, S3 (dnf repos); no internet route exists",
            tags=self._tag(f"{n}-nodes-out-https"),
            opts=self._child(),
        )

    def _node_profile(
        self, ca_arns: Sequence[pulumi.Output[str]], log_group_arn: pulumi.Output[str]
    ) -> aws.iam.InstanceProfile:
        a, n = self._args, self._name
        trust = service_trust("ec2.amazonaws.com")  # EC2 sends no aws:SourceAccount
        role = aws.iam.Role(
            f"{n}-node-role",
            assume_role_policy=json.dumps(trust),
            description=f"cryb-db {n}: self-hosted cache nodes (read own secrets, store the CA once, ship logs)",
            tags=self._tag(f"{n}-node-role"),
            opts=self._child(),
        )
        aws.iam.RolePolicy(
            f"{n}-node-policy",
            role=role.id,
            policy=pulumi.Output.all(
                list(self.secret_arns.values()), list(ca_arns), a["secrets_kms_key_arn"], log_group_arn
            ).apply(lambda v: json.dumps(node_role_policy(v[0], v[1], v[2], v[3], a["region"]))),
            opts=self._child(),
        )
        return aws.iam.InstanceProfile(
            f"{n}-node-profile", role=role.name, tags=self._tag(f"{n}-node-profile"), opts=self._child()
        )

    def _node(
        self,
        index: int,
        profile: aws.iam.InstanceProfile,
        subnet_id: pulumi.Input[str],
        user_data: pulumi.Input[str],
        address: str,
    ) -> aws.ec2.Instance:
        a, n = self._args, self._name
        node = self.plan.nodes[index]
        label = f"{n}-node-{index}"
        tags = self._tag(label, **{"cache-node": node.name, "cache-shard": str(node.shard), CACHE_CLUSTER_TAG: n})
        volume_gib = data_volume_gib(a["ec2_instance_type"])
        template = hardened_launch_template(
            label,
            description=f"cryb-db {n}: cache node {index} ({node.name}, {node.az})",
            image_ssm_parameter=ami_ssm_parameter(a["ec2_instance_type"]),
            instance_type=a["ec2_instance_type"],
            instance_profile_arn=profile.arn,
            subnet_id=subnet_id,
            security_group_ids=[a["security_group_id"]],
            root_volume_gib=volume_gib,
            kms_key_arn=a["data_kms_key_arn"],
            user_data=user_data,
            tags=tags,
            opts=self._child(),
        )
        # IMDSv2 and the encrypted root volume are repeated on the instance: its own arguments override the
        # template's, so stating them here keeps them true whatever the template says (and lets the policy
        # pack check the instance alone).
        return aws.ec2.Instance(
            label,
            launch_template=aws.ec2.InstanceLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
            ),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                volume_size=volume_gib,
                volume_type="gp3",
                encrypted=True,
                kms_key_id=a["data_kms_key_arn"],
                delete_on_termination=True,
                tags=tags,
            ),
            # The node's fixed address: its replacement takes it over, so the old instance must go first.
            private_ip=address,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
