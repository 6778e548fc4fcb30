"""Isolation properties of the network, checked on the graph the real program registers for each stack."""

import json

import pytest

from scripts.preview.mock_engine import Evaluation, RecordedResource

REQUIRED_TAGS = {"environment", "service", "owner", "data-classification"}


def subnets(evaluation: Evaluation, tier: str) -> list[RecordedResource]:
    return [s for s in evaluation.of_type("aws:ec2/subnet:Subnet") if s.inputs["tags"]["tier"] == tier]


def route_tables_of(evaluation: Evaluation, subnet: RecordedResource) -> list[RecordedResource]:
    associations = [
        a
        for a in evaluation.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
        if a.inputs["subnetId"] == subnet.id
    ]
    tables = [evaluation.by_id(a.inputs["routeTableId"]) for a in associations]
    return [t for t in tables if t is not None]


def routes_of(evaluation: Evaluation, table: RecordedResource) -> list[RecordedResource]:
    return [r for r in evaluation.of_type("aws:ec2/route:Route") if r.inputs["routeTableId"] == table.id]


def sg_id(evaluation: Evaluation, purpose: str) -> str:
    return evaluation.outputs["network"]["securityGroupIds"][purpose]


def test_data_subnets_have_no_route_to_an_internet_or_nat_gateway(each_stack: Evaluation) -> None:
    data = subnets(each_stack, "data")
    assert data
    for subnet in data:
        tables = route_tables_of(each_stack, subnet)
        assert len(tables) == 1, f"{subnet.name} must have exactly one explicit route table"
        for route in routes_of(each_stack, tables[0]):
            assert not {"gatewayId", "natGatewayId", "egressOnlyGatewayId"} & set(route.inputs), route
        assert not routes_of(each_stack, tables[0]), "the data route table keeps only the local route"


def test_app_subnets_reach_out_through_nat_only(prod: Evaluation, dev: Evaluation) -> None:
    for evaluation, distinct_nats in ((prod, 3), (dev, 1)):
        nat_ids = set()
        for subnet in subnets(evaluation, "app"):
            (table,) = route_tables_of(evaluation, subnet)
            (default,) = [r for r in routes_of(evaluation, table) if r.inputs["destinationCidrBlock"] == "0.0.0.0/0"]
            assert "gatewayId" not in default.inputs
            nat = evaluation.by_id(default.inputs["natGatewayId"])
            assert nat is not None and nat.type == "aws:ec2/natGateway:NatGateway"
            nat_ids.add(nat.id)
            if distinct_nats > 1:  # one NAT per AZ: the app subnet's NAT lives in the same AZ
                nat_subnet = evaluation.by_id(nat.inputs["subnetId"])
                assert nat_subnet is not None
                assert nat_subnet.inputs["availabilityZone"] == subnet.inputs["availabilityZone"]
        assert len(nat_ids) == distinct_nats


def test_subnets_span_the_configured_azs(prod: Evaluation, dev: Evaluation) -> None:
    for evaluation, count in ((prod, 3), (dev, 2)):
        for tier in ("public", "app", "data"):
            azs = {s.inputs["availabilityZone"] for s in subnets(evaluation, tier)}
            assert len(azs) == count, (evaluation.stack, tier, azs)


def test_no_subnet_assigns_public_ips(each_stack: Evaluation) -> None:
    for subnet in each_stack.of_type("aws:ec2/subnet:Subnet"):
        assert subnet.inputs.get("mapPublicIpOnLaunch") is False, subnet.name


