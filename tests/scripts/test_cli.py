"""`python -m scripts`: every operator command is reachable, and the heavy ones load only when called."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from scripts.__main__ import app
from scripts.stack_files import PROJECT_DIR


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["preview", "config-docs", "bench", "health", "dr-drill", "analytics"]),
        (["analytics"], ["migrate", "status"]),
        (["bench"], ["preview", "cache-failover", "patroni-failover", "pitr", "patroni-rotation"]),
        (["bench", "patroni-rotation"], ["--rotations", "--agent-interval"]),
        (["health"], ["--outputs", "--dsn", "--thresholds", "--json"]),
        (["dr-drill"], ["--outputs", "--shard", "--target"]),
    ],
)
def test_every_command_is_registered(args: list[str], expected: list[str]) -> None:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for word in expected:
        assert word in result.output, (args, word)


def test_an_unknown_command_is_refused() -> None:
    result = CliRunner().invoke(app, ["restore-everything"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_the_cli_starts_without_database_and_aws_clients() -> None:
    """`preview` is the hot path: psycopg, redis and boto3 load only with the commands that use them."""
    probe = (
        "import sys, scripts.__main__ as cli;"
        "cli.app(['config-docs', '--check'], standalone_mode=False);"
        "print('loaded:', sorted(m for m in ('psycopg', 'redis', 'boto3') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (loaded,) = [line for line in done.stdout.splitlines() if line.startswith("loaded:")]
    assert loaded == "loaded: []", done.stdout


def test_the_rotation_benchmark_measures_the_longest_run_of_failures() -> None:
    from scripts.bench_rotation import ClientLog

    assert ClientLog(10, []).longest_gap(0.05) == 0.0
    # Two runs of failures 50 ms apart (3 and 5 attempts), separated by successes: the longer counts.
    failures = [1.0, 1.05, 1.1, 3.0, 3.05, 3.1, 3.15, 3.2]
    assert ClientLog(40, failures).longest_gap(0.05) == pytest.approx(0.25)
