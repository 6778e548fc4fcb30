"""`analytics status`, read only: the applied migrations and, per file of the recorded strategy, whether it is
pending or changed since it was applied."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import DictRow

from .files import MIGRATIONS_DIR, discover
from .history import read_applied
from .strategy import Strategy


def status(conn: psycopg.Connection[DictRow], directory: Path = MIGRATIONS_DIR) -> dict[str, Any]:
    """Applied migrations and, per file of the recorded strategy, whether it is pending or changed. Read only."""
    migrations = discover(directory)
    applied = read_applied(conn)
    recorded = {a.strategy for a in applied.values()}
    strategy = Strategy(recorded.pop()) if len(recorded) == 1 else None
    rows = []
    for migration in migrations:
        record = applied.get(migration.version)
        file = migration.file_for(strategy) if strategy else None
        if record is None:
            state = "pending"
        elif migration.repeatable:
            state = "applied"
        else:
            state = "applied" if file is None or file.checksum == record.checksum else "changed since applied"
        rows.append(
            {
                "version": migration.version,
                "name": migration.name,
                "file": file.path.name if file else None,
                "state": state,
                "strategy": record.strategy if record else None,
                "appliedAt": record.applied_at.isoformat() if record and record.applied_at else None,
                "checksum": record.checksum[:12] if record else None,
                "params": dict(record.params) if record and record.params else None,
            }
        )
    known = {m.version for m in migrations}
    rows += [
        {"version": v, "name": a.name, "file": None, "state": "applied, no file", "strategy": a.strategy,
         "appliedAt": a.applied_at.isoformat() if a.applied_at else None, "checksum": a.checksum[:12],
         "params": dict(a.params) if a.params else None}
        for v, a in sorted(applied.items()) if v not in known
    ]  # fmt: skip
    return {"database": conn.info.dbname, "strategy": str(strategy) if strategy else None, "migrations": rows}
