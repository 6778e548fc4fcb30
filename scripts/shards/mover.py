"""One bucket move, step by step, resumable from its journal (docs/sharding.md "What a move does").

    prepared  control tables on every shard, checks, guard triggers, the target refuses writes to the buckets
    copying   publication with a row filter on the source, subscription on the target (initial copy, then changes)
    copied    every table synchronised; then wait for the target to catch up
    fenced    the source refuses writes to the buckets (waiting for the writes in flight), routers are told
    switched  rows verified equal per bucket and table, subscription dropped, the map says target, writes resume
    finished  (shards finish) the source's copies deleted after a grace period; recorded in the ledger

Each step is idempotent and recorded in the target's cryb_shards.moves / move_log before the next starts, so a
killed mover is resumed by running the same command again. A cut-over that cannot verify within its timeout
unfences and goes back to `copied`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from cryb_db_client.live_map import LiveMap, read_live_map

from .checks import Bounds, problems
from .connect import Shards
from .plan import MovePlan, PlanError
from .tables import ShardedTable, compare, discover, install_guard
from .verify import Verification, verify

CONTROL_SQL = sql.SQL((Path(__file__).parent / "control.sql").read_text())  # type: ignore[arg-type]
LOCK_KEY = 1129470274  # "CRYB": the advisory lock class of buckets (control.sql's guard uses the same)
HANG_ENV = "CRYB_SHARDS_HANG_AT"
"""Fault injection for tests: the mover stops (sleeps) right after recording this step, to be killed there."""


class MoveError(RuntimeError):
    """The move stopped; its journal says where, and running the same command again resumes it."""


@dataclass(frozen=True)
class MoveOptions:
    bounds: Bounds = field(default_factory=Bounds)
    copy_timeout: float = 3600.0
    catch_up_bytes: int = 1024 * 1024
    catch_up_timeout: float = 120.0
    cutover_timeout: float = 10.0
    """Seconds the buckets may stay fenced while the target catches up and verifies; then the fence is lifted."""
    grace_seconds: float = 5.0
    """`finish` waits this long after the switch (routers poll the map every second) before deleting."""
    delete_batch: int = 5000


def install_control(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute(CONTROL_SQL)


def live_map(shards: Shards) -> LiveMap:
    """The map in force, from the control tables of the lowest reachable shard (as routers read it)."""
    last: Exception | None = None
    for shard_id in shards.ids:
        try:
            with shards.connect(shard_id) as conn:
                conn.autocommit = False
                return read_live_map(conn, shards.contract.shard_map)
        except psycopg.OperationalError as exc:
            last = exc
    raise MoveError(f"no shard reachable to read the shard map: {last}")


class Mover:
    def __init__(self, shards: Shards, plan: MovePlan, options: MoveOptions, say: Callable[[str], None]):
        self.shards, self.plan, self.options, self.say = shards, plan, options, say
        self._conns: dict[int, psycopg.Connection[TupleRow]] = {}
        self._tables: list[ShardedTable] | None = None

    # -- plumbing ---------------------------------------------------------------------------------------------

    def conn(self, shard_id: int) -> psycopg.Connection[TupleRow]:
        conn = self._conns.get(shard_id)
        if conn is None or conn.closed:
            conn = self._conns[shard_id] = self.shards.connect(shard_id)
        return conn

    @property
    def source(self) -> psycopg.Connection[TupleRow]:
        return self.conn(self.plan.source)

    @property
    def target(self) -> psycopg.Connection[TupleRow]:
        return self.conn(self.plan.target)

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    @property
    def tables(self) -> list[ShardedTable]:
        if self._tables is None:
            self._tables, _ = discover(self.source)
        return self._tables

    def journal(self) -> dict[str, Any] | None:
        """The move's journal row on the target, or None before it was prepared."""
        try:
            cursor = self.target.execute("select * from cryb_shards.moves where move_id = %s", (self.plan.move_id,))
        except psycopg.errors.UndefinedTable:
            return None
        row = cursor.fetchone()
        if row is None or cursor.description is None:
            return None
        return {column.name: value for column, value in zip(cursor.description, row, strict=True)}

    def step(self) -> str | None:
        journal = self.journal()
        return str(journal["step"]) if journal else None

    def record(self, step: str, message: str, **columns: Any) -> None:
        """Move the journal to `step` (with columns set to values or SQL now()) and log the step."""
        assignments: list[sql.Composable] = [sql.SQL("step = %s"), sql.SQL("updated_at = now()")]
        values: list[Any] = [step]
        for name, value in columns.items():
            if value == "now()":
                assignments.append(sql.SQL("{} = clock_timestamp()").format(sql.Identifier(name)))
            else:
                assignments.append(sql.SQL("{} = %s").format(sql.Identifier(name)))
                values.append(value)
        with self.target.transaction():
            self.target.execute(
                sql.SQL("update cryb_shards.moves set {} where move_id = %s").format(sql.SQL(", ").join(assignments)),
                [*values, self.plan.move_id],
            )
            self.log(step, message)
        self._hang_at(step)

    def log(self, step: str, message: str) -> None:
        self.target.execute(
            "insert into cryb_shards.move_log (move_id, step, message) values (%s, %s, %s)",
            (self.plan.move_id, step, message),
        )
        self.say(f"[{self.plan.move_id}] {step}: {message}")

    def _hang_at(self, step: str) -> None:
        if os.environ.get(HANG_ENV) == step:
            self.say(f"[{self.plan.move_id}] {HANG_ENV}={step}: stopping here until killed")
            while True:
                time.sleep(3600)

    def publish(self, buckets: Iterable[int], owner: int, fenced: bool) -> int:
        """Write the buckets' owner and fence into every shard's control tables with a new epoch (all shards, or the
        step fails and is retried on resume)."""
        buckets = list(buckets)
        epochs = []
        for shard_id in self.shards.ids:
            row = self.conn(shard_id).execute("select epoch from cryb_shards.map_state").fetchone()
            epochs.append(int(row[0]) if row else 0)
        epoch = max(epochs) + 1
        for shard_id in self.shards.ids:
            conn = self.conn(shard_id)
            with conn.transaction():
                conn.execute(
                    "insert into cryb_shards.buckets (bucket, shard, fenced, move_id, epoch) "
                    "select b, %s, %s, %s, %s from unnest(%s::int[]) b "
                    "on conflict (bucket) do update set shard = excluded.shard, fenced = excluded.fenced, "
                    "move_id = excluded.move_id, epoch = excluded.epoch, updated_at = now()",
                    (owner, fenced, self.plan.move_id, epoch, buckets),
                )
                conn.execute(
                    "update cryb_shards.map_state set epoch = greatest(epoch, %s), updated_at = now()", (epoch,)
                )
        return epoch

    @property
    def _range(self) -> tuple[int, int]:
        return self.plan.first, self.plan.last

    # -- the steps ----------------------------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Everything that refuses the move, before anything is touched (also `shards plan`)."""
        found = []
        for role, conn in (("source", self.source), ("target", self.target)):
            version = int(conn.execute("show server_version_num").fetchone()[0])  # type: ignore[index]
            if version < 150000:
                found.append(f"{role} shard: PostgreSQL {version}; row-filtered publications need 15 or later")
        wal_level = str(self.source.execute("show wal_level").fetchone()[0])  # type: ignore[index]
        if wal_level != "logical":
            found.append(
                f"source shard {self.plan.source}: wal_level = {wal_level}; moves need logical (RDS: "
                "rds.logical_replication = 1, applied at the next reboot; Patroni: wal_level: logical)"
            )
        tables, table_problems = discover(self.source)
        found += table_problems
        if not tables:
            found.append(f"source shard {self.plan.source}: no sharded table (a table with a `bucket` column)")
        target_tables, _ = discover(self.target)
        found += compare(tables, target_tables, self.plan.target)
        found += problems(
            {
                "source": (self.source, self.shards.shard(self.plan.source)),
                "target": (self.target, self.shards.shard(self.plan.target)),
            },
            self.moving_bytes(tables),
            self.options.bounds,
        )
        return found

    def moving_bytes(self, tables: list[ShardedTable]) -> int:
        """Estimated size of the buckets' rows: each table's size times their share of its rows."""
        total = 0
        for table in tables:
            row = self.source.execute(
                sql.SQL(
                    "select pg_total_relation_size(%s::regclass), "
                    "(select count(*) from only {t} where bucket between %s and %s), "
                    "greatest((select count(*) from only {t}), 1)"
                ).format(t=table.ident),
                (str(table), *self._range),
            ).fetchone()
            if row:
                total += int(row[0]) * int(row[1]) // int(row[2])
        return total

    def prepare(self) -> None:
        found = self.check()
        if found:
            raise PlanError("the move cannot start:\n  " + "\n  ".join(found))
        for shard_id in self.shards.ids:
            install_control(self.conn(shard_id))
        install_guard(self.source, self.tables)
        install_guard(self.target, self.tables)
        first, last = self._range
        with self.target.transaction():
            self.target.execute(
                "insert into cryb_shards.blocked (bucket, reason, move_id) select b, 'incoming', %s "
                "from generate_series(%s::int, %s::int) b on conflict (bucket) do update set reason = 'incoming', "
                "move_id = excluded.move_id, since = clock_timestamp()",
                (self.plan.move_id, first, last),
            )
            self.target.execute("set local cryb_shards.bypass = on")
            for table in self.tables:  # leftovers of an earlier attempt: the copy brings everything again
                self.target.execute(
                    sql.SQL("delete from only {} where bucket between %s and %s").format(table.ident), (first, last)
                )
            self.target.execute(
                "insert into cryb_shards.moves (move_id, first_bucket, last_bucket, source, target, step) "
                "values (%s, %s, %s, %s, %s, 'prepared') on conflict (move_id) do update set step = 'prepared'",
                (self.plan.move_id, first, last, self.plan.source, self.plan.target),
            )
            self.log("prepared", f"{self.plan}; tables: {', '.join(map(str, self.tables))}")
        self._hang_at("prepared")

    def copy(self) -> None:
        name, (first, last) = self.plan.replication_name, self._range
        exists = self.source.execute("select 1 from pg_publication where pubname = %s", (name,)).fetchone()
        if not exists:
            filtered = sql.SQL(", ").join(
                sql.SQL("{} where (bucket between {} and {})").format(t.ident, sql.Literal(first), sql.Literal(last))
                for t in self.tables
            )
            self.source.execute(
                sql.SQL("create publication {} for table {} with (publish = 'insert, update, delete')").format(
                    sql.Identifier(name), filtered
                )
            )
        subscribed = self.target.execute("select subenabled from pg_subscription where subname = %s", (name,))
        row = subscribed.fetchone()
        if row is None:
            slot = self.source.execute("select 1 from pg_replication_slots where slot_name = %s", (name,)).fetchone()
            if slot:  # a slot left by a CREATE SUBSCRIPTION that died half-way
                self.source.execute("select pg_drop_replication_slot(%s)", (name,))
            self.target.execute(
                sql.SQL(
                    "create subscription {} connection {} publication {} "
                    "with (copy_data = true, create_slot = true, slot_name = {}, disable_on_error = false)"
                ).format(
                    sql.Identifier(name),
                    sql.Literal(self.shards.subscription_conninfo(self.plan.source)),
                    sql.Identifier(name),
                    sql.Literal(name),
                )
            )
            self.record("copying", f"subscription {name} created: initial copy running", copy_started_at="now()")
        elif not row[0]:
            self.target.execute(sql.SQL("alter subscription {} enable").format(sql.Identifier(name)))
        deadline = time.monotonic() + self.options.copy_timeout
        while True:
            states = self.target.execute(
                "select r.srsubstate, count(*) from pg_subscription_rel r join pg_subscription s on s.oid = r.srsubid "
                "where s.subname = %s group by 1",
                (name,),
            ).fetchall()
            counts = {str(state): int(n) for state, n in states}
            if counts.get("r", 0) == len(self.tables) and sum(counts.values()) == len(self.tables):
                break
            if time.monotonic() > deadline:
                raise MoveError(f"initial copy not done after {self.options.copy_timeout:g} s (table states {counts})")
            time.sleep(0.05)
        rows = self._rows(self.target)
        self.record("copied", f"{rows} rows copied; changes streaming", copied_at="now()", rows_copied=rows)

    def _rows(self, conn: psycopg.Connection) -> int:
        first, last = self._range
        return sum(
            int(
                conn.execute(  # type: ignore[index]
                    sql.SQL("select count(*) from only {} where bucket between %s and %s").format(t.ident),
                    (first, last),
                ).fetchone()[0]
            )
            for t in self.tables
        )

    def catch_up(self) -> None:
        """Wait until the slot's confirmed position is within catch_up_bytes of the source's WAL."""
        deadline = time.monotonic() + self.options.catch_up_timeout
        while True:
            row = self.source.execute(
                "select pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint "
                "from pg_replication_slots where slot_name = %s",
                (self.plan.replication_name,),
            ).fetchone()
            if row is None:
                raise MoveError(f"replication slot {self.plan.replication_name} is gone from the source")
            if row[0] is not None and int(row[0]) <= self.options.catch_up_bytes:
                return
            if time.monotonic() > deadline:
                raise MoveError(f"the target is {row[0]} bytes behind after {self.options.catch_up_timeout:g} s")
            time.sleep(0.05)

    def fence(self) -> None:
        first, last = self._range
        with self.source.transaction():
            self.source.execute("set local lock_timeout = '5s'")
            # Exclusive bucket locks: wait for the writes in flight on these buckets, block new ones until commit.
            self.source.execute(
                "select count(pg_advisory_xact_lock(%s, b)) from generate_series(%s::int, %s::int) b",
                (LOCK_KEY, first, last),
            )
            self.source.execute(
                "insert into cryb_shards.blocked (bucket, reason, move_id) select b, 'fenced', %s "
                "from generate_series(%s::int, %s::int) b on conflict (bucket) do update set reason = 'fenced', "
                "move_id = excluded.move_id, since = clock_timestamp()",
                (self.plan.move_id, first, last),
            )
        epoch = self.publish(range(first, last + 1), self.plan.source, fenced=True)
        self.record("fenced", f"source refuses writes to the buckets (map epoch {epoch})", fenced_at="now()")

    def unfence(self, reason: str) -> None:
        first, last = self._range
        self.source.execute(
            "delete from cryb_shards.blocked where move_id = %s and reason = 'fenced'", (self.plan.move_id,)
        )
        epoch = self.publish(range(first, last + 1), self.plan.source, fenced=False)
        self.record("copied", f"cut-over aborted, writes resumed on the source (map epoch {epoch}): {reason}")

    def cut_over(self) -> Verification:
        """Verify until the target matches the fenced source (it is still applying the last changes), then switch."""
        deadline = time.monotonic() + self.options.cutover_timeout
        while True:
            result = verify(self.source, self.target, self.tables, *self._range)
            if result.ok:
                break
            if time.monotonic() > deadline:
                self.unfence(
                    f"{len(result.mismatches)} mismatches after {self.options.cutover_timeout:g} s, "
                    f"first: {result.mismatches[0]}"
                )
                raise MoveError("cut-over aborted (see the log); run the same command again to retry")
            time.sleep(0.02)
        self.switch(result)
        return result

    def switch(self, result: Verification) -> None:
        """The target owns the buckets: the subscription stops applying (the fenced source sends nothing more and
        the data is verified equal), the target takes writes, the map names it; the replication objects are dropped
        after the writes resumed (`cleanup`, also run by `finish`)."""
        name, (first, last) = self.plan.replication_name, self._range
        if self.target.execute("select 1 from pg_subscription where subname = %s", (name,)).fetchone():
            self.target.execute(sql.SQL("alter subscription {} disable").format(sql.Identifier(name)))
        self.target.execute(
            "delete from cryb_shards.blocked where move_id = %s and reason = 'incoming'", (self.plan.move_id,)
        )
        self.source.execute(
            "update cryb_shards.blocked set reason = 'moved', since = clock_timestamp() where move_id = %s",
            (self.plan.move_id,),
        )
        epoch = self.publish(range(first, last + 1), self.plan.target, fenced=False)
        self.record(
            "switched",
            f"verified {result.rows_target} rows in {self.plan.bucket_count} buckets; shard {self.plan.target} "
            f"owns them (map epoch {epoch})",
            switched_at="now()",
        )
        self.cleanup()

    def cleanup(self) -> None:
        """Drop the move's subscription, publication and slot (idempotent)."""
        name = self.plan.replication_name
        if self.target.execute("select 1 from pg_subscription where subname = %s", (name,)).fetchone():
            self.target.execute(sql.SQL("alter subscription {} disable").format(sql.Identifier(name)))
            self.target.execute(sql.SQL("drop subscription {}").format(sql.Identifier(name)))
        self.source.execute(sql.SQL("drop publication if exists {}").format(sql.Identifier(name)))
        deadline = time.monotonic() + 30
        while self.source.execute("select 1 from pg_replication_slots where slot_name = %s", (name,)).fetchone():
            try:
                self.source.execute("select pg_drop_replication_slot(%s)", (name,))
            except psycopg.errors.ObjectInUse:  # its walsender is still exiting
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def run(self, until: str | None = None) -> str:
        """Run (or resume) the move up to `switched` (or `until`); returns the step reached."""
        step = self.step()
        if step is None:
            self.prepare()
            step = "prepared"
        if step == until:
            return step
        if step in ("prepared", "copying"):
            self.copy()
            step = "copied"
        if step == until:
            return step
        if step == "copied":
            self.catch_up()
            self.fence()
            step = "fenced"
        if step == until:
            return step
        if step == "fenced":
            self.fence_again()
            self.cut_over()
            step = "switched"
        return step

    def fence_again(self) -> None:
        """On resume at `fenced`: the fence rows are there (one transaction), nothing to redo."""
        blocked = self.source.execute(
            "select count(*) from cryb_shards.blocked where move_id = %s and reason = 'fenced'", (self.plan.move_id,)
        ).fetchone()
        if not blocked or int(blocked[0]) != self.plan.bucket_count:
            raise MoveError(f"journal says fenced but the source holds {blocked} fences of {self.plan.bucket_count}")

    def finish(self, wait: Callable[[float], None] = time.sleep) -> int:
        """Delete the source's copies of the moved buckets (after the grace period); returns rows deleted."""
        journal = self.journal()
        if journal is None or journal["step"] not in ("switched", "finished"):
            step = journal["step"] if journal else "not started"
            raise MoveError(f"move {self.plan.move_id} is {step}: finish needs it switched (run `shards move` first)")
        if journal["step"] == "finished":
            self.say(f"[{self.plan.move_id}] already finished ({journal['rows_deleted']} rows deleted)")
            return int(journal["rows_deleted"] or 0)
        self.cleanup()  # a mover killed right after the switch left them
        row = self.target.execute(
            "select extract(epoch from clock_timestamp() - switched_at)::float8 from cryb_shards.moves "
            "where move_id = %s",
            (self.plan.move_id,),
        ).fetchone()
        elapsed = float(row[0]) if row and row[0] is not None else 0.0
        if elapsed < self.options.grace_seconds:
            wait(self.options.grace_seconds - elapsed)
        first, last = self._range
        deleted = 0
        for table in self.tables:
            while True:
                with self.source.transaction():
                    self.source.execute("set local cryb_shards.bypass = on")
                    cursor = self.source.execute(
                        sql.SQL(
                            "delete from only {t} where ctid = any(array("
                            "select ctid from only {t} where bucket between %s and %s limit %s))"
                        ).format(t=table.ident),
                        (first, last, self.options.delete_batch),
                    )
                deleted += cursor.rowcount
                if cursor.rowcount < self.options.delete_batch:
                    break
        self.record(
            "finished",
            f"deleted {deleted} rows of the moved buckets from shard {self.plan.source}",
            finished_at="now()",
            rows_deleted=deleted,
        )
        return deleted
