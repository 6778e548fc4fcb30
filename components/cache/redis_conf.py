"""`redis.conf` and the ACL file of a self-hosted Redis/Valkey Cluster node, as pure functions.

The same text is written by cloud-init on EC2 and started on loopback by tests/real/test_redis_cluster.py,
so ports and paths are parameters and nothing here knows about AWS. The file never contains a secret: ACL
users are in a separate ACL file holding SHA-256 hashes, and the replication password comes from an
`include`d file that cloud-init writes (mode 0600) from Secrets Manager.
"""

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

# Failover target of the self-hosted cluster (issue 4): a killed master's replica serves its slots within this.
FAILOVER_TARGET_SECONDS = 10.0
# A node is suspected after this many ms without a reply. Lower means faster failover but more false ones
# (an EBS stall or a long fork can look like a dead node). 4 s puts the estimated worst case at 7 s and the
# measured recovery (scripts/bench/cache_failover.py, TLS on) at 6-8 s, under the target on a loaded 2-core machine;
# 5 s measured up to 9.1 s, too close.
CLUSTER_NODE_TIMEOUT_MS = 4000
# Replica election delay: 500 ms fixed + up to 500 ms random + 1 s per rank (rank 0 with one replica).
ELECTION_DELAY_MS = 1000

# Memory of the EC2 instance types the ec2 engine offers (GiB x 1024). Graviton first: cheaper per GiB.
INSTANCE_MEMORY_MIB: dict[str, int] = {
    "r7g.large": 16 * 1024,
    "r7g.xlarge": 32 * 1024,
    "r7g.2xlarge": 64 * 1024,
    "r6g.large": 16 * 1024,
    "r6g.xlarge": 32 * 1024,
    "m7g.large": 8 * 1024,
    "m7g.xlarge": 16 * 1024,
    "t4g.medium": 4 * 1024,
    "t4g.small": 2 * 1024,
}
# Same share ElastiCache reserves by default (reserved-memory-percent 25): room for the copy-on-write pages
# of a fork (AOF rewrite, full resync of a replica), replication and client buffers, and the OS.
RESERVED_MEMORY_FRACTION = 0.25

MaxmemoryPolicy = Literal[
    "volatile-lru",
    "allkeys-lru",
    "volatile-lfu",
    "allkeys-lfu",
    "volatile-random",
    "allkeys-random",
    "volatile-ttl",
    "noeviction",
]
MAXMEMORY_POLICIES: tuple[str, ...] = get_args(MaxmemoryPolicy)

Persistence = Literal["aof", "rdb", "none"]

# ACL rules per user, without passwords. `app` and `reader` are also the ElastiCache RBAC access strings,
# so both engines grant the same rights. `-@dangerous` removes KEYS, FLUSHALL, CONFIG, DEBUG, CLIENT KILL,
# CLUSTER RESET/FAILOVER and friends; cluster clients still get CLUSTER SLOTS/SHARDS/NODES for routing, and INFO
# (in @dangerous) comes back because client libraries and health checks call it (it reveals no data or secret).
ACCESS_STRINGS: dict[str, str] = {
    "app": "on ~* &* +@all -@dangerous +info",
    "reader": "on ~* &* -@all +@read +@connection -@dangerous +info +cluster|slots +cluster|shards +cluster|nodes "
    "+readonly",
}
# Self-hosted only: `admin` bootstraps and operates the cluster, `replicator` is what replicas log in as.
INTERNAL_ACCESS_STRINGS: dict[str, str] = {
    "admin": "on ~* &* +@all",
    "replicator": "on +psync +replconf +ping",
}
# ElastiCache requires a user named `default` in every user group; ours cannot log in or run anything.
DISABLED_DEFAULT_ACCESS_STRING = "off -@all"

_PLACEHOLDER = "@@SHA256:{user}@@"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a node: its certificate and key, and the CA that signed every node's certificate."""

    cert: str
    key: str
    ca: str


