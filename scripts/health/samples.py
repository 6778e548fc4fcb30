"""What the queries returned from one shard: one dataclass per kind of row, and the shard's whole sample that every
check reads. Pure data; imports nothing of the health package."""

from dataclasses import dataclass, field


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
