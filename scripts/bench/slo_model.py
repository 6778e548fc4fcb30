"""The pure half of `bench slo`: the scaling model, the pgbench/redis-benchmark output parsers, latency summaries, the
verdict per seed target and the reports (Markdown, JSON, chart). The runs themselves live in slo.py.

The scaling model is deliberately simple and printed with every report:

* throughput (reads/s, inserts/s, cache ops/s) scales with the cores that serve it. Here the load generator, the
  pooler and the servers share this machine's cores, so the measured figure is a floor for what the same cores
  serve alone. PostgreSQL: x (vCPUs of db.r7g.2xlarge / cores here). Cache: x (masters x vCPUs of cache.r7g.large /
  cores here): only masters serve (the replicas are standbys) and ElastiCache on Graviton uses the node's second
  vCPU for network I/O (enhanced I/O multiplexing);
* memory does not enter: the data set is sized to fit in shared_buffers / maxmemory here and on the target, so both
  serve from memory (the model prints the ratio for the record);
* latency is not scaled: the measured figure is kept as the estimate (an upper bound: the target has more cores per
  client and no load generator beside it);
* connections are not scaled: what counts is how many concurrent clients the pooler held with no failed transaction.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scripts.reports.tables import markdown_table


@dataclass(frozen=True)
class Machine:
    name: str
    cores: int
    memory_gib: float


# AWS: db.r7g.2xlarge 8 vCPU / 64 GiB (the prod shard class, components/postgres/tuning.py);
# cache.r7g.large 2 vCPU / 13.07 GiB (the prod cache node type).
DB_TARGET = Machine("db.r7g.2xlarge", 8, 64.0)
CACHE_TARGET = Machine("cache.r7g.large", 2, 13.07)


@dataclass(frozen=True)
class ScalingModel:
    here: Machine
    db_target: Machine = DB_TARGET
    cache_target: Machine = CACHE_TARGET
    cache_masters: int = 3

    @property
    def db_factor(self) -> float:
        return self.db_target.cores / self.here.cores

    @property
    def cache_factor(self) -> float:
        return self.cache_masters * self.cache_target.cores / self.here.cores

    def describe(self) -> list[str]:
        here, db, cache = self.here, self.db_target, self.cache_target
        return [
            f"this machine: {here.cores} cores, {here.memory_gib:.1f} GiB, shared by the load generator, the pooler "
            "and the servers",
            f"PostgreSQL shard throughput x {self.db_factor:.2f} = {db.name} {db.cores} vCPU / {here.cores} cores "
            f"(memory {db.memory_gib:.0f} GiB vs {here.memory_gib:.1f} GiB: not used, the data set fits in memory on "
            "both)",
            f"cache cluster throughput x {self.cache_factor:.2f} = {self.cache_masters} masters x {cache.name} "
            f"{cache.cores} vCPU / {here.cores} cores (memory {cache.memory_gib:.2f} GiB per node: not used)",
            "latency and connection counts: not scaled (the measured figure is the estimate, an upper bound for "
            "latency)",
        ]


# -- measurements ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    count: int
    mean_ms: float
    p50_ms: float
    p99_ms: float
    p999_ms: float


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(latencies_us: Iterable[float]) -> Latency:
    values = sorted(latencies_us)
    if not values:
        raise ValueError("no transactions were logged")
    ms = [v / 1000 for v in values]
    return Latency(
        count=len(ms),
        mean_ms=sum(ms) / len(ms),
        p50_ms=percentile(ms, 0.50),
        p99_ms=percentile(ms, 0.99),
        p999_ms=percentile(ms, 0.999),
    )


def pgbench_log_latencies(lines: Iterable[str]) -> list[float]:
    """Latency (µs) of every logged transaction: `client_id transaction_no time script_no time_epoch time_us`;
    a failed or skipped transaction logs `failed`/`skipped` in the time field and is left out."""
    found = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 3 and fields[2].isdigit():
            found.append(float(fields[2]))
    return found


CONNECTS_PER_SECOND = 40  # SCRAM logins per second a loaded 2-core machine manages (client, PgBouncer and server)


def pgbench_duration(seconds: int, clients: int) -> int:
    """pgbench's -T: the measured seconds plus time to open every connection. pgbench's clock runs while its clients
    log in (SCRAM, 4,096 iterations, on both sides), and 2,000 logins take ~30-50 s on 2 busy cores: a run of only
    `seconds` would end before the last client connects and count nothing. Its tps excludes that connection time."""
    return seconds + math.ceil(clients / CONNECTS_PER_SECOND)


_TPS = re.compile(r"^tps = ([\d.]+) \(without initial connection time\)", re.MULTILINE)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.MULTILINE)
_PROCESSED = re.compile(r"^number of transactions actually processed: (\d+)", re.MULTILINE)


@dataclass(frozen=True)
class PgbenchSummary:
    tps: float
    processed: int
    failed: int


def parse_pgbench_output(text: str) -> PgbenchSummary:
    tps, processed = _TPS.search(text), _PROCESSED.search(text)
    if tps is None or processed is None:
        raise ValueError(f"no pgbench summary in its output: {text[-300:]!r}")
    failed = _FAILED.search(text)
    return PgbenchSummary(float(tps.group(1)), int(processed.group(1)), int(failed.group(1)) if failed else 0)


@dataclass(frozen=True)
class RedisFigure:
    test: str
    ops: float
    avg_ms: float
    p50_ms: float
    p99_ms: float


def parse_redis_benchmark_csv(text: str) -> list[RedisFigure]:
    """`redis-benchmark --csv` (7.x): a header row, then one row per test with rps and latency columns (ms); with
    `--cluster` the masters are listed before the header."""
    start = text.find('"test"')
    if start < 0:
        raise ValueError(f"no CSV header in redis-benchmark's output: {text[-300:]!r}")
    rows = list(csv.DictReader(io.StringIO(text[start:].strip())))
    return [
        RedisFigure(
            test=row["test"],
            ops=float(row["rps"]),
            avg_ms=float(row["avg_latency_ms"]),
            p50_ms=float(row["p50_latency_ms"]),
            p99_ms=float(row["p99_latency_ms"]),
        )
        for row in rows
        if row.get("rps")
    ]


@dataclass
class PgRun:
    """One pgbench run: a workload over one path at one client count (or why it was not run / failed)."""

    workload: str  # read | insert | feed
    path: str  # pgbouncer | direct
    clients: int
    seconds: int
    tps: float | None = None
    processed: int = 0
    failed: int = 0
    latency: Latency | None = None
    skipped: str | None = None  # not run, and why
    error: str | None = None  # ran and broke (pgbench's message)

    @property
    def ok(self) -> bool:
        return self.tps is not None and self.error is None and self.failed == 0


@dataclass
class CacheRun:
    test: str  # GET | SET
    pipeline: int
    clients: int
    requests: int
    figure: RedisFigure | None = None
    error: str | None = None


# -- verdicts ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    target: str
    wanted: str
    measured: str
    estimate: str
    meets: bool | None  # None: nothing measured
    basis: str


def _best(runs: Sequence[PgRun], workload: str) -> PgRun | None:
    done = [r for r in runs if r.workload == workload and r.ok]
    return max(done, key=lambda r: r.tps or 0.0) if done else None


def _throughput(name: str, minimum: float, best: PgRun | None, factor: float) -> Verdict:
    if best is None or best.tps is None:
        return Verdict(name, f">= {minimum:,.0f}", "-", "-", None, "no successful run")
    scaled = best.tps * factor
    return Verdict(
        name,
        f">= {minimum:,.0f}",
        f"{best.tps:,.0f}",
        f"{scaled:,.0f}",
        scaled >= minimum,
        f"best run: {best.path}, {best.clients} clients; x {factor:.2f}",
    )


def verdicts(
    pg: Sequence[PgRun], cache: Sequence[CacheRun], model: ScalingModel, latency_clients: int = 64
) -> list[Verdict]:
    """Each seed target with the measured figure, the scaled estimate and whether the estimate meets it."""
    found = [
        _throughput("reads/s per shard (point reads by primary key)", 50_000, _best(pg, "read"), model.db_factor),
        _throughput("inserts/s per shard", 10_000, _best(pg, "insert"), model.db_factor),
    ]
    held = [r.clients for r in pg if r.path == "pgbouncer" and r.ok]
    most = max(held) if held else None
    found.append(
        Verdict(
            "concurrent connections per shard",
            ">= 2,000",
            f"{most:,}" if most else "-",
            f"{most:,}" if most else "-",
            None if most is None else most >= 2000,
            "most clients held through PgBouncer with no failed transaction (not scaled)",
        )
    )
    feed = [r for r in pg if r.workload == "feed" and r.path == "pgbouncer" and r.ok and r.latency]
    at = min((r for r in feed if r.clients >= latency_clients), key=lambda r: r.clients, default=None)
    at = at or max(feed, key=lambda r: r.clients, default=None)
    if at is not None and at.latency is not None:
        mean = at.latency.mean_ms
        found.append(
            Verdict(
                "average latency per shard (feed mix)",
                "< 10 ms",
                f"{mean:.2f} ms",
                f"{mean:.2f} ms",
                mean < 10,
                f"mean over every transaction, PgBouncer, {at.clients} clients (not scaled)",
            )
        )
    else:
        found.append(Verdict("average latency per shard (feed mix)", "< 10 ms", "-", "-", None, "no successful run"))
    figures = [c for c in cache if c.figure is not None]
    best = max(figures, key=lambda c: c.figure.ops if c.figure else 0.0, default=None)
    if best is not None and best.figure is not None:
        scaled = best.figure.ops * model.cache_factor
        found.append(
            Verdict(
                "cache ops/s (cluster)",
                ">= 1,000,000",
                f"{best.figure.ops:,.0f}",
                f"{scaled:,.0f}",
                scaled >= 1_000_000,
                f"best: {best.test} pipeline {best.pipeline}; x {model.cache_factor:.2f}",
            )
        )
    else:
        found.append(Verdict("cache ops/s (cluster)", ">= 1,000,000", "-", "-", None, "no successful run"))
    single = [c for c in figures if c.pipeline == 1 and c.figure is not None]
    if single:
        worst = max(single, key=lambda c: c.figure.avg_ms if c.figure else 0.0)
        assert worst.figure is not None
        found.append(
            Verdict(
                "cache latency (average, no pipelining)",
                "< 1 ms",
                f"{worst.figure.avg_ms:.3f} ms",
                f"{worst.figure.avg_ms:.3f} ms",
                worst.figure.avg_ms < 1,
                f"worst of GET/SET at pipeline 1 ({worst.test}; p99 {worst.figure.p99_ms:.3f} ms; not scaled)",
            )
        )
    else:
        found.append(Verdict("cache latency (average, no pipelining)", "< 1 ms", "-", "-", None, "no successful run"))
    return found


# -- reports -------------------------------------------------------------------------------------------------------

VERDICT_HEADERS = ["target", "seed", "measured here", "scaled estimate", "meets", "basis"]
PG_HEADERS = ["workload", "path", "clients", "tps", "failed", "mean ms", "p50 ms", "p99 ms", "p99.9 ms", "note"]
CACHE_HEADERS = ["test", "pipeline", "clients", "ops/s", "avg ms", "p50 ms", "p99 ms", "note"]


def _meets(value: bool | None) -> str:
    return {True: "meets", False: "does not meet", None: "not measured"}[value]


def verdict_rows(found: Sequence[Verdict]) -> list[list[str]]:
    return [[v.target, v.wanted, v.measured, v.estimate, _meets(v.meets), v.basis] for v in found]


def pg_rows(runs: Sequence[PgRun]) -> list[list[str]]:
    rows = []
    for r in runs:
        lat = r.latency
        note = r.skipped or r.error or ""
        rows.append(
            [
                r.workload,
                r.path,
                f"{r.clients:,}",
                f"{r.tps:,.0f}" if r.tps is not None else "-",
                str(r.failed) if r.tps is not None else "-",
                f"{lat.mean_ms:.2f}" if lat else "-",
                f"{lat.p50_ms:.2f}" if lat else "-",
                f"{lat.p99_ms:.2f}" if lat else "-",
                f"{lat.p999_ms:.2f}" if lat else "-",
                note,
            ]
        )
    return rows


def cache_rows(runs: Sequence[CacheRun]) -> list[list[str]]:
    return [
        [
            c.test,
            str(c.pipeline),
            str(c.clients),
            f"{c.figure.ops:,.0f}" if c.figure else "-",
            f"{c.figure.avg_ms:.3f}" if c.figure else "-",
            f"{c.figure.p50_ms:.3f}" if c.figure else "-",
            f"{c.figure.p99_ms:.3f}" if c.figure else "-",
            c.error or "",
        ]
        for c in runs
    ]


@dataclass
class SloReport:
    machine: str
    model: ScalingModel
    setup: list[str]
    pg: list[PgRun] = field(default_factory=list)
    cache: list[CacheRun] = field(default_factory=list)

    def verdicts(self) -> list[Verdict]:
        return verdicts(self.pg, self.cache, self.model)

    def markdown(self) -> str:
        return (
            "# Seed targets on the shipped settings (`python -m scripts bench slo`)\n\n"
            f"Measured on {self.machine}.\n\n"
            + "".join(f"- {line}\n" for line in self.setup)
            + "\n## Scaling model\n\n"
            + "".join(f"- {line}\n" for line in self.model.describe())
            + "\n## Targets\n\n"
            + markdown_table(VERDICT_HEADERS, verdict_rows(self.verdicts()))
            + "\n## PostgreSQL runs (pgbench)\n\n"
            + markdown_table(PG_HEADERS, pg_rows(self.pg))
            + "\n## Cache runs (redis-benchmark --cluster, TLS, ACL user `app`)\n\n"
            + markdown_table(CACHE_HEADERS, cache_rows(self.cache))
        )

    def document(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "setup": self.setup,
            "model": {
                **asdict(self.model),
                "db_factor": self.model.db_factor,
                "cache_factor": self.model.cache_factor,
                "description": self.model.describe(),
            },
            "targets": [asdict(v) for v in self.verdicts()],
            "postgres": [asdict(r) for r in self.pg],
            "cache": [asdict(c) for c in self.cache],
        }


def write_chart(runs: Sequence[PgRun], out: Path) -> None:
    """p50 and p99 latency against client connections, one line per workload and path (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    figure, axis = plt.subplots(figsize=(8, 5))
    series: dict[tuple[str, str], list[PgRun]] = {}
    for r in runs:
        if r.latency is not None and r.ok:
            series.setdefault((r.workload, r.path), []).append(r)
    for index, ((workload, path), points) in enumerate(sorted(series.items())):
        points.sort(key=lambda r: r.clients)
        xs = [r.clients for r in points]
        color = f"C{index}"
        axis.plot(
            xs, [r.latency.p50_ms for r in points if r.latency], "o-", color=color, label=f"{workload} {path} p50"
        )
        axis.plot(
            xs, [r.latency.p99_ms for r in points if r.latency], "s--", color=color, label=f"{workload} {path} p99"
        )
    axis.axhline(10, color="grey", linestyle=":", label="10 ms (seed: average)")
    axis.set_xscale("log")
    axis.set_yscale("log")
    ticks = sorted({r.clients for r in runs})
    axis.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axis.set_xticks(ticks, [f"{t:,}" for t in ticks])
    axis.set_xlabel("client connections")
    axis.set_ylabel("latency (ms)")
    axis.set_title("PostgreSQL shard on this machine: latency against connections")
    axis.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)
