"""pgBackRest point-in-time-recovery benchmark: `python -m scripts bench pitr`.

Runs the PITR drill of tests/real/test_pgbackrest_pitr.py (shared code: tests/servers/pgbackrest.py) on a larger
database: a local PostgreSQL 15 primary archives through the rendered pgbackrest.conf into moto's S3 over
verified TLS (or a posix repository), takes a full backup, a writer commits while the target time passes, and
the drill restores to that time into a new data directory. Prints backup and restore times, RTO (restore start
until the restored server answers as a primary), RPO (archive lag of the last commit) and the row check.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from scripts import PROJECT_DIR
from scripts.reports.tables import markdown_table, rich_table

if TYPE_CHECKING:
    from tests.servers.pgbackrest import PitrResult, RepoTarget
    from tests.servers.postgres import PostgresFactory

REPORT_NAME = "bench-pitr.md"
pitr_bench_app = typer.Typer(no_args_is_help=True, help="Backup and point-in-time recovery benchmarks (pgBackRest).")

HEADERS = [
    "run",
    "repo",
    "database MB",
    "backup s",
    "restore s",
    "recovery s",
    "RTO s",
    "RPO (archive lag) s",
    "RPO bound s",
    "rows checked",
    "lost",
    "extra",
    "bulk rows restored",
]


def _row(run: int, r: PitrResult) -> list[str]:
    return [
        str(run),
        r.repo_type,
        f"{r.database_mb:.0f}",
        f"{r.backup_seconds:.2f}",
        f"{r.restore_seconds:.2f}",
        f"{r.recovery_seconds:.2f}",
        f"{r.rto_seconds:.2f}",
        f"{r.archive_lag_seconds:.2f}",
        f"{r.rpo_bound_seconds:.0f}",
        str(r.rows_checked),
        str(len(r.lost) + len(r.client_lost)),
        str(len(r.extra) + len(r.client_extra)),
        f"{r.bulk_rows_restored:,} of {r.bulk_rows:,}",
    ]


@contextlib.contextmanager
def _repository(repo: str, factory: PostgresFactory, bucket: str) -> Iterator[RepoTarget]:
    from scripts.servers.moto_tls import moto_tls_server
    from tests.servers.pgbackrest import posix_repo, s3_target

    if repo == "posix":
        with posix_repo(factory.os_user) as target:
            yield target
        return
    with moto_tls_server() as server:
        yield s3_target(server, bucket)


@pitr_bench_app.command("pitr")
def pitr(
    size_mb: Annotated[int, typer.Option(min=10, max=20_000, help="Generated data (generate_series), in MB.")] = 300,
    runs: Annotated[int, typer.Option(min=1, max=10, help="Fresh primaries, backups and restores.")] = 1,
    report_dir: Annotated[Path, typer.Option(help="Where bench-pitr.md is written.")] = PROJECT_DIR / "reports",
    repo: Annotated[
        Literal["s3", "posix"], typer.Option(help="s3: moto's S3 over verified TLS (as on EC2); posix: a directory.")
    ] = "s3",
    write_seconds: Annotated[float, typer.Option(min=0.5, help="Writing before and after the target time.")] = 2.0,
) -> None:
    """Full backup, continuous writes, restore to a target time into a new data dir; RTO, RPO and the row check."""
    from tests.servers.pgbackrest import STEPS, run_pitr_drill
    from tests.servers.postgres import PostgresFactory

    err = Console(stderr=True)
    results: list[PitrResult] = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err) as progress:
        overall = progress.add_task(f"PITR drill, {size_mb} MB, {repo}", total=runs * len(STEPS))
        load = progress.add_task("load data", total=1.0, visible=False)
        for run in range(1, runs + 1):
            factory = PostgresFactory()
            seen: list[str] = []

            def on_step(name: str, run: int = run, seen: list[str] = seen) -> None:
                if seen:
                    progress.advance(overall)
                seen.append(name)
                progress.update(overall, description=f"run {run}/{runs}: {name}")
                progress.update(load, visible=name == "load data", completed=0.0)

            try:
                with _repository(repo, factory, f"cryb-bench-pitr-{run}") as target:
                    result = run_pitr_drill(
                        factory,
                        target,
                        size_mb=size_mb,
                        before_seconds=write_seconds,
                        after_seconds=write_seconds,
                        on_step=on_step,
                        on_load=lambda fraction: progress.update(load, completed=fraction),
                    )
                    results.append(result)
            finally:
                factory.close()
            progress.advance(overall)
            last = results[-1]
            err.print(
                f"[dim]run {run}: backup {last.backup_seconds:.2f} s, restore {last.restore_seconds:.2f} s, "
                f"RTO {last.rto_seconds:.2f} s, archive lag {last.archive_lag_seconds:.2f} s[/]"
            )

    rows = [_row(i, r) for i, r in enumerate(results, start=1)]
    failed = sum(
        len(r.lost) + len(r.extra) + len(r.client_lost) + len(r.client_extra) + abs(r.bulk_rows - r.bulk_rows_restored)
        for r in results
    )
    verdict = "exact (0 lost, 0 extra, every generated row back)" if failed == 0 else f"NOT exact ({failed} rows wrong)"
    setup = (
        f"PostgreSQL 15 + pgBackRest ({'moto S3 over TLS, aes-256-cbc, SSE-KMS' if repo == 's3' else 'posix repo'}"
        f", process-max 2, zstd), {size_mb} MB generated, loopback, one machine"
    )
    table = rich_table(f"Point-in-time recovery ({setup})", HEADERS, rows)
    console = Console()
    console.print(table)
    console.print(f"restore to the target time: {verdict}")
    archive_timeout = results[0].archive_timeout_seconds
    notes = (
        "RTO: from the start of `pgbackrest restore` into an empty data directory until the restored server, "
        "recovered to the target and promoted, answers as a primary. RPO (archive lag): from the last acknowledged "
        "commit until its WAL segment was in the repository, with the segment switched right away; without a "
        f"switch a segment waits up to `archive_timeout` ({archive_timeout} s, as rendered), hence the RPO bound "
        "(archive_timeout + lag). Rows checked: commits made while the target passed, judged by their commit "
        "timestamps (and by the client's send/acknowledge times).\n"
    )
    console.print(notes, highlight=False)
    report_dir.mkdir(parents=True, exist_ok=True)
    out = report_dir / REPORT_NAME
    out.write_text(
        "# Point-in-time recovery with pgBackRest (loopback)\n\n"
        f"{setup}. Restore to the target time: {verdict}.\n\n" + markdown_table(HEADERS, rows) + "\n" + notes
    )
    err.print(f"[dim]wrote {out}[/]")
    if failed:
        raise typer.Exit(1)
