"""The differences between two preview documents (`python -m scripts preview --json`), resource by resource (by
URN), then outputs and the policy report: what a refactoring must leave unchanged, and what a config change does.
Pure: documents in, differences out."""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Difference:
    where: str
    """`<urn>` for a resource only one side has, `<urn> /inputs/...` inside a resource, `outputs/...`, `policy/...`."""
    before: Any
    after: Any


ABSENT = "<absent>"


def _walk(before: Any, after: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    if type(before) is not type(after):
        yield path, before, after
    elif isinstance(before, dict):
        for key in sorted(set(before) | set(after)):
            if key not in before or key not in after:
                yield f"{path}/{key}", before.get(key, ABSENT), after.get(key, ABSENT)
            else:
                yield from _walk(before[key], after[key], f"{path}/{key}")
    elif isinstance(before, list):
        if len(before) != len(after):
            yield path, before, after
        else:
            for index, (left, right) in enumerate(zip(before, after, strict=True)):
                yield from _walk(left, right, f"{path}[{index}]")
    elif before != after:
        yield path, before, after


def preview_differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Difference]:
    """Every difference between two preview documents; resources are matched by URN, so order does not matter."""
    resources_before = {r["urn"]: r for r in before["resources"]}
    resources_after = {r["urn"]: r for r in after["resources"]}
    found: list[Difference] = []
    for urn in sorted(set(resources_before) | set(resources_after)):
        if urn not in resources_after:
            found.append(Difference(urn, "present", ABSENT))
        elif urn not in resources_before:
            found.append(Difference(urn, ABSENT, "present"))
        else:
            changes = _walk(resources_before[urn], resources_after[urn], "")
            found += [Difference(f"{urn} {path}", b, a) for path, b, a in changes]
    for section in ("outputs", "policy"):
        found += [Difference(p, b, a) for p, b, a in _walk(before.get(section), after.get(section), section)]
    return found
