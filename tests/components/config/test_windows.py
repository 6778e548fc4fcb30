"""`cryb-db:windows`: the preferences the windows are placed from, read from the stack config; every problem names
its key, its value and the clash (the placement itself: tests/components/postgres/test_schedule.py)."""

import json

import pytest

from components.config import ConfigError, StackConfig, parse_stack_config
from components.config.windows import KEYS
from components.postgres.schedule import ShardWindows, WindowRequest
from scripts.preview.stack_files import read_stack_file, stack_file_path


def prod(**sections: object) -> dict[str, str]:
    raw = dict(read_stack_file(stack_file_path("prod")).config)
    for name, changes in sections.items():
        section = json.loads(raw.get(f"cryb-db:{name}", "{}"))
        raw[f"cryb-db:{name}"] = json.dumps({**section, **changes})  # type: ignore[dict-item]
    return raw


def problems(raw: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw)
    return caught.value.problems


def test_prod_with_eight_shards_takes_the_default_windows() -> None:
    """It failed before the program placed the windows (a Sunday maintenance on top of the sixth shard's backup)."""
    config: StackConfig = parse_stack_config(prod(postgres={"shardCount": 8}))
    plan = config.window_plan()
    assert len(plan.shards) == 8 and plan.outside_quiet_hours == ()


def test_the_largest_prod_stack_takes_the_default_windows() -> None:
    plan = parse_stack_config(prod(postgres={"shardCount": 16, "readReplicas": 5})).window_plan()
    # 16 x (writer + 5 replicas + the DR standby prod has, cryb-db:dr)
    assert sum(1 + len(s.replica_maintenance) for s in plan.shards) == 112


def test_preferences_move_the_windows() -> None:
    plan = parse_stack_config(prod(windows={"quietHours": "20:00-02:00", "maintenanceDay": "tue"})).window_plan()
    assert plan.cache_snapshot == "20:00-21:00"
    # With prod's DR standbys (one more maintenance window per shard) 30-minute backups leave the room.
    assert [s.backup for s in plan.shards] == ["21:00-21:30", "21:30-22:00", "22:00-22:30", "22:30-23:00"]
    # shard 0 patches in the quiet hours that begin on Tuesday evening: writer, replica, then its DR standby
    assert plan.shards[0] == ShardWindows(
        "21:00-21:30", "tue:23:00-wed:00:00", ("wed:00:00-wed:01:00", "wed:01:00-wed:02:00")
    )
    assert plan.outside_quiet_hours == ()


def test_self_hosted_shards_leave_only_the_cache_to_place() -> None:
    raw = prod()
    raw["cryb-db:postgres"] = json.dumps({"engine": "ec2"})
    raw["cryb-db:selfhosted"] = json.dumps({**json.loads(raw["cryb-db:selfhosted"])})
    plan = parse_stack_config(raw).window_plan()
    assert plan.shards == () and plan.cache_snapshot == "03:00-04:00"


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        (
            {"windows": {"quietHours": "03:00-03:30"}},
            "cryb-db:windows.quietHours = '03:00-03:30': must span at least 60 minutes (it spans 30)",
        ),
        ({"windows": {"quietHours": "3-11"}}, "cryb-db:windows.quietHours = '3-11': '3' is not a time hh:mm"),
        ({"windows": {"maintenanceDay": "sunday"}}, "cryb-db:windows.maintenanceDay = 'sunday': must be one of 'mon'"),
        ({"windows": {"quietHour": "03:00-11:00"}}, "cryb-db:windows.quietHour: unknown key (did you mean"),
        ({"postgres": {"backupWindowMinutes": 20}}, "cryb-db:postgres.backupWindowMinutes = 20: must be >= 30"),
        (
            {"postgres": {"shardCount": 16, "backupWindowMinutes": 180}},
            "cryb-db:postgres.backupWindowMinutes = 180: no free slot for the backup of shard 7",
        ),
        (
            {"postgres": {"maintenanceWindowStart": "sun:03:30"}, "cache": {"snapshotWindow": "03:00-04:00"}},
            "cryb-db:postgres.maintenanceWindowStart = 'sun:03:30': the maintenance of shard 0 (sun:03:30-sun:04:30) "
            "overlaps the cache snapshot (03:00-04:00 daily) set by cryb-db:cache.snapshotWindow",
        ),
    ],
)
def test_bad_windows_are_named_with_key_value_and_clash(sections: dict[str, dict[str, object]], expected: str) -> None:
    found = problems(prod(**sections))
    assert any(p.startswith(expected) for p in found), found


def test_every_request_field_has_its_key() -> None:
    assert set(KEYS) == set(WindowRequest.__dataclass_fields__)
