"""`python -m scripts <command>`: the operator CLI (README.md#operator-cli)."""

import gc
import importlib
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from typer._click.core import Command, Context  # the click that typer vendors and TyperGroup extends
from typer.core import TyperGroup

# Commands whose modules pull in psycopg, redis or boto3: imported only when called (or listed by --help),
# so `preview` starts fast. name -> (module, Typer app).
LAZY_COMMANDS = {
    "bench": ("scripts.bench.command", "bench_app"),
    "health": ("scripts.health.command", "health_app"),
    "dr-drill": ("scripts.dr.command", "dr_app"),
    "analytics": ("scripts.analytics.command", "analytics_app"),
}


class LazyCommands(TyperGroup):
    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *LAZY_COMMANDS]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in LAZY_COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, attribute = LAZY_COMMANDS[cmd_name]
        command = typer.main.get_command(getattr(importlib.import_module(module), attribute))
        command.name = cmd_name
        return command


app = typer.Typer(cls=LazyCommands, no_args_is_help=True, add_completion=False, help="cryb-db operator tools.")
err = Console(stderr=True)

EXIT_PROGRAM_ERROR, EXIT_CONFIG_ERROR, EXIT_POLICY_VIOLATION = 1, 2, 3


@app.callback()
def main() -> None:
    """cryb-db operator tools: offline preview, benchmarks, health checks and drills."""


@app.command()
def preview(
    stack: Annotated[str, typer.Option(help="Stack to preview: dev or prod (reads Pulumi.<stack>.yaml).")],
    config: Annotated[
        Path | None,
        typer.Option(help="Use this stack config file instead of Pulumi.<stack>.yaml.", exists=True, dir_okay=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document (docs/preview.md).")] = False,
) -> None:
    """Evaluate the Pulumi program offline (mock engine) and report resources, outputs and policy violations.

    Exit codes: 0 clean, 1 program error, 2 invalid config, 3 a mandatory policy violation.
    """
    from components.config import ConfigError

    from .preview.mock_engine import evaluate
    from .preview.render import policy_report, render_text, write_json

    started = time.perf_counter()
    try:
        evaluation = evaluate(stack, config)
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_CONFIG_ERROR) from None
    except FileNotFoundError as exc:
        err.print(f"[red]error:[/] no stack config file: {exc.filename} (stacks: dev, prod; or pass --config FILE)")
        raise typer.Exit(EXIT_CONFIG_ERROR) from None
    except Exception as exc:  # noqa: BLE001 - report any program failure as one clear line, then exit non-zero
        err.print(f"[red]program error:[/] {type(exc).__name__}: {exc}", highlight=False)
        raise typer.Exit(EXIT_PROGRAM_ERROR) from None
    violations = policy_report(evaluation)
    if as_json:
        sys.stdout.write(write_json(evaluation, violations) + "\n")
    else:
        render_text(Console(emoji=False), evaluation, violations)
        err.print(f"[dim]evaluated in {time.perf_counter() - started:.2f} s[/]")
    if any(v["level"] == "mandatory" for v in violations):
        raise typer.Exit(EXIT_POLICY_VIOLATION)


@app.command("config-docs")
def config_docs(
    check: Annotated[
        bool, typer.Option(help="Exit 1 if docs/configuration.md is not current instead of writing.")
    ] = False,
) -> None:
    """Regenerate docs/configuration.md from the typed config model."""
    from .config_docs.generator import DOC_PATH, render, write

    if check:
        current = DOC_PATH.read_text() if DOC_PATH.exists() else ""
        if current != render():
            err.print("docs/configuration.md is out of date: run `python -m scripts config-docs`")
            raise typer.Exit(1)
        return
    write()
    err.print(f"wrote {DOC_PATH}")


def run() -> None:
    """The process entry point. Pulumi's output graph makes many reference cycles: full collections cost the
    preview ~0.8 s for nothing (every object lives until the end), so collect rarely. The preview owns no
    servers, files or atexit clean-up, so once its output is flushed it skips the ~0.6 s interpreter teardown."""
    gc.set_threshold(100_000, 50, 1000)
    if sys.argv[1:2] != ["preview"]:
        app()
        return
    try:
        app()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if isinstance(exit_.code, str):
            err.print(exit_.code)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
