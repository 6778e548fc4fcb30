"""patroni.yml and the etcd member configuration of a self-hosted PostgreSQL node, as pure functions.

The component (components/selfhosted/component.py) renders them from `node_inputs(...)` with the nodes' stable
addresses; the failover drill (tests/servers/patroni.py) renders them from the very same `node_inputs(...)` and
substitutes only addresses, ports, paths, memory sizes, timing, TLS and the watchdog (loopback has no
certificates or /dev/watchdog). Passwords are never rendered: Patroni reads them from its environment
(PATRONI_SUPERUSER_PASSWORD, PATRONI_REPLICATION_PASSWORD, PATRONI_REWIND_PASSWORD, PATRONI_RESTAPI_PASSWORD),
which the node fills from Secrets Manager at boot (components/selfhosted/cloud_init.py).
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import yaml

from components.postgres import tuning as postgres_tuning
from components.selfhosted.nvme_instances import NvmeInstanceType, nvme_instance_type
from components.selfhosted.pgbackrest_config import (
    archive_command,
    replica_restore_command,
    restore_command,
    standby_restore_command,
    standby_seed_command,
)

POSTGRES_PORT = 5432
RESTAPI_PORT = 8008
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
NAMESPACE = "/cryb-db/"
# ECDHE with AES-GCM only (TLS 1.2; etcd 3.4 negotiates no TLS 1.3 suites from this list).
ETCD_CIPHER_SUITES = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
)
MAXIMUM_LAG_ON_FAILOVER_BYTES = 1024 * 1024  # a replica more than 1 MiB behind never becomes leader
ARCHIVE_TIMEOUT_SECONDS = 60  # RPO of archive-only PITR is about this plus the upload (docs/selfhosted.md)

SUPERUSER, REPLICATION_USER, REWIND_USER, RESTAPI_USER = "postgres", "replicator", "rewind", "patroni"

# Patroni or this renderer owns these; a tuned parameter set must not carry them.
PATRONI_OWNED_PARAMETERS = frozenset(
    {
        "listen_addresses",
        "port",
        "data_directory",
        "config_file",
        "hba_file",
        "ident_file",
        "cluster_name",
        "synchronous_standby_names",
        "primary_conninfo",
        "primary_slot_name",
        "restore_command",
        "archive_command",
        "archive_mode",
        "shared_preload_libraries",
    }
)
_SCOPE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")

WatchdogMode = Literal["off", "automatic", "required"]


class PatroniConfigError(ValueError):
    """An impossible or unsafe combination; `problems` holds one line per broken rule."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class DcsTiming:
    """Patroni's leader-lock timing in seconds (bootstrap.dcs); the defaults are the stack's (config/selfhosted.py)."""

    ttl: int = 20
    loop_wait: int = 5
    retry_timeout: int = 7


def timing_problems(timing: DcsTiming) -> list[str]:
    """`loop_wait + 2 * retry_timeout <= ttl`: a leader that spends a loop plus two DCS retries must still hold
    its lock, otherwise a replica takes over while the old leader keeps accepting writes."""
    values = {"ttl": timing.ttl, "loop_wait": timing.loop_wait, "retry_timeout": timing.retry_timeout}
    problems = [f"{name} = {value}: must be at least 1" for name, value in values.items() if value < 1]
    needed = timing.loop_wait + 2 * timing.retry_timeout
    if needed > timing.ttl:
        problems.append(
            f"ttl = {timing.ttl}: loop_wait + 2 * retry_timeout = {timing.loop_wait} + 2 * {timing.retry_timeout} = "
            f"{needed} must be <= ttl (otherwise the leader lock can expire while the leader is still retrying "
            "the DCS, and two nodes accept writes)"
        )
    return problems


