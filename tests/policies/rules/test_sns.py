"""`policies/rules/sns.py`, SNS topics: each case's compliant input passes, each violating one is reported with what to
change, and unknown values are no violation (helpers.case_tests)."""

from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from tests.policies.rules.helpers import (
    PUBLISH_FROM_CLOUDWATCH,
    TOPIC,
    TOPIC_ARN,
    Case,
    case_tests,
    changed,
    policy_json,
)

ANYONE_PUBLISHES = {
    "Sid": "Anyone",
    "Effect": "Allow",
    "Principal": {"AWS": "*"},
    "Action": "sns:Publish",
    "Resource": TOPIC_ARN,
}


CASES = [
    Case(
        "sns-topic-encrypted",
        "aws:sns/topic:Topic",
        TOPIC,
        [changed(TOPIC, kmsMasterKeyId=...)],
        [changed(TOPIC, kmsMasterKeyId=UNKNOWN_STRING_VALUE)],
    ),
    Case(
        "sns-topic-policy-not-public",
        "aws:sns/topic:Topic",
        TOPIC,
        [changed(TOPIC, policy=policy_json(ANYONE_PUBLISHES))],
        [changed(TOPIC, policy=UNKNOWN_STRING_VALUE)],
    ),
    Case(
        "sns-topic-policy-not-public",
        "aws:sns/topicPolicy:TopicPolicy",
        {"arn": TOPIC_ARN, "policy": policy_json(PUBLISH_FROM_CLOUDWATCH)},
        [{"arn": TOPIC_ARN, "policy": policy_json(changed(PUBLISH_FROM_CLOUDWATCH, Principal="*", Condition=...))}],
    ),
    Case(
        "sns-delivery-status-logging",
        "aws:sns/topic:Topic",
        TOPIC,
        [changed(TOPIC, httpFailureFeedbackRoleArn=...)],
        [changed(TOPIC, httpFailureFeedbackRoleArn=UNKNOWN_STRING_VALUE)],
    ),
]

(
    test_compliant_input_passes,
    test_violating_input_is_reported_with_what_to_change,
    test_unknown_values_are_not_violations,
    test_unknowns_recorded_offline_are_not_violations,
) = case_tests(CASES)
