"""The preview publishes the shard map the finished moves reached (shardmoves/<stack>.json) and refuses a shard
count that disagrees with them, before any resource is registered."""

import json
from pathlib import Path

import pytest

from components.config import ConfigError
from components.postgres.shard_map import document, moves
from scripts import PROJECT_DIR
from scripts.preview.mock_engine import evaluate
from tests.helpers import stack_document, write_config


def _program_with_ledger(tmp_path: Path, moves_done: int) -> Path:
    """The real program, with a ledger of a 4 -> 8 split of which `moves_done` moves are finished."""
    program = tmp_path / "program"
    (program / "shardmoves").mkdir(parents=True)
    (program / "__main__.py").symlink_to(PROJECT_DIR / "__main__.py")
    planned = moves(1024, 4, 8)[:moves_done]
    ledger = {
        "bucketCount": 1024,
        "startShards": 4,
        "moves": [{"first": m.first, "last": m.last, "source": m.source, "target": m.target} for m in planned],
    }
    (program / "shardmoves" / "prod.json").write_text(json.dumps(ledger))
    return program


def _prod_with_shards(tmp_path: Path, shards: int) -> Path:
    postgres = {**stack_document("prod")["config"]["cryb-db:postgres"], "shardCount": shards}
    return write_config(tmp_path, "prod", {"cryb-db:postgres": postgres})


@pytest.mark.parametrize(("moves_done", "published"), [(0, 4), (2, 4), (4, 8)])
def test_new_shards_stay_empty_until_the_moves_finish(tmp_path: Path, moves_done: int, published: int) -> None:
    config = _prod_with_shards(tmp_path, 8)
    evaluation = evaluate("prod", config, program_dir=_program_with_ledger(tmp_path, moves_done))
    pg = evaluation.outputs["postgres"]
    assert pg["shardMap"] == document(1024, published)
    assert len(pg["shards"]) == 8
    empty = [s["id"] for s in pg["shards"] if s["bucketRange"] is None]
    assert empty == ([] if published == 8 else [4, 5, 6, 7])


def test_a_shard_count_below_the_shards_holding_buckets_is_refused(tmp_path: Path) -> None:
    program = _program_with_ledger(tmp_path, 4)  # the split to 8 is finished: shards 4-7 hold buckets
    with pytest.raises(ConfigError, match=r"cryb-db:postgres.shardCount = 4: the finished moves in shardmoves/prod"):
        evaluate("prod", _prod_with_shards(tmp_path, 4), program_dir=program)
