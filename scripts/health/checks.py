"""Health checks of the PostgreSQL shards as pure functions: the SQL they run (constants) and the evaluation of what
it returned against thresholds into ok / warning / critical findings (docs/monitoring.md#health-command).

`scripts/health.py` runs the queries over psycopg and renders the report; everything here is testable without a
database.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

MIB, GIB = 1024**2, 1024**3

# -- SQL -----------------------------------------------------------------------------------------------------------
# Every statement is read-only and cheap (catalog and statistics views). Columns are named as the samples' fields.

SERVER_SQL = "select pg_is_in_recovery() as in_recovery, current_database() as database"

# Per streaming replica as the primary sees it: bytes not yet replayed, and the replay delay the standby reports.
REPLICAS_SQL = """
select coalesce(application_name, '') as name,
       coalesce(host(client_addr), 'local') as client,
       coalesce(state, '') as state,
       coalesce(sync_state, '') as sync_state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint as lag_bytes,
       extract(epoch from replay_lag)::float8 as lag_seconds
from pg_stat_replication
order by name, client
"""

# Every slot and the WAL it holds back from recycling (an abandoned slot fills the disk).
SLOTS_SQL = """
select slot_name as name,
       slot_type,
       active,
       pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint as retained_bytes,
       coalesce(wal_status, '') as wal_status
from pg_replication_slots
order by slot_name
"""

# On a standby: WAL received but not replayed, and how old the last replayed transaction is (0 when caught up,
# so an idle primary does not look like lag).
READER_SQL = """
select pg_is_in_recovery() as in_recovery,
       coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::bigint as lag_bytes,
       case when pg_last_wal_receive_lsn() is null or pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0
            else coalesce(extract(epoch from now() - pg_last_xact_replay_timestamp()), 0)
       end::float8 as lag_seconds
"""

DATABASE_SIZE_SQL = "select pg_database_size(current_database())::bigint as size_bytes"

# Row counts are the statistics collector's estimates (n_live_tup): exact counts would scan every table.
TABLES_SQL = """
select schemaname || '.' || relname as name,
       n_live_tup::bigint as live_rows,
       coalesce(seq_scan, 0)::bigint as seq_scan,
       coalesce(seq_tup_read, 0)::bigint as seq_tup_read,
       coalesce(idx_scan, 0)::bigint as idx_scan
from pg_stat_user_tables
order by name
"""

UNUSED_INDEXES_SQL = """
select s.schemaname || '.' || s.relname as table_name,
       s.indexrelname as name,
       pg_relation_size(s.indexrelid)::bigint as size_bytes,
       s.idx_scan as scans
from pg_stat_user_indexes s
join pg_index i on i.indexrelid = s.indexrelid
where s.idx_scan = 0 and not i.indisunique and not i.indisprimary
order by size_bytes desc
"""

BUFFER_CACHE_SQL = """
select coalesce(blks_hit, 0)::bigint as blks_hit, coalesce(blks_read, 0)::bigint as blks_read
from pg_stat_database where datname = current_database()
"""

# Client sessions other than this one: how long the transaction, the statement and the current state have lasted.
ACTIVITY_SQL = """
select pid,
       coalesce(usename, '') as user_name,
       coalesce(application_name, '') as application,
       coalesce(state, '') as state,
       coalesce(extract(epoch from now() - xact_start), 0)::float8 as xact_seconds,
       coalesce(extract(epoch from now() - query_start), 0)::float8 as query_seconds,
       coalesce(extract(epoch from now() - state_change), 0)::float8 as state_seconds,
       coalesce(query, '') as query
from pg_stat_activity
where backend_type = 'client backend' and pid <> pg_backend_pid()
order by pid
"""

# Sessions waiting for a lock, since when (pg_locks.waitstart, PostgreSQL 14+) and who blocks them.
LOCK_WAITS_SQL = """
select a.pid,
       coalesce(extract(epoch from now() - min(l.waitstart)), 0)::float8 as wait_seconds,
       pg_blocking_pids(a.pid) as blocking_pids,
       coalesce(a.query, '') as query
