"""The prod stack's `analytics` cluster, booted from its launch templates' user data exactly as the preview records
it (scripts/sandbox): bootstrap, WAL archiving and backups to S3 (moto), failover after kill -9 of the leader, and
point-in-time restore onto a fresh node. The scenarios run in order on one cluster (module fixture)."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from rich.console import Console

from scripts import PROJECT_DIR
from scripts.dr.connector import Endpoint
from scripts.dr.drill import run_drill
from scripts.dr.planning import DrillSettings, PatroniTarget, patroni_targets_from_outputs
from scripts.dr.scratch_node import RepoAccess, ScratchNode
from scripts.local.aws import REGION, endpoint
from scripts.local.nodes import wait_for
from scripts.preview.mock_engine import Evaluation
from scripts.sandbox import Node, Sandbox
from scripts.sandbox.image import Image
from scripts.sandbox.node import CommandError
from scripts.sandbox.units import verify
from scripts.servers.ports import free_port
from tests.real.sandbox.rendered import BootedCluster, booted_cluster, purpose_of

pytestmark = pytest.mark.servers

COMPONENT = "cryb-prod-analytics"
MAJORS = {"17": "15"}  # prod renders PostgreSQL 17; this machine has Debian 12's 15 (the image says so at boot)
ROLES = ("app", "readonly", "monitor", "migrator")
TTL, LOOP_WAIT = 20, 5  # the shipped timing (components/config/selfhosted.py), asserted below from the rendered file
MEASURED: dict[str, float] = {}


@pytest.fixture(scope="module")
def cluster(prod: Evaluation) -> Iterator[BootedCluster]:
    with booted_cluster(prod, COMPONENT, MAJORS) as booted:
        yield booted
    print("sandbox measurements:", {k: round(v, 1) for k, v in MEASURED.items()})


def _scalar(conn: psycopg.Connection, query: str) -> str:
    row = conn.execute(query).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return str(row[0])


def _healthy(cluster: BootedCluster) -> list[str] | None:
    members = cluster.members()
    roles = sorted(m.role for m in members if m.state == "running")
    return roles if roles == cluster.healthy_roles() else None


def test_three_nodes_boot_one_leader_and_two_synchronous_standbys(cluster: BootedCluster) -> None:
    # Two synchronous standbys on three nodes (patroni_config.synchronous_standby_count): what the nodes render.
    assert cluster.synchronous_standbys() == 2
    wait_for("a leader and two synchronous standbys", lambda: _healthy(cluster), timeout=90)
    leader = cluster.leader()
    assert leader is not None

    def streaming() -> bool:
        replicas = cluster.psql(leader, "SELECT state, sync_state FROM pg_stat_replication")
        return sorted(replicas) == cluster.healthy_replication()

    wait_for("two streaming replicas, both synchronous", streaming, timeout=60)
    MEASURED["bootstrap_s"] = time.monotonic() - cluster.booted_at
    with cluster.connect(leader) as conn:
        extensions = {row[0] for row in conn.execute("SELECT extname FROM pg_extension")}
        assert {"pg_stat_statements", "pg_partman", "pg_cron"} <= extensions
        admin = conn.execute("SELECT rolcanlogin, rolcreaterole FROM pg_roles WHERE rolname = current_user").fetchone()
        assert admin == (True, True)
        owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        ).fetchone()
        assert owner == (cluster.secrets["admin"]["username"],)
    # The credentials agent wrote what it read from Secrets Manager (moto), on every node.
    for node in cluster.box.nodes:
        secrets_file = node.path("/etc/patroni/cryb/secrets.yml").read_text()
        for purpose in ("superuser", "replication", "rewind", "restapi"):
            assert cluster.secrets[purpose]["password"] in secrets_file
        env = node.path("/etc/cryb-db/patroni.env").read_text()
        assert f"CRYB_ADMIN_PASSWORD={cluster.secrets['admin']['password']}" in env
        assert node.path("/etc/cryb-db/analytics-backend").read_text().strip() == "partman"


def test_bootstrap_creates_the_least_privilege_roles_and_audits_ddl(cluster: BootedCluster) -> None:
    """The rendered post_bootstrap creates app/readonly/monitor/migrator; the credentials agent sets each password
    from its own secret (moto); pgaudit logs DDL and role changes; connections are logged."""
    leader = wait_for("a leader", cluster.leader, timeout=30)

    def login(role: str) -> psycopg.Connection | None:
        try:
            return psycopg.connect(
                host=str(leader.path("/var/run/postgresql")), port=cluster.port, dbname=cluster.database,
                user=role, password=cluster.secrets[role]["password"], connect_timeout=3, autocommit=True,
            )  # fmt: skip
        except psycopg.OperationalError:
            return None

    conns = {role: wait_for(f"role {role} logging in with its secret", lambda r=role: login(r), 150) for role in ROLES}
    try:
        conns["migrator"].execute("CREATE TABLE app.sandbox_posts (id bigint PRIMARY KEY, body text)")
        conns["app"].execute("INSERT INTO app.sandbox_posts VALUES (1, 'hello')")
        assert conns["readonly"].execute("SELECT body FROM app.sandbox_posts").fetchall() == [("hello",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conns["app"].execute("DROP TABLE app.sandbox_posts")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conns["readonly"].execute("DELETE FROM app.sandbox_posts")
        member = conns["monitor"].execute("SELECT pg_has_role('monitor', 'pg_monitor', 'MEMBER')").fetchone()
        assert member == (True,)
    finally:
        for conn in conns.values():
            conn.close()

    def audited() -> bool:
        logs = "".join(p.read_text(errors="replace") for p in leader.path("/var/log/postgresql").glob("*.log"))
        return "AUDIT: SESSION" in logs and "CREATE TABLE app.sandbox_posts" in logs and "user=migrator" in logs

    wait_for("the DDL as a pgaudit AUDIT line and the migrator's connection in the leader's log", audited, 10)


def test_roles_apply_converges_on_the_roles_the_bootstrap_made(cluster: BootedCluster, tmp_path: Path) -> None:
    """`scripts roles apply` as the cluster's admin (the outputs contract, secrets in moto) on the roles the
    bootstrap created as the superuser: it succeeds (the admin holds them WITH ADMIN OPTION), twice, and the roles
    still log in with their secrets."""
    leader = wait_for("a leader", cluster.leader, timeout=30)
    client = cluster.moto.boto3_client("secretsmanager")
    # The nodes name their secrets by the preview's ARNs, which are the secrets' names in moto.
    arns = {purpose_of(s["Name"], COMPONENT): s["Name"] for s in client.list_secrets()["SecretList"]}
    entry = {
        "name": cluster.scope, "writerEndpoint": str(leader.path("/var/run/postgresql")), "port": cluster.port,
        "databaseName": cluster.database, "secretArn": arns["admin"],
        "roleSecretArns": {role: arns[role] for role in ROLES},
    }  # fmt: skip
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"selfhosted": {"clusters": [entry]}}))
    env = {**os.environ, "AWS_ENDPOINT_URL": cluster.moto.endpoint_url, "AWS_CA_BUNDLE": str(cluster.moto.ca_file),
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # fmt: skip
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "scripts", "roles", "apply", "--outputs", str(outputs), "--sslmode", "disable"],
            cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    for role in ROLES:
        with psycopg.connect(
            host=str(leader.path("/var/run/postgresql")), port=cluster.port, dbname=cluster.database, user=role,
            password=cluster.secrets[role]["password"], connect_timeout=3,
        ) as conn:  # fmt: skip
            assert conn.execute("SELECT current_user").fetchone() == (role,)


def test_the_metrics_agent_publishes_each_nodes_replication_lag(cluster: BootedCluster) -> None:
    """The rendered cryb-pg-metrics unit on every node: Patroni's REST API -> CloudWatch (moto), 0 on the leader."""
    wait_for("a healthy cluster", lambda: _healthy(cluster), timeout=60)
    leader = wait_for("a leader", cluster.leader, timeout=30)
    started = time.time()  # the timer's own first runs (OnBootSec=30) may have seen a replica still catching up
    for node in cluster.box.nodes:
        try:
            node.run(["systemctl", "start", "cryb-pg-metrics.service"], timeout=60)
        except CommandError:
            print(node.path("/var/lib/cryb-sandbox/journal/cryb-pg-metrics.service.log").read_text()[-3000:])
            raise
    cloudwatch = cluster.moto.boto3_client("cloudwatch")

    def published() -> dict[str, float] | None:
        found = {}
        for metric in cloudwatch.list_metrics(Namespace="cryb-db/selfhosted", MetricName="replication_lag_bytes")[
            "Metrics"
        ]:
            dimensions = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
            stats = cloudwatch.get_metric_statistics(
                Namespace="cryb-db/selfhosted", MetricName="replication_lag_bytes", Dimensions=metric["Dimensions"],
                StartTime=started - 1, EndTime=time.time() + 60, Period=60, Statistics=["Maximum"],
            )["Datapoints"]  # fmt: skip
            if stats:
                assert dimensions["Cluster"] == COMPONENT, dimensions
                found[dimensions["Node"]] = max(p["Maximum"] for p in stats)
        return found if len(found) == len(cluster.box.nodes) else None

    lags = wait_for("every node's replication lag in CloudWatch", published, timeout=30, interval=1)
    assert lags[cluster.member_of(leader)] == 0.0
    replicas = {name: lag for name, lag in lags.items() if name != cluster.member_of(leader)}
    assert len(replicas) == 2 and all(0 <= lag < 1024 * 1024 for lag in replicas.values()), lags


