"""cloud-init of a self-hosted node: RAID 0 of exactly the type's NVMe devices, XFS on /data, packages with the
TimescaleDB fallback, the rendered files written as rendered, no secret values, valid bash, under 16 KiB."""

import base64
import gzip
import json
import re
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.selfhosted.cloud_init import (
    ADDRESS_SCRIPT,
    BACKUP_SCRIPT,
    CREDENTIALS_AGENT,
    CREDENTIALS_AGENT_CONFIG,
    METRICS_NAMESPACE,
    PATRONI_CONFIG_DIR,
    PATRONI_YML,
    SECRET_KEYS,
    SETUP_SCRIPT,
    USER_DATA_LIMIT_BYTES,
    NodeBootInputs,
    encode_user_data,
    image_ssm_parameter,
    node_role_policy,
    render_user_data,
    shipped_credentials_agent,
)
from components.selfhosted.credentials_agent import ROTATION_TAG_PREFIX, agent
from components.selfhosted.credentials_agent.agent import AgentConfig
from components.selfhosted.patroni_config import (
    DcsTiming,
    etcd_environment,
    node_inputs,
    render_etcd_env_file,
    render_patroni_yml,
)
from components.selfhosted.rotation_function import handler as rotation_handler
from tests.components.monitoring.test_selfhosted_alarms import published_dimension_sets

HOSTS = ["10.20.64.10", "10.20.80.10", "10.20.96.10"]
ARNS = {key: f"arn:aws:secretsmanager:us-east-1:123456789012:secret:cryb-db/x/{key}-AbCdEf" for key in SECRET_KEYS}


def boot(instance_type: str = "i4i.xlarge", *, timescaledb: bool = True, proxy: str | None = None) -> NodeBootInputs:
    inputs = node_inputs(
        scope="analytics",
        hosts=HOSTS,
        node_index=1,
        instance_type=instance_type,
        postgres_major="17",
        synchronous_mode=True,
        synchronous_mode_strict=True,
        timing=DcsTiming(),
        timescaledb=timescaledb,
        client_cidrs=["10.20.0.0/16"],
    )
    node = inputs.node
    return NodeBootInputs(
        cluster="analytics",
        node_index=1,
        node_name=node.name,
        region="us-east-1",
        instance_type=instance_type,
        postgres_major="17",
        timescaledb=timescaledb,
        patroni_yml=render_patroni_yml(inputs),
        pgbackrest_conf="[global]\nrepo1-type=s3\n",
        etcd_env=render_etcd_env_file(etcd_environment(inputs.nodes, 1, data_dir="/data/etcd", cluster_token="t")),
        eni_id="eni-0123456789abcdef0",
        node_address=node.host,
        subnet_cidr="10.20.80.0/20",
        peer_etcd_client_urls=[n.etcd_client_url() for n in inputs.nodes if n.name != node.name],
        node_etcd_peer_url=node.etcd_peer_url(),
        secret_arns=ARNS,
        log_group="/cryb-db/cryb-prod-analytics/nodes",
        database_name="cryb",
        admin_user="cryb_admin",
        stanza="analytics",
        restapi_port=8008,
        cluster_nodes=[n.name for n in inputs.nodes],
        package_proxy=proxy,
    )


def files(boot_inputs: NodeBootInputs) -> dict[str, str]:
    document = yaml.safe_load(render_user_data(boot_inputs).split("\n", 1)[1])
    assert document["runcmd"] == [[SETUP_SCRIPT]]
    return {f["path"]: f["content"] for f in document["write_files"]}


def test_user_data_is_cloud_config_that_writes_the_rendered_files_verbatim() -> None:
    inputs = boot()
    text = render_user_data(inputs)
    assert text.startswith("#cloud-config\n")
    written = files(inputs)
    assert written[PATRONI_YML] == inputs.patroni_yml
    assert written["/etc/pgbackrest/pgbackrest.conf"] == inputs.pgbackrest_conf
    assert written["/etc/cryb-db/etcd.env"] == inputs.etcd_env
    assert "@@" not in text  # every placeholder filled


@pytest.mark.parametrize(("instance_type", "devices"), [("i4i.xlarge", 1), ("i4i.8xlarge", 2), ("i4i.16xlarge", 4)])
def test_nvme_devices_become_one_xfs_filesystem_on_data(instance_type: str, devices: int) -> None:
    setup = files(boot(instance_type))[SETUP_SCRIPT]
    assert f'[ "${{#DEVS[@]}}" -eq {devices} ]' in setup  # a missing device fails the boot loudly
    assert f"--level=0 --raid-devices={devices}" in setup
    assert f"if [ {devices} -gt 1 ]; then" in setup  # one device is formatted directly, no md array
    assert 'mkfs.xfs -f -K "$TARGET"' in setup
    assert "xfs $OPTIONS 0 2" in setup and "noatime,nofail" in setup
    assert "Amazon EC2 NVMe Instance Storage" in setup  # never the EBS root volume