def test_postgres_admits_its_port_only_from_app_pooler_and_other_shards(each_stack: Evaluation) -> None:
    port = float(json.loads(each_stack.config.get("cryb-db:postgres", "{}")).get("port", 5433))
    rules = [
        r
        for r in each_stack.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs["securityGroupId"] == sg_id(each_stack, "postgres")
    ]
    assert {r.inputs["referencedSecurityGroupId"] for r in rules} == {
        sg_id(each_stack, "app"),
        sg_id(each_stack, "pooler"),
        sg_id(each_stack, "postgres"),  # shard to shard: a bucket move's subscription (docs/sharding.md)
    }
    for rule in rules:
        assert (rule.inputs["fromPort"], rule.inputs["toPort"], rule.inputs["ipProtocol"]) == (port, port, "tcp")
        assert "cidrIpv4" not in rule.inputs and "cidrIpv6" not in rule.inputs


def test_pooler_admits_the_proxy_port_only_from_app(each_stack: Evaluation) -> None:
    rules = [
        r
        for r in each_stack.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs["securityGroupId"] == sg_id(each_stack, "pooler")
    ]
    assert [r.inputs["referencedSecurityGroupId"] for r in rules] == [sg_id(each_stack, "app")]
    assert rules[0].inputs["fromPort"] == rules[0].inputs["toPort"] == 5432.0  # RDS Proxy's fixed PostgreSQL port
    (app_to_pooler,) = [
        r
        for r in each_stack.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
        if r.inputs["securityGroupId"] == sg_id(each_stack, "app")
        and r.inputs.get("referencedSecurityGroupId") == sg_id(each_stack, "pooler")
    ]
    assert app_to_pooler.inputs["fromPort"] == 5432.0


def test_cache_admits_its_port_only_from_app(each_stack: Evaluation) -> None:
    rules = [
        r
        for r in each_stack.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs["securityGroupId"] == sg_id(each_stack, "cache")
    ]
    assert [r.inputs["referencedSecurityGroupId"] for r in rules] == [sg_id(each_stack, "app")]
    assert rules[0].inputs["fromPort"] == rules[0].inputs["toPort"] == 6379.0


def test_no_ingress_from_anywhere(each_stack: Evaluation) -> None:
    for rule in each_stack.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        assert rule.inputs.get("cidrIpv4") not in ("0.0.0.0/0",) and rule.inputs.get("cidrIpv6") != "::/0", rule.name


