"""The Slack/Discord forwarder Lambda: formatting of real-looking SNS messages, retries against a local HTTP server
and a fake opener, and the webhook URL never reaching the logs."""

import io
import json
import logging
import threading
import urllib.error
from collections.abc import Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import boto3
import pytest

from components.monitoring.alert_forwarder import handler as forwarder
from components.monitoring.alert_forwarder.handler import (
    DeliveryError,
    discord_message,
    forward,
    load_webhooks,
    parse_record,
    post_json,
    slack_message,
)

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


def slack_fields(payload: dict[str, Any]) -> dict[str, str]:
    section = next(b for b in payload["blocks"] if b["type"] == "section" and "fields" in b)
    return dict(f["text"].lstrip("*").split("*\n", 1) for f in section["fields"])


def discord_fields(payload: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in payload["embeds"][0]["fields"]}


# -- formatting ----------------------------------------------------------------------------------------------------


def test_metric_alarm_shows_state_resource_metric_threshold_and_link() -> None:
    alert = parse_record(record(METRIC_ALARM, WARNING_TOPIC), SEVERITIES, "us-east-1")
    slack, discord = slack_message(alert), discord_message(alert)
    expected = {
        "State": "ALARM",
        "Severity": "warning",
        "Resource": "cryb-prod-pg-00",
        "Metric": "AWS/RDS CPUUtilization",
        "Threshold": "Average &gt; 90 for 5/5 x 60 s",
    }
    assert {k: slack_fields(slack)[k] for k in expected} == expected
    assert discord_fields(discord)["Threshold"] == "Average > 90 for 5/5 x 60 s"
    link = (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/cryb-prod-pg-00-cpu"
    )
    assert discord["embeds"][0]["url"] == link  # region from the alarm ARN, not the topic
    assert f"<{link}|Open in the AWS console>" in json.dumps(slack)
    assert slack["text"].startswith(":rotating_light: [WARNING] ALARM: cryb-prod-pg-00-cpu")
    assert discord["embeds"][0]["color"] == 0xD62728
    assert discord["embeds"][0]["timestamp"] == "2025-05-01T10:05:12.345+00:00"
    assert discord["allowed_mentions"] == {"parse": []}
    assert "Threshold Crossed" in discord["embeds"][0]["description"]


def test_ok_transition_and_percentile_threshold() -> None:
    alert = parse_record(record(LATENCY_OK, WARNING_TOPIC), SEVERITIES, "us-east-1")
    assert (alert.state, alert.resource, alert.threshold) == (
        "OK",
        "cryb-prod-pg-01-replica-1",
        "p90 > 0.02 for 5/5 x 60 s",
    )
    assert discord_message(alert)["embeds"][0]["color"] == 0x2CA02C
    assert slack_message(alert)["text"].startswith(":white_check_mark:")


def test_composite_alarm_names_the_children_in_alarm() -> None:
    alert = parse_record(record(COMPOSITE_ALARM), SEVERITIES, "us-east-1")
    fields = discord_fields(discord_message(alert))
    assert (alert.source, alert.severity, fields["Resource"]) == ("composite-alarm", "critical", "cryb-prod-pg-02")
    assert fields["children in alarm"] == "cryb-prod-pg-02-free-storage"
    assert fields["Rule"].startswith('ALARM("cryb-prod-pg-02-cpu")')


def test_rds_event() -> None:
    alert = parse_record(record(RDS_EVENT, subject="RDS Notification Message"), SEVERITIES, "us-east-1")
    fields = slack_fields(slack_message(alert))
    assert (fields["State"], fields["Resource"], fields["Event"]) == ("EVENT", "cryb-prod-pg-01", "RDS-EVENT-0049")
    assert alert.reason == "Multi-AZ instance failover completed"
    assert alert.link == RDS_EVENT["Identifier Link"]
    assert discord_message(alert)["embeds"][0]["color"] == 0xD62728  # a critical-topic event is red


def test_elasticache_events_from_eventbridge_and_native_sns() -> None:
    bridged = parse_record(record(ELASTICACHE_EVENTBRIDGE, WARNING_TOPIC), SEVERITIES, "us-east-1")
    assert (bridged.source, bridged.resource, bridged.metric) == (
        "elasticache-event",
        "cryb-prod-cache-0002-001",
        "Snapshot Creation Failed",
    )
    assert bridged.link.endswith("#/redis/cryb-prod-cache-0002-001")
    slack = json.dumps(slack_message(bridged))
    assert "<!channel>" not in slack and "&lt;!channel&gt;" in slack  # no mass mention from event text
    native = parse_record(record(ELASTICACHE_NATIVE), SEVERITIES, "us-east-1")
    assert (native.resource, native.reason) == ("cryb-prod-cache-0001-002", "FailoverComplete")


def test_unknown_messages_are_forwarded_as_text() -> None:
    alert = parse_record(record("Backup job 1234 failed", subject="AWS Backup"), SEVERITIES, "us-east-1")
    assert (alert.source, alert.title, alert.reason, alert.severity) == (
        "message",
        "AWS Backup",
        "Backup job 1234 failed",
        "critical",
    )
    assert slack_message(alert)["blocks"][0]["text"]["text"].startswith(":bell: [CRITICAL] EVENT: AWS Backup")


# -- delivery with retries -----------------------------------------------------------------------------------------


class FakeResponse(io.BytesIO):
    status = 200


def http_error(url: str, code: int, retry_after: str | None = None) -> urllib.error.HTTPError:
    headers = Message()
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return urllib.error.HTTPError(url, code, "error", headers, io.BytesIO(b""))


