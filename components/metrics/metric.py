"""A CloudWatch metric description (CDK style) whose dimension values may be Outputs: what components offer as
`metric_...()` for the monitoring component to alarm on and plot."""

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class Metric:
    """A CloudWatch metric description (CDK style) for the monitoring component to alarm on and plot."""

    namespace: str
    metric_name: str
    dimensions: Mapping[str, pulumi.Input[str]]
    """Values AWS or Pulumi generate (an auto-scaling group's or a function's name) are Outputs."""
    statistic: str
    period_seconds: int = 60
