"""`python -m scripts <command>`: the operator CLI (README.md#operator-cli)."""

import gc
import importlib
import os
import sys

import typer
from rich.console import Console
from typer._click.core import Command, Context  # the click that typer vendors and TyperGroup extends
from typer.core import TyperGroup

from .config_docs.command import config_docs
from .preview.command import preview
from .preview.diff_command import preview_diff

# Commands whose modules pull in psycopg, redis or boto3: imported only when called (or listed by --help),
# so `preview` starts fast. name -> (module, Typer app).
LAZY_COMMANDS = {
    "bench": ("scripts.bench.command", "bench_app"),
    "health": ("scripts.health.command", "health_app"),
    "dr-drill": ("scripts.dr.command", "dr_app"),
    "dr": ("scripts.dr.promote_command", "promote_app"),
    "analytics": ("scripts.analytics.command", "analytics_app"),
    "prices": ("scripts.cost.command", "prices_app"),
    "local": ("scripts.local.command", "local_app"),
    "shards": ("scripts.shards.command", "shards_app"),
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


@app.callback()
def main() -> None:
    """cryb-db operator tools: offline preview, benchmarks, health checks and drills."""


app.command()(preview)
app.command("config-docs")(config_docs)
app.command("preview-diff")(preview_diff)


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
