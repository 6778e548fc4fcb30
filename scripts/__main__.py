"""`python -m scripts <command>`: the operator CLI (README.md#operator-cli)."""

import gc
import importlib
import os
import sys

import typer
from rich.console import Console
from typer._click.core import Command, Context  # the click that typer vendors and TyperGroup extends
from typer._click.exceptions import NoArgsIsHelpError
from typer.core import TyperGroup
from typer.exceptions import Abort

from .cli.errors import classify
from .cli.exits import INTERRUPTED, request_json, write_error
from .cli.help import hide_flag_types
from .cli.output import widen_piped_output
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
    "roles": ("scripts.roles.command", "roles_app"),
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


def run(argv: list[str] | None = None) -> None:
    """The process entry point. Usage errors exit 64 and environment errors (no AWS credentials, ...) 69, each
    as one line without a traceback, plus a JSON error document under `--json` (scripts/cli). Output to a pipe or a
    file is not cut to 80 columns.

    Pulumi's output graph makes many reference cycles: collections cost the preview CPU for nothing (nearly every
    object lives until the end), so other commands collect rarely and `preview` not at all: at the largest allowed
    stack (2,411 resources) the young-generation collections alone took ~1.1 s of CPU, ~20% of the preview, for ~20 MB
    of peak RSS saved (docs/benchmarks.md#offline-preview-at-scale); what a preview allocates is bounded by the
    stack's size, and the process ends right after. The preview owns no servers, files or atexit clean-up, so once
    its output is flushed it skips the ~0.6 s interpreter teardown."""
    args = sys.argv[1:] if argv is None else argv
    widen_piped_output(os.environ, sys.stdout, sys.stderr)
    hide_flag_types()
    request_json("--json" in args)
    if args[:1] == ["preview"]:
        gc.disable()
    else:
        gc.set_threshold(100_000, 50, 1000)
    code = _invoke(args)
    sys.stdout.flush()
    sys.stderr.flush()
    if args[:1] == ["preview"]:
        os._exit(code)
    sys.exit(code)


def _invoke(args: list[str]) -> int:
    try:
        result = app(args=args, prog_name="python -m scripts", standalone_mode=False)
    except SystemExit as exit_:  # a command calling sys.exit itself
        if isinstance(exit_.code, str):
            err.print(exit_.code, highlight=False, soft_wrap=True)
            return 1
        return 0 if exit_.code is None else exit_.code
    except NoArgsIsHelpError as asked:  # `python -m scripts analytics`: the help is the answer
        if asked.ctx is not None:
            text = asked.ctx.get_help()  # typer's rich help prints itself and returns ""
            if text:
                sys.stdout.write(text + "\n")
        return 0
    except (KeyboardInterrupt, Abort):
        write_error("interrupted", INTERRUPTED, "interrupted")
        return INTERRUPTED
    except Exception as exc:
        known = classify(exc)
        if known is None:
            raise
        code, kind, message = known
        write_error(message, code, kind)
        return code
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    run()
