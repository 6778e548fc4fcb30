"""Typed stack config: one pydantic model for all `cryb-db:*` keys (docs/configuration.md)."""

from .errors import ConfigError
from .loader import load_stack_config, parse_stack_config
from .stack import REQUIRED_TAG_KEYS, StackConfig

__all__ = ["REQUIRED_TAG_KEYS", "ConfigError", "StackConfig", "load_stack_config", "parse_stack_config"]
