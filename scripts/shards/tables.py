"""The sharded tables a move carries: every plain table with a `bucket` column outside the control schemas
(docs/sharding.md "Schema convention"); tables without one are global and never move."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

NOT_SHARDED_SCHEMAS = ("pg_catalog", "information_schema", "cryb_shards", "cryb_directory")

DISCOVER = """
select n.nspname, c.relname,
       c.relreplident = 'f'
       or exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisprimary and a.attnum = any(i.indkey))
         as bucket_in_identity,
       (select string_agg(quote_ident(x.attname) || ' ' || format_type(x.atttypid, x.atttypmod), ', '
                          order by x.attnum)
          from pg_attribute x where x.attrelid = c.oid and x.attnum > 0 and not x.attisdropped) as columns
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  join pg_attribute a on a.attrelid = c.oid and a.attname = 'bucket' and not a.attisdropped
 where c.relkind = 'r' and not c.relispartition and n.nspname <> all(%s) and n.nspname not like 'pg_temp%%'
 order by 1, 2
"""


@dataclass(frozen=True)
class ShardedTable:
    schema: str
    name: str
    columns: str

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


def discover(conn: psycopg.Connection) -> tuple[list[ShardedTable], list[str]]:
    """(sharded tables, problems): a table whose primary key lacks `bucket` cannot replicate updates and deletes
    through a row filter on it."""
    tables, problems = [], []
    for schema, name, in_identity, columns in conn.execute(DISCOVER, (list(NOT_SHARDED_SCHEMAS),)).fetchall():
        table = ShardedTable(schema, name, columns)
        tables.append(table)
        if not in_identity:
            problems.append(
                f"table {table}: its primary key must include `bucket` (or REPLICA IDENTITY FULL) so updates and "
                "deletes replicate through the move's row filter"
            )
    return tables, problems


def compare(source: list[ShardedTable], target: list[ShardedTable], target_id: int) -> list[str]:
    """Every sharded table of the source must exist on the target with the same columns in the same order."""
    by_name = {(t.schema, t.name): t for t in target}
    problems = []
    for table in source:
        other = by_name.get((table.schema, table.name))
        if other is None:
            problems.append(f"table {table}: missing on shard {target_id}; apply the schema migrations there first")
        elif other.columns != table.columns:
            problems.append(
                f"table {table}: columns differ on shard {target_id} ({other.columns}) "
                f"from the source ({table.columns})"
            )
    return problems


def install_guard(conn: psycopg.Connection, tables: list[ShardedTable]) -> None:
    for table in tables:
        conn.execute(
            sql.SQL(
                "create or replace trigger cryb_shards_guard before insert or update or delete on {} "
                "for each row execute function cryb_shards.guard()"
            ).format(table.ident)
        )
