"""The self-hosted cache cluster on loopback, for `bench cache-failover` (cache_failover.py) and the real-server tests.

`LocalCluster` starts one redis-server per node of a stack's cache config from the very redis.conf and ACL
file the ec2 engine renders (components/cache/redis_conf.py), with ports and paths substituted, and bootstraps it
with the very shell script node 0 runs on EC2 (components/cache/cloud_init.py). tests/real/test_redis_cluster.py
asserts on it; the benchmark kills a master and times the recovery against the 10 s target.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import string
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from tenacity import RetryError, Retrying, retry_if_exception_type, retry_if_result, stop_after_delay, wait_fixed

from components.cache.cloud_init import node_conf_inputs, render_bootstrap_script
from components.cache.cluster_plan import CLUSTER_SLOTS, ClusterPlan, plan_cluster
from components.cache.redis_conf import (
    TlsFiles,
    acl_template,
    acl_users,
    fill_acl_template,
    render_redis_conf,
    render_secrets_include,
)
from components.config import StackConfig, parse_stack_config
from scripts.preview.stack_files import read_stack_file, stack_file_path
from scripts.servers.ports import LOOPBACK, free_ports
from scripts.servers.process import (
    ManagedProcess,
    ServiceUser,
    chown_tree,
    make_workdir,
    remove_workdir,
    service_user,
)

SERVER_BIN, CLI_BIN = "redis-server", "redis-cli"


def stack_config(stack: str) -> StackConfig:
    return parse_stack_config(read_stack_file(stack_file_path(stack)).config)


def az_labels(config: StackConfig) -> list[str]:
    """Stand-in AZ names for the stack's AZ count: labels only, used for placement assertions."""
    return [f"az-{chr(ord('a') + i)}" for i in range(config.network.az_count)]


def _password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(40))


@dataclass(frozen=True)
class FailoverResult:
    killed: int
    promoted: int
    detected_s: float
    """Seconds from kill -9 until another master flags the node as failed."""
    recovered_s: float
    """Seconds from kill -9 until every slot is served again (see LocalCluster.recovered)."""


@dataclass
class LocalNode:
    index: int
    port: int
    bus_port: int
    workdir: Path
    process: ManagedProcess | None = None


