"""The VPC that isolates the data tier: public (NAT only), private app and isolated data subnets."""

import json
from collections.abc import Mapping, Sequence
from typing import Literal, TypedDict

import pulumi
import pulumi_aws as aws

from components.network.plan import az_letter, nacl_rules, plan_subnets

# ec2: self-hosted nodes attach their fixed network interface at boot (components/selfhosted/cloud_init.py).
INTERFACE_ENDPOINT_SERVICES = ("secretsmanager", "kms", "logs", "monitoring", "sts", "ec2")


class NetworkArgs(TypedDict):
    """Inputs of Network."""

    cidr: str
    """IPv4 CIDR of the VPC (private, /16 to /20)."""
    availability_zones: Sequence[str]
    """AZ names the subnets span, in order (3 in prod)."""
    nat_gateways: Literal["perAz", "single"]
    """One NAT gateway per AZ, or one shared."""
    interface_endpoints: bool
    """Create interface endpoints for Secrets Manager, KMS, CloudWatch Logs, CloudWatch, STS and EC2."""
    flow_log_retention_days: int
    """Retention of the flow log group (CloudWatch Logs period)."""
    flow_log_aggregation_seconds: int
    """Flow log aggregation interval: 60 or 600."""
    logs_kms_key_arn: pulumi.Input[str]
    """Customer-managed key that encrypts the flow log group."""
    postgres_port: int
    """Port PostgreSQL listens on; the only port the postgres group admits."""
    pooler_port: int
    """Port clients reach the poolers on: RDS Proxy for PostgreSQL always listens on 5432, whatever the DB port."""
    cache_port: int
    """Port of the cache nodes; the only port the cache group admits."""
    region: str
    """Region of the VPC (endpoint service names are regional)."""
    account_id: str
    """Account of the VPC (scopes the flow-log role's trust)."""
    tags: Mapping[str, str]
    """Tags on every taggable resource."""


class SecurityGroups:
    """The groups that decide who talks to whom: app -> pooler -> postgres, app -> cache."""

    def __init__(
        self,
        app: aws.ec2.SecurityGroup,
        pooler: aws.ec2.SecurityGroup,
        postgres: aws.ec2.SecurityGroup,
        cache: aws.ec2.SecurityGroup,
        endpoints: aws.ec2.SecurityGroup,
    ):
        self.app, self.pooler, self.postgres, self.cache, self.endpoints = app, pooler, postgres, cache, endpoints

    def ids(self) -> dict[str, pulumi.Output[str]]:
        return {
            "app": self.app.id,
            "pooler": self.pooler.id,
            "postgres": self.postgres.id,
            "cache": self.cache.id,
            "endpoints": self.endpoints.id,
        }


