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


# -- dr.cacheGlobalDatastore: allowed only where ElastiCache Global Datastore is ----------------------------------

GDS = DrConfig.model_validate({"cacheGlobalDatastore": True})


def test_global_datastore_is_off_by_default_and_allowed_with_a_supported_cache() -> None:
    assert DrConfig().cache_global_datastore is False
    assert check(GDS) == []  # prod's cache: elasticache, cache.r7g.large, us-west-2
    assert check(GDS, cache_node_type="cache.m6g.2xlarge", dr_region="eu-west-1") == []


def test_global_datastore_needs_the_standby() -> None:
    assert check(GDS, environment="dev", dr_region=None) == [  # pyright: ignore[reportArgumentType]
        "cryb-db:dr.cacheGlobalDatastore = True: needs the warm standby (cryb-db:dr.standby with "
        "cryb-db:backups.drRegion): its secondary lives there"
    ]


def test_global_datastore_is_refused_for_the_self_hosted_cache() -> None:
    (problem,) = check(GDS, cache_engine="ec2")
    assert problem.startswith("cryb-db:dr.cacheGlobalDatastore = True with cryb-db:cache.engine = 'ec2':")
    assert "rebuilt empty in the DR region" in problem and "use cache.engine elasticache" in problem


@pytest.mark.parametrize("node_type", ["cache.t4g.small", "cache.r7g.medium", "cache.m4.large", "cache.r4.xlarge"])
def test_global_datastore_is_refused_for_unsupported_node_types(node_type: str) -> None:
    assert check(GDS, cache_node_type=node_type) == [
        f"cryb-db:dr.cacheGlobalDatastore = True with cryb-db:cache.nodeType = {node_type!r}: Global Datastore "
        "needs a node of size large or above of the families m5, m6g, m7g, r5, r6g, r6gd, r7g, c7gn "
        "(e.g. cache.r7g.large)"
    ]


def test_global_datastore_is_refused_in_a_region_without_it() -> None:
    (problem,) = check(GDS, dr_region="ap-northeast-9")
    assert problem.startswith("cryb-db:dr.cacheGlobalDatastore = True with cryb-db:backups.drRegion = 'ap-northeast-9'")


def test_global_datastore_config_error_from_the_stack_file() -> None:
    """The whole stack config: a dev cache (burstable nodes) with the standby and the switch on."""
    found = problems_of(
        backups={"drRegion": "us-west-2"},
        dr={"standby": True, "cacheGlobalDatastore": True},
        cache={"nodeType": "cache.t4g.small"},
    )
    assert any(
        p.startswith("cryb-db:dr.cacheGlobalDatastore = True with cryb-db:cache.nodeType = 'cache.t4g.small'")
        for p in found
    ), found
