"""components/cache/global_datastore.py: which node types and regions ElastiCache Global Datastore takes (AWS's
prerequisites page, written out by hand here)."""

import pytest

from components.cache.global_datastore import node_type_problem, region_problem


@pytest.mark.parametrize(
    "node_type",
    ["cache.r7g.large", "cache.r6gd.xlarge", "cache.m5.24xlarge", "cache.c7gn.large", "cache.m7g.16xlarge"],
)
def test_supported_families_from_large_up(node_type: str) -> None:
    assert node_type_problem(node_type) is None


@pytest.mark.parametrize(
    "node_type",
    ["cache.t4g.small", "cache.t3.medium", "cache.r7g.medium", "cache.m4.large", "cache.r4.large", "cache.c5.large"],
)
def test_burstable_small_and_previous_generation_nodes_are_refused(node_type: str) -> None:
    problem = node_type_problem(node_type)
    assert problem is not None and "size large or above" in problem


def test_regions() -> None:
    assert region_problem("us-east-1") is None and region_problem("us-west-2") is None
    assert region_problem("eu-central-1") is None
    problem = region_problem("xx-nowhere-1")
    assert problem is not None and "us-west-2" in problem
