"""DR: the warm standby in the DR region (`cryb-db:backups.drRegion`): a cross-Region read replica per RDS shard,
its parameter group, logs, alarms and events, for `python -m scripts dr promote-region` to promote
(docs/disaster-recovery.md#the-warm-standby). The DR region's network is the `Network` component, wired by
`__main__.py` through the DR-region provider.

Owns: `component.py` (the `RegionStandby` component), `plan.py` (standby names and alarm set, pure),
`cache_standby.py` (`CacheStandby`: the cache's Global Datastore and its DR-region secondary).
May import: `components.security`, `components.metrics`, `components.postgres`, `components.monitoring`,
`components.cache`.
Imported by: `__main__`.
"""

from components.dr.cache_standby import CacheStandby, CacheStandbyArgs
from components.dr.component import RegionStandby, RegionStandbyArgs, StandbyShard

__all__ = ["CacheStandby", "CacheStandbyArgs", "RegionStandby", "RegionStandbyArgs", "StandbyShard"]
