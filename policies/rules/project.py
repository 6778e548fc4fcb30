"""Rules of this project beyond the AWS baseline: no ingress from the internet, data stores only in the isolated
data tier, and TimescaleDB only on the self-hosted engine (RDS cannot load it)."""

import ipaddress
from collections.abc import Iterator
from typing import Any

from pulumi_policy import Severity

from .base import Config, RuleSet
from .graph import Stack
from .props import UNKNOWN, as_list
from .resource import Resource

RULES = RuleSet()

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LEGACY_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"

SUBNET = "aws:ec2/subnet:Subnet"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
INTERNET_GATEWAY = "aws:ec2/internetGateway:InternetGateway"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
# Where data stores get their subnets: (type, props naming subnets). EC2 hosts count when tagged as data nodes.
DATA_STORE_PLACEMENTS = (
    ("aws:rds/subnetGroup:SubnetGroup", ("subnetIds",)),
    ("aws:elasticache/subnetGroup:SubnetGroup", ("subnetIds",)),
    ("aws:elasticache/serverlessCache:ServerlessCache", ("subnetIds",)),
    ("aws:ec2/instance:Instance", ("subnetId",)),
    ("aws:autoscaling/group:Group", ("vpcZoneIdentifiers",)),
)
SELF_HOSTED_HOSTS = ("aws:ec2/instance:Instance", "aws:autoscaling/group:Group")
PARAMETER_GROUPS = ("aws:rds/parameterGroup:ParameterGroup", "aws:rds/clusterParameterGroup:ClusterParameterGroup")


def is_world(cidr: object) -> bool:
    """0.0.0.0/0, ::/0 and any other prefix of length 0 (e.g. written as 0.0.0.0/0.0.0.0)."""
    if not isinstance(cidr, str):
        return False
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


def _world_sources(rule: dict[str, Any]) -> list[str]:
    candidates: list[Any] = [rule.get("cidrIpv4"), rule.get("cidrIpv6")]
    for key in ("cidrBlocks", "ipv6CidrBlocks"):
        values = as_list(rule.get(key))
        candidates += values if values is not UNKNOWN else []
    return [c for c in candidates if is_world(c)]


def _ingress_rules(resource: Resource) -> list[dict[str, Any]]:
    if resource.type in (SECURITY_GROUP, DEFAULT_SECURITY_GROUP):
        rules = as_list(resource.get("ingress"))
        return [r for r in rules if isinstance(r, dict)] if rules is not UNKNOWN else []
    if resource.type == LEGACY_RULE and resource.get("type") != "ingress":
        return []
    return [resource.props]


def _ports(rule: dict[str, Any]) -> str:
    low, high = rule.get("fromPort"), rule.get("toPort")
    protocol = rule.get("ipProtocol", rule.get("protocol"))
    if str(protocol) == "-1":
        return "all ports"
    return f"{protocol} {low:g}-{high:g}" if isinstance(low, float) and isinstance(high, float) else f"{protocol}"


@RULES.resource(
    types=(SECURITY_GROUP, DEFAULT_SECURITY_GROUP, INGRESS_RULE, LEGACY_RULE),
    name="no-world-ingress",
    description="No security group admits 0.0.0.0/0 or ::/0 on any port; clients come from security groups.",
    controls=("CRYB.2", "EC2.18", "EC2.19", "EC2.13", "EC2.14"),
    severity=Severity.CRITICAL,
    remediation="Use referenced_security_group_id (e.g. the app group) or a VPC CIDR as the source.",
)
def no_world_ingress(resource: Resource, config: Config) -> Iterator[str]:
    for rule in _ingress_rules(resource):
        sources = _world_sources(rule)
        if sources:
            yield f"ingress from {sources} on {_ports(rule)}: admit a security group or the VPC CIDR instead."


def _is_data_subnet(subnet: Resource, config: Config) -> bool | None:
    value = subnet.get("tags", config["tierTag"])
    return None if value is UNKNOWN else value == config["dataTier"]


def _is_self_hosted_data_node(resource: Resource, config: Config) -> bool:
    """EC2 hosts are data stores when tagged like data subnets (tier=data); ASGs list tags as key/value items."""
    tags = resource.get("tags")
    if isinstance(tags, dict):
        return tags.get(config["tierTag"]) == config["dataTier"]
    if isinstance(tags, list):
        return any(
            isinstance(t, dict) and t.get("key") == config["tierTag"] and t.get("value") == config["dataTier"]
            for t in tags
        )
    return False


