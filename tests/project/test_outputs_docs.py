"""docs/outputs.md says what docs/outputs.schema.json says: every documented output exists in the schema, every
output of the schema is documented, and the example holds the values the prod preview prints. Derived from the two
files, so outputs added to both keep passing."""

import json
import re
from typing import Any

import pytest

from scripts import PROJECT_DIR
from scripts.preview.mock_engine import Evaluation

DOC = (PROJECT_DIR / "docs" / "outputs.md").read_text()
SCHEMA = json.loads((PROJECT_DIR / "docs" / "outputs.schema.json").read_text())
ANY = "<*>"


def schema_paths(node: dict[str, Any], path: str = "") -> list[str]:
    """Every output path of the schema: `a.b`, `a[]` for array items, `a.<*>` for additionalProperties."""
    if "$ref" in node:
        node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    paths = []
    for key, child in node.get("properties", {}).items():
        here = f"{path}.{key}" if path else key
        paths += [here, *schema_paths(child, here)]
    for alternative in [*node.get("oneOf", []), *node.get("anyOf", [])]:  # e.g. `dr`: null or the section
        paths += [p for p in schema_paths(alternative, path) if p not in paths]
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        paths += [f"{path}.{ANY}", *schema_paths(extra, f"{path}.{ANY}")]
    if isinstance(node.get("items"), dict):
        paths += [f"{path}[]", *schema_paths(node["items"], f"{path}[]")]
    return paths


def documented_rows() -> list[tuple[list[str], str]]:
    """(paths, meaning) per row of the outputs table; `.x` after a path is its sibling, `<name>` any key."""
    rows = []
    for line in DOC.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| `") or len(cells) < 3:
            continue
        tokens = re.findall(r"`([^`]+)`", cells[0])
        paths: list[str] = []
        for token in tokens:
            if token.startswith(".") and paths:  # a sibling of the path before it
                token = paths[-1].rsplit(".", 1)[0] + token
            paths.append(re.sub(r"<[a-z]+>", ANY, token))
        rows.append((paths, cells[-1]))
    return rows


def segments(path: str) -> list[str]:
    return path.replace("[]", ".[]").split(".")


def matches(documented: str, actual: str) -> bool:
    """A documented path matches a schema path segment by segment; a named key matches `<*>` and vice versa."""
    left, right = segments(documented), segments(actual)
    return len(left) == len(right) and all(a == b or ANY in (a, b) for a, b in zip(left, right, strict=True))


SCHEMA_PATHS = schema_paths(SCHEMA)
ROWS = documented_rows()
DOCUMENTED = [p for paths, _ in ROWS for p in paths]


def test_the_table_and_the_schema_were_both_read() -> None:
    assert len(ROWS) > 20 and len(SCHEMA_PATHS) > 50
    assert "postgres.shards[].writerEndpoint" in DOCUMENTED and "postgres.shards[].writerEndpoint" in SCHEMA_PATHS


@pytest.mark.parametrize("path", DOCUMENTED)
def test_every_documented_output_is_in_the_schema(path: str) -> None:
    assert any(matches(path, actual) for actual in SCHEMA_PATHS), f"{path} is documented but not in the schema"


def documented(path: str) -> bool:
    """Named in the table, or an array's items or a key of a documented object whose row names it in backticks."""
    if any(matches(d, path) for d in DOCUMENTED):
        return True
    if any(re.match(re.escape(path) + r"(\.|\[\])", d) for d in DOCUMENTED):  # an object or array whose parts are rows
        return True
    parts = segments(path)
    if parts[-1] == "[]" or parts[-1] == ANY:
        parent = path[: -len("[]")] if path.endswith("[]") else path[: -len(f".{ANY}")]
        return documented(parent) or any(d.startswith(parent + ".") for d in DOCUMENTED)
    name = parts[-1]
    for ancestor_length in range(len(parts) - 1, 0, -1):
        ancestor = ".".join(parts[:ancestor_length]).replace(".[]", "[]")
        for paths, meaning in ROWS:
            if any(matches(p, ancestor) for p in paths) and f"`{name}`" in meaning:
                return True
    return False


@pytest.mark.parametrize("path", SCHEMA_PATHS)
def test_every_output_of_the_schema_is_documented(path: str) -> None:
    assert documented(path), f"{path} is in the schema but not in docs/outputs.md"


def is_subset(example: Any, actual: Any) -> bool:
    if isinstance(example, dict):
        return isinstance(actual, dict) and all(k in actual and is_subset(v, actual[k]) for k, v in example.items())
    if isinstance(example, list):
        return isinstance(actual, list) and all(
            i < len(actual) and is_subset(v, actual[i]) for i, v in enumerate(example)
        )
    return example == actual


def test_the_example_is_what_the_prod_preview_prints(prod: Evaluation) -> None:
    (block,) = re.findall(r"```json\n(.*?)```", DOC, flags=re.DOTALL)
    example = json.loads(block)
    assert is_subset(example, prod.masked_outputs()), "the example differs from `preview --stack prod --json`"
    assert len(json.dumps(example)) > 500  # a real excerpt, not a stub


def test_a_wrong_example_value_is_noticed(prod: Evaluation) -> None:
    assert not is_subset({"postgres": {"shards": [{"port": 5432}]}}, prod.masked_outputs())
    assert not is_subset({"network": {"vpcId": "vpc-..."}}, prod.masked_outputs())
