"""The local platform's supervisor: the one long-running process `local up` daemonizes. It owns everything that
must outlive `up`: moto (the AWS stand-in), the node sandboxes (namespaces, unit runners, IMDS stubs, the forwarder
to moto) and the host-side forwarders clients connect to. It records what it started in the state file
(scripts/local/state.py) and, on SIGTERM (`local down`) or any failure, stops all of it before it exits.

    python -m scripts.local.supervisor --stack dev [--config FILE]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import shutil
import signal
import socket
import ssl
import threading
import time
import traceback
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from components.selfhosted.cloud_init import BACKEND_FILE
from scripts.local import tuning
from scripts.local.aws import REGION, aws_stand_in, endpoint, secret_json, seed_cache_secrets, seed_declared_secrets
from scripts.local.memory import platform_memory
from scripts.local.nodes import in_netns, wait_for
from scripts.local.outputs import LocalCacheNode, LocalShard, local_outputs, write_outputs
from scripts.local.proxy import Forwarder, fixed, patroni_chooser
from scripts.local.stack import evaluate_local
from scripts.local.state import OUTPUTS_FILE, STATE_DIR, STATE_FILE, NodeState, State, write_state
from scripts.preview.mock_engine import Evaluation
from scripts.sandbox import Sandbox
from scripts.sandbox.cache import cache_component, cache_image, cache_node_specs
from scripts.sandbox.image import Image
from scripts.sandbox.network import ip
from scripts.sandbox.node import CONTROL_DIR, Node, NodeSpec
from scripts.sandbox.preview import node_specs
from scripts.sandbox.userdata import decode_user_data, parse_cloud_config

PG_INSTALLED = "15"
READY_TIMEOUT = 150.0
PATRONI_PORT = 8008
SHARD_CLUSTER = "cryb:postgres_selfhosted:SelfHostedCluster"


def writer_address(shard_id: int) -> str:
    """The writer's address on this machine (the NLB's stand-in): 127.1.<shard>.1."""
    return f"127.1.{shard_id}.1"


def reader_address(shard_id: int) -> str:
    return f"127.1.{shard_id}.2"


@dataclass
class Cluster:
    name: str
    kind: str
    box: Sandbox
    port: int
    secrets: dict[str, str] = field(default_factory=dict)
    """Cache: secret kind -> ARN. Shard: ARN -> the secret string seeded."""


def _patroni_get(netns: str, address: str, path: str, timeout: float = 2.0) -> tuple[int, dict[str, Any]]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the node's self-signed REST certificate
    with in_netns(netns):
        sock = socket.create_connection((address, PATRONI_PORT), timeout=timeout)
    with context.wrap_socket(sock) as tls:
        tls.sendall(f"GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n".encode())
        chunks = []
        while data := tls.recv(65536):
            chunks.append(data)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    try:
        return status, json.loads(body or b"{}")
    except json.JSONDecodeError:
        return status, {}


class Supervisor:
    def __init__(self, stack: str, config: Path | None, state_path: Path = STATE_FILE) -> None:
        self.stack = stack
        self.config = config
        self.state_path = state_path
        self.state = State(pid=_pid(), stack=stack, started_at=time.time())
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.clusters: list[Cluster] = []
        self.forwarders: list[Forwarder] = []
        self.cache_admin: tuple[str, str] | None = None

    def save(self) -> None:
        with self.lock:
            write_state(self.state, self.state_path)

    # -- the run --------------------------------------------------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop.set())
        self.save()
        threading.Thread(target=self._sample_memory, name="memory", daemon=True).start()
        code = 0
        with ExitStack() as stack:
            try:
                self._up(stack)
                self.state.phase = "up"
                self.state.up_seconds = round(time.time() - self.state.started_at, 1)
                self.save()
                while not self.stop.wait(2.0):
                    self.refresh()
                self.state.phase = "stopping"
                self.save()
            except BaseException as exc:  # noqa: BLE001 (recorded for `up`, then everything is stopped)
                (STATE_DIR / "supervisor-error.txt").write_text(traceback.format_exc())
                self.state.phase = "failed"
                self.state.error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                code = 1
            finally:
                for forwarder in self.forwarders:
                    forwarder.close()
        # Everything in the ExitStack (sandboxes, moto) is closed now.
        OUTPUTS_FILE.unlink(missing_ok=True)
        if code == 0:
            self.state_path.unlink(missing_ok=True)
        else:
            self.state.namespaces = []
            self.save()
        return code

    def _up(self, stack: ExitStack) -> None:
        evaluation = evaluate_local(self.stack, self.config)
        if self.stop.is_set():
            raise InterruptedError("stopped while previewing")
        postgres = postgres_plans(evaluation)
        pg_specs = {p.component: node_specs(evaluation, p.component, REGION) for p in postgres}
        pg_specs = self._tune(pg_specs)
        cache_name = cache_component(evaluation)
        cache_specs = cache_node_specs(evaluation, REGION)
        buckets = sorted({_bucket(specs[0].user_data) for specs in pg_specs.values()})

        # Host-side forwarders first: a port in use fails here, before anything is started.
        plans: list[tuple[tuple[str, int], str, list[str], str]] = []  # listen, cluster, addresses, kind
        for plan in postgres:
            plans.append(((plan.writer, plan.port), plan.component, [], "primary"))
            plans.append(((plan.reader, plan.port), plan.component, [], "replica"))
        self._record_nodes(pg_specs, cache_name, cache_specs)
        for node in self.state.nodes:
            if node.kind == "cache":
                plans.append(((node.address, node.port), node.cluster, [node.address], "fixed"))
            elif node.cluster in {p.component for p in postgres if p.section == "selfhosted"}:
                # outputs list a self-hosted cluster's nodes (selfhosted.clusters[].nodes): each is reachable too
                plans.append(((node.address, node.port), node.cluster, [node.address], "node"))
        staged: list[tuple[Forwarder, str, str, list[str]]] = []
        for listen, cluster, addresses, kind in plans:
            forwarder = Forwarder(listen, netns="", port=listen[1], choose=fixed(""))
            try:
                forwarder.open()
            except OSError as exc:
                raise RuntimeError(f"{listen[0]}:{listen[1]} is in use on this machine ({exc.strerror})") from None
            self.forwarders.append(forwarder)
            staged.append((forwarder, cluster, kind, addresses))
        self.state.listeners = [f"{f.listen[0]}:{f.listen[1]}" for f in self.forwarders]
        self.save()

        moto = stack.enter_context(aws_stand_in(buckets))
        s3 = moto.boto3_client("s3")
        for bucket in buckets:
            s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        ca_copy = STATE_DIR / "aws-ca.pem"
        shutil.copyfile(moto.ca_file, ca_copy)
        self.state.environment = {
            "AWS_ENDPOINT_URL": moto.endpoint_url,
            "AWS_CA_BUNDLE": str(ca_copy),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        }
        aws = endpoint(moto, buckets)
        for plan in postgres:
            seeded = seed_declared_secrets(moto, evaluation, plan.component)
            specs = pg_specs[plan.component]
            box = Sandbox(specs, aws=aws, image=Image.debian_host({_major(specs[0].user_data): PG_INSTALLED}),
                          region=REGION)  # fmt: skip
            stack.callback(box.close)
            self.clusters.append(Cluster(plan.component, "postgres", box, plan.port, seeded))
        arns = seed_cache_secrets(moto, evaluation, cache_name)
        cache_box = Sandbox(cache_specs, aws=aws, image=cache_image(), region=REGION)
        stack.callback(cache_box.close)
        self.clusters.append(Cluster(cache_name, "cache", cache_box, self._node_state(cache_specs[0].name).port, arns))
        self._check_addresses()
        for cluster in self.clusters:
            cluster.box.start()
            self.state.namespaces += [cluster.box.network.hub]
        for cluster in self.clusters:
            for node in cluster.box.nodes:
                self._node_state(node.name).logs = [str(node.console), str(node.path(f"{CONTROL_DIR}/journal"))]
        hubs = {c.name: c.box for c in self.clusters}
        for forwarder, cluster_name, kind, addresses in staged:
            box = hubs[cluster_name]
            forwarder.netns = box.network.hub
            if kind in ("fixed", "node"):
                forwarder.choose = fixed(addresses[0])
            else:
                forwarder.choose = patroni_chooser(box.network.hub, [n.alias for n in box.nodes], kind)
            forwarder.serve_in_background()
        self.save()

        self._boot_all()
        self._add_application_address(evaluation.outputs["network"]["vpcCidr"], staged)
        self._wait_ready(evaluation, moto)
        self._note_analytics_backend(postgres)
        located = {
            p.component: LocalShard(p.name, p.writer, p.reader, [(n.name, n.alias) for n in hubs[p.component].nodes])
            for p in postgres
        }
        shards = [located[p.component] for p in postgres if p.section == "postgres"]
        clusters = [located[p.component] for p in postgres if p.section == "selfhosted"]
        cache_nodes = [LocalCacheNode(_planned(evaluation, n.name), n.alias) for n in cache_box.nodes]
        write_outputs(local_outputs(evaluation.outputs, shards, cache_nodes, clusters), OUTPUTS_FILE)
        self.refresh()

    def _note_analytics_backend(self, postgres: list[PostgresPlan]) -> None:
        """What each self-hosted cluster's nodes chose for analytics tables (their setup wrote it): TimescaleDB,
        or pg_partman where the package could not be installed (always on this machine). `up` and `status` say it."""
        for plan in postgres:
            if plan.section != "selfhosted":
                continue
            cluster = next(c for c in self.clusters if c.name == plan.component)
            chosen = sorted({_analytics_backend(n) for n in cluster.box.nodes})
            if chosen == ["timescaledb"]:
                note = f"{plan.component}: TimescaleDB"
            elif chosen == ["none"]:
                note = f"{plan.component}: no TimescaleDB (timescaledb: false)"
            else:
                note = (
                    f"{plan.component}: TimescaleDB cannot be installed on this machine; the nodes fell back to "
                    f"native partitioning with pg_partman ({BACKEND_FILE} = {', '.join(chosen)})"
                )
            self.state.notes.append(note)
            print(f"local analytics: {note}", flush=True)
        self.save()

    def _tune(self, pg_specs: dict[str, list[NodeSpec]]) -> dict[str, list[NodeSpec]]:
        """Every PostgreSQL node's rendered patroni.yml (shard stand-ins and self-hosted clusters alike) with the
        parameters of its share of this machine."""
        budget = tuning.node_budget(sum(len(specs) for specs in pg_specs.values()))
        parameters = tuning.local_parameters(budget)
        self.state.tuning = {"budget": budget.label, **parameters}
        print(f"local tuning: {budget.label}: {tuning.describe(parameters)}", flush=True)
        return {
            name: [replace(s, user_data=tuning.retune_user_data(s.user_data, parameters, budget.label)) for s in specs]
            for name, specs in pg_specs.items()
        }

    def _record_nodes(self, pg_specs: dict[str, Any], cache_name: str, cache_specs: list[Any]) -> None:
        for name, specs in pg_specs.items():
            port = _pg_port(specs[0].user_data)
            for spec in specs:
                self.state.nodes.append(NodeState(spec.name, name, "postgres", _alias(spec.vpc_address), port, ""))
        files = parse_cloud_config(decode_user_data(cache_specs[0].user_data))
        conf = files.file("/etc/cryb-cache/node.conf").content
        port = int(next(line.split()[1] for line in conf.splitlines() if line.startswith("tls-port ")))
        for spec in cache_specs:
            self.state.nodes.append(NodeState(spec.name, cache_name, "cache", _alias(spec.vpc_address), port, ""))

    def _node_state(self, name: str) -> NodeState:
        found = self.state.node(name)
        assert found is not None
        return found

    def _check_addresses(self) -> None:
        seen: dict[str, str] = {}
        for cluster in self.clusters:
            for node in cluster.box.nodes:
                if node.alias in seen:
                    raise RuntimeError(f"{node.name} and {seen[node.alias]} would share the address {node.alias}")
                seen[node.alias] = node.name
                self._node_state(node.name).netns = f"crybsbx-{cluster.box.network.sandbox_id}-{node.spec.key}"

    def _boot_all(self) -> None:
        errors: list[BaseException] = []

        def boot(node: Node) -> None:
            state = self._node_state(node.name)
            state.phase = "booting"
            self.save()
            try:
                state.boot_seconds = round(node.boot(), 1)
                state.phase = "booted"
            except BaseException as exc:  # noqa: BLE001 (re-raised after every boot ended)
                state.phase = "failed"
                errors.append(exc)
            self.save()

        nodes = [n for c in self.clusters for n in c.box.nodes]
        threads = [threading.Thread(target=boot, args=(n,), name=f"boot-{n.name}") for n in nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise RuntimeError(f"a node failed to boot: {str(errors[0]).splitlines()[0]}")
        self.state.namespaces = sorted({ns for c in self.clusters for ns in c.box.network.namespaces})
        self.save()

    def _add_application_address(self, vpc_cidr: str, staged: list[tuple[Forwarder, str, str, list[str]]]) -> None:
        """Clients' connections arrive from an address of the VPC (pg_hba admits the VPC CIDR, as the security
        groups do on EC2): the last usable address of the CIDR, on the PostgreSQL sandboxes' hub bridge, routed from
        each node. It exists only inside those namespaces; the host's network never sees it."""
        address = str(application_address(vpc_cidr))
        for cluster in self.clusters:
            if cluster.kind != "postgres":
                continue
            ip("-n", cluster.box.network.hub, "addr", "add", f"{address}/32", "dev", "br0")
            for node in cluster.box.nodes:
                if node.netns is None:
                    raise RuntimeError(f"{node.name}: booted without a network namespace")
                ip("-n", node.netns, "route", "add", f"{address}/32", "dev", "eth0")
        for forwarder, _, kind, _ in staged:
            if kind != "fixed":  # every PostgreSQL forwarder (writer, reader, a cluster's node)
                forwarder.source = address

    def _wait_ready(self, evaluation: Evaluation, moto: Any) -> None:
        cache = next(c for c in self.clusters if c.kind == "cache")
        admin = secret_json(moto, cache.secrets["admin"])
        secrets = moto.boto3_client("secretsmanager")

        def stored_ca() -> str:
            try:
                return str(secrets.get_secret_value(SecretId=cache.secrets["tls-ca-cert"]).get("SecretString", ""))
            except secrets.exceptions.ResourceNotFoundException:
                return ""

        (STATE_DIR / "cache-ca.pem").write_text(wait_for("the cache CA in Secrets Manager", stored_ca, READY_TIMEOUT))
        self.cache_admin = (admin["username"], admin["password"])
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.stop.is_set():
            self.refresh()
            waiting = [n.name for n in self.state.nodes if not n.healthy]
            leaders = {n.cluster for n in self.state.nodes if n.kind == "postgres" and n.role == "leader"}
            shards = {c.name for c in self.clusters if c.kind == "postgres"}
            if not waiting and leaders == shards:
                self._grant_monitoring()
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"not ready after {READY_TIMEOUT:.0f} s: {', '.join(waiting) or 'no leader'}")
            time.sleep(0.5)
        raise InterruptedError("stopped while waiting for the nodes")

    def _grant_monitoring(self) -> None:
        """The admin user gets pg_monitor, as RDS's master user has it (through rds_superuser): `scripts health`
        reads replication state and lag with it. The rendered post-bootstrap does not grant it (docs/local.md)."""
        for cluster in self.clusters:
            if cluster.kind != "postgres":
                continue
            admin = next(json.loads(v) for arn, v in cluster.secrets.items() if arn.endswith("-admin"))
            leader = next(n for n in cluster.box.nodes if self._node_state(n.name).role == "leader")
            argv = ["psql", "-X", "-p", str(cluster.port), "-d", "postgres", "-v", "ON_ERROR_STOP=1",
                    "-c", f'GRANT pg_monitor TO "{admin["username"]}"']  # fmt: skip
            leader.run(argv, user="postgres")

    def _sample_memory(self) -> None:
        """Summed RSS of the platform every second, from the preview on: `up`'s peak and the current figure."""
        while not self.stop.wait(1.0):
            processes, kib = platform_memory(_pid(), self.state.namespaces)
            mib = round(kib / 1024, 1)
            with self.lock:
                peak = max(mib, self.state.memory.get("peak_rss_mib", 0.0))
                self.state.memory = {"processes": processes, "rss_mib": mib, "peak_rss_mib": peak}

    # -- roles and health -------------------------------------------------------------------------------------
    def refresh(self) -> None:
        for cluster in self.clusters:
            for node in cluster.box.nodes:
                state = self._node_state(node.name)
                if not node.running():
                    state.role, state.healthy = "down", False
                elif cluster.kind == "postgres":
                    state.role, state.healthy = _patroni_role(cluster.box.network.hub, node.alias)
                else:
                    state.role, state.healthy = self._cache_role(cluster, node)
        self.state.checked_at = time.time()
        self.save()

    def _cache_role(self, cluster: Cluster, node: Node) -> tuple[str, bool]:
        import redis

        if self.cache_admin is None:
            return "-", False
        user, password = self.cache_admin
        try:
            with in_netns(cluster.box.network.hub):
                client = redis.Redis(
                    host=node.alias, port=cluster.port, username=user, password=password, ssl=True,
                    ssl_ca_certs=str(STATE_DIR / "cache-ca.pem"), ssl_check_hostname=False, socket_timeout=1,
                    socket_connect_timeout=1, decode_responses=True,
                )  # fmt: skip
                client.ping()
            role = str(client.info("replication")["role"])
            ok = str(client.execute_command("CLUSTER INFO")["cluster_state"]) == "ok"  # type: ignore[index]
            client.close()
            return ("master" if role == "master" else "replica"), ok
        except (redis.RedisError, OSError, KeyError, TypeError):
            return "down", False


