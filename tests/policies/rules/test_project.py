"""`policies/rules/project.py`, the project rules: each case's compliant input passes, each violating one is reported
with what to change, and unknown values are no violation (helpers.case_tests); its stack rules on synthetic graphs."""

from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_STRING_VALUE

from tests.policies.rules.helpers import (
    EC2_INSTANCE,
    HOST,
    PG_PARAMETERS,
    RULES,
    TAGS,
    Case,
    Node,
    case_tests,
    changed,
    stack_violations,
)

SUBNET = "aws:ec2/subnet:Subnet"


def network(nat_on_data: bool = False) -> list[Node]:
    def subnet(name: str, tier: str) -> Node:
        return Node(SUBNET, name, {"vpcId": "vpc-1", "id": f"{name}-id", "tags": {**TAGS, "tier": tier}})

    nodes = [
        subnet("app-a", "app"),
        subnet("data-a", "data"),
        subnet("data-b", "data"),
        Node("aws:ec2/internetGateway:InternetGateway", "igw", {"vpcId": "vpc-1", "id": "igw-1"}),
        Node("aws:ec2/natGateway:NatGateway", "nat", {"subnetId": "public-a-id", "id": "nat-1"}),
        Node("aws:ec2/routeTable:RouteTable", "data-rt", {"vpcId": "vpc-1", "id": "data-rt-id"}),
        Node("aws:ec2/routeTable:RouteTable", "app-rt", {"vpcId": "vpc-1", "id": "app-rt-id"}),
        Node(
            "aws:ec2/route:Route",
            "app-default",
            {"routeTableId": "app-rt-id", "destinationCidrBlock": "0.0.0.0/0", "natGatewayId": "nat-1"},
        ),
        Node(
            "aws:ec2/routeTableAssociation:RouteTableAssociation",
            "data-a-rta",
            {"subnetId": "data-a-id", "routeTableId": "data-rt-id"},
        ),
        Node(
            "aws:ec2/routeTableAssociation:RouteTableAssociation",
            "data-b-rta",
            {"subnetId": "data-b-id", "routeTableId": "data-rt-id"},
        ),
        Node(
            "aws:ec2/routeTableAssociation:RouteTableAssociation",
            "app-a-rta",
            {"subnetId": "app-a-id", "routeTableId": "app-rt-id"},
        ),
        Node("aws:rds/subnetGroup:SubnetGroup", "db", {"subnetIds": ["data-a-id", "data-b-id"]}),
        Node("aws:elasticache/subnetGroup:SubnetGroup", "cache", {"subnetIds": ["data-a-id", "data-b-id"]}),
    ]
    if nat_on_data:
        nodes.append(
            Node(
                "aws:ec2/route:Route",
                "data-default",
                {
                    "routeTableId": UNKNOWN_STRING_VALUE,
                    "destinationCidrBlock": "0.0.0.0/0",
                    "natGatewayId": UNKNOWN_STRING_VALUE,
                },
                depends={"routeTableId": ["data-rt"], "natGatewayId": ["nat"]},
            )
        )
    return nodes


