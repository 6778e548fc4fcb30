"""What the preview prints: the JSON document (docs/preview.md), the text tree, tables and policy report, and the
policy report itself (run on demand, so the document can be built without the policy pack)."""

import json
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from .mock_engine import Evaluation, RecordedResource


def policy_report(evaluation: Evaluation) -> list[dict[str, str]]:
    """Violations of the policy pack on the recorded graph, under policies/config/<stack>.json (else prod.json)."""
    from .policy_runner import policy_config_file, run_policies

    return run_policies(evaluation, policy_config_file(evaluation.stack))


def preview_document(
    evaluation: Evaluation, violations: list[dict[str, str]], cost: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The documented JSON shape (docs/preview.md); later issues only add keys (`cost`: docs/cost.md)."""
    document = {
        "stack": evaluation.stack,
        "resources": [
            {"type": r.type, "name": r.name, "parent": r.parent, "inputs": r.masked_inputs(), "urn": r.urn}
            for r in evaluation.resources
        ],
        "outputs": evaluation.masked_outputs(),
        "policy": {"violations": violations},
    }
    if cost is not None:
        document["cost"] = cost
    return document


def _add_children(node: Tree, evaluation: Evaluation, parent: RecordedResource | None) -> None:
    children = evaluation.children(parent.urn if parent else None)
    for component in (c for c in children if not c.custom):
        branch = node.add(f"[bold]{component.name}[/] [dim]{component.type}[/]")
        _add_children(branch, evaluation, component)
    for type_token, count in sorted(Counter(c.type for c in children if c.custom).items()):
        node.add(f"{type_token} [cyan]x{count}[/]")


def render_text(console: Console, evaluation: Evaluation, violations: list[dict[str, str]]) -> None:
    tree = Tree(f"[bold]stack {evaluation.stack}[/] ({len(evaluation.resources)} resources)")
    _add_children(tree, evaluation, None)
    console.print(tree)

    counts = Table(title="Resources by type")
    counts.add_column("type")
    counts.add_column("count", justify="right")
    for type_token, count in sorted(Counter(r.type for r in evaluation.resources).items()):
        counts.add_row(type_token, str(count))
    console.print(counts)

    outputs = Table(title="Stack outputs (secrets masked)")
    outputs.add_column("output")
    outputs.add_column("value", overflow="fold")
    for key, value in evaluation.masked_outputs().items():
        # Text, not markup: values such as "[secret]" or ":secret:" must print as they are.
        outputs.add_row(key, Text(json.dumps(value, indent=1) if isinstance(value, dict | list) else str(value)))
    console.print(outputs)

    if not violations:
        console.print("[green]Policy report: no violations[/]")
        return
    console.print(f"[bold]Policy report: {len(violations)} violation(s)[/]")
    for level, style in (("mandatory", "red"), ("advisory", "yellow")):
        group = sorted((v for v in violations if v["level"] == level), key=lambda v: (v["policy"], v.get("name", "")))
        if not group:
            continue
        report = Table(title=f"{level} ({len(group)})", title_style=style, show_lines=False)
        for column in ("policy", "resource", "message"):
            report.add_column(column, overflow="fold")
        for v in group:
            report.add_row(Text(v["policy"]), Text(v.get("name") or v["resource"]), Text(v["message"]))
        console.print(report)


def write_json(
    evaluation: Evaluation,
    violations: list[dict[str, str]],
    out: Path | None = None,
    cost: dict[str, Any] | None = None,
) -> str:
    text = json.dumps(preview_document(evaluation, violations, cost), indent=2, sort_keys=False, default=str)
    if out:
        out.write_text(text + "\n")
    return text
