"""cloud-init of a self-hosted cache node: what it writes, what it runs, and that it never carries a secret."""

import base64
import gzip
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from components.cache.cloud_init import (
    BOOTSTRAP_SCRIPT,
    CONF_DIR,
    SETUP_SCRIPT,
    USER_DATA_LIMIT_BYTES,
    NodeBootInputs,
    ami_ssm_parameter,
    ca_request_token,
    encode_user_data,
    node_conf_inputs,
    node_role_policy,
    render_bootstrap_script,
    render_join_script,
    render_user_data,
)
from components.cache.cluster_plan import plan_cluster
from components.cache.redis_conf import acl_template, render_redis_conf

PLAN = plan_cluster(3, 1, ("us-east-1a", "us-east-1b", "us-east-1c"))
ENDPOINTS = [("127.0.0.1", 6379, 16379)] + [(f"10.20.32.{10 + i}", 6379, 16379) for i in range(1, 6)]
ARNS = {
    u: f"arn:aws:secretsmanager:us-east-1:123456789012:secret:cryb-db/c/{u}-AbC"
    for u in ("app", "reader", "admin", "replicator")
}
CONF = render_redis_conf(node_conf_inputs(6379, 16379, "r7g.large", "volatile-lru", 1))


def inputs(index: int = 0, bootstrap: str | None = None, join_script: str | None = None) -> NodeBootInputs:
    return NodeBootInputs(
        cluster_name="cryb-prod-cache",
        node_index=index,
        node_count=6,
        region="us-east-1",
        redis_conf=CONF,
        secret_arns=ARNS,
        tls_ca_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:cryb-db/c/tls-ca-XyZ",
        tls_ca_cert_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:cryb-db/c/tls-ca-cert-XyZ",
        engine_log_group="/cryb-db/cryb-prod-cache/engine-log",
        port=6379,
        bootstrap_script=bootstrap,
        join_script=join_script,
    )


def files_of(user_data: str) -> dict[str, dict[str, str]]:
    assert user_data.startswith("#cloud-config\n")
    document = yaml.safe_load(user_data)
    assert document["runcmd"] == [[SETUP_SCRIPT]]
    return {f["path"]: f for f in document["write_files"]}


def bash_syntax_ok(script: str, tmp_path: Path) -> None:
    path = tmp_path / "script.sh"
    path.write_text(script)
    done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr


def test_user_data_writes_the_rendered_conf_and_acl_template_verbatim() -> None:
    files = files_of(render_user_data(inputs(3)))
    assert files[f"{CONF_DIR}/node.conf"]["content"] == CONF
    assert files[f"{CONF_DIR}/users.acl.template"]["content"] == acl_template()
    assert files[SETUP_SCRIPT]["permissions"] == "0700"
    assert BOOTSTRAP_SCRIPT not in files  # only node 0 bootstraps
    unit = files["/etc/systemd/system/cryb-cache.service"]["content"]
    assert "User=valkey" in unit and f"{CONF_DIR}/node.conf" in unit and "Restart=always" in unit
    agent = json.loads(files["/opt/aws/amazon-cloudwatch-agent/etc/cryb-cache.json"]["content"])
    collected = agent["logs"]["logs_collected"]["files"]["collect_list"][0]
    assert collected["log_group_name"] == "/cryb-db/cryb-prod-cache/engine-log"


def test_setup_fetches_secrets_by_arn_and_never_holds_a_password(tmp_path: Path) -> None:
    files = files_of(render_user_data(inputs(3)))
    setup = files[SETUP_SCRIPT]["content"]
    # The credentials agent writes the ACL file and masterauth from the users' secrets, by ARN, at boot (--boot)
    # and on its timer; the setup script itself reads only admin's (the join and bootstrap log in as admin).
    config = json.loads(files[f"{CONF_DIR}/credentials-agent.json"]["content"])
    assert config["secrets"] == ARNS
    assert f"/usr/local/sbin/cryb-cache-credentials --config {CONF_DIR}/credentials-agent.json --boot" in setup
    assert ARNS["admin"] in setup and "get-secret-value" in setup
    assert "password" not in json.dumps(config)
    assert '--client-request-token "$CA_TOKEN"' in setup and ca_request_token("cryb-prod-cache") in setup
    assert "X-aws-ec2-metadata-token" in setup  # IMDSv2: a session token on every metadata call
    bash_syntax_ok(setup, tmp_path)


def test_node_zero_carries_the_bootstrap_and_runs_it(tmp_path: Path) -> None:
    script = render_bootstrap_script(PLAN, ENDPOINTS)
    files = files_of(render_user_data(inputs(0, script)))
    assert files[BOOTSTRAP_SCRIPT]["content"] == script
    assert BOOTSTRAP_SCRIPT in files[SETUP_SCRIPT]["content"]
    bash_syntax_ok(script, tmp_path)


def test_bootstrap_follows_the_plan() -> None:
    script = render_bootstrap_script(PLAN, ENDPOINTS)
    assert "HOSTS=(127.0.0.1 10.20.32.11 10.20.32.12 10.20.32.13 10.20.32.14 10.20.32.15)" in script
    assert script.count("CLUSTER MEET") == 5
    for master in PLAN.masters:
        assert master.slots is not None
        assert f"cli {master.index} CLUSTER ADDSLOTSRANGE {master.slots[0]} {master.slots[1]}" in script
    for replica in PLAN.replicas:
        assert f'cli {replica.index} CLUSTER REPLICATE "$(cli {replica.master} CLUSTER MYID)"' in script
    # Idempotent: a node 0 that already has slots (replaced, rebooted) does not bootstrap again.
    assert "cluster_slots_assigned" in script
    with pytest.raises(ValueError, match="5 endpoints for 6 planned nodes"):
        render_bootstrap_script(PLAN, ENDPOINTS[:5])