from pg_locks l
join pg_stat_activity a on a.pid = l.pid
where not l.granted
group by a.pid, a.query
order by wait_seconds desc
"""

XID_AGE_SQL = """
select datname as database, age(datfrozenxid)::bigint as xid_age
from pg_database where datallowconn
order by xid_age desc limit 1
"""

STATEMENTS_INSTALLED_SQL = (
    "select exists (select 1 from pg_extension where extname = 'pg_stat_statements') as installed"
)

TOP_STATEMENTS_SQL = """
select queryid::text as query_id,
       calls::bigint as calls,
       total_exec_time::float8 as total_ms,
       mean_exec_time::float8 as mean_ms,
       rows::bigint as rows,
       query
from pg_stat_statements
where dbid = (select oid from pg_database where datname = current_database())
order by total_exec_time desc
limit %(limit)s
"""

# -- thresholds ----------------------------------------------------------------------------------------------------


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


# -- samples (what the SQL returned) -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaRow:
    name: str
    client: str
    state: str
    sync_state: str
    lag_bytes: int | None
    lag_seconds: float | None


@dataclass(frozen=True)
class SlotRow:
    name: str
    slot_type: str
    active: bool
    retained_bytes: int | None
    wal_status: str


@dataclass(frozen=True)
class ReaderRow:
    """A standby checked over its own connection (reader endpoints of the stack outputs)."""

    endpoint: str
    reachable: bool
    in_recovery: bool | None = None
    lag_bytes: int | None = None
    lag_seconds: float | None = None
    error: str = ""


@dataclass(frozen=True)
class TableRow:
    name: str
    live_rows: int
    seq_scan: int
    seq_tup_read: int
    idx_scan: int


@dataclass(frozen=True)
class IndexRow:
    table_name: str
    name: str
    size_bytes: int
    scans: int


@dataclass(frozen=True)
class SessionRow:
    pid: int
    user_name: str
    application: str
    state: str
    xact_seconds: float
    query_seconds: float
    state_seconds: float
    query: str


@dataclass(frozen=True)
class LockWaitRow:
    pid: int
    wait_seconds: float
    blocking_pids: list[int]
    query: str


@dataclass(frozen=True)
class StatementRow:
    query_id: str
    calls: int
    total_ms: float
    mean_ms: float
    rows: int
    query: str


@dataclass
class ShardSample:
    """Everything collected from one shard's writer (and its readers, when known)."""

    shard: str
    reachable: bool = True
    error: str = ""
    in_recovery: bool = False
    expected_replicas: int | None = None
    replicas: list[ReplicaRow] = field(default_factory=list)
    slots: list[SlotRow] = field(default_factory=list)
    readers: list[ReaderRow] = field(default_factory=list)
    size_bytes: int = 0
    tables: list[TableRow] = field(default_factory=list)
    unused_indexes: list[IndexRow] = field(default_factory=list)
    blks_hit: int = 0
    blks_read: int = 0
    sessions: list[SessionRow] = field(default_factory=list)
    lock_waits: list[LockWaitRow] = field(default_factory=list)
    xid_age: int = 0
    xid_database: str = ""
    statements: list[StatementRow] | None = None
    statements_note: str = ""

    @property
    def live_rows(self) -> int:
        return sum(t.live_rows for t in self.tables)


# -- findings ------------------------------------------------------------------------------------------------------

Check = Literal["connectivity", "replication", "balance", "performance"]


@dataclass(frozen=True)
class Finding:
    check: Check
    name: str
    """Which test, e.g. `replica-lag-bytes`, `inactive-slot`, `idle-in-transaction` (docs/monitoring.md)."""
    shard: str
    subject: str
    status: Status
    message: str
    value: float | str | None = None
    threshold: float | None = None

    def document(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.label}


def worst(statuses: Iterable[Status]) -> Status:
    return max(statuses, default=Status.OK)


_LITERAL = re.compile(r"'(?:[^']|'')*'")


