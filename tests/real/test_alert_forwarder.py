"""The alert forwarder's Lambda entry point against a real moto server (Secrets Manager): it reads the webhook
secret, delivers to both chats (a local recorder stands in for them) and never logs a webhook URL.
"""

import json
import logging

import boto3
import pytest

from components.monitoring.alert_forwarder import handler as forwarder
from components.monitoring.alert_forwarder.handler import load_webhooks
from tests.components.monitoring.forwarder_helpers import (
    ELASTICACHE_NATIVE,
    METRIC_ALARM,
    SECRET_TOKEN,
    SEVERITIES,
    WARNING_TOPIC,
    Recorder,
    no_sleep_post,
    record,
    webhook_server_fixture,  # noqa: F401 - fixture
)


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
