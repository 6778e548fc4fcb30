"""`policies/rules/ec2.py`, EC2 and VPC: subnets, security groups, network ACLs, flow logs, endpoints, instances, launch
templates: each case's compliant input passes, each violating one is reported with what to change, and unknown values
are no violation (helpers.case_tests); its stack rules on synthetic graphs."""

from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE

from tests.policies.rules.helpers import (
    EC2_INSTANCE,
    HOST,
    KEY_ARN,
    RULES,
    TAGS,
    Case,
    Node,
    case_tests,
    changed,
    stack_violations,
)

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
TEMPLATE = {
    "imageId": "ami-0123456789abcdef0",
    "instanceType": "i4i.xlarge",
    "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1.0, "httpEndpoint": "enabled"},
    "networkInterfaces": [{"associatePublicIpAddress": "false", "deviceIndex": 0.0}],
    "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "kmsKeyId": KEY_ARN}}],
    "tags": TAGS,
}
WORLD_TCP = {
    "ruleNo": 200.0,
    "action": "allow",
    "protocol": "tcp",
    "fromPort": 0.0,
    "toPort": 65535.0,
    "cidrBlock": "0.0.0.0/0",
}
RETURN_TRAFFIC = [
    {"ruleNo": 100.0, "action": "allow", "protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlock": "10.20.0.0/16"},
    {
        "ruleNo": 200.0,
        "action": "allow",
        "protocol": "tcp",
        "fromPort": 1024.0,
        "toPort": 3388.0,
        "cidrBlock": "0.0.0.0/0",
    },
    {
        "ruleNo": 201.0,
        "action": "allow",
        "protocol": "tcp",
        "fromPort": 3390.0,
        "toPort": 65535.0,
        "cidrBlock": "0.0.0.0/0",
    },
]
VPC = "aws:ec2/vpc:Vpc"