def test_default_security_group_and_nacl_have_no_rules(each_stack: Evaluation) -> None:
    (vpc,) = each_stack.of_type("aws:ec2/vpc:Vpc")
    (default_sg,) = each_stack.of_type("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert default_sg.inputs["vpcId"] == vpc.id
    assert default_sg.inputs.get("ingress", []) == [] and default_sg.inputs.get("egress", []) == []
    (default_nacl,) = each_stack.of_type("aws:ec2/defaultNetworkAcl:DefaultNetworkAcl")
    assert default_nacl.inputs["defaultNetworkAclId"] == f"{vpc.name}-default-nacl-id"
    assert not default_nacl.inputs.get("ingress") and not default_nacl.inputs.get("egress")


def test_every_subnet_has_an_explicit_nacl_and_none_admits_ssh_or_rdp_from_anywhere(each_stack: Evaluation) -> None:
    acls = each_stack.of_type("aws:ec2/networkAcl:NetworkAcl")
    covered = [subnet_id for acl in acls for subnet_id in acl.inputs["subnetIds"]]
    assert sorted(covered) == sorted(s.id for s in each_stack.of_type("aws:ec2/subnet:Subnet"))
    for acl in acls:
        for rule in acl.inputs["ingress"]:
            if rule["cidrBlock"] == "0.0.0.0/0":
                assert rule["protocol"] != "-1"
                assert not rule["fromPort"] <= 22 <= rule["toPort"] and not rule["fromPort"] <= 3389 <= rule["toPort"]


def test_flow_logs_capture_all_traffic_into_an_encrypted_log_group(prod: Evaluation, dev: Evaluation) -> None:
    for evaluation, minimum in ((prod, 365), (dev, 1)):
        (flow_log,) = evaluation.of_type("aws:ec2/flowLog:FlowLog")
        (vpc,) = evaluation.of_type("aws:ec2/vpc:Vpc")
        assert flow_log.inputs["trafficType"] == "ALL" and flow_log.inputs["vpcId"] == vpc.id
        group = next(g for g in evaluation.of_type("aws:cloudwatch/logGroup:LogGroup") if g.name.endswith("flow-logs"))
        assert flow_log.inputs["logDestination"].endswith(f"log-group:{group.inputs['name']}")
        assert group.inputs["kmsKeyId"] == evaluation.outputs["kmsKeyArns"]["logs"]
        assert group.inputs["retentionInDays"] >= minimum
        role = evaluation.by_id(flow_log.inputs["iamRoleArn"].rsplit("/", 1)[-1] + "-id")
        assert role is not None and "vpc-flow-logs.amazonaws.com" in role.inputs["assumeRolePolicy"]


def test_endpoints_keep_aws_traffic_inside_the_vpc(prod: Evaluation, dev: Evaluation) -> None:
    def services(evaluation: Evaluation, kind: str) -> set[str]:
        return {
            e.inputs["serviceName"].rsplit(".", 1)[-1]
            for e in evaluation.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
            if e.inputs["vpcEndpointType"] == kind
        }

    for evaluation in (prod, dev):
        assert services(evaluation, "Gateway") == {"s3"}
        (s3,) = [
            e for e in evaluation.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") if e.inputs["vpcEndpointType"] == "Gateway"
        ]
        data_tables = {t.id for s in subnets(evaluation, "data") for t in route_tables_of(evaluation, s)}
        assert data_tables <= set(s3.inputs["routeTableIds"])
    assert services(prod, "Interface") == {"secretsmanager", "kms", "logs", "monitoring", "sts", "ec2"}
    assert services(dev, "Interface") == set()
    for endpoint in prod.of_type("aws:ec2/vpcEndpoint:VpcEndpoint"):
        if endpoint.inputs["vpcEndpointType"] == "Interface":
            assert endpoint.inputs["privateDnsEnabled"] is True
            assert endpoint.inputs["securityGroupIds"] == [sg_id(prod, "endpoints")]


def test_subnet_groups_hold_only_data_subnets(each_stack: Evaluation) -> None:
    data_ids = sorted(s.id for s in subnets(each_stack, "data"))
    for type_token in ("aws:rds/subnetGroup:SubnetGroup", "aws:elasticache/subnetGroup:SubnetGroup"):
        (group,) = [g for g in each_stack.of_type(type_token) if g.parent]
        assert sorted(group.inputs["subnetIds"]) == data_ids
        assert group.inputs.get("name", group.name) != "default"


def test_kms_keys_rotate(each_stack: Evaluation) -> None:
    keys = each_stack.of_type("aws:kms/key:Key")
    assert keys
    for key in keys:
        assert key.inputs["enableKeyRotation"] is True
        assert 7 <= key.inputs["deletionWindowInDays"] <= 30
        policy = json.loads(key.inputs["policy"])
        for statement in policy["Statement"]:
            if statement["Principal"] == {"AWS": "*"}:
                assert "kms:CallerAccount" in statement["Condition"]["StringEquals"]


def test_every_taggable_resource_carries_the_required_tags(each_stack: Evaluation) -> None:
    tagged = [r for r in each_stack.resources if "tags" in r.inputs]
    assert len(tagged) > 20
    for resource in tagged:
        tags = resource.inputs["tags"]
        # Auto-scaling groups take a list of {key, value, propagateAtLaunch}.
        keys = {t["key"] for t in tags} if isinstance(tags, list) else set(tags)
        assert REQUIRED_TAGS <= keys, resource.name


@pytest.mark.parametrize("purpose", ["app", "pooler", "postgres", "cache", "endpoints"])
def test_security_groups_belong_to_the_vpc(each_stack: Evaluation, purpose: str) -> None:
    (vpc,) = each_stack.of_type("aws:ec2/vpc:Vpc")
    group = each_stack.by_id(sg_id(each_stack, purpose))
    assert group is not None and group.inputs["vpcId"] == vpc.id
