"""Region failover benchmark: `python -m scripts bench region-failover`.

Runs the drill of tests/real/sandbox/test_region_failover.py (shared code: tests/servers/region_failover.py): prod's
analytics cluster and its DR standby cluster booted from the preview's launch templates in two node sandboxes, a
writer on the primary, the primary region lost (its nodes killed -9, its S3 replication stopped), the standby
promoted by `dr promote-region`'s cluster steps. Prints RPO (acknowledged rows missing, and the commit-time span
they cover) and RTO (promotion request to the first accepted write) per run; writes
reports/bench-region-failover.{md,json,png}. Needs root (network namespaces)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from scripts import PROJECT_DIR
from scripts.reports.tables import markdown_table, rich_table

if TYPE_CHECKING:
    from tests.servers.region_failover import RegionFailoverResult

REPORTS = PROJECT_DIR / "reports"
region_bench_app = typer.Typer(no_args_is_help=True, help="Losing the primary region (Patroni standby cluster).")
HEADERS = [
    "run",
    "acknowledged",
    "missing",
    "RPO s",
    "RPO bound s",
    "catch-up s",
    "promote s",
    "RTO s",
    "backups after",
    "alarms on",
    "met",
]


def rows_of(results: list[RegionFailoverResult]) -> list[list[str]]:
    return [
        [
            str(i),
            str(r.acknowledged),
            str(r.missing),
            f"{r.rpo_seconds:.1f}",
            f"{r.rpo_bound_seconds:.0f}",
            f"{r.catch_up_seconds:.1f}",
            f"{r.promote_seconds:.2f}",
            f"{r.rto_seconds:.2f}",
            "yes" if r.standby_archived_after_promotion and r.standby_prefix_before_promotion == 0 else "NO",
            str(sum(r.alarms_enabled.values())),
            "yes" if met(r) else "NO",
        ]
        for i, r in enumerate(results, start=1)
    ]


def met(result: RegionFailoverResult) -> bool:
    return result.rpo_seconds <= result.rpo_bound_seconds and result.rto_seconds == result.rto_seconds  # not NaN


def write_chart(results: list[RegionFailoverResult], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [str(i) for i in range(1, len(results) + 1)]
    figure, axis = plt.subplots(figsize=(7, 4))
    width = 0.38
    axis.bar([i - width / 2 for i in range(len(runs))], [r.rpo_seconds for r in results], width, label="RPO (s)")
    axis.bar([i + width / 2 for i in range(len(runs))], [r.rto_seconds for r in results], width, label="RTO (s)")
    axis.axhline(
        results[0].rpo_bound_seconds, color="grey", linestyle="--", label="RPO bound (archive_timeout + shipping)"
    )
    axis.set_xticks(range(len(runs)), [f"run {r}" for r in runs])
    axis.set_ylabel("seconds")
    axis.set_title("Primary region lost: Patroni standby cluster promoted (node sandbox)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)


@region_bench_app.command("region-failover")
def region_failover(
    runs: Annotated[int, typer.Option(min=1, max=5, help="Fresh pairs of clusters to lose a region with.")] = 1,
    write_seconds: Annotated[
        float,
        typer.Option(
            min=2,
            max=600,
            help="Seconds the writer commits before the region is lost (more than archive_timeout, 60 s).",
        ),
    ] = 75.0,
) -> None:
    """Lose the primary region under a writer and promote the Patroni standby cluster; print RPO and RTO."""
    from scripts.preview.mock_engine import evaluate
    from tests.servers.region_failover import run_region_failover

    err = Console(stderr=True)
    evaluation = evaluate("prod")
    results = []
    for run in range(1, runs + 1):
        with tempfile.TemporaryDirectory(prefix="cryb-region-failover-") as workdir:
            results.append(
                run_region_failover(
                    evaluation,
                    Path(workdir),
                    write_seconds=write_seconds,
                    log=lambda line: err.print(f"[dim]{line}[/]"),
                )
            )
        r = results[-1]
        err.print(
            f"[dim]run {run}: {r.missing}/{r.acknowledged} lost ({r.rpo_seconds:.1f} s), RTO {r.rto_seconds:.2f} s[/]"
        )
    rows = rows_of(results)
    setup = (
        "prod analytics (3 nodes) and its DR standby cluster (3 nodes) from the preview's launch templates, two node "
        "sandboxes, moto as S3/Secrets Manager in both regions, repository shipping (archive_timeout 60 s, "
        "replication stand-in every 1 s), writer every 20 ms, PostgreSQL 15, Patroni 3.0.2"
    )
    console = Console()
    console.print(rich_table("Region failover (Patroni standby cluster)", HEADERS, rows))
    verdict = "met" if all(met(r) for r in results) else "NOT met"
    console.print(
        f"RPO within the {results[0].rpo_bound_seconds:.0f} s bound and a write accepted after promotion: {verdict}"
    )
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "bench-region-failover.md").write_text(
        "# Primary region lost: the Patroni standby cluster promoted\n\n"
        f"{setup}. RPO: acknowledged rows missing after the promotion and the commit-time span they cover; RTO: "
        "promotion request to the first accepted write. S3 replication lag (RTC: 15-minute SLA, typically "
        f"seconds) adds to the RPO in AWS. Bound {verdict}.\n\n"
        + markdown_table(HEADERS, rows)
        + "\n![RPO and RTO](bench-region-failover.png)\n"
    )
    (REPORTS / "bench-region-failover.json").write_text(
        json.dumps({"setup": setup, "runs": [r.as_dict() for r in results]}, indent=2) + "\n"
    )
    write_chart(results, REPORTS / "bench-region-failover.png")
    err.print("[dim]wrote reports/bench-region-failover.{md,json,png}[/]")
    if verdict != "met":
        raise typer.Exit(1)