def test_rendered_parameters_are_known_to_the_installed_postgresql(cluster: BootedCluster) -> None:
    """The image serves 17's path with 15: a 17-only parameter would show up here, not be hidden."""
    leader = wait_for("a leader", cluster.leader, timeout=30)
    known = {row[0] for row in cluster.psql(leader, "SELECT name FROM pg_settings")}
    config = yaml.safe_load(leader.path("/etc/patroni/cryb/patroni.yml").read_text())
    names = set(config["bootstrap"]["dcs"]["postgresql"]["parameters"]) | set(config["postgresql"]["parameters"])
    unknown = sorted(n for n in names if n not in known and "." not in n)  # dotted: extension settings
    assert unknown == [], f"rendered parameters that PostgreSQL {MAJORS['17']} (serving 17) does not know: {unknown}"


def test_stanza_and_a_wal_segment_in_s3_within_60_s_of_bootstrap(cluster: BootedCluster) -> None:
    leader = wait_for("a leader", cluster.leader, timeout=30)
    wait_for("a WAL segment in the S3 repository", cluster.archived_wal, timeout=60, interval=1)
    MEASURED["wal_in_s3_after_boot_s"] = time.monotonic() - cluster.booted_at
    assert MEASURED["wal_in_s3_after_boot_s"] <= MEASURED.get("bootstrap_s", 0) + 60
    info = cluster.pgbackrest(leader, "info")
    assert "status: ok" in info or "status: error (no valid backups)" in info, info
    # The lock path is shared between units (defect 3): not under the private /tmp of the Patroni unit.
    assert "lock-path=/run/pgbackrest" in leader.path("/etc/pgbackrest/pgbackrest.conf").read_text()


