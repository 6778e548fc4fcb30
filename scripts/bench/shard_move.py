"""Bucket move benchmark: `python -m scripts bench shard-move`.

Three PostgreSQL 15 shards on loopback (TLS verify-full, logical WAL; tests/servers/shards.py), `--rows` rows
spread over every bucket, then `--moves` moves of `--buckets-per-move` buckets each from shard 0 to the new shard
2 while a writer (`--rate` rows/s through the router, retrying while a bucket is fenced) and a reader run. Reported
per move: rows copied and the copy's rows/s, the fence (source refusing writes to the switch), and across every
moved bucket the write pause (the longest a write to it took, first attempt to commit) p50/p99/max.
Writes reports/bench-shard-move.{md,json,png}.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from scripts import PROJECT_DIR
from scripts.reports.tables import markdown_table, rich_table

REPORTS = PROJECT_DIR / "reports"
PAUSE_TARGET_SECONDS = 2.0
shard_move_bench_app = typer.Typer(no_args_is_help=True, help="Bucket move benchmark.")


@dataclass
class MoveResult:
    buckets: str
    rows_copied: int
    copy_seconds: float
    fence_seconds: float
    pause_p50: float
    pause_p99: float
    pause_max: float
    writes_to_moved: int

    @property
    def rows_per_second(self) -> float:
        return self.rows_copied / self.copy_seconds if self.copy_seconds > 0 else 0.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def _seed(rig: Any, rows: int) -> None:
    """`rows` rows over all 1,024 buckets, written straight to their owners with COPY (ids below the writer's)."""
    from cryb_db_client import parse

    contract = parse(rig.outputs)
    per_shard: dict[int, list[tuple[int, int, str, str]]] = {}
    for n in range(rows):
        bucket = n % contract.shard_map.bucket_count
        owner = contract.shard_map.owner(bucket)
        assert owner is not None
        per_shard.setdefault(owner, []).append((bucket, -(n + 1), f"seed-{n}", "x" * 100))
    for shard, batch in per_shard.items():
        with rig.connect(shard) as conn, conn.cursor() as cursor:
            with cursor.copy("copy items (bucket, id, key, payload) from stdin") as copy:
                for row in batch:
                    copy.write_row(row)
            conn.execute("analyze items")


def _chart(results: list[MoveResult], pauses: list[float], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.bar([r.buckets for r in results], [r.rows_per_second for r in results], color="tab:blue")
    left.set_title("initial copy (rows/s)")
    left.set_xlabel("buckets moved")
    left.tick_params(axis="x", labelrotation=30)
    right.hist(pauses, bins=30, color="tab:orange")
    right.axvline(PAUSE_TARGET_SECONDS, color="tab:red", linestyle=":", label=f"target {PAUSE_TARGET_SECONDS:g} s")
    right.set_title("write pause per moved bucket (s)")
    right.set_xlabel("longest write latency (s)")
    right.set_ylabel("buckets")
    right.legend()
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)


@shard_move_bench_app.command("shard-move")
def shard_move(
    rows: Annotated[int, typer.Option(min=0, help="Rows seeded over all buckets before the moves.")] = 500_000,
    moves: Annotated[int, typer.Option(min=1, max=8, help="Moves, each of --buckets-per-move buckets.")] = 2,
    buckets_per_move: Annotated[int, typer.Option(min=1, max=256, help="Buckets per move (from shard 0).")] = 64,
    rate: Annotated[float, typer.Option(min=1, help="Writer rows per second through the router.")] = 200.0,
) -> None:
    """Move buckets between loopback shards under a writer and a reader; rows/s copied and the write pause."""
    import boto3

    from cryb_db_client import Router, SecretsManager, parse
    from scripts.shards.connect import CredentialSource, Shards, credentials_for
    from scripts.shards.mover import MoveOptions, Mover, live_map
    from scripts.shards.plan import plan_move
    from tests.servers.moto import start_moto_server, stop_moto_server
    from tests.servers.shard_workload import Reader, Writer
    from tests.servers.shards import shard_rig

    if moves * buckets_per_move > 512:
        raise typer.BadParameter("--moves x --buckets-per-move: shard 0 holds 512 buckets")
    say = Console(stderr=True)
    results: list[MoveResult] = []
    all_pauses: list[float] = []
    moto = start_moto_server()
    try:
        with shard_rig(moto, count=3, map_shards=2) as rig:
            os.environ.update(rig.aws_env)  # this process is the operator: boto3 finds moto
            say.print(f"seeding {rows} rows")
            _seed(rig, rows)
            router = Router.from_files(
                rig.outputs_path,
                credentials=SecretsManager(lambda region: boto3.client("secretsmanager", region_name=region)),
                sslrootcert=rig.tls.ca_file,
                refresh_seconds=0.2,
            )
            shards = Shards(
                parse(rig.outputs),
                credentials_for(CredentialSource.secret),
                sslrootcert=rig.tls.ca_file,
                subscription_sslmode="verify-full",
                subscription_sslrootcert=rig.tls.ca_file,
            )
            writer, reader = Writer(router, rate=rate), Reader(router)
            writer.start()
            reader.start()
            try:
                time.sleep(1.0)
                for index in range(moves):
                    first = index * buckets_per_move
                    last = first + buckets_per_move - 1
                    plan = plan_move(live_map(shards), shards.ids, first, last, 2)
                    mover = Mover(
                        shards, plan, MoveOptions(grace_seconds=1.0), lambda m: say.print(f"[dim]{escape(m)}[/]")
                    )
                    try:
                        mover.run()
                        time.sleep(1.0)  # writes after the switch land on the target
                        mover.finish()
                        journal = mover.journal() or {}
                    finally:
                        mover.close()
                    pauses = writer.pauses(range(first, last + 1))
                    all_pauses += list(pauses.values())
                    results.append(
                        MoveResult(
                            f"{first}-{last}",
                            int(journal.get("rows_copied") or 0),
                            (journal["copied_at"] - journal["copy_started_at"]).total_seconds(),
                            (journal["switched_at"] - journal["fenced_at"]).total_seconds(),
                            percentile(list(pauses.values()), 50),
                            percentile(list(pauses.values()), 99),
                            max(pauses.values(), default=0.0),
                            sum(1 for w in writer.committed if first <= w.bucket <= last),
                        )
                    )
            finally:
                writer.stop()
                reader.stop()
                router.close()
            lost = len(writer.failed)
            violations = len(reader.violations)
    finally:
        stop_moto_server(moto)
    _report(results, all_pauses, rows, rate, lost, violations)


def _report(results: list[MoveResult], pauses: list[float], rows: int, rate: float, lost: int, violations: int) -> None:
    headers = ["buckets", "rows copied", "copy s", "rows/s", "fence s", "pause p50 s", "pause p99 s", "pause max s"]
    table_rows = [
        [
            r.buckets,
            str(r.rows_copied),
            f"{r.copy_seconds:.2f}",
            f"{r.rows_per_second:,.0f}",
            f"{r.fence_seconds:.3f}",
            f"{r.pause_p50:.3f}",
            f"{r.pause_p99:.3f}",
            f"{r.pause_max:.3f}",
        ]
        for r in results
    ]
    p50, p99 = percentile(pauses, 50), percentile(pauses, 99)
    verdict = "met" if max(pauses, default=0.0) <= PAUSE_TARGET_SECONDS else "NOT met"
    setup = (
        f"3 PostgreSQL 15 shards on loopback (TLS verify-full), {rows:,} rows seeded over 1,024 buckets, "
        f"a writer at {rate:g} rows/s and a reader through the router"
    )
    summary = (
        f"All moved buckets: write pause p50 {p50:.3f} s, p99 {p99:.3f} s, max {max(pauses, default=0.0):.3f} s "
        f"(target <= {PAUSE_TARGET_SECONDS:g} s: {verdict}); writes failed {lost}, reader violations {violations}."
    )
    console = Console()
    console.print(rich_table(f"Bucket moves ({setup})", headers, table_rows))
    console.print(summary)
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "bench-shard-move.md").write_text(
        f"# Bucket moves under load\n\n{setup}. Each move: row-filtered publication, subscription, catch-up, fence, "
        "verify (counts and checksums per bucket), switch, finish.\n\n"
        f"{markdown_table(headers, table_rows)}\n{summary}\n"
    )
    (REPORTS / "bench-shard-move.json").write_text(
        json.dumps(
            {
                "setup": setup,
                "moves": [{**asdict(r), "rows_per_second": r.rows_per_second} for r in results],
                "pause_p50": p50,
                "pause_p99": p99,
                "pause_mean": statistics.fmean(pauses) if pauses else 0.0,
                "writes_failed": lost,
                "reader_violations": violations,
            },
            indent=2,
        )
    )
    _chart(results, pauses, REPORTS / "bench-shard-move.png")
    Console(stderr=True).print(f"[dim]wrote {REPORTS}/bench-shard-move.md, .json and .png[/]")
