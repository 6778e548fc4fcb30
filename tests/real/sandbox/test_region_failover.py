"""Losing the primary region, for real: prod's analytics cluster and its DR standby cluster booted from the
preview's launch templates in two node sandboxes (tests/servers/region_failover.py), a writer on the primary, the
primary killed, the standby promoted by `dr promote-region`'s cluster steps. The RPO stays within the documented
bound of repository shipping, a write is accepted after the promotion, backups and alarms start only then."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.preview.mock_engine import Evaluation
from tests.servers.region_failover import RPO_BOUND_SECONDS, STANDBY, run_region_failover

pytestmark = pytest.mark.servers


def test_the_standby_cluster_takes_over_within_the_documented_rpo(prod: Evaluation, tmp_path: Path) -> None:
    # Longer than archive_timeout (60 s): the first archived segment with the writer's rows reaches the standby.
    result = run_region_failover(prod, tmp_path, write_seconds=70)
    print("region failover:", result.as_dict())
    assert result.acknowledged > 1000  # the writer really wrote (one row per 20 ms, minus commit time)
    # Rows committed before the last archive reached the standby through the replicated repository...
    assert 0 < result.missing < result.acknowledged
    # ...and what is lost is at most the archive interval plus shipping, never older acknowledged rows.
    assert 0 < result.rpo_seconds <= RPO_BOUND_SECONDS == 71.0
    # RTO: a write accepted after the promotion, within Patroni's loop (loop_wait 5 s) plus the promotion itself.
    assert 0 < result.rto_seconds < 30
    assert result.steps["cluster-preflight"]["standby_leader"].startswith("analytics-")
    assert result.steps["cluster-verify-writes"]["seconds_after_promote_start"] > 0
    # Backups off until promotion, on after it: nothing in its own prefix before, its stanza and WAL after.
    assert result.standby_prefix_before_promotion == 0
    assert result.standby_archived_after_promotion
    # Alarms: the standby's actions enabled by the promotion, another cluster's left alone.
    assert result.alarms_enabled == {
        f"{STANDBY}-node-a-cpu": True,
        f"{STANDBY}-no-writer": True,
        "cryb-prod-other-cpu": False,
    }
