"""What ok means: the ok / warning / critical scale and the thresholds every check compares against
(`--thresholds FILE`, docs/monitoring.md#health-command). Imports nothing of the health package."""

from enum import IntEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

MIB, GIB = 1024**2, 1024**3


class Status(IntEnum):
    """Ordered by severity; the value is the command's exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class Above(_Model):
    """Higher is worse: warning when the value exceeds `warning`, critical when it exceeds `critical`."""

    warning: float = Field(ge=0)
    critical: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> "Above":
        if self.critical < self.warning:
            raise ValueError(f"critical ({self.critical:g}) must be >= warning ({self.warning:g})")
        return self

    def status(self, value: float) -> Status:
        return Status.CRITICAL if value > self.critical else Status.WARNING if value > self.warning else Status.OK


class Below(_Model):
    """Lower is worse: warning below `warning`, critical below `critical`."""

    warning: float
    critical: float

    @model_validator(mode="after")
    def _ordered(self) -> "Below":
        if self.critical > self.warning:
            raise ValueError(f"critical ({self.critical:g}) must be <= warning ({self.warning:g})")
        return self

    def status(self, value: float) -> Status:
        return Status.CRITICAL if value < self.critical else Status.WARNING if value < self.warning else Status.OK


class Thresholds(_Model):
    """What ok means (`--thresholds FILE`, YAML or JSON, camelCase keys; unset keys keep these defaults)."""

    replica_lag_bytes: Above = Above(warning=64 * MIB, critical=1 * GIB)
    replica_lag_seconds: Above = Above(warning=30, critical=300)
    slot_retained_bytes: Above = Above(warning=1 * GIB, critical=10 * GIB)
    """WAL held back by a slot; an inactive slot is at least a warning whatever it retains."""
    shard_skew_percent: Above = Above(warning=20, critical=50)
    """Distance of a shard's size or row count from the mean over shards."""
    min_rows_for_skew: int = Field(default=10_000, ge=0)
    """Below this mean row count skew is noise (new or nearly empty shards)."""
    min_bytes_for_skew: int = Field(default=1 * GIB, ge=0)
    """Below this mean database size skew is noise (catalogs alone are ~8 MB)."""
    cache_hit_ratio: Below = Below(warning=0.99, critical=0.95)
    min_blocks_for_hit_ratio: int = Field(default=10_000, ge=0)
    long_running_seconds: Above = Above(warning=60, critical=300)
    idle_in_transaction_seconds: Above = Above(warning=30, critical=55)
    """RDS ends such sessions at 60 s (idle_in_transaction_session_timeout); one near it is holding locks."""
    lock_wait_seconds: Above = Above(warning=5, critical=60)
    xid_age: Above = Above(warning=500_000_000, critical=1_000_000_000)
    """Same critical line as the MaximumUsedTransactionIDs alarm."""
    unused_index_bytes: int = Field(default=100 * MIB, ge=0)
    """Never-scanned, non-unique indexes at least this big are reported (they slow writes, take memory)."""
    seq_scan_min_rows: int = Field(default=100_000, ge=0)
    """Tables at least this big that are read mostly by sequential scans are reported."""
    seq_scan_share: float = Field(default=0.5, ge=0, le=1)
    """Share of a table's scans that are sequential above which it is reported."""
    top_statements: int = Field(default=5, ge=0, le=50)


def threshold_keys() -> dict[str, str]:
    """Every `--thresholds` key (camelCase) and what it takes: `{warning, critical}` or a number."""
    keys = {}
    for name, field in Thresholds.model_fields.items():
        kind = "{warning, critical}" if isinstance(field.default, (Above, Below)) else "a number"
        keys[field.alias or name] = kind
    return keys


def threshold_problems(errors: list[dict]) -> list[str]:
    """pydantic's errors as one line each: the key, the value and what is allowed (unknown keys get a suggestion)."""
    import difflib

    keys = threshold_keys()
    problems = []
    for error in errors:
        path = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            top = str(error["loc"][0])
            if len(error["loc"]) == 1:
                near = difflib.get_close_matches(top, list(keys), n=1)
                hint = f"did you mean {near[0]!r}? " if near else ""
                problems.append(f"{path}: unknown key ({hint}keys: {', '.join(keys)})")
            else:
                problems.append(f"{path}: unknown key (a threshold has `warning` and `critical`)")
        else:
            problems.append(f"{path} = {error.get('input')!r}: {error['msg']}")
    return problems
