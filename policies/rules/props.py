"""Reading resource properties the way the engine sends them: camelCase keys, numbers as floats, and during a
preview some values still unknown.

The real CrossGuard hands rules a proxy that raises `UnknownValueError` when an unknown value is read; the
offline harness records unknowns as `None`. `plain()` turns both into ordinary dicts and lists in which every
unknown is the `UNKNOWN` marker, so a rule can say "cannot tell yet" instead of crashing or guessing. A key that
is absent is different: it means "not set", and AWS applies its default (often the insecure one).
"""

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any, Final, Literal

from pulumi_policy import Secret
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)


class Unknown(Enum):
    """A value the engine will only know after the update; compare with `is UNKNOWN` (an enum, so type checkers
    narrow on it)."""

    UNKNOWN = "<unknown>"

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN: Final = Unknown.UNKNOWN
IsUnknown = Literal[Unknown.UNKNOWN]

_SENTINELS = frozenset(
    {
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
)


def plain(value: Any) -> Any:
    """A copy of `value` made of dicts, lists and scalars, with secrets unwrapped and unknowns as `UNKNOWN`."""
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key in value:  # iterating keys never touches a value, so it cannot raise UnknownValueError
            try:
                result[str(key)] = plain(value[key])
            except UnknownValueError:
                result[str(key)] = UNKNOWN
        return result
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    if value is None or (isinstance(value, str) and value in _SENTINELS):
        return UNKNOWN  # the offline harness records an unknown as None; the engine sends a sentinel string
    return value


def lookup(data: Any, *path: str | int, default: Any = None) -> Any:
    """`data[path[0]][path[1]]...`: UNKNOWN as soon as a step is unknown, `default` if a step is absent."""
    current = data
    for step in path:
        if current is UNKNOWN:
            return UNKNOWN
        if isinstance(step, int):
            if not isinstance(current, list) or not -len(current) <= step < len(current):
                return default
            current = current[step]
        else:
            if not isinstance(current, dict) or step not in current:
                return default
            current = current[step]
    return current


def as_bool(value: Any) -> bool | IsUnknown | None:
    """True/False, also from the strings launch templates use ("true"); None when it is neither."""
    if value is UNKNOWN or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def as_number(value: Any) -> float | IsUnknown | None:
    """A number (the engine sends floats; config may hold ints or numeric strings); None when it is not one."""
    if value is UNKNOWN:
        return UNKNOWN
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def as_list(value: Any) -> list[Any] | IsUnknown:
    """A list; an absent value is an empty list and a single value a one-item list."""
    if value is UNKNOWN:
        return UNKNOWN
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def strings(value: Any) -> set[str]:
    """Every known string anywhere inside `value` (dict values, list items, nested)."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.add(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def has_unknown(value: Any) -> bool:
    """True when `value` is unknown or holds an unknown anywhere inside."""
    stack = [value]
    while stack:
        item = stack.pop()
        if item is UNKNOWN:
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
