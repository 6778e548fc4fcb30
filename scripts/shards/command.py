"""`python -m scripts shards ...`: plan, run, verify, finish and list bucket moves (docs/sharding.md).

Exit codes: 0 done, 1 the move stopped (its journal says where; the same command resumes it), 2 refused (bad
arguments, or a check failed before anything was touched).
"""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.console import Console
from rich.markup import escape

from scripts.reports.tables import rich_table

from .checks import Bounds
from .connect import CredentialSource, Shards, credentials_for
from .mover import MoveError, MoveOptions, Mover, live_map
from .plan import STEPS, MovePlan, PlanError, parse_buckets, plan_move
from .status import collect

shards_app = typer.Typer(no_args_is_help=True, help="Bucket moves between PostgreSQL shards (docs/sharding.md).")
err = Console(stderr=True, soft_wrap=True)  # log lines stay whole (greppable) in files and pipes


class SslMode(StrEnum):
    disable = "disable"
    require = "require"
    verify_ca = "verify-ca"
    verify_full = "verify-full"


Outputs = Annotated[Path, typer.Option("--outputs", help="`pulumi stack output --json` of the stack.", exists=True)]
Buckets = Annotated[str, typer.Option("--buckets", help="Inclusive bucket range A-B (or one bucket A).")]
Target = Annotated[int, typer.Option("--to", help="Target shard id (postgres.shards[].id).", min=0)]
Creds = Annotated[
    CredentialSource,
    typer.Option("--credentials", help="secret: each shard's Secrets Manager secret; env: PGUSER/PGPASSWORD."),
]
Ssl = Annotated[SslMode, typer.Option("--sslmode", help="TLS to the shards (operator connections).")]
RootCert = Annotated[Path | None, typer.Option("--sslrootcert", help="CA bundle (RDS: global-bundle.pem).")]
SubSsl = Annotated[
    SslMode, typer.Option("--subscription-sslmode", help="TLS the target server uses to reach the source.")
]
SubRootCert = Annotated[
    Path | None, typer.Option("--subscription-sslrootcert", help="CA file path on the target server.")
]
MinFreeGb = Annotated[float, typer.Option(help="Free storage each shard keeps beyond the move.")]
MaxLagSeconds = Annotated[float, typer.Option(help="Largest replica lag allowed on either shard.")]
AssumeFreeGb = Annotated[float | None, typer.Option(help="Free storage where it cannot be measured.")]


def _say(message: str) -> None:
    err.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {escape(message)}", highlight=False)


def _shards(
    outputs: Path,
    credentials: CredentialSource,
    sslmode: SslMode,
    sslrootcert: Path | None,
    subscription_sslmode: SslMode = SslMode.require,
    subscription_sslrootcert: Path | None = None,
) -> Shards:
    try:
        return Shards.from_file(
            outputs,
            credentials_for(credentials),
            sslmode=sslmode.value,
            sslrootcert=sslrootcert,
            subscription_sslmode=subscription_sslmode.value,
            subscription_sslrootcert=subscription_sslrootcert,
        )
    except ValueError as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(2) from None


def resolve(shards: Shards, buckets: str, target: int) -> MovePlan:
    """The move of these buckets to `target`: the one its journal records (resuming), else a new plan."""
    first, last = parse_buckets(buckets, shards.contract.shard_map.bucket_count)
    if target not in shards.ids:
        raise PlanError(f"--to {target}: no such shard in the outputs (shards: {shards.ids})")
    with shards.connect(target) as conn:
        if conn.execute("select to_regclass('cryb_shards.moves')").fetchone() != (None,):
            row = conn.execute(
                "select source from cryb_shards.moves where first_bucket = %s and last_bucket = %s and target = %s "
                "order by started_at desc limit 1",
                (first, last, target),
            ).fetchone()
            if row:
                return MovePlan(first, last, int(row[0]), target)
    return plan_move(live_map(shards), shards.ids, first, last, target)


def _run(action: str, shards: Shards, buckets: str, target: int, options: MoveOptions, **kwargs: object) -> Mover:
    try:
        plan = resolve(shards, buckets, target)
    except PlanError as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(2) from None
    except psycopg.OperationalError as exc:
        err.print(f"[red]shard {target} unreachable: {escape(str(exc))}[/]")
        raise typer.Exit(1) from None
    return Mover(shards, plan, options, _say)


