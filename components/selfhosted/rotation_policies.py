"""IAM document of a Patroni cluster's credential rotation function (components/selfhosted/rotation.py): pure,
unit-tested."""

from components.rotation.policies import acknowledged_rotation_policy as rotation_policy

__all__ = ["rotation_policy"]
