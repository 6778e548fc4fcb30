"""EC2 and VPC: subnets, default security group, NACLs, flow logs, endpoints, launch templates, instances, EBS."""

from collections.abc import Iterator
from typing import Any

from pulumi_policy import Severity

from .base import Config, RuleSet
from .graph import Stack
from .props import UNKNOWN, as_bool, as_list, as_number, has_unknown, strings
from .resource import Resource

RULES = RuleSet()

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
NETWORK_ACL = "aws:ec2/networkAcl:NetworkAcl"
NETWORK_ACL_RULE = "aws:ec2/networkAclRule:NetworkAclRule"
NETWORK_ACL_ASSOCIATION = "aws:ec2/networkAclAssociation:NetworkAclAssociation"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
VOLUME = "aws:ebs/volume:Volume"
EBS_ENCRYPTION_BY_DEFAULT = "aws:ebs/encryptionByDefault:EncryptionByDefault"
VPC_BLOCK_PUBLIC_ACCESS = "aws:ec2/vpcBlockPublicAccessOptions:VpcBlockPublicAccessOptions"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
# Rules that belong to a group through `securityGroupId`: a group's own rules do not put it to use.
SECURITY_GROUP_RULES = (
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    "aws:ec2/securityGroupRule:SecurityGroupRule",
)

ADMIN_PORTS = (22, 3389)


@RULES.resource(
    types=(SUBNET,),
    name="ec2-subnet-no-auto-public-ip",
    description="Subnets do not give instances a public IPv4 address at launch.",
    controls=("EC2.15",),
    severity=Severity.MEDIUM,
    remediation="Set map_public_ip_on_launch=False (the default).",
)
def ec2_subnet_no_auto_public_ip(resource: Resource, config: Config) -> Iterator[str]:
    if as_bool(resource.get("mapPublicIpOnLaunch", default=False)) is True:
        yield "mapPublicIpOnLaunch is true: set map_public_ip_on_launch=False; only NAT gateways face the internet."


@RULES.resource(
    types=(DEFAULT_SECURITY_GROUP,),
    name="ec2-default-security-group-no-rules",
    description="The VPC's default security group allows no traffic, so nothing can fall back on it.",
    controls=("EC2.2",),
    severity=Severity.HIGH,
    remediation="Declare aws.ec2.DefaultSecurityGroup with ingress=[] and egress=[].",
)
def ec2_default_security_group_no_rules(resource: Resource, config: Config) -> Iterator[str]:
    for direction in ("ingress", "egress"):
        rules = as_list(resource.get(direction))
        if rules is not UNKNOWN and rules:
            yield f"{direction} has {len(rules)} rule(s): set {direction}=[] on the default security group."


def _covers(rule: dict[str, Any], port: int) -> bool | None:
    """Whether a NACL rule admits TCP `port`; None while its fields are unknown."""
    protocol = str(rule.get("protocol", "")).lower()
    if rule.get("protocol") is UNKNOWN:
        return None
    if protocol in ("-1", "all"):
        return True
    if protocol not in ("tcp", "6"):
        return False
    low, high = as_number(rule.get("fromPort")), as_number(rule.get("toPort"))
    if low is UNKNOWN or high is UNKNOWN:
        return None
    return low is not None and high is not None and low <= port <= high


def _from_anywhere(rule: dict[str, Any]) -> bool:
    return rule.get("cidrBlock") == "0.0.0.0/0" or rule.get("ipv6CidrBlock") == "::/0"


