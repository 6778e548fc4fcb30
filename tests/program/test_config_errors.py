"""Every invalid value of a known key is a config error naming the key (exit 2), never a program error (exit 1):
each leaf key of the config model is set to malformed values; a value the config accepts must then evaluate."""

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from components.config import ConfigError, StackConfig, parse_stack_config
from scripts.preview.mock_engine import evaluate
from scripts.preview.stack_files import read_stack_file
from tests.helpers import stack_document

# Wrong type, out of range, and right shape with an unknown part (the cache node type once failed this way).
MALFORMED: tuple[Any, ...] = ("garbage-value", -1, "cache.x.huge")


def leaf_keys(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    keys: list[tuple[str, ...]] = []
    for name, field in model.model_fields.items():
        key = (*prefix, field.alias or name)
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            keys += leaf_keys(nested, key)
        else:
            keys.append(key)
    return keys


def with_value(document: dict[str, Any], key: tuple[str, ...], value: Any) -> dict[str, Any] | None:
    changed = copy.deepcopy(document)
    config = changed["config"]
    top = f"cryb-db:{key[0]}"
    if len(key) == 1:
        config[top] = value
        return changed
    section = config.setdefault(top, {})
    if not isinstance(section, dict):
        return None
    for part in key[1:-1]:
        section = section.setdefault(part, {})
    section[key[-1]] = value
    return changed


def test_the_model_has_leaf_keys_to_try() -> None:
    assert ("cache", "nodeType") in leaf_keys(StackConfig) and len(leaf_keys(StackConfig)) > 50


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_malformed_values_are_config_errors_never_program_errors(stack: str, tmp_path: Path) -> None:
    document = stack_document(stack)
    program_errors: list[str] = []
    for key in leaf_keys(StackConfig):
        if key == ("environment",):
            continue
        for value in MALFORMED:
            variant = with_value(document, key, value)
            if variant is None:
                continue
            path = tmp_path / f"Pulumi.{stack}.yaml"
            path.write_text(yaml.safe_dump(variant))
            stack_file = read_stack_file(path)
            try:
                parse_stack_config(stack_file.config, stack_file.secret_keys)
            except ConfigError:
                continue  # rejected before any resource: what we want
            try:
                evaluate(stack, path)  # accepted: the program must run with it, or say which key is wrong
            except ConfigError:
                pass
            except Exception as exc:  # noqa: BLE001 - any other exception is exactly the failure under test
                program_errors.append(f"{'.'.join(key)} = {value!r}: {type(exc).__name__}: {exc}")
    assert program_errors == []
