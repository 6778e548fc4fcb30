"""What the alert forwarder's tests share: real-looking SNS messages (CloudWatch alarms, RDS and ElastiCache
events) and the SNS record that carries them, and a local HTTP server standing in for the Slack and Discord
webhooks (`Recorder`). Used by tests/components/monitoring/test_alert_forwarder.py and
tests/real/test_alert_forwarder.py.

`webhook_server_fixture` is the `webhook_server` fixture: a test module imports it to use the fixture.
"""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from components.monitoring.alert_forwarder.handler import post_json

CRITICAL_TOPIC = "arn:aws:sns:us-east-1:123456789012:cryb-prod-alerts-critical-1a2b3c4"
WARNING_TOPIC = "arn:aws:sns:us-east-1:123456789012:cryb-prod-alerts-warning-5d6e7f8"
SEVERITIES = {CRITICAL_TOPIC: "critical", WARNING_TOPIC: "warning"}
SECRET_TOKEN = "T000/B000/XXXXsecretXXXX"

METRIC_ALARM = {
    "AlarmName": "cryb-prod-pg-00-cpu",
    "AlarmDescription": "Sustained CPU above 90 % drives query latency up. Runbook: docs/monitoring.md#cpu",
    "AWSAccountId": "123456789012",
    "AlarmConfigurationUpdatedTimestamp": "2025-05-01T09:00:00.000+0000",
    "NewStateValue": "ALARM",
    "NewStateReason": "Threshold Crossed: 5 out of the last 5 datapoints [97.1 (01/05/25 10:04:00)] were greater "
    "than the threshold (90.0) (minimum 5 datapoints for OK -> ALARM transition).",
    "StateChangeTime": "2025-05-01T10:05:12.345+0000",
    "Region": "US East (N. Virginia)",
    "AlarmArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:cryb-prod-pg-00-cpu",
    "OldStateValue": "OK",
    "OKActions": [WARNING_TOPIC],
    "AlarmActions": [WARNING_TOPIC],
    "InsufficientDataActions": [],
    "Trigger": {
        "MetricName": "CPUUtilization",
        "Namespace": "AWS/RDS",
        "StatisticType": "Statistic",
        "Statistic": "AVERAGE",
        "Unit": None,
        "Dimensions": [{"value": "cryb-prod-pg-00", "name": "DBInstanceIdentifier"}],
        "Period": 60,
        "EvaluationPeriods": 5,
        "DatapointsToAlarm": 5,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 90.0,
        "TreatMissingData": "missing",
        "EvaluateLowSampleCountPercentile": "",
    },
}
LATENCY_OK = {
    **METRIC_ALARM,
    "AlarmName": "cryb-prod-pg-01-replica-1-read-latency",
    "NewStateValue": "OK",
    "OldStateValue": "ALARM",
    "Trigger": {
        **METRIC_ALARM["Trigger"],
        "MetricName": "ReadLatency",
        "StatisticType": "ExtendedStatistic",
        "Statistic": None,
        "ExtendedStatistic": "p90",
        "Threshold": 0.02,
        "Dimensions": [{"value": "cryb-prod-pg-01-replica-1", "name": "DBInstanceIdentifier"}],
    },
}
COMPOSITE_ALARM = {
    "AlarmName": "cryb-prod-pg-02-unhealthy",
    "AlarmDescription": "cryb-prod-pg-02 is unhealthy",
    "AWSAccountId": "123456789012",
    "NewStateValue": "ALARM",
    "NewStateReason": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:cryb-prod-pg-02-free-storage transitioned "
    "to ALARM at Thursday 01 May, 2025 10:05:12 UTC",
    "StateChangeTime": "2025-05-01T10:05:13.001+0000",
    "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:cryb-prod-pg-02-unhealthy",
    "OldStateValue": "OK",
    "AlarmRule": 'ALARM("cryb-prod-pg-02-cpu") OR ALARM("cryb-prod-pg-02-free-storage")',
    "TriggeringChildren": [
        {
            "Arn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:cryb-prod-pg-02-free-storage",
            "State": {"Value": "ALARM", "Timestamp": "2025-05-01T10:05:12.000+0000"},
        }
    ],
}
RDS_EVENT = {
    "Event Source": "db-instance",
    "Event Time": "2025-05-01 10:07:31.112",
    "Identifier Link": "https://console.aws.amazon.com/rds/home?region=us-east-1#dbinstance:id=cryb-prod-pg-01",
    "Source ID": "cryb-prod-pg-01",
    "Source ARN": "arn:aws:rds:us-east-1:123456789012:db:cryb-prod-pg-01",
    "Event ID": "http://docs.amazonwebservices.com/AmazonRDS/latest/UserGuide/USER_Events.html#RDS-EVENT-0049",
    "Event Message": "Multi-AZ instance failover completed",
}
ELASTICACHE_EVENTBRIDGE = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "Snapshot Creation Failed",
    "source": "aws.elasticache",
    "account": "123456789012",
    "time": "2025-05-01T03:12:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:elasticache:us-east-1:123456789012:cluster:cryb-prod-cache-0002-001"],
    "detail": {
        "source-identifier": "cryb-prod-cache-0002-001",
        "source-type": "cache-cluster",
        "message": "Snapshot failed for cluster cryb-prod-cache-0002-001: insufficient memory for fork <!channel>",
    },
}
ELASTICACHE_NATIVE = {"ElastiCache:FailoverComplete": "cryb-prod-cache-0001-002"}


def record(message: Any, topic: str = CRITICAL_TOPIC, subject: str | None = None) -> dict[str, Any]:
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": f"{topic}:0a1b2c3d-4e5f-6789-abcd-ef0123456789",
        "Sns": {
            "Type": "Notification",
            "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
            "TopicArn": topic,
            "Subject": subject,
            "Message": message if isinstance(message, str) else json.dumps(message),
            "Timestamp": "2025-05-01T10:05:12.400Z",
        },
    }


class Recorder(BaseHTTPRequestHandler):
    """Records every POST; answers 500 to the first request of each path listed in `fail_first`."""

    received: ClassVar[list[tuple[str, dict[str, Any]]]] = []
    fail_first: ClassVar[set[str]] = set()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        path = self.path.split("?")[0]
        self.received.append((path, body))
        status = 500 if path in self.fail_first else 204
        self.fail_first.discard(path)
        self.send_response(status)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return  # keep the test output quiet


@pytest.fixture(name="webhook_server")
def webhook_server_fixture() -> Iterator[str]:
    Recorder.received, Recorder.fail_first = [], {"/discord"}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def no_sleep_post(target: str, url: str, payload: Any) -> int:
    return post_json(target, url, payload, sleep=lambda _: None)