def test_the_rendered_backup_units_take_a_full_then_an_incremental_on_the_leader_only(cluster: BootedCluster) -> None:
    leader = wait_for("a leader", cluster.leader, timeout=30)
    replica = next(n for n in cluster.box.nodes if n is not leader)
    started = time.monotonic()
    leader.run(["systemctl", "start", "cryb-pgbackrest-backup@full.service"], timeout=180)
    MEASURED["full_backup_s"] = time.monotonic() - started
    replica.run(["systemctl", "start", "cryb-pgbackrest-backup@full.service"], timeout=60)  # skips: not leader
    info = cluster.pgbackrest(leader, "info")
    assert info.count("full backup:") == 1, info
    assert "status: ok" in info
    # The incremental between the fulls, through the same rendered unit (its timer runs it every 4 h).
    with cluster.connect(leader) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS incr_rows AS SELECT generate_series(1, 1000) AS id")
    started = time.monotonic()
    leader.run(["systemctl", "start", "cryb-pgbackrest-backup@incr.service"], timeout=180)
    MEASURED["incr_backup_s"] = time.monotonic() - started
    info = cluster.pgbackrest(leader, "info")
    assert info.count("incr backup:") == 1, info
    incr = info.split("incr backup:", 1)[1]
    assert "backup reference list:" in incr, info  # it builds on the full: only changed files were copied


