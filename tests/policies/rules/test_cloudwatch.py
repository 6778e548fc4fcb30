"""`policies/rules/cloudwatch.py`, CloudWatch alarms and log groups: each case's compliant input passes, each violating
one is reported with what to change, and unknown values are no violation (helpers.case_tests)."""

from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE

from tests.policies.rules.helpers import ALARM, KEY_ARN, TOPIC_ARN, Case, case_tests, changed

CASES = [
    Case(
        "cloudwatch-alarm-has-actions",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        ALARM,
        [changed(ALARM, alarmActions=...), changed(ALARM, alarmActions=[]), changed(ALARM, actionsEnabled=False)],
        [
            changed(ALARM, alarmActions=UNKNOWN_ARRAY_VALUE, actionsEnabled=UNKNOWN_BOOLEAN_VALUE),
            changed(ALARM, alarmActions=[UNKNOWN_STRING_VALUE]),
        ],
    ),
    Case(
        # A DR standby's alarm waits for `dr promote-region` to enable its actions; the standby tag alone is not enough.
        "cloudwatch-alarm-has-actions",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        changed(ALARM, actionsEnabled=False, tags={"dr": "standby", "actions-enabled-by": "dr-promote-region"}),
        [
            changed(ALARM, actionsEnabled=False, tags={"dr": "standby"}),
            changed(ALARM, alarmActions=[], tags={"dr": "standby", "actions-enabled-by": "dr-promote-region"}),
        ],
    ),
    Case(
        "cloudwatch-alarm-has-actions",
        "aws:cloudwatch/compositeAlarm:CompositeAlarm",
        {"alarmName": "db-down", "alarmRule": "ALARM(a)", "alarmActions": [TOPIC_ARN]},
        [{"alarmName": "db-down", "alarmRule": "ALARM(a)"}],
    ),
    Case(
        "cloudwatch-log-group-encrypted",
        "aws:cloudwatch/logGroup:LogGroup",
        {"name": "/cryb-db/postgres", "kmsKeyId": KEY_ARN, "retentionInDays": 365.0},
        [{"name": "/cryb-db/postgres", "retentionInDays": 365.0}],
        [{"name": "/cryb-db/postgres", "kmsKeyId": UNKNOWN_STRING_VALUE}],
    ),
    Case(
        "cloudwatch-log-group-retention",
        "aws:cloudwatch/logGroup:LogGroup",
        {"name": "/cryb-db/postgres", "kmsKeyId": KEY_ARN, "retentionInDays": 731.0},
        [{"name": "/cryb-db/postgres", "retentionInDays": 30.0}],
        [{"name": "/cryb-db/postgres", "retentionInDays": UNKNOWN_NUMBER_VALUE}],
    ),
    Case(
        "cloudwatch-log-group-retention",
        "aws:cloudwatch/logGroup:LogGroup",
        {"name": "/cryb-db/postgres"},
        [{"name": "/cryb-db/postgres", "retentionInDays": 14.0}],
        config={"minRetentionDays": 30},
    ),
]

(
    test_compliant_input_passes,
    test_violating_input_is_reported_with_what_to_change,
    test_unknown_values_are_not_violations,
    test_unknowns_recorded_offline_are_not_violations,
) = case_tests(CASES)
