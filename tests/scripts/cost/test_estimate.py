"""The estimator on both recorded stacks: line items by hand from the table, totals, free and unknown types, the DR
region's own table."""

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scripts.cost.estimate import Estimate, estimate, estimate_evaluation, vcpus
from scripts.cost.prices import PRICES_DIR, PriceTableError, PriceTables, load_table
from scripts.cost.render import cost_section, difference, markdown
from scripts.preview.mock_engine import Evaluation

EAST = load_table("us-east-1")


@pytest.fixture(scope="module")
def prod_cost(prod: Evaluation) -> Estimate:
    return estimate_evaluation(prod)


@pytest.fixture(scope="module")
def dev_cost(dev: Evaluation) -> Estimate:
    return estimate_evaluation(dev)


def item(cost: Estimate, resource: str, what: str) -> float:
    (found,) = [i for i in cost.items if i.resource == resource and i.item.startswith(what)]
    return found.monthly_usd


def test_a_multi_az_rds_instance_is_two_instances_for_730_hours(prod_cost: Estimate) -> None:
    hourly = EAST["rds_instance_hourly"]["db.r7g.2xlarge"]
    assert hourly == 0.956
    assert item(prod_cost, "cryb-prod-pg-00", "db.r7g.2xlarge instance") == round(2 * hourly * 730, 2) == 1395.76
    # its read replica is one instance
    assert item(prod_cost, "cryb-prod-pg-00-replica-1", "db.r7g.2xlarge instance") == round(hourly * 730, 2)


def test_storage_and_iops_by_the_gb_and_iops_month(prod_cost: Estimate, dev_cost: Estimate) -> None:
    # prod: 400 GB io2 with 12,000 IOPS, Multi-AZ: both doubled
    assert item(prod_cost, "cryb-prod-pg-00", "io2 storage") == round(2 * 400 * 0.125, 2) == 100.0
    assert item(prod_cost, "cryb-prod-pg-00", "io2 provisioned IOPS") == round(2 * 12_000 * 0.10, 2) == 2400.0
    # dev: 20 GB gp3, Multi-AZ, no IOPS beyond the baseline
    assert item(dev_cost, "cryb-dev-pg-00", "gp3 storage") == round(2 * 20 * EAST["rds_storage_gb_month"]["gp3"], 2)
    assert not [i for i in dev_cost.items if i.resource == "cryb-dev-pg-00" and "IOPS" in i.item]
    # backup beyond the free share: 400 GB x 2 % x 35 days at 0.095
    assert item(prod_cost, "cryb-prod-pg-00", "backup storage") == round(400 * 0.02 * 35 * 0.095, 2)


def test_one_nat_gateway_and_the_proxy(dev_cost: Estimate, prod_cost: Estimate) -> None:
    assert item(dev_cost, "cryb-dev-nat-a", "NAT gateway") == round(730 * 0.045, 2) == 32.85
    assert item(dev_cost, "cryb-dev-nat-a", "NAT data processed") == round(100 * 0.045, 2)
    nats = [(i.component, i.region) for i in prod_cost.items if i.item == "NAT gateway"]
    assert sorted(nats) == [("cryb-prod", "us-east-1")] * 3 + [("cryb-prod-dr", "us-west-2")] * 3  # + the DR VPC's
    # RDS Proxy: the writer's 8 vCPUs at 0.015 per vCPU-hour
    assert item(prod_cost, "cryb-prod-pg-00-proxy", "RDS Proxy") == round(8 * 730 * 0.015, 2)
    assert vcpus("db.r7g.2xlarge") == 8 and vcpus("db.t4g.medium") == 2 and vcpus("db.r6gd.16xlarge") == 64


def test_the_self_hosted_nodes_and_the_cache(prod_cost: Estimate) -> None:
    analytics = [i for i in prod_cost.items if i.resource == "cryb-prod-analytics-node-a" and i.status == "priced"]
    assert {i.item for i in analytics} == {"i4i.2xlarge instance", "EBS gp3 volume"}
    assert item(prod_cost, "cryb-prod-analytics-node-a", "i4i.2xlarge") == round(
        EAST["ec2_instance_hourly"]["i4i.2xlarge"] * 730, 2
    )
    # 3 shards x (1 primary + 1 replica) cache.r7g.large Valkey nodes at 80 % of the Redis price
    expected = round(6 * 730 * round(0.219 * 0.8, 6), 2)
    assert item(prod_cost, "cryb-prod-cache-rg", "cache.r7g.large nodes") == expected


