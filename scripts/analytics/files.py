"""The migration files in `migrations/` (their bytes are recorded as checksums in live databases: never edit an
applied one): discovery, names, versions, strategies and checksums."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import MigrationError
from .strategy import Strategy

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


_VERSIONED = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)(?:\.(?P<strategy>[a-z]+))?\.sql$")


_REPEATABLE = re.compile(r"^R_(?P<name>[a-z0-9_]+)(?:\.(?P<strategy>[a-z]+))?\.sql$")


def checksum(text: str) -> str:
    """SHA-256 of the file's text with line endings normalised (a checkout with CRLF is not a change)."""
    return hashlib.sha256(text.replace("\r\n", "\n").encode()).hexdigest()


@dataclass(frozen=True)
class MigrationFile:
    path: Path
    sql: str = field(repr=False)
    checksum: str


@dataclass(frozen=True)
class Migration:
    version: str
    """`0001`... for versioned migrations, `R_<name>` for repeatable ones."""
    name: str
    repeatable: bool
    files: Mapping[Strategy | None, MigrationFile]
    """None: one file for every strategy; else one file per strategy."""

    def file_for(self, strategy: Strategy) -> MigrationFile:
        return self.files[None] if None in self.files else self.files[strategy]


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations in `directory`: versioned in version order, then repeatable by name. Bad names, duplicate
    versions and versions with a file for some strategies but not all are refused, naming the files."""
    grouped: dict[str, dict[Strategy | None, MigrationFile]] = {}
    names: dict[str, str] = {}
    problems = []
    for path in sorted(directory.glob("*.sql")):
        match = _VERSIONED.match(path.name) or _REPEATABLE.match(path.name)
        if match is None:
            problems.append(f"{path.name}: not a migration name (NNNN_name[.strategy].sql or R_name[.strategy].sql)")
            continue
        raw = match.group("strategy")
        if raw is not None and raw not in Strategy.__members__:
            problems.append(f"{path.name}: unknown strategy {raw!r} (allowed: {', '.join(Strategy)})")
            continue
        strategy = Strategy(raw) if raw else None
        repeatable = path.name.startswith("R_")
        version = f"R_{match.group('name')}" if repeatable else match.group("version")
        if names.setdefault(version, match.group("name")) != match.group("name"):
            problems.append(f"{path.name}: version {version} is also used by {names[version]!r}")
            continue
        text = path.read_text()
        grouped.setdefault(version, {})[strategy] = MigrationFile(path, text, checksum(text))
    migrations = []
    for version, files in grouped.items():
        if None in files and len(files) > 1:
            problems.append(f"version {version}: a common file and strategy files ({', '.join(map(str, files))})")
        elif None not in files and set(files) != set(Strategy):
            missing = sorted(set(Strategy) - set(files))
            problems.append(f"version {version} ({names[version]}): no file for strategy {', '.join(missing)}")
        migrations.append(Migration(version, names[version], version.startswith("R_"), files))
    if problems:
        raise MigrationError(f"{directory}: " + "; ".join(problems))
    return sorted(migrations, key=lambda m: (m.repeatable, m.version))
