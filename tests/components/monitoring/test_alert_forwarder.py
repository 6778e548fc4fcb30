"""The Slack/Discord forwarder Lambda: formatting of real-looking SNS messages, retries against a local HTTP server
and a fake opener, and the webhook URL never reaching the logs. The Lambda entry point with Secrets Manager (moto)
is in tests/real/test_alert_forwarder.py; the messages and the local server in forwarder_helpers.py."""

import io
import json
import logging
import urllib.error
from email.message import Message
from typing import Any

import pytest

from components.monitoring.alert_forwarder.handler import (
    DeliveryError,
    discord_message,
    forward,
    parse_record,
    post_json,
    slack_message,
)
from tests.components.monitoring.forwarder_helpers import (
    COMPOSITE_ALARM,
    ELASTICACHE_EVENTBRIDGE,
    ELASTICACHE_NATIVE,
    LATENCY_OK,
    METRIC_ALARM,
    RDS_EVENT,
    SECRET_TOKEN,
    SEVERITIES,
    WARNING_TOPIC,
    Recorder,
    no_sleep_post,
    record,
    webhook_server_fixture,  # noqa: F401 - fixture
)


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
