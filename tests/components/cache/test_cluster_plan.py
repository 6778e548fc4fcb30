"""The self-hosted cluster layout: slots cover the keyspace, replicas never share their master's AZ."""

import pytest

from components.cache.cluster_plan import CLUSTER_SLOTS, LayoutError, node_address, plan_cluster, slot_ranges

AZS3 = ("us-east-1a", "us-east-1b", "us-east-1c")


@pytest.mark.parametrize("masters", [1, 2, 3, 5, 7, 16, 90])
def test_slot_ranges_cover_every_slot_once_and_are_balanced(masters: int) -> None:
    ranges = slot_ranges(masters)
    covered = [slot for start, end in ranges for slot in range(start, end + 1)]
    assert covered == list(range(CLUSTER_SLOTS))
    sizes = [end - start + 1 for start, end in ranges]
    assert max(sizes) - min(sizes) <= 1


def test_prod_layout_three_masters_one_replica_each_in_another_az() -> None:
    plan = plan_cluster(3, 1, AZS3)
    assert [n.role for n in plan.nodes] == ["master"] * 3 + ["replica"] * 3
    assert sorted(m.az for m in plan.masters) == list(AZS3)
    for replica in plan.replicas:
        master = plan.nodes[replica.master or 0]
        assert master.role == "master" and replica.az != master.az
    assert [len(plan.replicas_of(m.index)) for m in plan.masters] == [1, 1, 1]
    assert [m.slots for m in plan.masters] == [(0, 5461), (5462, 10922), (10923, 16383)]
    assert plan.az_loss_problems() == []
    assert [n.name for n in plan.nodes] == [
        "s0-master",
        "s1-master",
        "s2-master",
        "s0-replica1",
        "s1-replica1",
        "s2-replica1",
    ]


def test_more_replicas_than_other_azs_still_avoid_the_masters_az() -> None:
    plan = plan_cluster(4, 3, AZS3)
    for replica in plan.replicas:
        assert replica.az != plan.nodes[replica.master or 0].az
    assert len(plan.nodes) == 16


def test_bootstrap_meets_everyone_assigns_slots_then_replicates() -> None:
    plan = plan_cluster(3, 1, AZS3)
    steps = plan.bootstrap_steps()
    kinds = [s.kind for s in steps]
    assert kinds == ["meet"] * 5 + ["addslots"] * 3 + ["wait-known"] + ["replicate"] * 3 + ["wait-ok"]
    assert {s.target for s in steps if s.kind == "meet"} == {1, 2, 3, 4, 5}
    assert [(s.node, s.target) for s in steps if s.kind == "replicate"] == [(3, 0), (4, 1), (5, 2)]


@pytest.mark.parametrize(
    ("shards", "replicas", "azs", "message"),
    [
        (3, 1, ("us-east-1a",), "another AZ than its master"),
        (0, 1, AZS3, "shards = 0"),
        (3, -1, AZS3, "replicas per shard = -1"),
        (3, 1, ("a", "a"), "must be distinct"),
        (3, 1, (), "no availability zones"),
        (CLUSTER_SLOTS + 1, 0, AZS3, "must be 1-16384"),
    ],
)
def test_impossible_layouts_are_rejected_with_the_reason(
    shards: int, replicas: int, azs: tuple[str, ...], message: str
) -> None:
    with pytest.raises(LayoutError, match=message):
        plan_cluster(shards, replicas, azs)


def test_az_loss_problems_name_what_breaks() -> None:
    # dev: one shard over two AZs survives no master loss on its own (no majority left to vote).
    assert "0 of 1 masters" in plan_cluster(1, 1, ("a", "b")).az_loss_problems()[0]
    # Three shards over two AZs: AZ a holds two masters, so losing it leaves no majority.
    problems = plan_cluster(3, 1, ("a", "b")).az_loss_problems()
    assert problems == ["losing a leaves 1 of 3 masters, not a majority, so no replica can be promoted"]
    # No replicas: losing any AZ loses whole shards.
    assert any("loses every node of shard(s) 0" in p for p in plan_cluster(3, 0, AZS3).az_loss_problems())


def test_fixed_node_addresses_come_from_the_top_of_each_subnet() -> None:
    """A replaced node keeps its address (the peers' user data names it); AWS assigns from the bottom."""
    assert node_address("10.20.64.0/20", 0) == "10.20.79.254"
    assert node_address("10.20.64.0/20", 5) == "10.20.79.249"
    assert len({node_address("10.20.64.0/20", i) for i in range(20)}) == 20
    with pytest.raises(ValueError, match="too small"):
        node_address("10.20.64.0/28", 0)
