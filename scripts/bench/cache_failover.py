"""`python -m scripts bench cache-failover`: kill -9 a master of the self-hosted cache cluster on loopback
(local_redis_cluster.py) and time until its replica serves its slots, against the 10 s target."""

from typing import Annotated

import typer
from rich.console import Console

from components.cache.redis_conf import CLUSTER_NODE_TIMEOUT_MS, FAILOVER_TARGET_SECONDS
from scripts import PROJECT_DIR
from scripts.reports.tables import markdown_table, rich_table

from .local_redis_cluster import FailoverResult, local_cluster, stack_config

REPORTS = PROJECT_DIR / "reports"
cache_bench_app = typer.Typer(no_args_is_help=True, help="Cache tier benchmarks (self-hosted cluster on loopback).")


@cache_bench_app.command("cache-failover")
def failover(
    stack: Annotated[str, typer.Option(help="Stack whose cache config (shards, replicas) is started.")] = "prod",
    runs: Annotated[int, typer.Option(min=1, max=20, help="Fresh clusters to kill a master in.")] = 3,
    tls: Annotated[bool, typer.Option(help="Run the nodes with the rendered TLS settings (throw-away CA).")] = True,
    target: Annotated[float, typer.Option(help="Target seconds from kill -9 to recovery.")] = FAILOVER_TARGET_SECONDS,
) -> None:
    """Kill -9 a master of a self-hosted cluster on loopback and time until its replica serves its slots."""
    cache = stack_config(stack).cache
    results: list[FailoverResult] = []
    for run in range(1, runs + 1):
        with local_cluster(stack, tls=tls) as cluster:
            killed = cluster.plan.masters[(run - 1) % len(cluster.plan.masters)].index
            results.append(cluster.measure_failover(killed))
        Console(stderr=True).print(f"[dim]run {run}: {results[-1]}[/]")
    nodes = str(cache.shards * (1 + cache.replicas_per_shard))
    headers = ["run", "nodes", "killed", "promoted", "failure agreed s", "recovered s", "target s", "met"]
    rows = [
        [
            str(i),
            nodes,
            f"node {r.killed}",
            f"node {r.promoted}",
            f"{r.detected_s:.2f}",
            f"{r.recovered_s:.2f}",
            f"{target:.0f}",
            "yes" if r.recovered_s < target else "NO",
        ]
        for i, r in enumerate(results, start=1)
    ]
    worst = max(r.recovered_s for r in results)
    verdict = "met" if worst < target else "NOT met"
    layout = f"{stack}: {cache.shards} x (1 + {cache.replicas_per_shard}), TLS {'on' if tls else 'off'}"
    table = rich_table(f"Cache failover ({layout})", headers, rows)
    Console().print(table)
    Console().print(f"worst recovery {worst:.2f} s against the {target:.0f} s target: {verdict}")
    REPORTS.mkdir(exist_ok=True)
    out = REPORTS / f"bench-cache-failover-{stack}.md"
    out.write_text(
        "# Self-hosted cache failover (kill -9 of a master, loopback)\n\n"
        f"{layout}; cluster-node-timeout {CLUSTER_NODE_TIMEOUT_MS} ms (components/cache/redis_conf.py); "
        f"worst recovery {worst:.2f} s, target {target:.0f} s: {verdict}.\n\n" + markdown_table(headers, rows)
    )
    Console(stderr=True).print(f"[dim]wrote {out}[/]")
