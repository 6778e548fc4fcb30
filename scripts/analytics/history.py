"""The history table `analytics.schema_migrations`: what was applied, with which checksum, strategy and
parameters, and when."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import DictRow

SCHEMA = "analytics"


HISTORY_TABLE = "schema_migrations"


HISTORY_EXISTS_SQL = "select to_regclass(%(name)s) is not null as exists"


HISTORY_DDL = f"""
create schema if not exists {SCHEMA};
create table if not exists {SCHEMA}.{HISTORY_TABLE} (
    version      text        primary key,
    name         text        not null,
    kind         text        not null check (kind in ('versioned', 'repeatable')),
    strategy     text        not null check (strategy in ('timescaledb', 'partman', 'native')),
    checksum     text        not null,
    params       jsonb       not null default '{{}}',
    applied_at   timestamptz not null default now(),
    applied_by   text        not null default current_user,
    execution_ms integer     not null
);
comment on table {SCHEMA}.{HISTORY_TABLE} is 'Applied analytics migrations (python -m scripts analytics migrate)';
"""


@dataclass(frozen=True)
class Applied:
    version: str
    name: str
    checksum: str
    strategy: str
    applied_at: Any = None
    params: Mapping[str, str] | None = None


def history_rows(conn: psycopg.Connection[DictRow]) -> list[DictRow]:
    exists = conn.execute(HISTORY_EXISTS_SQL, {"name": f"{SCHEMA}.{HISTORY_TABLE}"}).fetchone()
    if not exists or not exists["exists"]:
        return []
    return conn.execute(f"select * from {SCHEMA}.{HISTORY_TABLE} order by kind desc, version").fetchall()


def read_applied(conn: psycopg.Connection[DictRow]) -> dict[str, Applied]:
    return {
        r["version"]: Applied(r["version"], r["name"], r["checksum"], r["strategy"], r["applied_at"], r["params"])
        for r in history_rows(conn)
    }
