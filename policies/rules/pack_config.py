"""Policy config (`--policy-pack-config FILE`) the pack refuses: a policy or setting it does not have.

The Pulumi CLI validates each policy's settings against the JSON schema the pack declares (types, ranges, enums) but
passes on a misspelt policy name or setting silently, which would switch a rule's intended setting off without a word.
Both the pack (at `Configure`, `analyzer.py`) and the offline runner (scripts/preview/policy_runner.py) refuse them
with this one check, naming the key and what is allowed.
"""

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from .base import AnyRule

ALL = "all"
"""The key that sets the enforcement level of every policy."""
ENFORCEMENT_LEVELS = ("advisory", "mandatory", "remediate", "disabled")


def _hint(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_config_problems(properties: Mapping[str, Mapping[str, Any]], rules: Iterable[AnyRule]) -> list[str]:
    """One line per policy name that is not in the pack and per setting a policy does not have.

    `properties` maps each configured policy name (or `all`) to its settings, without `enforcementLevel`."""
    by_name = {rule.name: rule for rule in rules}
    problems: list[str] = []
    for name in sorted(properties):
        settings = properties[name] or {}
        if name == ALL:
            for key in sorted(settings):
                problems.append(f"{ALL}.{key}: `all` sets only enforcementLevel; put settings under their policy")
            continue
        rule = by_name.get(name)
        if rule is None:
            problems.append(
                f"{name}: unknown policy{_hint(name, by_name)}; the pack has {len(by_name)} policies (docs/policies.md)"
            )
            continue
        for key in sorted(set(settings) - set(rule.config_schema)):
            allowed = ", ".join(sorted(rule.config_schema)) or "none"
            problems.append(f"{name}.{key}: unknown setting{_hint(key, rule.config_schema)} (allowed: {allowed})")
    return problems
