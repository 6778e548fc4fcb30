"""The region-failover drill (docs/disaster-recovery.md#the-patroni-standby-cluster): prod's `analytics` cluster and
its DR standby cluster `cryb-prod-dr-analytics`, both booted from the preview's launch templates in two node
sandboxes (two networks that cannot reach each other, as two unpeered VPCs; the standby's nodes have DR-region
addresses and IMDS says us-west-2), moto standing in for S3 and Secrets Manager in both regions.

1. the primary boots, creates its stanza, takes the full backup the standby is seeded from;
2. a copier stands in for S3 replication: every second it copies the primary's repository prefix into the DR
   bucket (moto does not replicate; S3 RTC's lag is not simulated: in AWS add it to the RPO);
3. the standby cluster boots: its leader restores the primary's backup from the DR bucket and replays its archive,
   its replicas stream from it; it writes nothing to its own prefix;
4. a writer commits a row every 20 ms on the primary (each acknowledged row remembered with its commit time);
5. the primary region is lost: the copier stops and every primary node is killed -9 at the same moment;
6. the standby replays what reached the DR bucket, then `dr promote-region`'s cluster steps run (the REST calls
   made from inside a standby node: the only place its REST API is reachable from); a prober tries a write on
   every standby node every 50 ms.

RPO: the acknowledged rows missing on the promoted cluster, and the commit-time span they cover (loss time minus
the oldest missing row's commit). RTO: promotion request to the prober's first accepted write. Shared by
tests/real/sandbox/test_region_failover.py and `python -m scripts bench region-failover`."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import yaml

from components.selfhosted.patroni_config import ARCHIVE_TIMEOUT_SECONDS
from scripts.local.aws import REGION, seed_declared_secrets
from scripts.local.nodes import patroni_cluster, wait_for
from scripts.preview.mock_engine import Evaluation
from scripts.sandbox import AwsEndpoint, Node, Sandbox
from scripts.sandbox.aws import endpoint_names, write_endpoint_certificates
from scripts.sandbox.image import Image
from scripts.sandbox.preview import node_specs
from scripts.sandbox.userdata import decode_user_data, parse_cloud_config
from scripts.servers.moto_tls import DUMMY_AWS_ENV, MotoTlsServer, TlsFiles
from scripts.servers.ports import free_port
from scripts.servers.process import make_workdir

PRIMARY, STANDBY = "cryb-prod-analytics", "cryb-prod-dr-analytics"
DR_REGION = "us-west-2"
MAJORS = {"17": "15"}  # prod renders PostgreSQL 17; this machine has Debian 12's 15
COPY_INTERVAL_SECONDS = 1.0
WRITE_INTERVAL_SECONDS = 0.02
# The documented bound of repository shipping (docs/disaster-recovery.md): a segment is archived at the latest
# archive_timeout after its first write, pushed asynchronously (spool) and replicated; the copier adds its interval.
ARCHIVE_PUSH_ALLOWANCE_SECONDS = 10.0
RPO_BOUND_SECONDS = ARCHIVE_TIMEOUT_SECONDS + ARCHIVE_PUSH_ALLOWANCE_SECONDS + COPY_INTERVAL_SECONDS


@dataclass
class RegionFailoverResult:
    acknowledged: int
    """Rows the primary acknowledged before the loss."""
    missing: int
    """Acknowledged rows the promoted standby cluster does not have."""
    rpo_seconds: float
    """Loss time minus the commit time of the oldest missing acknowledged row (0 when none is missing)."""
    rto_seconds: float
    """Promotion request to the first write the promoted cluster accepted."""
    promote_seconds: float
    """Promotion request to a leader answering `/primary` (the `cluster-promote` step)."""
    catch_up_seconds: float
    """Loss to the standby having replayed everything that reached the DR bucket."""
    rpo_bound_seconds: float
    standby_prefix_before_promotion: int
    """Objects under the standby's own prefix before the promotion (backups off: 0)."""
    standby_archived_after_promotion: bool
    """The promoted cluster created its stanza in its own prefix and archived WAL there."""
    alarms_enabled: dict[str, bool]
    """Alarm name -> actions enabled after the promotion (the standby's, and another cluster's)."""
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    boot_seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "acknowledged": self.acknowledged,
            "missing": self.missing,
            "rpoSeconds": round(self.rpo_seconds, 2),
            "rpoBoundSeconds": self.rpo_bound_seconds,
            "rtoSeconds": round(self.rto_seconds, 2),
            "promoteSeconds": round(self.promote_seconds, 2),
            "catchUpSeconds": round(self.catch_up_seconds, 2),
            "standbyPrefixBeforePromotion": self.standby_prefix_before_promotion,
            "standbyArchivedAfterPromotion": self.standby_archived_after_promotion,
            "alarmsEnabled": sum(self.alarms_enabled.values()),
            "bootSeconds": {k: round(v, 1) for k, v in self.boot_seconds.items()},
        }