@shards_app.command("plan")
def plan_command(
    outputs: Outputs,
    buckets: Buckets,
    to: Target,
    credentials: Creds = CredentialSource.secret,
    sslmode: Ssl = SslMode.verify_full,
    sslrootcert: RootCert = None,
    min_free_gb: MinFreeGb = 1.0,
    max_lag_seconds: MaxLagSeconds = 30.0,
    assume_free_gb: AssumeFreeGb = None,
) -> None:
    """What a move would do and whether it may start (reads only)."""
    shards = _shards(outputs, credentials, sslmode, sslrootcert)
    options = MoveOptions(bounds=Bounds(min_free_gb, max_lag_seconds, assume_free_gb))
    mover = _run("plan", shards, buckets, to, options)
    try:
        step = mover.step()
        typer.echo(f"move {mover.plan.move_id}: {mover.plan}")
        if step:
            typer.echo(f"journal: {step} (`shards move` resumes it)" if step != "finished" else "journal: finished")
            return
        typer.echo(f"steps: {' -> '.join(STEPS)}")
        found = mover.check()
        typer.echo(f"tables: {', '.join(map(str, mover.tables)) or '(none)'}")
        typer.echo(f"estimated data: {mover.moving_bytes(mover.tables) / 1024**2:.1f} MiB")
        if found:
            err.print("[red]the move cannot start:[/]\n  " + escape("\n  ".join(found)))
            raise typer.Exit(2)
        typer.echo("checks: ok")
    finally:
        mover.close()


@shards_app.command("move")
def move_command(
    outputs: Outputs,
    buckets: Buckets,
    to: Target,
    credentials: Creds = CredentialSource.secret,
    sslmode: Ssl = SslMode.verify_full,
    sslrootcert: RootCert = None,
    subscription_sslmode: SubSsl = SslMode.require,
    subscription_sslrootcert: SubRootCert = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only plan and check (same as `shards plan`).")] = False,
    until: Annotated[str | None, typer.Option(help=f"Stop after this step ({', '.join(STEPS[:4])}).")] = None,
    min_free_gb: MinFreeGb = 1.0,
    max_lag_seconds: MaxLagSeconds = 30.0,
    assume_free_gb: AssumeFreeGb = None,
    cutover_timeout: Annotated[float, typer.Option(help="Longest fence before the cut-over is abandoned.")] = 10.0,
) -> None:
    """Copy the buckets to the target, fence, verify and switch the map (resumes a stopped move)."""
    if dry_run:
        plan_command(
            outputs, buckets, to, credentials, sslmode, sslrootcert, min_free_gb, max_lag_seconds, assume_free_gb
        )
        return
    if until is not None and until not in STEPS[:4]:
        err.print(f"[red]--until {until!r}: one of {', '.join(STEPS[:4])}[/]")
        raise typer.Exit(2)
    shards = _shards(outputs, credentials, sslmode, sslrootcert, subscription_sslmode, subscription_sslrootcert)
    options = MoveOptions(bounds=Bounds(min_free_gb, max_lag_seconds, assume_free_gb), cutover_timeout=cutover_timeout)
    mover = _run("move", shards, buckets, to, options)
    try:
        step = mover.run(until)
        journal = mover.journal() or {}
        pause = ""
        if journal.get("switched_at") and journal.get("fenced_at"):
            pause = f"; writes paused {(journal['switched_at'] - journal['fenced_at']).total_seconds():.3f} s"
        typer.echo(f"move {mover.plan.move_id}: {step}{pause}")
        if step == "switched":
            typer.echo(f"next: python -m scripts shards finish --outputs {outputs} --buckets {buckets} --to {to}")
    except PlanError as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(2) from None
    except (MoveError, psycopg.Error) as exc:
        err.print(
            f"[red]move {mover.plan.move_id} stopped: {escape(str(exc))}[/]\nrun the same command again to resume"
        )
        raise typer.Exit(1) from None
    finally:
        mover.close()


@shards_app.command("verify")
def verify_command(
    outputs: Outputs,
    buckets: Buckets,
    to: Target,
    credentials: Creds = CredentialSource.secret,
    sslmode: Ssl = SslMode.verify_full,
    sslrootcert: RootCert = None,
) -> None:
    """Row counts and checksums per bucket and table on the source and the target (exit 1 on a difference).
    Meaningful until the switch; the move runs it itself under the fence."""
    from .verify import verify

    shards = _shards(outputs, credentials, sslmode, sslrootcert)
    mover = _run("verify", shards, buckets, to, MoveOptions())
    try:
        result = verify(mover.source, mover.target, mover.tables, mover.plan.first, mover.plan.last)
        typer.echo(f"{mover.plan}: source {result.rows_source} rows, target {result.rows_target} rows")
        for line in result.mismatches[:50]:
            typer.echo(f"  {line}")
        if not result.ok:
            typer.echo(f"{len(result.mismatches)} buckets differ")
            raise typer.Exit(1)
        typer.echo("identical")
    finally:
        mover.close()