def test_units_verify_with_systemd_analyze(cluster: BootedCluster) -> None:
    node = cluster.box.nodes[0]
    units = sorted(p.name for p in node.path("/etc/systemd/system").glob("cryb-*") if p.is_file())
    result = node.run(["systemd-analyze", "verify", "--root=/", *units], check=False)
    problems = [line for line in (result.stdout + result.stderr).splitlines() if "cryb-" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr
    assert verify  # the helper for a root directory; the node's own view is what ships


ETCD_TLS = "/etc/cryb-db/etcd-tls"


def _etcdctl(node: Node, *args: str, check: bool = True) -> str:
    """etcdctl as an operator runs it on a node: with the rendered etcdctl.env (TLS, the member's certificate)."""
    script = 'set -a; . /etc/cryb-db/etcdctl.env; set +a; exec etcdctl "$@"'
    return node.run(["bash", "-c", script, "etcdctl", *args], check=check).stdout


def test_etcd_speaks_tls_to_peers_and_clients_and_requires_client_certificates(cluster: BootedCluster) -> None:
    wait_for("a leader", cluster.leader, timeout=30)
    node = cluster.box.nodes[0]
    address = node.alias
    # Every member is healthy over TLS, and the members know each other by https peer URLs.
    health = _etcdctl(node, "endpoint", "health", "--cluster", "-w", "json")
    assert [m["health"] for m in yaml.safe_load(health)] == [True, True, True], health
    members = yaml.safe_load(_etcdctl(node, "member", "list", "-w", "json"))["members"]
    assert len(members) == 3
    assert all(url.startswith("https://") for m in members for url in m["peerURLs"] + m["clientURLs"]), members
    # Patroni's leader lock lives in this etcd (Patroni reaches it over TLS with its own client certificate).
    leader_key = _etcdctl(node, "get", "--print-value-only", f"/cryb-db/{cluster.scope}/leader").strip()
    assert leader_key == cluster.member_of(wait_for("a leader", cluster.leader, timeout=30))
    # Without a client certificate of the cluster CA: refused. Plain HTTP: refused.
    no_cert = node.run(
        ["etcdctl", f"--endpoints=https://{address}:2379", f"--cacert={ETCD_TLS}/ca.crt", "--dial-timeout=3s",
         "--command-timeout=5s", "get", "/cryb-db/", "--prefix", "--keys-only"],
        check=False, env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert no_cert.returncode != 0 and "cryb-db" not in no_cert.stdout
    assert "certificate" in no_cert.stderr or "handshake" in no_cert.stderr or "deadline" in no_cert.stderr
    plain = node.run(["curl", "-s", "--max-time", "3", f"http://{address}:2379/version"], check=False)
    assert plain.returncode != 0 or "etcdserver" not in plain.stdout
    # A certificate from another CA is refused too.
    other = node.run(
        ["bash", "-c",
         "set -e; cd $(mktemp -d); openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
         "-subj /CN=intruder -keyout k -out c 2>/dev/null; "
         f"ETCDCTL_API=3 etcdctl --endpoints=https://{address}:2379 --cacert={ETCD_TLS}/ca.crt --cert=c --key=k "
         "--dial-timeout=3s --command-timeout=5s get /cryb-db/ --prefix --keys-only"],
        check=False,
    )  # fmt: skip
    assert other.returncode != 0 and "cryb-db" not in other.stdout
    # The keys are readable by their service only.
    for name, owner in (("member.key", "etcd"), ("patroni.key", "postgres")):
        key = node.path(f"{ETCD_TLS}/{name}").stat()
        assert oct(key.st_mode & 0o777) == "0o600" and pwd.getpwuid(key.st_uid).pw_name == owner


def test_etcd_certificates_near_expiry_are_renewed_without_a_restart(cluster: BootedCluster) -> None:
    """The member certificate is replaced by one of the same CA that expires tomorrow; the rendered renewal unit
    issues a 90-day one, and etcd serves it at the next handshake without a restart."""
    node = cluster.box.nodes[1]
    address = node.alias
    ca = json.loads(
        cluster.moto.boto3_client("secretsmanager").get_secret_value(SecretId=_etcd_ca_arn(cluster))["SecretString"]
    )
    work = node.path("/tmp/short-cert")
    work.mkdir(mode=0o700)
    (work / "ca.key").write_text(ca["key"])
    (work / "ext").write_text(f"subjectAltName=IP:{address},IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
    w = "/tmp/short-cert"
    node.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj",
              "/CN=short", "-keyout", f"{w}/key", "-out", f"{w}/csr"])  # fmt: skip
    node.run(["openssl", "x509", "-req", "-in", f"{w}/csr", "-CA", f"{ETCD_TLS}/ca.crt", "-CAkey", f"{w}/ca.key",
              "-CAcreateserial", "-CAserial", f"{w}/srl", "-days", "1", "-extfile", f"{w}/ext",
              "-out", f"{w}/crt"])  # fmt: skip
    etcd = _etcd_pid(node)
    node.run(["install", "-m", "0600", "-o", "etcd", "-g", "etcd", f"{w}/key", f"{ETCD_TLS}/member.key"])
    node.run(["install", "-m", "0644", "-o", "etcd", "-g", "etcd", f"{w}/crt", f"{ETCD_TLS}/member.crt"])

    def served_end() -> str:
        probe = node.run(
            ["bash", "-c",
             f"openssl s_client -connect {address}:2379 -CAfile {ETCD_TLS}/ca.crt -cert {ETCD_TLS}/member.crt "
             f"-key {ETCD_TLS}/member.key </dev/null 2>/dev/null | openssl x509 -noout -enddate"],
            check=False,
        )  # fmt: skip
        return probe.stdout.strip()

    short_end = node.run(["openssl", "x509", "-noout", "-enddate", "-in", f"{w}/crt"]).stdout.strip()
    wait_for("etcd serving the short-lived certificate", lambda: served_end() == short_end, timeout=10)
    node.run(["systemctl", "start", "cryb-etcd-certs.service"], timeout=120)
    wait_for("etcd serving a renewed certificate", lambda: served_end() not in ("", short_end), 10)
    renewed = served_end()
    # 90 days: more than 80 left; served at the next handshake by the same etcd process.
    node.run(["openssl", "x509", "-noout", "-checkend", str(80 * 86400), "-in", f"{ETCD_TLS}/member.crt"])
    assert renewed.startswith("notAfter=") and _etcd_pid(node) == etcd
    health = yaml.safe_load(_etcdctl(node, "endpoint", "health", "--cluster", "-w", "json"))
    assert [m["health"] for m in health] == [True, True, True]


def _etcd_pid(node: Node) -> int:
    found = [p for p in node.pids() if Path(f"/proc/{p}/comm").read_text().strip() == "etcd"]
    assert len(found) == 1, found
    return found[0]


def _etcd_ca_arn(cluster: BootedCluster) -> str:
    client = cluster.moto.boto3_client("secretsmanager")
    names = [s["ARN"] for s in client.list_secrets()["SecretList"] if s["Name"].endswith("-etcd-ca")]
    assert len(names) == 1, names
    return names[0]


class Writer(threading.Thread):
    """Commits one row per transaction through whichever node is the leader; records what was acknowledged."""

    def __init__(self, cluster: BootedCluster) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.acknowledged: list[int] = []
        self.stop = threading.Event()
        self.next_id = 0
        self.last_error = ""

    def _leader_connection(self) -> psycopg.Connection | None:
        for node in self.cluster.box.nodes:
            try:
                conn = self.cluster.connect(node, timeout=1)
            except psycopg.Error:
                continue
            if conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,):
                conn.commit()
                return conn
            conn.close()
        return None

    def run(self) -> None:
        conn: psycopg.Connection | None = None
        while not self.stop.is_set():
            try:
                conn = conn or self._leader_connection()
                if conn is None:
                    time.sleep(0.2)
                    continue
                self.next_id += 1
                conn.execute("INSERT INTO sandbox_writes (id) VALUES (%s)", (self.next_id,))
                conn.commit()
                self.acknowledged.append(self.next_id)
            except psycopg.Error as exc:
                self.last_error = repr(exc)
                conn = None
                time.sleep(0.1)
            time.sleep(0.01)