def test_user_data_stays_under_the_ec2_limit_or_says_so() -> None:
    text = render_user_data(inputs(0, render_bootstrap_script(PLAN, ENDPOINTS)))
    encoded = encode_user_data(text)  # gzip: cloud-init detects it; the launch template carries these bytes
    assert len(base64.b64decode(encoded)) < USER_DATA_LIMIT_BYTES
    assert gzip.decompress(base64.b64decode(encoded)).decode() == text
    big = plan_cluster(90, 5, ("a", "b", "c"))
    endpoints = [(f"10.0.{i // 250}.{i % 250}", 6379, 16379) for i in range(len(big.nodes))]
    with pytest.raises(ValueError, match="EC2 allows 16 KiB"):
        render_user_data(inputs(0, render_bootstrap_script(big, endpoints)))


def test_missing_secret_arn_is_an_error() -> None:
    broken = NodeBootInputs(**{**inputs().__dict__, "secret_arns": {"app": "arn:x"}})
    with pytest.raises(ValueError, match="admin, reader, replicator"):
        render_user_data(broken)


@pytest.mark.parametrize(
    ("instance_type", "arch"),
    [
        ("r7g.large", "arm64"),
        ("t4g.small", "arm64"),
        ("r6gd.xlarge", "arm64"),
        ("m5.large", "x86_64"),
        ("r7i.large", "x86_64"),
    ],
)
def test_ami_parameter_matches_the_architecture(instance_type: str, arch: str) -> None:
    assert ami_ssm_parameter(instance_type).endswith(f"al2023-ami-kernel-default-{arch}")


def test_ca_token_is_stable_per_cluster_and_a_valid_client_request_token() -> None:
    token = ca_request_token("cryb-prod-cache")
    assert token == ca_request_token("cryb-prod-cache") != ca_request_token("cryb-dev-cache")
    assert 32 <= len(token) <= 64


def test_node_role_is_least_privilege() -> None:
    log_arn = "arn:aws:logs:us-east-1:123456789012:log-group:/cryb-db/c/engine-log"
    ca = ["arn:ca", "arn:ca-cert"]
    policy = node_role_policy(list(ARNS.values()), ca, "arn:aws:kms:us-east-1:123456789012:key/k", log_arn, "us-east-1")
    statements = {s["Sid"]: s for s in policy["Statement"]}
    actions = sorted(
        a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )
    assert actions == sorted(
        [
            "secretsmanager:GetSecretValue",
            "secretsmanager:DescribeSecret",
            "secretsmanager:TagResource",
            "secretsmanager:PutSecretValue",
            "kms:Decrypt",
            "kms:GenerateDataKey",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "logs:DescribeLogStreams",
            "cloudwatch:PutMetricData",
        ]
    )
    # The credentials agent: stages and acknowledgement tags of the users' secrets only, and no tag but its own.
    assert statements["SeeRotationStages"]["Resource"] == list(ARNS.values())
    tagging = statements["AcknowledgeRotations"]
    assert tagging["Resource"] == list(ARNS.values())
    assert tagging["Condition"]["ForAllValues:StringLike"] == {"aws:TagKeys": ["cryb-rotation-*"]}
    assert statements["StoreTheClusterCaOnce"]["Resource"] == ca
    # The metrics agent: only into the cache namespace (PutMetricData has no resource-level permissions).
    assert statements["PutNodeMetrics"]["Condition"] == {"StringEquals": {"cloudwatch:namespace": "cryb-db/cache"}}
    assert statements["StoreTheClusterCaOnce"]["Resource"] == ca  # user secrets are read-only
    assert statements["DecryptSecretsThroughSecretsManager"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}
    }
    assert all(
        "*" not in json.dumps(s["Resource"])
        for s in policy["Statement"]
        if s["Sid"] not in ("ShipServerLog", "PutNodeMetrics")
    )
    assert statements["ShipServerLog"]["Resource"] == [log_arn, f"{log_arn}:*"]


def test_every_node_carries_a_join_script_naming_every_peer(tmp_path: Path) -> None:
    """The rejoin of a replaced node (run on the booted cluster in tests/real/sandbox/test_cache_nodes.py): valid
    bash naming every node's address and this node's index, run by the setup script before any bootstrap."""
    for index in (0, 3):
        script = render_join_script(PLAN, ENDPOINTS, index)
        path = tmp_path / f"join-{index}.sh"
        path.write_text(script)
        assert subprocess.run(["bash", "-n", str(path)], capture_output=True, timeout=10).returncode == 0
        assert f"SELF={index}\n" in script and all(host in script for host, _, _ in ENDPOINTS)
        assert "CLUSTER FORGET" in script and "CLUSTER REPLICATE" in script
        written = files_of(render_user_data(inputs(index, join_script=script)))
        setup = written["/usr/local/sbin/cryb-cache-setup"]["content"]
        assert setup.index("cryb-cache-join") < setup.index("if [ -x /usr/local/sbin/cryb-cache-bootstrap ]")
    with pytest.raises(ValueError, match="5 endpoints for 6 planned nodes"):
        render_join_script(PLAN, ENDPOINTS[:5], 0)
