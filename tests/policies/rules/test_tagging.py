"""`policies/rules/tagging.py`, the required tags on every taggable resource: each case's compliant input passes, each
violating one is reported with what to change, and unknown values are no violation (helpers.case_tests)."""

from pulumi_policy.proxy import UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE

from tests.policies.rules.helpers import FUNCTION, TAGS, Case, case_tests, changed

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
