"""Thresholds (scripts/health/thresholds.py): strict, ordered limits and the camelCase thresholds file."""

import pytest
from pydantic import ValidationError

from scripts.health.thresholds import Above, Below, Status, Thresholds


def test_limits_are_strict_and_ordered() -> None:
    above = Above(warning=10, critical=20)
    assert [above.status(v) for v in (10, 10.5, 20, 20.5)] == [
        Status.OK,
        Status.WARNING,
        Status.WARNING,
        Status.CRITICAL,
    ]
    below = Below(warning=0.99, critical=0.95)
    assert [below.status(v) for v in (0.99, 0.98, 0.95, 0.94)] == [
        Status.OK,
        Status.WARNING,
        Status.WARNING,
        Status.CRITICAL,
    ]
    with pytest.raises(ValidationError, match="must be >= warning"):
        Above(warning=20, critical=10)
    with pytest.raises(ValidationError, match="must be <= warning"):
        Below(warning=0.9, critical=0.95)


def test_thresholds_file_uses_camel_case_and_rejects_unknown_keys() -> None:
    th = Thresholds.model_validate({"replicaLagSeconds": {"warning": 1, "critical": 2}, "minRowsForSkew": 5})
    assert (th.replica_lag_seconds.critical, th.min_rows_for_skew, th.xid_age.critical) == (2, 5, 1_000_000_000)
    with pytest.raises(ValidationError, match="replicaLagSecond"):
        Thresholds.model_validate({"replicaLagSecond": {"warning": 1, "critical": 2}})
