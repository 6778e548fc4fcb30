"""Backup and maintenance windows of every shard, its read replicas and the cache tier, placed so none overlaps (pure).

Backup windows are daily (`hh:mm-hh:mm`, UTC), maintenance windows weekly (`ddd:hh:mm-ddd:hh:mm`, UTC). No two
windows of the platform overlap on the weekly clock: no two shards back up or patch at once, a shard's writer and
its replicas patch one after another, and the cache never snapshots or restarts while PostgreSQL backs up or patches
(a cache failover sends its misses to PostgreSQL).

`place_windows` places them from two preferences, the quiet hours (a daily UTC span) and the day maintenance
starts on:

1. the windows a stack sets explicitly are laid first, as they are, and checked against each other;
2. the cache's daily snapshot, then each shard's daily backup, each in the first free slot from the start of the
   quiet hours;
3. shard i patches on the i-th day after the maintenance day (an eighth shard returns to the first day), its writer
   in the first free slot from the start of the quiet hours, its replicas right after it; then the cache, on the
   next day in the rotation.

It tries backup and maintenance lengths of 60 and 30 minutes (unless set) and keeps the longest that stays inside the
quiet hours; when none does, the one with the fewest minutes outside them. `WindowError` names the request field at
fault, so the config can name the key.
"""

import bisect
from dataclasses import dataclass, field

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY = 24 * 60
WEEK = 7 * DAY
MIN_WINDOW_MINUTES = 30  # RDS rejects shorter backup and maintenance windows
CACHE_WINDOW_MINUTES = 60  # ElastiCache's minimum for its snapshot and maintenance windows
PLACED_LENGTHS = (60, 30)  # lengths tried, longest first, for a length the stack does not set
DEFAULT_QUIET_HOURS = "03:00-11:00"
DEFAULT_MAINTENANCE_DAY = "sun"


@dataclass(frozen=True)
class ShardWindows:
    """The windows of one shard, in the formats RDS expects."""

    backup: str
    maintenance: str
    replica_maintenance: tuple[str, ...]


@dataclass(frozen=True)
class WindowRequest:
    """What to place: the platform's members, the preferences, and the windows the stack sets explicitly (None:
    placed by the program)."""

    shard_count: int  # RDS shards; 0 when the shards are self-hosted (their windows are not RDS's)
    replicas_per_shard: int = 0  # maintenance windows per shard besides the writer's (0 for a Multi-AZ DB cluster)
    quiet_hours: str = DEFAULT_QUIET_HOURS
    maintenance_day: str = DEFAULT_MAINTENANCE_DAY
    backup_start: str | None = None  # hh:mm of shard 0's backup; shard i starts i windows later
    backup_minutes: int | None = None
    maintenance_start: str | None = None  # ddd:hh:mm of shard 0's maintenance; shard i i days later, replicas after
    maintenance_minutes: int | None = None
    cache_snapshot: str | None = None  # hh:mm-hh:mm
    cache_maintenance: str | None = None  # ddd:hh:mm-ddd:hh:mm


@dataclass(frozen=True)
class WindowPlan:
    """Every window of the platform, and how the placement went."""

    shards: tuple[ShardWindows, ...]
    cache_snapshot: str
    cache_maintenance: str
    backup_minutes: int
    maintenance_minutes: int
    outside_quiet_hours: tuple[str, ...] = ()  # placed windows that could not stay inside the quiet hours

    def all_windows(self) -> list[tuple[str, str]]:
        """(label, window) of every window: daily `hh:mm-hh:mm` or weekly `ddd:hh:mm-ddd:hh:mm`."""
        found = [("cache snapshot", self.cache_snapshot), ("cache maintenance", self.cache_maintenance)]
        for index, shard in enumerate(self.shards):
            found += [(f"shard {index} backup", shard.backup), (f"shard {index} maintenance", shard.maintenance)]
            found += [
                (f"shard {index} replica {number} maintenance", window)
                for number, window in enumerate(shard.replica_maintenance, start=1)
            ]
        return found


