"""Read the `cryb-db:*` keys the engine hands the program and validate them into a StackConfig."""

import json
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import ValidationError

from .errors import NAMESPACE, ConfigError, describe
from .secrets import plaintext_secret_problems
from .stack import StackConfig


def _decode(raw: Any) -> Any:
    """Pulumi passes structured values as JSON text and scalars as strings; pydantic coerces the scalars."""
    if isinstance(raw, str) and raw[:1] in ("{", "["):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def parse_stack_config(raw_config: Mapping[str, Any], secret_keys: Collection[str] | None = None) -> StackConfig:
    """Validate the engine's config map (`{"cryb-db:network": "{...}", "aws:region": "..."}`).

    Keys of other namespaces (aws:, pulumi:) belong to their providers and are ignored here.
    `secret_keys`: the keys the engine marks secret; when given, a secret key set in plaintext is an error
    (None: not known, e.g. a tool reading a stack file it already checked).
    Raises ConfigError naming every invalid key, its value and what is allowed.
    """
    prefix = f"{NAMESPACE}:"
    data = {key[len(prefix) :]: _decode(value) for key, value in raw_config.items() if key.startswith(prefix)}
    problems = [] if secret_keys is None else plaintext_secret_problems(StackConfig, data, secret_keys)
    try:
        config = StackConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems + describe(exc, StackConfig, data).problems) from None
    if problems:
        raise ConfigError(problems)
    return config


def engine_config() -> dict[str, Any]:
    """Every config key the Pulumi engine passed to this program (real engine or mock harness)."""
    from pulumi.runtime import config as runtime_config

    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def engine_secret_keys(keys: Collection[str]) -> set[str]:
    """Which of `keys` the engine marks secret: those the language host passed as secret (`set_all_config`) and
    those of the older `PULUMI_CONFIG_SECRET_KEYS` variable."""
    from pulumi.runtime import config as runtime_config

    from_env = set(runtime_config.get_config_secret_keys_env())
    return {key for key in keys if key in from_env or runtime_config.is_config_secret(key)}


def load_stack_config() -> StackConfig:
    """The validated config of the current stack; raises ConfigError before any resource exists."""
    config = engine_config()
    return parse_stack_config(config, engine_secret_keys(config))