CASES = [
    Case(
        "no-world-ingress",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        {
            "securityGroupId": "sg",
            "ipProtocol": "tcp",
            "fromPort": 5433.0,
            "toPort": 5433.0,
            "referencedSecurityGroupId": "sg-app",
        },
        [
            {"securityGroupId": "sg", "ipProtocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrIpv4": "0.0.0.0/0"},
            {"securityGroupId": "sg", "ipProtocol": "-1", "cidrIpv6": "::/0"},
        ],
        [
            {
                "securityGroupId": "sg",
                "ipProtocol": "tcp",
                "fromPort": 443.0,
                "toPort": 443.0,
                "cidrIpv4": UNKNOWN_STRING_VALUE,
            }
        ],
    ),
    Case(
        "no-world-ingress",
        "aws:ec2/securityGroup:SecurityGroup",
        {
            "vpcId": "vpc",
            "ingress": [{"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["10.20.0.0/16"]}],
            "egress": [{"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["0.0.0.0/0"]}],
        },
        [
            {
                "vpcId": "vpc",
                "ingress": [
                    {"protocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrBlocks": ["10.20.0.0/16", "0.0.0.0/0"]}
                ],
            }
        ],
        [
            {"vpcId": "vpc", "ingress": UNKNOWN_ARRAY_VALUE},
            {
                "vpcId": "vpc",
                "ingress": [
                    {"protocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrBlocks": [UNKNOWN_STRING_VALUE]}
                ],
            },
        ],
    ),
    Case(
        "no-world-ingress",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        {
            "type": "egress",
            "securityGroupId": "sg",
            "protocol": "tcp",
            "fromPort": 443.0,
            "toPort": 443.0,
            "cidrBlocks": ["0.0.0.0/0"],
        },
        [
            {
                "type": "ingress",
                "securityGroupId": "sg",
                "protocol": "tcp",
                "fromPort": 443.0,
                "toPort": 443.0,
                "cidrBlocks": ["0.0.0.0/0"],
            }
        ],
    ),
    Case(
        "timescaledb-self-hosted-only",
        "aws:rds/parameterGroup:ParameterGroup",
        changed(
            PG_PARAMETERS, parameters=[{"name": "shared_preload_libraries", "value": "pg_stat_statements,pg_cron"}]
        ),
        [
            changed(
                PG_PARAMETERS,
                parameters=[{"name": "shared_preload_libraries", "value": "pg_stat_statements,timescaledb"}],
            )
        ],
        [
            changed(PG_PARAMETERS, parameters=[{"name": "shared_preload_libraries", "value": UNKNOWN_STRING_VALUE}]),
            changed(PG_PARAMETERS, parameters=UNKNOWN_ARRAY_VALUE),
        ],
    ),
]

(
    test_compliant_input_passes,
    test_violating_input_is_reported_with_what_to_change,
    test_unknown_values_are_not_violations,
    test_unknowns_recorded_offline_are_not_violations,
) = case_tests(CASES)


def test_data_stores_in_data_subnets() -> None:
    rule = RULES["data-stores-in-data-subnets"]
    assert stack_violations(rule, network()) == []
    nat = stack_violations(rule, network(nat_on_data=True))
    assert sorted(n for n, _ in nat) == ["data-a", "data-b"] and "NAT gateway" in nat[0][1]
    igw_route = Node(
        "aws:ec2/route:Route",
        "data-igw",
        {"routeTableId": "data-rt-id", "gatewayId": "igw-1", "destinationCidrBlock": "0.0.0.0/0"},
    )
    assert "internet gateway" in stack_violations(rule, [*network(), igw_route])[0][1]
    mixed = [
        *network()[:-1],
        Node("aws:elasticache/subnetGroup:SubnetGroup", "cache", {"subnetIds": ["data-a-id", "app-a-id"]}),
    ]
    assert [(n, "app-a" in m) for n, m in stack_violations(rule, mixed)] == [("cache", True)]
    foreign = [
        *network()[:-1],
        Node("aws:elasticache/subnetGroup:SubnetGroup", "cache", {"subnetIds": ["subnet-0abc"]}),
    ]
    assert [n for n, _ in stack_violations(rule, foreign)] == ["cache"]
    tagged_host = Node(EC2_INSTANCE, "pg-node", changed(HOST, subnetId="app-a-id", tags={**TAGS, "tier": "data"}))
    untagged_host = Node(EC2_INSTANCE, "bastion", changed(HOST, subnetId="app-a-id"))
    assert [n for n, _ in stack_violations(rule, [*network(), tagged_host, untagged_host])] == ["pg-node"]
    unknown = [
        *network()[:-1],
        Node("aws:elasticache/subnetGroup:SubnetGroup", "cache", {"subnetIds": UNKNOWN_ARRAY_VALUE}),
    ]
    assert stack_violations(rule, unknown) == []
