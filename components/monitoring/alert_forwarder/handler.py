"""Forward alert-topic messages to Slack and Discord (docs/monitoring.md#chat-forwarder).

Runs as an AWS Lambda function subscribed to the critical and warning SNS topics. It turns CloudWatch alarm
(metric and composite), RDS event and ElastiCache event messages into a Slack message and a Discord embed: state,
resource, metric, threshold and a console link. The webhook URLs come from a Secrets Manager secret
(`{"slack": "...", "discord": "..."}`, ARN in WEBHOOK_SECRET_ARN); they are credentials, so they are never logged,
not even in errors.

Only the standard library and boto3 (both in the python3.12 Lambda runtime) are used, so the package is this one
file. The retry loop is a dozen lines of stdlib instead of tenacity, which the runtime does not ship and which would
have to be vendored into the archive.
"""

import json
import logging
import os
import random
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

LOG = logging.getLogger("alert_forwarder")
LOG.setLevel(logging.INFO)
# botocore logs response bodies at DEBUG, and GetSecretValue's body is the webhook URLs.
for _noisy in ("botocore", "boto3", "urllib3"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)

TARGETS = ("slack", "discord")
USER_AGENT = "cryb-db-alert-forwarder/1"
ATTEMPTS = 4
BASE_DELAY_SECONDS = 0.5
MAX_DELAY_SECONDS = 8.0
TIMEOUT_SECONDS = 5.0
SECRET_CACHE_SECONDS = 300.0  # a changed webhook is picked up within 5 minutes by warm containers
STATE_COLORS = {"ALARM": 0xD62728, "OK": 0x2CA02C, "INSUFFICIENT_DATA": 0x7F7F7F, "EVENT": 0x1F77B4}
STATE_EMOJI = {"ALARM": ":rotating_light:", "OK": ":white_check_mark:", "INSUFFICIENT_DATA": ":grey_question:"}
COMPARISONS = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}
_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:(?P<region>[a-z0-9-]+):")


@dataclass(frozen=True)
class Alert:
    """What a chat message shows, whatever the source."""

    source: str
    """`cloudwatch-alarm`, `composite-alarm`, `rds-event`, `elasticache-event` or `message`."""
    state: str
    """ALARM / OK / INSUFFICIENT_DATA for alarms, EVENT for events."""
    title: str
    resource: str
    severity: str
    reason: str
    metric: str = ""
    threshold: str = ""
    link: str = ""
    time: str = ""
    details: dict[str, str] = field(default_factory=dict)


# -- parsing -------------------------------------------------------------------------------------------------------


def _region_of(arn: str, fallback: str) -> str:
    match = _ARN_REGION.match(arn or "")
    return match["region"] if match else fallback


def _number(value: Any) -> str:
    if isinstance(value, int | float):
        return f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 1000 else f"{value:g}"
    return str(value)


def _alarm_link(region: str, name: str) -> str:
    console = f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
    return f"{console}#alarmsV2:alarm/{quote(name, safe='')}"


def _threshold(trigger: Mapping[str, Any]) -> str:
    statistic = trigger.get("ExtendedStatistic") or str(trigger.get("Statistic") or "").capitalize()
    operator = COMPARISONS.get(str(trigger.get("ComparisonOperator")), str(trigger.get("ComparisonOperator", "")))
    text = f"{statistic} {operator} {_number(trigger.get('Threshold'))}".strip()
    periods, datapoints = (
        trigger.get("EvaluationPeriods"),
        trigger.get("DatapointsToAlarm") or trigger.get("EvaluationPeriods"),
    )
    if periods:
        text += f" for {datapoints}/{periods} x {trigger.get('Period', 60)} s"
    return text


def _dimensions(trigger: Mapping[str, Any]) -> str:
    dimensions = trigger.get("Dimensions") or []
    if not dimensions and trigger.get("Metrics"):  # metric math: the first metric with dimensions names it
        for query in trigger["Metrics"]:
            dimensions = ((query.get("MetricStat") or {}).get("Metric") or {}).get("Dimensions") or []
            if dimensions:
                break
    pairs = [f"{d.get('value', d.get('Value'))}" for d in dimensions]
    return ", ".join(p for p in pairs if p and p != "None")


