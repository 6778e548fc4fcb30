"""The Patroni side of dr-drill without servers: targets from the outputs (prod's, recorded), what is missing,
archived-segment comparison, scratch-server overrides (the drill itself runs on the booted cluster in
tests/real/sandbox/test_analytics_cluster.py)."""

import copy
from pathlib import Path

import pytest

from scripts.dr.patroni_drill import segment_archived
from scripts.dr.planning import OutputsError, patroni_targets_from_outputs, shards_from_outputs
from scripts.dr.scratch_node import scratch_settings
from scripts.preview.mock_engine import Evaluation


def test_prods_analytics_cluster_is_a_drill_target(prod: Evaluation) -> None:
    (target,) = patroni_targets_from_outputs(prod.outputs)
    assert (target.id, target.stanza, target.prefix) == ("analytics", "analytics", "pgbackrest-analytics")
    assert target.bucket == prod.outputs["backups"]["bucketName"]
    assert (
        target.passphrase_secret_arn.startswith("arn:aws:secretsmanager:")
        and "pgbackrest" in target.passphrase_secret_arn
    )
    assert target.secret_arn == prod.outputs["selfhosted"]["clusters"][0]["secretArn"]  # the admin role's
    assert patroni_targets_from_outputs(prod.outputs, "analytics") == [target]
    assert patroni_targets_from_outputs(prod.outputs, "shard-9") == []


def test_patroni_shards_are_drilled_with_pgbackrest_not_rds(prod: Evaluation) -> None:
    outputs = copy.deepcopy(prod.outputs)
    shard = outputs["postgres"]["shards"][0]
    passphrase = outputs["selfhosted"]["clusters"][0]["secretArn"]
    backup = {"stanza": "shard0", "prefix": "pgbackrest-shard0", "passphraseSecretArn": passphrase}
    shard.update(topology="patroni", backup=backup)
    assert shard["id"] not in {s.id for s in shards_from_outputs(outputs)}
    assert {t.stanza for t in patroni_targets_from_outputs(outputs)} == {"shard0", "analytics"}


def test_a_cluster_without_its_backup_output_is_named_with_what_is_missing(prod: Evaluation) -> None:
    outputs = copy.deepcopy(prod.outputs)
    del outputs["selfhosted"]["clusters"][0]["backup"]
    with pytest.raises(OutputsError, match=r"selfhosted.clusters\[0\] \(analytics\): missing backup.stanza"):
        patroni_targets_from_outputs(outputs)


@pytest.mark.parametrize(
    ("last", "needed", "expected"),
    [
        ("000000010000000000000007", "000000010000000000000007", True),
        ("000000010000000000000008", "000000010000000000000007", True),
        ("000000010000000000000006", "000000010000000000000007", False),
        ("000000020000000000000001", "000000010000000000000007", True),  # a later timeline
        ("00000002.history", "000000010000000000000007", False),
        (None, "000000010000000000000007", False),
    ],
)
def test_when_the_segment_holding_the_target_is_archived(last: str | None, needed: str, expected: bool) -> None:
    assert segment_archived(last, needed) is expected


def test_the_scratch_server_listens_on_its_private_socket_only() -> None:
    settings = scratch_settings(55432, Path("/tmp/x/socket"), Path("/tmp/x/pg_hba.conf"))
    assert settings["listen_addresses"] == "" and settings["unix_socket_directories"] == "/tmp/x/socket"
    assert settings["archive_mode"] == "off" and settings["ssl"] == "off"  # no source-node files or archive writes