@dataclass(frozen=True)
class RedisConfInputs:
    """Everything `render_redis_conf` needs. Ports and paths are parameters so tests can substitute them."""

    port: int
    cluster_port: int
    maxmemory_mb: int
    maxmemory_policy: str
    data_dir: str
    aclfile: str
    secrets_include: str
    tls: TlsFiles | None
    bind: str = "0.0.0.0"
    logfile: str = ""
    persistence: Persistence = "aof"
    node_timeout_ms: int = CLUSTER_NODE_TIMEOUT_MS
    replicas_per_shard: int = 1


def maxmemory_mb(instance_type: str) -> int:
    """maxmemory for an instance type: its memory less the reserved share."""
    if instance_type not in INSTANCE_MEMORY_MIB:
        raise ValueError(f"instance type {instance_type!r}: must be one of {', '.join(INSTANCE_MEMORY_MIB)}")
    return maxmemory_mb_of(INSTANCE_MEMORY_MIB[instance_type])


def maxmemory_mb_of(memory_mib: int) -> int:
    """maxmemory for a node with `memory_mib` (a container's memory limit): its memory less the reserved share."""
    return math.floor(memory_mib * (1 - RESERVED_MEMORY_FRACTION))


def data_volume_gib(instance_type: str) -> int:
    """Root volume size: the AOF (RDB preamble + tail) and its rewrite can each reach the dataset size, plus
    the OS; 3x memory leaves room for both files during a rewrite. At least 20 GiB."""
    memory_gib = INSTANCE_MEMORY_MIB[instance_type] / 1024
    return max(20, math.ceil(3 * memory_gib))


def worst_case_failover_ms(node_timeout_ms: int) -> int:
    """Upper estimate from a master's death to its replica serving: the next ping is sent within half a
    timeout, the node is flagged after a full timeout without reply, then the replica waits its election delay."""
    return int(node_timeout_ms * 1.5) + ELECTION_DELAY_MS


def _persistence_lines(persistence: Persistence) -> list[str]:
    if persistence == "aof":
        # Sessions and feeds survive a node restart (<= 1 s lost), and a master that systemd restarts faster
        # than the failover timeout comes back with its data instead of empty, which would make its replica
        # resync to empty and lose the shard. The RDB preamble keeps rewrites and restarts fast.
        return [
            "appendonly yes",
            "appendfsync everysec",
            "aof-use-rdb-preamble yes",
            'save ""',
        ]
    if persistence == "rdb":
        # Cheaper on disk I/O but loses up to the snapshot interval on restart.
        return ["appendonly no", "save 3600 1 300 100 60 10000"]
    # Pure cache: nothing on disk. Only safe if a restarted master cannot come back before failover.
    return ["appendonly no", 'save ""']