@dataclass(frozen=True)
class NodeEndpoint:
    """Where one node's PostgreSQL, Patroni REST API and etcd member listen."""

    name: str
    host: str
    pg_port: int = POSTGRES_PORT
    restapi_port: int = RESTAPI_PORT
    etcd_client_port: int = ETCD_CLIENT_PORT
    etcd_peer_port: int = ETCD_PEER_PORT

    def etcd_client_url(self, scheme: str = "http") -> str:
        return f"{scheme}://{self.host}:{self.etcd_client_port}"

    def etcd_peer_url(self, scheme: str = "http") -> str:
        return f"{scheme}://{self.host}:{self.etcd_peer_port}"


@dataclass(frozen=True)
class TlsFiles:
    """Certificate and key a node serves PostgreSQL and the REST API with (made at boot)."""

    cert: str
    key: str


@dataclass(frozen=True)
class EtcdTls:
    """etcd's TLS files on a node (made at boot and renewed by the node, components/selfhosted/cloud_init.py): the
    cluster CA, the member's certificate (server and peer, and etcdctl's client certificate as root) and Patroni's
    client certificate. Members and clients must present a certificate of the cluster CA."""

    ca: str
    cert: str
    key: str
    client_cert: str
    client_key: str


@dataclass(frozen=True)
class StandbySource:
    """A standby cluster's feed (docs/disaster-recovery.md#the-patroni-standby-cluster): the primary cluster's
    pgBackRest repository, replicated into this region's backup bucket under `repository_prefix`. The standby
    leader is seeded from its newest backup and replays its archived WAL; nothing connects to the primary region."""

    repository_prefix: str
    """The primary's prefix (`pgbackrest-analytics`) in the bucket this cluster's pgbackrest.conf names."""


STANDBY_SEED_METHOD = "pgbackrest_standby"
"""The replica-creation method (a `postgresql.<method>` block) that seeds a standby leader from the primary's repo."""


@dataclass(frozen=True)
class PatroniInputs:
    """Everything patroni.yml of one node is rendered from. No secret values."""

    scope: str
    nodes: tuple[NodeEndpoint, ...]
    node_index: int
    synchronous_mode: bool
    synchronous_mode_strict: bool
    timing: DcsTiming
    parameters: Mapping[str, str]
    """Cluster-wide PostgreSQL parameters (tuned); written to bootstrap.dcs so every node runs the same."""
    preload_libraries: tuple[str, ...]
    data_dir: str
    bin_dir: str
    socket_dir: str
    pgpass: str
    log_dir: str
    pgbackrest_config_path: str | None
    """pgBackRest's --config-path; None: no WAL archiving (never in the component)."""
    client_cidrs: tuple[str, ...]
    tls: TlsFiles | None
    watchdog: WatchdogMode
    post_bootstrap: str | None = None
    on_role_change: str | None = None
    """The leader callback: Patroni runs it on start and on every role change (it acts when the role is leader)."""
    namespace: str = NAMESPACE
    synchronous_node_count: int = 1
    patroni_log_dir: str | None = None
    """None: Patroni logs to stderr."""
    extra_local_parameters: Mapping[str, str] = field(default_factory=dict)
    etcd_tls: EtcdTls | None = None
    """None: plain HTTP to etcd (loopback drills only; the component always renders TLS)."""
    standby: StandbySource | None = None
    """A standby cluster of another cluster (`bootstrap.dcs.standby_cluster`); None: a primary cluster."""

    @property
    def node(self) -> NodeEndpoint:
        return self.nodes[self.node_index]

    @property
    def stanza(self) -> str:
        return self.scope