def parse_alarm(message: Mapping[str, Any], severity: str, region: str) -> Alert:
    """A CloudWatch alarm state change (metric or composite alarm) as SNS delivers it."""
    name = str(message.get("AlarmName", "unnamed alarm"))
    region = _region_of(str(message.get("AlarmArn", "")), region)
    state = str(message.get("NewStateValue", "ALARM"))
    if "AlarmRule" in message:  # composite alarm
        children = [
            str(child.get("Arn", "")).rsplit(":alarm:", 1)[-1]
            for child in message.get("TriggeringChildren") or []
            if isinstance(child, Mapping)
        ]
        return Alert(
            source="composite-alarm",
            state=state,
            title=name,
            resource=name.removesuffix("-unhealthy"),
            severity=severity,
            reason=str(message.get("NewStateReason", "")),
            metric="composite",
            threshold=str(message.get("AlarmRule", ""))[:300],
            link=_alarm_link(region, name),
            time=str(message.get("StateChangeTime", "")),
            details={"children in alarm": ", ".join(children)} if children else {},
        )
    trigger = message.get("Trigger") or {}
    metric = str(trigger.get("MetricName") or "metric math")
    namespace = str(trigger.get("Namespace") or "")
    return Alert(
        source="cloudwatch-alarm",
        state=state,
        title=name,
        resource=_dimensions(trigger) or name,
        severity=severity,
        reason=str(message.get("NewStateReason", "")),
        metric=f"{namespace} {metric}".strip(),
        threshold=_threshold(trigger),
        link=_alarm_link(region, name),
        time=str(message.get("StateChangeTime", "")),
        details={"description": str(message.get("AlarmDescription") or "")[:500]}
        if message.get("AlarmDescription")
        else {},
    )


def parse_rds_event(message: Mapping[str, Any], severity: str, region: str) -> Alert:
    """An RDS event subscription notification (`Event Source`, `Source ID`, `Event Message`, ...)."""
    source_id = str(message.get("Source ID", "unknown"))
    region = _region_of(str(message.get("Source ARN", "")), region)
    link = str(message.get("Identifier Link", ""))
    if not link.startswith("https://"):
        kind = "dbcluster" if message.get("Event Source") == "db-cluster" else "database"
        link = f"https://{region}.console.aws.amazon.com/rds/home?region={region}#{kind}:id={quote(source_id)}"
    event_id = str(message.get("Event ID", "")).rsplit("#", 1)[-1]
    return Alert(
        source="rds-event",
        state="EVENT",
        title=f"RDS {message.get('Event Source', 'event')}: {source_id}",
        resource=source_id,
        severity=severity,
        reason=str(message.get("Event Message", "")),
        metric=event_id,
        link=link,
        time=str(message.get("Event Time", "")),
    )


def _first(mapping: Mapping[str, Any], *keys: str) -> str:
    for key in keys:
        value = mapping.get(key)
        if value not in (None, "", []):
            return ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return ""


def parse_elasticache_event(message: Mapping[str, Any], severity: str, region: str) -> Alert:
    """An ElastiCache event: the EventBridge envelope (`source: aws.elasticache`, how this stack routes them), or
    ElastiCache's own SNS formats (`{"ElastiCache:FailoverComplete": "<id>"}` or Date/Message/SourceIdentifier)."""
    if message.get("source") == "aws.elasticache":
        detail = message.get("detail") or {}
        region = str(message.get("region") or region)
        resource = _first(detail, "source-identifier", "SourceIdentifier", "sourceIdentifier") or _first(
            message, "resources"
        )
        event = str(message.get("detail-type", "ElastiCache event"))
        reason = _first(detail, "message", "Message") or event
        when = str(message.get("time", ""))
    else:
        named = [(k, v) for k, v in message.items() if str(k).startswith("ElastiCache:")]
        if named:
            event, resource = str(named[0][0]), str(named[0][1])
            reason = event.removeprefix("ElastiCache:")
        else:
            resource = _first(message, "SourceIdentifier")
            event = f"ElastiCache {_first(message, 'SourceType') or 'event'}"
            reason = _first(message, "Message")
        when = _first(message, "Date")
    group = resource.split(",")[0].strip()
    return Alert(
        source="elasticache-event",
        state="EVENT",
        title=f"{event}: {resource}" if resource else event,
        resource=resource or "unknown",
        severity=severity,
        reason=reason,
        metric=event,
        link=f"https://{region}.console.aws.amazon.com/elasticache/home?region={region}#/redis/{quote(group)}",
        time=when,
    )