class WindowError(ValueError):
    """The windows cannot be placed; `field` is the WindowRequest field at fault (the config names its key)."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


# -- formats ------------------------------------------------------------------------------------------------


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


def parse_daily_window(text: str) -> tuple[int, int]:
    """`03:00-04:00` -> (start minute of the day, length); may cross midnight; `03:00-03:00` is the whole day."""
    start, sep, end = text.partition("-")
    if not sep:
        raise ValueError(f"{text!r} is not a daily window hh:mm-hh:mm (UTC), e.g. 03:00-04:00")
    first, last = parse_time(start), parse_time(end)
    return first, (last - first) % DAY or DAY


def parse_weekly_window(text: str) -> tuple[int, int]:
    """`thu:04:00-thu:05:00` -> (start minute of the week, length); may cross the week's end."""
    parts = text.split("-")
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not a weekly window ddd:hh:mm-ddd:hh:mm (UTC), e.g. sun:10:00-sun:11:00")
    first, last = parse_weekly(parts[0]), parse_weekly(parts[1])
    return first, (last - first) % WEEK or WEEK


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


def overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Half-open intervals (start, length) on the weekly circle."""
    (a_start, a_len), (b_start, b_len) = a, b
    return (b_start - a_start) % WEEK < a_len or (a_start - b_start) % WEEK < b_len


# -- placement ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Window:
    label: str
    field: str | None  # the request field that set it explicitly; None when placed
    text: str
    daily: bool
    start: int  # minute of the day (daily) or of the week (weekly)
    length: int

    @property
    def shown(self) -> str:
        return f"{self.text} daily" if self.daily else self.text

    def intervals(self) -> list[tuple[int, int]]:
        if self.daily:
            return [(day * DAY + self.start, self.length) for day in range(7)]
        return [(self.start, self.length)]


class _NoRoomError(Exception):
    def __init__(self, label: str):
        self.label = label


@dataclass
class _Board:
    """The week, with the windows laid so far."""

    names: dict[str, str]  # request field -> the name messages use
    quiet_start: int
    quiet_length: int
    windows: list[_Window] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)  # every laid interval's start minute of the week, sorted
    taken: list[tuple[tuple[int, int], _Window]] = field(default_factory=list)  # in the order of `starts`
    longest: int = 0

    def _clash(self, intervals: list[tuple[int, int]]) -> tuple[_Window, tuple[int, int], tuple[int, int]] | None:
        """A laid window that overlaps one of `intervals`: only those starting less than the longest window before
        an interval's end can, found by bisection (with the week's wrap)."""
        for ours in intervals:
            start, length = ours[0] % WEEK, ours[1]
            for shift in (-WEEK, 0, WEEK):
                low = bisect.bisect_right(self.starts, start + shift - self.longest)
                high = bisect.bisect_left(self.starts, start + shift + length)
                for theirs, window in self.taken[low:high]:
                    if overlap(ours, theirs):
                        return window, ours, theirs
        return None

    def _add(self, window: _Window) -> _Window:
        self.windows.append(window)
        for start, length in window.intervals():
            index = bisect.bisect_left(self.starts, start % WEEK)
            self.starts.insert(index, start % WEEK)
            self.taken.insert(index, ((start % WEEK, length), window))
            self.longest = max(self.longest, length)
        return window

    def lay(self, label: str, field: str, start: int, length: int, daily: bool) -> _Window:
        """An explicit window: as it is, or a WindowError naming both windows and what set them."""
        text = daily_window(start, length) if daily else weekly_window(start, length)
        window = _Window(label, field, text, daily, start, length)
        clash = self._clash(window.intervals())
        if clash:
            other = clash[0]
            source = f" set by {self.names.get(other.field, other.field)}" if other.field else ""
            raise WindowError(field, f"the {label} ({window.shown}) overlaps the {other.label} ({other.shown}){source}")
        return self._add(window)

    def place(self, label: str, anchor: int, length: int, daily: bool) -> _Window:
        """The first free slot from `anchor` (minute of the day or of the week), within a day of it."""
        start = anchor
        while start < anchor + DAY:
            offsets = [day * DAY for day in range(7)] if daily else [0]
            clash = self._clash([(start + offset, length) for offset in offsets])
            if clash is None:
                window = _Window(
                    label,
                    None,
                    daily_window(start, length) if daily else weekly_window(start, length),
                    daily,
                    start % (DAY if daily else WEEK),
                    length,
                )
                return self._add(window)
            ours, (their_start, their_length) = clash[1], clash[2]
            start += (their_start + their_length - ours[0]) % WEEK  # jump past the window in the way
        raise _NoRoomError(label)

    def minutes_outside_quiet_hours(self, window: _Window) -> int:
        offset = (window.start % DAY - self.quiet_start) % DAY
        return max(0, offset + window.length - self.quiet_length)


def _explicit_backup(request: WindowRequest, shard: int, minutes: int) -> int:
    assert request.backup_start is not None
    return parse_time(request.backup_start) + shard * minutes


def _explicit_maintenance(request: WindowRequest, shard: int, slot: int, minutes: int) -> int:
    """Shard i on the i-th day after the start, its replicas in the next slots; the 8th shard returns to the first
    day after the first week's slots."""
    assert request.maintenance_start is not None
    slots_per_day = request.replicas_per_shard + 1
    day, lap = shard % 7, shard // 7
    return parse_weekly(request.maintenance_start) + day * DAY + (lap * slots_per_day + slot) * minutes


