"""Self-hosted PostgreSQL on EC2 NVMe: one Patroni cluster of N nodes in N AZs (docs/selfhosted.md).

Each node is a launch template in its own auto-scaling group of one, so a lost instance is replaced and rebuilt
from its peers. A node keeps its address across replacements through a stable network interface that the new
instance attaches at boot: etcd peer URLs, Patroni addresses, NLB targets and DNS records never change.
Rendered configuration comes from pure modules (patroni_config, pgbackrest_config, selfhosted_cloud_init);
this file only declares resources.
"""

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict
from urllib.parse import urlparse

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from .backup_policies import writer_role_policy
from .iam_documents import service_trust
from .launch_templates import hardened_launch_template
from .nvme_instances import validate_node_type
from .patroni_config import (
    ETCD_CLIENT_PORT,
    ETCD_PEER_PORT,
    PROD_DATA_DIR,
    PROD_ETCD_DATA_DIR,
    PROD_SOCKET_DIR,
    RESTAPI_PORT,
    DcsTiming,
    PatroniConfigError,
    etcd_environment,
    node_inputs,
    render_etcd_env_file,
    render_patroni_yml,
    validate,
)
from .pgbackrest_config import PgBackRestInputs, S3Repo, render_pgbackrest_conf
from .selfhosted_cloud_init import (
    PGBACKREST_LOG_DIR,
    PGBACKREST_SPOOL,
    NodeBootInputs,
    encode_user_data,
    image_ssm_parameter,
    node_role_policy,
    render_user_data,
)

CLUSTER_TAG = "cryb-db-cluster"
SECRET_RECOVERY_DAYS = 30
PASSWORD_LENGTH = 40  # letters and digits only: safe in env files, conninfo and shells
HEALTH_CHECK_INTERVAL_SECONDS = 5  # NLB minimum: a new writer takes traffic ~2 intervals after Patroni promotes it
SECRET_PURPOSES = {
    "superuser": "PostgreSQL superuser `postgres` (Patroni and operators only)",
    "replication": "replication role `replicator`",
    "rewind": "pg_rewind role `rewind`",
    "restapi": "Patroni REST API user `patroni` (switchover, restart, config)",
    "admin": "application admin role",
    "pgbackrest": "pgBackRest repository passphrase (aes-256-cbc)",
}


class SelfHostedClusterArgs(TypedDict):
    """Inputs of SelfHostedCluster."""

    cluster: str
    """Cluster name and Patroni scope, e.g. `analytics` (1-12 lowercase letters or digits)."""
    instance_type: str
    """NVMe instance type of every node (components/nvme_instances.py)."""
    node_count: int
    """Nodes, each in its own AZ (odd, at least 3: one etcd member per node)."""
    postgres_major: str
    """PostgreSQL major version installed on the nodes (15, 16 or 17)."""
    timescaledb: bool
    """Install TimescaleDB (falls back to pg_partman native partitioning where it cannot be installed)."""
    synchronous_mode: bool
    """Patroni synchronous mode: acknowledged commits are on a standby before the client hears back."""
    synchronous_mode_strict: bool
    """Refuse writes rather than degrade to asynchronous replication when no standby is in sync."""
    timing: DcsTiming
    """Patroni ttl, loop_wait and retry_timeout (loop_wait + 2 * retry_timeout <= ttl)."""
    port: int
    """PostgreSQL port on the nodes and the writer/reader load balancers."""
    database_name: str
    """Database created at bootstrap."""
    admin_user: str
    """Application admin role created at bootstrap (password in Secrets Manager)."""
    backup_retention_days: int
    """Days pgBackRest keeps full backups and the WAL they need."""
    vpc_id: pulumi.Input[str]
    """The VPC."""
    vpc_cidr: str
    """CIDR clients connect from (through the NLBs, which do not preserve client addresses)."""
    availability_zones: Sequence[str]
    """AZs of `subnet_ids`, in the same order; node i goes to AZ i."""
    subnet_ids: Sequence[pulumi.Input[str]]
    """Isolated data subnets, one per AZ."""
    subnet_cidrs: Sequence[str]
    """CIDRs of `subnet_ids` (routing of the stable interface)."""
    client_security_group_ids: Sequence[pulumi.Input[str]]
    """Groups whose members may connect to PostgreSQL (the app and pooler groups)."""
    backup_bucket_arn: pulumi.Input[str]
    """The backup bucket (components/backups.py); the cluster writes only under `pgbackrest-<cluster>/`."""
    backup_kms_key_arn: pulumi.Input[str]
    """The bucket's SSE-KMS key, which its policy requires on every upload."""
    data_kms_key_arn: pulumi.Input[str]
    """CMK of the root volumes."""
    secrets_kms_key_arn: pulumi.Input[str]
    """CMK of the Secrets Manager secrets."""
    logs_kms_key_arn: pulumi.Input[str]
    """CMK of the log group."""
    log_retention_days: int
    """Retention of the node log group (a CloudWatch Logs period)."""
    root_volume_gib: int
    """Size of each node's encrypted gp3 root volume; data lives on NVMe."""
    image_ssm_parameter: str | None
    """SSM parameter of a baked AMI, or None for stock Debian 12 (packages installed at boot)."""
    package_proxy: str | None
    """HTTP proxy apt uses at boot, or None."""
    dns_zone_name: str
    """Private hosted zone created for the cluster, e.g. `analytics.prod.cryb-db.internal`."""
    account_id: str
    """AWS account of the stack (instance ARNs in the node policy)."""
    region: str
    """Region of the stack."""
    tags: Mapping[str, str]
    """Tags on every taggable resource."""


