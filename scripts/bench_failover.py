"""Patroni failover benchmark: `python -m scripts bench patroni-failover`.

Runs the failover drill of tests/real/test_patroni_failover.py (shared code: tests/servers/patroni.py) on fresh
loopback clusters, kills -9 the leader's PostgreSQL and Patroni while a writer commits, and prints the time to
a new leader and to the first write it acknowledges, against the 20 s target and the RDS reference figures.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from components.selfhosted.patroni_config import DcsTiming, timing_problems

from .report_tables import markdown_table, rich_table
from .stack_files import PROJECT_DIR

REPORTS = PROJECT_DIR / "reports"
TARGET_SECONDS = 20.0
# What the same kill costs on managed PostgreSQL (docs/selfhosted.md, platform facts): reference, not measured here.
RDS_REFERENCE = (
    ("RDS Multi-AZ DB instance", "60-120 s"),
    ("RDS Multi-AZ DB cluster", "under 35 s"),
    ("Aurora PostgreSQL", "about 30 s"),
)
failover_bench_app = typer.Typer(no_args_is_help=True, help="Self-hosted PostgreSQL benchmarks (Patroni on loopback).")


@failover_bench_app.command("patroni-failover")
def patroni_failover(
    runs: Annotated[int, typer.Option(min=1, max=10, help="Fresh clusters to kill a leader in.")] = 3,
    ttl: Annotated[int, typer.Option(help="Patroni ttl (s) rendered for the drill.")] = 10,
    loop_wait: Annotated[int, typer.Option(help="Patroni loop_wait (s).")] = 2,
    retry_timeout: Annotated[int, typer.Option(help="Patroni retry_timeout (s).")] = 4,
    target: Annotated[float, typer.Option(help="Target seconds from kill -9 to a new leader.")] = TARGET_SECONDS,
) -> None:
    """Kill -9 the leader's PostgreSQL and Patroni under a writer; time the new leader and count lost commits."""
    from tests.servers.patroni import DrillResult, drill_cluster, run_failover_drill

    timing = DcsTiming(ttl, loop_wait, retry_timeout)
    problems = timing_problems(timing)
    if problems:
        raise typer.BadParameter("; ".join(problems))
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
