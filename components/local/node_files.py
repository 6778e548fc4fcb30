"""The files each container of the `local` stack boots from, as pure functions.

Every file comes from the renderer the EC2 nodes use, with the containers' addresses: patroni.yml, the etcd
environment and pgbackrest.conf (components/selfhosted/patroni_config.py, pgbackrest_config.py), the Patroni
callbacks taken verbatim from the node's rendered cloud-init (components/selfhosted/cloud_init.py), redis.conf,
the ACL template and the cluster bootstrap (components/cache/redis_conf.py, cloud_init.py). What differs from EC2
is listed in docs/local.md: memory parameters scaled to the container's limit, a pgBackRest repository on the
node's volume instead of S3, no CloudWatch agent, no ENI. No secret value is rendered here: passwords reach a
container as separate secret uploads (components/local/component.py), which the entrypoint reads at start.
"""

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import yaml

from components.cache.cloud_init import CONF_DIR as CACHE_CONF_DIR
from components.cache.cloud_init import node_conf_inputs, render_bootstrap_script
from components.cache.cluster_plan import ClusterPlan
from components.cache.redis_conf import acl_template, render_redis_conf
from components.selfhosted.cloud_init import (
    BACKEND_FILE,
    BACKUP_SCRIPT,
    ETCD_ENV,
    PATRONI_YML,
    PGBACKREST_CONF,
    PGBACKREST_LOCK_PATH,
    PGBACKREST_LOG_DIR,
    PGBACKREST_SPOOL,
    SECRET_KEYS,
    NodeBootInputs,
    render_user_data,
)
from components.selfhosted.nvme_instances import nvme_instance_type
from components.selfhosted.patroni_config import (
    ON_ROLE_CHANGE_SCRIPT,
    POST_BOOTSTRAP_SCRIPT,
    PROD_DATA_DIR,
    PROD_ETCD_DATA_DIR,
    PROD_SOCKET_DIR,
    RESTAPI_PORT,
    DcsTiming,
    etcd_environment,
    node_inputs,
    render_etcd_env_file,
    render_patroni_yml,
)
from components.selfhosted.pgbackrest_config import PgBackRestInputs, PosixRepo, render_pgbackrest_conf

STAGE_DIR = "/etc/cryb-local/files"
"""Where a container's rendered files are uploaded; the entrypoint installs each at its path (MANIFEST)."""
MANIFEST = f"{STAGE_DIR}/manifest"
SECRETS_DIR = "/etc/cryb-local/secrets"
"""Where a container's secret uploads land (mode 0600); only the entrypoint reads them."""
PGBACKREST_REPO = "/data/pgbackrest-repo"
"""The local stand-in for the S3 backup bucket: a POSIX repository on the node's volume."""
CACHE_ACL_TEMPLATE = f"{CACHE_CONF_DIR}/users.acl.template"
CACHE_BOOTSTRAP = "/usr/local/sbin/cryb-cache-bootstrap"
# Parameters in memory units (8 kB pages or kB) that scale with the node's memory.
MEMORY_PARAMETERS = (
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "maintenance_work_mem",
    "autovacuum_work_mem",
)
_FROM_CLOUD_INIT = (POST_BOOTSTRAP_SCRIPT, ON_ROLE_CHANGE_SCRIPT, BACKUP_SCRIPT)


@dataclass(frozen=True)
class NodeFile:
    """One file the entrypoint installs: absolute path in the container, octal mode, owner, content."""

    path: str
    mode: str
    owner: str
    content: str


def manifest(files: Sequence[NodeFile]) -> str:
    """`<mode> <owner> <path>` per line: what the entrypoint installs from STAGE_DIR."""
    for f in files:
        if not f.path.startswith("/") or " " in f.path:
            raise ValueError(f"{f.path!r}: node files need absolute paths without spaces")
    return "".join(f"{f.mode} {f.owner} {f.path}\n" for f in files)


