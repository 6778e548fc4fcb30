"""`python -m scripts bench slo`: the seed's per-shard and cache targets measured on the settings the program ships.

PostgreSQL 15 on loopback runs with the parameters the program renders for a shard (components/postgres/tuning.py,
`parameters_for` this machine's cores and memory: the same function sizes db.r7g.2xlarge), with fsync and
synchronous commit on as on RDS. pgbench drives three custom workloads over a feed-shaped `posts` table (point reads
by primary key, inserts, a feed mix of page reads, post views, votes and new posts) directly and through PgBouncer
1.18 in transaction pooling, at 1, 64, 512 and 2,000 client connections; the per-transaction log (`--log`) gives
p50/p99/p99.9. The program renders no PgBouncer (RDS Proxy fronts the writer), so the pooler here is sized by the
program's RDS Proxy rule: 80 % of max_connections. The self-hosted cache cluster boots from its rendered config (6
nodes, TLS, ACL users; scripts/bench/local_redis_cluster.py) and `redis-benchmark --cluster` runs GET and SET at
pipelines 1 and 16. The pure half (model, parsers, verdicts, reports) is slo_model.py.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from scripts import PROJECT_DIR

from .slo_model import (
    CACHE_HEADERS,
    CONNECTS_PER_SECOND,
    PG_HEADERS,
    VERDICT_HEADERS,
    CacheRun,
    Machine,
    PgRun,
    ScalingModel,
    SloReport,
    cache_rows,
    latency_summary,
    parse_pgbench_output,
    parse_redis_benchmark_csv,
    pg_rows,
    pgbench_duration,
    pgbench_log_latencies,
    verdict_rows,
    write_chart,
)

REPORTS = PROJECT_DIR / "reports"
CLIENTS = (1, 64, 512, 2000)
QUICK_CLIENTS = (1, 8)
WORKLOADS = ("read", "insert", "feed")
POOL_SHARE = 0.8  # RDS Proxy's pool may use 80 % of max_connections (docs/postgres.md); PgBouncer gets the same
SUPERUSER_RESERVED = 3  # PostgreSQL's default superuser_reserved_connections

SCHEMA = """
CREATE TABLE posts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL,
    author_id bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    score integer NOT NULL DEFAULT 0,
    comment_count integer NOT NULL DEFAULT 0,
    title text NOT NULL,
    body text NOT NULL
);
INSERT INTO posts (community_id, author_id, created_at, score, comment_count, title, body)
SELECT 1 + g %% %(communities)s, 1 + (g * 7919) %% 1000000, now() - make_interval(secs => g), g %% 500, g %% 40,
       'post ' || g, repeat(md5(g::text), 8)