class Network(pulumi.ComponentResource):
    """VPC over N AZs. Data subnets have no route to an internet or NAT gateway; no subnet assigns public IPs."""

    vpc_id: pulumi.Output[str]
    vpc_cidr: str
    public_subnet_ids: list[pulumi.Output[str]]
    app_subnet_ids: list[pulumi.Output[str]]
    data_subnet_ids: list[pulumi.Output[str]]
    db_subnet_group_name: pulumi.Output[str]
    cache_subnet_group_name: pulumi.Output[str]
    security_groups: SecurityGroups
    flow_log_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cryb:network:Network", name, None, opts)
        self._name, self._tags = name, dict(args["tags"])
        child = pulumi.ResourceOptions(parent=self)
        azs = args["availability_zones"]
        self.vpc_cidr = args["cidr"]

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args["cidr"],
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=self._tag(f"{name}-vpc"),
            opts=child,
        )
        self.vpc_id = vpc.id
        self._lock_down_defaults(vpc, child)

        subnets: dict[str, list[aws.ec2.Subnet]] = {"public": [], "app": [], "data": []}
        for plan in plan_subnets(args["cidr"], len(azs)):
            label = f"{name}-{plan.tier}-{az_letter(plan.az_index)}"
            subnets[plan.tier].append(
                aws.ec2.Subnet(
                    label,
                    vpc_id=vpc.id,
                    cidr_block=plan.cidr,
                    availability_zone=azs[plan.az_index],
                    map_public_ip_on_launch=False,
                    tags={**self._tag(label), "tier": plan.tier},
                    opts=child,
                )
            )
        self.public_subnet_ids = [s.id for s in subnets["public"]]
        self.app_subnet_ids = [s.id for s in subnets["app"]]
        self.data_subnet_ids = [s.id for s in subnets["data"]]

        route_tables = self._routing(vpc, subnets, args["nat_gateways"], child)
        self._network_acls(vpc, subnets, args["cidr"], child)
        self.security_groups = self._security_groups(vpc, args, child)
        self._endpoints(vpc, route_tables, subnets["app"], args, child)
        self.flow_log_group_name = self._flow_logs(vpc, args, child)

        self.db_subnet_group_name = aws.rds.SubnetGroup(
            f"{name}-db",
            description="cryb-db PostgreSQL: isolated data subnets only",
            subnet_ids=self.data_subnet_ids,
            tags=self._tag(f"{name}-db"),
            opts=child,
        ).name
        self.cache_subnet_group_name = aws.elasticache.SubnetGroup(
            f"{name}-cache",
            description="cryb-db cache: isolated data subnets only",
            subnet_ids=self.data_subnet_ids,
            tags=self._tag(f"{name}-cache"),
            opts=child,
        ).name

        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "appSubnetIds": self.app_subnet_ids,
                "dataSubnetIds": self.data_subnet_ids,
                "dbSubnetGroupName": self.db_subnet_group_name,
                "cacheSubnetGroupName": self.cache_subnet_group_name,
                "securityGroupIds": self.security_groups.ids(),
            }
        )

    def _tag(self, name: str) -> dict[str, str]:
        return {**self._tags, "Name": name}

    def _lock_down_defaults(self, vpc: aws.ec2.Vpc, child: pulumi.ResourceOptions) -> None:
        """Adopt the default SG and NACL and strip every rule (EC2.2), so nothing can fall back on them."""
        aws.ec2.DefaultSecurityGroup(
            f"{self._name}-default-sg",
            vpc_id=vpc.id,
            ingress=[],
            egress=[],
            tags=self._tag(f"{self._name}-default-sg-no-rules"),
            opts=child,
        )
        aws.ec2.DefaultNetworkAcl(
            f"{self._name}-default-nacl",
            default_network_acl_id=vpc.default_network_acl_id,
            tags=self._tag(f"{self._name}-default-nacl-no-rules"),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["subnetIds"]),
        )

    def _routing(
        self, vpc: aws.ec2.Vpc, subnets: dict[str, list[aws.ec2.Subnet]], nat_mode: str, child: pulumi.ResourceOptions
    ) -> dict[str, list[aws.ec2.RouteTable]]:
        """public -> IGW; app -> NAT in its AZ (or the single NAT); data -> nothing beyond the VPC and S3 endpoint."""
        n = self._name
        igw = aws.ec2.InternetGateway(f"{n}-igw", vpc_id=vpc.id, tags=self._tag(f"{n}-igw"), opts=child)
        public_rt = aws.ec2.RouteTable(f"{n}-public-rt", vpc_id=vpc.id, tags=self._tag(f"{n}-public-rt"), opts=child)
        aws.ec2.Route(
            f"{n}-public-default",
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=child,
        )
        nats = []
        for i, subnet in enumerate(subnets["public"]):
            aws.ec2.RouteTableAssociation(
                f"{n}-public-{az_letter(i)}-rta", subnet_id=subnet.id, route_table_id=public_rt.id, opts=child
            )
            if nat_mode == "perAz" or i == 0:
                eip = aws.ec2.Eip(
                    f"{n}-nat-{az_letter(i)}-eip", domain="vpc", tags=self._tag(f"{n}-nat-{az_letter(i)}"), opts=child
                )
                nats.append(
                    aws.ec2.NatGateway(
                        f"{n}-nat-{az_letter(i)}",
                        allocation_id=eip.allocation_id,
                        subnet_id=subnet.id,
                        connectivity_type="public",
                        tags=self._tag(f"{n}-nat-{az_letter(i)}"),
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                    )
                )
        app_rts = []
        for i, subnet in enumerate(subnets["app"]):
            label = f"{n}-app-{az_letter(i)}-rt"
            rt = aws.ec2.RouteTable(label, vpc_id=vpc.id, tags=self._tag(label), opts=child)
            aws.ec2.Route(
                f"{n}-app-{az_letter(i)}-default",
                route_table_id=rt.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nats[i if nat_mode == "perAz" else 0].id,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{n}-app-{az_letter(i)}-rta", subnet_id=subnet.id, route_table_id=rt.id, opts=child
            )
            app_rts.append(rt)
        data_rt = aws.ec2.RouteTable(f"{n}-data-rt", vpc_id=vpc.id, tags=self._tag(f"{n}-data-rt-isolated"), opts=child)
        for i, subnet in enumerate(subnets["data"]):
            aws.ec2.RouteTableAssociation(
                f"{n}-data-{az_letter(i)}-rta", subnet_id=subnet.id, route_table_id=data_rt.id, opts=child
            )
        return {"public": [public_rt], "app": app_rts, "data": [data_rt]}

    def _network_acls(
        self, vpc: aws.ec2.Vpc, subnets: dict[str, list[aws.ec2.Subnet]], cidr: str, child: pulumi.ResourceOptions
    ) -> None:
        """An explicit NACL per tier (rules in network_plan.nacl_rules), since the default NACL has none."""
        for tier, (ingress, egress) in nacl_rules(cidr).items():
            aws.ec2.NetworkAcl(
                f"{self._name}-{tier}-nacl",
                vpc_id=vpc.id,
                subnet_ids=[s.id for s in subnets[tier]],
                ingress=[aws.ec2.NetworkAclIngressArgs(action="allow", **vars(rule)) for rule in ingress],
                egress=[aws.ec2.NetworkAclEgressArgs(action="allow", **vars(rule)) for rule in egress],
                tags=self._tag(f"{self._name}-{tier}-nacl"),
                opts=child,
            )

    def _security_groups(self, vpc: aws.ec2.Vpc, args: NetworkArgs, child: pulumi.ResourceOptions) -> SecurityGroups:
        n = self._name
        purposes = {
            "app": "Application workloads: clients of the poolers, PostgreSQL and the cache",
            "pooler": "Connection poolers (RDS Proxy, PgBouncer): admitted from app, reach PostgreSQL",
            "postgres": "PostgreSQL: admits its port only from the app and pooler groups",  # and itself (moves)
            "cache": "Cache nodes: admit the cache port only from the app group",
            "endpoints": "Interface VPC endpoints: admit HTTPS from inside the VPC",
        }
        groups = {
            key: aws.ec2.SecurityGroup(
                f"{n}-{key}-sg", vpc_id=vpc.id, description=text, tags=self._tag(f"{n}-{key}-sg"), opts=child
            )
            for key, text in purposes.items()
        }
        pg, cache = args["postgres_port"], args["cache_port"]

        def ingress(label: str, target: str, port: int, source: str, why: str) -> None:
            aws.vpc.SecurityGroupIngressRule(
                f"{n}-{label}",
                security_group_id=groups[target].id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                referenced_security_group_id=groups[source].id,
                description=why,
                tags=self._tag(f"{n}-{label}"),
                opts=child,
            )

        def egress(
            label: str, source: str, port: int, why: str, target: str | None = None, cidr: str | None = None
        ) -> None:
            aws.vpc.SecurityGroupEgressRule(
                f"{n}-{label}",
                security_group_id=groups[source].id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                referenced_security_group_id=groups[target].id if target else None,
                cidr_ipv4=cidr,
                description=why,
                tags=self._tag(f"{n}-{label}"),
                opts=child,
            )

        ingress("postgres-from-app", "postgres", pg, "app", "PostgreSQL from application workloads")
        ingress("postgres-from-pooler", "postgres", pg, "pooler", "PostgreSQL from connection poolers")
        ingress(
            "postgres-from-postgres",
            "postgres",
            pg,
            "postgres",
            "PostgreSQL from other shards: logical replication of bucket moves (docs/sharding.md)",
        )
        ingress(
            "pooler-from-app", "pooler", args["pooler_port"], "app", "Pooled PostgreSQL connections from applications"
        )
        ingress("cache-from-app", "cache", cache, "app", "Cache protocol from application workloads")
        aws.vpc.SecurityGroupIngressRule(
            f"{n}-endpoints-from-vpc",
            security_group_id=groups["endpoints"].id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4=args["cidr"],
            description="HTTPS to AWS APIs from inside the VPC",
            tags=self._tag(f"{n}-endpoints-from-vpc"),
            opts=child,
        )
        egress("app-to-postgres", "app", pg, "PostgreSQL", target="postgres")
        egress("app-to-pooler", "app", args["pooler_port"], "Pooled PostgreSQL", target="pooler")
        egress("app-to-cache", "app", cache, "Cache", target="cache")
        egress("app-to-https", "app", 443, "HTTPS to AWS APIs and the internet through NAT", cidr="0.0.0.0/0")
        egress("pooler-to-postgres", "pooler", pg, "PostgreSQL behind the pooler", target="postgres")
        egress("pooler-to-https", "pooler", 443, "Secrets Manager and KMS for pooler credentials", cidr="0.0.0.0/0")
        return SecurityGroups(**groups)

    def _endpoints(
        self,
        vpc: aws.ec2.Vpc,
        route_tables: dict[str, list[aws.ec2.RouteTable]],
        app_subnets: list[aws.ec2.Subnet],
        args: NetworkArgs,
        child: pulumi.ResourceOptions,
    ) -> None:
        """S3 through a gateway endpoint (backups never cross NAT); AWS APIs through interface endpoints."""
        n, region = self._name, args["region"]
        aws.ec2.VpcEndpoint(
            f"{n}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in route_tables["app"] + route_tables["data"]],
            tags=self._tag(f"{n}-s3"),
            opts=child,
        )
        if not args["interface_endpoints"]:
            return
        for service in INTERFACE_ENDPOINT_SERVICES:
            aws.ec2.VpcEndpoint(
                f"{n}-{service}",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[s.id for s in app_subnets],
                security_group_ids=[self.security_groups.endpoints.id],
                tags=self._tag(f"{n}-{service}"),
                opts=child,
            )

    def _flow_logs(self, vpc: aws.ec2.Vpc, args: NetworkArgs, child: pulumi.ResourceOptions) -> pulumi.Output[str]:
        """ALL traffic (accepted and rejected) to a KMS-encrypted log group (EC2.6)."""
        n = self._name
        group = aws.cloudwatch.LogGroup(
            f"{n}-flow-logs",
            name=f"/cryb-db/{n}/vpc-flow-logs",
            retention_in_days=args["flow_log_retention_days"],
            kms_key_id=args["logs_kms_key_arn"],
            tags=self._tag(f"{n}-flow-logs"),
            opts=child,
        )
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": args["account_id"]}},
                }
            ],
        }
        role = aws.iam.Role(
            f"{n}-flow-logs-role",
            assume_role_policy=json.dumps(trust),
            description="VPC flow logs delivery to its own log group only",
            tags=self._tag(f"{n}-flow-logs-role"),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{n}-flow-logs-write",
            role=role.id,
            policy=group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                                "Resource": [arn, f"{arn}:*"],
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{n}-flow-log",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=args["flow_log_aggregation_seconds"],
            tags=self._tag(f"{n}-flow-log"),
            opts=child,
        )
        return group.name
