"""Backup and maintenance windows: placed for every allowed stack shape, staggered across shards and replicas,
never overlapping each other or the cache's, in the RDS and ElastiCache formats; explicit starts still checked."""

import re

import pytest

from components.config.postgres import MAX_READ_REPLICAS, MAX_SHARDS
from components.postgres.schedule import (
    ShardWindows,
    WindowError,
    WindowPlan,
    WindowRequest,
    place_windows,
    plan_windows,
)

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
    """Pairs of windows that overlap on the weekly clock: every occurrence sorted by start, each compared with the
    one before it (and the week's last with its first, across the week's end)."""
    occurrences = sorted((start, end, window) for window in windows for start, end in weekly_intervals(window))
    clashes = []
    reach, reaching = -1, ""  # the latest end so far and its window
    for start, end, window in occurrences:
        if start < reach:
            clashes.append((reaching, window))
        if end > reach:
            reach, reaching = end, window
    if len(occurrences) > 1:
        (first_start, _, first), (_, last_end, last) = occurrences[0], max(occurrences, key=lambda o: o[1])
        if last_end - WEEK > first_start:
            clashes.append((last, first))
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
    with pytest.raises(ValueError, match=r"maintenance of shard 0 .* overlaps the backup of shard 0"):
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
        ({"shard_count": 2, "replicas_per_shard": -1}, "must be 0 or more"),
    ],
)
def test_impossible_schedules_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_windows(**kwargs)  # type: ignore[arg-type]


# -- placed by the program ------------------------------------------------------------------------------------


def _minutes(window: str) -> int:
    (start, end), *_ = weekly_intervals(window)
    return end - start


def _time_of_day(window: str) -> tuple[str, int]:
    """(day or 'daily', start minute of the day)."""
    first = window.split("-")[0]
    if first.count(":") == 2:
        day, hh, mm = first.split(":")
        return day, int(hh) * 60 + int(mm)
    hh, mm = first.split(":")
    return "daily", int(hh) * 60 + int(mm)


def _check_plan(plan: WindowPlan, shards: int, replicas: int) -> None:
    windows = [w for _, w in plan.all_windows()]
    assert len(windows) == shards * (2 + replicas) + 2
    assert overlapping(windows) == [], plan
    assert all(_minutes(s.backup) >= 30 and _minutes(s.maintenance) >= 30 for s in plan.shards)  # RDS minimum
    assert _minutes(plan.cache_snapshot) >= 60 and _minutes(plan.cache_maintenance) >= 60  # ElastiCache minimum
    assert re.fullmatch(r"\d\d:\d\d-\d\d:\d\d", plan.cache_snapshot)
    for index, shard in enumerate(plan.shards):
        assert re.fullmatch(r"\d\d:\d\d-\d\d:\d\d", shard.backup)
        assert len(shard.replica_maintenance) == replicas
        # one shard a day from Sunday, so a bad minor version reaches one shard first
        assert _time_of_day(shard.maintenance)[0] == DAYS[(DAYS.index("sun") + index) % 7]


# Every shape the config allows: 1-16 RDS shards with 0-5 read replicas (topology instance), 1-16 Multi-AZ DB
# clusters (no replica windows: their standbys share the cluster's), and self-hosted shards (only the cache's windows).
ALLOWED_SHAPES = [
    *((shards, replicas) for shards in range(1, MAX_SHARDS + 1) for replicas in range(MAX_READ_REPLICAS + 1)),
    (0, 0),
]


def test_every_allowed_shape_is_placed_with_the_default_preferences() -> None:
    assert (MAX_SHARDS, MAX_READ_REPLICAS) == (16, 5)
    for shards, replicas in ALLOWED_SHAPES:
        _check_plan(place_windows(WindowRequest(shards, replicas)), shards, replicas)


@pytest.mark.parametrize("quiet_hours", ["22:00-02:00", "00:00-00:00", "12:30-13:30"])
@pytest.mark.parametrize("day", ["mon", "sat"])
def test_the_largest_shapes_are_placed_with_other_preferences(quiet_hours: str, day: str) -> None:
    for shards, replicas in [(16, 5), (13, 4), (7, 5), (16, 0), (1, 0)]:
        plan = place_windows(WindowRequest(shards, replicas, quiet_hours=quiet_hours, maintenance_day=day))
        windows = [w for _, w in plan.all_windows()]
        assert overlapping(windows) == []
        # shard 0 patches in the quiet period that begins on the maintenance day (it may run past midnight)
        (start, _), *_ = weekly_intervals(plan.shards[0].maintenance)
        (quiet, _), *_ = weekly_intervals(quiet_hours)
        assert (start - DAYS.index(day) * 24 * 60 - quiet) % WEEK < 24 * 60


