"""`cryb-db:monitoring`: alert routing and alarm thresholds (components/monitoring/alerts.py,
components/monitoring/component.py, docs/monitoring.md)."""

from typing import Any

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from components.kubernetes.alert_rules import AlertThresholds
from components.monitoring.alarm_thresholds import AlarmSettings

from .base import Section
from .network import check_log_retention

# What an encrypted value (`secure: v1:...`) reads as when nothing can decrypt it (the offline preview).
SECRET_PLACEHOLDER = "[secret]"


class MonitoringConfig(Section):
    """Alerting: the PagerDuty integration of the critical topic, the Slack/Discord forwarder, delivery-status logs
    and the thresholds that do not follow from the instance class."""

    pagerduty_integration_url: SecretStr | None = Field(
        default=None,
        description="PagerDuty Amazon CloudWatch integration URL (https://events.pagerduty.com/integration/<key>/"
        "enqueue), subscribed to the critical topic. A secret: set it with `pulumi config set --path --secret "
        "'cryb-db:monitoring.pagerdutyIntegrationUrl' <url>`; a plaintext value in the stack file is refused. "
        "Required in prod; without it nothing pages.",
    )
    log_retention_days: int = Field(
        default=365,
        description="Retention of the SNS delivery-status and forwarder log groups (a CloudWatch Logs period).",
    )
    delivery_success_sample_rate: int = Field(
        default=100,
        ge=0,
        le=100,
        description="Percent of successful alert deliveries logged (failures are always logged; SNS.2). Alerts are "
        "few, so 100 keeps proof that every page went out.",
    )
    forwarder_reserved_concurrency: int | None = Field(
        default=2,
        ge=1,
        le=50,
        description="Concurrent executions reserved for (and capping) the Slack/Discord forwarder: an alarm storm "
        "queues instead of hitting webhook rate limits. null in accounts whose concurrency quota cannot spare any.",
    )
    replica_lag_seconds: int = Field(
        default=60,
        ge=5,
        le=3600,
        description="PostgreSQL replica lag (ReplicaLag) that raises the replica-lag alarm; with engine kubernetes the "
        "CNPGReplicationLag alert (docs/kubernetes.md#alerts).",
    )
    connections_warning_percent: int = Field(
        default=80,
        ge=50,
        le=99,
        description="Share of max_connections (from the instance class) that raises the connections warning (and the "
        "CNPGConnectionsHigh alert with engine kubernetes).",
    )
    connections_critical_percent: int = Field(
        default=90,
        ge=51,
        le=100,
        description="Share of max_connections that raises the critical connections alarm "
        "(CNPGConnectionsExhausted with engine kubernetes); above the warning share.",
    )
    storage_latency_ms: float | None = Field(
        default=None,
        gt=0,
        le=1000,
        description="p90 read/write latency alarm threshold in ms; null: by storage type (gp3 20 ms, io2 10 ms).",
    )
    cache_connections: int = Field(
        default=10000,
        ge=100,
        le=65000,
        description="Cache client connections per node (CurrConnections) that raise the connections alarm (and "
        "ValkeyConnectionsHigh with cache.engine kubernetes).",
    )
    cache_replication_lag_seconds: int = Field(
        default=60, ge=1, le=3600, description="Cache replica lag (ReplicationLag) that raises its alarm."
    )

    @field_validator("pagerduty_integration_url", mode="before")
    @classmethod
    def _encrypted_reads_as_placeholder(cls, value: Any) -> Any:
        """A nested `secure:` value reaches the program decrypted; offline it is still `{"secure": ...}`."""
        if isinstance(value, dict) and set(value) == {"secure"}:
            return SECRET_PLACEHOLDER
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention_is_a_cloudwatch_period(cls, value: int) -> int:
        return check_log_retention(value)

    @field_validator("connections_critical_percent")
    @classmethod
    def _critical_above_warning(cls, value: int, info: ValidationInfo) -> int:
        warning = info.data.get("connections_warning_percent")
        if warning is not None and value <= warning:
            raise ValueError(f"must be above connectionsWarningPercent ({warning})")
        return value

    def pagerduty_url_problem(self) -> str | None:
        """Why the PagerDuty URL is unusable, without ever showing it (validation errors echo their input, so the
        URL is checked here rather than in a validator)."""
        if self.pagerduty_integration_url is None:
            return None
        url = self.pagerduty_integration_url.get_secret_value()
        if url == SECRET_PLACEHOLDER or url.startswith("https://"):
            return None
        return "cryb-db:monitoring.pagerdutyIntegrationUrl: must be an https:// URL (value not shown: it is a secret)"

    def problems(self, environment: str) -> list[str]:
        """What the program refuses before registering anything: a non-https URL, or no pager in prod."""
        problems = [p for p in (self.pagerduty_url_problem(),) if p]
        if environment == "prod" and self.pagerduty_integration_url is None:
            problems.append(
                "cryb-db:monitoring.pagerdutyIntegrationUrl: required in prod (critical alarms must page someone); "
                "set it with `pulumi config set --path --secret 'cryb-db:monitoring.pagerdutyIntegrationUrl' <url>`"
            )
        return problems

    def alert_thresholds(self) -> AlertThresholds:
        """The same settings for the Prometheus alerts of the data stores on the cluster (engine kubernetes)."""
        alarms = self.alarm_settings()
        return AlertThresholds(
            replica_lag_seconds=alarms.replica_lag_seconds,
            connections_warning_percent=alarms.connections_warning_percent,
            connections_critical_percent=alarms.connections_critical_percent,
            volume_warning_percent=alarms.data_disk_warning_percent,
            volume_critical_percent=alarms.data_disk_critical_percent,
            cache_connections=alarms.cache_connections,
        )

    def alarm_settings(self) -> AlarmSettings:
        return AlarmSettings(
            replica_lag_seconds=self.replica_lag_seconds,
            connections_warning_percent=self.connections_warning_percent,
            connections_critical_percent=self.connections_critical_percent,
            storage_latency_ms=self.storage_latency_ms,
            cache_connections=self.cache_connections,
            cache_replication_lag_seconds=self.cache_replication_lag_seconds,
        )
