"""The cache StatefulSet's files for real (`cache.engine: kubernetes`, no Kubernetes here): six redis-server processes
started by the pod entry point the ConfigMap ships (`start.sh`, verbatim), each from the node.conf the same function
renders (ports and paths substituted for loopback) and the ACL template, with passwords in files as the
ExternalSecret's Secret mounts them; then the cluster-forming Job's script (the EC2 bootstrap with `resolve_names`,
over `localhost` instead of the pods' DNS names) forms the cluster, and forms it again as a no-op. The pods'
metrics sidecar runs as rendered too: Debian's redis_exporter with the StatefulSet's exporter arguments and password.
"""

import dataclasses
import os
import re
import secrets
import shutil
import ssl
import string
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError

from components.cache.cloud_init import render_bootstrap_script
from components.cache.cluster_plan import CLUSTER_SLOTS, ClusterPlan, plan_cluster
from components.cache.redis_conf import TlsFiles, acl_users, render_redis_conf
from components.kubernetes import alert_rules, cache_cluster
from scripts.servers.ports import LOOPBACK, free_ports
from scripts.servers.process import ManagedProcess, chown_tree, make_workdir, remove_workdir, service_user
from tests.cache_workload_example import cache_workload

pytestmark = pytest.mark.servers
for _binary in ("redis-server", "redis-cli", "openssl", "getent", "prometheus-redis-exporter"):
    if shutil.which(_binary) is None:
        raise RuntimeError(f"{_binary} is not installed: run .ci/setup.sh (make setup)")

NAMESPACE = "cryb-db-data"
MEMORY_MIB = 1024  # a node's memory limit: maxmemory must be 768 MiB
POLICY = "allkeys-lfu"  # not the default: the setting must reach the server


def _password() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))


@dataclass
class Node:
    index: int
    port: int
    bus: int
    root: Path
    process: ManagedProcess | None = None


@dataclass
class Rig:
    plan: ClusterPlan
    nodes: list[Node]
    passwords: dict[str, str]
    tls: TlsFiles
    shared: Path

    def client(self, index: int, user: str = "admin") -> redis.Redis:
        return redis.Redis(
            host="localhost",
            port=self.nodes[index].port,
            username=user,
            password=self.passwords[user],
            ssl=True,
            ssl_ca_certs=self.tls.ca,
            decode_responses=True,
            socket_timeout=5,
        )

    def form(self) -> subprocess.CompletedProcess[str]:
        """The Job's script as form_script renders it, with each node's loopback port (pods share one port)."""
        script = render_bootstrap_script(
            self.plan, [("localhost", n.port, n.bus) for n in self.nodes], resolve_names=True
        )
        path = self.shared / "form-cluster.sh"
        path.write_text(script)
        env = {
            **os.environ,
            "REDISCLI_AUTH": self.passwords["admin"],
            "CACHE_CLI": "redis-cli",
            "CACHE_TLS_ARGS": f"--tls --cacert {self.tls.ca}",
            "CACHE_BOOTSTRAP_TIMEOUT": "60",
        }
        return subprocess.run(["bash", str(path)], env=env, capture_output=True, text=True, timeout=120)