def parse_record(record: Mapping[str, Any], severity_by_topic: Mapping[str, str], region: str) -> Alert:
    """One SNS record of a Lambda event, whichever service published it."""
    sns = record.get("Sns") or {}
    topic = str(sns.get("TopicArn", ""))
    severity = severity_by_topic.get(topic) or ("critical" if "critical" in topic else "warning")
    region = _region_of(topic, region)
    raw = str(sns.get("Message", ""))
    try:
        message = json.loads(raw)
    except ValueError:
        message = None
    if isinstance(message, dict):
        if "AlarmName" in message and "NewStateValue" in message:
            return parse_alarm(message, severity, region)
        if "Event Source" in message and "Source ID" in message:
            return parse_rds_event(message, severity, region)
        if message.get("source") == "aws.elasticache" or any(str(k).startswith("ElastiCache:") for k in message):
            return parse_elasticache_event(message, severity, region)
        if "SourceIdentifier" in message and message.get("SourceType", "").startswith(("cache-", "replication")):
            return parse_elasticache_event(message, severity, region)
    subject = str(sns.get("Subject") or "Notification")
    return Alert(
        source="message",
        state="EVENT",
        title=subject,
        resource=topic.rsplit(":", 1)[-1],
        severity=severity,
        reason=raw[:1500],
        time=str(sns.get("Timestamp", "")),
    )


# -- formatting ----------------------------------------------------------------------------------------------------