def validate(inputs: PatroniInputs) -> list[str]:
    """Every broken rule, one line each; empty when the combination can run."""
    problems = timing_problems(inputs.timing)
    count = len(inputs.nodes)
    if not _SCOPE.match(inputs.scope):
        problems.append(f"scope = {inputs.scope!r}: must be 1-31 lowercase letters, digits or '-', from a letter")
    if not 0 <= inputs.node_index < count:
        problems.append(f"node_index = {inputs.node_index}: must name one of the {count} nodes")
    if len({n.name for n in inputs.nodes}) != count:
        problems.append("node names must be unique")
    sockets = [
        (n.host, port)
        for n in inputs.nodes
        for port in (n.pg_port, n.restapi_port, n.etcd_client_port, n.etcd_peer_port)
    ]
    if len(set(sockets)) != len(sockets):
        problems.append("two listeners share a host:port; every node needs its own ports for PostgreSQL, REST and etcd")
    if count < 3 or count % 2 == 0:
        problems.append(
            f"{count} nodes: etcd runs one member per node and needs an odd number of at least 3 to keep a quorum "
            "when a node fails"
        )
    if inputs.synchronous_mode_strict and not inputs.synchronous_mode:
        problems.append("synchronous_mode_strict needs synchronous_mode")
    if inputs.synchronous_mode and count < 2:
        problems.append(f"synchronous_mode with {count} node: there is no standby to confirm commits")
    if inputs.synchronous_mode_strict and count == 2:
        problems.append(
            "synchronous_mode_strict with 2 nodes: losing either node stops all writes (the survivor has no "
            "synchronous standby), so the pair is less available than one node"
        )
    if inputs.synchronous_mode and not 1 <= inputs.synchronous_node_count <= count - 1:
        problems.append(f"synchronous_node_count = {inputs.synchronous_node_count}: must be 1..{count - 1}")
    if inputs.standby is not None and inputs.pgbackrest_config_path is None:
        problems.append("standby: a standby cluster replays the primary's repository and needs pgbackrest_config_path")
    owned = sorted(PATRONI_OWNED_PARAMETERS & set(inputs.parameters))
    if owned:
        problems.append(f"parameters {', '.join(owned)}: set by Patroni or this renderer, not by the tuning")
    return problems


def _hba(inputs: PatroniInputs) -> list[str]:
    """SCRAM everywhere; replication only from the cluster's own nodes; clients only over TLS when TLS is on."""
    host = "hostssl" if inputs.tls else "host"
    # The postgres OS user (Patroni's callbacks, pgBackRest) is the superuser over the socket; nobody else is.
    lines = [f"local all {SUPERUSER} peer", "local all all scram-sha-256"]
    for peer in dict.fromkeys(n.host for n in inputs.nodes):
        lines.append(f"{host} replication {REPLICATION_USER} {peer}/32 scram-sha-256")
        lines.append(f"{host} all {SUPERUSER},{REWIND_USER} {peer}/32 scram-sha-256")
    # Internal roles never log in from anywhere else, even with the right password.
    lines.append(f"host all {SUPERUSER},{REPLICATION_USER},{REWIND_USER} 0.0.0.0/0 reject")
    lines += [f"{host} all all {cidr} scram-sha-256" for cidr in inputs.client_cidrs]
    return lines


def _dcs_parameters(inputs: PatroniInputs) -> dict[str, str]:
    params = dict(inputs.parameters)
    params.update(
        {
            "wal_level": "logical",  # bucket moves use row-filtered publications (docs/sharding.md)
            "hot_standby": "on",
            "hot_standby_feedback": "on",
            "max_wal_senders": "10",
            "max_replication_slots": "10",
            "wal_log_hints": "on",  # pg_rewind lets an old leader rejoin instead of being recloned
            "wal_keep_size": "1024",
            "synchronous_commit": "on",
            # A standby retries its WAL source every second, not every 5 s: after a failover the survivor
            # streams from the new leader sooner, and in strict mode writes wait for exactly that.
            "wal_retrieve_retry_interval": "1000",
        }
    )
    if inputs.pgbackrest_config_path is not None:
        params.update(
            {
                "archive_mode": "on",
                "archive_command": archive_command(inputs.pgbackrest_config_path, inputs.stanza),
                "archive_timeout": str(ARCHIVE_TIMEOUT_SECONDS),
            }
        )
    return params