@RULES.resource(
    types=(NETWORK_ACL, NETWORK_ACL_RULE),
    name="ec2-nacl-no-world-admin-ports",
    description="Network ACLs do not admit 0.0.0.0/0 or ::/0 to SSH (22) or RDP (3389).",
    controls=("EC2.21",),
    severity=Severity.MEDIUM,
    remediation="Narrow the allow rule's port range (split around 22/3389) or its CIDR.",
)
def ec2_nacl_no_world_admin_ports(resource: Resource, config: Config) -> Iterator[str]:
    if resource.type == NETWORK_ACL_RULE:
        if as_bool(resource.get("egress", default=False)) is not False or resource.get("ruleAction") != "allow":
            return
        rules: list[Any] = [{**resource.props, "cidrBlock": resource.get("cidrBlock")}]
    else:
        found = as_list(resource.get("ingress"))
        if found is UNKNOWN:
            return
        rules = [r for r in found if isinstance(r, dict) and r.get("action") == "allow"]
    for rule in rules:
        if not _from_anywhere(rule):
            continue
        exposed = [port for port in ADMIN_PORTS if _covers(rule, port)]
        if exposed:
            yield f"rule {rule.get('ruleNo', rule.get('ruleNumber'))} admits the world to port(s) {exposed}: narrow it."


@RULES.stack(
    name="ec2-network-acl-in-use",
    description="Every network ACL is associated with a subnet (unused NACLs hide intent).",
    controls=("EC2.16",),
    severity=Severity.LOW,
    remediation="Set subnet_ids on the NACL (or add a NetworkAclAssociation), or delete it.",
)
def ec2_network_acl_in_use(stack: Stack, config: Config) -> Iterator[tuple[Resource | None, str]]:
    for acl in stack.of_type(NETWORK_ACL):
        subnets = as_list(acl.get("subnetIds"))
        if subnets is UNKNOWN or subnets:
            continue
        if stack.referrers(acl, (NETWORK_ACL_ASSOCIATION,), ("networkAclId",)):
            continue
        if not stack.maybe_referrers(acl, (NETWORK_ACL_ASSOCIATION,), ("networkAclId",)):
            yield acl, "no subnet uses this network ACL: associate it with its tier's subnets or remove it."


@RULES.stack(
    name="ec2-security-group-in-use",
    description="Every security group is used: attached to something, or named by another group's rule (a group that "
    "only carries its own rules is declared for nothing and invites attaching it by mistake).",
    controls=("EC2.22",),
    severity=Severity.LOW,
    remediation="Declare the group only where something attaches it (e.g. the endpoints group only with "
    "cryb-db:network.interfaceEndpoints), or delete it.",
)
def ec2_security_group_in_use(stack: Stack, config: Config) -> Iterator[tuple[Resource | None, str]]:
    groups = stack.of_type(SECURITY_GROUP)
    if not groups:
        return
    # What every other resource names, computed once: the strings of its props (a group's own rules name it in
    # securityGroupId, which is no use of it; tags never are), the URNs the engine recorded as their inputs, and
    # whether an unknown value without recorded dependencies leaves it undecided.
    named: set[str] = set()
    undecided = False
    for user in stack.resources:
        if user.type == SECURITY_GROUP:
            continue
        owned = ("securityGroupId",) if user.type in SECURITY_GROUP_RULES else ()
        keys = [k for k in user.props if k not in owned and k not in ("tags", "tagsAll")]
        values = [user.props[k] for k in keys]
        named |= strings(values)
        named |= {urn for k in keys for urn in user.property_dependencies.get(k, ())}
        undecided = undecided or any(has_unknown(user.props[k]) and not user.property_dependencies.get(k) for k in keys)
    if undecided:
        return
    for group in groups:
        if not stack.identifiers(group) & named:
            yield group, "nothing attaches this security group or names it in a rule: declare it only where it is used."


@RULES.resource(
    types=(FLOW_LOG,),
    name="ec2-flow-log-all-traffic",
    description="VPC flow logs capture accepted and rejected traffic.",
    controls=("EC2.6",),
    severity=Severity.MEDIUM,
    remediation="Set traffic_type='ALL'.",
)
def ec2_flow_log_all_traffic(resource: Resource, config: Config) -> Iterator[str]:
    traffic = resource.get("trafficType")
    if traffic is not UNKNOWN and traffic != "ALL":
        yield f"trafficType is {traffic!r}: set traffic_type='ALL' so rejected connections are recorded too."