def test_totals_are_the_sums_of_the_items(prod_cost: Estimate) -> None:
    total = sum(i.monthly_usd for i in prod_cost.items)
    assert prod_cost.total == pytest.approx(total, abs=0.01)
    for grouping in (prod_cost.by_component, prod_cost.by_type, prod_cost.by_region):
        assert sum(grouping.values()) == pytest.approx(total, abs=0.05)
    assert prod_cost.by_component["cryb-prod-pg"] > prod_cost.by_component["cryb-prod-cache"] > 0
    assert prod_cost.not_estimated == []
    section = cost_section(prod_cost)
    assert json.loads(json.dumps(section))["totalMonthlyUsd"] == prod_cost.total
    assert f"**{prod_cost.total:,.2f}**" in markdown("prod", section)


def test_free_resources_are_zero_and_say_so(prod_cost: Estimate) -> None:
    groups = [i for i in prod_cost.items if i.type == "aws:ec2/securityGroup:SecurityGroup"]
    assert groups and all(i.status == "free" and i.monthly_usd == 0 and "free" in i.assumption for i in groups)
    roles = [i for i in prod_cost.items if i.type == "aws:iam/role:Role"]
    assert roles and {i.assumption for i in roles} == {"free: IAM"}


@dataclass
class Fake:
    urn: str
    type: str
    name: str
    parent: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    custom: bool = True
    provider: str | None = None


def test_an_unknown_type_is_reported_not_dropped() -> None:
    component = Fake("urn:c", "cryb:x:X", "cryb-x", custom=False)
    resources = [
        component,
        Fake("urn:a", "aws:opensearch/domain:Domain", "search", parent="urn:c"),
        Fake("urn:k", "aws:kms/key:Key", "key", parent="urn:c"),
        Fake(
            "urn:r", "aws:rds/instance:Instance", "db", inputs={"instanceClass": "db.z9.huge", "allocatedStorage": 10.0}
        ),
    ]
    cost = estimate("t", resources, "us-east-1")
    missing = {(i.resource, i.status) for i in cost.not_estimated}
    assert missing == {("search", "not estimated"), ("db", "not estimated")}
    assert "aws:opensearch/domain:Domain (search)" in cost.as_dict()["notEstimated"]
    assert cost.by_component == {"cryb-x": 1.0, "(stack)": round(10 * 0.115, 2)}


def test_the_dr_region_uses_its_own_table(prod: Evaluation, tmp_path: Path) -> None:
    for region in ("us-east-1", "us-west-2"):
        shutil.copy(PRICES_DIR / f"{region}.json", tmp_path)
    west = json.loads((tmp_path / "us-west-2.json").read_text())
    west["kms_key_month"] = 7.0
    (tmp_path / "us-west-2.json").write_text(json.dumps(west))
    cost = estimate_evaluation(prod, PriceTables(tmp_path))
    assert item(cost, "cryb-prod-dr-keys-data", "KMS key") == 7.0
    assert item(cost, "cryb-prod-keys-data", "KMS key") == 1.0
    assert cost.tables == {"us-east-1": EAST.as_of, "us-west-2": west["as_of"]}
    # the cross-region backup copy is stored in us-west-2, its transfer billed in us-east-1
    copy = [i for i in cost.items if i.resource == "cryb-prod-pg-00-backup-replication"]
    assert {(i.item, i.region) for i in copy} == {
        ("cross-region backup transfer", "us-east-1"),
        ("replicated backup storage", "us-west-2"),
    }
    (tmp_path / "us-west-2.json").unlink()
    with pytest.raises(PriceTableError, match="no price table for region 'us-west-2'"):
        estimate_evaluation(prod, PriceTables(tmp_path))


def test_the_difference_of_two_estimates(prod_cost: Estimate, dev_cost: Estimate) -> None:
    diff = difference(dev_cost, prod_cost)
    assert diff["total"]["difference"] == round(prod_cost.total - dev_cost.total, 2) > 0
    assert diff["byComponent"]["cryb-prod-pg"]["stack"] == 0.0