class Opener:
    def __init__(self, *outcomes: Any) -> None:
        self.outcomes, self.calls = list(outcomes), []

    def __call__(self, request: Any, timeout: float) -> Any:
        self.calls.append((request.full_url, json.loads(request.data)))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return FakeResponse(b"ok")


URL = f"https://hooks.slack.com/services/{SECRET_TOKEN}"


def test_retries_5xx_and_network_errors_with_backoff(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sleeps: list[float] = []
    opener = Opener(http_error(URL, 503), urllib.error.URLError("timed out"), None)
    assert post_json("slack", URL, {"text": "x"}, opener=opener, sleep=sleeps.append) == 200
    assert len(opener.calls) == 3
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0  # exponential, jittered
    assert SECRET_TOKEN not in caplog.text and "slack answered HTTP 503" in caplog.text


def test_429_honours_retry_after_and_4xx_is_not_retried() -> None:
    sleeps: list[float] = []
    opener = Opener(http_error(URL, 429, "3"), None)
    post_json("discord", URL, {}, opener=opener, sleep=sleeps.append)
    assert sleeps == [3.0]
    rejected = Opener(http_error(URL, 404))
    with pytest.raises(DeliveryError, match="discord: HTTP 404, not retried") as raised:
        post_json("discord", URL, {}, opener=rejected, sleep=sleeps.append)
    assert len(rejected.calls) == 1 and SECRET_TOKEN not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__  # no URL in a chained traceback


def test_gives_up_after_the_last_attempt() -> None:
    opener = Opener(*[http_error(URL, 500)] * 4)
    with pytest.raises(DeliveryError, match="gave up after 4 attempts"):
        post_json("slack", URL, {}, opener=opener, sleep=lambda _: None)
    assert len(opener.calls) == 4


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


@pytest.fixture
def webhook_server() -> Iterator[str]:
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


def test_forward_delivers_both_formats_and_retries_a_500(webhook_server: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    webhooks = {"slack": f"{webhook_server}/slack?token={SECRET_TOKEN}", "discord": f"{webhook_server}/discord"}
    event = {"Records": [record(METRIC_ALARM, WARNING_TOPIC), record(RDS_EVENT)]}
    assert forward(event, webhooks, SEVERITIES, "us-east-1", post=no_sleep_post) == {"slack": 2, "discord": 2}
    paths = [path for path, _ in Recorder.received]
    assert paths.count("/slack") == 2 and paths.count("/discord") == 3  # the first Discord POST got a 500
    slack = [body for path, body in Recorder.received if path == "/slack"]
    discord = [body for path, body in Recorder.received if path == "/discord"]
    assert slack[0]["blocks"][0]["type"] == "header" and "cryb-prod-pg-00-cpu" in slack[0]["text"]
    assert discord[0] == discord[1]  # the retry resent the same embed
    assert discord[2]["embeds"][0]["title"] == "[CRITICAL] EVENT: RDS db-instance: cryb-prod-pg-01"
    assert SECRET_TOKEN not in caplog.text and webhook_server not in caplog.text
    assert "discord answered HTTP 500 (attempt 1 of 4)" in caplog.text


def test_forward_tries_every_target_before_failing(webhook_server: str) -> None:
    Recorder.fail_first = set()
    webhooks = {"slack": "http://127.0.0.1:1/unreachable", "discord": f"{webhook_server}/discord"}
    with pytest.raises(DeliveryError, match="slack: gave up"):
        forward({"Records": [record(METRIC_ALARM)]}, webhooks, SEVERITIES, "us-east-1", post=no_sleep_post)
    assert [path for path, _ in Recorder.received] == ["/discord"]


# -- the Lambda entry point with Secrets Manager (moto) ------------------------------------------------------------


@pytest.mark.servers
def test_handler_reads_the_secret_and_never_logs_it(
    moto_server: str, webhook_server: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = boto3.client("secretsmanager")
    empty = secrets.create_secret(Name="cryb-db/alerts/chat-webhooks-empty")["ARN"]
    monkeypatch.setenv("WEBHOOK_SECRET_ARN", empty)
    monkeypatch.setenv("SEVERITY_BY_TOPIC", json.dumps(SEVERITIES))
    forwarder._secret_cache.clear()
    assert forwarder.handler({"Records": [record(METRIC_ALARM)]}, None) == {}
    assert "no chat webhook configured: 1 record(s) not forwarded" in caplog.text

    hooks = {
        "slack": f"https://hooks.slack.com/services/{SECRET_TOKEN}",
        "discord": "https://discord.com/api/webhooks/1/x",
    }
    arn = secrets.create_secret(Name="cryb-db/alerts/chat-webhooks", SecretString=json.dumps(hooks))["ARN"]
    monkeypatch.setenv("WEBHOOK_SECRET_ARN", arn)
    # Deliver to the local recorder instead of the real hosts; everything else is the production path.
    local = {hooks["slack"]: f"{webhook_server}/slack", hooks["discord"]: f"{webhook_server}/discord"}
    monkeypatch.setattr(forwarder, "post_json", lambda t, url, p: no_sleep_post(t, local[url], p))
    assert forwarder.handler({"Records": [record(ELASTICACHE_NATIVE, WARNING_TOPIC)]}, None) == {
        "slack": 1,
        "discord": 1,
    }
    assert {path for path, _ in Recorder.received} == {"/slack", "/discord"}
    assert SECRET_TOKEN not in caplog.text and "hooks.slack.com" not in caplog.text

    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({"slack": "http://plain.example/hook"}))
    forwarder._secret_cache.clear()
    with pytest.raises(ValueError, match="slack webhook in the secret is not an https:// URL") as raised:
        load_webhooks(arn)
    assert "plain.example" not in str(raised.value)
