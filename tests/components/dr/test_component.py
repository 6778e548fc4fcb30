"""The warm standby on the recorded prod graph: the DR network, a cross-Region replica per shard with its alarms, the
`dr` outputs; dev has none unless asked, and asking for one there declares the same."""

from pathlib import Path

import pytest

from components.dr.plan import STANDBY_ALARM_KEYS
from components.postgres.tuning import family
from scripts.preview.mock_engine import Evaluation, RecordedResource
from tests.helpers import evaluate_with

INSTANCE = "aws:rds/instance:Instance"
DR_REGION = "us-west-2"


def region_of(evaluation: Evaluation, resource: RecordedResource) -> str:
    """The region a resource is declared in: its provider's (the mock engine records which)."""
    if resource.provider is None:
        return evaluation.config["aws:region"]
    provider = evaluation.named(resource.provider.split("::")[-2])
    return provider.inputs["region"]


def standbys(evaluation: Evaluation) -> list[RecordedResource]:
    return [r for r in evaluation.of_type(INSTANCE) if r.inputs.get("tags", {}).get("role") == "standby"]


def test_every_prod_shard_has_a_standby_in_the_dr_region(prod: Evaluation) -> None:
    writers = [r for r in prod.of_type(INSTANCE) if r.inputs["tags"].get("role") == "writer"]
    found = standbys(prod)
    assert len(writers) == 4
    assert sorted(s.inputs["replicateSourceDb"] for s in found) == sorted(
        f"arn:aws:rds:us-east-1:123456789012:db:{w.inputs['identifier']}" for w in writers
    )
    for standby in found:
        inputs = standby.inputs
        assert region_of(prod, standby) == DR_REGION
        assert inputs["storageEncrypted"] is True
        assert inputs["kmsKeyId"].startswith(f"arn:aws:kms:{DR_REGION}:")
        assert inputs["performanceInsightsEnabled"] is True
        assert inputs["performanceInsightsKmsKeyId"] == inputs["kmsKeyId"]
        assert inputs["monitoringInterval"] == 15 and inputs["monitoringRoleArn"]
        assert inputs["deletionProtection"] is True and inputs["publiclyAccessible"] is False
        assert inputs["instanceClass"] == "db.r7g.2xlarge" and "engineVersion" not in inputs
        assert inputs["dbSubnetGroupName"] == "cryb-prod-dr-db"
        assert inputs["vpcSecurityGroupIds"] == ["cryb-prod-dr-postgres-sg-id"]
    # Each standby patches in a window of its own, placed with every other one (none overlapping).
    windows = [r.inputs["maintenanceWindow"] for r in prod.of_type(INSTANCE)]
    assert len(set(windows)) == len(windows) == 12


def test_the_standbys_parameter_group_has_the_shards_family_and_values(prod: Evaluation) -> None:
    (primary,) = [g for g in prod.of_type("aws:rds/parameterGroup:ParameterGroup") if g.name == "cryb-prod-pg-params"]
    standby_group = prod.named("cryb-prod-pg-dr-params")
    assert region_of(prod, standby_group) == DR_REGION
    assert standby_group.inputs["family"] == primary.inputs["family"] == family("17")
    assert standby_group.inputs["parameters"] == primary.inputs["parameters"]
    assert {s.inputs["parameterGroupName"] for s in standbys(prod)} == {"cryb-prod-pg-dr-params"}