def test_todays_prod_shape_keeps_hour_long_windows_inside_the_quiet_hours() -> None:
    plan = place_windows(WindowRequest(4, 1))
    assert plan.cache_snapshot == "03:00-04:00"
    assert [s.backup for s in plan.shards] == ["04:00-05:00", "05:00-06:00", "06:00-07:00", "07:00-08:00"]
    assert [(s.maintenance, s.replica_maintenance) for s in plan.shards] == [
        ("sun:08:00-sun:09:00", ("sun:09:00-sun:10:00",)),
        ("mon:08:00-mon:09:00", ("mon:09:00-mon:10:00",)),
        ("tue:08:00-tue:09:00", ("tue:09:00-tue:10:00",)),
        ("wed:08:00-wed:09:00", ("wed:09:00-wed:10:00",)),
    ]
    assert plan.cache_maintenance == "thu:08:00-thu:09:00"  # the day after the last shard's
    assert (plan.backup_minutes, plan.maintenance_minutes, plan.outside_quiet_hours) == (60, 60, ())


def test_eight_shards_shorten_the_windows_to_stay_inside_the_quiet_hours() -> None:
    """The shape that failed with the fixed default starts (a maintenance window on top of a backup)."""
    plan = place_windows(WindowRequest(8, 1))
    assert (plan.backup_minutes, plan.maintenance_minutes, plan.outside_quiet_hours) == (30, 30, ())
    assert plan.shards[7].maintenance == "sun:09:00-sun:09:30"  # back on Sunday, after shard 0 and its replica


def test_what_cannot_fit_the_quiet_hours_spills_past_them_and_is_listed() -> None:
    plan = place_windows(WindowRequest(16, 5))
    assert (plan.backup_minutes, plan.maintenance_minutes) == (30, 30)
    assert "backup of shard 15" in plan.outside_quiet_hours
    assert "backup of shard 0" not in plan.outside_quiet_hours
    # a quiet span as long as the day holds everything
    assert place_windows(WindowRequest(16, 5, quiet_hours="00:00-00:00")).outside_quiet_hours == ()


def test_explicit_windows_stay_as_set_and_the_rest_is_placed_around_them() -> None:
    request = WindowRequest(4, 1, backup_start="05:00", cache_maintenance="sun:09:00-sun:10:00")
    plan = place_windows(request)
    assert [s.backup for s in plan.shards] == ["05:00-06:00", "06:00-07:00", "07:00-08:00", "08:00-09:00"]
    assert plan.cache_maintenance == "sun:09:00-sun:10:00"
    assert plan.cache_snapshot == "03:00-04:00"
    # the first free hours of the quiet hours, around the backups and the cache
    assert plan.shards[0] == ShardWindows("05:00-06:00", "sun:04:00-sun:05:00", ("sun:10:00-sun:11:00",))
    assert plan.shards[1].replica_maintenance == ("mon:09:00-mon:10:00",)
    assert overlapping([w for _, w in plan.all_windows()]) == []


def test_explicit_starts_that_leave_no_hour_shorten_the_placed_lengths() -> None:
    """60-minute backups from 05:00 would run into the cache's explicit Sunday 08:00: 30-minute ones do not."""
    plan = place_windows(WindowRequest(4, 1, backup_start="05:00", cache_maintenance="sun:08:00-sun:09:00"))
    assert [s.backup for s in plan.shards] == ["05:00-05:30", "05:30-06:00", "06:00-06:30", "06:30-07:00"]


def test_explicit_lengths_are_kept() -> None:
    plan = place_windows(WindowRequest(8, 1, backup_minutes=45, maintenance_minutes=90))
    assert {_minutes(s.backup) for s in plan.shards} == {45}
    assert {_minutes(s.maintenance) for s in plan.shards} == {90}
    assert plan.outside_quiet_hours  # they no longer fit the quiet hours, and the plan says so


@pytest.mark.parametrize(
    ("request_", "field", "message"),
    [
        (
            WindowRequest(4, 1, backup_start="05:00", cache_snapshot="06:00-07:00"),
            "backup_start",
            r"the backup of shard 1 \(06:00-07:00 daily\) overlaps the cache snapshot \(06:00-07:00 daily\) "
            "set by cryb-db:cache.snapshotWindow",
        ),
        (
            WindowRequest(2, 0, maintenance_start="sun:10:00", cache_maintenance="mon:10:15-mon:11:15"),
            "maintenance_start",
            r"maintenance of shard 1 \(mon:10:00-mon:11:00\) overlaps the cache maintenance",
        ),
        (WindowRequest(16, 0, backup_minutes=180), "backup_minutes", "no free slot for the backup of shard 7"),
        (WindowRequest(1, 0, quiet_hours="03:00-03:30"), "quiet_hours", "at least 60 minutes"),
        (WindowRequest(1, 0, maintenance_day="sunday"), "maintenance_day", "one of mon, tue"),
        (WindowRequest(1, 0, cache_snapshot="3-4"), "cache_snapshot", "not a time hh:mm"),
        (WindowRequest(1, 0, backup_minutes=20), "backup_minutes", "at least 30 minutes"),
    ],
)
def test_what_cannot_be_placed_names_the_field(request_: WindowRequest, field: str, message: str) -> None:
    names = {"cache_snapshot": "cryb-db:cache.snapshotWindow"}
    with pytest.raises(WindowError, match=message) as caught:
        place_windows(request_, names)
    assert caught.value.field == field
