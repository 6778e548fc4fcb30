"""`python -m scripts`: every operator command is reachable, and the heavy ones load only when called."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from scripts import PROJECT_DIR
from scripts.__main__ import app


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["preview", "config-docs", "bench", "health", "dr-drill", "analytics", "shards"]),
        (["shards"], ["plan", "move", "verify", "finish", "status", "split"]),
        (["shards", "move"], ["--outputs", "--buckets", "--to", "--dry-run", "--until", "--cutover-timeout"]),
        (["analytics"], ["migrate", "status"]),
        (["bench"], ["preview", "cache-failover", "patroni-failover", "pitr", "patroni-rotation", "shard-move"]),
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