@RULES.stack(
    name="ec2-every-vpc-has-flow-logs",
    description="Every VPC has a flow log.",
    controls=("EC2.6",),
    severity=Severity.MEDIUM,
    remediation="Add aws.ec2.FlowLog(vpc_id=vpc.id, traffic_type='ALL') to an encrypted log group.",
)
def ec2_every_vpc_has_flow_logs(stack: Stack, config: Config) -> Iterator[tuple[Resource | None, str]]:
    for vpc in stack.of_type(VPC):
        if stack.referrers(vpc, (FLOW_LOG,), ("vpcId",)) or stack.maybe_referrers(vpc, (FLOW_LOG,), ("vpcId",)):
            continue
        yield vpc, "no flow log for this VPC: add aws.ec2.FlowLog with traffic_type='ALL'."


@RULES.stack(
    name="ec2-vpc-interface-endpoints",
    description="Every VPC has interface endpoints for the AWS services its hosts call (`requiredServices`).",
    controls=("EC2.10", "EC2.55", "EC2.56", "EC2.57", "EC2.58", "EC2.59", "EC2.60"),
    severity=Severity.MEDIUM,
    remediation="Set cryb-db:network.interfaceEndpoints=true (and add services to the list as hosts need them).",
    config_schema={
        "requiredServices": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["secretsmanager", "kms", "logs", "monitoring", "sts"],
        }
    },
)
def ec2_vpc_interface_endpoints(stack: Stack, config: Config) -> Iterator[tuple[Resource | None, str]]:
    for vpc in stack.of_type(VPC):
        services: set[str] = set()
        for endpoint in stack.referrers(vpc, (VPC_ENDPOINT,), ("vpcId",)):
            name = endpoint.get("serviceName")
            if name is UNKNOWN:
                return
            if endpoint.get("vpcEndpointType") == "Interface" and isinstance(name, str):
                services.add(name.split(".", 3)[-1])  # com.amazonaws.<region>.<service>
        missing = [s for s in config["requiredServices"] if s not in services]
        if missing and not stack.maybe_referrers(vpc, (VPC_ENDPOINT,), ("vpcId",)):
            yield vpc, f"no interface endpoint for {missing}: add them so AWS API calls stay inside the VPC."


@RULES.resource(
    types=(VPC_ENDPOINT,),
    name="ec2-interface-endpoint-private",
    description="Interface endpoints resolve through private DNS and sit behind a security group.",
    controls=("EC2.10",),
    severity=Severity.LOW,
    remediation="Set private_dns_enabled=True and security_group_ids to the endpoints security group.",
)
def ec2_interface_endpoint_private(resource: Resource, config: Config) -> Iterator[str]:
    if resource.get("vpcEndpointType") != "Interface":
        return
    if as_bool(resource.get("privateDnsEnabled", default=False)) is False:
        yield "privateDnsEnabled is not true: SDK calls would bypass the endpoint; set private_dns_enabled=True."
    groups = as_list(resource.get("securityGroupIds"))
    if groups is not UNKNOWN and not groups:
        yield "securityGroupIds is empty (the VPC default group): attach the endpoints security group."


def _launch_template_network_interfaces(resource: Resource) -> list[Any] | None:
    found = as_list(resource.get("networkInterfaces"))
    return None if found is UNKNOWN else [n for n in found if isinstance(n, dict)]


@RULES.resource(
    types=(INSTANCE, LAUNCH_TEMPLATE),
    name="ec2-imdsv2-required",
    description="Instances and launch templates require IMDSv2 session tokens.",
    controls=("EC2.8", "EC2.170"),
    severity=Severity.HIGH,
    remediation="Set metadata_options={'http_tokens': 'required', 'http_put_response_hop_limit': 1}.",
)
def ec2_imdsv2_required(resource: Resource, config: Config) -> Iterator[str]:
    if resource.get("metadataOptions", "httpEndpoint") == "disabled":
        return  # no metadata service at all
    tokens = resource.get("metadataOptions", "httpTokens", default="optional")
    if tokens is not UNKNOWN and tokens != "required":
        yield f"metadataOptions.httpTokens is {tokens!r}: set http_tokens='required' (IMDSv2 only)."


