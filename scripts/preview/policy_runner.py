"""Run the policy pack offline on a recorded graph, with a stack's policy config, as the engine would.

The rules are the pack's own pulumi_policy objects (policies/rules); this module plays the engine's part, from the
same view the engine has (`engine_view`): resource policies get each resource's inputs, stack policies every
resource's outputs (the stack resource's exports included), as the pack's server reads them off the wire (a protobuf
`Struct`, numbers as floats, secrets wrapped, unknowns as the engine's sentinel), with property dependencies.
The policy config file is read, reconciled and validated as `pulumi preview --policy-pack-config <file>` does (each
policy's JSON schema: types, ranges, enums), and, as the pack does at Configure, unknown policies and settings are
refused. tests/policies/engine/ checks that the pack started as the CLI starts it answers exactly the same.

Each violation is `{"policy", "level", "resource", "message", "controls", "severity", "type", "name"}`:
`resource` is the violating resource's URN ("" for a finding about the stack as a whole), `level` is
`mandatory` or `advisory`, `controls` the comma-separated control IDs.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from google.protobuf import json_format, struct_pb2
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
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from policies.rules import all_rules
from policies.rules.base import AnyRule, ResourceRule, StackRule
from policies.rules.pack_config import ALL, ENFORCEMENT_LEVELS, unknown_config_problems
from scripts import PROJECT_DIR

from .engine_view import EngineResource, analyzed_resources, stack_resources
from .mock_engine import Evaluation

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
    """The policy's settings as the engine sends them at Configure: schema defaults overlaid with the file's."""


class PolicyConfigError(ValueError):
    """A policy config file the CLI or the pack refuses; the message has one line per problem."""


def _level(value: Any, where: str, problems: list[str]) -> EnforcementLevel | None:
    if isinstance(value, str) and value in ENFORCEMENT_LEVELS:
        return EnforcementLevel(value)
    problems.append(f"{where}: {value!r} is not an enforcement level (allowed: {', '.join(ENFORCEMENT_LEVELS)})")
    return None


def _parse(document: dict[str, Any], problems: list[str]) -> dict[str, tuple[EnforcementLevel | None, dict[str, Any]]]:
    """Each entry as (level, settings), as the CLI parses the file (pkg/resource/analyzer/config.go)."""
    given: dict[str, tuple[EnforcementLevel | None, dict[str, Any]]] = {}
    for name, value in document.items():
        level: EnforcementLevel | None = None
        settings: dict[str, Any] = {}
        if isinstance(value, str):
            level = _level(value, name, problems)
        elif isinstance(value, dict):
            settings = dict(value)
            if "enforcementLevel" in settings:
                level = _level(settings.pop("enforcementLevel"), f"{name}.enforcementLevel", problems)
        else:
            problems.append(f"{name}: {json.dumps(value)} must be an enforcement level or an object of settings")
            continue
        if level is not None or settings:  # the CLI drops empty entries
            given[name] = (level, settings)
    return given


def _schema_problems(rule: AnyRule, settings: dict[str, Any]) -> list[str]:
    """The CLI's check of a policy's settings: its config schema as a JSON schema (gojsonschema; `integer` accepts
    30.0 as JSON Schema draft 6+ does), with enforcementLevel added."""
    schema = {
        "type": "object",
        "properties": {**rule.config_schema, "enforcementLevel": {"type": "string", "enum": list(ENFORCEMENT_LEVELS)}},
    }
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(settings), key=lambda e: [str(p) for p in e.absolute_path]
    )
    return [f"{'.'.join([rule.name, *(str(p) for p in error.absolute_path)])}: {error.message}" for error in errors]


def load_policy_config(path: Path, rules: list[AnyRule]) -> dict[str, PolicySettings]:
    """Per-policy level and settings from a `--policy-pack-config` file, as the CLI reconciles them: each policy's
    default level and schema defaults, then `all`'s level, then the file's entry; every policy's settings are
    validated against its schema. Unknown policies and settings are refused as the pack refuses them. Raises
    PolicyConfigError naming every problem."""
    text = path.read_text()
    try:
        document = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise PolicyConfigError(f"{path}: not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise PolicyConfigError(f"{path}: expected a JSON object of policy name -> level or settings")
    problems: list[str] = []
    if "environments" in document:
        problems.append("environments: Pulumi ESC environments cannot be resolved offline; set the values in the file")
        document = {k: v for k, v in document.items() if k != "environments"}
    given = _parse(document, problems)
    problems += unknown_config_problems({name: settings for name, (_, settings) in given.items()}, rules)
    everything = given.get(ALL, (None, {}))[0]
    settings: dict[str, PolicySettings] = {}
    for rule in rules:
        level, own = given.get(rule.name, (None, {}))
        properties = {key: schema["default"] for key, schema in rule.config_schema.items() if "default" in schema}
        properties.update(own)
        problems += _schema_problems(rule, properties)
        settings[rule.name] = PolicySettings(level or everything or rule.enforcement_level, properties)
    if problems:
        raise PolicyConfigError(f"{path}: invalid policy config:\n" + "\n".join(f"  {p}" for p in problems))
    return settings


def received_config(properties: dict[str, Any]) -> dict[str, Any] | None:
    """A policy's settings as the pack's server hands them to the rule: through a protobuf Struct (numbers as floats),
    None when there are none."""
    if not properties:
        return None
    message = struct_pb2.Struct()
    message.update(properties)
    return json_format.MessageToDict(message)


def _options(resource: EngineResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.parent,
    )


def _props(resource: EngineResource) -> Any:
    """The props proxy the pack's server builds from the request."""
    return unknown_checking_proxy(deserialize_properties(resource.received()))


