"""What a rule is (metadata, check, config schema) and how it becomes a CrossGuard policy.

A rule's check is a plain function over `Resource` (or `Stack`) that yields messages saying what to change.
`ResourceRule.policy()` / `StackRule.policy()` wrap it in the pulumi_policy object that `policies/__main__.py`
puts in the pack and that `scripts/policy_runner.py` calls offline, so both run the same code path.

Imports go one way: `resource` (what a rule sees) <- `graph` (the stack) <- `base` <- the rule modules.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from .graph import Stack
from .resource import Resource

Config = Mapping[str, Any]
"""A rule's settings: its config_schema defaults overlaid with the policy config (Rule.settings)."""

ResourceCheck = Callable[[Resource, Config], Iterable[str]]
StackCheck = Callable[[Stack, Config], Iterable[tuple[Resource | None, str]]]


@dataclass(frozen=True, kw_only=True)
class Rule:
    """Metadata every rule carries; `controls` are Security Hub IDs (RDS.3) or project IDs (CRYB.1)."""

    name: str
    description: str
    controls: tuple[str, ...]
    severity: Severity
    remediation: str
    enforcement_level: EnforcementLevel = EnforcementLevel.MANDATORY
    config_schema: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """JSON-schema properties of the rule's config; each has a `default`, so an empty config works."""

    def settings(self, configured: Config | None) -> dict[str, Any]:
        """The schema defaults overlaid with what the policy config sets."""
        values = {key: schema["default"] for key, schema in self.config_schema.items()}
        values.update(configured or {})
        return values

    def _metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "enforcement_level": self.enforcement_level,
            "config_schema": PolicyConfigSchema(properties={k: dict(v) for k, v in self.config_schema.items()})
            if self.config_schema
            else None,
            "severity": self.severity,
            "tags": list(self.controls),
            "remediation_steps": self.remediation,
        }


@dataclass(frozen=True, kw_only=True)
class ResourceRule(Rule):
    """Checks one resource at a time, of `resource_types` (None: every resource)."""

    resource_types: frozenset[str] | None
    check: ResourceCheck

    def applies_to(self, type_token: str) -> bool:
        return self.resource_types is None or type_token in self.resource_types

    def policy(self) -> ResourceValidationPolicy:
        def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            if not self.applies_to(args.resource_type):
                return
            resource = Resource.from_args(args)
            for message in self.check(resource, self.settings(args.get_config())):
                report_violation(message, None)

        return ResourceValidationPolicy(validate=validate, **self._metadata())


@dataclass(frozen=True, kw_only=True)
class StackRule(Rule):
    """Checks the whole stack (resource outputs as the engine sees them after the program ran)."""

    check: StackCheck

    def policy(self) -> StackValidationPolicy:
        def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
            stack = Stack.from_args(args)
            for resource, message in self.check(stack, self.settings(args.get_config())):
                report_violation(message, resource.urn if resource else None)

        return StackValidationPolicy(validate=validate, **self._metadata())


AnyRule = ResourceRule | StackRule


class RuleSet:
    """The rules of one module, registered by decorating their check functions."""

    def __init__(self) -> None:
        self.rules: list[AnyRule] = []

    def resource(
        self,
        *,
        types: Sequence[str] | None,
        name: str,
        description: str,
        controls: Sequence[str],
        severity: Severity,
        remediation: str,
        enforcement_level: EnforcementLevel = EnforcementLevel.MANDATORY,
        config_schema: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Callable[[ResourceCheck], ResourceRule]:
        def register(check: ResourceCheck) -> ResourceRule:
            rule = ResourceRule(
                name=name,
                description=description,
                controls=tuple(controls),
                severity=severity,
                remediation=remediation,
                enforcement_level=enforcement_level,
                config_schema=config_schema or {},
                resource_types=frozenset(types) if types is not None else None,
                check=check,
            )
            self.rules.append(rule)
            return rule

        return register

    def stack(
        self,
        *,
        name: str,
        description: str,
        controls: Sequence[str],
        severity: Severity,
        remediation: str,
        enforcement_level: EnforcementLevel = EnforcementLevel.MANDATORY,
        config_schema: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Callable[[StackCheck], StackRule]:
        def register(check: StackCheck) -> StackRule:
            rule = StackRule(
                name=name,
                description=description,
                controls=tuple(controls),
                severity=severity,
                remediation=remediation,
                enforcement_level=enforcement_level,
                config_schema=config_schema or {},
                check=check,
            )
            self.rules.append(rule)
            return rule

        return register

    def add(self, rule: AnyRule) -> AnyRule:
        """Register a rule built by a factory (e.g. the S3 'every bucket has X' rules)."""
        self.rules.append(rule)
        return rule