def print_node_logs(nodes: list[Node]) -> None:
    """What Patroni and PostgreSQL logged on each node: why a failover took as long as it did."""
    for node in nodes:
        print(f"==== {node.name}: Patroni")
        print("".join(p.read_text()[-6000:] for p in node.path("/var/log/patroni").glob("*.log")))
        print(f"==== {node.name}: PostgreSQL")
        print("".join(p.read_text()[-8000:] for p in node.path("/var/log/postgresql").glob("*.log")))


def test_kill_9_of_the_leader_fails_over_without_losing_a_commit_and_the_node_rejoins(cluster: BootedCluster) -> None:
    rendered = cluster.box.nodes[0].path("/etc/patroni/cryb/patroni.yml").read_text()
    assert f"ttl: {TTL}" in rendered and f"loop_wait: {LOOP_WAIT}" in rendered
    wait_for("a healthy cluster", lambda: _healthy(cluster), timeout=60)
    old = wait_for("a leader", cluster.leader, timeout=30)
    with cluster.connect(old) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS sandbox_writes (id bigint PRIMARY KEY, at timestamptz DEFAULT now())")
    writer = Writer(cluster)
    writer.start()
    wait_for("acknowledged writes", lambda: len(writer.acknowledged) > 20, timeout=30)
    killed_at = time.monotonic()
    old.kill()
    survivors = [n for n in cluster.box.nodes if n is not old]

    def new_leader() -> Node | None:
        for member in cluster.members(via=survivors[0]) or cluster.members(via=survivors[1]):
            if member.role == "leader" and member.state == "running" and member.name != cluster.member_of(old):
                return cluster.node_named(member.name)
        return None

    leader = wait_for("a new leader", new_leader, timeout=TTL + LOOP_WAIT + 30, interval=0.25)
    MEASURED["failover_s"] = time.monotonic() - killed_at
    acknowledged_before = len(writer.acknowledged)
    try:
        # Strict synchronous mode: a commit returns once the other synchronous standby follows the new leader, which
        # it does without a rewind (it is never ahead of the promoted one), within a Patroni loop or two.
        wait_for("writes on the new leader", lambda: len(writer.acknowledged) > acknowledged_before, timeout=75)
        MEASURED["writes_resumed_s"] = time.monotonic() - killed_at
        wait_for("more writes on the new leader", lambda: len(writer.acknowledged) > acknowledged_before + 10, 30)
    except AssertionError:
        print("members:", cluster.members(via=leader), "writer:", writer.last_error)
        print(cluster.psql(leader, "SELECT application_name, state, sync_state FROM pg_stat_replication"))
        print(cluster.psql(leader, "SELECT pid, state, wait_event, left(query, 60) FROM pg_stat_activity"))
        print(cluster.psql(leader, "SHOW synchronous_standby_names"))
        raise
    writer.stop.set()
    writer.join(timeout=10)
    # pgBackRest logs each command with its effective options (into the PostgreSQL log, as console output).
    logged = "".join(p.read_text() for n in survivors for p in n.path("/var/log/postgresql").glob("*.log"))
    gets = [line for line in logged.splitlines() if "archive-get command begin" in line]
    pushes = [line for line in logged.splitlines() if "archive-push command begin" in line]
    assert gets and not [line for line in gets if "--archive-async" in line]  # restore_command never waits on one
    assert pushes and all("--archive-async" in line for line in pushes)
    with cluster.connect(leader) as conn:
        present = {row[0] for row in conn.execute("SELECT id FROM sandbox_writes")}
    lost = sorted(set(writer.acknowledged) - present)
    MEASURED["commits_acknowledged"] = len(writer.acknowledged)
    MEASURED["commits_lost"] = len(lost)
    assert lost == []
    assert MEASURED["failover_s"] <= TTL + LOOP_WAIT + 5, MEASURED
    if MEASURED["writes_resumed_s"] > TTL + 3 * LOOP_WAIT + 10:
        print_node_logs(survivors)
    assert MEASURED["writes_resumed_s"] <= TTL + 3 * LOOP_WAIT + 10, MEASURED  # 45 s; 45-120 s with one sync standby
    # The old node restarts (a reboot: enabled units start) and rejoins as a replica of the new leader.
    old.boot()

    def rejoined() -> bool:
        member = next((m for m in cluster.members(via=leader) if m.name == cluster.member_of(old)), None)
        return member is not None and member.role in ("replica", "sync_standby") and member.state == "running"

    wait_for("the old leader to rejoin as a replica", rejoined, timeout=90, interval=1)
    with cluster.connect(old) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        wait_for(
            "the rejoined node to have every acknowledged row",
            lambda: set(writer.acknowledged) <= {r[0] for r in conn.execute("SELECT id FROM sandbox_writes")},
            timeout=30,
        )


