"""Generate docs/configuration.md from the typed config model, so the docs cannot drift from the code."""

import json
import re
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from components.config import StackConfig
from components.config.errors import NAMESPACE
from scripts import PROJECT_DIR
from scripts.preview.stack_files import read_stack_file, stack_file_path

DOC_PATH = PROJECT_DIR / "docs" / "configuration.md"
STACKS = ("dev", "prod")


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(json.dumps(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is not None:
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in typing.get_args(annotation))}]"
    return "null" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo, inherited: Any = PydanticUndefined) -> str:
    """The default shown: the field's own, or the value its enclosing section's default gives it (a rule of the
    backup plan has no default of its own, but `plan.daily` has one, so `plan.daily.schedule` is not required)."""
    if inherited is not PydanticUndefined:
        return f"`{json.dumps(inherited)}`"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        return "`{}`" if value == {} else "(section)"
    if field.default is PydanticUndefined:
        return "**required**"
    return f"`{json.dumps(field.default)}`"


def _is_secret(value: Any) -> bool:
    """`pulumi config set --secret` values are stored as {"secure": "<ciphertext>"}."""
    return isinstance(value, dict) and set(value) == {"secure"}


def _flatten(prefix: str, value: Any, into: dict[str, Any]) -> None:
    """Every path of a stack-file value, mappings included (`backups.plan` and `backups.plan.daily.schedule`)."""
    if _is_secret(value):
        into[prefix] = "(secret)"
        return
    into[prefix] = value
    if isinstance(value, dict):
        for sub, inner in value.items():
            _flatten(f"{prefix}.{sub}", inner, into)


def _stack_values() -> dict[str, dict[str, Any]]:
    """Values each stack file sets, by flattened key, e.g. {"network.azCount": {"dev": 2}}."""
    values: dict[str, dict[str, Any]] = {}
    for stack in STACKS:
        for key, raw in read_stack_file(stack_file_path(stack)).config.items():
            if not key.startswith(f"{NAMESPACE}:"):
                continue
            try:
                decoded = json.loads(raw)
            except json.JSONDecodeError:
                decoded = raw
            flat: dict[str, Any] = {}
            _flatten(key.split(":", 1)[1], decoded, flat)
            for path, value in flat.items():
                values.setdefault(path, {})[stack] = value
    return values


def _section_model(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """(model, keyed): a nested section (`Model`) or a map of sections (`dict[str, Model]`), else (None, False)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if typing.get_origin(annotation) is dict:
        _key, value = typing.get_args(annotation)
        if isinstance(value, type) and issubclass(value, BaseModel):
            return value, True
    return None, False


def _set_by(key: str, stack_values: dict[str, dict[str, Any]]) -> str:
    """Which stack files set `key`; `<name>` matches any map key (e.g. `selfhosted.clusters.<name>.ttl`)."""
    pattern = re.compile("^" + re.escape(key).replace(re.escape("<name>"), "([^.]+)") + "$")
    shown = []
    for path, by_stack in stack_values.items():
        match = pattern.match(path)
        if match is None:
            continue
        label = f"{match.group(1)}: " if match.groups() else ""
        shown += [
            f"{stack}: {label}" + (value if value == "(secret)" else f"`{json.dumps(value)}`")
            for stack, value in by_stack.items()
        ]
    return ", ".join(shown) or "-"


def _section_default(field: FieldInfo, parent: BaseModel | None) -> BaseModel | None:
    """The default instance of a nested section: from its parent's default, or its own default."""
    if parent is not None:
        value = getattr(parent, field.alias or "", None)
    elif field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    else:
        value = field.default
    return value if isinstance(value, BaseModel) else None


def _rows(
    model: type[BaseModel], prefix: str, stack_values: dict[str, dict[str, Any]], default: BaseModel | None = None
) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        section, keyed = _section_model(field.annotation)
        if section is not None:  # a nested section: document its keys one by one
            inner = None if keyed else _section_default(field, None) if default is None else getattr(default, name)
            rows += _rows(section, f"{key}.<name>." if keyed else f"{key}.", stack_values, inner)
            continue
        inherited = getattr(default, name) if default is not None and field.default is PydanticUndefined else None
        description = (field.description or "").replace("|", "\\|")
        shown = _default(field) if inherited is None else _default(field, inherited)
        rows.append(
            f"| `{NAMESPACE}:{key}` | {_type_name(field.annotation)} | {shown} | "
            f"{_set_by(key, stack_values)} | {description} |"
        )
    return rows


def render() -> str:
    stack_values = _stack_values()
    header = "| key | type | default | set by stack files | meaning |\n|---|---|---|---|---|"
    sections = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m scripts config-docs` from components/config/; do not edit by hand. -->",
        "",
        "Every `cryb-db:*` key of a stack, validated by one typed model (`components/config/`) before any resource",
        "is registered. Unknown keys are errors. Defaults are the secure production values; `Pulumi.dev.yaml` and",
        "`Pulumi.prod.yaml` set only what differs. Sections are YAML mappings, e.g.",
        "",
        "```yaml",
        "config:",
        "  cryb-db:environment: prod",
        "  cryb-db:network:",
        "    azCount: 3",
        "```",
        "",
        "An invalid value stops `pulumi preview`, `pulumi up` and the offline preview with one line per problem,",
        "naming the key, the value and what is allowed, e.g. `cryb-db:network.azCount = 5: must be <= 3`.",
        "",
        "## Top-level keys",
        "",
        header,
    ]
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in StackConfig.model_fields.items():
        section, _keyed = _section_model(field.annotation)
        if section is not None:
            nested.append((field.alias or name, section))
    section_keys = {f"`{NAMESPACE}:{key}`" for key, _ in nested}
    top_level = [row for row in _rows(StackConfig, "", stack_values) if row.split(" | ")[0][2:].count(".") == 0]
    sections += [row for row in top_level if row.split(" | ")[0][2:] not in section_keys]
    for key, model in nested:
        sections += ["", f"## `{NAMESPACE}:{key}`", "", (model.__doc__ or "").strip(), "", header]
        sections += _rows(model, f"{key}.", stack_values)
    sections += [
        "",
        "## Production rules",
        "",
        "With `cryb-db:environment: prod` these are errors (see `StackConfig.production_rules`):",
        "",
        "| key | prod requires |",
        "|---|---|",
    ]
    sample = StackConfig.model_validate({"environment": "dev"})
    sections += [
        f"| `{NAMESPACE}:{key}` | {allowed.removesuffix(' in prod')} |"
        for key, _value, _ok, allowed in sample.production_rules()
    ]
    sections.append("")
    return "\n".join(sections)


def write(path: Path = DOC_PATH) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render())
