"""The ledger of finished moves, `shardmoves/<stack>.json`: `shards finish --ledger` appends to it, the operator
commits it, and the program publishes the shard map the moves reached (components/postgres/shard_ledger.py)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from components.postgres.shard_ledger import Ledger, LedgerMove, load_ledger

from .plan import MovePlan


def record_finished(path: Path, plan: MovePlan, bucket_count: int, start_shards: int | None = None) -> Ledger:
    """Append the move (once; a repeated finish changes nothing). A new ledger starts at `start_shards`."""
    if path.exists():
        ledger = load_ledger(path)
    else:
        if start_shards is None:
            raise ValueError(f"--ledger {path}: no such file; create it with the shard count the moves start from")
        ledger = Ledger(bucket_count, start_shards, ())
    move = LedgerMove(plan.first, plan.last, plan.source, plan.target, datetime.datetime.now(datetime.UTC).isoformat())
    if any(
        (m.first, m.last, m.source, m.target) == (move.first, move.last, move.source, move.target) for m in ledger.moves
    ):
        return ledger
    updated = Ledger(ledger.bucket_count, ledger.start_shards, (*ledger.moves, move))
    updated.ownership()  # refuses a move whose buckets were not on its source
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(updated.to_json(), indent=2) + "\n")
    return updated
