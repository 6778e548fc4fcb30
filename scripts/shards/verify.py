"""Row counts and checksums per bucket and table, on two shards (the move's verification; also `shards verify`).

The checksum is the sum of the first 64 bits of md5(row as text): independent of row order, and any changed,
missing or extra row changes it."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from .tables import ShardedTable

Summary = dict[int, tuple[int, str]]
"""bucket -> (rows, checksum)"""


def summarize(conn: psycopg.Connection, table: ShardedTable, first: int, last: int) -> Summary:
    query = sql.SQL(
        "select bucket, count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 16))::bit(64)::bigint), 0)::text "
        "from only {} t where bucket between %s and %s group by bucket"
    ).format(table.ident)
    return {int(b): (int(n), str(s)) for b, n, s in conn.execute(query, (first, last)).fetchall()}


@dataclass
class Verification:
    rows_source: int = 0
    rows_target: int = 0
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def verify(
    source: psycopg.Connection, target: psycopg.Connection, tables: list[ShardedTable], first: int, last: int
) -> Verification:
    result = Verification()
    for table in tables:
        on_source, on_target = summarize(source, table, first, last), summarize(target, table, first, last)
        result.rows_source += sum(n for n, _ in on_source.values())
        result.rows_target += sum(n for n, _ in on_target.values())
        for bucket in sorted(set(on_source) | set(on_target)):
            want, got = on_source.get(bucket, (0, "0")), on_target.get(bucket, (0, "0"))
            if want != got:
                result.mismatches.append(
                    f"{table} bucket {bucket}: source {want[0]} rows (sum {want[1]}), "
                    f"target {got[0]} rows (sum {got[1]})"
                )
    return result