def redact_query(text: str, limit: int = 120) -> str:
    """Statement text safe to print: string literals (values, maybe passwords) become '?', whitespace collapses."""
    return " ".join(_LITERAL.sub("'?'", text).split())[:limit]


def human_bytes(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _status_at_least(status: Status, minimum: Status) -> Status:
    return max(status, minimum)


def evaluate_replication(sample: ShardSample, th: Thresholds) -> list[Finding]:
    """Replicas streaming as expected, their lag, slots and the WAL they retain, readers in recovery and current."""
    found: list[Finding] = []
    shard = sample.shard
    if sample.in_recovery:
        found.append(
            Finding(
                "replication",
                "writer-in-recovery",
                shard,
                "writer",
                Status.CRITICAL,
                "the writer endpoint "
                "answers as a standby (pg_is_in_recovery): a failover is in progress or the endpoint is wrong",
            )
        )
        return found
    hidden = [r for r in sample.replicas if not r.state]
    if hidden:
        # Without pg_monitor (or pg_read_all_stats) the state and LSN columns read as NULL.
        found.append(
            Finding(
                "replication",
                "replication-stats-hidden",
                shard,
                "pg_stat_replication",
                Status.WARNING,
                f"{len(hidden)} replica(s) visible without state or lag: grant pg_monitor to the health user",
            )
        )
    streaming = [r for r in sample.replicas if r.state in ("streaming", "")]
    if sample.expected_replicas is not None and len(streaming) < sample.expected_replicas:
        found.append(
            Finding(
                "replication",
                "replicas-missing",
                shard,
                "replicas",
                Status.CRITICAL,
                f"{len(streaming)} of {sample.expected_replicas} expected replicas are streaming: a replica is down "
                "or disconnected",
                value=len(streaming),
                threshold=sample.expected_replicas,
            )
        )
    for replica in sample.replicas:
        subject = replica.name or replica.client
        if replica.state not in ("streaming", ""):
            found.append(
                Finding(
                    "replication",
                    "replica-not-streaming",
                    shard,
                    subject,
                    Status.WARNING,
                    f"replica state is {replica.state!r}, not streaming",
                    value=replica.state,
                )
            )
        if replica.lag_bytes is not None:
            status = th.replica_lag_bytes.status(replica.lag_bytes)
            if status:
                found.append(
                    Finding(
                        "replication",
                        "replica-lag-bytes",
                        shard,
                        subject,
                        status,
                        f"{human_bytes(replica.lag_bytes)} of WAL not yet replayed",
                        value=replica.lag_bytes,
                        threshold=_limit(th.replica_lag_bytes, status),
                    )
                )
        if replica.lag_seconds is not None:
            status = th.replica_lag_seconds.status(replica.lag_seconds)
            if status:
                found.append(
                    Finding(
                        "replication",
                        "replica-lag-seconds",
                        shard,
                        subject,
                        status,
                        f"replay is {replica.lag_seconds:.1f} s behind",
                        value=round(replica.lag_seconds, 3),
                        threshold=_limit(th.replica_lag_seconds, status),
                    )
                )
    for slot in sample.slots:
        retained = slot.retained_bytes or 0
        status = th.slot_retained_bytes.status(retained)
        if not slot.active:
            status = _status_at_least(status, Status.WARNING)
        if status:
            state = "inactive" if not slot.active else "active"
            found.append(
                Finding(
                    "replication",
                    "inactive-slot" if not slot.active else "slot-retained-wal",
                    shard,
                    slot.name,
                    status,
                    f"{state} {slot.slot_type} slot retains {human_bytes(retained)} of WAL"
                    + (" (drop it if its consumer is gone)" if not slot.active else ""),
                    value=retained,
                    threshold=_limit(th.slot_retained_bytes, status),
                )
            )
    for reader in sample.readers:
        if not reader.reachable:
            found.append(
                Finding(
                    "replication",
                    "reader-unreachable",
                    shard,
                    reader.endpoint,
                    Status.CRITICAL,
                    f"cannot connect to the reader: {reader.error}",
                )
            )
            continue
        if reader.in_recovery is False:
            found.append(
                Finding(
                    "replication",
                    "reader-not-standby",
                    shard,
                    reader.endpoint,
                    Status.CRITICAL,
                    "the reader answers as a primary: it was promoted or split from the writer",
                )
            )
        if reader.lag_seconds is not None and (status := th.replica_lag_seconds.status(reader.lag_seconds)):
            found.append(
                Finding(
                    "replication",
                    "reader-lag-seconds",
                    shard,
                    reader.endpoint,
                    status,
                    f"the last replayed transaction is {reader.lag_seconds:.1f} s old with WAL pending",
                    value=round(reader.lag_seconds, 3),
                    threshold=_limit(th.replica_lag_seconds, status),
                )
            )
        if reader.lag_bytes is not None and (status := th.replica_lag_bytes.status(reader.lag_bytes)):
            found.append(
                Finding(
                    "replication",
                    "reader-lag-bytes",
                    shard,
                    reader.endpoint,
                    status,
                    f"{human_bytes(reader.lag_bytes)} received but not replayed",
                    value=reader.lag_bytes,
                    threshold=_limit(th.replica_lag_bytes, status),
                )
            )
    return found


def _limit(limit: Above | Below, status: Status) -> float:
    return limit.critical if status == Status.CRITICAL else limit.warning


def skew_percent(value: float, mean: float) -> float:
    """How far `value` is from `mean`, in percent of the mean (0 when the mean is 0)."""
    return 0.0 if mean == 0 else (value - mean) / mean * 100


def balance(samples: Sequence[ShardSample], th: Thresholds) -> tuple[dict[str, Any], list[Finding]]:
    """Size and row counts per shard (and per table) against the mean over shards."""
    live = [s for s in samples if s.reachable and not s.in_recovery]
    document: dict[str, Any] = {"shards": [], "tables": [], "evaluated": len(live) >= 2}
    found: list[Finding] = []
    if len(live) < 2:
        document["note"] = "balance needs at least two reachable shards"
        return document, found
    mean_size = sum(s.size_bytes for s in live) / len(live)
    mean_rows = sum(s.live_rows for s in live) / len(live)
    for sample in live:
        size_skew, rows_skew = skew_percent(sample.size_bytes, mean_size), skew_percent(sample.live_rows, mean_rows)
        document["shards"].append(
            {
                "shard": sample.shard,
                "sizeBytes": sample.size_bytes,
                "sizeSkewPercent": round(size_skew, 1),
                "rows": sample.live_rows,
                "rowsSkewPercent": round(rows_skew, 1),
            }
        )
        for name, skew, mean, minimum, what in (
            ("size-skew", size_skew, mean_size, th.min_bytes_for_skew, f"size {human_bytes(sample.size_bytes)}"),
            ("rows-skew", rows_skew, mean_rows, th.min_rows_for_skew, f"{sample.live_rows} rows"),
        ):
            status = th.shard_skew_percent.status(abs(skew)) if mean >= minimum else Status.OK
            if status:
                found.append(
                    Finding(
                        "balance",
                        name,
                        sample.shard,
                        "database",
                        status,
                        f"{what} is {skew:+.0f} % from the mean over {len(live)} shards: the shard map or the "
                        "key distribution is uneven",
                        value=round(skew, 1),
                        threshold=_limit(th.shard_skew_percent, status),
                    )
                )
    tables = sorted({t.name for s in live for t in s.tables})
    for table in tables:
        rows = {s.shard: next((t.live_rows for t in s.tables if t.name == table), 0) for s in live}
        mean = sum(rows.values()) / len(live)
        skews = {shard: skew_percent(count, mean) for shard, count in rows.items()}
        document["tables"].append(
            {"table": table, "rows": rows, "skewPercent": {k: round(v, 1) for k, v in skews.items()}}
        )
        if mean < th.min_rows_for_skew:
            continue
        for shard, skew in skews.items():
            if status := th.shard_skew_percent.status(abs(skew)):
                found.append(
                    Finding(
                        "balance",
                        "table-skew",
                        shard,
                        table,
                        status,
                        f"{rows[shard]} rows, {skew:+.0f} % from the mean of {mean:.0f}",
                        value=round(skew, 1),
                        threshold=_limit(th.shard_skew_percent, status),
                    )
                )
    return document, found


def cache_hit_ratio(sample: ShardSample) -> float | None:
    total = sample.blks_hit + sample.blks_read
    return None if total == 0 else sample.blks_hit / total


def evaluate_performance(sample: ShardSample, th: Thresholds) -> list[Finding]:
    """Buffer cache, long and idle-in-transaction sessions, lock waits, XID age, unused indexes, heavy seq scans."""
    found: list[Finding] = []
    shard = sample.shard
    ratio = cache_hit_ratio(sample)
    if ratio is not None and sample.blks_hit + sample.blks_read >= th.min_blocks_for_hit_ratio:
        if status := th.cache_hit_ratio.status(ratio):
            found.append(
                Finding(
                    "performance",
                    "cache-hit-ratio",
                    shard,
                    "database",
                    status,
                    f"{ratio:.2%} of block reads hit shared buffers: the working set does not fit in memory",
                    value=round(ratio, 4),
                    threshold=_limit(th.cache_hit_ratio, status),
                )
            )
    for session in sample.sessions:
        subject = f"pid {session.pid} ({session.user_name or '?'}@{session.application or '?'})"
        if session.state == "active" and (status := th.long_running_seconds.status(session.query_seconds)):
            found.append(
                Finding(
                    "performance",
                    "long-running",
                    shard,
                    subject,
                    status,
                    f"statement running for {session.query_seconds:.0f} s: {redact_query(session.query)}",
                    value=round(session.query_seconds, 1),
                    threshold=_limit(th.long_running_seconds, status),
                )
            )
        if session.state.startswith("idle in transaction") and (
            status := th.idle_in_transaction_seconds.status(session.state_seconds)
        ):
            found.append(
                Finding(
                    "performance",
                    "idle-in-transaction",
                    shard,
                    subject,
                    status,
                    f"{session.state} for {session.state_seconds:.0f} s (transaction open "
                    f"{session.xact_seconds:.0f} s): it holds locks and stops vacuum",
                    value=round(session.state_seconds, 1),
                    threshold=_limit(th.idle_in_transaction_seconds, status),
                )
            )
    for wait in sample.lock_waits:
        if status := th.lock_wait_seconds.status(wait.wait_seconds):
            found.append(
                Finding(
                    "performance",
                    "blocked-lock",
                    shard,
                    f"pid {wait.pid}",
                    status,
                    f"waiting {wait.wait_seconds:.0f} s for a lock held by pid(s) "
                    f"{', '.join(map(str, wait.blocking_pids)) or '?'}: {redact_query(wait.query)}",
                    value=round(wait.wait_seconds, 1),
                    threshold=_limit(th.lock_wait_seconds, status),
                )
            )
    if status := th.xid_age.status(sample.xid_age):
        found.append(
            Finding(
                "performance",
                "xid-age",
                shard,
                sample.xid_database or "database",
                status,
                f"oldest unfrozen transaction ID is {sample.xid_age:,} transactions old: vacuum (freeze) is "
                "falling behind",
                value=sample.xid_age,
                threshold=_limit(th.xid_age, status),
            )
        )
    for index in sample.unused_indexes:
        if index.size_bytes >= th.unused_index_bytes:
            found.append(
                Finding(
                    "performance",
                    "unused-index",
                    shard,
                    f"{index.table_name}.{index.name}",
                    Status.WARNING,
                    f"never scanned since statistics were reset, {human_bytes(index.size_bytes)}: it costs every write",
                    value=index.size_bytes,
                    threshold=th.unused_index_bytes,
                )
            )
    for table in sample.tables:
        scans = table.seq_scan + table.idx_scan
        if table.live_rows >= th.seq_scan_min_rows and scans and table.seq_scan / scans > th.seq_scan_share:
            found.append(
                Finding(
                    "performance",
                    "heavy-seq-scans",
                    shard,
                    table.name,
                    Status.WARNING,
                    f"{table.seq_scan} of {scans} scans of {table.live_rows} rows are sequential "
                    f"({table.seq_tup_read} rows read): a missing index?",
                    value=round(table.seq_scan / scans, 3),
                    threshold=th.seq_scan_share,
                )
            )
    return found


def shard_document(sample: ShardSample) -> dict[str, Any]:
    """The raw figures of a shard for `--json` (findings say what is wrong; this says what was seen)."""
    ratio = cache_hit_ratio(sample)
    return {
        "shard": sample.shard,
        "reachable": sample.reachable,
        "error": sample.error,
        "replication": {
            "inRecovery": sample.in_recovery,
            "expectedReplicas": sample.expected_replicas,
            "replicas": [
                {
                    "name": r.name,
                    "client": r.client,
                    "state": r.state,
                    "syncState": r.sync_state,
                    "lagBytes": r.lag_bytes,
                    "lagSeconds": r.lag_seconds,
                }
                for r in sample.replicas
            ],
            "slots": [
                {
                    "name": s.name,
                    "type": s.slot_type,
                    "active": s.active,
                    "retainedBytes": s.retained_bytes,
                    "walStatus": s.wal_status,
                }
                for s in sample.slots
            ],
            "readers": [
                {
                    "endpoint": r.endpoint,
                    "reachable": r.reachable,
                    "inRecovery": r.in_recovery,
                    "lagBytes": r.lag_bytes,
                    "lagSeconds": r.lag_seconds,
                    "error": r.error,
                }
                for r in sample.readers
            ],
        },
        "size": {"bytes": sample.size_bytes, "rows": sample.live_rows},
        "performance": {
            "cacheHitRatio": None if ratio is None else round(ratio, 4),
            "sessions": len(sample.sessions),
            "idleInTransaction": sum(1 for s in sample.sessions if s.state.startswith("idle in transaction")),
            "lockWaits": len(sample.lock_waits),
            "xidAge": sample.xid_age,
            "unusedIndexes": [
                {"index": f"{i.table_name}.{i.name}", "sizeBytes": i.size_bytes} for i in sample.unused_indexes
            ],
            "topStatements": None
            if sample.statements is None
            else [
                {
                    "queryId": s.query_id,
                    "calls": s.calls,
                    "totalMs": round(s.total_ms, 1),
                    "meanMs": round(s.mean_ms, 3),
                    "rows": s.rows,
                    "query": redact_query(s.query, 200),
                }
                for s in sample.statements
            ],
            "topStatementsNote": sample.statements_note,
        },
    }


@dataclass(frozen=True)
class Report:
    status: Status
    findings: list[Finding]
    document: dict[str, Any]


def evaluate(samples: Sequence[ShardSample], th: Thresholds) -> Report:
    """Every check over every shard; the report's status is the worst finding's."""
    findings: list[Finding] = []
    for sample in samples:
        if not sample.reachable:
            findings.append(
                Finding(
                    "connectivity",
                    "writer-unreachable",
                    sample.shard,
                    "writer",
                    Status.CRITICAL,
                    f"cannot connect to the writer: {sample.error}",
                )
            )
            continue
        findings += evaluate_replication(sample, th)
        findings += evaluate_performance(sample, th)
    balance_document, balance_findings = balance(samples, th)
    findings += balance_findings
    status = worst(f.status for f in findings)
    order = {"connectivity": 0, "replication": 1, "balance": 2, "performance": 3}
    findings.sort(key=lambda f: (-f.status, order[f.check], f.shard, f.name, f.subject))
    document = {
        "status": status.label,
        "exitCode": int(status),
        "shards": [shard_document(s) for s in samples],
        "balance": balance_document,
        "findings": [f.document() for f in findings],
        "thresholds": th.model_dump(by_alias=True),
    }
    return Report(status, findings, document)