@shards_app.command("finish")
def finish_command(
    outputs: Outputs,
    buckets: Buckets,
    to: Target,
    credentials: Creds = CredentialSource.secret,
    sslmode: Ssl = SslMode.verify_full,
    sslrootcert: RootCert = None,
    grace_seconds: Annotated[
        float, typer.Option(help="Wait after the switch before deleting (routers poll 1 s).")
    ] = 5.0,
    ledger: Annotated[
        Path | None, typer.Option(help="Record the finished move in this ledger (shardmoves/<stack>.json).")
    ] = None,
) -> None:
    """Delete the source's copies of switched buckets and record the move as finished."""
    shards = _shards(outputs, credentials, sslmode, sslrootcert)
    mover = _run("finish", shards, buckets, to, MoveOptions(grace_seconds=grace_seconds))
    try:
        deleted = mover.finish()
        typer.echo(f"move {mover.plan.move_id}: finished; {deleted} rows deleted from shard {mover.plan.source}")
        if ledger is not None:
            from .ledger import record_finished

            base = shards.contract.shard_map
            record_finished(ledger, mover.plan, base.bucket_count, start_shards=len(base.ranges))
            typer.echo(f"recorded in {ledger}: commit it (the preview checks the shard count against it)")
    except (MoveError, psycopg.Error) as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(1) from None
    finally:
        mover.close()


@shards_app.command("status")
def status_command(
    outputs: Outputs,
    credentials: Creds = CredentialSource.secret,
    sslmode: Ssl = SslMode.verify_full,
    sslrootcert: RootCert = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
) -> None:
    """Each shard's map epoch, fences and blocked buckets, and every move's journal."""
    shards = _shards(outputs, credentials, sslmode, sslrootcert)
    statuses = collect(shards)
    if as_json:
        typer.echo(json.dumps([s.__dict__ for s in statuses], default=str, indent=2))
        return
    console = Console()
    console.print(
        rich_table(
            "shards",
            ["shard", "name", "epoch", "fenced", "blocked", "error"],
            [
                [
                    str(s.shard),
                    s.name,
                    str(s.epoch if s.reachable else "-"),
                    str(s.fenced),
                    ", ".join(f"{k} {v}" for k, v in sorted(s.blocked.items())) or "-",
                    s.error,
                ]
                for s in statuses
            ],
        )
    )
    moves = [m for s in statuses for m in s.moves]
    if moves:
        console.print(
            rich_table(
                "moves",
                ["move", "buckets", "from", "to", "step", "copied", "deleted", "pause s"],
                [
                    [
                        m["move_id"],
                        f"{m['first_bucket']}-{m['last_bucket']}",
                        str(m["source"]),
                        str(m["target"]),
                        m["step"],
                        str(m["rows_copied"] or "-"),
                        str(m["rows_deleted"] or "-"),
                        f"{m['pause_seconds']:.3f}" if m["pause_seconds"] is not None else "-",
                    ]
                    for m in moves
                ],
            )
        )
    if any(not s.reachable for s in statuses):
        raise typer.Exit(1)


@shards_app.command("split")
def split_command(
    outputs: Outputs,
    shards_wanted: Annotated[int, typer.Option("--shards", min=2, help="The shard count the split ends at.")],
    credentials: Creds = CredentialSource.secret,
    sslmode: Ssl = SslMode.verify_full,
    sslrootcert: RootCert = None,
    buckets_per_move: Annotated[int, typer.Option(min=1, help="Buckets per move: smaller, shorter fences.")] = 32,
    ledger: Annotated[Path, typer.Option(help="The stack's ledger of finished moves.")] = Path("shardmoves/prod.json"),
) -> None:
    """The moves still needed to reach the map of --shards shards, as the commands to run (in order)."""
    from .split import remaining_moves

    shards = _shards(outputs, credentials, sslmode, sslrootcert)
    missing = sorted(set(range(shards_wanted)) - set(shards.ids))
    if missing:
        err.print(
            f"[red]--shards {shards_wanted}: shards {escape(str(missing))} are not in the outputs; "
            f"set cryb-db:postgres.shardCount: {shards_wanted}, run pulumi up (new shards start empty), "
            "then write the outputs again[/]"
        )
        raise typer.Exit(2)
    pending = remaining_moves(live_map(shards), shards_wanted, buckets_per_move)
    if not pending:
        typer.echo(f"the buckets are where the {shards_wanted}-shard map puts them: nothing to move")
        typer.echo(f"commit {ledger}; the next preview publishes the {shards_wanted}-shard map")
        return
    common = f"--outputs {outputs}"
    typer.echo(f"# {len(pending)} moves of at most {buckets_per_move} buckets; run them in order (each resumes)")
    for first, last, source, target in pending:
        typer.echo(f"# buckets {first}-{last}: shard {source} -> shard {target}")
        typer.echo(f"python -m scripts shards move {common} --buckets {first}-{last} --to {target}")
        typer.echo(f"python -m scripts shards finish {common} --buckets {first}-{last} --to {target} --ledger {ledger}")