def _certificates(directory: Path) -> TlsFiles:
    """A CA and one certificate for the pods' shared name (here `localhost`), as cert-manager issues one for
    `*.cache-nodes.<ns>.svc.cluster.local`."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)

    ca, key, crt = directory / "ca.crt", directory / "tls.key", directory / "tls.crt"
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(
        "req", "-x509", *ec, "-days", "1", "-subj", "/CN=test CA", "-keyout", str(directory / "ca.key"), "-out", str(ca)
    )
    openssl("req", *ec, "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(directory / "tls.csr"))
    (directory / "ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n"
    )
    openssl(
        "x509", "-req", "-in", str(directory / "tls.csr"), "-CA", str(ca), "-CAkey", str(directory / "ca.key"),
        "-CAcreateserial", "-days", "1", "-extfile", str(directory / "ext"), "-out", str(crt),
    )  # fmt: skip
    return TlsFiles(cert=str(crt), key=str(key), ca=str(ca))


def _start(rig: Rig, node: Node, user: object, *, passwords: dict[str, str] | None = None) -> ManagedProcess:
    files = cache_cluster.config_files(rig.plan, NAMESPACE, 6379, 16379, MEMORY_MIB, POLICY)
    conf, users, run, data = (node.root / d for d in ("conf", "users", "run", "data"))
    for directory in (conf, users, run, data):
        directory.mkdir(exist_ok=True)
    # The ConfigMap's files verbatim, but node.conf: the same renderer with this node's port, paths and loopback.
    (conf / "start.sh").write_text(files["start.sh"])
    (conf / "users.acl.template").write_text(files["users.acl.template"])
    inputs = dataclasses.replace(
        cache_cluster.node_conf_inputs(6379, 16379, MEMORY_MIB, POLICY, 1),
        port=node.port,
        cluster_port=node.bus,
        bind=LOOPBACK,
        data_dir=str(data),
        aclfile=str(run / "users.acl"),
        secrets_include=str(run / "secrets.conf"),
        tls=rig.tls,
    )
    (conf / "node.conf").write_text(render_redis_conf(inputs))
    for name, password in (passwords or rig.passwords).items():
        (users / name).write_text(password)  # as External Secrets writes a Secret key: the value, no newline
    chown_tree(node.root, user)  # type: ignore[arg-type]
    return ManagedProcess(
        f"cache-pod-{node.index}",
        ["sh", conf / "start.sh"],
        log_path=node.root / "server.log",
        cwd=node.root,
        user=user,  # type: ignore[arg-type]
        env={
            "CACHE_CONF_DIR": str(conf),
            "CACHE_USERS_DIR": str(users),
            "CACHE_RUN_DIR": str(run),
            "CACHE_SERVER": "redis-server",
            "POD_IP": LOOPBACK,
            "POD_HOST": "localhost",
        },
    )


def _answers(rig: Rig, index: int) -> bool:
    try:
        with rig.client(index) as client:
            return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, AuthenticationError):
        return False


def _wait(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    user = service_user("redis")
    shared = make_workdir("cryb-k8s-cache-", user)
    plan = plan_cluster(3, 1, ["az-a", "az-b", "az-c"])
    ports = free_ports(2 * len(plan.nodes))
    nodes = [
        Node(i, ports[2 * i], ports[2 * i + 1], make_workdir(f"cryb-k8s-cache-{i}-", user))
        for i in range(len(plan.nodes))
    ]
    tls = _certificates(shared)
    chown_tree(shared, user)
    built = Rig(plan, nodes, {u: _password() for u in acl_users()}, tls, shared)
    try:
        for node in nodes:
            node.process = _start(built, node, user)
        for node in nodes:
            _wait(lambda n=node: _answers(built, n.index), f"node {node.index} to answer")
        formed = built.form()
        assert formed.returncode == 0, f"{formed.stdout}\n{formed.stderr}"
        yield built
    finally:
        for node in nodes:
            if node.process:
                node.process.stop()
            remove_workdir(node.root)
        remove_workdir(shared)


def test_the_job_forms_the_planned_cluster(rig: Rig) -> None:
    for node in rig.nodes:
        with rig.client(node.index) as client:
            info: Any = client.cluster("info")
        assert info["cluster_state"] == "ok"
        assert int(info["cluster_slots_assigned"]) == CLUSTER_SLOTS
        assert int(info["cluster_known_nodes"]) == 6
    roles = []
    for node in rig.nodes:
        with rig.client(node.index) as client:
            role: Any = client.execute_command("ROLE")
            roles.append(role[0])
    assert roles == ["master" if n.role == "master" else "slave" for n in rig.plan.nodes]
    assert roles.count("master") == 3 and roles.count("slave") == 3


def test_forming_again_changes_nothing(rig: Rig) -> None:
    with rig.client(0) as client:
        before = client.execute_command("CLUSTER MYID")
    again = rig.form()
    assert again.returncode == 0, again.stderr
    assert "already has slots assigned; nothing to do" in again.stdout
    with rig.client(0) as client:
        assert client.execute_command("CLUSTER MYID") == before
        assert client.cluster("info")["cluster_state"] == "ok"


def test_nodes_announce_their_name_so_clients_verify_tls_against_it(rig: Rig) -> None:
    with rig.client(0) as client:
        slots: Any = client.execute_command("CLUSTER SLOTS")
    hosts = {row[2][0] for row in slots}
    assert hosts == {"localhost"}  # the pod's DNS name (POD_HOST), not its address
    cluster = redis.RedisCluster(
        host="localhost",
        port=rig.nodes[0].port,
        username="app",
        password=rig.passwords["app"],
        ssl=True,
        ssl_ca_certs=rig.tls.ca,
        decode_responses=True,
    )
    try:
        for i in range(48):
            cluster.set(f"session:{i}", str(i), ex=60)
        assert [cluster.get(f"session:{i}") for i in range(48)] == [str(i) for i in range(48)]
    finally:
        cluster.close()


def test_acl_users_come_from_the_secret_files(rig: Rig) -> None:
    with rig.client(0, "reader") as reader:
        with pytest.raises(NoPermissionError):
            reader.set("k", "v")
    with rig.client(0, "app") as app:
        with pytest.raises(NoPermissionError):
            app.execute_command("CONFIG", "GET", "maxmemory")
    with pytest.raises((AuthenticationError, ResponseError)):
        redis.Redis(host="localhost", port=rig.nodes[0].port, ssl=True, ssl_ca_certs=rig.tls.ca, socket_timeout=5).set(
            "k", "v"
        )
    acl = (rig.nodes[0].root / "run" / "users.acl").read_text()
    assert "@@SHA256" not in acl and rig.passwords["app"] not in acl
    assert (rig.nodes[0].root / "run" / "users.acl").stat().st_mode & 0o077 == 0


def test_rendered_settings_are_live(rig: Rig) -> None:
    with rig.client(3) as client:
        config = client.config_get("*")
    assert config["maxmemory"] == str(768 * 1024 * 1024)
    assert config["maxmemory-policy"] == POLICY
    assert config["port"] == "0"  # TLS only
    assert config["cluster-announce-hostname"] == "localhost"
    assert config["cluster-preferred-endpoint-type"] == "hostname"
    assert config["appendonly"] == "yes"


def _scrape(url: str, ca: str) -> dict[str, float]:
    """`name{labels}` -> value of a Prometheus text exposition, over verified TLS."""
    context = ssl.create_default_context(cafile=ca)
    with urllib.request.urlopen(url, context=context, timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)", line)
        if match and not line.startswith("#"):
            samples[match[1]] = float(match[2])
    return samples


def test_the_exporter_sidecar_reports_what_the_alerts_read(rig: Rig, tmp_path: Path) -> None:
    """The StatefulSet's exporter container as rendered (arguments, the ACL user and the Secret key of its password),
    run with Debian's redis_exporter against a replica node: it logs in over TLS, serves HTTPS with the node's
    certificate, and exports the metrics the cache alerts read (components/kubernetes/alert_rules.py) with the
    node's values. Only the node's name (`localhost`), port and file paths are substituted."""
    pod = cache_cluster.statefulset(cache_workload(NAMESPACE, MEMORY_MIB), "0" * 64)["spec"]["template"]["spec"]
    (exporter,) = [c for c in pod["containers"] if c["name"] == "exporter"]
    (password_ref,) = [e["valueFrom"]["secretKeyRef"] for e in exporter["env"] if e["name"] == "REDIS_PASSWORD"]
    assert password_ref["name"] == cache_cluster.USERS_SECRET
    assert f"--redis.user={password_ref['key']}" in exporter["args"]  # the password is that user's
    assert password_ref["key"] in acl_users()
    replica = next(n.index for n in rig.plan.nodes if n.role != "master")
    (listen,) = free_ports(1)
    substitutions = {
        "rediss://$(POD_HOST):6379": f"rediss://localhost:{rig.nodes[replica].port}",
        cache_cluster.TLS.ca: rig.tls.ca,
        cache_cluster.TLS.cert: rig.tls.cert,
        cache_cluster.TLS.key: rig.tls.key,
        f"--web.listen-address=:{cache_cluster.EXPORTER_PORT}": f"--web.listen-address={LOOPBACK}:{listen}",
    }
    args = list(exporter["args"])
    for old, new in substitutions.items():
        assert any(old in a for a in args), old  # the rendered arguments still say what the test replaces
        args = [a.replace(old, new) for a in args]
    env = {"PATH": os.environ["PATH"], "REDIS_PASSWORD": rig.passwords[password_ref["key"]]}
    log = tmp_path / "exporter.log"
    with log.open("w") as out:
        process = subprocess.Popen(["prometheus-redis-exporter", *args], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"https://localhost:{listen}/metrics"
        samples: dict[str, float] = {}

        def scraped() -> bool:
            nonlocal samples
            try:
                samples = _scrape(url, rig.tls.ca)
            except OSError:
                return False
            return "redis_up" in samples

        _wait(scraped, "the exporter to serve its metrics", 20)
    finally:
        process.terminate()
        process.wait(10)
    assert samples["redis_up"] == 1, log.read_text()[-2000:]
    assert samples["redis_cluster_state"] == 1
    assert samples["redis_memory_max_bytes"] == 768 * 1024 * 1024
    assert samples["redis_memory_used_bytes"] > 0
    assert samples["redis_connected_clients"] >= 1
    (link,) = [v for k, v in samples.items() if k.startswith("redis_master_link_up{")]
    assert link == 1
    assert not [k for k in samples if k.startswith("go_")]  # --redis-only-metrics
    # every redis_* metric the cache alerts read is one this exporter exports
    rules = alert_rules.cache_rules(NAMESPACE, cache_cluster.NAME, 6, alert_rules.AlertThresholds())
    read = {m for r in rules for m in re.findall(r"\bredis_[a-z_]+(?=\{)", r.expr)}
    assert read >= {"redis_up", "redis_cluster_state", "redis_memory_used_bytes", "redis_master_link_up"}
    assert read - {k.split("{")[0] for k in samples} == set()


def test_a_password_that_cannot_be_hashed_safely_stops_the_pod(rig: Rig, tmp_path: Path) -> None:
    user = service_user("redis")
    root = make_workdir("cryb-k8s-cache-bad-", user)
    port, bus = free_ports(2)
    node = Node(9, port, bus, root)
    try:
        process = _start(rig, node, user, passwords={**rig.passwords, "app": "bad password'"})
        _wait(lambda: not process.running(), "start.sh to exit", 10)
        assert process.popen.returncode != 0
        assert "the password of app must be letters and digits" in process.log_tail()
    finally:
        remove_workdir(root)


def test_a_killed_master_pod_comes_back_as_a_replica_from_its_volume(rig: Rig) -> None:
    """kill -9 of a master, as a node failure: its replica takes over; the pod restarted by its entry point from the
    same volume (nodes.conf, AOF) rejoins the cluster as a replica, with no Job run."""
    user = service_user("redis")
    master = rig.nodes[0]
    assert master.process is not None
    master.process.popen.kill()
    master.process.popen.wait(10)
    replica = next(n for n in rig.plan.nodes if n.master == 0).index

    def promoted() -> bool:
        with rig.client(replica) as client:
            role: Any = client.execute_command("ROLE")
            return role[0] == "master"

    _wait(promoted, f"node {replica} to take over", 30)
    master.process = _start(rig, master, user)
    _wait(lambda: _answers(rig, 0), "the restarted pod to answer")

    def rejoined() -> bool:
        with rig.client(0) as client:
            role: Any = client.execute_command("ROLE")
            info: Any = client.cluster("info")
            return role[0] == "slave" and info["cluster_state"] == "ok" and int(info["cluster_known_nodes"]) == 6

    _wait(rejoined, "the old master to rejoin as a replica", 30)
