"""Time windows of the cache tier (UTC): parse them and check that they keep out of each other's way.

ElastiCache takes a daily snapshot window `hh:mm-hh:mm` and a weekly maintenance window
`ddd:hh:mm-ddd:hh:mm`, each at least 60 minutes, and rejects the two overlapping. Both must also stay clear
of every PostgreSQL backup and maintenance window, so the two data tiers never snapshot or restart at the same
time (a cache failover sends its misses to PostgreSQL, which must not be busy with a backup or a patch just
then): `components/postgres/schedule.place_windows` places them, or checks them when set (config/windows.py).
"""

import re

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
MIN_WINDOW_MINUTES = 60  # ElastiCache rejects shorter snapshot and maintenance windows

Interval = tuple[int, int]  # [start, end) in minutes from Monday 00:00 UTC, end may exceed a week (wrap)

_DAILY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
_WEEKLY = re.compile(r"^([a-z]{3}):([01]\d|2[0-3]):([0-5]\d)-([a-z]{3}):([01]\d|2[0-3]):([0-5]\d)$")


def parse_daily(text: str, min_minutes: int = MIN_WINDOW_MINUTES) -> Interval:
    """`hh:mm-hh:mm` (UTC, may cross midnight) as minutes of the day; raises ValueError naming the format."""
    match = _DAILY.match(text)
    if not match:
        raise ValueError("must be a daily UTC window `hh:mm-hh:mm`, e.g. 09:00-10:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end <= start:
        end += MINUTES_PER_DAY
    _check_length(end - start, min_minutes)
    return start, end


def parse_weekly(text: str, min_minutes: int = MIN_WINDOW_MINUTES) -> Interval:
    """`ddd:hh:mm-ddd:hh:mm` (UTC, may cross the week end) as minutes of the week."""
    match = _WEEKLY.match(text)
    if not match or match.group(1) not in DAYS or match.group(4) not in DAYS:
        raise ValueError(
            f"must be a weekly UTC window `ddd:hh:mm-ddd:hh:mm` with ddd one of {', '.join(DAYS)}, "
            "e.g. sun:10:30-sun:11:30"
        )
    d1, h1, m1, d2, h2, m2 = match.groups()
    start = DAYS.index(d1) * MINUTES_PER_DAY + int(h1) * 60 + int(m1)
    end = DAYS.index(d2) * MINUTES_PER_DAY + int(h2) * 60 + int(m2)
    if end <= start:
        end += MINUTES_PER_WEEK
    _check_length(end - start, min_minutes)
    if end - start > MINUTES_PER_DAY:
        raise ValueError("must be at most 24 hours long (ElastiCache maintenance windows are 60 minutes to 24 hours)")
    return start, end


def _check_length(minutes: int, min_minutes: int) -> None:
    if minutes < min_minutes:
        raise ValueError(f"must be at least {min_minutes} minutes long (it is {minutes})")


def weekly_intervals_of_daily(window: Interval) -> list[Interval]:
    """A daily window as the seven intervals it occupies in a week."""
    start, end = window
    return [(day * MINUTES_PER_DAY + start, day * MINUTES_PER_DAY + end) for day in range(7)]


def _overlap(a: Interval, b: Interval) -> bool:
    """Intervals on the weekly circle: compare b against a shifted by -1, 0 and +1 weeks."""
    return any(a[0] + shift < b[1] and b[0] < a[1] + shift for shift in (-MINUTES_PER_WEEK, 0, MINUTES_PER_WEEK))


def overlaps(first: list[Interval], second: list[Interval]) -> bool:
    return any(_overlap(a, b) for a in first for b in second)


def check_maintenance_window(maintenance_window: str, snapshot_window: str | None) -> None:
    """Raise ValueError if the weekly window is malformed or overlaps the (valid) daily snapshot window."""
    maintenance = [parse_weekly(maintenance_window)]
    if snapshot_window is not None and overlaps(maintenance, weekly_intervals_of_daily(parse_daily(snapshot_window))):
        raise ValueError(
            f"must not overlap snapshotWindow {snapshot_window!r} (ElastiCache rejects overlapping windows)"
        )
