"""Cache: ElastiCache Valkey in cluster mode, or self-hosted Valkey/Redis nodes on EC2 (`engine: ec2`), their
redis.conf and ACLs, the cluster plan (slots, masters, replicas), node cloud-init, and the rotation of the cache
users' passwords with its Lambda function.

Owns: `component.py` (`Cache`, `CacheNodeGroup`), `rotation.py` (`CacheUserRotation`, ElastiCache users),
`node_rotation.py` (`SelfHostedCacheUserRotation`, the `ec2` engine's ACL users), the pure renderers `redis_conf.py`,
`cluster_plan.py`, `cloud_init.py`, `rotation_policies.py`, and the code shipped as it is: `rotation_function/` and
`node_rotation_function/` (the Lambdas), `metrics_agent/` and `credentials_agent/` (node agents).
May import: `components.security`, `components.metrics`, `components.rotation`, `components.signing`.
Imported by: `__main__`, `components.monitoring`, `components.dr` (the cache standby), `components.config` (pure
modules).
"""

from components.cache.component import Cache, CacheArgs, CacheNodeGroup
from components.cache.node_rotation import SelfHostedCacheUserRotation, SelfHostedCacheUserRotationArgs
from components.cache.rotation import CacheUserRotation, CacheUserRotationArgs

__all__ = [
    "Cache",
    "CacheArgs",
    "CacheNodeGroup",
    "CacheUserRotation",
    "CacheUserRotationArgs",
    "SelfHostedCacheUserRotation",
    "SelfHostedCacheUserRotationArgs",
]
