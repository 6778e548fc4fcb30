"""`cryb-db:windows`: the preferences the program places every backup and maintenance window from (docs/postgres.md).

The placement itself is `components/postgres/schedule.place_windows`: every RDS shard's backup and maintenance
windows, its read replicas' and the cache's, none overlapping. Explicit starts (`cryb-db:postgres.backupWindowStart`,
`maintenanceWindowStart`, `cache.snapshotWindow`, `cache.maintenanceWindow`) stay possible: they are laid as they
are and the rest is placed around them; a clash names the keys.
"""

from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from components.postgres.schedule import (
    CACHE_WINDOW_MINUTES,
    DEFAULT_MAINTENANCE_DAY,
    DEFAULT_QUIET_HOURS,
    WindowError,
    WindowPlan,
    WindowRequest,
    parse_daily_window,
    place_windows,
)

from .base import Section

if TYPE_CHECKING:
    from .cache import CacheConfig
    from .postgres import PostgresConfig

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

# WindowRequest field -> the stack-file key that sets it
KEYS = {
    "shard_count": "cryb-db:postgres.shardCount",
    "replicas_per_shard": "cryb-db:postgres.readReplicas",
    "quiet_hours": "cryb-db:windows.quietHours",
    "maintenance_day": "cryb-db:windows.maintenanceDay",
    "backup_start": "cryb-db:postgres.backupWindowStart",
    "backup_minutes": "cryb-db:postgres.backupWindowMinutes",
    "maintenance_start": "cryb-db:postgres.maintenanceWindowStart",
    "maintenance_minutes": "cryb-db:postgres.maintenanceWindowMinutes",
    "cache_snapshot": "cryb-db:cache.snapshotWindow",
    "cache_maintenance": "cryb-db:cache.maintenanceWindow",
}


class WindowsConfig(Section):
    """Where the program places the backup and maintenance windows of the shards, their replicas and the cache."""

    quiet_hours: str = Field(
        default=DEFAULT_QUIET_HOURS,
        description="Daily UTC span `hh:mm-hh:mm` of least traffic, at least 60 minutes: the cache snapshot, then "
        "every shard's backup, then each day's maintenance are placed from its start, 60-minute windows if they fit "
        "inside it, else 30-minute ones; what cannot fit spills past its end (the preview lists it).",
    )
    maintenance_day: Day = Field(
        default=DEFAULT_MAINTENANCE_DAY,
        description="Day (mon-sun) shard 0 patches; shard i patches i days later (one shard a day, so a bad minor "
        "version reaches one shard first), its read replicas right after its writer, the cache the day after the "
        "last shard's.",
    )

    @field_validator("quiet_hours")
    @classmethod
    def _daily_span(cls, value: str) -> str:
        _, minutes = parse_daily_window(value)
        if minutes < CACHE_WINDOW_MINUTES:
            raise ValueError(f"must span at least {CACHE_WINDOW_MINUTES} minutes (it spans {minutes})")
        return value


def window_request(
    windows: WindowsConfig, postgres: "PostgresConfig", cache: "CacheConfig", standbys: bool = False
) -> WindowRequest:
    """What the stack asks of the placement: RDS shards (none with engine ec2), their replicas, the explicit windows.
    `standbys`: each shard also has a DR standby (cryb-db:dr), placed as one more replica (the last)."""
    rds = postgres.engine == "rds"
    instances = rds and postgres.topology == "instance"
    return WindowRequest(
        shard_count=postgres.shard_count if rds else 0,
        replicas_per_shard=postgres.read_replicas + (1 if standbys else 0) if instances else 0,
        quiet_hours=windows.quiet_hours,
        maintenance_day=windows.maintenance_day,
        backup_start=postgres.backup_window_start,
        backup_minutes=postgres.backup_window_minutes,
        maintenance_start=postgres.maintenance_window_start,
        maintenance_minutes=postgres.maintenance_window_minutes,
        cache_snapshot=cache.snapshot_window,
        cache_maintenance=cache.maintenance_window,
    )


def stack_windows(
    windows: WindowsConfig, postgres: "PostgresConfig", cache: "CacheConfig", standbys: bool = False
) -> WindowPlan:
    """Every window of the stack; WindowError if they cannot be placed (window_problems reports it with its key)."""
    return place_windows(window_request(windows, postgres, cache, standbys), KEYS)


def window_problems(
    windows: WindowsConfig, postgres: "PostgresConfig", cache: "CacheConfig", standbys: bool = False
) -> list[str]:
    """One line naming the key, its value and the clash, or nothing when every window has its place."""
    request = window_request(windows, postgres, cache, standbys)
    try:
        place_windows(request, KEYS)
    except WindowError as exc:
        return [f"{KEYS[exc.field]} = {getattr(request, exc.field)!r}: {exc}"]
    return []
