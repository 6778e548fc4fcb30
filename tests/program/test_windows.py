"""The windows the program places, previewed through the real `__main__.py` under the mock engine: a sample of the
allowed shard x replica x topology shapes (every shape is enumerated on the pure function in
tests/components/postgres/test_schedule.py), with the default preferences, none overlapping on the resources."""

import json
from pathlib import Path
from typing import Any

import pytest

from scripts.preview.mock_engine import Evaluation
from tests.components.postgres.test_schedule import overlapping
from tests.helpers import evaluate_with, stack_document

INSTANCE = "aws:rds/instance:Instance"
CLUSTER = "aws:rds/cluster:Cluster"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"


def resource_windows(evaluation: Evaluation) -> list[str]:
    """Every window on the recorded resources: RDS instances and clusters, the ElastiCache replication group."""
    found = []
    for member in evaluation.of_type(INSTANCE):
        found += [member.inputs[k] for k in ("backupWindow", "maintenanceWindow") if k in member.inputs]
    for cluster in evaluation.of_type(CLUSTER):
        found += [cluster.inputs["preferredBackupWindow"], cluster.inputs["preferredMaintenanceWindow"]]
    for group in evaluation.of_type(REPLICATION_GROUP):
        found += [group.inputs["snapshotWindow"], group.inputs["maintenanceWindow"]]
    return found


def postgres_section(stack: str, **changes: Any) -> dict[str, str]:
    section = dict(stack_document(stack)["config"].get("cryb-db:postgres") or {})
    return {"cryb-db:postgres": json.dumps({**section, **changes})}


# (stack, postgres changes, shards, replica windows per shard): today's failure (prod with 8 shards), the largest
# allowed shape (16 x 5), the cluster topology at its largest, and dev.
SAMPLE = [
    ("prod", {"shardCount": 8}, 8, 1),
    ("prod", {"shardCount": 16, "readReplicas": 5}, 16, 5),
    ("dev", {"shardCount": 16, "topology": "cluster", "instanceClass": "db.r6gd.large"}, 16, 0),
    ("dev", {}, 1, 0),
]


@pytest.mark.parametrize(("stack", "changes", "shards", "replicas"), SAMPLE)
def test_a_sample_of_shapes_previews_with_the_default_windows(
    tmp_path: Path, stack: str, changes: dict[str, Any], shards: int, replicas: int
) -> None:
    evaluation = evaluate_with(tmp_path, stack, postgres_section(stack, **changes))
    windows = resource_windows(evaluation)
    standbys = shards if stack == "prod" else 0  # prod's DR standby per shard (cryb-db:dr): one more window each
    # backup + writer + replicas (+ standby) per shard, and the cache's two
    assert len(windows) == shards * (2 + replicas) + standbys + 2
    assert overlapping(windows) == []
    writers = [m for m in evaluation.of_type(INSTANCE) if "backupWindow" in m.inputs] + evaluation.of_type(CLUSTER)
    assert len(writers) == shards


def test_explicit_windows_reach_the_resources_as_set(tmp_path: Path) -> None:
    config = {
        **postgres_section("prod", backupWindowStart="05:00", maintenanceWindowStart="sun:10:00"),
        "cryb-db:cache": json.dumps({"snapshotWindow": "01:00-02:00", "maintenanceWindow": "sat:02:00-sat:03:00"}),
    }
    evaluation = evaluate_with(tmp_path, "prod", config)
    writer = next(m for m in evaluation.of_type(INSTANCE) if m.name == "cryb-prod-pg-00")
    assert (writer.inputs["backupWindow"], writer.inputs["maintenanceWindow"]) == ("05:00-06:00", "sun:10:00-sun:11:00")
    (group,) = evaluation.of_type(REPLICATION_GROUP)
    assert (group.inputs["snapshotWindow"], group.inputs["maintenanceWindow"]) == ("01:00-02:00", "sat:02:00-sat:03:00")
    assert overlapping(resource_windows(evaluation)) == []