def _local_parameters(inputs: PatroniInputs) -> dict[str, str]:
    params = {
        "unix_socket_directories": inputs.socket_dir,
        "logging_collector": "on",
        "log_directory": inputs.log_dir,
        "log_filename": "postgresql-%a.log",
        "log_truncate_on_rotation": "on",
        "log_rotation_age": "1d",
        "log_line_prefix": "%m [%p] %q%u@%d ",
    }
    if inputs.preload_libraries:
        params["shared_preload_libraries"] = ",".join(inputs.preload_libraries)
    if inputs.tls:
        params.update(
            {
                "ssl": "on",
                "ssl_cert_file": inputs.tls.cert,
                "ssl_key_file": inputs.tls.key,
                "ssl_min_protocol_version": "TLSv1.2",
            }
        )
    params.update(inputs.extra_local_parameters)
    return params


def render_patroni_config(inputs: PatroniInputs) -> dict[str, object]:
    """patroni.yml as a mapping; PatroniConfigError naming every broken rule."""
    problems = validate(inputs)
    if problems:
        raise PatroniConfigError(problems)
    node, timing = inputs.node, inputs.timing
    hba = _hba(inputs)
    restapi: dict[str, object] = {
        "listen": f"{node.host}:{node.restapi_port}",
        "connect_address": f"{node.host}:{node.restapi_port}",
        # Unsafe endpoints (switchover, restart, config) need these credentials; the health checks do not.
        "authentication": {"username": RESTAPI_USER},
    }
    if inputs.tls:
        restapi.update({"certfile": inputs.tls.cert, "keyfile": inputs.tls.key})
    dcs: dict[str, object] = {
        "ttl": timing.ttl,
        "loop_wait": timing.loop_wait,
        "retry_timeout": timing.retry_timeout,
        "maximum_lag_on_failover": MAXIMUM_LAG_ON_FAILOVER_BYTES,
        "synchronous_mode": inputs.synchronous_mode,
        "synchronous_mode_strict": inputs.synchronous_mode_strict,
        "synchronous_node_count": inputs.synchronous_node_count,
        "postgresql": {"use_pg_rewind": True, "use_slots": True, "parameters": _dcs_parameters(inputs)},
    }
    bootstrap: dict[str, object] = {
        "dcs": dcs,
        "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
        "pg_hba": list(hba),  # Patroni 3.0's validator still requires it here
    }
    if inputs.post_bootstrap:
        bootstrap["post_bootstrap"] = inputs.post_bootstrap
    postgresql: dict[str, object] = {
        "listen": f"{node.host}:{node.pg_port}",
        "connect_address": f"{node.host}:{node.pg_port}",
        "data_dir": inputs.data_dir,
        "bin_dir": inputs.bin_dir,
        "pgpass": inputs.pgpass,
        "authentication": {
            "superuser": {"username": SUPERUSER},
            "replication": {"username": REPLICATION_USER},
            "rewind": {"username": REWIND_USER},
        },
        "parameters": _local_parameters(inputs),
        "pg_hba": hba,
        "create_replica_methods": ["basebackup"],
        "basebackup": [{"checkpoint": "fast"}],
    }
    if inputs.pgbackrest_config_path is not None:
        # A rebuilt node restores from the repository first (no load on the leader), then streams the rest.
        postgresql["create_replica_methods"] = ["pgbackrest", "basebackup"]
        postgresql["pgbackrest"] = {
            "command": replica_restore_command(inputs.pgbackrest_config_path, inputs.stanza),
            "keep_data": True,
            "no_params": True,
        }
        postgresql["recovery_conf"] = {"restore_command": restore_command(inputs.pgbackrest_config_path, inputs.stanza)}
    if inputs.standby is not None and inputs.pgbackrest_config_path is not None:
        # The standby leader is seeded from the primary's newest backup and replays its archive; its replicas stream
        # from it as in any cluster. Promotion (`dr promote-region`) removes `standby_cluster` from the DCS.
        config_path, source = inputs.pgbackrest_config_path, inputs.standby.repository_prefix
        postgresql[STANDBY_SEED_METHOD] = {
            "command": standby_seed_command(config_path, inputs.stanza, source),
            "keep_data": True,
            "no_params": True,
            "no_leader": True,  # it needs no replication connection: Patroni may run it with no member to clone
        }
        dcs["standby_cluster"] = {
            "create_replica_methods": [STANDBY_SEED_METHOD],
            "restore_command": standby_restore_command(config_path, inputs.stanza, source),
        }
    if inputs.on_role_change:
        # on_start too: the node that bootstraps a new cluster gets on_start only, never on_role_change (Patroni
        # 3.0.2), and a leader's callback must run on it as well (the stanza: issue 13, defect 2).
        postgresql["callbacks"] = {"on_start": inputs.on_role_change, "on_role_change": inputs.on_role_change}
    return {
        "scope": inputs.scope,
        "namespace": inputs.namespace,
        "name": node.name,
        "log": {"level": "INFO", **({"dir": inputs.patroni_log_dir} if inputs.patroni_log_dir else {})},
        "restapi": restapi,
        "etcd3": _etcd3(inputs),
        "bootstrap": bootstrap,
        "postgresql": postgresql,
        "watchdog": {"mode": inputs.watchdog, "device": "/dev/watchdog", "safety_margin": 5},
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }


def _etcd3(inputs: PatroniInputs) -> dict[str, object]:
    """Patroni's etcd client: with TLS it verifies the members against the cluster CA and presents its own
    certificate (etcd requires one: client-cert-auth)."""
    hosts = [f"{n.host}:{n.etcd_client_port}" for n in inputs.nodes]
    tls = inputs.etcd_tls
    if tls is None:
        return {"hosts": hosts, "protocol": "http"}
    return {"hosts": hosts, "protocol": "https", "cacert": tls.ca, "cert": tls.client_cert, "key": tls.client_key}


def render_patroni_yml(inputs: PatroniInputs) -> str:
    """patroni.yml text for one node."""
    header = (
        f"# Rendered by components/selfhosted/patroni_config.py for {inputs.node.name} of {inputs.scope}; "
        "do not edit.\n"
    )
    return header + yaml.safe_dump(render_patroni_config(inputs), sort_keys=False, width=200)


# -- etcd -------------------------------------------------------------------------------------------------------


def etcd_environment(
    nodes: Sequence[NodeEndpoint],
    node_index: int,
    *,
    data_dir: str,
    cluster_token: str,
    initial_state: str = "new",
    tls: EtcdTls | None = None,
) -> dict[str, str]:
    """The ETCD_* variables of one member (Debian's etcd-server reads them from /etc/default/etcd).

    `initial_state` is `new` when the cluster is first formed; a node that replaces a lost member joins with
    `existing` after it has been re-added (the boot script switches it). With `tls`, peers and clients speak HTTPS
    and must present a certificate of the cluster CA (client-cert-auth on both); etcd re-reads the files at every
    handshake, so renewed certificates take effect without a restart.
    """
    if initial_state not in ("new", "existing"):
        raise ValueError(f"initial_state = {initial_state!r}: must be 'new' or 'existing'")
    if not 0 <= node_index < len(nodes):
        raise ValueError(f"node_index = {node_index}: must name one of the {len(nodes)} nodes")
    node = nodes[node_index]
    scheme = "https" if tls else "http"
    # The local client URL lets Patroni reach its own member even while the node address is being attached.
    client_urls = list(dict.fromkeys([node.etcd_client_url(scheme), f"{scheme}://127.0.0.1:{node.etcd_client_port}"]))
    environment = {
        "ETCD_NAME": node.name,
        "ETCD_DATA_DIR": data_dir,
        "ETCD_LISTEN_PEER_URLS": node.etcd_peer_url(scheme),
        "ETCD_LISTEN_CLIENT_URLS": ",".join(client_urls),
        "ETCD_ADVERTISE_CLIENT_URLS": node.etcd_client_url(scheme),
        "ETCD_INITIAL_ADVERTISE_PEER_URLS": node.etcd_peer_url(scheme),
        "ETCD_INITIAL_CLUSTER": ",".join(f"{n.name}={n.etcd_peer_url(scheme)}" for n in nodes),
        "ETCD_INITIAL_CLUSTER_TOKEN": cluster_token,
        "ETCD_INITIAL_CLUSTER_STATE": initial_state,
        "ETCD_ENABLE_V2": "false",  # Patroni talks etcd3; Debian's etcd 3.4 has v2 off anyway
        "ETCD_AUTO_COMPACTION_MODE": "periodic",
        "ETCD_AUTO_COMPACTION_RETENTION": "1h",
    }
    if tls:
        environment.update(
            {
                "ETCD_CERT_FILE": tls.cert,
                "ETCD_KEY_FILE": tls.key,
                "ETCD_TRUSTED_CA_FILE": tls.ca,
                "ETCD_CLIENT_CERT_AUTH": "true",
                "ETCD_PEER_CERT_FILE": tls.cert,
                "ETCD_PEER_KEY_FILE": tls.key,
                "ETCD_PEER_TRUSTED_CA_FILE": tls.ca,
                "ETCD_PEER_CLIENT_CERT_AUTH": "true",
                "ETCD_CIPHER_SUITES": ",".join(ETCD_CIPHER_SUITES),
            }
        )
    return environment