def test_point_in_time_restore_onto_a_fresh_node_is_exact(cluster: BootedCluster, prod: Evaluation) -> None:
    leader = wait_for("a leader", cluster.leader, timeout=60)
    if "full backup:" not in cluster.pgbackrest(leader, "info"):  # run alone: the backup scenario did not run
        leader.run(["systemctl", "start", "cryb-pgbackrest-backup@full.service"], timeout=180)
    with cluster.connect(leader) as conn:
        conn.execute("CREATE TABLE pitr_rows (id int PRIMARY KEY)")
        conn.execute("INSERT INTO pitr_rows SELECT generate_series(1, 500)")
        conn.commit()
        time.sleep(1.1)
        target = _scalar(conn, "SELECT now()::text")
        time.sleep(1.1)
        conn.execute("INSERT INTO pitr_rows SELECT generate_series(501, 800)")
        conn.commit()
    segment = cluster.psql(leader, "SELECT pg_walfile_name(pg_switch_wal())")[0][0]  # superuser only
    wait_for(f"{segment} in the repository", lambda: any(segment in key for key in cluster.archived_wal()), 60, 1)
    # A fresh node from the same launch template, in a sandbox of its own (its own network: same address).
    spec = cluster.box.nodes[0].spec
    aws = endpoint(cluster.moto, [cluster.bucket])
    with Sandbox([spec], aws=aws, image=Image.debian_host(MAJORS), region=REGION) as fresh_box:
        fresh = fresh_box.nodes[0]
        fresh.boot(start_units=False)  # the user data runs; its units stay held while the operator restores
        started = time.monotonic()
        cluster.pgbackrest(
            fresh, "--type=time", f"--target={target}", "--target-action=promote", "--archive-mode=off", "restore"
        )
        data_dir = "/data/postgresql/data"
        pg_ctl = ["/usr/lib/postgresql/17/bin/pg_ctl", "-D", data_dir]
        try:  # -l: the server must not hold this command's output pipe open
            # Socket only: the restored configuration is the backed-up leader's, which listens on that node's address.
            start = [*pg_ctl, "-l", "/var/log/postgresql/restore.log", "-o", "-c listen_addresses=''", "-w", "start"]
            fresh.run(start, user="postgres")
        except CommandError:
            for log in sorted(fresh.path("/var/log/postgresql").glob("*.log")):
                print(f"--- {log.name}\n{log.read_text()[-3000:]}")
            raise
        wait_for(
            "the restored node to finish recovery",
            lambda: fresh.run(["psql", "-tAc", "SELECT pg_is_in_recovery()"], user="postgres").stdout.strip() == "f",
            timeout=60,
        )
        MEASURED["pitr_restore_s"] = time.monotonic() - started
        rows = fresh.run(
            ["psql", "-d", cluster.database, "-tAc", "SELECT count(*), min(id), max(id) FROM pitr_rows"],
            user="postgres",
        ).stdout.strip()
        MEASURED["pitr_rows"] = float(rows.split("|")[0])
        assert rows == "500|1|500"  # every row committed before the target, none after
        fresh.run([*pg_ctl, "-m", "fast", "stop"], user="postgres")


