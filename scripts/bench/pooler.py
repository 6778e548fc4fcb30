"""`python -m scripts bench pooler`: pgbench through the shipped pgbouncer.ini (Debian's PgBouncer 1.18, the variant
without the settings it lacks, pool sizes from `pool_sizes`) against the same PostgreSQL directly, in one run, over
TLS both ways: select-only (`-S`) and a write mix (`-N`, simple-update), and the ratio bouncer/direct (target >= 0.75
for -S). PgBouncer runs as the pod runs it: `--processes` processes (default: the shipped processesPerPod) sharing
the port with so_reuseport, each with its own pool; `-S` is also measured through one process (the pod before
processesPerPod), for comparison. Writes reports/bench-pooler.{md,json,png}."""

import json
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import typer
from psycopg import sql
from rich.console import Console

from components.kubernetes.pool_sizing import (
    DEFAULT_PROCESSES_PER_POD,
    MAX_PROCESSES_PER_POD,
    PoolSizes,
    pool_sizes,
)
from scripts import PROJECT_DIR
from scripts.reports.tables import markdown_table, rich_table

REPORTS = PROJECT_DIR / "reports"
TARGET_SELECT_RATIO = 0.75
APP_USER, APP_PASSWORD = "bench", "bench-pw-1"
SERVER_MAX_CONNECTIONS = 120
SELECT_ONLY, WRITE_MIX = "select-only (-S)", "write mix (-N)"
DIRECT, BOUNCER, ONE_PROCESS = "direct", "pgbouncer", "pgbouncer, 1 process"
pooler_bench_app = typer.Typer(no_args_is_help=True, help="PgBouncer benchmarks (loopback, real servers).")


@dataclass(frozen=True)
class Run:
    workload: str
    path: str
    tps: float
    latency_ms: float


def pgbench(bin_dir: Path, conninfo: dict[str, str], ca: Path, args: list[str]) -> str:
    """pgbench's output (raises with its error output when it fails)."""
    env = {
        **os.environ,
        "PGPASSWORD": APP_PASSWORD,
        "PGSSLMODE": "verify-full",
        "PGSSLROOTCERT": str(ca),
    }
    cmd = [str(bin_dir / "pgbench"), "-h", conninfo["host"], "-p", conninfo["port"], "-U", APP_USER, *args, "cryb"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"pgbench failed ({out.returncode}): {out.stderr[-1500:]}")
    return out.stdout


def measure(bin_dir: Path, conninfo: dict[str, str], ca: Path, args: list[str]) -> tuple[float, float]:
    """(tps, average latency ms) of one pgbench run."""
    output = pgbench(bin_dir, conninfo, ca, args)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)
    latency = re.search(r"latency average = ([\d.]+) ms", output)
    if not tps or not latency:
        raise RuntimeError(f"no tps in pgbench output: {output[-1500:]}")
    return float(tps.group(1)), float(latency.group(1))