def test_packages_include_the_stack_and_timescaledb_only_for_analytics() -> None:
    analytics = files(boot(timescaledb=True))[SETUP_SCRIPT]
    for package in ('"postgresql-$PG"', "patroni", "etcd-server", "pgbackrest", '"postgresql-$PG-partman"'):
        assert package in analytics
    assert "PG=17" in analytics
    assert "timescaledb-2-postgresql-$PG" in analytics
    assert "if [ true = true ] && [" in analytics
    assert "native range partitioning maintained by pg_partman" in analytics
    oltp = files(boot(timescaledb=False))[SETUP_SCRIPT]
    assert "if [ false = true ]; then" in oltp  # the TimescaleDB branches are off


def test_the_timescaledb_fallback_removes_it_from_the_rendered_patroni_yml(tmp_path: Path) -> None:
    """Run the fallback the node runs when the package cannot be installed, on the rendered file."""
    inputs = boot(timescaledb=True)
    setup = files(inputs)[SETUP_SCRIPT]
    snippet = re.search(r"python3 - <<'PY'\n(.*?)\nPY\n", setup, re.S)
    assert snippet is not None
    target = tmp_path / "patroni.yml"
    target.write_text(inputs.patroni_yml)
    code = snippet.group(1).replace(PATRONI_YML, str(target))
    subprocess.run(["python3", "-c", code], check=True, timeout=30)
    before, after = yaml.safe_load(inputs.patroni_yml), yaml.safe_load(target.read_text())
    assert before["postgresql"]["parameters"]["shared_preload_libraries"].startswith("timescaledb,")
    assert after["postgresql"]["parameters"]["shared_preload_libraries"] == "pg_stat_statements,auto_explain,pgaudit"
    assert "timescaledb.telemetry_level" not in after["bootstrap"]["dcs"]["postgresql"]["parameters"]
    before["postgresql"]["parameters"].pop("shared_preload_libraries")
    after["postgresql"]["parameters"].pop("shared_preload_libraries")
    before["bootstrap"]["dcs"]["postgresql"]["parameters"].pop("timescaledb.telemetry_level")
    assert after == before  # nothing else changed


def test_no_secret_value_only_arns_and_imdsv2() -> None:
    written = files(boot())
    text = "\n".join(written.values())
    for arn in ARNS.values():
        assert arn in text
    # At boot only the pgBackRest passphrase is fetched by the script; the agent writes every other password.
    assert re.findall(r"\$\(secret (\S+)\)", written[SETUP_SCRIPT]) == [ARNS["pgbackrest"]]
    agent_config = json.loads(written[CREDENTIALS_AGENT_CONFIG])
    keys = ("superuser", "replication", "rewind", "restapi", "admin", "app", "readonly", "monitor", "migrator")
    assert agent_config["secrets"] == {k: ARNS[k] for k in keys}  # the application roles rotate like the admin
    assert not re.search(r"PASSWORD=[A-Za-z0-9]", text)
    address = written[ADDRESS_SCRIPT]
    assert "curl -sf -X PUT http://169.254.169.254/latest/api/token" in address  # IMDSv2 token first
    assert "--network-interface-id eni-0123456789abcdef0" in address
    assert "ip rule add from 10.20.80.10 table 1001" in address
    assert "default via 10.20.80.1 " in address  # the subnet router: base address + 1


def test_a_replaced_node_rejoins_etcd_instead_of_forming_a_new_cluster() -> None:
    setup = files(boot())[SETUP_SCRIPT]
    assert "PEERS=http://10.20.64.10:2379,http://10.20.96.10:2379" in setup
    assert "member remove" in setup and "member add analytics-b --peer-urls=http://10.20.80.10:2380" in setup
    assert 'ETCD_INITIAL_CLUSTER_STATE="existing"' in setup


def test_backups_run_on_the_leader_only() -> None:
    backup = files(boot())[BACKUP_SCRIPT]
    assert "https://10.20.80.10:8008/primary || exit 0" in backup
    assert "--type=full backup" in backup and "--type=diff backup" in backup and "--type=incr backup" in backup


