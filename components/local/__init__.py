"""The platform on one Docker host: the `local` stack (`cryb-db:target: docker`, docs/local.md) runs the rendered
node files of the self-hosted PostgreSQL clusters, a Patroni stand-in per shard and the cache cluster as containers,
with moto for the AWS APIs.

Owns: `component.py` (`LocalPlatform`), `node_files.py` (the files each container boots from, rendered by the EC2
nodes' renderers), `image/` (the Dockerfile and the entrypoint that applies the files at start).
May import: `components.selfhosted` (the Patroni, etcd and pgBackRest renderers), `components.cache` (redis.conf,
the ACL template, the cluster plan and bootstrap), `components.postgres` (tuning, through the renderers).
Imported by: `__main__`.
"""

from components.local.component import CacheSpec, Limits, LocalPlatform, LocalPlatformArgs, PatroniClusterSpec

__all__ = ["CacheSpec", "Limits", "LocalPlatform", "LocalPlatformArgs", "PatroniClusterSpec"]