def test_dr_drill_restores_the_cluster_into_a_scratch_node_and_reports_rto_and_rpo(
    cluster: BootedCluster, prod: Evaluation, tmp_path: Path
) -> None:
    """`dr-drill`'s Patroni path on the booted cluster: the target from prod's outputs, the marker and ticks through
    the admin role, pgBackRest restore from the cluster's S3 repository (moto) into a scratch node on this host,
    verification, and the same report as RDS. The admin role may not switch WAL; a busy primary would fill segments,
    here a superuser on the node switches every second so the test does not wait archive_timeout (60 s)."""
    leader = wait_for("a leader", cluster.leader, timeout=60)
    if "backup:" not in cluster.pgbackrest(leader, "info"):  # run alone: the backup scenario did not run
        leader.run(["systemctl", "start", "cryb-pgbackrest-backup@full.service"], timeout=180)
    (target,) = patroni_targets_from_outputs(prod.outputs, "analytics")
    assert (target.stanza, target.prefix, target.bucket) == (cluster.scope, cluster.repo_path, cluster.bucket)
    ca_file = Path(tempfile.mkdtemp(prefix="cryb-dr-ca-")) / "ca.pem"  # readable by the scratch node's postgres
    shutil.copyfile(cluster.moto.ca_file, ca_file)
    ca_file.parent.chmod(0o755)
    ca_file.chmod(0o644)
    scratch_dirs: list[Path] = []

    def scratch(t: PatroniTarget) -> ScratchNode:
        node = ScratchNode(
            t,
            passphrase=cluster.secrets["pgbackrest"]["password"],
            access=RepoAccess("testing", "testing", endpoint=f"localhost:{cluster.moto.port}", uri_style="path",
                              ca_file=str(ca_file)),
            pg_bin=Path(f"/usr/lib/postgresql/{MAJORS['17']}/bin"),
            port=free_port(),
        )  # fmt: skip
        scratch_dirs.append(node.work)
        return node

    def connect(endpoint: Endpoint) -> psycopg.Connection:
        assert endpoint.role == "primary" and endpoint.secret_arn == target.secret_arn
        current = wait_for("a leader", cluster.leader, timeout=30)
        conn = cluster.connect(current)
        conn.autocommit = True
        return conn

    stop = threading.Event()

    def switch_wal() -> None:
        while not stop.wait(1.0):
            node = cluster.leader()
            if node is not None:
                node.run(["psql", "-X", "-p", str(cluster.port), "-tAc", "SELECT pg_switch_wal()"], user="postgres",
                         check=False)  # fmt: skip

    switcher = threading.Thread(target=switch_wal, daemon=True)
    switcher.start()
    settings = DrillSettings(settle_seconds=1.0, tick_interval_seconds=0.05, poll_seconds=0.5,
                             restorable_timeout_seconds=90, available_timeout_seconds=180)  # fmt: skip
    try:
        report, markdown, document = run_drill(
            [], rds=None, connect=connect, settings=settings, report_dir=tmp_path, console=Console(width=200),
            region=REGION, outputs_file="prod preview", patroni=[target], scratch=scratch,
        )  # fmt: skip
    finally:
        stop.set()
        switcher.join(timeout=10)
    (result,) = report.shards
    assert result.status == "passed", (result.error, result.verification)
    assert result.verification and result.verification["marker_found"]
    assert result.verification["ticks_expected_present"] > 0 and result.verification["ticks_expected_absent"] > 0
    assert result.rto_seconds is not None and result.rpo_seconds is not None and result.cleanup == "deleted"
    assert scratch_dirs and not scratch_dirs[0].exists()
    MEASURED["dr_drill_rto_s"], MEASURED["dr_drill_rpo_s"] = result.rto_seconds, result.rpo_seconds
    summary = json.loads(document.read_text())["summary"]
    assert summary["passed"] == 1 and summary["maxRtoSeconds"] == result.rto_seconds
    assert "| analytics | passed |" in markdown.read_text()


def test_every_rendered_file_is_used_or_skipped(cluster: BootedCluster) -> None:
    """A file the program renders for a node that no scenario used and no skip names would escape the sandbox."""
    nodes = cluster.box.nodes
    # The credentials timer (OnBootSec=60) runs the agent's unit: wait for its first run if the scenarios were quicker.
    wait_for(
        "the credentials timer to run the agent",
        lambda: any("cryb-pg-credentials.service" in node.services.activated for node in nodes),
        timeout=max(5.0, 90 - (time.monotonic() - cluster.booted_at)),
    )
    skipped = {skip.name for skip in nodes[0].image.skips}
    rendered = {written.path for node in nodes for written in node.config.files}
    used = set().union(*(node.used_files() for node in nodes))  # post_bootstrap runs on one node only, by design
    unaccounted = sorted(rendered - used - skipped - {f"/etc/systemd/system/{s}" for s in skipped})
    assert unaccounted == []
