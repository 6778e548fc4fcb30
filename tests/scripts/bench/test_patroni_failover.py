"""bench patroni-failover measures the timing that ships: the stack's own, validated like a stack file."""

import subprocess
import sys
from pathlib import Path

import pytest
import typer

from components.selfhosted.patroni_config import DcsTiming
from scripts import PROJECT_DIR
from scripts.bench.patroni_failover import checked_timing, failover_target_seconds, shipped_timing
from tests.helpers import write_config


def test_the_default_is_the_timing_prod_ships() -> None:
    timing, source = shipped_timing("prod")
    assert (timing.ttl, timing.loop_wait, timing.retry_timeout) == (20, 5, 7)
    assert source == "prod: selfhosted.clusters.analytics"
    assert failover_target_seconds(timing) == 30.0  # ttl + loop_wait + 5


def test_a_stack_with_its_own_timing_is_benchmarked_with_it(tmp_path: Path) -> None:
    analytics = {"timescaledb": True, "ttl": 30, "loopWait": 10, "retryTimeout": 10}
    config = write_config(
        tmp_path,
        "prod",
        {"cryb-db:selfhosted": {"imageSsmParameter": "/cryb-db/images/pg", "clusters": {"analytics": analytics}}},
    )
    timing, _ = shipped_timing("prod", config)
    assert timing == DcsTiming(30, 10, 10)


def test_overrides_obey_the_config_rules() -> None:
    assert checked_timing(DcsTiming(20, 5, 7), 24, None, None) == DcsTiming(24, 5, 7)
    with pytest.raises(typer.BadParameter, match="ttl"):
        checked_timing(DcsTiming(20, 5, 7), 10, 2, 4)  # what the benchmark used to default to; the config refuses it
    with pytest.raises(typer.BadParameter, match=r"loopWait \+ 2 \* retryTimeout"):
        checked_timing(DcsTiming(20, 5, 7), None, 10, 7)


def test_the_command_refuses_a_timing_the_config_refuses_before_starting_anything() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts", "bench", "patroni-failover", "--ttl", "10"],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        timeout=120,
    )
    assert result.returncode == 64  # a usage error (scripts/cli/exits.py)
    assert "ttl" in result.stderr and "greater than or equal to 20" in result.stderr
