"""`policies/rules/tagging.py`, the required tags on every taggable resource: each case's compliant input passes, each
violating one is reported with what to change, and unknown values are no violation (helpers.case_tests)."""

from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE

from policies.rules import tagging
from tests.policies.rules.helpers import FUNCTION, RULES, TAGS, Case, case_tests, changed, resource_violations

CASES = [
    Case(
        "required-tags",
        "aws:ec2/subnet:Subnet",
        {"vpcId": "vpc", "tags": TAGS},
        [
            {"vpcId": "vpc"},
            {"vpcId": "vpc", "tags": changed(TAGS, owner=...)},
            {"vpcId": "vpc", "tags": changed(TAGS, environment="production")},
            {"vpcId": "vpc", "tags": changed(TAGS, service="")},
        ],
        [{"vpcId": "vpc", "tags": UNKNOWN_OBJECT_VALUE}],
    ),
    Case(
        "required-tags",
        "aws:ec2/subnet:Subnet",
        {"vpcId": "vpc", "tags": {"Name": "a"}, "tagsAll": {**TAGS, "Name": "a"}},
        [{"vpcId": "vpc", "tags": {"Name": "a"}, "tagsAll": {"Name": "a"}}],
    ),
    Case(
        "required-tags",
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        {"subnetId": "s", "routeTableId": "t"},
        [],
        [{"subnetId": UNKNOWN_STRING_VALUE, "routeTableId": "t"}],
    ),
    Case("required-tags", "aws:lambda/function:Function", FUNCTION, [changed(FUNCTION, tags=...)]),
    Case(
        "required-tags",
        "aws:autoscaling/group:Group",
        {"maxSize": 1, "tags": [{"key": k, "value": v, "propagateAtLaunch": True} for k, v in TAGS.items()]},
        [
            {"maxSize": 1},
            {"maxSize": 1, "tags": [{"key": "owner", "value": "platform-team", "propagateAtLaunch": True}]},
            {
                "maxSize": 1,
                "tags": [{"key": k, "value": v, "propagateAtLaunch": True} for k, v in TAGS.items()]
                + [{"key": "environment", "value": "production", "propagateAtLaunch": True}],
            },
        ],
    ),
    Case("required-tags", "cryb:network:Network", {}, []),
]

(
    test_compliant_input_passes,
    test_violating_input_is_reported_with_what_to_change,
    test_unknown_values_are_not_violations,
    test_unknowns_recorded_offline_are_not_violations,
) = case_tests(CASES)


def test_without_the_provider_sdk_the_rule_fails_instead_of_passing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pack's environment decides which types take tags; a missing or older pulumi-aws must stop the preview."""

    def no_provider_sdk(name: str) -> Any:
        raise ModuleNotFoundError(f"No module named {name!r}")

    tagging.is_taggable.cache_clear()
    monkeypatch.setattr(tagging.importlib, "import_module", no_provider_sdk)
    try:
        with pytest.raises(tagging.ProviderSdkError, match=r"cannot import pulumi_aws\.ec2 for aws:ec2/subnet:Subnet"):
            resource_violations(RULES["required-tags"], "aws:ec2/subnet:Subnet", {"vpcId": "vpc"})
        assert tagging.is_taggable("cryb:network:Network") is False  # not an AWS type: no SDK needed
    finally:
        monkeypatch.undo()
        tagging.is_taggable.cache_clear()
    with pytest.raises(tagging.ProviderSdkError, match=r"pulumi_aws\.ec2 has no resource class Subnetwork"):
        tagging.is_taggable("aws:ec2/subnetwork:Subnetwork")
    assert tagging.is_taggable("aws:ec2/subnet:Subnet") is True
