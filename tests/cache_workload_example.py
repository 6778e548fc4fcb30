"""One Valkey StatefulSet workload, as the program would build it for the cache on the cluster: shared by the policy
rules' tests and the real exporter test (each may change the node's memory)."""

from components.kubernetes import cache_cluster


def cache_workload(namespace: str = "cryb-db-data", memory_mib: int = 8192) -> cache_cluster.CacheWorkload:
    return cache_cluster.CacheWorkload(
        namespace=namespace,
        image="valkey/valkey:8.1.4",
        cli_image="valkey/valkey:8.1.4",
        nodes=6,
        port=6379,
        cluster_port=16379,
        cpu="1",
        memory_mib=memory_mib,
        storage_gib=50,
        issuer_name="cryb-db",
        issuer_kind="ClusterIssuer",
    )
