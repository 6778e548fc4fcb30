"""What a bucket move is, before anything is touched (pure): the range, its current owner, the target, the names of
the publication and subscription that copy it, and the refusals that name the bad argument."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from cryb_db_client.live_map import LiveMap

STEPS = ("prepared", "copying", "copied", "fenced", "switched", "finished")
"""A move's steps in order, as its journal records them (docs/sharding.md "What a move does")."""


class PlanError(ValueError):
    """A move that must not start; the message names the argument, its value and what is allowed."""


@dataclass(frozen=True)
class MovePlan:
    first: int
    last: int
    source: int
    target: int

    @property
    def move_id(self) -> str:
        return f"b{self.first:04d}_{self.last:04d}_s{self.source}_t{self.target}"

    @property
    def replication_name(self) -> str:
        """The publication, subscription and slot name of this move."""
        return f"cryb_move_{self.move_id}"

    @property
    def bucket_count(self) -> int:
        return self.last - self.first + 1

    def __str__(self) -> str:
        return f"buckets {self.first}-{self.last} ({self.bucket_count}) from shard {self.source} to shard {self.target}"


def parse_buckets(text: str, bucket_count: int) -> tuple[int, int]:
    """`A-B` (inclusive) or `A`."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", text)
    if not match:
        raise PlanError(f"--buckets {text!r}: expected A-B (inclusive bucket numbers) or A")
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) is not None else first
    if not 0 <= first <= last < bucket_count:
        raise PlanError(
            f"--buckets {text}: must satisfy 0 <= A <= B <= {bucket_count - 1} (bucketCount {bucket_count})"
        )
    return first, last


def plan_move(live: LiveMap, shard_ids: Collection[int], first: int, last: int, target: int) -> MovePlan:
    """The move of buckets first..last to `target`, from the one shard that holds them all now."""
    if target not in shard_ids:
        raise PlanError(f"--to {target}: no such shard in the outputs (shards: {sorted(shard_ids)})")
    owners = sorted({live.owner(b) for b in range(first, last + 1)})
    if len(owners) != 1:
        raise PlanError(
            f"--buckets {first}-{last}: they live on shards {owners}; move each shard's part separately "
            f"(one source per move)"
        )
    fenced = sorted(b for b in range(first, last + 1) if b in live.fenced)
    if fenced:
        raise PlanError(
            f"--buckets {first}-{last}: buckets {fenced[:5]}... are fenced by another move; finish it first"
        )
    plan = MovePlan(first, last, owners[0], target)
    if plan.source == target:
        raise PlanError(f"--to {target}: buckets {first}-{last} are already on shard {target}")
    return plan