@RULES.resource(
    types=(INSTANCE, LAUNCH_TEMPLATE),
    name="ec2-no-public-ip",
    description="Instances and launch templates never get a public IPv4 address.",
    controls=("EC2.9", "EC2.25"),
    severity=Severity.HIGH,
    remediation="Set associate_public_ip_address=False (instances) or 'false' (launch template interfaces).",
)
def ec2_no_public_ip(resource: Resource, config: Config) -> Iterator[str]:
    if as_bool(resource.get("associatePublicIpAddress")) is True:
        yield "associatePublicIpAddress is true: set it to False; hosts live in private subnets."
    for index, interface in enumerate(_launch_template_network_interfaces(resource) or []):
        if as_bool(interface.get("associatePublicIpAddress")) is True:
            yield f"networkInterfaces[{index}].associatePublicIpAddress is true: set it to 'false'."


def _unencrypted_devices(resource: Resource) -> list[str]:
    if resource.type == VOLUME:
        return ["the volume"] if as_bool(resource.get("encrypted", default=False)) is False else []
    if resource.type == INSTANCE:
        found = []
        if as_bool(resource.get("rootBlockDevice", "encrypted", default=False)) is False:
            found.append("rootBlockDevice")
        devices = as_list(resource.get("ebsBlockDevices"))
        for index, device in enumerate(devices if devices is not UNKNOWN else []):
            if isinstance(device, dict) and as_bool(device.get("encrypted", False)) is False:
                found.append(f"ebsBlockDevices[{index}]")
        return found
    mappings = as_list(resource.get("blockDeviceMappings"))
    return [
        f"blockDeviceMappings[{index}]"
        for index, mapping in enumerate(mappings if mappings is not UNKNOWN else [])
        if isinstance(mapping, dict)
        and isinstance(mapping.get("ebs"), dict)
        and as_bool(mapping["ebs"].get("encrypted", False)) is False
    ]


@RULES.resource(
    types=(INSTANCE, LAUNCH_TEMPLATE, VOLUME, EBS_ENCRYPTION_BY_DEFAULT),
    name="ec2-ebs-encrypted",
    description="EBS volumes (root, data, templates) are encrypted, and account default encryption stays on.",
    controls=("EC2.3", "EC2.7", "EC2.181"),
    severity=Severity.MEDIUM,
    remediation="Set encrypted=True (launch templates: 'true') with kms_key_id set to the `data` key ARN.",
)
def ec2_ebs_encrypted(resource: Resource, config: Config) -> Iterator[str]:
    if resource.type == EBS_ENCRYPTION_BY_DEFAULT:
        if as_bool(resource.get("enabled", default=True)) is False:
            yield "enabled is false: keep EBS encryption by default on (enabled=True)."
        return
    for device in _unencrypted_devices(resource):
        yield f"{device} is not encrypted: set encrypted=True and kms_key_id to the `data` key ARN."


@RULES.resource(
    types=(INSTANCE, LAUNCH_TEMPLATE),
    name="ec2-single-network-interface",
    description="Database hosts use one network interface, so traffic cannot bypass the security groups' tier.",
    controls=("EC2.17",),
    severity=Severity.LOW,
    remediation="Declare a single network interface per instance / launch template.",
)
def ec2_single_network_interface(resource: Resource, config: Config) -> Iterator[str]:
    interfaces = as_list(resource.get("networkInterfaces"))
    if interfaces is not UNKNOWN and len(interfaces) > 1:
        yield f"{len(interfaces)} network interfaces: use one."


@RULES.resource(
    types=(VPC_BLOCK_PUBLIC_ACCESS,),
    name="ec2-vpc-block-public-access",
    description="If VPC Block Public Access is declared, it blocks inbound internet gateway traffic.",
    controls=("EC2.172",),
    severity=Severity.MEDIUM,
    remediation="Set internet_gateway_block_mode='block-ingress' (NAT egress keeps working) or 'block-bidirectional'.",
)
def ec2_vpc_block_public_access(resource: Resource, config: Config) -> Iterator[str]:
    mode = resource.get("internetGatewayBlockMode")
    if mode is not UNKNOWN and mode not in ("block-ingress", "block-bidirectional"):
        yield f"internetGatewayBlockMode is {mode!r}: set it to 'block-ingress' or 'block-bidirectional'."
