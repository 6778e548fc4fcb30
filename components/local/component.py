"""`LocalPlatform`: the platform as containers on one Docker host (the `local` stack, `cryb-db:target: docker`).

One image built from `components/local/image/` (Debian bookworm, the EC2 node's packages), one bridge network with
fixed addresses, one named volume per node, one container per node (the self-hosted clusters' Patroni nodes, one
Patroni stand-in per RDS shard, the cache cluster's nodes) and a moto container for the AWS APIs. Each node
container gets its rendered files (components/local/node_files.py) and its passwords as uploads; passwords are
Pulumi secrets (random.RandomPassword) and never part of a container's environment or of the image.
"""

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from components.cache.cluster_plan import plan_cluster
from components.cache.redis_conf import acl_users
from components.selfhosted.cloud_init import ROTATED_SECRET_KEYS
from components.selfhosted.patroni_config import RESTAPI_PORT, DcsTiming, node_names

from .node_files import (
    MANIFEST,
    SECRETS_DIR,
    STAGE_DIR,
    CacheNodeSpec,
    NodeFile,
    PatroniNodeSpec,
    cache_node_files,
    manifest,
    patroni_node_files,
)

IMAGE_DIR = Path(__file__).parent / "image"
ENTRYPOINT = "/usr/local/bin/cryb-entrypoint"
MOTO_IMAGE = "motoserver/moto:5.2.5"  # the moto the tests pin (requirements-dev.txt)
MOTO_PORT = 5000
RESTART_POLICY = "unless-stopped"
CA_VOLUME_PATH = "/var/lib/cryb-ca"
CACHE_USERS = tuple(acl_users())
"""The ACL users of a cache node; each gets its own password."""


@dataclass(frozen=True)
class PatroniClusterSpec:
    """One Patroni cluster to run as containers (a self-hosted cluster, or a shard's stand-in)."""

    name: str
    node_count: int
    instance_type: str
    timescaledb: bool
    port: int
    database_name: str
    admin_user: str
    synchronous_mode: bool
    synchronous_mode_strict: bool
    timing: DcsTiming
    backup_retention_days: int


@dataclass(frozen=True)
class CacheSpec:
    """The cache cluster to run as containers."""

    shards: int
    replicas_per_shard: int
    port: int
    cluster_port: int
    instance_type: str
    maxmemory_policy: str


@dataclass(frozen=True)
class Limits:
    """Resource limits of one container."""

    memory_mb: int
    cpus: str


class LocalPlatformArgs(TypedDict):
    stack: str
    """The stack name: prefixes every Docker object, so two stacks on one host do not collide."""
    postgres_major: str
    """PostgreSQL major version the image installs (build argument PG_MAJOR)."""
    clusters: Sequence[PatroniClusterSpec]
    """The self-hosted clusters (e.g. analytics), run with their configured node count."""
    shards: Sequence[PatroniClusterSpec]
    """One stand-in per PostgreSQL shard: a Patroni cluster with the shard's database, admin user and port."""
    cache: CacheSpec
    """The cache cluster (shards x (1 + replicas) nodes)."""
    subnet: str
    """The bridge network's IPv4 subnet; containers get fixed addresses in it (needed by etcd and cluster bus)."""
    postgres_limits: Limits
    """Memory and CPU limit of each Patroni container; PostgreSQL's memory parameters are scaled to the memory."""
    cache_limits: Limits
    """Memory and CPU limit of each cache container; maxmemory is a quarter below the limit."""
    moto_limits: Limits
    """Memory and CPU limit of the moto container."""
    host_port_base: int
    """Published ports on 127.0.0.1: PostgreSQL node i of all clusters at base + i, cache node j at base + 100 + j,
    moto at base + 200."""


