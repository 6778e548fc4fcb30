"""Backup and maintenance windows: staggered across shards and replicas, never overlapping, in RDS formats."""

import itertools
import re

import pytest

from components.postgres.schedule import ShardWindows, plan_windows

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEK = 7 * 24 * 60


# An independent reading of the RDS window formats, so the checks do not trust the module's own parser.
def _minute(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def weekly_intervals(window: str) -> list[tuple[int, int]]:
    """[start, end) minute-of-week intervals; a daily `hh:mm-hh:mm` window occurs on all 7 days."""
    daily = re.fullmatch(r"(\d\d:\d\d)-(\d\d:\d\d)", window)
    if daily:
        start, end = _minute(daily[1]), _minute(daily[2])
        length = (end - start) % (24 * 60)
        return [(day * 24 * 60 + start, day * 24 * 60 + start + length) for day in range(7)]
    weekly = re.fullmatch(r"([a-z]{3}):(\d\d:\d\d)-([a-z]{3}):(\d\d:\d\d)", window)
    assert weekly, window
    start = DAYS.index(weekly[1]) * 24 * 60 + _minute(weekly[2])
    end = DAYS.index(weekly[3]) * 24 * 60 + _minute(weekly[4])
    return [(start, start + (end - start) % WEEK)]


def overlapping(windows: list[str]) -> list[tuple[str, str]]:
    clashes = []
    for a, b in itertools.combinations(windows, 2):
        for (s1, e1), (s2, e2) in itertools.product(weekly_intervals(a), weekly_intervals(b)):
            # compare on the weekly circle: shift b by a week either way
            if any(s1 < e2 + shift and s2 + shift < e1 for shift in (-WEEK, 0, WEEK)):
                clashes.append((a, b))
    return clashes


def all_windows(plan: tuple[ShardWindows, ...]) -> list[str]:
    return [w for shard in plan for w in (shard.backup, shard.maintenance, *shard.replica_maintenance)]


def test_four_shards_back_up_one_after_another_and_patch_on_consecutive_days() -> None:
    plan = plan_windows(4, 1)
    assert [s.backup for s in plan] == ["05:00-06:00", "06:00-07:00", "07:00-08:00", "08:00-09:00"]
    assert [s.maintenance for s in plan] == [
        "sun:10:00-sun:11:00",
        "mon:10:00-mon:11:00",
        "tue:10:00-tue:11:00",
        "wed:10:00-wed:11:00",
    ]
    assert [s.replica_maintenance for s in plan] == [
        ("sun:11:00-sun:12:00",),
        ("mon:11:00-mon:12:00",),
        ("tue:11:00-tue:12:00",),
        ("wed:11:00-wed:12:00",),
    ]


@pytest.mark.parametrize(("shards", "replicas"), [(1, 0), (2, 2), (4, 1), (7, 3), (8, 1), (12, 0), (16, 1)])
def test_no_two_windows_overlap(shards: int, replicas: int) -> None:
    plan = plan_windows(shards, replicas, backup_start="00:00", maintenance_start="sun:17:00")
    windows = all_windows(plan)
    assert len(windows) == shards * (2 + replicas)
    assert overlapping(windows) == []


def test_windows_wrap_around_midnight_and_the_week() -> None:
    plan = plan_windows(2, backup_start="23:30", maintenance_start="sun:23:00", maintenance_minutes=30)
    assert [s.backup for s in plan] == ["23:30-00:30", "00:30-01:30"]
    assert [s.maintenance for s in plan] == ["sun:23:00-sun:23:30", "mon:23:00-mon:23:30"]
    assert overlapping(all_windows(plan)) == []
    assert plan_windows(1, maintenance_start="sun:23:30")[0].maintenance == "sun:23:30-mon:00:30"


def test_an_eighth_shard_patches_on_the_first_day_after_the_first_weeks_slots() -> None:
    plan = plan_windows(8, 1, backup_minutes=30)
    assert plan[0].maintenance == "sun:10:00-sun:11:00"
    assert plan[7].maintenance == "sun:12:00-sun:13:00"  # after shard 0 and its replica
    assert overlapping(all_windows(plan)) == []


def test_a_maintenance_window_on_top_of_a_backup_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"backup of shard 0 .* overlaps the maintenance of shard 1"):
        plan_windows(4, maintenance_start="sun:05:30")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shard_count": 25}, "do not fit in a day"),
        ({"shard_count": 2, "backup_minutes": 20}, "at least 30 minutes"),
        ({"shard_count": 2, "maintenance_minutes": 15}, "at least 30 minutes"),
        ({"shard_count": 1, "backup_start": "5:00"}, "not a time hh:mm"),
        ({"shard_count": 1, "backup_start": "24:00"}, "between 00:00 and 23:59"),
        ({"shard_count": 1, "maintenance_start": "sunday:10:00"}, "not a weekly time"),
        ({"shard_count": 0}, "at least one shard"),
    ],
)
def test_impossible_schedules_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_windows(**kwargs)  # type: ignore[arg-type]
