"""Config: the typed stack config, one pydantic model for all `cryb-db:*` keys (docs/configuration.md), one module
per section, the rules between sections and the region checks. Every problem is found before any resource exists.

Owns: `stack.py` (`StackConfig`, cross-section rules), `loader.py`, `errors.py` (`ConfigError`), one module per
section (`network.py`, `postgres.py`, `selfhosted.py`, `cache.py`, `backups.py`, `monitoring.py`, `kms.py`,
`kubernetes.py`), `windows.py` (the window preferences and placing every window of the stack), `cache_windows.py`,
`region_checks.py`.
May import: the pure modules of `components.postgres`, `components.selfhosted`, `components.cache`,
`components.monitoring` and `components.kubernetes` (instance tables, timing rules, windows, thresholds, pool
sizes: one definition of each).
Imported by: `__main__`, `scripts` (preview, config-docs).
"""

from .errors import ConfigError
from .loader import load_stack_config, parse_stack_config
from .stack import REQUIRED_TAG_KEYS, StackConfig

__all__ = ["REQUIRED_TAG_KEYS", "ConfigError", "StackConfig", "load_stack_config", "parse_stack_config"]