CASES = [
    Case(
        "ec2-subnet-no-auto-public-ip",
        "aws:ec2/subnet:Subnet",
        {"vpcId": "vpc", "mapPublicIpOnLaunch": False},
        [{"vpcId": "vpc", "mapPublicIpOnLaunch": True}],
        [{"vpcId": "vpc", "mapPublicIpOnLaunch": UNKNOWN_BOOLEAN_VALUE}],
    ),
    Case(
        "ec2-default-security-group-no-rules",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        {"vpcId": "vpc", "ingress": [], "egress": []},
        [
            {"vpcId": "vpc", "ingress": [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "self": True}]},
            {
                "vpcId": "vpc",
                "egress": [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/0"]}],
            },
        ],
        [{"vpcId": "vpc", "ingress": UNKNOWN_ARRAY_VALUE, "egress": UNKNOWN_ARRAY_VALUE}],
    ),
    Case(
        "ec2-nacl-no-world-admin-ports",
        "aws:ec2/networkAcl:NetworkAcl",
        {"vpcId": "vpc", "ingress": RETURN_TRAFFIC},
        [
            {"vpcId": "vpc", "ingress": [WORLD_TCP]},
            {"vpcId": "vpc", "ingress": [changed(WORLD_TCP, protocol="-1", fromPort=0.0, toPort=0.0)]},
            {
                "vpcId": "vpc",
                "ingress": [changed(WORLD_TCP, cidrBlock=..., ipv6CidrBlock="::/0", fromPort=22.0, toPort=22.0)],
            },
        ],
        [
            {"vpcId": "vpc", "ingress": UNKNOWN_ARRAY_VALUE},
            {"vpcId": "vpc", "ingress": [changed(WORLD_TCP, fromPort=UNKNOWN_NUMBER_VALUE)]},
        ],
    ),
    Case(
        "ec2-nacl-no-world-admin-ports",
        "aws:ec2/networkAclRule:NetworkAclRule",
        {
            "networkAclId": "acl",
            "ruleNumber": 300.0,
            "egress": False,
            "protocol": "tcp",
            "ruleAction": "allow",
            "cidrBlock": "10.20.0.0/16",
            "fromPort": 22.0,
            "toPort": 22.0,
        },
        [
            {
                "networkAclId": "acl",
                "ruleNumber": 300.0,
                "egress": False,
                "protocol": "tcp",
                "ruleAction": "allow",
                "cidrBlock": "0.0.0.0/0",
                "fromPort": 3389.0,
                "toPort": 3389.0,
            }
        ],
        [
            {
                "networkAclId": "acl",
                "ruleNumber": 300.0,
                "egress": False,
                "protocol": "tcp",
                "ruleAction": "allow",
                "cidrBlock": UNKNOWN_STRING_VALUE,
                "fromPort": 22.0,
                "toPort": 22.0,
            }
        ],
    ),
    Case(
        "ec2-flow-log-all-traffic",
        "aws:ec2/flowLog:FlowLog",
        {"vpcId": "vpc", "trafficType": "ALL"},
        [{"vpcId": "vpc", "trafficType": "REJECT"}],
        [{"vpcId": "vpc", "trafficType": UNKNOWN_STRING_VALUE}],
    ),
    Case(
        "ec2-interface-endpoint-private",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        {
            "vpcId": "vpc",
            "vpcEndpointType": "Interface",
            "serviceName": "com.amazonaws.us-east-1.kms",
            "privateDnsEnabled": True,
            "securityGroupIds": ["sg-endpoints"],
        },
        [
            {
                "vpcId": "vpc",
                "vpcEndpointType": "Interface",
                "serviceName": "com.amazonaws.us-east-1.kms",
                "securityGroupIds": ["sg-endpoints"],
            },
            {"vpcId": "vpc", "vpcEndpointType": "Interface", "privateDnsEnabled": True, "securityGroupIds": []},
        ],
        [
            {
                "vpcId": "vpc",
                "vpcEndpointType": "Interface",
                "privateDnsEnabled": UNKNOWN_BOOLEAN_VALUE,
                "securityGroupIds": UNKNOWN_ARRAY_VALUE,
            }
        ],
    ),
    Case(
        "ec2-imdsv2-required",
        LAUNCH_TEMPLATE,
        TEMPLATE,
        [changed(TEMPLATE, metadataOptions=...), changed(TEMPLATE, metadataOptions={"httpTokens": "optional"})],
        [changed(TEMPLATE, metadataOptions={"httpTokens": UNKNOWN_STRING_VALUE})],
    ),
    Case("ec2-imdsv2-required", EC2_INSTANCE, HOST, [changed(HOST, metadataOptions=...)]),
    Case(
        "ec2-no-public-ip",
        LAUNCH_TEMPLATE,
        TEMPLATE,
        [changed(TEMPLATE, networkInterfaces=[{"associatePublicIpAddress": "true", "deviceIndex": 0.0}])],
        [changed(TEMPLATE, networkInterfaces=[{"associatePublicIpAddress": UNKNOWN_STRING_VALUE}])],
    ),
    Case(
        "ec2-no-public-ip",
        EC2_INSTANCE,
        HOST,
        [changed(HOST, associatePublicIpAddress=True)],
        [changed(HOST, associatePublicIpAddress=UNKNOWN_BOOLEAN_VALUE)],
    ),
    Case(
        "ec2-ebs-encrypted",
        LAUNCH_TEMPLATE,
        TEMPLATE,
        [
            changed(TEMPLATE, blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false"}}]),
            changed(TEMPLATE, blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"volumeSize": 100.0}}]),
        ],
        [changed(TEMPLATE, blockDeviceMappings=UNKNOWN_ARRAY_VALUE)],
    ),
    Case(
        "ec2-ebs-encrypted",
        EC2_INSTANCE,
        HOST,
        [changed(HOST, rootBlockDevice=...), changed(HOST, ebsBlockDevices=[{"deviceName": "/dev/sdf"}])],
        [changed(HOST, rootBlockDevice={"encrypted": UNKNOWN_BOOLEAN_VALUE}, ebsBlockDevices=UNKNOWN_ARRAY_VALUE)],
    ),
    Case(
        "ec2-ebs-encrypted",
        "aws:ebs/volume:Volume",
        {"availabilityZone": "us-east-1a", "encrypted": True},
        [{"availabilityZone": "us-east-1a"}],
        [{"availabilityZone": "us-east-1a", "encrypted": UNKNOWN_BOOLEAN_VALUE}],
    ),
    Case(
        "ec2-ebs-encrypted",
        "aws:ebs/encryptionByDefault:EncryptionByDefault",
        {"enabled": True},
        [{"enabled": False}],
        [{"enabled": UNKNOWN_BOOLEAN_VALUE}],
    ),
    Case(
        "ec2-single-network-interface",
        LAUNCH_TEMPLATE,
        TEMPLATE,
        [changed(TEMPLATE, networkInterfaces=[{"deviceIndex": 0.0}, {"deviceIndex": 1.0}])],
        [changed(TEMPLATE, networkInterfaces=UNKNOWN_ARRAY_VALUE)],
    ),
    Case(
        "ec2-vpc-block-public-access",
        "aws:ec2/vpcBlockPublicAccessOptions:VpcBlockPublicAccessOptions",
        {"internetGatewayBlockMode": "block-ingress"},
        [{"internetGatewayBlockMode": "off"}],
        [{"internetGatewayBlockMode": UNKNOWN_STRING_VALUE}],
    ),
]

(
    test_compliant_input_passes,
    test_violating_input_is_reported_with_what_to_change,
    test_unknown_values_are_not_violations,
    test_unknowns_recorded_offline_are_not_violations,
) = case_tests(CASES)