FROM generate_series(1, %(rows)s) AS g;
CREATE INDEX posts_feed ON posts (community_id, created_at DESC);
CREATE INDEX posts_author ON posts (author_id, created_at DESC);
VACUUM ANALYZE posts;
"""

SCRIPTS = {
    "read.sql": "\\set id random(1, :rows)\n"
    "SELECT id, community_id, author_id, created_at, score, comment_count, title FROM posts WHERE id = :id;\n",
    "insert.sql": "\\set community random(1, :communities)\n\\set author random(1, 1000000)\n"
    "INSERT INTO posts (community_id, author_id, title, body) VALUES (:community, :author, 'a new post', "
    "repeat('x', 256));\n",
    "feed_page.sql": "\\set community random(1, :communities)\n"
    "SELECT id, author_id, created_at, score, comment_count, title FROM posts WHERE community_id = :community "
    "ORDER BY created_at DESC LIMIT 25;\n",
    "vote.sql": "\\set id random(1, :rows)\nUPDATE posts SET score = score + 1 WHERE id = :id;\n",
}
# workload -> pgbench scripts with weights; the feed: 6 page reads, 2 post views, 1 vote, 1 new post in 10
WORKLOAD_SCRIPTS = {
    "read": ["read.sql"],
    "insert": ["insert.sql"],
    "feed": ["feed_page.sql@6", "read.sql@2", "vote.sql@1", "insert.sql@1"],
}

err = Console(stderr=True)
slo_bench_app = typer.Typer(no_args_is_help=True, help="The seed's capacity targets on the shipped settings.")


def this_machine(memory_gib: float | None = None) -> Machine:
    cores = os.cpu_count() or 1
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return Machine("this machine", cores, memory_gib or round(total, 1))


def shard_settings(machine: Machine) -> tuple[dict[str, str | int | bool], int]:
    """(postgresql.conf settings, max_connections): the program's shard parameters for this machine's size, without
    the RDS-only ones; durability as on RDS."""
    from components.postgres.tuning import InstanceClass, parameters_for

    size = InstanceClass("this machine", vcpu=machine.cores, memory_gib=max(1, int(machine.memory_gib)))
    values: dict[str, str | int | bool] = {
        p.name: p.value for p in parameters_for(size) if not p.name.startswith("rds.")
    }
    # Units: RDS counts shared_buffers / effective_cache_size in 8 kB pages and *_mem in kB, as PostgreSQL does.
    values.update({"fsync": True, "synchronous_commit": "on"})
    return values, int(values["max_connections"])


def _raise_open_files() -> None:
    """2,000 clients, PgBouncer's 2,000 sockets and their server side need more than the usual 1,024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_pgbench(workdir: Path, dsn: dict[str, str], run: PgRun, rows: int, communities: int, threads: int) -> PgRun:
    """One pgbench run; fills tps, failures and the latency summary from its per-transaction log."""
    logs = workdir / f"log-{run.workload}-{run.path}-{run.clients}"
    logs.mkdir()
    scripts = [arg for name in WORKLOAD_SCRIPTS[run.workload] for arg in ("-f", str(workdir / name))]
    command = [
        shutil.which("pgbench") or "/usr/lib/postgresql/15/bin/pgbench",
        "-n",
        "-c",
        str(run.clients),
        "-j",
        str(max(1, min(run.clients, threads))),
        "-T",
        str(pgbench_duration(run.seconds, run.clients)),
        "-D",
        f"rows={rows}",
        "-D",
        f"communities={communities}",
        "--log",
        f"--log-prefix={logs / 'tx'}",
        *scripts,
    ]
    env = {**os.environ, "PGHOST": dsn["host"], "PGPORT": dsn["port"], "PGUSER": dsn["user"]}
    env.update({"PGPASSWORD": dsn["password"], "PGDATABASE": dsn["dbname"], "PGCONNECT_TIMEOUT": "30"})
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=run.seconds * 4 + 180)
    try:
        summary = parse_pgbench_output(done.stdout)
    except ValueError:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        run.error = f"pgbench exit {done.returncode}: {lines[-1] if lines else 'no output'}"
        return run
    run.tps, run.processed, run.failed = summary.tps, summary.processed, summary.failed
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        run.error = f"pgbench exit {done.returncode}: {lines[-1] if lines else ''}"
    latencies: list[float] = []
    for path in logs.iterdir():
        with path.open() as handle:
            latencies += pgbench_log_latencies(handle)
    if latencies:
        run.latency = latency_summary(latencies)
    shutil.rmtree(logs, ignore_errors=True)
    return run


