"""`bench slo`'s pure half: the scaling model, the parsers of pgbench's and redis-benchmark's output, latency
percentiles, the verdict per seed target and the reports (tests/real/test_bench_slo.py runs the benchmark)."""

import json
from pathlib import Path

import pytest

from components.postgres.tuning import instance_class
from scripts.bench.slo_model import (
    DB_TARGET,
    CacheRun,
    Latency,
    Machine,
    PgRun,
    RedisFigure,
    ScalingModel,
    SloReport,
    latency_summary,
    parse_pgbench_output,
    parse_redis_benchmark_csv,
    percentile,
    pgbench_duration,
    pgbench_log_latencies,
    verdicts,
    write_chart,
)

HERE = Machine("this machine", 2, 24.0)
MODEL = ScalingModel(HERE)


def test_the_model_scales_throughput_by_serving_cores_and_says_so() -> None:
    target = instance_class("db.r7g.2xlarge")
    assert (DB_TARGET.cores, DB_TARGET.memory_gib) == (target.vcpu, target.memory_gib)  # one definition of the class
    assert MODEL.db_factor == 4.0  # 8 vCPU / 2 cores
    assert MODEL.cache_factor == 3.0  # 3 masters x 2 vCPU / 2 cores
    assert ScalingModel(Machine("big", 16, 64.0), cache_masters=6).cache_factor == 0.75
    described = "\n".join(MODEL.describe())
    assert "x 4.00 = db.r7g.2xlarge 8 vCPU / 2 cores" in described
    assert "x 3.00 = 3 masters x cache.r7g.large 2 vCPU / 2 cores" in described


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 1001)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 0.999)) == (500.0, 990.0, 999.0)
    assert percentile([7.0], 0.999) == 7.0
    summary = latency_summary([3000.0, 1000.0, 2000.0, 10000.0])  # µs, unsorted
    assert summary == Latency(count=4, mean_ms=4.0, p50_ms=2.0, p99_ms=10.0, p999_ms=10.0)
    with pytest.raises(ValueError, match="no transactions"):
        latency_summary([])


def test_pgbench_logs_and_summary_are_read() -> None:
    log = ["0 1 512 0 1733400000 123456", "1 1 1490 2 1733400000 223456", "0 2 failed 0 1733400001 1", "junk"]
    assert pgbench_log_latencies(log) == [512.0, 1490.0]
    output = (
        "transaction type: multiple scripts\nnumber of clients: 64\n"
        "number of transactions actually processed: 120345\nnumber of failed transactions: 2 (0.002%)\n"
        "latency average = 5.3 ms\ninitial connection time = 80.1 ms\n"
        "tps = 12034.512345 (without initial connection time)\n"
    )
    summary = parse_pgbench_output(output)
    assert (summary.tps, summary.processed, summary.failed) == (12034.512345, 120345, 2)
    with pytest.raises(ValueError, match="no pgbench summary"):
        parse_pgbench_output("pgbench: error: connection to server failed: too many clients already")


def test_redis_benchmark_csv_is_read_after_the_cluster_preamble() -> None:
    output = (
        "Cluster has 3 master nodes:\n\nMaster 0: abc 127.0.0.1:1\n\n"
        '"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms",'
        '"max_latency_ms"\n"SET","50890.59","8.475","0.144","5.127","20.671","105.471","152.447"\n'
        '"GET","45146.73","6.164","0.096","1.111","20.607","99.263","185.215"\n'
    )
    assert parse_redis_benchmark_csv(output) == [
        RedisFigure("SET", 50890.59, 8.475, 5.127, 105.471),
        RedisFigure("GET", 45146.73, 6.164, 1.111, 99.263),
    ]
    with pytest.raises(ValueError, match="no CSV header"):
        parse_redis_benchmark_csv("ERR invalid password")


def _run(workload: str, path: str, clients: int, tps: float, mean_ms: float = 1.0, failed: int = 0) -> PgRun:
    latency = Latency(100, mean_ms, mean_ms / 2, mean_ms * 3, mean_ms * 5)
    return PgRun(workload, path, clients, 15, tps=tps, processed=100, failed=failed, latency=latency)


RUNS = [
    _run("read", "direct", 64, 15_000),
    _run("read", "pgbouncer", 64, 11_000),
    _run("insert", "pgbouncer", 64, 2_000),
    _run("feed", "pgbouncer", 1, 900, mean_ms=1.1),
    _run("feed", "pgbouncer", 64, 8_000, mean_ms=7.9),
    _run("feed", "pgbouncer", 512, 7_000, mean_ms=70.0),
    _run("feed", "pgbouncer", 2000, 6_000, mean_ms=300.0, failed=3),  # failures: not held
    PgRun("read", "direct", 2000, 15, skipped="not run: above max_connections 200"),
]
CACHE = [
    CacheRun("GET", 1, 50, 1000, RedisFigure("GET", 90_000, 0.5, 0.4, 1.5)),
    CacheRun("SET", 1, 50, 1000, RedisFigure("SET", 80_000, 0.6, 0.5, 2.0)),
    CacheRun("GET", 16, 50, 1000, RedisFigure("GET", 400_000, 2.0, 1.8, 4.0)),
]


def test_each_target_gets_measured_scaled_and_a_verdict() -> None:
    found = {v.target.split(" (")[0]: v for v in verdicts(RUNS, CACHE, MODEL)}
    reads = found["reads/s per shard"]
    assert (reads.measured, reads.estimate, reads.meets) == ("15,000", "60,000", True)  # best run x 4
    assert "direct, 64 clients" in reads.basis
    inserts = found["inserts/s per shard"]
    assert (inserts.estimate, inserts.meets) == ("8,000", False)
    connections = found["concurrent connections per shard"]
    assert (connections.measured, connections.meets) == ("512", False)  # 2,000 had failed transactions
    latency = found["average latency per shard"]
    assert (latency.measured, latency.meets) == ("7.90 ms", True)  # at 64 clients
    ops = found["cache ops/s"]
    assert (ops.measured, ops.estimate, ops.meets) == ("400,000", "1,200,000", True)
    cache_latency = found["cache latency"]
    assert (cache_latency.measured, cache_latency.meets) == ("0.600 ms", True)  # the worse of GET and SET


def test_nothing_measured_is_said_and_not_counted_as_met() -> None:
    found = verdicts([PgRun("read", "direct", 1, 1, error="pgbench exit 2: refused")], [], MODEL)
    assert {v.meets for v in found} == {None}
    assert all(v.measured == "-" for v in found)


def test_reports_carry_the_model_targets_and_runs(tmp_path: Path) -> None:
    report = SloReport("2 cores, load 3.0", MODEL, ["PostgreSQL 15 ..."], RUNS, CACHE)
    markdown = report.markdown()
    assert "| reads/s per shard (point reads by primary key) | >= 50,000 | 15,000 | 60,000 | meets |" in markdown
    assert "| inserts/s per shard | >= 10,000 | 2,000 | 8,000 | does not meet |" in markdown
    assert "not run: above max_connections 200" in markdown
    assert "x 4.00 = db.r7g.2xlarge" in markdown
    document = json.loads(json.dumps(report.document()))
    assert document["model"]["db_factor"] == 4.0
    assert len(document["postgres"]) == len(RUNS) and len(document["targets"]) == 6
    write_chart(RUNS, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_run_leaves_time_for_every_client_to_log_in() -> None:
    assert pgbench_duration(15, 1) == 16
    assert pgbench_duration(15, 2000) == 15 + 50  # 2,000 SCRAM logins at 40 a second
