"""`cryb-db:dr`: the warm standby's config rules, each problem naming its key, before any resource exists."""

import json

import pytest

from components.config import ConfigError, parse_stack_config
from components.config.dr import DrConfig, dr_problems


def problems_of(**sections: object) -> list[str]:
    raw = {"cryb-db:environment": "dev"}
    raw.update({f"cryb-db:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in sections.items()})
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw)
    return caught.value.problems


def check(dr: DrConfig, **overrides: str) -> list[str]:
    arguments = {
        "environment": "prod",
        "dr_region": "us-west-2",
        "primary_cidr": "10.20.0.0/16",
        "engine": "rds",
        "topology": "instance",
        **overrides,
    }
    return dr_problems(dr, **arguments)  # pyright: ignore[reportArgumentType]


def test_standby_is_on_in_prod_and_off_elsewhere_unless_set() -> None:
    assert DrConfig().enabled_for("prod") and not DrConfig().enabled_for("dev")
    assert DrConfig(standby=True).enabled_for("dev")
    assert check(DrConfig()) == []


def test_prod_may_not_switch_the_standby_off() -> None:
    assert check(DrConfig(standby=False)) == [
        "cryb-db:dr.standby = False: must be true (or unset) in prod: a region loss needs a warm standby"
    ]
    assert check(DrConfig(standby=False), environment="dev") == []


def test_overlapping_cidrs_are_refused_naming_both_keys() -> None:
    (problem,) = check(DrConfig(cidr="10.20.128.0/17"))
    assert problem.startswith("cryb-db:dr.cidr = '10.20.128.0/17': overlaps cryb-db:network.cidr ('10.20.0.0/16')")
    assert check(DrConfig(cidr="10.21.0.0/16")) == []


def test_a_multi_az_db_cluster_cannot_have_a_standby() -> None:
    (problem,) = check(DrConfig(), topology="cluster")
    assert "cryb-db:postgres.topology = 'cluster'" in problem and "cross-Region read replica" in problem
    assert check(DrConfig(), topology="cluster", engine="ec2") == []


def test_the_standby_needs_a_dr_region() -> None:
    (problem,) = check(DrConfig(standby=True), environment="dev", dr_region=None)  # pyright: ignore[reportArgumentType]
    assert problem == "cryb-db:dr.standby = True: needs cryb-db:backups.drRegion (the region of the standby)"


def test_the_stack_config_reports_dr_problems_with_the_others() -> None:
    found = problems_of(
        dr={"standby": True, "cidr": "10.30.0.0/16"},
        network={"cidr": "10.30.0.0/16", "azCount": 2, "natGateways": "single", "interfaceEndpoints": False},
    )
    assert any(p.startswith("cryb-db:dr.cidr = '10.30.0.0/16': overlaps cryb-db:network.cidr") for p in found)
    assert any("needs cryb-db:backups.drRegion" in p for p in found)


def test_a_public_or_oversized_cidr_is_refused_like_the_primarys() -> None:
    (problem,) = problems_of(dr={"cidr": "8.8.0.0/16"})
    assert problem.startswith("cryb-db:dr.cidr = '8.8.0.0/16': must be a private (RFC 1918) range")
    (problem,) = problems_of(dr={"lagAlarmSeconds": 1})
    assert problem.startswith("cryb-db:dr.lagAlarmSeconds = 1:")