def postgres_runs(
    machine: Machine, clients: Sequence[int], seconds: int, rows: int, threads: int
) -> tuple[list[PgRun], list[str]]:
    """Every workload directly (where max_connections allows) and through PgBouncer, at every client count."""
    import psycopg

    from tests.servers.pgbouncer import PgBouncerFactory
    from tests.servers.postgres import PostgresFactory

    settings, max_connections = shard_settings(machine)
    pool = max(1, int(max_connections * POOL_SHARE))
    communities = max(10, rows // 100)
    setup = [
        f"PostgreSQL 15 with the shard parameters for {machine.cores} cores / {machine.memory_gib:.0f} GiB "
        f"(components/postgres/tuning.py): shared_buffers {int(settings['shared_buffers']) * 8 // 1024} MiB, "
        f"max_connections {max_connections}, work_mem {int(settings['work_mem']) // 1024} MiB; fsync and "
        "synchronous_commit on; no TLS on loopback (RDS requires it: rds.force_ssl)",
        f"PgBouncer 1.18, transaction pooling, {pool} server connections (80 % of max_connections, the program's RDS "
        f"Proxy rule), max_client_conn {max(clients) + 50}",
        f"`posts` table, {rows:,} rows in {communities:,} communities (feed index on community, created_at); pgbench "
        f"{seconds} s per run plus 1 s per {CONNECTS_PER_SECOND} clients to log in (tps excludes that), {threads} "
        "threads, per-transaction log for percentiles",
        "workloads: read = point read by primary key; insert = one new post; feed = 60 % feed page (25 newest of a "
        "community), 20 % post view, 10 % vote (UPDATE), 10 % new post",
    ]
    runs: list[PgRun] = []
    postgres, bouncers = PostgresFactory(), PgBouncerFactory()
    workdir = Path(tempfile.mkdtemp(prefix="cryb-bench-slo-"))
    try:
        for name, text in SCRIPTS.items():
            (workdir / name).write_text(text)
        server = postgres.create(name="slo", settings=settings)
        with psycopg.connect(server.info.dsn, autocommit=True) as conn:
            for statement in SCHEMA.split(";\n"):
                if "%(" in statement:
                    conn.execute(statement, {"rows": rows, "communities": communities})  # type: ignore[arg-type]
                elif statement.strip():
                    conn.execute(statement)  # type: ignore[arg-type]
        info = server.info
        direct = {"host": info.host, "port": str(info.port), "user": info.user, "password": info.password}
        direct["dbname"] = info.dbname
        # Direct first: PgBouncer's idle server connections would count against max_connections.
        for workload in WORKLOADS:
            for count in clients:
                run = PgRun(workload, "direct", count, seconds)
                if count > max_connections - SUPERUSER_RESERVED:
                    run.skipped = (
                        f"not run: above max_connections {max_connections} (db.r7g.2xlarge ships 800); "
                        "clients beyond go through the pooler"
                    )
                else:
                    err.print(f"[dim]{workload} direct {count} clients[/]")
                    run_pgbench(workdir, direct, run, rows, communities, threads)
                runs.append(run)
        bouncer = bouncers.create(
            server,
            settings={
                "max_client_conn": max(clients) + 50,
                "default_pool_size": pool,
                "listen_backlog": 4096,
                "server_idle_timeout": 30,
            },
        )
        pooled = {**direct, "host": bouncer.info.host, "port": str(bouncer.info.port)}
        for workload in WORKLOADS:
            for count in clients:
                err.print(f"[dim]{workload} pgbouncer {count} clients[/]")
                runs.append(
                    run_pgbench(
                        workdir, pooled, PgRun(workload, "pgbouncer", count, seconds), rows, communities, threads
                    )
                )
    finally:
        bouncers.close()
        postgres.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return runs, setup


def cache_runs(requests: int, clients: int, pipelines: Sequence[int]) -> tuple[list[CacheRun], list[str]]:
    """GET and SET with redis-benchmark --cluster over TLS as the `app` ACL user, on prod's rendered cache nodes."""
    from .local_redis_cluster import local_cluster, stack_config

    cache = stack_config("prod").cache
    setup = [
        f"cache: prod's self-hosted cluster from its rendered redis.conf and ACL file ({cache.shards} masters x "
        f"{cache.replicas_per_shard} replica = {cache.shards * (1 + cache.replicas_per_shard)} nodes, TLS, ACL user "
        f"`app`), redis-benchmark {clients} clients, {requests:,} requests per test, 64-byte values, 100,000 keys",
    ]
    runs: list[CacheRun] = []
    with local_cluster("prod", tls=True) as cluster:
        assert cluster.tls_files is not None
        seed = cluster.nodes[0]
        for pipeline in pipelines:
            err.print(f"[dim]redis-benchmark pipeline {pipeline}[/]")
            command = [
                "redis-benchmark", "-h", "127.0.0.1", "-p", str(seed.port), "--cluster", "--tls",
                "--cacert", cluster.tls_files.ca, "--user", "app", "-a", cluster.passwords["app"],
                "-t", "get,set", "-P", str(pipeline), "-c", str(clients), "-n", str(requests),
                "-r", "100000", "-d", "64", "--csv",
            ]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)
            try:
                figures = {f.test: f for f in parse_redis_benchmark_csv(done.stdout)}
            except ValueError as exc:
                figures, error = {}, f"redis-benchmark exit {done.returncode}: {exc}"
            else:
                error = None
            for test in ("GET", "SET"):
                runs.append(CacheRun(test, pipeline, clients, requests, figures.get(test), error))
    return runs, setup


