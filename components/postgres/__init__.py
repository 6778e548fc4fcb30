"""PostgreSQL on RDS: the hash-sharded shards (Multi-AZ instance or cluster topology, or self-hosted per shard with
`engine: ec2`), their RDS Proxies, parameter tuning, backup/maintenance windows and the shard map.

Owns: `component.py` (the `Postgres` component and `PostgresShard`), `tuning.py` (instance classes and
parameters, pure), `schedule.py` (windows, pure), `shard_map.py` (bucket -> shard, pure).
May import: `components.security`, `components.metrics`, `cryb_db_client` (the key -> bucket rule).
Imported by: `__main__`, `components.monitoring`,
`components.selfhosted` (tuning), `components.config` (pure modules).
"""

from components.postgres.component import PROXY_PORT, BackupReplicationArgs, Postgres, PostgresArgs, PostgresShard

__all__ = ["PROXY_PORT", "BackupReplicationArgs", "Postgres", "PostgresArgs", "PostgresShard"]