def _policy_resources(resources: list[EngineResource]) -> list[PolicyResource]:
    """AnalyzeStack's resources as the pack's server links them: parents and property dependencies as objects."""
    by_urn = {
        r.urn: PolicyResource(r.type, _props(r), r.urn, r.name, _options(r), None, None, [], {}) for r in resources
    }
    for r in resources:
        resource = by_urn[r.urn]
        resource.parent = by_urn.get(r.parent or "")
        resource.dependencies = [by_urn[u] for u in r.dependencies if u in by_urn]
        resource.property_dependencies = {
            key: [by_urn[u] for u in urns if u in by_urn] for key, urns in r.property_dependencies.items()
        }
    return list(by_urn.values())


def run_policies(evaluation: Evaluation, config_file: Path) -> list[dict[str, str]]:
    """Every violation of the pack on `evaluation` under the policy config in `config_file`."""
    rules = all_rules()
    return analyze(evaluation, load_policy_config(config_file, rules), rules)


def analyze(evaluation: Evaluation, settings: dict[str, PolicySettings], rules: list[AnyRule]) -> list[dict[str, str]]:
    """Every violation of `rules` on `evaluation` with `settings` (load_policy_config), sorted."""
    violations: list[dict[str, str]] = []
    analyzed = analyzed_resources(evaluation)
    by_urn = {r.urn: r for r in analyzed}
    stack: list[PolicyResource] | None = None

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

    resource_rules: list[tuple[ResourceRule, EnforcementLevel, ResourceValidationPolicy, dict[str, Any] | None]] = []
    for rule in rules:
        setting = settings[rule.name]
        if setting.level == EnforcementLevel.DISABLED:
            continue
        level = EnforcementLevel.MANDATORY if setting.level == EnforcementLevel.REMEDIATE else setting.level
        if isinstance(rule, StackRule):
            stack = stack or _policy_resources(stack_resources(evaluation))
            args = StackValidationArgs(stack, received_config(setting.properties))
            rule.policy().validate(args, reporter(rule, level, None))
        else:
            resource_rules.append((rule, level, rule.policy(), received_config(setting.properties)))
    # Resource by resource, so that every rule on a resource reads the same props proxy (Resource.from_args then
    # converts it once); the violations are sorted below, so the order they are found in does not show.
    for resource in analyzed:
        applicable = [entry for entry in resource_rules if entry[0].applies_to(resource.type)]
        if not applicable:
            continue
        props, options = _props(resource), _options(resource)
        for rule, level, policy, properties in applicable:
            resource_args = ResourceValidationArgs(
                resource.type, props, resource.urn, resource.name, options, None, properties
            )
            policy.validate(resource_args, reporter(rule, level, resource.urn))
    return sorted(
        violations,
        key=lambda v: (
            v["level"] != "mandatory",
            SEVERITY_ORDER.get(v["severity"], 4),
            v["policy"],
            v["resource"],
            v["message"],
        ),
    )
