"""Read the `cryb-db:*` keys the engine hands the program and validate them into a StackConfig."""

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from .errors import NAMESPACE, describe
from .stack import StackConfig


def _decode(raw: Any) -> Any:
    """Pulumi passes structured values as JSON text and scalars as strings; pydantic coerces the scalars."""
    if isinstance(raw, str) and raw[:1] in ("{", "["):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def parse_stack_config(raw_config: Mapping[str, Any]) -> StackConfig:
    """Validate the engine's config map (`{"cryb-db:network": "{...}", "aws:region": "..."}`).

    Keys of other namespaces (aws:, pulumi:) belong to their providers and are ignored here.
    Raises ConfigError naming every invalid key, its value and what is allowed.
    """
    prefix = f"{NAMESPACE}:"
    data = {key[len(prefix) :]: _decode(value) for key, value in raw_config.items() if key.startswith(prefix)}
    try:
        return StackConfig.model_validate(data)
    except ValidationError as exc:
        raise describe(exc, StackConfig, data) from None


def engine_config() -> dict[str, Any]:
    """Every config key the Pulumi engine passed to this program (real engine or mock harness)."""
    from pulumi.runtime import config as runtime_config

    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def load_stack_config() -> StackConfig:
    """The validated config of the current stack; raises ConfigError before any resource exists."""
    return parse_stack_config(engine_config())