def _counts(text: str) -> list[int]:
    try:
        counts = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise typer.BadParameter(f"{text!r}: a comma-separated list of client counts, e.g. 1,64,512,2000") from None
    if not counts or counts[0] < 1:
        raise typer.BadParameter(f"{text!r}: client counts must be 1 or more")
    return counts


@slo_bench_app.command("slo")
def slo(
    clients: Annotated[
        str | None, typer.Option(help="Client connections per run, comma-separated (default 1,64,512,2000).")
    ] = None,
    seconds: Annotated[int | None, typer.Option(min=1, help="Seconds per pgbench run (default 15).")] = None,
    rows: Annotated[int | None, typer.Option(min=1000, help="Rows of the posts table (default 200,000).")] = None,
    threads: Annotated[int, typer.Option(min=1, help="pgbench threads.")] = 4,
    memory_gib: Annotated[
        float | None, typer.Option(help="Size the shard parameters for this much memory (default: the machine's).")
    ] = None,
    cache_requests: Annotated[int | None, typer.Option(min=100, help="redis-benchmark requests per test.")] = None,
    cache_clients: Annotated[int, typer.Option(min=1, help="redis-benchmark clients.")] = 50,
    quick: Annotated[bool, typer.Option(help="A smoke run: 1 and 8 clients, 1 s runs, small data, few requests.")] = (
        False
    ),
    skip_cache: Annotated[bool, typer.Option(help="Measure PostgreSQL only.")] = False,
    reports: Annotated[Path, typer.Option(help="Where the Markdown, JSON and PNG reports go.")] = REPORTS,
) -> None:
    """PostgreSQL (direct and through PgBouncer) and the cache cluster against the seed's targets, scaled to the
    target instances by a printed model; writes reports/bench-slo.{md,json,png}."""
    counts = _counts(clients) if clients else list(QUICK_CLIENTS if quick else CLIENTS)
    seconds = seconds or (1 if quick else 15)
    rows = rows or (5_000 if quick else 200_000)
    cache_requests = cache_requests or (2_000 if quick else 400_000)
    _raise_open_files()
    machine = this_machine(memory_gib)
    started = time.perf_counter()
    load_before = os.getloadavg()
    pg, setup = postgres_runs(machine, counts, seconds, rows, threads)
    cache: list[CacheRun] = []
    if not skip_cache:
        cache, cache_setup = cache_runs(cache_requests, cache_clients, (1, 16))
        setup += cache_setup
    load_after = os.getloadavg()
    description = (
        f"{machine.cores} cores, {machine.memory_gib:.1f} GiB, load average (1 min) {load_before[0]:.1f} before and "
        f"{load_after[0]:.1f} after, shared with other work; {time.perf_counter() - started:.0f} s in all"
    )
    report = SloReport(description, ScalingModel(this_machine(None)), setup, pg, cache)
    console = Console()
    for line in report.model.describe():
        console.print(f"model: {line}", highlight=False)
    from scripts.reports.tables import rich_table

    console.print(rich_table("PostgreSQL shard (pgbench)", PG_HEADERS, pg_rows(pg)))
    if cache:
        console.print(rich_table("Cache cluster (redis-benchmark --cluster, TLS)", CACHE_HEADERS, cache_rows(cache)))
    console.print(rich_table(f"Seed targets ({description})", VERDICT_HEADERS, verdict_rows(report.verdicts())))
    reports.mkdir(parents=True, exist_ok=True)
    import json

    (reports / "bench-slo.md").write_text(report.markdown())
    (reports / "bench-slo.json").write_text(json.dumps(report.document(), indent=2) + "\n")
    write_chart(pg, reports / "bench-slo.png")
    err.print(f"[dim]wrote {reports}/bench-slo.md, .json and .png[/]")