def render_etcd_env_file(environment: Mapping[str, str]) -> str:
    return "# Rendered by components/selfhosted/patroni_config.py; do not edit.\n" + "".join(
        f'{key}="{value}"\n' for key, value in environment.items()
    )


# -- the production node ------------------------------------------------------------------------------------------

DATA_MOUNT = "/data"
PROD_DATA_DIR = f"{DATA_MOUNT}/postgresql/data"
PROD_ETCD_DATA_DIR = f"{DATA_MOUNT}/etcd"
PROD_SOCKET_DIR = "/var/run/postgresql"
PROD_PGPASS = "/var/lib/postgresql/.pgpass_patroni"
PROD_LOG_DIR = "/var/log/postgresql"
PROD_PATRONI_LOG_DIR = "/var/log/patroni"
PROD_PGBACKREST_CONFIG_PATH = "/etc/pgbackrest"
PROD_TLS = TlsFiles(cert="/etc/cryb-db/tls/node.crt", key="/etc/cryb-db/tls/node.key")
PROD_ETCD_TLS_DIR = "/etc/cryb-db/etcd-tls"
PROD_ETCD_TLS = EtcdTls(
    ca=f"{PROD_ETCD_TLS_DIR}/ca.crt",
    cert=f"{PROD_ETCD_TLS_DIR}/member.crt",
    key=f"{PROD_ETCD_TLS_DIR}/member.key",
    client_cert=f"{PROD_ETCD_TLS_DIR}/patroni.crt",
    client_key=f"{PROD_ETCD_TLS_DIR}/patroni.key",
)
POST_BOOTSTRAP_SCRIPT = "/usr/local/sbin/cryb-pg-post-bootstrap"
ON_ROLE_CHANGE_SCRIPT = "/usr/local/sbin/cryb-pg-on-role-change"


def node_names(scope: str, count: int) -> list[str]:
    """`analytics-a`, `analytics-b`, ...: stable whatever instance currently serves the node."""
    return [f"{scope}-{'abcdefgh'[i]}" for i in range(count)]


def tuning_class_for(node_type: NvmeInstanceType) -> str:
    """The postgres_tuning class with the node's vCPU and memory: the tuning is a function of those two only.

    An adapter, so a change in postgres_tuning's table (another engineer's module) shows up here as one error.
    """
    same = sorted(
        c.name
        for c in postgres_tuning.INSTANCE_CLASSES.values()
        if (c.vcpu, c.memory_gib) == (node_type.vcpu, node_type.memory_gib) and not c.burstable
    )
    if not same:
        raise ValueError(
            f"{node_type.name} ({node_type.vcpu} vCPU, {node_type.memory_gib} GiB): no class of "
            "components/postgres/tuning.py has the same size to take the tuning from"
        )
    return same[0]


