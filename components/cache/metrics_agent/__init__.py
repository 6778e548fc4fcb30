"""The node-side metrics agent of self-hosted cache nodes: `agent.py` is copied to every node as is (standard library
and boto3 only). It publishes the ElastiCache metric names the alarms of the managed path use, so both engines share
one alarm set (components/monitoring/alarm_thresholds.py)."""

from pathlib import Path

AGENT_FILE = Path(__file__).resolve().parent / "agent.py"
NAMESPACE = "cryb-db/cache"
NODE_DIMENSIONS = ("CacheCluster", "Node")
"""The cache component's name and the node's plan name (`s0-master`): stable across instance replacements."""
METRICS = (
    "EngineCPUUtilization",
    "DatabaseMemoryUsagePercentage",
    "Evictions",
    "CurrConnections",
    "AuthenticationFailures",
    "ReplicationLag",
    "MasterLinkHealthStatus",
    "ClusterStateOk",
    "ClusterFailedNodes",
)
