"""The prod stack's `analytics` cluster, booted from its launch templates' user data exactly as the preview records
it (scripts/sandbox): bootstrap, WAL archiving and backups to S3 (moto), failover after kill -9 of the leader, and
point-in-time restore onto a fresh node. The scenarios run in order on one cluster (module fixture)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
import yaml

from scripts.local.aws import REGION, endpoint
from scripts.local.nodes import wait_for
from scripts.preview.mock_engine import Evaluation
from scripts.sandbox import Node, Sandbox
from scripts.sandbox.image import Image
from scripts.sandbox.node import CommandError
from scripts.sandbox.units import verify
from tests.real.sandbox.rendered import BootedCluster, booted_cluster

pytestmark = pytest.mark.servers

COMPONENT = "cryb-prod-analytics"
MAJORS = {"17": "15"}  # prod renders PostgreSQL 17; this machine has Debian 12's 15 (the image says so at boot)
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


def test_the_rendered_backup_unit_takes_a_full_backup_on_the_leader_only(cluster: BootedCluster) -> None:
    leader = wait_for("a leader", cluster.leader, timeout=30)
    replica = next(n for n in cluster.box.nodes if n is not leader)
    started = time.monotonic()
    leader.run(["systemctl", "start", "cryb-pgbackrest-backup@full.service"], timeout=180)
    MEASURED["full_backup_s"] = time.monotonic() - started
    replica.run(["systemctl", "start", "cryb-pgbackrest-backup@full.service"], timeout=60)  # skips: not leader
    info = cluster.pgbackrest(leader, "info")
    assert info.count("full backup:") == 1, info
    assert "status: ok" in info


def test_units_verify_with_systemd_analyze(cluster: BootedCluster) -> None:
    node = cluster.box.nodes[0]
    units = sorted(p.name for p in node.path("/etc/systemd/system").glob("cryb-*") if p.is_file())
    result = node.run(["systemd-analyze", "verify", "--root=/", *units], check=False)
    problems = [line for line in (result.stdout + result.stderr).splitlines() if "cryb-" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr
    assert verify  # the helper for a root directory; the node's own view is what ships


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
