"""Tags: every taggable AWS resource carries the tags cost reports, ownership and data handling rely on."""

import importlib
import inspect
import keyword
from collections.abc import Iterator
from functools import cache

from pulumi_policy import Severity

from .base import Config, RuleSet
from .props import UNKNOWN
from .resource import Resource

RULES = RuleSet()


class ProviderSdkError(RuntimeError):
    """The pack's environment cannot say which AWS resources take tags: fail the preview, never skip the rule."""


@cache
def is_taggable(type_token: str) -> bool:
    """Whether the pulumi_aws resource class for `type_token` accepts a `tags` input.

    Read from the installed provider SDK (its generated constructor), so new resource types need no list. An AWS type
    the installed SDK does not have (pulumi-aws missing from the pack's virtualenv, or older than the program's)
    raises ProviderSdkError: the rule must not switch itself off.
    """
    package, module_path, class_name = [*type_token.split(":"), "", ""][:3]
    if package != "aws" or not class_name:
        return False
    module_name = module_path.split("/")[0]
    if keyword.iskeyword(module_name):
        module_name += "_"  # pulumi_aws.lambda_
    module_path = "pulumi_aws" if module_name == "index" else f"pulumi_aws.{module_name}"
    fix = "install policies/requirements.txt (pulumi-aws pinned like the program's) into policies/.venv: make setup"
    try:
        module = importlib.import_module(module_path)
    except ImportError as exc:
        raise ProviderSdkError(f"required-tags: cannot import {module_path} for {type_token} ({exc}); {fix}") from exc
    resource_class = getattr(module, class_name, None)
    init = getattr(resource_class, "_internal_init", None)
    if init is None:
        raise ProviderSdkError(f"required-tags: {module_path} has no resource class {class_name}; {fix}")
    return "tags" in inspect.signature(init).parameters


def tag_map(tags: object) -> dict[str, object]:
    """Tags as a map: most resources take `{key: value}`; auto-scaling groups take `[{key, value,
    propagateAtLaunch}]` (an entry whose key is still unknown is skipped)."""
    if isinstance(tags, dict):
        return dict(tags)
    if isinstance(tags, list):
        return {
            entry["key"]: entry.get("value")
            for entry in tags
            if isinstance(entry, dict) and isinstance(entry.get("key"), str)
        }
    return {}


@RULES.resource(
    types=None,
    name="required-tags",
    description="Every taggable AWS resource has the required tags (environment, service, owner, "
    "data-classification) with allowed values.",
    controls=("CRYB.1",),
    severity=Severity.MEDIUM,
    remediation="Pass tags={**config.tags_for(stack), ...} (components take a `tags` argument).",
    config_schema={
        "requiredTags": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["environment", "service", "owner", "data-classification"],
        },
        "allowedValues": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "default": {
                "environment": ["dev", "staging", "prod"],
                "data-classification": ["public", "internal", "confidential", "restricted"],
            },
        },
    },
)
def required_tags(resource: Resource, config: Config) -> Iterator[str]:
    if not is_taggable(resource.type):
        return
    tags = resource.get("tags", default={})
    provider_tags = resource.get("tagsAll", default={})  # outputs include provider default_tags
    if tags is UNKNOWN or provider_tags is UNKNOWN:
        return
    merged = {**(provider_tags if isinstance(provider_tags, dict) else {}), **tag_map(tags)}
    missing = [key for key in config["requiredTags"] if key not in merged or merged[key] in ("", None)]
    if missing:
        yield f"missing tag(s) {missing}: add them (they come from StackConfig.tags_for)."
    for key, allowed in dict(config["allowedValues"]).items():
        value = merged.get(key)
        if isinstance(value, str) and value and value not in allowed:
            yield f"tag {key}={value!r} is not allowed: use one of {allowed}."