def scaled_parameters(parameters: Mapping[str, str], instance_type: str, memory_mb: int) -> dict[str, str]:
    """The instance's tuned parameters with the memory ones scaled to a container of `memory_mb` (same ratios)."""
    instance_mb = nvme_instance_type(instance_type).memory_gib * 1024
    if not 0 < memory_mb <= instance_mb:
        raise ValueError(f"memory_mb = {memory_mb}: must be between 1 and the instance's {instance_mb}")
    scaled = dict(parameters)
    for name in MEMORY_PARAMETERS:
        if name in scaled:
            scaled[name] = str(max(64, int(scaled[name]) * memory_mb // instance_mb))
    return scaled


@dataclass(frozen=True)
class PatroniNodeSpec:
    """One Patroni container: its cluster, the cluster's container addresses and what the EC2 node takes."""

    scope: str
    addresses: tuple[str, ...]
    node_index: int
    instance_type: str
    postgres_major: str
    timescaledb: bool
    port: int
    database_name: str
    admin_user: str
    synchronous_mode: bool
    synchronous_mode_strict: bool
    timing: DcsTiming
    client_cidr: str
    memory_mb: int
    backup_retention_days: int


def patroni_node_files(spec: PatroniNodeSpec) -> list[NodeFile]:
    """patroni.yml, etcd.env, pgbackrest.conf and the Patroni callbacks of one container."""
    inputs = node_inputs(
        scope=spec.scope,
        hosts=spec.addresses,
        node_index=spec.node_index,
        instance_type=spec.instance_type,
        postgres_major=spec.postgres_major,
        synchronous_mode=spec.synchronous_mode,
        synchronous_mode_strict=spec.synchronous_mode_strict,
        timing=spec.timing,
        timescaledb=spec.timescaledb,
        client_cidrs=[spec.client_cidr],
        cron_database=spec.database_name if spec.timescaledb else None,
        port=spec.port,
    )
    # The image has no TimescaleDB package: the analytics cluster falls back to pg_partman as an EC2 node without
    # the package does (its boot script drops the library the same way and records the backend). A container has
    # no /dev/watchdog: Patroni runs without one (docs/local.md).
    parameters = scaled_parameters(inputs.parameters, spec.instance_type, spec.memory_mb)
    parameters.pop("timescaledb.telemetry_level", None)
    inputs = dataclasses.replace(
        inputs,
        parameters=parameters,
        preload_libraries=tuple(lib for lib in inputs.preload_libraries if lib != "timescaledb"),
        watchdog="off",
    )
    etcd_env = render_etcd_env_file(
        etcd_environment(
            inputs.nodes, spec.node_index, data_dir=PROD_ETCD_DATA_DIR, cluster_token=f"cryb-local-{spec.scope}"
        )
    )
    pgbackrest_conf = render_pgbackrest_conf(
        PgBackRestInputs(
            stanza=inputs.stanza,
            repo=PosixRepo(PGBACKREST_REPO),
            pg_data_dir=PROD_DATA_DIR,
            pg_port=spec.port,
            pg_socket_dir=PROD_SOCKET_DIR,
            spool_path=PGBACKREST_SPOOL,
            log_path=PGBACKREST_LOG_DIR,
            lock_path=PGBACKREST_LOCK_PATH,
            retention_full_days=spec.backup_retention_days,
        )
    )
    node = inputs.node
    user_data = render_user_data(
        NodeBootInputs(
            cluster=spec.scope,
            node_index=spec.node_index,
            node_name=node.name,
            region="local",
            instance_type=spec.instance_type,
            postgres_major=spec.postgres_major,
            timescaledb=spec.timescaledb,
            patroni_yml="",
            pgbackrest_conf="",
            etcd_env="",
            eni_id="none",
            node_address=node.host,
            subnet_cidr=spec.client_cidr,
            peer_etcd_client_urls=[n.etcd_client_url() for n in inputs.nodes],
            node_etcd_peer_url=node.etcd_peer_url(),
            secret_arns={key: f"local:{key}" for key in SECRET_KEYS},
            log_group="none",
            database_name=spec.database_name,
            admin_user=spec.admin_user,
            stanza=inputs.stanza,
            restapi_port=RESTAPI_PORT,
            cluster_nodes=[n.name for n in inputs.nodes],
            pg_port=spec.port,
        )
    )
    written = {f["path"]: f for f in yaml.safe_load(user_data)["write_files"]}
    return [
        NodeFile(PATRONI_YML, "0640", "postgres", render_patroni_yml(inputs)),
        NodeFile(ETCD_ENV, "0644", "root", etcd_env),
        NodeFile(PGBACKREST_CONF, "0640", "postgres", pgbackrest_conf),
        *(NodeFile(path, written[path]["permissions"], "root", written[path]["content"]) for path in _FROM_CLOUD_INIT),
        *([NodeFile(BACKEND_FILE, "0644", "root", "partman\n")] if spec.timescaledb else []),
    ]


@dataclass(frozen=True)
class CacheNodeSpec:
    """One cache container: the cluster plan, every node's address, and the node's ports and memory."""

    plan: ClusterPlan
    addresses: tuple[str, ...]
    node_index: int
    port: int
    cluster_port: int
    instance_type: str
    maxmemory_policy: str
    maxmemory_mb: int


def cache_node_files(spec: CacheNodeSpec) -> list[NodeFile]:
    """redis.conf, the ACL template (the entrypoint fills in the password hashes) and, on node 0, the bootstrap."""
    if len(spec.addresses) != len(spec.plan.nodes):
        raise ValueError(f"{len(spec.addresses)} addresses for {len(spec.plan.nodes)} planned cache nodes")
    replicas = max(1, len(spec.plan.replicas_of(spec.plan.masters[0].index)))
    inputs = dataclasses.replace(
        node_conf_inputs(spec.port, spec.cluster_port, spec.instance_type, spec.maxmemory_policy, replicas),
        maxmemory_mb=spec.maxmemory_mb,
        logfile="",  # stdout: `docker logs` shows it
    )
    files = [
        NodeFile(f"{CACHE_CONF_DIR}/redis.conf", "0640", "redis", render_redis_conf(inputs)),
        NodeFile(CACHE_ACL_TEMPLATE, "0600", "redis", acl_template()),
    ]
    if spec.node_index == 0:
        endpoints = [(address, spec.port, spec.cluster_port) for address in spec.addresses]
        files.append(NodeFile(CACHE_BOOTSTRAP, "0755", "root", render_bootstrap_script(spec.plan, endpoints)))
    return files
