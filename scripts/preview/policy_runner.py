"""Run the policy pack offline on a recorded graph, with a stack's policy config, as the engine would.

The rules are the pack's own pulumi_policy objects (policies/rules); this module plays the engine's part:
resource policies get each resource's inputs, stack policies get every resource's outputs (what the mocks
returned, as the engine passes state after the program ran), and the config file sets enforcement levels and
rule settings exactly as `pulumi preview --policy-pack-config <file>` does.

Each violation is `{"policy", "level", "resource", "message", "controls", "severity", "type", "name"}`:
`resource` is the violating resource's URN ("" for a finding about the stack as a whole), `level` is
`mandatory` or `advisory`, `controls` the comma-separated control IDs.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

from policies.rules import all_rules
from policies.rules.base import AnyRule, ResourceRule, StackRule
from scripts import PROJECT_DIR

from .mock_engine import EchoMocks, Evaluation, RecordedResource

POLICY_CONFIG_DIR = PROJECT_DIR / "policies" / "config"
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "": 4}


def policy_config_file(stack: str) -> Path:
    """policies/config/<stack>.json, or prod.json (the strictest) for stacks without their own."""
    own = POLICY_CONFIG_DIR / f"{stack}.json"
    return own if own.exists() else POLICY_CONFIG_DIR / "prod.json"


@dataclass(frozen=True)
class PolicySettings:
    level: EnforcementLevel
    properties: dict[str, Any]


def load_policy_config(path: Path, rules: list[AnyRule]) -> dict[str, PolicySettings]:
    """Per-policy level and properties from a `--policy-pack-config` file; `all` sets the level of every policy
    the file does not name. Unknown policies, properties or levels are errors, so typos cannot pass silently."""
    document = json.loads(path.read_text())
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a JSON object of policy name -> level or settings")
    by_name = {rule.name: rule for rule in rules}
    unknown = sorted(set(document) - set(by_name) - {"all"})
    if unknown:
        raise ValueError(f"{path}: unknown policies {unknown}")

    def level_of(value: Any, where: str) -> EnforcementLevel | None:
        raw = value.get("enforcementLevel") if isinstance(value, dict) else value
        if raw is None:
            return None
        try:
            return EnforcementLevel(raw)
        except ValueError:
            raise ValueError(f"{path}: {where}: {raw!r} is not an enforcement level") from None

    everything = level_of(document.get("all"), "all")
    settings: dict[str, PolicySettings] = {}
    for name, rule in by_name.items():
        entry = document.get(name, {})
        properties = {k: v for k, v in entry.items() if k != "enforcementLevel"} if isinstance(entry, dict) else {}
        extra = sorted(set(properties) - set(rule.config_schema))
        if extra:
            raise ValueError(f"{path}: {name}: unknown settings {extra} (allowed: {sorted(rule.config_schema)})")
        level = level_of(entry, name) or everything or rule.enforcement_level
        settings[name] = PolicySettings(level, properties)
    return settings


def _options(resource: RecordedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.parent,
    )


def _outputs(resource: RecordedResource, mocks: EchoMocks) -> dict[str, Any]:
    """What the mock engine returned as the resource's state (inputs plus computed ids, names and ARNs)."""
    if not resource.custom:
        return dict(resource.inputs)
    args = pulumi.runtime.MockResourceArgs(
        resource.type, resource.name, dict(resource.inputs), provider=resource.provider, custom=True
    )
    _, state = mocks.new_resource(args)
    return {**state, "id": resource.id} if resource.id else state


def _stack_resources(evaluation: Evaluation) -> list[PolicyResource]:
    mocks = EchoMocks(evaluation.config.get("aws:region", "us-east-1"))
    # Providers first: a resource's ARN names its provider's region, and the record may list a provider after its
    # first resource.
    for provider in (r for r in evaluation.resources if r.type.startswith("pulumi:providers:")):
        _outputs(provider, mocks)
    resources = {
        r.urn: PolicyResource(
            r.type, unknown_checking_proxy(_outputs(r, mocks)), r.urn, r.name, _options(r), None, None, [], {}
        )
        for r in evaluation.resources
    }
    for recorded in evaluation.resources:
        if recorded.parent in resources:
            resources[recorded.urn].parent = resources[recorded.parent]
    return list(resources.values())


def run_policies(evaluation: Evaluation, config_file: Path) -> list[dict[str, str]]:
    """Every violation of the pack on `evaluation` under the policy config in `config_file`."""
    rules = all_rules()
    settings = load_policy_config(config_file, rules)
    violations: list[dict[str, str]] = []
    by_urn = {r.urn: r for r in evaluation.resources}
    stack_resources: list[PolicyResource] | None = None

    def reporter(rule: AnyRule, level: EnforcementLevel, default_urn: str | None) -> ReportViolation:
        def report(message: str, urn: str | None = None) -> None:
            target = by_urn.get(urn or default_urn or "")
            violations.append(
                {
                    "policy": rule.name,
                    "level": level.value,
                    "resource": target.urn if target else "",
                    "message": message,
                    "controls": ", ".join(rule.controls),
                    "severity": rule.severity.value,
                    "type": target.type if target else "",
                    "name": target.name if target else "",
                }
            )

        return report

    resource_rules: list[tuple[ResourceRule, EnforcementLevel, ResourceValidationPolicy, dict[str, Any]]] = []
    for rule in rules:
        setting = settings[rule.name]
        if setting.level == EnforcementLevel.DISABLED:
            continue
        level = EnforcementLevel.MANDATORY if setting.level == EnforcementLevel.REMEDIATE else setting.level
        if isinstance(rule, StackRule):
            stack_resources = stack_resources or _stack_resources(evaluation)
            args = StackValidationArgs(stack_resources, dict(setting.properties))
            rule.policy().validate(args, reporter(rule, level, None))
        else:
            resource_rules.append((rule, level, rule.policy(), dict(setting.properties)))
    # Resource by resource, so that every rule on a resource reads the same props proxy (Resource.from_args then
    # converts it once); the violations are sorted below, so the order they are found in does not show.
    for resource in evaluation.resources:
        applicable = [entry for entry in resource_rules if entry[0].applies_to(resource.type)]
        if not applicable:
            continue
        props, options = unknown_checking_proxy(dict(resource.inputs)), _options(resource)
        for rule, level, policy, properties in applicable:
            resource_args = ResourceValidationArgs(
                resource.type, props, resource.urn, resource.name, options, None, dict(properties)
            )
            policy.validate(resource_args, reporter(rule, level, resource.urn))
    return sorted(
        violations,
        key=lambda v: (v["level"] != "mandatory", SEVERITY_ORDER.get(v["severity"], 4), v["policy"], v["resource"]),
    )