def _patroni_role(netns: str, address: str) -> tuple[str, bool]:
    try:
        status, body = _patroni_get(netns, address, "/patroni")
    except OSError:
        return "down", False
    role = {"primary": "leader", "master": "leader"}.get(str(body.get("role")), str(body.get("role", "-")))
    return role, status == 200 and body.get("state") in ("running", "streaming")


@dataclass(frozen=True)
class PostgresPlan:
    """A PostgreSQL cluster the platform boots: a shard's stand-in (`postgres.shards[]`) or a self-hosted cluster
    (`selfhosted.clusters[]`), with the loopback addresses its writer and reader forwarders listen on."""

    section: str
    """`postgres` (a shard) or `selfhosted` (a cluster)."""
    name: str
    """Its name in the outputs (`cryb-dev-pg-00`, `analytics`)."""
    component: str
    """Its SelfHostedCluster in the preview (`cryb-dev-pg-00`, `cryb-prod-analytics`)."""
    port: int
    writer: str
    reader: str


def postgres_plans(evaluation: Evaluation) -> list[PostgresPlan]:
    """Every shard, then every self-hosted cluster of the stack (prod: `analytics`). Shard N listens on 127.1.N.1
    (writer) and .2 (reader), cluster I on 127.2.I.1 and .2."""
    plans = [
        PostgresPlan("postgres", s["name"], s["name"], int(s["port"]), writer_address(s["id"]), reader_address(s["id"]))
        for s in evaluation.outputs["postgres"]["shards"]
    ]
    clusters = (evaluation.outputs.get("selfhosted") or {}).get("clusters") or []
    components = [r.name for r in evaluation.of_type(SHARD_CLUSTER)]
    for index, cluster in enumerate(clusters):
        name = str(cluster["name"])
        # The primary-region cluster, as __main__.py names it (its DR standby, `cryb-<stack>-dr-<name>`, stays out).
        component = f"cryb-{evaluation.stack}-{name}"
        if component not in components:
            raise ValueError(f"selfhosted.clusters[{name}]: no SelfHostedCluster named {component!r} in the preview")
        plans.append(
            PostgresPlan("selfhosted", name, component, int(cluster["port"]), f"127.2.{index}.1", f"127.2.{index}.2")
        )
    return plans


