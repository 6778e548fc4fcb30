"""`python -m scripts bench slo --quick` end to end, as a user runs it: PostgreSQL 15 with the shipped shard parameters
(direct and through PgBouncer), prod's rendered cache cluster over TLS, the reports. Figures are not asserted (they
are the benchmark's); that every workload ran, without failed transactions, and the reports hold them is."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import PROJECT_DIR

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(
        any(shutil.which(tool) is None for tool in ("pgbouncer", "redis-server", "redis-benchmark", "openssl")),
        reason="needs pgbouncer, redis-server, redis-benchmark and openssl",
    ),
]


def test_bench_slo_quick_runs_every_workload_and_writes_the_reports(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "scripts", "bench", "slo", "--quick", "--reports", str(tmp_path)]
    done = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Seed targets" in done.stdout

    document = json.loads((tmp_path / "bench-slo.json").read_text())
    runs = {(r["workload"], r["path"], r["clients"]): r for r in document["postgres"]}
    assert set(runs) == {(w, p, c) for w in ("read", "insert", "feed") for p in ("direct", "pgbouncer") for c in (1, 8)}
    for key, run in runs.items():
        assert run["error"] is None and run["skipped"] is None, (key, run)
        assert run["tps"] > 0 and run["failed"] == 0, (key, run)
        assert run["latency"]["count"] >= 1 and run["latency"]["p50_ms"] <= run["latency"]["p99_ms"], (key, run)
    # the server ran with the program's parameters for this machine, with durable commits
    assert any("max_connections" in line and "fsync and synchronous_commit on" in line for line in document["setup"])

    cache = {(c["test"], c["pipeline"]): c for c in document["cache"]}
    assert set(cache) == {("GET", 1), ("SET", 1), ("GET", 16), ("SET", 16)}
    assert all(c["error"] is None and c["figure"]["ops"] > 0 for c in cache.values()), cache

    assert [t["target"].split(" ")[0] for t in document["targets"]] == [
        "reads/s",
        "inserts/s",
        "concurrent",
        "average",
        "cache",
        "cache",
    ]
    assert all(t["meets"] is not None for t in document["targets"])  # every target measured
    markdown = (tmp_path / "bench-slo.md").read_text()
    assert "## Scaling model" in markdown and "db.r7g.2xlarge" in markdown
    assert (tmp_path / "bench-slo.png").read_bytes()[:4] == b"\x89PNG"
