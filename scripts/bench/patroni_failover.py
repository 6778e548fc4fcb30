"""Patroni failover benchmark: `python -m scripts bench patroni-failover`.

Runs the failover drill of tests/real/test_patroni_failover.py (shared code: tests/servers/patroni.py) on fresh
loopback clusters, kills -9 the leader's PostgreSQL and Patroni while a writer commits, and prints the time to
a new leader and to the first write it acknowledges, against the target (ttl + loop_wait + 5 s) and the RDS
reference figures. It runs the Patroni timing the stack ships (prod: 20/5/7) unless told otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from components.selfhosted.patroni_config import DcsTiming
from scripts import PROJECT_DIR
from scripts.reports.tables import markdown_table, rich_table

REPORTS = PROJECT_DIR / "reports"


def failover_target_seconds(timing: DcsTiming) -> float:
    """A new leader within ttl + loop_wait + 5 s of the kill: the lock expires after ttl, a replica notices on its
    next loop, and promotion takes a few seconds."""
    return float(timing.ttl + timing.loop_wait + 5)


# What the same kill costs on managed PostgreSQL (docs/selfhosted.md, platform facts): reference, not measured here.
RDS_REFERENCE = (
    ("RDS Multi-AZ DB instance", "60-120 s"),
    ("RDS Multi-AZ DB cluster", "under 35 s"),
    ("Aurora PostgreSQL", "about 30 s"),
)
failover_bench_app = typer.Typer(no_args_is_help=True, help="Self-hosted PostgreSQL benchmarks (Patroni on loopback).")


def shipped_timing(stack: str, config_file: Path | None = None) -> tuple[DcsTiming, str]:
    """The Patroni timing a stack ships (its analytics cluster, else its `postgres.ec2` shards), read through the
    config model, and where it came from."""
    from components.config import parse_stack_config
    from scripts.preview.stack_files import read_stack_file, stack_file_path

    config = parse_stack_config(read_stack_file(config_file or stack_file_path(stack)).config)
    if "analytics" in config.selfhosted.clusters:
        return config.selfhosted.clusters["analytics"].timing, f"{stack}: selfhosted.clusters.analytics"
    return config.postgres.ec2.timing, f"{stack}: postgres.ec2"


def checked_timing(shipped: DcsTiming, ttl: int | None, loop_wait: int | None, retry_timeout: int | None) -> DcsTiming:
    """The shipped timing with any override, validated by the same model as a stack file (so a timing the config
    refuses, e.g. ttl < 20, cannot be benchmarked as if it could ship)."""
    from pydantic import ValidationError

    from components.config.selfhosted import PatroniNodesConfig

    values = {
        "ttl": shipped.ttl if ttl is None else ttl,
        "loop_wait": shipped.loop_wait if loop_wait is None else loop_wait,
        "retry_timeout": shipped.retry_timeout if retry_timeout is None else retry_timeout,
    }
    try:
        return PatroniNodesConfig(**values).timing  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise typer.BadParameter(f"{values}: {problems}") from None


@failover_bench_app.command("patroni-failover")
def patroni_failover(
    runs: Annotated[int, typer.Option(min=1, max=10, help="Fresh clusters to kill a leader in.")] = 3,
    stack: Annotated[str, typer.Option(help="Take the Patroni timing this stack ships (Pulumi.<stack>.yaml).")] = (
        "prod"
    ),
    ttl: Annotated[int | None, typer.Option(help="Override the shipped ttl (s); the config's rules apply.")] = None,
    loop_wait: Annotated[int | None, typer.Option(help="Override the shipped loop_wait (s).")] = None,
    retry_timeout: Annotated[int | None, typer.Option(help="Override the shipped retry_timeout (s).")] = None,
    target: Annotated[
        float | None, typer.Option(help="Target seconds from kill -9 to a new leader (default: ttl + loop_wait + 5).")
    ] = None,
) -> None:
    """Kill -9 the leader's PostgreSQL and Patroni under a writer; time the new leader and count lost commits.
    Runs the timing the stack ships unless overridden."""
    from tests.servers.patroni import DrillResult, drill_cluster, run_failover_drill

    shipped, source = shipped_timing(stack)
    timing = checked_timing(shipped, ttl, loop_wait, retry_timeout)
    ttl, loop_wait, retry_timeout = timing.ttl, timing.loop_wait, timing.retry_timeout
    if target is None:
        target = failover_target_seconds(timing)
    origin = source if timing == shipped else f"overriding {source}"
    Console(stderr=True).print(f"[dim]timing {ttl}/{loop_wait}/{retry_timeout} ({origin}), target {target:.0f} s[/]")
    results: list[DrillResult] = []
    for run in range(1, runs + 1):
        with drill_cluster(timing=timing) as cluster:
            results.append(run_failover_drill(cluster))
        r = results[-1]
        Console(stderr=True).print(
            f"[dim]run {run}: {r.old_leader} -> {r.new_leader} in {r.seconds_to_new_leader:.2f} s, "
            f"{len(r.lost)} lost[/]"
        )
    headers = [
        "run",
        "killed",
        "new leader",
        "to new leader s",
        "to first write s",
        "acknowledged",
        "lost",
        "target s",
        "met",
    ]
    rows = [
        [
            str(i),
            r.old_leader,
            r.new_leader,
            f"{r.seconds_to_new_leader:.2f}",
            f"{r.seconds_to_first_write:.2f}",
            str(r.acknowledged_total),
            str(len(r.lost)),
            f"{target:.0f}",
            "yes" if r.seconds_to_new_leader <= target and not r.lost else "NO",
        ]
        for i, r in enumerate(results, start=1)
    ]
    worst = max(r.seconds_to_new_leader for r in results)
    lost = sum(len(r.lost) for r in results)
    verdict = "met" if worst <= target and lost == 0 else "NOT met"
    setup = (
        f"3 nodes, synchronous_mode_strict, ttl/loop_wait/retry_timeout {ttl}/{loop_wait}/{retry_timeout}, "
        "Patroni 3.0.2 + etcd 3.4 + PostgreSQL 15 on loopback"
    )
    table = rich_table(f"Patroni failover ({setup})", headers, rows)
    console = Console()
    console.print(table)
    console.print(f"worst time to new leader {worst:.2f} s against the {target:.0f} s target, {lost} lost: {verdict}")
    reference = rich_table(
        "For comparison (published figures, not measured here)", ["managed PostgreSQL", "failover"], RDS_REFERENCE
    )
    console.print(reference)
    REPORTS.mkdir(exist_ok=True)
    out = REPORTS / f"bench-patroni-failover-ttl{ttl}.md"
    out.write_text(
        "# Self-hosted PostgreSQL failover (kill -9 of the leader's PostgreSQL and Patroni, loopback)\n\n"
        f"{setup}; a writer commits continuously through a read-write multi-host connection. "
        f"Worst time to new leader {worst:.2f} s, target {target:.0f} s; {lost} acknowledged commits lost: "
        f"{verdict}.\n\n"
        + markdown_table(headers, rows)
        + "\nFor comparison (published figures, not measured here):\n\n"
        + markdown_table(["managed PostgreSQL", "failover"], [list(row) for row in RDS_REFERENCE])
        + "\nBehind the writer NLB add up to two health-check intervals (2 x 5 s) before traffic moves; "
        "clients using the node names with `target_session_attrs=read-write` follow the leader directly.\n"
    )
    Console(stderr=True).print(f"[dim]wrote {out}[/]")
