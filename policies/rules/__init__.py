"""The rules of the cryb-db policy pack, one module per service plus project and stack-wide rules.

`RULE_MODULES` is the single list the pack (`policies/__main__.py`) and the offline runner
(`scripts/preview/policy_runner.py`) build from; a test checks that every module defining `RULES` is in it.
"""

from pulumi_policy import Policy

from . import (
    cloudwatch,
    docker,
    dr,
    ec2,
    elasticache,
    kms,
    kubernetes,
    lambda_,
    project,
    rds,
    s3,
    secrets,
    sns,
    stack,
    tagging,
)
from .base import AnyRule

RULE_MODULES = (
    rds,
    elasticache,
    s3,
    ec2,
    kms,
    secrets,
    sns,
    cloudwatch,
    lambda_,
    tagging,
    project,
    stack,
    docker,
    kubernetes,
    dr,
)


def all_rules() -> list[AnyRule]:
    rules = [rule for module in RULE_MODULES for rule in module.RULES.rules]
    names = [rule.name for rule in rules]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"policy names must be unique in the pack; duplicated: {duplicates}")
    return rules


def all_policies() -> list[Policy]:
    return [rule.policy() for rule in all_rules()]