# RDS-only parameters and what replaces them on a self-hosted node.
_RDS_ONLY = {
    "rds.force_ssl": "hostssl lines in pg_hba.conf and ssl = on",
    "rds.logical_replication": "wal_level = logical in the DCS parameters",
}


def selfhosted_parameters(instance_type: str, *, cron_database: str | None = None) -> tuple[dict[str, str], list[str]]:
    """(cluster-wide parameters, shared_preload_libraries) from the same function RDS is tuned with."""
    tuning_class = tuning_class_for(nvme_instance_type(instance_type))
    params = postgres_tuning.parameters(tuning_class, cron_database=cron_database)
    values = {p.name: p.value for p in params if p.name not in _RDS_ONLY}
    preload = [lib for lib in values.pop("shared_preload_libraries", "").split(",") if lib]
    return values, preload


def synchronous_standby_count(node_count: int) -> int:
    """How many standbys confirm each commit: two where the cluster has them, else one.

    With one synchronous standby the other replicas stream asynchronously and can receive WAL that the synchronous
    one has not when the leader dies; Patroni may promote only the synchronous standby, so such a replica has
    diverged and must be rewound before it can follow, and in strict mode no write commits until it does (measured
    in the node sandbox: 45 s instead of 27 s to the first write after kill -9 of the leader). With two, both are
    failover candidates, Patroni promotes the more advanced one and the other follows it without a rewind.
    """
    return max(1, min(2, node_count - 1))


def node_inputs(
    *,
    scope: str,
    hosts: Sequence[str],
    node_index: int,
    instance_type: str,
    postgres_major: str,
    synchronous_mode: bool,
    synchronous_mode_strict: bool,
    timing: DcsTiming,
    timescaledb: bool,
    client_cidrs: Sequence[str],
    cron_database: str | None = None,
    port: int = POSTGRES_PORT,
    standby: StandbySource | None = None,
) -> PatroniInputs:
    """The inputs of a production node: what the component renders, and what the drill substitutes from."""
    parameters, preload = selfhosted_parameters(instance_type, cron_database=cron_database)
    if timescaledb:
        # The boot script drops it again if the package cannot be installed (native partitioning fallback).
        preload = ["timescaledb", *preload]
        parameters["timescaledb.telemetry_level"] = "off"
    names = node_names(scope, len(hosts))
    return PatroniInputs(
        scope=scope,
        nodes=tuple(NodeEndpoint(name, host, pg_port=port) for name, host in zip(names, hosts, strict=True)),
        node_index=node_index,
        synchronous_mode=synchronous_mode,
        synchronous_mode_strict=synchronous_mode_strict,
        synchronous_node_count=synchronous_standby_count(len(hosts)),
        timing=timing,
        parameters=parameters,
        preload_libraries=tuple(preload),
        data_dir=PROD_DATA_DIR,
        bin_dir=f"/usr/lib/postgresql/{postgres_major}/bin",
        socket_dir=PROD_SOCKET_DIR,
        pgpass=PROD_PGPASS,
        log_dir=PROD_LOG_DIR,
        pgbackrest_config_path=PROD_PGBACKREST_CONFIG_PATH,
        client_cidrs=tuple(client_cidrs),
        tls=PROD_TLS,
        etcd_tls=PROD_ETCD_TLS,
        watchdog="automatic",
        post_bootstrap=POST_BOOTSTRAP_SCRIPT,
        on_role_change=ON_ROLE_CHANGE_SCRIPT,
        patroni_log_dir=PROD_PATRONI_LOG_DIR,
        standby=standby,
    )