def write_chart(runs: list[Run], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = list(dict.fromkeys(r.workload for r in runs))
    paths = list(dict.fromkeys(r.path for r in runs))
    figure, axis = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(paths)
    for n, path in enumerate(paths):
        offset = (n - (len(paths) - 1) / 2) * width
        bars = [(i, r.tps) for i, w in enumerate(workloads) for r in runs if r.workload == w and r.path == path]
        axis.bar([i + offset for i, _ in bars], [tps for _, tps in bars], width, label=path)
    axis.set_xticks(range(len(workloads)), workloads)
    axis.set_ylabel("transactions per second")
    axis.set_title("pgbench through the shipped pgbouncer.ini vs direct (TLS)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)


@pooler_bench_app.command("pooler")
def pooler(
    clients: Annotated[int, typer.Option(min=1, max=1000, help="pgbench clients (-c).")] = 32,
    duration: Annotated[int, typer.Option(min=2, max=600, help="Seconds per pgbench run (-T).")] = 10,
    scale: Annotated[int, typer.Option(min=1, max=100, help="pgbench scale factor.")] = 5,
    max_replicas: Annotated[
        int, typer.Option(min=1, max=50, help="HPA maximum the pool is divided by (cryb-db:kubernetes.pgbouncer).")
    ] = 4,
    reserved: Annotated[int, typer.Option(min=0, help="reservedConnections.")] = 10,
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_PROCESSES_PER_POD,
            help="PgBouncer processes sharing the port, each with its own pool (processesPerPod).",
        ),
    ] = DEFAULT_PROCESSES_PER_POD,
    single_process: Annotated[
        bool, typer.Option(help="Also run -S through one PgBouncer process (the pod before processesPerPod).")
    ] = True,
    own_core: Annotated[
        bool,
        typer.Option(
            "--own-core/--shared-cores",
            help="--own-core: PostgreSQL and pgbench on CPU 0 in both paths, every PgBouncer process on CPU 1 (as on "
            "the platform, where PgBouncer pods have cores of their own). Default: everything shares every CPU.",
        ),
    ] = False,
) -> None:
    """pgbench -S and a write mix through PgBouncer and direct, the ratio, and a Markdown+PNG report."""
    from scripts.servers.process import make_workdir, remove_workdir, service_user
    from tests.servers.postgres import PostgresFactory
    from tests.servers.rendered_pgbouncer import (
        DEBIAN_PGBOUNCER,
        RenderedPgBouncer,
        listening_pids,
        rendered_pgbouncer,
        tls_postgres,
    )

    console = Console(stderr=True)
    if own_core and (os.cpu_count() or 1) < 2:
        raise typer.BadParameter(f"needs 2 CPUs, this machine has {os.cpu_count()}", param_hint="--own-core")
    all_cpus = os.sched_getaffinity(0)
    placement: dict[str, list[int]] = {}

    def sized(n: int) -> PoolSizes:
        return pool_sizes(
            max_connections=SERVER_MAX_CONNECTIONS,
            reserved_connections=reserved,
            max_replicas=max_replicas,
            processes_per_pod=n,
        )

    pools = sized(processes)
    if own_core:  # the server and pgbench, started from here, inherit CPU 0
        os.sched_setaffinity(0, {0})
    workdir = make_workdir("cryb-bench-pooler-", service_user("postgres"))
    factory = PostgresFactory()
    runs: list[Run] = []
    try:
        server, tls = tls_postgres(factory, workdir, max_connections=SERVER_MAX_CONNECTIONS, shared_buffers="128MB")
        postmaster = int((server.info.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        placement["server"] = sorted(os.sched_getaffinity(postmaster))
        server.execute(
            sql.SQL("create role {} login password {}").format(sql.Identifier(APP_USER), sql.Literal(APP_PASSWORD))
        )
        server.execute(sql.SQL("create database cryb owner {}").format(sql.Identifier(APP_USER)))
        direct = {"host": "127.0.0.1", "port": str(server.info.port)}
        console.print(f"[dim]pgbench -i -s {scale}[/]")
        pgbench(server.info.bin_dir, direct, tls.ca_file, ["-i", "-q", "-s", str(scale)])

        def run(workload: str, flag: str, path: str, target: dict[str, str], ca: Path) -> None:
            args = ["-n", flag, "-M", "extended", "-c", str(clients), "-j", "2", "-T", str(duration)]
            tps, latency = measure(server.info.bin_dir, target, ca, args)
            runs.append(Run(workload, path, tps, latency))
            console.print(f"[dim]{workload} {path}: {tps:.0f} tps[/]")

        @contextmanager
        def bouncers(n: int) -> Iterator[RenderedPgBouncer]:
            with rendered_pgbouncer(
                server, tls.ca_file, user=APP_USER, password=APP_PASSWORD, dbname="cryb", pools=sized(n), processes=n
            ) as bouncer:
                pids = listening_pids(bouncer.port)
                for pid in pids if own_core else ():
                    os.sched_setaffinity(pid, {1})
                placement["pgbouncer"] = sorted(set().union(*(os.sched_getaffinity(pid) for pid in pids)))
                yield bouncer

        with bouncers(processes) as bouncer:
            through = {"host": "127.0.0.1", "port": str(bouncer.port)}
            for workload, flag in ((SELECT_ONLY, "-S"), (WRITE_MIX, "-N")):
                run(workload, flag, DIRECT, direct, tls.ca_file)
                run(workload, flag, BOUNCER, through, bouncer.ca_file)
        if single_process and processes > 1:  # one after the other: they would compete for the same cores
            with bouncers(1) as bouncer:
                run(SELECT_ONLY, "-S", ONE_PROCESS, {"host": "127.0.0.1", "port": str(bouncer.port)}, bouncer.ca_file)
    finally:
        factory.close()
        remove_workdir(workdir)
        os.sched_setaffinity(0, all_cpus)
    where = (
        f"PostgreSQL and pgbench on CPU {placement['server']}, PgBouncer on CPU {placement['pgbouncer']}"
        if own_core
        else "server, pgbench and PgBouncer sharing every CPU"
    )

    def tps(workload: str, path: str) -> float:
        return next(r.tps for r in runs if r.workload == workload and r.path == path)

    ratios = {w: tps(w, BOUNCER) / tps(w, DIRECT) for w in (SELECT_ONLY, WRITE_MIX)}
    one_process = next((r for r in runs if r.path == ONE_PROCESS), None)
    bouncer_label = f"pgbouncer ({processes} process{'es' if processes > 1 else ''})"
    headers = ["workload", "direct tps", f"{bouncer_label} tps", "ratio", "direct latency ms", "pgbouncer latency ms"]
    rows = []
    for w, ratio in ratios.items():
        d = next(r for r in runs if r.workload == w and r.path == DIRECT)
        b = next(r for r in runs if r.workload == w and r.path == BOUNCER)
        rows.append([w, f"{d.tps:.0f}", f"{b.tps:.0f}", f"{ratio:.2f}", f"{d.latency_ms:.2f}", f"{b.latency_ms:.2f}"])
    single_ratio = one_process.tps / tps(SELECT_ONLY, DIRECT) if one_process else None
    if one_process and single_ratio is not None:
        d = next(r for r in runs if r.workload == SELECT_ONLY and r.path == DIRECT)
        rows.append(
            [
                f"{SELECT_ONLY}, 1 PgBouncer process ({sized(1).default_pool_size} + {sized(1).reserve_pool_size})",
                f"{d.tps:.0f}",
                f"{one_process.tps:.0f}",
                f"{single_ratio:.2f}",
                f"{d.latency_ms:.2f}",
                f"{one_process.latency_ms:.2f}",
            ]
        )
    select_ratio = ratios[SELECT_ONLY]
    verdict = "met" if select_ratio >= TARGET_SELECT_RATIO else "NOT met"
    setup = (
        f"PgBouncer {'.'.join(map(str, DEBIAN_PGBOUNCER))} with the shipped pgbouncer.ini (transaction pooling, TLS "
        f"both ways, verify-full to the server), {processes} process{'es' if processes > 1 else ''} sharing the port "
        f"(so_reuseport), each with its own pool from pool_sizes(max_connections={SERVER_MAX_CONNECTIONS}, "
        f"reserved={reserved}, max_replicas={max_replicas}, processes_per_pod={processes}): default_pool_size "
        f"{pools.default_pool_size} + reserve {pools.reserve_pool_size} per process; pgbench -c {clients} -j 2 "
        f"-T {duration} -M extended, scale {scale}; {where}; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at the end"
    )
    Console().print(rich_table("pgbench: PgBouncer vs direct", headers, rows))
    Console().print(
        f"select-only ratio {select_ratio:.2f} against the {TARGET_SELECT_RATIO} target: {verdict} "
        f"({processes} PgBouncer process{'es' if processes > 1 else ''}, pool {pools.default_pool_size} + "
        f"{pools.reserve_pool_size} each)"
        + (f"; through 1 process: {single_ratio:.2f}" if single_ratio is not None else "")
    )
    Console().print(f"[dim]{setup}[/]")
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "bench-pooler.md").write_text(
        "# PgBouncer (the shipped pgbouncer.ini) vs direct\n\n"
        f"{setup}.\n\nselect-only ratio {select_ratio:.2f}, target {TARGET_SELECT_RATIO}: {verdict}"
        f" ({processes} PgBouncer process{'es' if processes > 1 else ''} per pool, as the pod runs them)."
        + (
            f" Through one process (the pod before `processesPerPod`): {single_ratio:.2f}."
            if single_ratio is not None
            else ""
        )
        + "\n\n"
        + markdown_table(headers, rows)
        + "\n![pgbench tps](bench-pooler.png)\n"
    )
    (REPORTS / "bench-pooler.json").write_text(
        json.dumps(
            {
                "setup": setup,
                "processes": processes,
                "poolPerProcess": {"default": pools.default_pool_size, "reserve": pools.reserve_pool_size},
                "runs": [asdict(r) for r in runs],
                "ratios": ratios,
                "singleProcessSelectRatio": single_ratio,
                "ownCore": own_core,
                "cpus": placement,
            },
            indent=2,
        )
        + "\n"
    )
    write_chart(runs, REPORTS / "bench-pooler.png")
