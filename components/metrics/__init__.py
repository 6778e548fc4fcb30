"""Metrics: the one description of a CloudWatch metric (`Metric`) that components offer through their own
`metric_...()` methods (as AWS CDK's L2 constructs do) and that monitoring turns into alarms and dashboards.

Owns: `metric.py`.
May import: nothing else of `components`.
Imported by: every component that offers metrics.
"""

from components.metrics.metric import Metric

__all__ = ["Metric"]