def _attempt(
    request: WindowRequest, backup_minutes: int, maintenance_minutes: int, names: dict[str, str]
) -> tuple[WindowPlan, int]:
    """Lay every window with these lengths: (plan, minutes outside the quiet hours). Raises WindowError (explicit
    windows clash) or _NoRoomError (a placed window finds no slot)."""
    quiet_start, quiet_length = parse_daily_window(request.quiet_hours)
    board = _Board(names, quiet_start, quiet_length)
    shards, replicas = request.shard_count, request.replicas_per_shard

    # 1. explicit windows, as they are
    snapshot = maintenance = None
    if request.cache_snapshot is not None:
        start, length = parse_daily_window(request.cache_snapshot)
        snapshot = board.lay("cache snapshot", "cache_snapshot", start, length, daily=True)
    if request.cache_maintenance is not None:
        start, length = parse_weekly_window(request.cache_maintenance)
        maintenance = board.lay("cache maintenance", "cache_maintenance", start, length, daily=False)
    backups: dict[int, _Window] = {}
    members: dict[tuple[int, int], _Window] = {}
    if request.backup_start is not None:
        for shard in range(shards):
            start = _explicit_backup(request, shard, backup_minutes)
            backups[shard] = board.lay(f"backup of shard {shard}", "backup_start", start, backup_minutes, daily=True)
    if request.maintenance_start is not None:
        for shard in range(shards):
            for slot in range(replicas + 1):
                label = f"maintenance of shard {shard}" + (f" replica {slot}" if slot else "")
                start = _explicit_maintenance(request, shard, slot, maintenance_minutes)
                members[shard, slot] = board.lay(label, "maintenance_start", start, maintenance_minutes, daily=False)

    # 2. daily windows from the start of the quiet hours: the cache snapshot, then the backups
    if snapshot is None:
        snapshot = board.place("cache snapshot", quiet_start, CACHE_WINDOW_MINUTES, daily=True)
    anchor = quiet_start
    for shard in range(shards):
        if shard not in backups:
            backups[shard] = board.place(f"backup of shard {shard}", anchor, backup_minutes, daily=True)
        anchor = backups[shard].start + backup_minutes

    # 3. weekly windows: one shard per day from the maintenance day, writer then replicas; then the cache
    first_day = DAYS.index(request.maintenance_day)
    for shard in range(shards):
        anchor = ((first_day + shard) % 7) * DAY + quiet_start
        for slot in range(replicas + 1):
            if (shard, slot) not in members:
                label = f"maintenance of shard {shard}" + (f" replica {slot}" if slot else "")
                members[shard, slot] = board.place(label, anchor, maintenance_minutes, daily=False)
            anchor = members[shard, slot].start + maintenance_minutes
    if maintenance is None:
        anchor = ((first_day + shards) % 7) * DAY + quiet_start
        maintenance = board.place("cache maintenance", anchor, CACHE_WINDOW_MINUTES, daily=False)

    placed = [w for w in board.windows if w.field is None]
    outside = [w.label for w in placed if board.minutes_outside_quiet_hours(w)]
    plan = WindowPlan(
        shards=tuple(
            ShardWindows(
                backup=backups[shard].text,
                maintenance=members[shard, 0].text,
                replica_maintenance=tuple(members[shard, slot].text for slot in range(1, replicas + 1)),
            )
            for shard in range(shards)
        ),
        cache_snapshot=snapshot.text,
        cache_maintenance=maintenance.text,
        backup_minutes=backup_minutes,
        maintenance_minutes=maintenance_minutes,
        outside_quiet_hours=tuple(outside),
    )
    return plan, sum(board.minutes_outside_quiet_hours(w) for w in placed)


