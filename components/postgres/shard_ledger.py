"""Splits as sequences of moves (pure; docs/sharding.md "Growing prod from 4 to 8 shards").

`shardmoves/<stack>.json` records the moves `python -m scripts shards finish` completed, starting from a map of
`startShards` shards. The program publishes the map the moves last completed: while a split is under way the
published map stays the old one (the router follows the moves through the shards' control tables); when the
finished moves make the ownership equal to `assign(bucketCount, N)`, the program publishes the N-shard map.
Once moves are recorded, the preview refuses a `postgres.shardCount` below the shards that hold buckets, and a
ledger whose moves do not follow from each other.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .shard_map import assign, shard_of_bucket


class LedgerError(ValueError):
    """The ledger contradicts itself or the stack config; the message names the move or key."""


@dataclass(frozen=True)
class LedgerMove:
    first: int
    last: int
    source: int
    target: int
    finished_at: str = ""


@dataclass(frozen=True)
class Ledger:
    bucket_count: int
    start_shards: int
    moves: tuple[LedgerMove, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "bucketCount": self.bucket_count,
            "startShards": self.start_shards,
            "moves": [
                {"first": m.first, "last": m.last, "source": m.source, "target": m.target, "finishedAt": m.finished_at}
                for m in self.moves
            ],
        }

    def _walk(self) -> list[list[int]]:
        """The owner of every bucket at the start and after each move."""
        start = assign(self.bucket_count, self.start_shards)
        owners = [shard_of_bucket(start, b) for b in range(self.bucket_count)]
        states = [list(owners)]
        for index, move in enumerate(self.moves):
            if not 0 <= move.first <= move.last < self.bucket_count:
                raise LedgerError(f"moves[{index}] buckets {move.first}-{move.last}: outside 0-{self.bucket_count - 1}")
            wrong = sorted({owners[b] for b in range(move.first, move.last + 1)} - {move.source})
            if wrong:
                raise LedgerError(
                    f"moves[{index}] buckets {move.first}-{move.last} from shard {move.source}: some were on shards "
                    f"{wrong} at that point; the ledger does not follow from startShards {self.start_shards}"
                )
            for b in range(move.first, move.last + 1):
                owners[b] = move.target
            states.append(list(owners))
        return states

    def ownership(self) -> list[int]:
        """Every bucket's shard after all finished moves."""
        return self._walk()[-1]

    def published_shards(self) -> int:
        """The shard count of the last map the moves completed (what the program publishes)."""
        published = self.start_shards
        for owners in self._walk()[1:]:
            count = max(owners) + 1
            if owners == [shard_of_bucket(assign(self.bucket_count, count), b) for b in range(self.bucket_count)]:
                published = count
        return published

    def pending(self, goal: int) -> list[tuple[int, int, int, int]]:
        """(first, last, source, target) ranges still to move before the ownership is the map of `goal` shards."""
        owners = self.ownership()
        ranges = assign(self.bucket_count, goal)
        result: list[tuple[int, int, int, int]] = []
        for b in range(self.bucket_count):
            want = shard_of_bucket(ranges, b)
            if owners[b] != want:
                if result and result[-1][1] == b - 1 and result[-1][2:] == (owners[b], want):
                    result[-1] = (result[-1][0], b, owners[b], want)
                else:
                    result.append((b, b, owners[b], want))
        return result


def load_ledger(path: Path) -> Ledger:
    try:
        document = json.loads(path.read_text())
        moves = tuple(
            LedgerMove(
                int(m["first"]), int(m["last"]), int(m["source"]), int(m["target"]), str(m.get("finishedAt", ""))
            )
            for m in document.get("moves", [])
        )
        return Ledger(int(document["bucketCount"]), int(document["startShards"]), moves)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LedgerError(f"{path}: not a shard ledger ({exc})") from exc


def ledger_problems(ledger: Ledger, shard_count: int, bucket_count: int, source: str) -> list[str]:
    """Why `postgres.shardCount` / `postgres.bucketCount` disagree with the finished moves (empty: they agree).
    A ledger without moves only fixes the map new shards start empty under; it refuses nothing."""
    if not ledger.moves:
        return []
    if ledger.bucket_count != bucket_count:
        return [
            f"cryb-db:postgres.bucketCount = {bucket_count}: {source} records moves over {ledger.bucket_count} "
            "buckets; the bucket count never changes"
        ]
    try:
        owners = ledger.ownership()
    except LedgerError as exc:
        return [f"{source}: {exc}"]
    holding = max(owners) + 1
    if shard_count < holding:
        return [
            f"cryb-db:postgres.shardCount = {shard_count}: the finished moves in {source} leave buckets on shards up "
            f"to {holding - 1}; must be >= {holding} (move their buckets away first: python -m scripts shards move)"
        ]
    return []


def published_map_shards(ledger: Ledger | None, shard_count: int) -> int:
    """How many shards the published map spans: the ledger's last completed map; without moves, its start (new
    shards empty) or fewer shards when the stack has fewer; every shard without a ledger."""
    if ledger is None:
        return shard_count
    if not ledger.moves:
        return min(ledger.start_shards, shard_count)
    return ledger.published_shards()


def stack_ledger_path(project_dir: Path, stack: str) -> Path:
    return project_dir / "shardmoves" / f"{stack}.json"


def load_stack_ledger(project_dir: Path, stack: str) -> Ledger | None:
    path = stack_ledger_path(project_dir, stack)
    return load_ledger(path) if path.exists() else None


__all__: Sequence[str] = (
    "Ledger",
    "LedgerError",
    "LedgerMove",
    "ledger_problems",
    "load_ledger",
    "load_stack_ledger",
    "published_map_shards",
    "stack_ledger_path",
)
