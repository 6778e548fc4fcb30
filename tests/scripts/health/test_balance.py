"""Shard balance (scripts/health/balance.py): shards and tables far from the mean, and what is too small to judge."""

import pytest

from scripts.health.balance import balance, skew_percent
from scripts.health.samples import (
    ShardSample,
)
from scripts.health.thresholds import MIB, Status, Thresholds
from tests.scripts.health.samples import TH, table


def test_skew_percent() -> None:
    assert (skew_percent(150, 100), skew_percent(50, 100), skew_percent(7, 0)) == (50.0, -50.0, 0.0)


def test_balance_flags_shards_and_tables_far_from_the_mean() -> None:
    th = Thresholds(min_rows_for_skew=100, min_bytes_for_skew=0)
    shards = [
        ShardSample("a", size_bytes=100 * MIB, tables=[table("public.messages", 1000), table("public.users", 300)]),
        ShardSample("b", size_bytes=100 * MIB, tables=[table("public.messages", 1000), table("public.users", 300)]),
        ShardSample("c", size_bytes=190 * MIB, tables=[table("public.messages", 2500)]),
    ]
    document, found = balance(shards, th)
    rows = {(f.shard, f.name, f.subject): f for f in found}
    # rows: a=b=1300, c=2500, mean 1700 -> c +47 % (warning), a/b -24 % (warning)
    assert rows[("c", "rows-skew", "database")].status == Status.WARNING
    assert rows[("a", "rows-skew", "database")].value == pytest.approx(-23.5, abs=0.1)
    # size: mean 130 MiB -> c +46 % (warning), a/b -23 % (warning)
    assert rows[("c", "size-skew", "database")].status == Status.WARNING
    # users exist on a and b only: c is -100 % from the mean of 200 (critical)
    assert rows[("c", "table-skew", "public.users")].status == Status.CRITICAL
    assert rows[("c", "table-skew", "public.messages")].status == Status.CRITICAL  # 2500 vs mean 1500: +67 %
    assert [s["rows"] for s in document["shards"]] == [1300, 1300, 2500]
    assert document["tables"][1]["rows"] == {"a": 300, "b": 300, "c": 0}


def test_balance_ignores_small_data_unreachable_shards_and_single_shards() -> None:
    small = [ShardSample("a", size_bytes=8 * MIB, tables=[table("t", 10)]), ShardSample("b", size_bytes=9 * MIB)]
    assert balance(small, TH)[1] == []  # below minRowsForSkew / minBytesForSkew: noise
    th = Thresholds(min_rows_for_skew=0, min_bytes_for_skew=0)
    down = [ShardSample("a", tables=[table("t", 10)]), ShardSample("b", reachable=False)]
    document, found = balance(down, th)
    assert (document["evaluated"], found) == (False, [])