def test_every_vpc_has_flow_logs() -> None:
    rule = RULES["ec2-every-vpc-has-flow-logs"]
    vpc = Node(VPC, "vpc", {"cidrBlock": "10.20.0.0/16", "id": "vpc-1"})
    flow_log = Node("aws:ec2/flowLog:FlowLog", "fl", {"vpcId": "vpc-1", "trafficType": "ALL"})
    assert stack_violations(rule, [vpc, flow_log]) == []
    assert [n for n, _ in stack_violations(rule, [vpc])] == ["vpc"]
    assert stack_violations(rule, [vpc, Node("aws:ec2/flowLog:FlowLog", "fl", {"vpcId": UNKNOWN_STRING_VALUE})]) == []


def test_vpc_interface_endpoints() -> None:
    rule = RULES["ec2-vpc-interface-endpoints"]
    vpc = Node(VPC, "vpc", {"cidrBlock": "10.20.0.0/16", "id": "vpc-1"})

    def endpoint(service: str, kind: str = "Interface") -> Node:
        props = {"vpcId": "vpc-1", "serviceName": f"com.amazonaws.us-east-1.{service}", "vpcEndpointType": kind}
        return Node("aws:ec2/vpcEndpoint:VpcEndpoint", service, props)

    services = ["secretsmanager", "kms", "logs", "monitoring", "sts"]
    assert stack_violations(rule, [vpc, *(endpoint(s) for s in services)]) == []
    found = stack_violations(rule, [vpc, endpoint("s3", "Gateway"), *(endpoint(s) for s in services[:3])])
    assert [n for n, _ in found] == ["vpc"] and "'monitoring', 'sts'" in found[0][1]
    assert stack_violations(rule, [vpc, endpoint("ssm")], {"requiredServices": ["ssm"]}) == []
    assert (
        stack_violations(
            rule,
            [
                vpc,
                Node("aws:ec2/vpcEndpoint:VpcEndpoint", "e", {"vpcId": "vpc-1", "serviceName": UNKNOWN_STRING_VALUE}),
            ],
        )
        == []
    )


def test_network_acl_in_use() -> None:
    rule = RULES["ec2-network-acl-in-use"]
    acl = Node("aws:ec2/networkAcl:NetworkAcl", "acl", {"vpcId": "vpc", "id": "acl-1"})
    assert [n for n, _ in stack_violations(rule, [acl])] == ["acl"]
    assert stack_violations(rule, [Node(acl.type, "acl", {"vpcId": "vpc", "subnetIds": ["s-1"]})]) == []
    association = Node(
        "aws:ec2/networkAclAssociation:NetworkAclAssociation", "a", {"networkAclId": "acl-1", "subnetId": "s-1"}
    )
    assert stack_violations(rule, [acl, association]) == []
    assert stack_violations(rule, [Node(acl.type, "acl", {"vpcId": "vpc", "subnetIds": UNKNOWN_ARRAY_VALUE})]) == []


def test_security_group_in_use() -> None:
    rule = RULES["ec2-security-group-in-use"]
    ingress = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    group = Node("aws:ec2/securityGroup:SecurityGroup", "endpoints", {"vpcId": "vpc-1", "id": "sg-1"})
    peer = Node("aws:ec2/securityGroup:SecurityGroup", "app", {"vpcId": "vpc-1", "id": "sg-2"})
    own_rule = Node(ingress, "own", {"securityGroupId": "sg-1", "cidrIpv4": "10.0.0.0/16", "fromPort": 443.0})
    # A group that only carries its own rules is used by nothing.
    assert [n for n, _ in stack_violations(rule, [group, own_rule])] == ["endpoints"]
    # Attached to an endpoint: used.
    endpoint = Node("aws:ec2/vpcEndpoint:VpcEndpoint", "kms", {"vpcId": "vpc-1", "securityGroupIds": ["sg-1"]})
    assert stack_violations(rule, [group, own_rule, endpoint]) == []
    # Named as the peer of another group's rule: used (the `app` group applications attach).
    peer_rule = Node(ingress, "from-app", {"securityGroupId": "sg-1", "referencedSecurityGroupId": "sg-2"})
    assert [n for n, _ in stack_violations(rule, [group, peer, peer_rule])] == ["endpoints"]
    # Known only through the engine's recorded dependencies: used.
    attached = Node("aws:ec2/vpcEndpoint:VpcEndpoint", "sts", {"securityGroupIds": [UNKNOWN_STRING_VALUE]})
    attached.depends = {"securityGroupIds": ["endpoints"]}
    assert stack_violations(rule, [group, attached]) == []
    # Still unknown with no recorded dependency: undecided, not a violation.
    unknown = Node("aws:ec2/vpcEndpoint:VpcEndpoint", "logs", {"securityGroupIds": [UNKNOWN_STRING_VALUE]})
    assert stack_violations(rule, [group, unknown]) == []
