"""DR: the warm standby in the DR region (`cryb-db:backups.drRegion`): a cross-Region read replica per RDS shard,
its parameter group, logs, alarms and events, for `python -m scripts dr promote-region` to promote
(docs/disaster-recovery.md#the-warm-standby). The DR region's network is the `Network` component, wired by
`__main__.py` through the DR-region provider.

Owns: `component.py` (the `RegionStandby` component), `plan.py` (standby names and alarm set, pure).
May import: `components.security`, `components.metrics`, `components.postgres`, `components.monitoring`.
Imported by: `__main__`.
"""

from components.dr.component import RegionStandby, RegionStandbyArgs, StandbyShard

__all__ = ["RegionStandby", "RegionStandbyArgs", "StandbyShard"]