def test_incremental_backups_fall_between_the_daily_backups() -> None:
    """systemd's own calendar parser on the rendered timers: a Sunday has the full at 02:00, then 5 incrementals."""
    rendered = files(boot())
    enabled = rendered[SETUP_SCRIPT]
    calendars = {}
    for kind in ("full", "diff", "incr"):
        unit = rendered[f"/etc/systemd/system/cryb-pgbackrest-backup@{kind}.timer"]
        calendars[kind] = re.search(r"^OnCalendar=(.+)$", unit, re.M).group(1)  # type: ignore[union-attr]
        assert f"cryb-pgbackrest-backup@{kind}.timer" in enabled
    hours = {}
    for kind, calendar in calendars.items():
        result = subprocess.run(
            ["systemd-analyze", "calendar", "--iterations=12", "--base-time=2026-12-06 00:00:00 UTC", calendar],
            capture_output=True, text=True, timeout=10, env={"TZ": "UTC", "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        elapses = re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ (\d{4}-\d\d-\d\d \d\d):", result.stdout)
        hours[kind] = [e for e in elapses if e.startswith("2026-12-06")]  # a Sunday
    assert hours["full"] == ["2026-12-06 02"] and hours["diff"] == []
    assert hours["incr"] == [f"2026-12-06 {h:02d}" for h in (6, 10, 14, 18, 22)]


def test_the_package_proxy_is_used_only_when_given() -> None:
    assert "PROXY=http://proxy.internal:3128" in files(boot(proxy="http://proxy.internal:3128"))[SETUP_SCRIPT]
    assert "PROXY=''" in files(boot())[SETUP_SCRIPT]


def test_every_script_is_valid_bash(tmp_path: Path) -> None:
    for path, content in files(boot("i4i.8xlarge")).items():
        if content.startswith("#!/bin/bash"):
            script = tmp_path / Path(path).name
            script.write_text(content)
            result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=10)
            assert result.returncode == 0, f"{path}: {result.stderr}"


def test_user_data_is_gzipped_under_the_ec2_limit() -> None:
    text = render_user_data(boot("i4i.16xlarge"))
    encoded = encode_user_data(text)
    packed = base64.b64decode(encoded)
    assert len(packed) <= USER_DATA_LIMIT_BYTES
    assert gzip.decompress(packed).decode() == text
    assert encode_user_data(text) == encoded  # deterministic: no spurious launch-template versions
    with pytest.raises(ValueError, match="EC2 allows 16384"):
        encode_user_data(secrets.token_hex(20_000))  # incompressible


def test_the_image_follows_the_architecture_unless_a_baked_one_is_given() -> None:
    assert image_ssm_parameter("i4i.xlarge") == "/aws/service/debian/release/bookworm/latest/amd64"
    assert image_ssm_parameter("r7gd.xlarge") == "/aws/service/debian/release/bookworm/latest/arm64"
    assert image_ssm_parameter("r7gd.xlarge", "/cryb-db/images/pg") == "/cryb-db/images/pg"


def test_the_cloudwatch_agent_ships_the_logs_to_the_clusters_group() -> None:
    agent: dict[str, Any] = json.loads(files(boot())["/opt/aws/amazon-cloudwatch-agent/etc/cryb-pg.json"])
    targets = agent["logs"]["logs_collected"]["files"]["collect_list"]
    assert {t["log_group_name"] for t in targets} == {"/cryb-db/cryb-prod-analytics/nodes"}
    assert any(t["file_path"].startswith("/var/log/postgresql/") for t in targets)
    assert agent["metrics"]["metrics_collected"]["disk"]["resources"][0] == "/data"


def test_the_agent_publishes_memory_and_data_disk_by_auto_scaling_group() -> None:
    """The node alarms (tests/components/monitoring/test_selfhosted_alarms.py) watch {AutoScalingGroupName} and
    {AutoScalingGroupName, path}: no host or instance id, which would change with every replacement and split the
    series."""
    agent: dict[str, Any] = json.loads(files(boot())["/opt/aws/amazon-cloudwatch-agent/etc/cryb-pg.json"])
    assert agent["metrics"]["append_dimensions"] == {"AutoScalingGroupName": "${aws:AutoScalingGroupName}"}
    assert agent["agent"]["omit_hostname"] is True
    assert published_dimension_sets(agent, "mem_used_percent") == [frozenset({"AutoScalingGroupName"})]
    disk = published_dimension_sets(agent, "disk_used_percent")
    assert disk == [frozenset({"AutoScalingGroupName", "fstype", "path"}), frozenset({"AutoScalingGroupName", "path"})]
    # no roll-up to {AutoScalingGroupName} alone: it would average / and /data into a meaningless series
    assert [["AutoScalingGroupName", "path"]] == agent["metrics"]["aggregation_dimensions"]


def node_policy() -> dict[str, Any]:
    return node_role_policy(
        secret_arns=list(ARNS.values()),
        secrets_kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/secrets",
        log_group_arn="arn:aws:logs:us-east-1:123456789012:log-group:/cryb-db/x/nodes",
        eni_arns=["arn:aws:ec2:us-east-1:123456789012:network-interface/eni-a"],
        region="us-east-1",
        account_id="123456789012",
        cluster_tag=("cryb-db-cluster", "analytics"),
    )