def _check_request(request: WindowRequest) -> None:
    if request.shard_count < 0:
        raise WindowError("shard_count", f"must be 0 or more, not {request.shard_count}")
    if request.replicas_per_shard < 0:
        raise WindowError("replicas_per_shard", f"must be 0 or more, not {request.replicas_per_shard}")
    for name in ("backup_minutes", "maintenance_minutes"):
        minutes = getattr(request, name)
        if minutes is not None and minutes < MIN_WINDOW_MINUTES:
            raise WindowError(name, f"windows must last at least {MIN_WINDOW_MINUTES} minutes, not {minutes}")
    if request.maintenance_day not in DAYS:
        raise WindowError("maintenance_day", f"must be one of {', '.join(DAYS)}")
    parsers = {
        "quiet_hours": parse_daily_window,
        "backup_start": parse_time,
        "maintenance_start": parse_weekly,
        "cache_snapshot": parse_daily_window,
        "cache_maintenance": parse_weekly_window,
    }
    for name, parse in parsers.items():
        value = getattr(request, name)
        if value is not None:
            try:
                parse(value)
            except ValueError as exc:
                raise WindowError(name, str(exc)) from None
    if request.quiet_hours and parse_daily_window(request.quiet_hours)[1] < CACHE_WINDOW_MINUTES:
        raise WindowError("quiet_hours", f"must span at least {CACHE_WINDOW_MINUTES} minutes")
    if request.backup_start is not None and request.backup_minutes is not None:
        if request.shard_count * request.backup_minutes > DAY:
            raise WindowError(
                "backup_minutes",
                f"{request.shard_count} backup windows of {request.backup_minutes} minutes do not fit in a day",
            )


def place_windows(request: WindowRequest, names: dict[str, str] | None = None) -> WindowPlan:
    """Every window of the platform, none overlapping another; WindowError (naming the request field) if the
    explicit windows clash or nothing fits. `names` maps request fields to the names messages use (config keys)."""
    _check_request(request)
    backup_lengths = (request.backup_minutes,) if request.backup_minutes else PLACED_LENGTHS
    maintenance_lengths = (request.maintenance_minutes,) if request.maintenance_minutes else PLACED_LENGTHS
    best: tuple[int, int, WindowPlan] | None = None
    first_clash: WindowError | None = None
    no_room: _NoRoomError | None = None
    order = 0
    for backup_minutes in backup_lengths:
        for maintenance_minutes in maintenance_lengths:
            try:
                plan, outside = _attempt(request, backup_minutes, maintenance_minutes, names or {})
            except WindowError as exc:
                first_clash = first_clash or exc  # the clash at the preferred lengths reads most naturally
                continue
            except _NoRoomError as exc:
                no_room = exc
                continue
            order += 1
            if best is None or (outside, order) < best[:2]:
                best = (outside, order, plan)
    if best is not None:
        return best[2]
    if first_clash is not None:
        raise first_clash
    assert no_room is not None
    explicit = [
        name
        for name in (
            "backup_start",
            "maintenance_start",
            "cache_snapshot",
            "cache_maintenance",
            "backup_minutes",
            "maintenance_minutes",
        )
        if getattr(request, name) is not None
    ]
    raise WindowError(
        explicit[0] if explicit else "shard_count",
        f"no free slot for the {no_room.label}: the windows of {request.shard_count} shards with "
        f"{request.replicas_per_shard} read replicas each and the cache do not fit in the week without overlapping"
        + (" with the windows set explicitly" if explicit else ""),
    )


def plan_windows(
    shard_count: int,
    replicas_per_shard: int = 0,
    *,
    backup_start: str = "05:00",
    backup_minutes: int = 60,
    maintenance_start: str = "sun:10:00",
    maintenance_minutes: int = 60,
) -> tuple[ShardWindows, ...]:
    """The shards' windows from explicit starts and lengths (the rule `place_windows` applies to explicit starts):
    shard i backs up in the i-th slot after `backup_start` and patches on the i-th day after `maintenance_start`,
    its replicas in the next slots. ValueError naming the clash if two windows would overlap."""
    if shard_count < 1:
        raise ValueError("need at least one shard")
    request = WindowRequest(
        shard_count,
        replicas_per_shard,
        quiet_hours="00:00-00:00",
        backup_start=backup_start,
        backup_minutes=backup_minutes,
        maintenance_start=maintenance_start,
        maintenance_minutes=maintenance_minutes,
    )
    return place_windows(request).shards