def render_redis_conf(inputs: RedisConfInputs) -> str:
    """The node's redis.conf (works with Redis >= 7.0 and Valkey >= 7.2)."""
    if inputs.maxmemory_policy not in MAXMEMORY_POLICIES:
        allowed = ", ".join(MAXMEMORY_POLICIES)
        raise ValueError(f"maxmemory_policy {inputs.maxmemory_policy!r}: must be one of {allowed}")
    if inputs.port == inputs.cluster_port:
        raise ValueError(f"cluster_port {inputs.cluster_port} must differ from port {inputs.port}")
    budget = worst_case_failover_ms(inputs.node_timeout_ms)
    if budget >= FAILOVER_TARGET_SECONDS * 1000:
        raise ValueError(
            f"node_timeout_ms {inputs.node_timeout_ms}: worst-case failover {budget} ms is not under the "
            f"{FAILOVER_TARGET_SECONDS:.0f} s target"
        )
    lines = [
        "# Rendered by components/cache/redis_conf.py; do not edit on the node (cloud-init rewrites it).",
        f"bind {inputs.bind}",
        "protected-mode yes",
        "daemonize no",
        "supervised auto",
        f'dir "{inputs.data_dir}"',
        f'logfile "{inputs.logfile}"',
        "loglevel notice",
    ]
    if inputs.tls is None:
        lines.append(f"port {inputs.port}")
    else:
        # TLS only: no plaintext port, replication and the cluster bus are encrypted too. Clients prove who
        # they are with ACL passwords, so client certificates are not required.
        lines += [
            "port 0",
            f"tls-port {inputs.port}",
            f'tls-cert-file "{inputs.tls.cert}"',
            f'tls-key-file "{inputs.tls.key}"',
            f'tls-ca-cert-file "{inputs.tls.ca}"',
            "tls-auth-clients no",
            "tls-replication yes",
            "tls-cluster yes",
            'tls-protocols "TLSv1.2 TLSv1.3"',
            "tls-prefer-server-ciphers yes",
        ]
    lines += [
        "cluster-enabled yes",
        f"cluster-port {inputs.cluster_port}",
        'cluster-config-file "nodes.conf"',
        f"cluster-node-timeout {inputs.node_timeout_ms}",
        # A shard without a master should not stop the others: a partial cache beats no cache.
        "cluster-require-full-coverage no",
        "cluster-allow-reads-when-down no",
        "cluster-replica-validity-factor 10",
        "cluster-migration-barrier 1",
        # Users live in the ACL file (hashed passwords); `default` is disabled there.
        f'aclfile "{inputs.aclfile}"',
        "masteruser replicator",
        f"maxmemory {inputs.maxmemory_mb}mb",
        f"maxmemory-policy {inputs.maxmemory_policy}",
        # Evictions, expiries and DEL of big keys free memory in a background thread, not the event loop.
        "lazyfree-lazy-eviction yes",
        "lazyfree-lazy-expire yes",
        "lazyfree-lazy-user-del yes",
        "replica-lazy-flush yes",
        # A replica that loses its link for a few seconds resumes from the backlog instead of a full resync.
        "repl-backlog-size 64mb",
        "repl-diskless-sync yes",
        # Start a full sync as soon as the shard's replicas are all waiting instead of after the 5 s default delay:
        # until its first sync a new replica cannot take over.
        f"repl-diskless-sync-max-replicas {inputs.replicas_per_shard}",
        "tcp-keepalive 60",
        "slowlog-log-slower-than 10000",
        "slowlog-max-len 256",
        "latency-monitor-threshold 100",
        *_persistence_lines(inputs.persistence),
        # masterauth (the replicator's password) is written by cloud-init from Secrets Manager.
        f'include "{inputs.secrets_include}"',
    ]
    return "\n".join(lines) + "\n"


def acl_users() -> dict[str, str]:
    """Every ACL user of a self-hosted node and its rules (without passwords)."""
    return {**ACCESS_STRINGS, **INTERNAL_ACCESS_STRINGS}


def render_acl_file(password_sha256: Mapping[str, str]) -> str:
    """The ACL file: `default` disabled with no password, every other user with its SHA-256 password hash."""
    users = acl_users()
    missing = sorted(set(users) - set(password_sha256))
    if missing:
        raise ValueError(f"no password hash for user(s) {', '.join(missing)}")
    lines = ["user default off resetpass resetkeys resetchannels -@all"]
    for user, rules in users.items():
        digest = password_sha256[user]
        if not (_SHA256.match(digest) or digest == _PLACEHOLDER.format(user=user)):
            raise ValueError(f"password hash of {user!r} must be 64 lowercase hex characters (SHA-256)")
        state, _, rest = rules.partition(" ")
        lines.append(f"user {user} {state} resetpass #{digest} {rest}".rstrip())
    return "\n".join(lines) + "\n"


def acl_template() -> str:
    """The ACL file with `@@SHA256:<user>@@` where each hash goes; cloud-init fills it in on the node."""
    return render_acl_file({user: _PLACEHOLDER.format(user=user) for user in acl_users()})


def fill_acl_template(template: str, passwords: Mapping[str, str]) -> str:
    """Replace each placeholder by the SHA-256 of the user's password (what cloud-init does on the node)."""
    text = template
    for user in acl_users():
        digest = hashlib.sha256(passwords[user].encode()).hexdigest()
        text = text.replace(_PLACEHOLDER.format(user=user), digest)
    if "@@SHA256:" in text:
        raise ValueError("ACL template still has placeholders after filling it in")
    return text


def render_secrets_include(replicator_password: str) -> str:
    """The `include`d file with masterauth; written 0600 by cloud-init, never rendered at deploy time."""
    if not re.fullmatch(r"[A-Za-z0-9]{16,128}", replicator_password):
        raise ValueError("replicator password must be 16-128 letters and digits (safe inside redis.conf)")
    return f'masterauth "{replicator_password}"\n'
