"""`python -m scripts preview`: the command `__main__.py` registers. It imports only typer and rich at load time:
the program, the mock engine and the policy pack load when it runs, so `--help` and the other commands stay fast."""

import sys
import time
from pathlib import Path
from typing import Annotated, Any

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
    compare: Annotated[
        Path | None,
        typer.Option(help="Also evaluate this stack config file and show its cost difference (docs/cost.md).",
                     dir_okay=False),
    ] = None,
) -> None:
    """Evaluate the Pulumi program offline (mock engine) and report resources, outputs and policy violations.

    Exit codes: 0 clean, 1 program error, 2 invalid config (stack or policy config), 3 a mandatory policy violation.
    """
    from components.config import ConfigError
    from scripts.cost.render import cost_section, render_cost

    from .mock_engine import evaluate
    from .policy_runner import PolicyConfigError
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
    try:
        violations = policy_report(evaluation)
    except PolicyConfigError as exc:  # policies/config/<stack>.json: refused as `pulumi preview` refuses it
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_CONFIG_ERROR) from None
    estimate, compared = _cost(stack, evaluation, compare)
    if as_json:
        sys.stdout.write(write_json(evaluation, violations, cost=cost_section(estimate, compared)) + "\n")
    else:
        console = Console(emoji=False)
        render_text(console, evaluation, violations)
        render_cost(console, estimate, compared)
        err.print(f"[dim]evaluated in {time.perf_counter() - started:.2f} s[/]")
    if any(v["level"] == "mandatory" for v in violations):
        raise typer.Exit(EXIT_POLICY_VIOLATION)


def _cost(stack: str, evaluation: Any, compare: Path | None) -> tuple[Any, tuple[str, Any] | None]:
    """The estimate of the stack and, with --compare, of the other config (scripts/cost; docs/cost.md)."""
    from components.config import ConfigError
    from scripts.cost.estimate import estimate_evaluation
    from scripts.cost.prices import PriceTableError

    from .mock_engine import evaluate

    try:
        estimate = estimate_evaluation(evaluation)
        if compare is None:
            return estimate, None
        if not compare.is_file():
            err.print(f"[red]error:[/] --compare: no such stack config file: {compare}", highlight=False)
            raise typer.Exit(EXIT_CONFIG_ERROR)
        try:
            other = evaluate(stack, compare)
        except ConfigError as exc:
            err.print(f"[red]error:[/] --compare {compare}: {exc}", highlight=False)
            raise typer.Exit(EXIT_CONFIG_ERROR) from None
        return estimate, (str(compare), estimate_evaluation(other))
    except PriceTableError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_CONFIG_ERROR) from None
