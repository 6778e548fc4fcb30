"""Turn validation failures into one message per problem: the key, the value and what is allowed."""

import difflib
from typing import Any

from pydantic import ValidationError

NAMESPACE = "cryb-db"


class ConfigError(Exception):
    """The stack config is invalid. `problems` holds one line per invalid key."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack config:\n" + "\n".join(f"  - {p}" for p in problems))


def _allowed(error: Any) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    simple = {
        "int_parsing": "an integer",
        "int_type": "an integer",
        "int_from_float": "a whole number",
        "bool_parsing": "true or false",
        "bool_type": "true or false",
        "string_type": "a string",
        "dict_type": "a mapping of keys to values",
        "model_type": "a mapping of keys to values",
        "string_too_short": f"a string of at least {ctx.get('min_length')} characters",
        "string_too_long": f"a string of at most {ctx.get('max_length')} characters",
    }
    if kind in simple:
        return "must be " + simple[kind]
    if kind in ("less_than_equal", "greater_than_equal", "less_than", "greater_than"):
        bound = {"less_than_equal": "<=", "greater_than_equal": ">=", "less_than": "<", "greater_than": ">"}[kind]
        limit = next(iter(ctx.values()))
        return f"must be {bound} {limit}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return str(error["msg"])


def _key_of(loc: tuple[Any, ...]) -> str:
    return f"{NAMESPACE}:" + ".".join(str(part) for part in loc) if loc else f"{NAMESPACE}"


def _yaml_keys(model: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Defaults are validated under their Python names; always show the camelCase key of the stack file."""
    keys = []
    for part in loc:
        fields = getattr(model, "model_fields", {})
        field = next((f for name, f in fields.items() if part in (name, f.alias)), None)
        keys.append(field.alias or part if field else part)
        model = field.annotation if field else None
    return tuple(keys)


def _unknown_key(loc: tuple[Any, ...], known: list[str]) -> str:
    key = _key_of(loc)
    guess = difflib.get_close_matches(str(loc[-1]), known, n=1)
    hint = f" (did you mean {guess[0]!r}?)" if guess else ""
    return f"{key}: unknown key{hint}; allowed keys here: {', '.join(sorted(known))}"


def describe(exc: ValidationError, model: type, data: Any) -> ConfigError:
    """One line per error, e.g. `cryb-db:network.azCount = 5: must be <= 3`."""
    problems = []
    for error in exc.errors():
        loc = _yaml_keys(model, tuple(error["loc"]))
        if error["type"] == "extra_forbidden":
            problems.append(_unknown_key(loc, _known_keys(model, loc[:-1])))
        elif error["type"] == "missing":
            problems.append(f"{_key_of(loc)}: required; it has no default, set it in Pulumi.<stack>.yaml")
        elif not loc and error["type"] == "value_error":
            # Cross-field rules already name their keys and values.
            problems.extend(str((error.get("ctx") or {}).get("error", error["msg"])).split("; "))
        else:
            problems.append(f"{_key_of(loc)} = {error['input']!r}: {_allowed(error)}")
    return ConfigError(problems)


def _known_keys(model: Any, path: tuple[Any, ...]) -> list[str]:
    """The camelCase keys a (nested) section accepts."""
    for part in path:
        field = next((f for name, f in model.model_fields.items() if part in (name, f.alias)), None)
        if field is None or not hasattr(field.annotation, "model_fields"):
            return []
        model = field.annotation
    return [f.alias or name for name, f in model.model_fields.items()]