# The repository is encrypted with this passphrase: a rotated one could not read the existing backups.
ROTATION_EXEMPTIONS = {"pgbackrest": {"rotation-exempt": "encrypts-existing-backups"}}


def backup_prefix(cluster: str) -> str:
    """The cluster's own prefix in the backup bucket."""
    return f"pgbackrest-{cluster}"


def _bucket_name(arn: str) -> str:
    return arn.split(":::", 1)[1]


class SelfHostedCluster(pulumi.ComponentResource):
    """A Patroni cluster on NVMe instances with writer and reader endpoints health-checked on /primary and
    /replica, pgBackRest WAL archiving to its own prefix of the backup bucket, and secrets in Secrets Manager."""

    writer_endpoint: pulumi.Output[str]
    reader_endpoint: pulumi.Output[str]
    port: int
    secret_arns: dict[str, pulumi.Output[str]]
    nodes: list[dict[str, Any]]
    node_security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: SelfHostedClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cryb:postgres_selfhosted:SelfHostedCluster", name, None, opts)
        self._name, self._args = name, args
        self._tags = {**args["tags"], CLUSTER_TAG: args["cluster"]}
        self.port = args["port"]
        self._check(args)

        self._nodes_sg, self._nlb_sg = self._security_groups()
        self.node_security_group_id = self._nodes_sg.id
        passwords = {key: self._password(key) for key in SECRET_PURPOSES}
        self._secrets = {key: self._secret(key, pw) for key, pw in passwords.items()}
        self.secret_arns = {key: s.arn for key, s in self._secrets.items()}
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/cryb-db/{name}/nodes",
            retention_in_days=args["log_retention_days"],
            kms_key_id=args["logs_kms_key_arn"],
            tags=self._tag(f"{name}-logs"),
            opts=self._child(),
        )
        enis = [self._interface(i) for i in range(args["node_count"])]
        profile = self._profile(log_group, enis)
        addresses = [eni.private_ip for eni in enis]
        for index in range(args["node_count"]):
            self._node(index, profile, enis[index], addresses, log_group)
        self.nodes = [
            {
                "name": f"{args['cluster']}-{'abcdefgh'[i]}",
                "availabilityZone": args["availability_zones"][i],
                "address": addresses[i],
            }
            for i in range(args["node_count"])
        ]
        writer = self._endpoint("writer", "/primary", addresses)
        reader = self._endpoint("reader", "/replica", addresses)
        self.writer_endpoint, self.reader_endpoint = self._dns(writer, reader, addresses)

        self.register_outputs(
            {
                "writerEndpoint": self.writer_endpoint,
                "readerEndpoint": self.reader_endpoint,
                "port": self.port,
                "secretArns": self.secret_arns,
                "nodes": self.nodes,
            }
        )

    # -- helpers -----------------------------------------------------------------------------------------------
    def _tag(self, label: str, **extra: str) -> dict[str, str]:
        return {**self._tags, "Name": label, **extra}

    def _child(self, *depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))

    @staticmethod
    def _check(args: SelfHostedClusterArgs) -> None:
        """Fail before registering anything: the same rules the rendered configuration enforces."""
        validate_node_type(args["instance_type"])
        count = args["node_count"]
        if not len(args["availability_zones"]) == len(args["subnet_ids"]) == len(args["subnet_cidrs"]):
            raise ValueError("availability_zones, subnet_ids and subnet_cidrs must have the same length")
        if count > len(args["availability_zones"]):
            raise ValueError(f"{count} nodes need {count} AZs; only {len(args['availability_zones'])} given")
        probe = node_inputs(
            scope=args["cluster"],
            hosts=[f"192.0.2.{i + 1}" for i in range(count)],  # placeholders: the rules do not depend on them
            node_index=0,
            instance_type=args["instance_type"],
            postgres_major=args["postgres_major"],
            synchronous_mode=args["synchronous_mode"],
            synchronous_mode_strict=args["synchronous_mode_strict"],
            timing=args["timing"],
            timescaledb=args["timescaledb"],
            client_cidrs=[args["vpc_cidr"]],
        )
        problems = validate(probe)
        if problems:
            raise PatroniConfigError(problems)

    def _rule(
        self,
        label: str,
        *,
        ingress: bool,
        group: pulumi.Input[str],
        peer: pulumi.Input[str] | None = None,
        ports: tuple[int, int],
        why: str,
        cidr: str | None = None,
    ) -> None:
        kind = aws.vpc.SecurityGroupIngressRule if ingress else aws.vpc.SecurityGroupEgressRule
        kind(
            f"{self._name}-{label}",
            security_group_id=group,
            ip_protocol="tcp",
            from_port=ports[0],
            to_port=ports[1],
            referenced_security_group_id=peer,
            cidr_ipv4=cidr,
            description=why,
            tags=self._tag(f"{self._name}-{label}"),
            opts=self._child(),
        )

    # -- network -----------------------------------------------------------------------------------------------
    def _security_groups(self) -> tuple[aws.ec2.SecurityGroup, aws.ec2.SecurityGroup]:
        """PostgreSQL from the clients (directly and through the NLBs); Patroni REST and etcd only between the
        nodes, plus the REST port from the NLBs for their health checks."""
        a, n = self._args, self._name
        nodes = aws.ec2.SecurityGroup(
            f"{n}-nodes-sg",
            vpc_id=a["vpc_id"],
            description=f"cryb-db {n}: Patroni nodes (PostgreSQL from clients, REST and etcd inside the cluster)",
            tags=self._tag(f"{n}-nodes-sg"),
            opts=self._child(),
        )
        nlb = aws.ec2.SecurityGroup(
            f"{n}-nlb-sg",
            vpc_id=a["vpc_id"],
            description=f"cryb-db {n}: writer/reader load balancers (PostgreSQL from clients only)",
            tags=self._tag(f"{n}-nlb-sg"),
            opts=self._child(),
        )
        pg, rest, etcd = (a["port"], a["port"]), (RESTAPI_PORT, RESTAPI_PORT), (ETCD_CLIENT_PORT, ETCD_PEER_PORT)
        for i, client in enumerate(a["client_security_group_ids"]):
            self._rule(
                f"pg-from-client{i}",
                ingress=True,
                group=nodes.id,
                peer=client,
                ports=pg,
                why="PostgreSQL from application/pooler workloads",
            )
            self._rule(
                f"nlb-from-client{i}",
                ingress=True,
                group=nlb.id,
                peer=client,
                ports=pg,
                why="PostgreSQL through the writer/reader load balancers",
            )
            self._rule(
                f"client{i}-to-nlb",
                ingress=False,
                group=client,
                peer=nlb.id,
                ports=pg,
                why=f"PostgreSQL of {n} through its load balancers",
            )
            self._rule(
                f"client{i}-to-nodes",
                ingress=False,
                group=client,
                peer=nodes.id,
                ports=pg,
                why=f"PostgreSQL of {n} nodes",
            )
        self._rule("pg-from-nlb", ingress=True, group=nodes.id, peer=nlb.id, ports=pg, why="PostgreSQL from the NLBs")
        self._rule(
            "rest-from-nlb",
            ingress=True,
            group=nodes.id,
            peer=nlb.id,
            ports=rest,
            why="Patroni /primary and /replica health checks from the NLBs",
        )
        self._rule("nlb-to-pg", ingress=False, group=nlb.id, peer=nodes.id, ports=pg, why="PostgreSQL to the nodes")
        self._rule("nlb-to-rest", ingress=False, group=nlb.id, peer=nodes.id, ports=rest, why="Health checks")
        for label, ports, why in (("pg", pg, "replication"), ("rest", rest, "Patroni REST"), ("etcd", etcd, "etcd")):
            self._rule(
                f"{label}-from-nodes",
                ingress=True,
                group=nodes.id,
                peer=nodes.id,
                ports=ports,
                why=f"Between the nodes: {why}",
            )
            self._rule(
                f"{label}-to-nodes",
                ingress=False,
                group=nodes.id,
                peer=nodes.id,
                ports=ports,
                why=f"Between the nodes: {why}",
            )
        self._rule(
            "nodes-to-https",
            ingress=False,
            group=nodes.id,
            ports=(443, 443),
            cidr="0.0.0.0/0",
            why="S3 (gateway endpoint) and AWS API endpoints; the data subnets have no internet route",
        )
        proxy = a["package_proxy"]
        if proxy:
            url = urlparse(proxy)
            port = url.port or (443 if url.scheme == "https" else 80)
            self._rule(
                "nodes-to-proxy",
                ingress=False,
                group=nodes.id,
                ports=(port, port),
                cidr=a["vpc_cidr"],
                why="apt through the package proxy at boot",
            )
        return nodes, nlb

    def _interface(self, index: int) -> aws.ec2.NetworkInterface:
        """The node's stable address: kept when its instance is replaced, attached by the new one at boot."""
        a, label = self._args, f"{self._name}-node-{'abcdefgh'[index]}-eni"
        return aws.ec2.NetworkInterface(
            label,
            subnet_id=a["subnet_ids"][index],
            security_groups=[self._nodes_sg.id],
            description=f"cryb-db {self._name}: stable address of node {index} ({a['availability_zones'][index]})",
            tags=self._tag(label),
            opts=self._child(),
        )

    # -- identity ----------------------------------------------------------------------------------------------
    def _password(self, key: str) -> random.RandomPassword:
        """Generated once and kept stable; a Pulumi secret, so the state holds it only encrypted."""
        return random.RandomPassword(
            f"{self._name}-{key}-password", length=PASSWORD_LENGTH, special=False, opts=self._child()
        )

    def _secret(self, key: str, password: random.RandomPassword) -> aws.secretsmanager.Secret:
        n = self._name
        users = {
            "superuser": "postgres",
            "replication": "replicator",
            "rewind": "rewind",
            "restapi": "patroni",
            "admin": self._args["admin_user"],
            "pgbackrest": "pgbackrest",
        }
        secret = aws.secretsmanager.Secret(
            f"{n}-{key}",
            name_prefix=f"cryb-db/{n}/{key}-",  # a prefix: a deleted secret's name stays reserved for 30 days
            description=f"cryb-db {n}: {SECRET_PURPOSES[key]}",
            kms_key_id=self._args["secrets_kms_key_arn"],
            recovery_window_in_days=SECRET_RECOVERY_DAYS,
            tags={**self._tag(f"{n}-{key}", **{"secret-purpose": key}), **ROTATION_EXEMPTIONS.get(key, {})},
            opts=self._child(),
        )
        aws.secretsmanager.SecretVersion(
            f"{n}-{key}-value",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(
                pulumi.Output.json_dumps({"username": users[key], "password": password.result})
            ),
            opts=self._child(),
        )
        return secret

    def _profile(
        self, log_group: aws.cloudwatch.LogGroup, enis: Sequence[aws.ec2.NetworkInterface]
    ) -> aws.iam.InstanceProfile:
        a, n = self._args, self._name
        trust = service_trust("ec2.amazonaws.com")  # EC2 sends no aws:SourceAccount
        role = aws.iam.Role(
            f"{n}-node-role",
            assume_role_policy=json.dumps(trust),
            description=f"cryb-db {n}: Patroni nodes (own backup prefix, own secrets, own logs, own interfaces)",
            tags=self._tag(f"{n}-node-role"),
            opts=self._child(),
        )
        aws.iam.RolePolicy(
            f"{n}-backup-prefix",
            role=role.id,
            policy=pulumi.Output.all(a["backup_bucket_arn"], a["backup_kms_key_arn"]).apply(
                lambda v: json.dumps(
                    writer_role_policy(
                        bucket_arn=v[0], prefix=backup_prefix(a["cluster"]), kms_key_arn=v[1], region=a["region"]
                    )
                )
            ),
            opts=self._child(),
        )
        aws.iam.RolePolicy(
            f"{n}-node",
            role=role.id,
            policy=pulumi.Output.all(
                list(self.secret_arns.values()), a["secrets_kms_key_arn"], log_group.arn, [e.arn for e in enis]
            ).apply(
                lambda v: json.dumps(
                    node_role_policy(
                        secret_arns=v[0],
                        secrets_kms_key_arn=v[1],
                        log_group_arn=v[2],
                        eni_arns=v[3],
                        region=a["region"],
                        account_id=a["account_id"],
                        cluster_tag=(CLUSTER_TAG, a["cluster"]),
                    )
                )
            ),
            opts=self._child(),
        )
        return aws.iam.InstanceProfile(
            f"{n}-node-profile", role=role.name, tags=self._tag(f"{n}-node-profile"), opts=self._child()
        )

    # -- nodes -------------------------------------------------------------------------------------------------
    def _user_data(
        self,
        index: int,
        eni_id: str,
        hosts: Sequence[str],
        secret_arns: Mapping[str, str],
        log_group: str,
        bucket_arn: str,
        backup_key: str,
    ) -> str:
        a = self._args
        inputs = node_inputs(
            scope=a["cluster"],
            hosts=hosts,
            node_index=index,
            instance_type=a["instance_type"],
            postgres_major=a["postgres_major"],
            synchronous_mode=a["synchronous_mode"],
            synchronous_mode_strict=a["synchronous_mode_strict"],
            timing=a["timing"],
            timescaledb=a["timescaledb"],
            client_cidrs=[a["vpc_cidr"]],
            port=a["port"],
            # Analytics clusters preload pg_cron: it runs pg_partman maintenance where TimescaleDB is missing.
            cron_database=a["database_name"] if a["timescaledb"] else None,
        )
        node = inputs.node
        conf = render_pgbackrest_conf(
            PgBackRestInputs(
                stanza=inputs.stanza,
                repo=S3Repo(
                    bucket=_bucket_name(bucket_arn),
                    region=a["region"],
                    kms_key_arn=backup_key,
                    prefix=backup_prefix(a["cluster"]),
                ),
                pg_data_dir=PROD_DATA_DIR,
                pg_port=node.pg_port,
                pg_socket_dir=PROD_SOCKET_DIR,
                spool_path=PGBACKREST_SPOOL,
                log_path=PGBACKREST_LOG_DIR,
                lock_path="/tmp/pgbackrest",
                process_max=2,
                retention_full_days=a["backup_retention_days"],
            )
        )
        etcd_env = etcd_environment(
            inputs.nodes, index, data_dir=PROD_ETCD_DATA_DIR, cluster_token=f"cryb-db-{self._name}"
        )
        text = render_user_data(
            NodeBootInputs(
                cluster=a["cluster"],
                node_index=index,
                node_name=node.name,
                region=a["region"],
                instance_type=a["instance_type"],
                postgres_major=a["postgres_major"],
                timescaledb=a["timescaledb"],
                patroni_yml=render_patroni_yml(inputs),
                pgbackrest_conf=conf,
                etcd_env=render_etcd_env_file(etcd_env),
                eni_id=eni_id,
                node_address=node.host,
                subnet_cidr=a["subnet_cidrs"][index],
                peer_etcd_client_urls=[p.etcd_client_url() for p in inputs.nodes if p.name != node.name],
                node_etcd_peer_url=node.etcd_peer_url(),
                secret_arns=secret_arns,
                log_group=log_group,
                database_name=a["database_name"],
                admin_user=a["admin_user"],
                stanza=inputs.stanza,
                restapi_port=node.restapi_port,
                package_proxy=a["package_proxy"],
            )
        )
        return encode_user_data(text)

    def _node(
        self,
        index: int,
        profile: aws.iam.InstanceProfile,
        eni: aws.ec2.NetworkInterface,
        addresses: Sequence[pulumi.Output[str]],
        log_group: aws.cloudwatch.LogGroup,
    ) -> aws.autoscaling.Group:
        a, n = self._args, self._name
        letter = "abcdefgh"[index]
        label = f"{n}-node-{letter}"
        tags = self._tag(label, **{"cryb-db-node": f"{a['cluster']}-{letter}"})
        user_data = pulumi.Output.all(
            eni.id, list(addresses), self.secret_arns, log_group.name, a["backup_bucket_arn"], a["backup_kms_key_arn"]
        ).apply(lambda v: self._user_data(index, v[0], v[1], v[2], v[3], v[4], v[5]))
        template = hardened_launch_template(
            label,
            description=f"cryb-db {n}: Patroni node {letter} ({a['availability_zones'][index]})",
            image_ssm_parameter=image_ssm_parameter(a["instance_type"], a["image_ssm_parameter"]),
            instance_type=a["instance_type"],
            instance_profile_arn=profile.arn,
            subnet_id=a["subnet_ids"][index],
            security_group_ids=[self._nodes_sg.id],
            root_volume_gib=a["root_volume_gib"],
            kms_key_arn=a["data_kms_key_arn"],
            user_data=user_data,
            tags=tags,
            opts=self._child(),
        )
        return aws.autoscaling.Group(
            label,
            min_size=1,
            max_size=1,
            desired_capacity=1,
            vpc_zone_identifiers=[a["subnet_ids"][index]],
            launch_template=aws.autoscaling.GroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            # A new template version does not roll the node: database nodes are replaced one at a time by an
            # operator (replicas first), never by an automatic refresh.
            health_check_type="EC2",
            health_check_grace_period=600,
            tags=[aws.autoscaling.GroupTagArgs(key=k, value=v, propagate_at_launch=True) for k, v in tags.items()],
            opts=self._child(),
        )

    # -- endpoints ---------------------------------------------------------------------------------------------
    def _endpoint(self, role: str, path: str, addresses: Sequence[pulumi.Output[str]]) -> aws.lb.LoadBalancer:
        """An internal NLB whose target group admits only the nodes that answer 200 on `path`."""
        a, n = self._args, self._name
        lb = aws.lb.LoadBalancer(
            f"{n}-{role}",
            internal=True,
            load_balancer_type="network",
            subnets=list(a["subnet_ids"]),
            security_groups=[self._nlb_sg.id],
            # One healthy writer sits in one AZ: every AZ's NLB node must forward to it.
            enable_cross_zone_load_balancing=True,
            enable_deletion_protection=True,
            tags=self._tag(f"{n}-{role}"),
            opts=self._child(),
        )
        group = aws.lb.TargetGroup(
            f"{n}-{role}-tg",
            port=a["port"],
            protocol="TCP",
            target_type="ip",
            vpc_id=a["vpc_id"],
            deregistration_delay=0,
            connection_termination=True,  # clients of a demoted leader reconnect at once instead of hanging
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                protocol="HTTPS",
                port=str(RESTAPI_PORT),
                path=path,
                matcher="200",
                interval=HEALTH_CHECK_INTERVAL_SECONDS,
                timeout=HEALTH_CHECK_INTERVAL_SECONDS - 1,
                healthy_threshold=2,
                unhealthy_threshold=2,
            ),
            tags=self._tag(f"{n}-{role}-tg"),
            opts=self._child(),
        )
        for i, address in enumerate(addresses):
            aws.lb.TargetGroupAttachment(
                f"{n}-{role}-{'abcdefgh'[i]}",
                target_group_arn=group.arn,
                target_id=address,
                port=a["port"],
                opts=self._child(),
            )
        aws.lb.Listener(
            f"{n}-{role}-listener",
            load_balancer_arn=lb.arn,
            port=a["port"],
            protocol="TCP",
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=group.arn)],
            tags=self._tag(f"{n}-{role}-listener"),
            opts=self._child(),
        )
        return lb

    def _dns(
        self, writer: aws.lb.LoadBalancer, reader: aws.lb.LoadBalancer, addresses: Sequence[pulumi.Output[str]]
    ) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        """Private names that never change: writer, reader and one per node."""
        a, n = self._args, self._name
        zone_name = a["dns_zone_name"]
        zone = aws.route53.Zone(
            f"{n}-zone",
            name=zone_name,
            comment=f"cryb-db {n}: writer, reader and node names",
            vpcs=[aws.route53.ZoneVpcArgs(vpc_id=a["vpc_id"])],
            tags=self._tag(f"{n}-zone"),
            opts=self._child(),
        )
        for role, lb in (("writer", writer), ("reader", reader)):
            aws.route53.Record(
                f"{n}-{role}-record",
                zone_id=zone.zone_id,
                name=f"{role}.{zone_name}",
                type="A",
                aliases=[
                    aws.route53.RecordAliasArgs(name=lb.dns_name, zone_id=lb.zone_id, evaluate_target_health=True)
                ],
                opts=self._child(),
            )
        for i, address in enumerate(addresses):
            letter = "abcdefgh"[i]
            aws.route53.Record(
                f"{n}-node-{letter}-record",
                zone_id=zone.zone_id,
                name=f"{a['cluster']}-{letter}.{zone_name}",
                type="A",
                ttl=60,
                records=[address],
                opts=self._child(),
            )
        return pulumi.Output.from_input(f"writer.{zone_name}"), pulumi.Output.from_input(f"reader.{zone_name}")

    def cluster_outputs(self) -> dict[str, Any]:
        """The same contract as an RDS shard (writer, reader, port, secret ARN), plus the nodes."""
        a = self._args
        return {
            "name": a["cluster"],
            "engine": "patroni-postgresql",
            "engineVersion": a["postgres_major"],
            "writerEndpoint": self.writer_endpoint,
            "readerEndpoints": [self.reader_endpoint],
            "port": self.port,
            "databaseName": a["database_name"],
            "secretArn": self.secret_arns["admin"],
            "iamAuthentication": False,
            "region": a["region"],
            "timescaledb": a["timescaledb"],
            "synchronousModeStrict": a["synchronous_mode_strict"],
            "backupPrefix": backup_prefix(a["cluster"]),
            "nodes": self.nodes,
        }

    def shard_outputs(self, index: int) -> dict[str, Any]:
        """This cluster as an OLTP shard, in the RDS shard contract (docs/outputs.md): there is no RDS Proxy, so
        the proxy fields name the writer NLB, which follows the Patroni leader through `/primary`."""
        a = self._args
        return {
            "id": index,
            "name": self._name,
            "topology": "patroni",
            "writerEndpoint": self.writer_endpoint,
            "readerEndpoints": [self.reader_endpoint],
            "proxyEndpoint": self.writer_endpoint,
            "port": self.port,
            "proxyPort": self.port,
            "databaseName": a["database_name"],
            "secretArn": self.secret_arns["admin"],
            "iamAuthentication": False,
            "region": a["region"],
        }