def application_address(vpc_cidr: str) -> ipaddress.IPv4Address:
    """The address the application's connections come from: the VPC CIDR's last usable address."""
    network = ipaddress.IPv4Network(vpc_cidr)
    return network[-2]


def _alias(vpc_address: str) -> str:
    parts = vpc_address.split(".")
    return f"127.0.{parts[2]}.{parts[3]}"


def _bucket(user_data: str) -> str:
    conf = parse_cloud_config(decode_user_data(user_data)).file("/etc/pgbackrest/pgbackrest.conf").content
    match = re.search(r"^repo1-s3-bucket=(.+)$", conf, re.M)
    if not match:
        raise ValueError("pgbackrest.conf names no bucket")
    return match.group(1)


def _major(user_data: str) -> str:
    patroni = yaml.safe_load(
        parse_cloud_config(decode_user_data(user_data)).file("/etc/patroni/cryb/patroni.yml").content
    )
    return str(patroni["postgresql"]["bin_dir"]).rstrip("/").split("/")[-2]


def _analytics_backend(node: Node) -> str:
    path = node.path(BACKEND_FILE)
    return path.read_text().strip() if path.exists() else "none"  # a cluster without timescaledb tries nothing


def _pg_port(user_data: str) -> int:
    agent = json.loads(
        parse_cloud_config(decode_user_data(user_data)).file("/etc/cryb-db/credentials-agent.json").content
    )
    return int(agent["port"])


def _planned(evaluation: Evaluation, template: str) -> str:
    resource = next(r for r in evaluation.resources if r.name == template and r.type.endswith("LaunchTemplate"))
    return str(resource.inputs["tags"]["cache-node"])


def _pid() -> int:
    import os

    return os.getpid()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cryb-local-supervisor")
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args(argv)
    return Supervisor(args.stack, args.config).run()


if __name__ == "__main__":
    raise SystemExit(main())
