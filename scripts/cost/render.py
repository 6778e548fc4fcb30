"""The estimate as the preview prints it: rich tables, the JSON `cost` section, Markdown (the pull-request comment)
and the `--compare` difference between two estimates."""

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .estimate import Estimate


def _usd(value: float, sign: bool = False) -> str:
    return f"{value:+,.2f}" if sign else f"{value:,.2f}"


def _quantity(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.4g}"


def difference(base: Estimate, other: Estimate) -> dict[str, Any]:
    """other - base, per component and in total (components in only one of them count as 0 in the other)."""
    a, b = base.by_component, other.by_component
    by_component = {
        name: {
            "stack": a.get(name, 0.0),
            "compare": b.get(name, 0.0),
            "difference": round(b.get(name, 0.0) - a.get(name, 0.0), 2),
        }
        for name in sorted(set(a) | set(b))
    }
    return {
        "total": {"stack": base.total, "compare": other.total, "difference": round(other.total - base.total, 2)},
        "byComponent": {k: v for k, v in by_component.items() if v["difference"] or v["stack"] or v["compare"]},
    }


def cost_section(estimate: Estimate, compare: tuple[str, Estimate] | None = None) -> dict[str, Any]:
    """The `cost` key of the preview document (docs/preview.md, docs/cost.md)."""
    section = estimate.as_dict()
    if compare is not None:
        section["compare"] = {"config": compare[0], **difference(estimate, compare[1])}
    return section


def render_cost(console: Console, estimate: Estimate, compare: tuple[str, Estimate] | None = None) -> None:
    tables = ", ".join(f"{region} as of {as_of}" for region, as_of in estimate.tables.items())
    by_component = Table(title=f"Monthly cost estimate, USD (on-demand; price tables: {tables})")
    for column, justify in (("component", "left"), ("type", "left"), ("items", "right"), ("monthly USD", "right")):
        by_component.add_column(column, justify=justify)  # type: ignore[arg-type]
    for component, total in estimate.by_component.items():
        items = [i for i in estimate.items if i.component == component and i.monthly_usd]
        types: dict[str, float] = {}
        for i in items:
            types[i.type] = types.get(i.type, 0.0) + i.monthly_usd
        by_component.add_row(Text(component, style="bold"), "", str(len(items)), _usd(total))
        for type_token, value in sorted(types.items(), key=lambda kv: -kv[1])[:3]:  # the rest: --json byType
            by_component.add_row("", Text(type_token.split(":")[-1]), "", _usd(value))
    by_component.add_row(Text("total", style="bold"), "", "", Text(_usd(estimate.total), style="bold"))
    console.print(by_component)
    regions = ", ".join(f"{region} {_usd(value)}" for region, value in estimate.by_region.items())
    console.print(f"By region: {regions}")
    top = Table(title="Largest line items")
    for column in ("resource", "item", "quantity", "unit price", "monthly USD", "assumption"):
        top.add_column(column)
    for i in estimate.top(5):
        top.add_row(
            Text(i.resource),
            Text(i.item),
            f"{_quantity(i.quantity)} {i.unit}",
            f"{i.unit_price:g}",
            _usd(i.monthly_usd),
            Text(i.assumption),
        )
    console.print(top)
    console.print("Assumptions:")
    for line in estimate.as_dict()["assumptions"]:
        console.print(Text(f"  - {line}"))
    missing = estimate.as_dict()["notEstimated"]
    console.print(Text(f"Not estimated: {', '.join(missing)}" if missing else "Not estimated: none"))
    if compare is not None:
        render_compare(console, estimate, compare)


def render_compare(console: Console, estimate: Estimate, compare: tuple[str, Estimate]) -> None:
    diff = difference(estimate, compare[1])
    table = Table(title=f"Cost difference: {compare[0]} against stack {estimate.stack}, USD/month")
    for column in ("component", "stack", "compare", "difference"):
        table.add_column(column, justify="left" if column == "component" else "right")
    for name, row in diff["byComponent"].items():
        table.add_row(Text(name), _usd(row["stack"]), _usd(row["compare"]), _usd(row["difference"], sign=True))
    t = diff["total"]
    table.add_row(
        Text("total", style="bold"),
        _usd(t["stack"]),
        _usd(t["compare"]),
        Text(_usd(t["difference"], sign=True), style="bold"),
    )
    console.print(table)


def markdown(stack: str, section: dict[str, Any]) -> str:
    """The `cost` section of a preview document as Markdown (the pull-request comment)."""
    tables = ", ".join(f"{region} as of {as_of}" for region, as_of in section["priceTables"].items())
    lines = [
        f"### Monthly cost estimate: `{stack}` ${_usd(section['totalMonthlyUsd'])}",
        "",
        f"On-demand list prices, {section['hoursPerMonth']} h/month; price tables: {tables}.",
        "",
        "| component | monthly USD |",
        "|---|---:|",
        *(f"| {name} | {_usd(value)} |" for name, value in section["byComponent"].items()),
        f"| **total** | **{_usd(section['totalMonthlyUsd'])}** |",
        "",
        "<details><summary>By resource type and assumptions</summary>",
        "",
        "| resource type | monthly USD |",
        "|---|---:|",
        *(f"| `{name}` | {_usd(value)} |" for name, value in section["byType"].items() if value),
        "",
        *(f"- {line}" for line in section["assumptions"]),
        f"- not estimated: {', '.join(section['notEstimated']) or 'none'}",
        "",
        "</details>",
    ]
    return "\n".join(lines) + "\n"
