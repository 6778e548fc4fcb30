"""Backup and maintenance windows for N shards, staggered so no two shards back up or patch at once (pure).

Backup windows are daily (`hh:mm-hh:mm`, UTC), maintenance windows weekly (`ddd:hh:mm-ddd:hh:mm`, UTC).
Shard i backs up in the i-th consecutive slot after the backup start; its maintenance falls on the i-th day
after the maintenance start (one shard per day, so a bad patch hits one shard first), followed on the same
day by one slot per read replica. Every window is checked against every other on the weekly clock.
"""

from dataclasses import dataclass

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY = 24 * 60
WEEK = 7 * DAY
MIN_WINDOW_MINUTES = 30  # RDS rejects shorter windows


@dataclass(frozen=True)
class ShardWindows:
    """The windows of one shard, in the formats RDS expects."""

    backup: str
    maintenance: str
    replica_maintenance: tuple[str, ...]


def parse_time(text: str) -> int:
    """`05:30` -> minutes after midnight."""
    hours, sep, minutes = text.partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(hours) == 2 and len(minutes) == 2):
        raise ValueError(f"{text!r} is not a time hh:mm (UTC), e.g. 05:00")
    value = int(hours) * 60 + int(minutes)
    if int(hours) > 23 or int(minutes) > 59:
        raise ValueError(f"{text!r} is not a time hh:mm (UTC) between 00:00 and 23:59")
    return value


def parse_weekly(text: str) -> int:
    """`sun:10:00` -> minutes after Monday 00:00."""
    day, sep, rest = text.partition(":")
    if not sep or day not in DAYS:
        raise ValueError(f"{text!r} is not a weekly time ddd:hh:mm (UTC) with ddd in {', '.join(DAYS)}")
    return DAYS.index(day) * DAY + parse_time(rest)


def _hhmm(minute: int) -> str:
    minute %= DAY
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _weekly(minute: int) -> str:
    minute %= WEEK
    return f"{DAYS[minute // DAY]}:{_hhmm(minute)}"


def daily_window(start: int, minutes: int) -> str:
    return f"{_hhmm(start)}-{_hhmm(start + minutes)}"


def weekly_window(start: int, minutes: int) -> str:
    return f"{_weekly(start)}-{_weekly(start + minutes)}"


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Half-open intervals [start, start+length) on the weekly circle."""
    (a_start, a_len), (b_start, b_len) = a, b
    return (b_start - a_start) % WEEK < a_len or (a_start - b_start) % WEEK < b_len


def plan_windows(
    shard_count: int,
    replicas_per_shard: int = 0,
    *,
    backup_start: str = "05:00",
    backup_minutes: int = 60,
    maintenance_start: str = "sun:10:00",
    maintenance_minutes: int = 60,
) -> tuple[ShardWindows, ...]:
    """The windows of every shard; ValueError naming the clash if any two windows would overlap."""
    if shard_count < 1 or replicas_per_shard < 0:
        raise ValueError("need at least one shard and no negative replica count")
    for label, minutes in (("backup", backup_minutes), ("maintenance", maintenance_minutes)):
        if minutes < MIN_WINDOW_MINUTES:
            raise ValueError(f"{label} windows must last at least {MIN_WINDOW_MINUTES} minutes, not {minutes}")
    if shard_count * backup_minutes > DAY:
        raise ValueError(
            f"{shard_count} backup windows of {backup_minutes} minutes do not fit in a day without overlapping"
        )
    backup0, maint0 = parse_time(backup_start), parse_weekly(maintenance_start)

    # (label, (start minute of week, length)); a daily backup window occupies the same slot on all 7 days.
    intervals: list[tuple[str, tuple[int, int]]] = []
    plan = []
    slots_per_day = replicas_per_shard + 1
    for shard in range(shard_count):
        backup = backup0 + shard * backup_minutes
        intervals += [(f"backup of shard {shard}", (day * DAY + backup, backup_minutes)) for day in range(7)]
        # One shard per day; the 8th shard goes back to the first day, after the first week's slots.
        day, lap = shard % 7, shard // 7
        first = maint0 + day * DAY + lap * slots_per_day * maintenance_minutes
        starts = [first + slot * maintenance_minutes for slot in range(slots_per_day)]
        intervals.append((f"maintenance of shard {shard}", (starts[0], maintenance_minutes)))
        intervals += [
            (f"maintenance of shard {shard} replica {r + 1}", (start, maintenance_minutes))
            for r, start in enumerate(starts[1:])
        ]
        plan.append(
            ShardWindows(
                backup=daily_window(backup, backup_minutes),
                maintenance=weekly_window(starts[0], maintenance_minutes),
                replica_maintenance=tuple(weekly_window(s, maintenance_minutes) for s in starts[1:]),
            )
        )
    for i, (label_a, a) in enumerate(intervals):
        for label_b, b in intervals[i + 1 :]:
            if _overlap(a, b):
                raise ValueError(
                    f"the {label_a} ({weekly_window(*a)}) overlaps the {label_b} ({weekly_window(*b)}); "
                    "move the maintenance start or shorten the windows"
                )
    return tuple(plan)
