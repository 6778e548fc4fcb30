"""Monitoring: alert topics and the Slack/Discord forwarder, the alarms of every shard, cache group, self-hosted
cluster and rotation function, their thresholds, composite paging rules and the CloudWatch dashboards.

Owns: `component.py` (`Monitoring`), `alerts.py` (`AlertTopics`), the pure `alarm_thresholds.py` and
`dashboards.py`, and `alert_forwarder/` (the Lambda, shipped as it is).
May import: `components.security`, `components.network`, `components.metrics`, `components.postgres`,
`components.cache`, `components.selfhosted`, `components.signing`.
Imported by: `__main__`, `components.config` (thresholds).
"""

from components.monitoring.alerts import AlertTopics, AlertTopicsArgs
from components.monitoring.component import CacheWatchArgs, Monitoring, MonitoringArgs

__all__ = ["AlertTopics", "AlertTopicsArgs", "CacheWatchArgs", "Monitoring", "MonitoringArgs"]
