"""`python -m scripts preview`: the command `__main__.py` registers. It imports only typer and rich at load time:
the program, the mock engine and the policy pack load when it runs, so `--help` and the other commands stay fast."""

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

err = Console(stderr=True)

EXIT_PROGRAM_ERROR, EXIT_CONFIG_ERROR, EXIT_POLICY_VIOLATION = 1, 2, 3


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

    from .mock_engine import evaluate
    from .render import policy_report, render_text, write_json

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
