"""Pure rules of the warm standby: what each standby is called and which alarms watch it."""

from dataclasses import replace

from components.monitoring.alarm_thresholds import AlarmSettings, AlarmSpec, rds_alarm_specs
from components.postgres.tuning import InstanceClass

# The recommended alarm set of a read replica, cut to what matters on a standby that serves no traffic: it must keep
# up (lag), stay alive (cpu, memory) and not fill its volume (a full replica stops replaying). `connections-critical`
# watches for clients that should not be there yet.
STANDBY_ALARM_KEYS = ("replica-lag", "free-storage", "cpu", "freeable-memory", "connections-critical")


def standby_identifier(component_name: str, shard_index: int) -> str:
    """`cryb-prod-pg-dr-00`: the DB instance identifier of shard `shard_index`'s standby."""
    return f"{component_name}-{shard_index:02d}"


def standby_alarm_specs(
    cls: InstanceClass, allocated_storage_gb: int, storage_type: str, settings: AlarmSettings, lag_seconds: int
) -> list[AlarmSpec]:
    """The replica alarms of `STANDBY_ALARM_KEYS`; the lag alarm fires at `lag_seconds` (cryb-db:dr.lagAlarmSeconds)
    and treats missing data as breaching: a standby that stops reporting lag is not replicating."""
    specs = {s.key: s for s in rds_alarm_specs(cls, allocated_storage_gb, storage_type, "replica", settings)}
    lag = specs["replica-lag"]
    specs["replica-lag"] = replace(
        lag,
        threshold=float(lag_seconds),
        evaluation_periods=5,
        datapoints_to_alarm=3,
        treat_missing_data="breaching",
        why=f"The cross-Region standby is more than {lag_seconds} s behind its shard (or reports no lag at all): "
        "losing the primary region now would lose that much.",
        anchor="replica-lag",
    )
    return [specs[key] for key in STANDBY_ALARM_KEYS]
