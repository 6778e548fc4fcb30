"""`python -m scripts bench preview`: cold-process wall time of the offline preview against its target; with
`--sweep`, wall time and peak memory against resource count (preview_sweep.py)."""

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import track

from scripts import PROJECT_DIR
from scripts.reports.tables import markdown_table, rich_table

REPORTS = PROJECT_DIR / "reports"


def preview(
    stack: Annotated[str, typer.Option(help="Stack to preview.")] = "prod",
    runs: Annotated[int, typer.Option(min=1, max=50, help="Cold runs (each a fresh process, as users run it).")] = 5,
    target: Annotated[float, typer.Option(help="Target wall time in seconds.")] = 3.0,
    sweep: Annotated[
        bool,
        typer.Option(
            "--sweep",
            help="Prod at 1/4/8/16 shards x 1/5 read replicas and the self-hosted engines: wall and CPU time, load "
            "average, peak memory and ms per extra resource; writes reports/bench-preview-sweep.{md,json,png}. "
            "--runs sets runs per point.",
        ),
    ] = False,
) -> None:
    """Wall time of `python -m scripts preview --stack STACK --json` in a fresh process (imports included)."""
    if sweep:
        from .preview_sweep import run_sweep

        run_sweep(runs, REPORTS)
        return
    times = []
    for _ in track(range(runs), description=f"preview --stack {stack}"):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "scripts", "preview", "--stack", stack, "--json"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
        )
        times.append(time.perf_counter() - started)
        if done.returncode not in (0, 3):
            Console(stderr=True).print(done.stderr)
            raise typer.Exit(1)
    median = statistics.median(times)
    rows = [
        [
            stack,
            str(runs),
            f"{min(times):.2f}",
            f"{median:.2f}",
            f"{max(times):.2f}",
            f"{target:.1f}",
            "yes" if median <= target else "NO",
        ]
    ]
    headers = ["stack", "runs", "min s", "median s", "max s", "target s", "met"]
    table = rich_table("Offline preview wall time (cold process)", headers, rows)
    Console().print(table)
    REPORTS.mkdir(exist_ok=True)
    out: Path = REPORTS / f"bench-preview-{stack}.md"
    out.write_text("# Offline preview wall time\n\n" + markdown_table(headers, rows))
    Console(stderr=True).print(f"[dim]wrote {out}[/]")