def _client(moto: MotoTlsServer, service: str, region: str) -> Any:
    import boto3

    return boto3.client(
        service, endpoint_url=moto.endpoint_url, region_name=region, verify=str(moto.ca_file),
        aws_access_key_id=DUMMY_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=DUMMY_AWS_ENV["AWS_SESSION_TOKEN"],
    )  # fmt: skip


def _files(node_spec: Any) -> Any:
    return parse_cloud_config(decode_user_data(node_spec.user_data))


def _conf(files: Any) -> dict[str, str]:
    text = files.file("/etc/pgbackrest/pgbackrest.conf").content
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


@contextmanager
def _moto(names: list[str]) -> Iterator[MotoTlsServer]:
    workdir = make_workdir("cryb-region-moto-", None)
    workdir.chmod(0o711)
    certificates = write_endpoint_certificates(workdir, names)
    server = MotoTlsServer(
        workdir, TlsFiles(certificates.ca_file, certificates.cert_file, certificates.key_file), free_port()
    )
    server.start_on_a_free_port()
    try:
        yield server
    finally:
        server.close()


class _Copier(threading.Thread):
    """S3 replication's stand-in: copies new or changed objects under `prefix` from one bucket to the other."""

    def __init__(self, s3: Any, source: str, destination: str, prefix: str) -> None:
        super().__init__(daemon=True)
        self.s3, self.source, self.destination, self.prefix = s3, source, destination, prefix
        self.stop = threading.Event()
        self.copied: dict[str, str] = {}

    def copy_once(self) -> int:
        count = 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.source, Prefix=f"{self.prefix}/"):
            for item in page.get("Contents", []):
                if self.stop.is_set():
                    return count
                if self.copied.get(item["Key"]) != item["ETag"]:
                    self.s3.copy_object(
                        Bucket=self.destination, Key=item["Key"], CopySource={"Bucket": self.source, "Key": item["Key"]}
                    )
                    self.copied[item["Key"]] = item["ETag"]
                    count += 1
        return count

    def run(self) -> None:
        while not self.stop.wait(COPY_INTERVAL_SECONDS):
            try:
                self.copy_once()
            except Exception as exc:  # noqa: BLE001 (a failed pass is retried, as replication retries)
                print(f"copier: {exc}", flush=True)


class _Writer(threading.Thread):
    """Commits one row every 20 ms on the primary leader; remembers each acknowledged row's commit time."""

    def __init__(self, connect: Callable[[], psycopg.Connection]) -> None:
        super().__init__(daemon=True)
        self.connect = connect
        self.stop = threading.Event()
        self.acknowledged: dict[int, float] = {}

    def run(self) -> None:
        next_id = 1
        with self.connect() as conn:
            conn.autocommit = True
            while not self.stop.is_set():
                try:
                    conn.execute("INSERT INTO drill_rows (id) VALUES (%s)", (next_id,))
                except psycopg.Error:
                    return  # the region is gone
                self.acknowledged[next_id] = time.time()
                next_id += 1
                time.sleep(WRITE_INTERVAL_SECONDS)


