"""Read `Pulumi.<stack>.yaml` into the flat config map the Pulumi engine hands a program."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scripts import PROJECT_DIR

SECRET_PLACEHOLDER = "[secret]"


@dataclass(frozen=True)
class StackFile:
    path: Path
    config: dict[str, str]
    secret_keys: list[str]


def _engine_value(value: Any) -> str:
    """The engine passes strings: objects and lists as JSON, booleans as `true`/`false`."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _holds_secure(value: Any) -> bool:
    """An object or list holding an encrypted value anywhere (`pulumi config set --path --secret`)."""
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_holds_secure(v) for v in value.values())  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    if isinstance(value, list):
        return any(_holds_secure(v) for v in value)  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    return False


def read_stack_file(path: Path) -> StackFile:
    """Encrypted values (`secure: v1:...`) cannot be decrypted offline; they become a placeholder, marked secret.
    A key whose object holds an encrypted value is marked secret as a whole, as the engine does."""
    document = yaml.safe_load(path.read_text()) or {}
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise ValueError(f"{path}: expected a mapping with a `config:` mapping inside")
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in (document.get("config") or {}).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[key] = SECRET_PLACEHOLDER
            secret_keys.append(key)
        else:
            config[key] = _engine_value(value)
            if _holds_secure(value):
                secret_keys.append(key)
    return StackFile(path, config, secret_keys)


def stack_file_path(stack: str) -> Path:
    return PROJECT_DIR / f"Pulumi.{stack}.yaml"