def test_node_policy_is_scoped_to_the_clusters_own_resources() -> None:
    policy = node_policy()
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert all(s["Effect"] == "Allow" for s in statements.values())
    assert not any("*" in str(s["Action"]) for s in statements.values())
    assert statements["ReadClusterSecrets"]["Resource"] == list(ARNS.values())
    assert statements["DecryptSecretsThroughSecretsManager"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}
    }
    wildcard = [s for s in statements.values() if s["Resource"] == "*"]
    # no resource-level ARNs exist for these: metrics are scoped by namespace, tag reads by region
    assert [s["Sid"] for s in wildcard] == ["PutNodeMetrics", "ReadInstanceTagsForMetricDimensions"]
    assert statements["ReadInstanceTagsForMetricDimensions"]["Action"] == "ec2:DescribeTags"
    assert statements["ReadInstanceTagsForMetricDimensions"]["Condition"] == {
        "StringEquals": {"aws:RequestedRegion": "us-east-1"}
    }
    agent = json.loads(files(boot())["/opt/aws/amazon-cloudwatch-agent/etc/cryb-pg.json"])
    assert statements["PutNodeMetrics"]["Action"] == "cloudwatch:PutMetricData"
    assert statements["PutNodeMetrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": agent["metrics"]["namespace"]}
    }
    assert agent["metrics"]["namespace"] == METRICS_NAMESPACE != "CWAgent"  # not the account-wide default namespace
    assert statements["OnlyToThisClustersNodes"]["Condition"] == {
        "StringEquals": {"aws:ResourceTag/cryb-db-cluster": "analytics"}
    }


def test_the_credentials_agent_runs_at_boot_before_patroni_and_then_every_30_seconds() -> None:
    written = files(boot())
    setup = written[SETUP_SCRIPT]
    assert setup.index(f"{CREDENTIALS_AGENT} --config {CREDENTIALS_AGENT_CONFIG} --boot") < setup.index(
        "systemctl enable --now"
    )
    assert "cryb-pg-credentials.timer" in setup.split("systemctl enable --now", 1)[1]
    assert written[CREDENTIALS_AGENT] == shipped_credentials_agent()
    assert "ALTER ROLE" in written[CREDENTIALS_AGENT]
    assert "keep a Patroni node's credentials equal" not in written[CREDENTIALS_AGENT]  # the docstring stays home
    timer = written["/etc/systemd/system/cryb-pg-credentials.timer"]
    assert "OnUnitActiveSec=30" in timer
    service = written["/etc/systemd/system/cryb-pg-credentials.service"]
    assert f"ExecStart={CREDENTIALS_AGENT} --config {CREDENTIALS_AGENT_CONFIG}" in service
    patroni = written["/etc/systemd/system/cryb-patroni.service"]
    assert f"ExecStart=/usr/bin/patroni {PATRONI_CONFIG_DIR}\n" in patroni  # the directory: secrets.yml too
    assert "python3-boto3" in setup
    config = AgentConfig(**json.loads(written[CREDENTIALS_AGENT_CONFIG]))  # the agent accepts what is rendered
    assert (config.host, config.port, config.node) == ("10.20.80.10", 5432, "analytics-b")
    assert config.nodes == ["analytics-a", "analytics-b", "analytics-c"]
    assert config.restapi_url == "https://10.20.80.10:8008"
    assert config.patroni_secrets_file == f"{PATRONI_CONFIG_DIR}/secrets.yml"


def test_nodes_may_read_their_secrets_and_set_only_rotation_tags() -> None:
    policy = node_policy()
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["ReadClusterSecrets"]["Action"] == [
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
    ]
    tagging = statements["AcknowledgeRotations"]
    assert tagging["Action"] == "secretsmanager:TagResource" and tagging["Resource"] == list(ARNS.values())
    assert tagging["Condition"]["ForAllValues:StringLike"] == {"aws:TagKeys": [f"{ROTATION_TAG_PREFIX}*"]}
    assert ROTATION_TAG_PREFIX == agent.TAG_PREFIX == rotation_handler.TAG_PREFIX  # one spelling everywhere


def test_rendered_scripts_ship_without_comment_lines_but_keep_their_shebang() -> None:
    """Comments stay in the source; the node gets none (EC2 user data is limited to 16 KiB gzipped)."""
    written = files(boot())
    for path in (SETUP_SCRIPT, ADDRESS_SCRIPT):
        lines = written[path].splitlines()
        assert lines[0] == "#!/bin/bash"
        assert not [line for line in lines[1:] if line.lstrip().startswith("#")], path
    assert "set -a; . /etc/cryb-db/etcdctl.env; set +a" in written[SETUP_SCRIPT]  # code next to a comment stays