def curl_rest(node: Node, username: str, password: str) -> Any:
    """`PatroniRest` from inside a standby node (the drill's only way to its REST API): the same requests the CLI
    makes, credentials passed on stdin."""

    def call(method: str, address: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        argv = ["curl", "-sk", "--max-time", "5", "-K", "-", "-X", method, "-w", "\n%{http_code}"]
        if body is not None:
            argv += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
        argv.append(f"https://{address}:8008{path}")
        done = node.run(argv, check=False, input=f'user = "{username}:{password}"\n', timeout=15)
        if done.returncode != 0:
            raise ConnectionError(f"curl exit {done.returncode}: {done.stderr.strip()}")
        text, _, status = done.stdout.rpartition("\n")
        try:
            return int(status), json.loads(text) if text.strip() else None
        except json.JSONDecodeError:
            return int(status), text

    return call


def _socket_connect(node: Node, port: int, admin: dict[str, str], database: str) -> psycopg.Connection:
    return psycopg.connect(
        host=str(node.path("/var/run/postgresql")), port=port, user=admin["username"], password=admin["password"],
        dbname=database, connect_timeout=3,
    )  # fmt: skip


def _members(box: Sandbox) -> list[Any]:
    for node in box.nodes:
        if node.running():
            found = patroni_cluster(node)
            if found:
                return found
    return []


def _node_of(box: Sandbox, member: str) -> Node:
    return next(n for n in box.nodes if member.endswith(f"-{n.spec.key}"))


def run_region_failover(
    evaluation: Evaluation, workdir: Path, *, write_seconds: float = 15.0, log: Callable[[str], None] = print
) -> RegionFailoverResult:
    """The drill end to end; every sandbox and server is gone when it returns."""
    from scripts.dr.cluster_promotion import cluster_targets_from_outputs, promote_clusters
    from scripts.dr.promotion import PromotionSettings
    from scripts.dr.promotion_plan import Journal

    primary_specs = node_specs(evaluation, PRIMARY)
    standby_specs = node_specs(evaluation, STANDBY, DR_REGION)
    primary_files, standby_files = _files(primary_specs[0]), _files(standby_specs[0])
    primary_conf, standby_conf = _conf(primary_files), _conf(standby_files)
    primary_bucket, dr_bucket = primary_conf["repo1-s3-bucket"], standby_conf["repo1-s3-bucket"]
    source_prefix = primary_conf["repo1-path"].strip("/")
    own_prefix = standby_conf["repo1-path"].strip("/")
    agent = json.loads(primary_files.file("/etc/cryb-db/credentials-agent.json").content)
    database, port = agent["database"], int(agent["port"])
    scope = yaml.safe_load(primary_files.file("/etc/patroni/cryb/patroni.yml").content)["scope"]
    names = endpoint_names(REGION, [primary_bucket, dr_bucket]) + endpoint_names(DR_REGION, [primary_bucket, dr_bucket])
    result_steps: dict[str, dict[str, Any]] = {}
    boot: dict[str, float] = {}

    with ExitStack() as stack:
        moto = stack.enter_context(_moto(names))
        aws = AwsEndpoint(host="127.0.0.1", port=moto.port, names=tuple(names), ca_pem=moto.ca_file.read_bytes())
        s3 = _client(moto, "s3", REGION)
        s3.create_bucket(Bucket=primary_bucket)
        _client(moto, "s3", DR_REGION).create_bucket(
            Bucket=dr_bucket, CreateBucketConfiguration={"LocationConstraint": DR_REGION}
        )
        # Secrets: the primary's in its region; the same values replicated under the DR region's ARNs (Secrets
        # Manager replica regions); the standby's own etcd CA secret empty (its first node stores the CA).
        seeded = seed_declared_secrets(moto, evaluation, PRIMARY)
        dr_secrets = _client(moto, "secretsmanager", DR_REGION)
        for arn, value in seeded.items():
            dr_secrets.create_secret(Name=arn.replace(f":{REGION}:", f":{DR_REGION}:", 1), SecretString=value)
        rendered = "\n".join(f.content for f in standby_files.files)
        (etcd_ca,) = set(
            re.findall(rf"arn:aws:secretsmanager:{DR_REGION}:\d+:secret/{STANDBY}-etcd-ca[\w-]*", rendered)
        )
        dr_secrets.create_secret(Name=etcd_ca)
        secrets = {
            arn.rsplit("/", 1)[-1].removeprefix(f"{PRIMARY}-"): json.loads(value) for arn, value in seeded.items()
        }
        admin, restapi = secrets["admin"], secrets["restapi"]
        # The standby's alarms, declared with their actions off (as the preview declares them), and one of another
        # cluster that must stay off.
        cloudwatch = _client(moto, "cloudwatch", DR_REGION)
        for name in (f"{STANDBY}-node-a-cpu", f"{STANDBY}-no-writer", "cryb-prod-other-cpu"):
            cloudwatch.put_metric_alarm(
                AlarmName=name, Namespace="AWS/EC2", MetricName="CPUUtilization", Statistic="Average", Period=60,
                EvaluationPeriods=1, Threshold=90, ComparisonOperator="GreaterThanThreshold", ActionsEnabled=False,
                AlarmActions=[f"arn:aws:sns:{DR_REGION}:123456789012:cryb-prod-dr-alerts-warning"],
            )  # fmt: skip

        # 1. the primary
        primary = Sandbox(primary_specs, aws=aws, image=Image.debian_host(MAJORS), region=REGION)
        stack.callback(primary.close)
        primary.start()
        boot["primary"] = max(primary.boot_all().values())

        def primary_leader() -> Node | None:
            leader = next((m for m in _members(primary) if m.role == "leader" and m.state == "running"), None)
            return _node_of(primary, leader.name) if leader else None

        leader = wait_for("the primary's leader", primary_leader, timeout=240)
        pgbackrest = ["pgbackrest", "--config-path=/etc/pgbackrest", f"--stanza={scope}"]

        def stanza_created() -> bool:
            info = leader.run([*pgbackrest, "info"], user="postgres", check=False).stdout
            return "no valid backups" in info or "status: ok" in info

        wait_for("the primary's stanza (leader callback)", stanza_created, timeout=120, interval=2)
        with _socket_connect(leader, port, admin, database) as conn:
            conn.execute("CREATE TABLE drill_rows (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
            conn.commit()
        leader.run([*pgbackrest, "--type=full", "backup"], user="postgres", timeout=600)
        log("primary: leader up, full backup taken")

        # 2. replication of the repository into the DR bucket
        copier = _Copier(s3, primary_bucket, dr_bucket, source_prefix)
        copier.copy_once()
        copier.start()

        # 3. the standby cluster
        standby = Sandbox(standby_specs, aws=aws, image=Image.debian_host(MAJORS), region=DR_REGION)
        stack.callback(standby.close)
        standby.start()
        boot["standby"] = max(standby.boot_all().values())

        def standby_ready() -> bool:
            members = _members(standby)
            roles = sorted(m.role for m in members if m.state in ("running", "streaming"))
            return roles == ["replica"] * (len(standby.nodes) - 1) + ["standby_leader"]

        wait_for("a standby leader and streaming replicas", standby_ready, timeout=300, interval=2)
        log("standby cluster: standby leader and replicas up")

        def standby_leader() -> Node:
            member = next(m for m in _members(standby) if m.role == "standby_leader")
            return _node_of(standby, member.name)

        def own_prefix_objects() -> int:
            listing = s3.list_objects_v2(Bucket=dr_bucket, Prefix=f"{own_prefix}/")
            return int(listing.get("KeyCount", 0))

        # 4. the writer
        writer = _Writer(lambda: _socket_connect(leader, port, admin, database))
        writer.start()
        time.sleep(write_seconds)
        before_promotion = own_prefix_objects()

        # 5. the region is lost: its S3 stops replicating and its nodes die at the same moment
        copier.stop.set()
        lost_at = time.time()
        for node in primary.nodes:
            node.kill()
        writer.stop.set()
        writer.join(timeout=10)
        acknowledged = dict(writer.acknowledged)
        log(f"primary region lost: {len(acknowledged)} rows acknowledged")

        # 6. catch up with what reached the DR bucket, then promote
        def replayed_count() -> int:
            rows = standby_leader().run(
                ["psql", "-X", "-p", str(port), "-d", database, "-tAc", "SELECT count(*) FROM drill_rows"],
                user="postgres", check=False,
            )  # fmt: skip
            return int(rows.stdout.strip() or -1)

        stable_since, last = time.monotonic(), replayed_count()
        while time.monotonic() - stable_since < 5 and time.time() - lost_at < 120:
            time.sleep(0.5)
            now = replayed_count()
            if now != last:
                stable_since, last = time.monotonic(), now
        catch_up = time.time() - lost_at

        document = {
            "dr": {
                "clusters": [
                    {
                        "name": scope, "source": PRIMARY, "kind": "patroni-standby-cluster",
                        "standbyIdentifier": STANDBY, "region": DR_REGION,
                        "nodes": [{"name": f"{scope}-{n.spec.key}", "address": n.alias} for n in standby.nodes],
                        "port": port, "databaseName": database, "secretArn": "", "restApiSecretArn": "",
                        "writerEndpoint": "", "readerEndpoints": [""], "alarmPrefix": STANDBY,
                    }
                ]
            }
        }  # fmt: skip
        (target,) = cluster_targets_from_outputs(document)
        first_write: list[float] = []
        probing = threading.Event()

        def probe() -> None:
            while not probing.is_set() and not first_write:
                for node in standby.nodes:
                    try:
                        with _socket_connect(node, port, admin, database) as conn:
                            conn.execute("INSERT INTO drill_rows (id) VALUES (-1)")
                            conn.commit()
                        first_write.append(time.time())
                        return
                    except psycopg.Error:
                        continue
                time.sleep(0.05)

        prober = threading.Thread(target=probe, daemon=True)
        journal = Journal.load(workdir / "promotion.json")

        def check_writes(_: Any, member: str) -> None:
            with _socket_connect(_node_of(standby, member), port, admin, database) as conn:
                conn.execute("INSERT INTO drill_rows (id) VALUES (-2)")
                conn.commit()

        rest = curl_rest(standby.nodes[0], restapi["username"], restapi["password"])
        prober.start()
        promote_clusters(
            [target], rest=rest, clients=lambda service, region: _client(moto, service, region),
            check_writes=check_writes, journal=journal,
            settings=PromotionSettings(max_lag_seconds=300, poll_seconds=0.2, timeout_seconds=180),
            log=lambda step, **facts: log(f"{step} {facts}"),
        )  # fmt: skip
        prober.join(timeout=60)
        probing.set()
        promoted = journal.finished("cluster-promote", target.key) or {}
        for step in ("cluster-preflight", "cluster-promote", "cluster-alarms", "cluster-verify-writes"):
            result_steps[step] = journal.finished(step, target.key) or {}

        new_leader = _node_of(standby, str(promoted["leader"]))
        with _socket_connect(new_leader, port, admin, database) as conn:
            present = {row[0] for row in conn.execute("SELECT id FROM drill_rows WHERE id > 0")}
        missing = sorted(set(acknowledged) - present)
        rpo = lost_at - min(acknowledged[i] for i in missing) if missing else 0.0

        def archived_own() -> bool:
            keys = [
                o["Key"]
                for o in s3.list_objects_v2(Bucket=dr_bucket, Prefix=f"{own_prefix}/archive/").get("Contents", [])
            ]
            return any(k.endswith("archive.info") for k in keys) and any(
                re.search(r"/[0-9A-F]{8}\.history|/[0-9A-F]{24}", k) for k in keys
            )

        try:
            wait_for("the promoted cluster archiving into its own prefix", archived_own, timeout=120, interval=2)
            archived = True
        except TimeoutError:
            archived = False
        alarms = {a["AlarmName"]: a["ActionsEnabled"] for a in cloudwatch.describe_alarms()["MetricAlarms"]}
        return RegionFailoverResult(
            acknowledged=len(acknowledged),
            missing=len(missing),
            rpo_seconds=rpo,
            rto_seconds=(first_write[0] - promoted["requested_epoch"]) if first_write else float("nan"),
            promote_seconds=float(promoted["seconds"]),
            catch_up_seconds=catch_up,
            rpo_bound_seconds=RPO_BOUND_SECONDS,
            standby_prefix_before_promotion=before_promotion,
            standby_archived_after_promotion=archived,
            alarms_enabled=alarms,
            steps=result_steps,
            boot_seconds=boot,
        )
