"""`python -m scripts bench pooler`, short: it runs both paths of both workloads in one run and reports the ratios
(figures are the benchmark's business; here they only have to be there and be consistent)."""

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from components.kubernetes.pool_sizing import DEFAULT_PROCESSES_PER_POD
from scripts.bench import pooler
from scripts.bench.command import bench_app

pytestmark = pytest.mark.servers


def test_bench_pooler_reports_both_paths_and_the_ratio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pooler, "REPORTS", tmp_path)
    result = CliRunner().invoke(
        bench_app, ["pooler", "--duration", "2", "--clients", "4", "--scale", "1"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "select-only ratio" in result.output
    report = json.loads((tmp_path / "bench-pooler.json").read_text())
    runs = {(r["workload"], r["path"]): r["tps"] for r in report["runs"]}
    assert set(runs) == {(w, p) for w in ("select-only (-S)", "write mix (-N)") for p in ("direct", "pgbouncer")} | {
        ("select-only (-S)", "pgbouncer, 1 process")
    }
    assert all(tps > 0 for tps in runs.values())
    for workload, ratio in report["ratios"].items():
        assert ratio == pytest.approx(runs[(workload, "pgbouncer")] / runs[(workload, "direct")])
    single = runs[("select-only (-S)", "pgbouncer, 1 process")] / runs[("select-only (-S)", "direct")]
    assert report["singleProcessSelectRatio"] == pytest.approx(single)
    # the shipped processes per pod, each with the pool pool_sizes gives 120 connections, 10 reserved, 4 pods x 2
    assert report["processes"] == DEFAULT_PROCESSES_PER_POD == 2
    assert report["poolPerProcess"] == {"default": 11, "reserve": 2}
    assert "2 PgBouncer processes, pool 11 + 2 each" in " ".join(result.output.split())
    assert (tmp_path / "bench-pooler.png").stat().st_size > 1000
    markdown = (tmp_path / "bench-pooler.md").read_text()
    assert "| select-only (-S) |" in markdown and "| select-only (-S), 1 PgBouncer process (21 + 5) |" in markdown
    assert "2 processes sharing the port (so_reuseport)" in markdown
    assert report["ownCore"] is False and "sharing every CPU" in markdown


def test_own_core_pins_the_server_and_pgbench_to_one_cpu_and_pgbouncer_to_the_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pooler, "REPORTS", tmp_path)
    before = os.sched_getaffinity(0)
    args = ["pooler", "--duration", "2", "--clients", "4", "--scale", "1", "--no-single-process", "--own-core"]
    result = CliRunner().invoke(bench_app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "bench-pooler.json").read_text())
    # read back from the running processes' affinities, not from what was asked
    assert report["ownCore"] is True and report["cpus"] == {"server": [0], "pgbouncer": [1]}
    assert "PostgreSQL and pgbench on CPU [0], PgBouncer on CPU [1]" in " ".join(result.output.split())
    assert os.sched_getaffinity(0) == before  # the bench gives its own process its CPUs back
