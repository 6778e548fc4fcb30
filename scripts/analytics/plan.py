"""The plan: which migrations to run, in which order and why, refusing a changed applied file, an applied version
without a file and an out-of-order migration before anything runs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import MigrationError
from .files import MIGRATIONS_DIR, Migration, MigrationFile, checksum
from .history import Applied
from .strategy import Strategy


@dataclass(frozen=True)
class Step:
    migration: Migration
    file: MigrationFile
    checksum: str
    """What is recorded: the file's checksum, or for repeatable migrations that of file and parameters."""
    reason: str

    @property
    def label(self) -> str:
        return self.file.path.name


def repeatable_checksum(file: MigrationFile, settings: Mapping[str, str]) -> str:
    return checksum(file.checksum + json.dumps(dict(sorted(settings.items()))))


def plan(
    migrations: Sequence[Migration],
    applied: Mapping[str, Applied],
    strategy: Strategy,
    settings: Mapping[str, str],
) -> list[Step]:
    """What to run, in order. Refused (MigrationError, nothing run): an applied file that changed, an applied
    version with no file, and a pending versioned migration older than an applied one."""
    known = {m.version for m in migrations}
    problems = [
        f"version {v} ({applied[v].name}) is recorded as applied but has no file in {MIGRATIONS_DIR.name}/"
        for v in sorted(applied)
        if v not in known
    ]
    steps: list[Step] = []
    newest_applied = max((v for v in applied if not v.startswith("R_")), default="")
    for migration in migrations:
        file = migration.file_for(strategy)
        record = applied.get(migration.version)
        if migration.repeatable:
            wanted = repeatable_checksum(file, settings)
            if record is None:
                steps.append(Step(migration, file, wanted, "not applied yet"))
            elif record.checksum != wanted:
                steps.append(Step(migration, file, wanted, "file or parameters changed since it was applied"))
            continue
        if record is not None:
            if record.checksum != file.checksum:
                problems.append(
                    f"{file.path.name} was changed after it was applied (recorded checksum {record.checksum[:12]}, "
                    f"file {file.checksum[:12]}): restore it and put the change in a new migration"
                )
            continue
        if migration.version < newest_applied:
            problems.append(
                f"{file.path.name} is not applied but the newer version {newest_applied} is: "
                "out-of-order migrations are refused (renumber it after the newest)"
            )
            continue
        steps.append(Step(migration, file, file.checksum, "not applied yet"))
    if problems:
        raise MigrationError("; ".join(problems))
    return steps