class LocalPlatform(pulumi.ComponentResource):
    """The containers of the local platform and what applications connect to."""

    def __init__(self, name: str, args: LocalPlatformArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cryb:local:LocalPlatform", name, None, opts)
        self._name = name
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        network_addresses = ipaddress.IPv4Network(args["subnet"], strict=True)
        hosts = list(network_addresses.hosts())
        self._next_host = iter(hosts[9:])  # .1 is the gateway; the first addresses stay free
        labels = [docker.NetworkLabelArgs(label="cryb-db.stack", value=args["stack"])]

        self.network = docker.Network(
            f"{name}-network",
            name=f"{name}-net",
            driver="bridge",
            internal=False,
            ipam_configs=[docker.NetworkIpamConfigArgs(subnet=args["subnet"], gateway=str(hosts[0]))],
            labels=labels,
            opts=child,
        )
        self.image = docker.Image(
            f"{name}-image",
            image_name=f"cryb-db-local:{args['stack']}",
            build=docker.DockerBuildArgs(
                context=str(IMAGE_DIR),
                dockerfile=str(IMAGE_DIR / "Dockerfile"),
                args={"PG_MAJOR": args["postgres_major"]},
            ),
            skip_push=True,
            opts=child,
        )
        self.ca_volume = docker.Volume(f"{name}-ca", name=f"{name}-ca", opts=child)
        self.containers: list[docker.Container] = []
        self._postgres_nodes = 0
        self.moto_endpoint = self._moto(args)
        self.cluster_outputs = [self._patroni(spec, args) for spec in args["clusters"]]
        self.shard_outputs = [self._patroni(spec, args) for spec in args["shards"]]
        self.cache_outputs = self._cache(args)
        self.register_outputs({"motoEndpoint": self.moto_endpoint})

    # -- helpers ------------------------------------------------------------------------------------------------

    def _address(self) -> str:
        return str(next(self._next_host))

    def _host_port(self, offset: int) -> int:
        return self._args["host_port_base"] + offset

    def _container(
        self,
        node: str,
        *,
        image: pulumi.Input[str],
        address: str,
        limits: Limits,
        health: list[str],
        command: list[str],
        ports: Sequence[tuple[int, int]],
        envs: Mapping[str, str],
        volumes: Sequence[tuple[docker.Volume, str]] = (),
        files: Sequence[NodeFile] = (),
        secrets: Mapping[str, pulumi.Output[str]] | None = None,
    ) -> docker.Container:
        uploads = [
            docker.ContainerUploadArgs(file=f"{STAGE_DIR}{f.path}", content=f.content, permissions=f.mode)
            for f in files
        ]
        if files:
            uploads.append(docker.ContainerUploadArgs(file=MANIFEST, content=manifest(files), permissions="0644"))
        uploads += [
            docker.ContainerUploadArgs(
                file=f"{SECRETS_DIR}/{key}", content=pulumi.Output.secret(value), permissions="0600"
            )
            for key, value in (secrets or {}).items()
        ]
        container = docker.Container(
            f"{self._name}-{node}",
            name=f"{self._name}-{node}",
            image=image,
            hostname=node,
            command=command,
            envs=[f"{key}={value}" for key, value in envs.items()],
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(name=self.network.name, ipv4_address=address, aliases=[node])
            ],
            ports=[docker.ContainerPortArgs(internal=inner, external=outer, ip="127.0.0.1") for inner, outer in ports],
            volumes=[docker.ContainerVolumeArgs(volume_name=v.name, container_path=path) for v, path in volumes],
            uploads=uploads,
            memory=limits.memory_mb,
            memory_swap=limits.memory_mb,  # no swap on top of the limit
            cpus=limits.cpus,
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=["CMD", *health], interval="10s", timeout="5s", retries=5, start_period="60s"
            ),
            restart=RESTART_POLICY,
            privileged=False,
            init=True,
            network_mode="bridge",
            labels=[docker.ContainerLabelArgs(label="cryb-db.stack", value=self._args["stack"])],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.containers.append(container)
        return container

    def _volume(self, node: str) -> docker.Volume:
        return docker.Volume(
            f"{self._name}-{node}-data", name=f"{self._name}-{node}-data", opts=pulumi.ResourceOptions(parent=self)
        )

    def _password(self, name: str) -> pulumi.Output[str]:
        return random.RandomPassword(
            f"{self._name}-{name}", length=32, special=False, opts=pulumi.ResourceOptions(parent=self)
        ).result

    # -- moto --------------------------------------------------------------------------------------------------------

    def _moto(self, args: LocalPlatformArgs) -> str:
        image = docker.RemoteImage(
            f"{self._name}-moto-image", name=MOTO_IMAGE, keep_locally=True, opts=pulumi.ResourceOptions(parent=self)
        )
        address = self._address()
        probe = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{MOTO_PORT}/moto-api/')"
        self._container(
            "moto",
            image=image.image_id,
            address=address,
            limits=args["moto_limits"],
            health=["python", "-c", probe],
            command=[],
            ports=[(MOTO_PORT, self._host_port(200))],
            envs={"MOTO_PORT": str(MOTO_PORT)},
        )
        return f"http://127.0.0.1:{self._host_port(200)}"

    # -- PostgreSQL --------------------------------------------------------------------------------------------------

    def _patroni(self, spec: PatroniClusterSpec, args: LocalPlatformArgs) -> dict[str, Any]:
        names = node_names(spec.name, spec.node_count)
        addresses = tuple(self._address() for _ in names)
        secrets = {key: self._password(f"{spec.name}-{key}") for key in (*ROTATED_SECRET_KEYS, "pgbackrest")}
        nodes = []
        for index, node in enumerate(names):
            files = patroni_node_files(
                PatroniNodeSpec(
                    scope=spec.name,
                    addresses=addresses,
                    node_index=index,
                    instance_type=spec.instance_type,
                    postgres_major=args["postgres_major"],
                    timescaledb=spec.timescaledb,
                    port=spec.port,
                    database_name=spec.database_name,
                    admin_user=spec.admin_user,
                    synchronous_mode=spec.synchronous_mode,
                    synchronous_mode_strict=spec.synchronous_mode_strict,
                    timing=spec.timing,
                    client_cidr=args["subnet"],
                    memory_mb=args["postgres_limits"].memory_mb,
                    backup_retention_days=spec.backup_retention_days,
                )
            )
            host_port = self._host_port(self._postgres_nodes)
            self._postgres_nodes += 1
            self._container(
                node,
                image=self.image.image_name,
                address=addresses[index],
                limits=args["postgres_limits"],
                health=[ENTRYPOINT, "health", "patroni"],
                command=["run", "patroni"],
                ports=[(spec.port, host_port)],
                envs={"CRYB_ADDRESS": addresses[index], "CRYB_RESTAPI_PORT": str(RESTAPI_PORT)},
                volumes=[(self._volume(node), "/data"), (self.ca_volume, CA_VOLUME_PATH)],
                files=files,
                secrets=secrets,
            )
            nodes.append({"name": node, "address": addresses[index], "hostPort": host_port})
        return {
            "name": spec.name,
            "port": spec.port,
            "databaseName": spec.database_name,
            "adminUser": spec.admin_user,
            "nodes": nodes,
            "adminPassword": secrets["admin"],
        }

    # -- cache -----------------------------------------------------------------------------------------------------

    def _cache(self, args: LocalPlatformArgs) -> dict[str, Any]:
        spec = args["cache"]
        zones = [f"local-{z}" for z in "abc"]
        plan = plan_cluster(spec.shards, spec.replicas_per_shard, zones)
        addresses = tuple(self._address() for _ in plan.nodes)
        secrets = {f"cache-{user}": self._password(f"cache-{user}") for user in CACHE_USERS}
        maxmemory = args["cache_limits"].memory_mb * 3 // 4
        nodes = []
        for node in plan.nodes:
            files = cache_node_files(
                CacheNodeSpec(
                    plan=plan,
                    addresses=addresses,
                    node_index=node.index,
                    port=spec.port,
                    cluster_port=spec.cluster_port,
                    instance_type=spec.instance_type,
                    maxmemory_policy=spec.maxmemory_policy,
                    maxmemory_mb=maxmemory,
                )
            )
            host_port = self._host_port(100 + node.index)
            container_name = f"cache-{node.name}"
            self._container(
                container_name,
                image=self.image.image_name,
                address=addresses[node.index],
                limits=args["cache_limits"],
                health=[ENTRYPOINT, "health", "cache"],
                command=["run", "cache"],
                ports=[(spec.port, host_port)],
                envs={"CRYB_ADDRESS": addresses[node.index], "CRYB_CACHE_PORT": str(spec.port)},
                volumes=[(self._volume(container_name), "/var/lib/cryb-cache"), (self.ca_volume, CA_VOLUME_PATH)],
                files=files,
                secrets=secrets,
            )
            nodes.append({"name": node.name, "availabilityZone": node.az, "address": addresses[node.index]})
        return {
            "nodes": nodes,
            "hostPorts": {node.name: self._host_port(100 + node.index) for node in plan.nodes},
            "passwords": {user: secrets[f"cache-{user}"] for user in ("app", "reader")},
        }