def _internet_routes(stack: Stack, table: Resource) -> list[str]:
    """Routes of `table` (separate Route resources or inline) through an internet, egress-only or NAT gateway."""
    gateways = stack.of_type(INTERNET_GATEWAY)
    found = []

    def describe(route: dict[str, Any], via_igw: bool) -> None:
        destination = route.get("destinationCidrBlock", route.get("cidrBlock"))
        if via_igw or "egressOnlyGatewayId" in route:  # present, even if still unknown, means that gateway
            found.append(f"internet gateway ({destination})")
        if "natGatewayId" in route:
            found.append(f"NAT gateway ({destination})")

    for route in stack.referrers(table, (ROUTE,), ("routeTableId",)):
        gateway = route.get("gatewayId")
        named_igw = isinstance(gateway, str) and gateway.startswith("igw-")
        describe(route.props, named_igw or any(stack.references(route, g, ("gatewayId",)) for g in gateways))
    inline = as_list(table.get("routes"))
    for route in inline if inline is not UNKNOWN else []:
        if isinstance(route, dict):
            gateway = route.get("gatewayId")
            ids = {i for g in gateways for i in stack.identifiers(g)}
            describe(route, isinstance(gateway, str) and (gateway.startswith("igw-") or gateway in ids))
    return found


@RULES.stack(
    name="data-stores-in-data-subnets",
    description="Data stores (RDS and cache subnet groups, data-node hosts) use only subnets tagged as the data "
    "tier, and data subnets have no route to an internet or NAT gateway.",
    controls=("CRYB.3", "RDS.18"),
    severity=Severity.CRITICAL,
    remediation="Use the network's data subnet IDs (dbSubnetGroupName / cacheSubnetGroupName outputs); keep "
    "default routes out of the data route table.",
    config_schema={
        "tierTag": {"type": "string", "default": "tier"},
        "dataTier": {"type": "string", "default": "data"},
    },
)
def data_stores_in_data_subnets(stack: Stack, config: Config) -> Iterator[tuple[Resource | None, str]]:
    data_subnets: list[Resource] = []
    for subnet in stack.of_type(SUBNET):
        if _is_data_subnet(subnet, config):
            data_subnets.append(subnet)
    for type_token, keys in DATA_STORE_PLACEMENTS:
        for placed in stack.of_type(type_token):
            if type_token in SELF_HOSTED_HOSTS and not _is_self_hosted_data_node(placed, config):
                continue
            subnets, unresolved, _ = stack.referenced(placed, keys, (SUBNET,))
            outside = [s.name for s in subnets if _is_data_subnet(s, config) is False]
            if outside:
                yield placed, f"uses non-data subnet(s) {sorted(outside)}: place it in the data subnets only."
            if unresolved:
                yield (
                    placed,
                    (
                        f"uses subnet(s) {sorted(unresolved)} this stack does not declare as data subnets: "
                        "use the network component's data subnet IDs."
                    ),
                )
    for subnet in data_subnets:
        for association in stack.referrers(subnet, (ROUTE_TABLE_ASSOCIATION,), ("subnetId",)):
            tables, _, _ = stack.referenced(association, ("routeTableId",), (ROUTE_TABLE,))
            for table in tables:
                for route in _internet_routes(stack, table):
                    yield subnet, f"its route table {table.name} routes to an {route}: data subnets stay isolated."


@RULES.resource(
    types=PARAMETER_GROUPS,
    name="timescaledb-self-hosted-only",
    description="TimescaleDB runs only on the self-hosted PostgreSQL engine: RDS cannot load the extension.",
    controls=("CRYB.4",),
    severity=Severity.HIGH,
    remediation="Remove timescaledb from shared_preload_libraries; put TimescaleDB workloads on the self-hosted "
    "engine (pg_partman + pg_cron are the RDS alternative).",
)
def timescaledb_self_hosted_only(resource: Resource, config: Config) -> Iterator[str]:
    parameters = as_list(resource.get("parameters"))
    if parameters is UNKNOWN:
        return
    for parameter in parameters:
        if not isinstance(parameter, dict) or parameter.get("name") != "shared_preload_libraries":
            continue
        value = parameter.get("value")
        if isinstance(value, str) and "timescaledb" in value.lower():
            yield f"shared_preload_libraries = {value!r} loads timescaledb, which RDS does not offer: remove it."