def test_each_standby_alarms_on_its_lag_to_the_dr_regions_topics(prod: Evaluation) -> None:
    alarms = {a.inputs["name"]: a for a in prod.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    topics = {t.name: t for t in prod.of_type("aws:sns/topic:Topic")}
    assert region_of(prod, topics["cryb-prod-dr-alerts-warning"]) == DR_REGION
    for standby in standbys(prod):
        ident = standby.inputs["identifier"]
        lag = alarms[f"{ident}-replica-lag"]
        assert region_of(prod, lag) == DR_REGION
        assert (lag.inputs["metricName"], lag.inputs["dimensions"]) == ("ReplicaLag", {"DBInstanceIdentifier": ident})
        assert lag.inputs["threshold"] == 60 and lag.inputs["treatMissingData"] == "breaching"
        assert lag.inputs["alarmActions"] == [f"arn:aws:sns:{DR_REGION}:123456789012:cryb-prod-dr-alerts-warning"]
        assert {k for k in STANDBY_ALARM_KEYS if f"{ident}-{k}" in alarms} == set(STANDBY_ALARM_KEYS)
        composite = prod.named(f"{ident}-unhealthy")
        assert composite.inputs["alarmActions"] == [
            f"arn:aws:sns:{DR_REGION}:123456789012:cryb-prod-dr-alerts-critical"
        ]
        assert f'ALARM("{ident}-replica-lag")' in composite.inputs["alarmRule"]


def test_the_dr_network_is_the_primarys_layout_in_its_own_cidr(prod: Evaluation) -> None:
    vpcs = {v.name: v for v in prod.of_type("aws:ec2/vpc:Vpc")}
    assert vpcs["cryb-prod-dr-vpc"].inputs["cidrBlock"] == "10.21.0.0/16"
    assert region_of(prod, vpcs["cryb-prod-dr-vpc"]) == DR_REGION
    subnets = [s for s in prod.of_type("aws:ec2/subnet:Subnet") if s.name.startswith("cryb-prod-dr-")]
    assert sorted(s.inputs["availabilityZone"] for s in subnets if s.inputs["tags"]["tier"] == "data") == [
        f"{DR_REGION}{z}" for z in "abc"
    ]
    assert not any(s.inputs["mapPublicIpOnLaunch"] for s in subnets)
    primary_types = sorted(r.type for r in prod.resources if r.parent and r.parent.endswith("::cryb-prod"))
    dr_types = sorted(r.type for r in prod.resources if r.parent and r.parent.endswith("::cryb-prod-dr"))
    assert dr_types == primary_types  # same layout: subnets, routes, NACLs, groups, endpoints, flow logs
    data_route_table = prod.named("cryb-prod-dr-data-rt")
    assert not [r for r in prod.of_type("aws:ec2/route:Route") if r.inputs["routeTableId"] == data_route_table.id]


def test_the_dr_outputs_name_each_standby_and_its_alarm(prod: Evaluation) -> None:
    dr = prod.outputs["dr"]
    assert dr["region"] == DR_REGION and dr["network"]["vpcCidr"] == "10.21.0.0/16"
    by_id = {s["id"]: s for s in dr["shards"]}
    assert sorted(by_id) == [s["id"] for s in prod.outputs["postgres"]["shards"]]
    for shard in prod.outputs["postgres"]["shards"]:
        entry = by_id[shard["id"]]
        assert entry["source"] == shard["name"] and entry["region"] == DR_REGION
        assert f".{DR_REGION}.rds." in entry["standbyEndpoint"] and entry["port"] == shard["port"]
        assert prod.named(entry["lagAlarmName"]).inputs["metricName"] == "ReplicaLag"


def test_dev_has_no_standby_unless_asked(dev: Evaluation, tmp_path: Path) -> None:
    assert dev.outputs["dr"] is None and standbys(dev) == []
    asked = evaluate_with(
        tmp_path, "dev", {"cryb-db:backups": {"drRegion": "us-west-2"}, "cryb-db:dr": {"standby": True}}
    )
    assert [s.inputs["identifier"] for s in standbys(asked)] == ["cryb-dev-pg-dr-00"]
    assert asked.outputs["dr"]["shards"][0]["standbyEndpoint"].startswith("cryb-dev-pg-dr-00.")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"cryb-db:dr": {"cidr": "10.20.0.0/17"}}, "cryb-db:dr.cidr = '10.20.0.0/17': overlaps cryb-db:network.cidr"),
        ({"cryb-db:dr": {"standby": False}}, "cryb-db:dr.standby = False: must be true (or unset) in prod"),
    ],
)
def test_prod_refuses_a_broken_standby_before_any_resource(tmp_path: Path, overrides: dict, expected: str) -> None:
    from components.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        evaluate_with(tmp_path, "prod", overrides)
    assert any(p.startswith(expected) for p in caught.value.problems)