class LocalCluster:
    """One redis-server per planned node on 127.0.0.1, every one stopped again by `close()`."""

    def __init__(self, config: StackConfig, tls: bool = False, workdir_prefix: str = "cryb-cache-") -> None:
        if shutil.which(SERVER_BIN) is None or shutil.which(CLI_BIN) is None:
            raise RuntimeError("redis-server/redis-cli not found; install the Debian package redis-server")
        self.config, self.tls = config, tls
        cache = config.cache
        self.plan: ClusterPlan = plan_cluster(cache.shards, cache.replicas_per_shard, az_labels(config))
        self.passwords = {user: _password() for user in acl_users()}
        self.user: ServiceUser | None = service_user("redis")
        self.shared = make_workdir(workdir_prefix + "shared-", self.user)
        self.nodes: list[LocalNode] = []
        self.tls_files: TlsFiles | None = None
        self._admin: dict[int, redis.Redis] = {}  # one connection per node for polling (TLS handshakes are costly)

    # -- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> None:
        cache = self.config.cache
        if self.tls:
            self.tls_files = self._make_certificates()
        acl = fill_acl_template(acl_template(), self.passwords)
        ports = free_ports(2 * len(self.plan.nodes))
        for node in self.plan.nodes:
            workdir = make_workdir(f"cryb-cache-{node.index}-", self.user)
            local = LocalNode(node.index, ports[2 * node.index], ports[2 * node.index + 1], workdir)
            self.nodes.append(local)
            # The conf the ec2 engine renders for this stack, with loopback ports and this node's paths.
            inputs = dataclasses.replace(
                node_conf_inputs(
                    cache.port,
                    cache.cluster_port,
                    cache.ec2_instance_type,
                    cache.maxmemory_policy,
                    cache.replicas_per_shard,
                ),
                port=local.port,
                cluster_port=local.bus_port,
                bind=LOOPBACK,
                data_dir=str(workdir),
                aclfile=str(workdir / "users.acl"),
                secrets_include=str(workdir / "secrets.conf"),
                logfile="",
                tls=self.tls_files,
            )
            (workdir / "redis.conf").write_text(render_redis_conf(inputs))
            (workdir / "users.acl").write_text(acl)
            (workdir / "secrets.conf").write_text(render_secrets_include(self.passwords["replicator"]))
            for name in ("users.acl", "secrets.conf"):
                os.chmod(workdir / name, 0o600)
            chown_tree(workdir, self.user)
        for local in self.nodes:
            local.process = ManagedProcess(
                f"cache-node-{local.index}",
                [SERVER_BIN, local.workdir / "redis.conf"],
                log_path=local.workdir / "server.log",
                cwd=local.workdir,
                user=self.user,
            )
        for local in self.nodes:
            self._wait(lambda n=local: self.ping(n.index), 15, f"node {local.index} to answer PING")

    def bootstrap(self) -> float:
        """Run node 0's rendered bootstrap script against the local nodes; returns its wall time."""
        script = render_bootstrap_script(self.plan, [(LOOPBACK, n.port, n.bus_port) for n in self.nodes])
        path = self.shared / "bootstrap.sh"
        path.write_text(script)
        env = {
            **os.environ,
            "REDISCLI_AUTH": self.passwords["admin"],
            "CACHE_CLI": CLI_BIN,
            "CACHE_TLS_ARGS": f"--tls --cacert {self.tls_files.ca}" if self.tls_files else "",
            "CACHE_BOOTSTRAP_TIMEOUT": "60",
        }
        started = time.perf_counter()
        done = subprocess.run(["bash", str(path)], env=env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"bootstrap failed (rc={done.returncode}):\n{done.stdout}\n{done.stderr}")
        return time.perf_counter() - started

    def close(self) -> None:
        for client in self._admin.values():
            client.close()
        self._admin.clear()
        for local in reversed(self.nodes):
            if local.process is not None:
                local.process.stop(timeout=5.0)
                local.process = None
            remove_workdir(local.workdir)
        remove_workdir(self.shared)

    def kill(self, index: int) -> None:
        """SIGKILL a node (its whole process group): a crash, not a shutdown."""
        local = self.nodes[index]
        if local.process is not None:
            local.process.kill()
            local.process = None
        admin = self._admin.pop(index, None)
        if admin is not None:
            admin.close()

    # -- clients ----------------------------------------------------------------------------------------------
    def client(self, index: int, user: str = "admin", **kwargs: Any) -> redis.Redis:
        local = self.nodes[index]
        params: dict[str, Any] = {
            "host": LOOPBACK,
            "port": local.port,
            "username": user,
            "password": self.passwords.get(user),
            "socket_timeout": 2,
            "socket_connect_timeout": 2,
            "decode_responses": True,
            "retry": Retry(NoBackoff(), 0),  # polling loops retry themselves
        }
        if self.tls_files:
            params.update(ssl=True, ssl_ca_certs=self.tls_files.ca)
        params.update(kwargs)
        return redis.Redis(**params)

    def cluster_client(self, user: str) -> redis.RedisCluster:
        """A cluster client as applications use one, seeded with the first live node."""
        seed = next(n for n in self.nodes if n.process is not None)
        params: dict[str, Any] = {
            "host": LOOPBACK,
            "port": seed.port,
            "username": user,
            "password": self.passwords[user],
            "decode_responses": True,
            "socket_timeout": 2,
        }
        if self.tls_files:
            params.update(ssl=True, ssl_ca_certs=self.tls_files.ca)
        return redis.RedisCluster(**params)

    def admin(self, index: int) -> redis.Redis:
        """A kept-open admin connection to node `index` (closed by `kill` and `close`)."""
        if index not in self._admin:
            self._admin[index] = self.client(index)
        return self._admin[index]

    def ping(self, index: int) -> bool:
        return bool(self.admin(index).ping())

    def info(self, index: int) -> dict[str, Any]:
        return cast(dict[str, Any], self.admin(index).execute_command("CLUSTER INFO"))

    def topology(self, index: int) -> dict[int, dict[str, Any]]:
        """CLUSTER NODES as seen from node `index`, keyed by our node index (matched on port)."""
        by_port = {n.port: n.index for n in self.nodes}
        raw = cast(dict[str, dict[str, Any]], self.admin(index).execute_command("CLUSTER NODES"))
        ids = {row["node_id"]: by_port[int(address.rsplit(":", 1)[1])] for address, row in raw.items()}
        rows: dict[int, dict[str, Any]] = {}
        for address, row in raw.items():
            flags = row["flags"].split(",")
            rows[by_port[int(address.rsplit(":", 1)[1])]] = {
                "role": "master" if "master" in flags else "replica",
                "failed": "fail" in flags or "fail?" in flags,
                "master": ids.get(row["master_id"]),
                "slots": [(int(r[0]), int(r[-1])) for r in row["slots"]],
            }
        return rows

    def serving_slots(self, index: int) -> int:
        """Slots owned by a master that node `index` does not consider failed."""
        return sum(
            end - start + 1
            for row in self.topology(index).values()
            if row["role"] == "master" and not row["failed"]
            for start, end in row["slots"]
        )

    # -- failover ---------------------------------------------------------------------------------------------
    def recovered(self, killed: int, replica: int) -> bool:
        """The killed master's replica is a master owning its slots, every live node says cluster_state:ok,
        and all 16384 slots are served by live masters (cluster-require-full-coverage is off, so the state
        alone stays `ok` while a shard is down)."""
        planned = self.plan.nodes[killed].slots
        live = [n.index for n in self.nodes if n.process is not None]
        view = self.topology(replica)
        if view[replica]["role"] != "master" or planned not in view[replica]["slots"]:
            return False
        return all(self.info(i).get("cluster_state") == "ok" and self.serving_slots(i) == CLUSTER_SLOTS for i in live)

    def measure_failover(self, killed: int = 0, timeout: float = 30.0) -> FailoverResult:
        """Kill master `killed`; seconds until its failure is agreed (FAIL flag) and until the cluster serves
        every slot again."""
        replica = self.plan.replicas_of(killed)[0].index
        observer = next(n.index for n in self.nodes if n.index not in (killed, replica))
        started = time.perf_counter()
        self.kill(killed)
        detected = self._wait(lambda: self.topology(observer)[killed]["failed"], timeout, "failure detection")
        recovered = self._wait(lambda: self.recovered(killed, replica), timeout, "recovery")
        return FailoverResult(killed, replica, detected - started, recovered - started)

    @staticmethod
    def _wait(check: Any, timeout: float, what: str) -> float:
        """Poll `check` every 50 ms until it is true (errors count as not yet); returns when it became true."""
        retrying = Retrying(
            stop=stop_after_delay(timeout),
            wait=wait_fixed(0.05),
            retry=retry_if_result(lambda ok: not ok)
            | retry_if_exception_type((redis.RedisError, OSError, KeyError, ValueError)),
        )
        try:
            retrying(lambda: bool(check()))
        except RetryError:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}") from None
        return time.perf_counter()

    # -- TLS --------------------------------------------------------------------------------------------------
    def _make_certificates(self) -> TlsFiles:
        """A throw-away CA and one loopback certificate (SAN 127.0.0.1), as cloud-init makes per node."""
        d = self.shared

        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)

        openssl(
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=test cache CA",
            "-keyout",
            str(d / "ca.key"),
            "-out",
            str(d / "ca.crt"),
        )
        openssl(
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(d / "node.key"),
            "-out",
            str(d / "node.csr"),
        )
        (d / "ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
        openssl(
            "x509",
            "-req",
            "-in",
            str(d / "node.csr"),
            "-CA",
            str(d / "ca.crt"),
            "-CAkey",
            str(d / "ca.key"),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            str(d / "ext"),
            "-out",
            str(d / "node.crt"),
        )
        os.chmod(d / "node.key", 0o600)
        chown_tree(d, self.user)
        return TlsFiles(cert=str(d / "node.crt"), key=str(d / "node.key"), ca=str(d / "ca.crt"))


@contextmanager
def local_cluster(stack: str = "prod", tls: bool = False) -> Iterator[LocalCluster]:
    """A started and bootstrapped cluster for `stack`'s cache config; always stopped and deleted on exit."""
    cluster = LocalCluster(stack_config(stack), tls=tls)
    try:
        cluster.start()
        cluster.bootstrap()
        yield cluster
    finally:
        cluster.close()