def _slack_escape(text: str) -> str:
    """Slack mrkdwn control characters; also defuses <!channel>-style mentions in alarm text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _color(alert: Alert) -> int:
    if alert.state == "EVENT":
        return STATE_COLORS["ALARM"] if alert.severity == "critical" else STATE_COLORS["EVENT"]
    return STATE_COLORS.get(alert.state, STATE_COLORS["EVENT"])


def _fields(alert: Alert) -> list[tuple[str, str]]:
    fields = [("State", alert.state), ("Severity", alert.severity), ("Resource", alert.resource)]
    if alert.metric:
        fields.append(("Metric" if alert.source == "cloudwatch-alarm" else "Event", alert.metric))
    if alert.threshold:
        fields.append(("Threshold" if alert.source == "cloudwatch-alarm" else "Rule", alert.threshold))
    fields += list(alert.details.items())
    return [(name, value) for name, value in fields if value]


def slack_message(alert: Alert) -> dict[str, Any]:
    """Incoming-webhook payload: a text fallback (notifications) and blocks (the channel)."""
    emoji = STATE_EMOJI.get(alert.state, ":bell:")
    headline = f"{emoji} [{alert.severity.upper()}] {alert.state}: {alert.title}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150], "emoji": True}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{name}*\n{_slack_escape(value)[:1900]}"} for name, value in _fields(alert)
            ][:10],
        },
    ]
    if alert.reason:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _slack_escape(alert.reason)[:2900]}})
    context = [f"<{alert.link}|Open in the AWS console>"] if alert.link else []
    if alert.time:
        context.append(_slack_escape(alert.time))
    if context:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " | ".join(context)}]})
    return {"text": _slack_escape(headline), "blocks": blocks}


def discord_message(alert: Alert) -> dict[str, Any]:
    """Webhook payload with one embed; mentions are disabled so alarm text cannot ping @everyone."""
    embed: dict[str, Any] = {
        "title": f"[{alert.severity.upper()}] {alert.state}: {alert.title}"[:256],
        "description": alert.reason[:4000],
        "color": _color(alert),
        "fields": [{"name": name, "value": value[:1024], "inline": len(value) < 40} for name, value in _fields(alert)][
            :25
        ],
        "footer": {"text": "cryb-db alerts"},
    }
    if alert.link:
        embed["url"] = alert.link
    if re.match(r"^\d{4}-\d{2}-\d{2}T", alert.time):
        # CloudWatch writes `+0000`; Discord wants an RFC 3339 offset (`+00:00`).
        embed["timestamp"] = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", alert.time)
    return {"username": "cryb-db alerts", "embeds": [embed], "allowed_mentions": {"parse": []}}


FORMATTERS: dict[str, Callable[[Alert], dict[str, Any]]] = {"slack": slack_message, "discord": discord_message}


# -- delivery ------------------------------------------------------------------------------------------------------


class DeliveryError(Exception):
    """A webhook kept failing; the message names the target, never its URL."""


def _retry_after(error: urllib.error.HTTPError) -> float | None:
    value = error.headers.get("Retry-After") if error.headers else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def post_json(
    target: str,
    url: str,
    payload: Mapping[str, Any],
    *,
    opener: Callable[..., Any] = urllib.request.urlopen,
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = ATTEMPTS,
) -> int:
    """POST `payload`; retry 429 (honouring Retry-After), 5xx and network errors with jittered exponential backoff.
    Other 4xx are not retried (a bad payload or a revoked webhook will not heal). Returns the final HTTP status."""
    body = json.dumps(payload).encode()
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": USER_AGENT}
        )
        delay = min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        try:
            with opener(request, timeout=TIMEOUT_SECONDS) as response:
                status = int(response.status)
            LOG.info("delivered to %s: HTTP %s (attempt %d)", target, status, attempt)
            return status
        except urllib.error.HTTPError as error:
            # str(error) and error.url carry the webhook URL: log the status code only.
            status = error.code
            retryable = status == 429 or status >= 500
            if not retryable:
                raise DeliveryError(f"{target}: HTTP {status}, not retried") from None
            delay = min(MAX_DELAY_SECONDS, _retry_after(error) or delay)
            LOG.warning("%s answered HTTP %s (attempt %d of %d)", target, status, attempt, attempts)
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            LOG.warning("%s unreachable: %s (attempt %d of %d)", target, type(error).__name__, attempt, attempts)
        if attempt < attempts:
            sleep(delay)
    raise DeliveryError(f"{target}: gave up after {attempts} attempts")


_secret_cache: dict[str, tuple[float, dict[str, str]]] = {}


def load_webhooks(secret_arn: str, client: Any = None, now: Callable[[], float] = time.monotonic) -> dict[str, str]:
    """{"slack": url, "discord": url} from Secrets Manager (cached per warm container); {} if not set yet."""
    cached = _secret_cache.get(secret_arn)
    if cached and now() - cached[0] < SECRET_CACHE_SECONDS:
        return cached[1]
    if client is None:
        import boto3  # in the Lambda runtime; imported late so formatting needs no AWS SDK

        client = boto3.client("secretsmanager")
    try:
        text = client.get_secret_value(SecretId=secret_arn)["SecretString"]
    except client.exceptions.ResourceNotFoundException:
        LOG.warning("the webhook secret has no value yet: set it (docs/monitoring.md#chat-forwarder)")
        return {}
    try:
        document = json.loads(text)
    except ValueError:
        # Do not echo the text: it is the credential.
        raise ValueError("the webhook secret is not a JSON object of target -> URL") from None
    if not isinstance(document, dict):
        raise ValueError("the webhook secret is not a JSON object of target -> URL")
    webhooks = {t: str(document[t]) for t in TARGETS if isinstance(document.get(t), str) and document[t]}
    for target, url in webhooks.items():
        if not url.startswith("https://"):
            raise ValueError(f"the {target} webhook in the secret is not an https:// URL")
    _secret_cache[secret_arn] = (now(), webhooks)
    return webhooks


def forward(
    event: Mapping[str, Any],
    webhooks: Mapping[str, str],
    severity_by_topic: Mapping[str, str],
    region: str,
    post: Callable[[str, str, Mapping[str, Any]], int] | None = None,
) -> dict[str, int]:
    """Send every record to every configured target. Raises DeliveryError after trying all of them if any failed,
    so Lambda retries the event and finally parks it in the dead-letter queue."""
    send = post or post_json
    sent = dict.fromkeys(webhooks, 0)
    failures = []
    for record in event.get("Records") or []:
        alert = parse_record(record, severity_by_topic, region)
        LOG.info("forwarding %s %s %s (%s)", alert.source, alert.state, alert.title, alert.severity)
        for target, url in webhooks.items():
            try:
                send(target, url, FORMATTERS[target](alert))
                sent[target] += 1
            except DeliveryError as error:
                failures.append(str(error))
    if failures:
        raise DeliveryError("; ".join(failures))
    return sent


def handler(event: Mapping[str, Any], context: Any) -> dict[str, int]:
    """Lambda entry point (`handler.handler`)."""
    webhooks = load_webhooks(os.environ["WEBHOOK_SECRET_ARN"])
    if not webhooks:
        LOG.warning("no chat webhook configured: %d record(s) not forwarded", len(event.get("Records") or []))
        return {}
    severity_by_topic = json.loads(os.environ.get("SEVERITY_BY_TOPIC", "{}"))
    return forward(event, webhooks, severity_by_topic, os.environ.get("AWS_REGION", "us-east-1"))
