"""The cache nodes' credentials agent (components/cache/credentials_agent/agent.py): its pure decisions, without mocks
(which passwords a user accepts, the ACL file and masterauth it writes, when it acknowledges), and the agent file as
cloud-init ships it. The agent against real nodes: tests/real/sandbox/test_cache_nodes.py."""

import hashlib
import json
from pathlib import Path

import pytest

from components.cache.cloud_init import (
    CREDENTIALS_AGENT,
    CREDENTIALS_AGENT_CONFIG,
    NodeBootInputs,
    credentials_agent_config,
    render_user_data,
)
from components.cache.credentials_agent import AGENT_FILE
from components.cache.credentials_agent import agent as credentials
from components.cache.node_rotation_function import handler as rotation_handler
from components.cache.redis_conf import acl_template
from components.rotation.acknowledged import TAG_PREFIX

NODES = ["s0-master", "s1-master", "s0-replica1"]
OLD, NEW = "A" * 40, "B" * 40


def sha(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def secret(
    user: str = "app", pending: str | None = None, version: str | None = None, **tags: str
) -> credentials.UserSecret:
    return credentials.UserSecret(user, f"arn:{user}", OLD, pending, version, dict(tags))


def test_a_user_accepts_the_current_password_and_during_a_rotation_the_pending_one_too() -> None:
    assert credentials.accepted_hashes(secret()) == [sha(OLD)]
    assert credentials.accepted_hashes(secret(pending=NEW, version="v2")) == [sha(OLD), sha(NEW)]
    assert credentials.accepted_hashes(secret(pending=OLD, version="v2")) == [sha(OLD)]  # one password, once


def test_stages_name_the_pending_version_only_while_it_is_another_one() -> None:
    assert credentials.stage_versions({"v1": ["AWSCURRENT"], "v2": ["AWSPENDING"]}) == ("v1", "v2")
    # After finishSecret Secrets Manager may leave AWSPENDING on the new current version: nothing is pending.
    assert credentials.stage_versions({"v1": ["AWSPREVIOUS"], "v2": ["AWSCURRENT", "AWSPENDING"]}) == ("v2", None)
    with pytest.raises(credentials.AgentError, match="no AWSCURRENT"):
        credentials.stage_versions({"v2": ["AWSPENDING"]})


def test_the_acl_file_holds_every_accepted_hash_and_nothing_else() -> None:
    hashes = {user: [sha(OLD)] for user in credentials.USERS}
    hashes["app"] = [sha(OLD), sha(NEW)]
    text = credentials.render_acl_file(acl_template(), hashes)
    app = next(line for line in text.splitlines() if line.startswith("user app "))
    assert f"resetpass #{sha(OLD)} #{sha(NEW)} " in app
    reader = next(line for line in text.splitlines() if line.startswith("user reader "))
    assert reader.count("#") == 1 and sha(OLD) in reader
    assert "@@" not in text and OLD not in text and NEW not in text
    assert text.splitlines()[0] == "user default off resetpass resetkeys resetchannels -@all"
    with pytest.raises(credentials.AgentError, match="no password placeholder for replicator"):
        credentials.render_acl_file(acl_template().replace("@@SHA256:replicator@@", "x"), hashes)


def test_masterauth_follows_a_pending_password_only_once_every_node_accepts_it() -> None:
    acknowledged = {f"{TAG_PREFIX}{node}": "v2" for node in NODES}
    assert credentials.masterauth(secret("replicator"), NODES) == OLD
    one_short = {k: v for k, v in acknowledged.items() if not k.endswith("s0-replica1")}
    assert credentials.masterauth(secret("replicator", NEW, "v2", **one_short), NODES) == OLD
    stale = {k: "v1" for k in acknowledged}  # acknowledgements of an earlier version do not count
    assert credentials.masterauth(secret("replicator", NEW, "v2", **stale), NODES) == OLD
    assert credentials.masterauth(secret("replicator", NEW, "v2", **acknowledged), NODES) == NEW
    assert credentials.render_secrets_include(NEW) == f'masterauth "{NEW}"\n'
    with pytest.raises(credentials.AgentError, match="without quotes"):
        credentials.render_secrets_include('a"b')


def test_a_node_acknowledges_a_pending_version_once_its_server_accepts_it_and_only_once() -> None:
    pending = secret(pending=NEW, version="v2")
    assert credentials.acknowledgement("s0-master", pending, {sha(OLD)}) == {}  # not applied yet
    assert credentials.acknowledgement("s0-master", pending, {sha(OLD), sha(NEW)}) == {f"{TAG_PREFIX}s0-master": "v2"}
    done = secret(pending=NEW, version="v2", **{f"{TAG_PREFIX}s0-master": "v2"})
    assert credentials.acknowledgement("s0-master", done, {sha(OLD), sha(NEW)}) == {}
    assert credentials.acknowledgement("s0-master", secret(), {sha(OLD)}) == {}  # nothing pending


def test_setuser_replaces_the_password_list_atomically_with_hashes_only() -> None:
    command = credentials.setuser_command("app", [sha(OLD), sha(NEW)])
    assert command == ["ACL", "SETUSER", "app", "resetpass", f"#{sha(OLD)}", f"#{sha(NEW)}"]
    assert credentials.live_hashes(["flags", ["on"], "passwords", [sha(OLD)], "commands", "+@all"]) == {sha(OLD)}
    with pytest.raises(credentials.AgentError, match="does not exist"):
        credentials.live_hashes(None)


def test_resp_errors_never_echo_an_argument() -> None:
    class Stream:
        def __init__(self, data: bytes) -> None:
            self.lines = data.splitlines(keepends=True)

        def readline(self) -> bytes:
            return self.lines.pop(0)

    with pytest.raises(credentials.AgentError) as raised:
        credentials.read_reply(Stream(b"-WRONGPASS invalid username-password pair " + NEW.encode() + b"\r\n"))
    assert str(raised.value) == "server error: WRONGPASS"
    assert credentials.encode("AUTH", "admin", "pw") == b"*3\r\n$4\r\nAUTH\r\n$5\r\nadmin\r\n$2\r\npw\r\n"


def test_one_spelling_of_the_acknowledgement_tag_and_the_users() -> None:
    assert credentials.TAG_PREFIX == TAG_PREFIX
    assert set(credentials.USERS) == rotation_handler.ROTATED


def test_the_shipped_agent_and_its_configuration_agree(tmp_path: Path) -> None:
    arns = {u: f"arn:aws:secretsmanager:us-east-1:123456789012:secret:c/{u}" for u in credentials.USERS}
    inputs = NodeBootInputs(
        cluster_name="c", node_index=1, node_count=3, region="us-east-1", redis_conf="port 0\n", secret_arns=arns,
        tls_ca_secret_arn="arn:ca", tls_ca_cert_secret_arn="arn:ca-cert", engine_log_group="/g", port=6379,
        node_name="s1-master", cluster_nodes=tuple(NODES),
    )  # fmt: skip
    import yaml

    files = {f["path"]: f for f in yaml.safe_load(render_user_data(inputs))["write_files"]}
    assert files[CREDENTIALS_AGENT]["content"] == AGENT_FILE.read_text()
    assert files[CREDENTIALS_AGENT]["permissions"] == "0755"
    config_path = tmp_path / "credentials-agent.json"
    config_path.write_text(files[CREDENTIALS_AGENT_CONFIG]["content"])
    config = credentials.AgentConfig.load(str(config_path))  # every field the agent needs, none it does not know
    assert config.node == "s1-master" and config.nodes == NODES and config.secrets == arns
    assert json.loads(files[CREDENTIALS_AGENT_CONFIG]["content"]) == credentials_agent_config(inputs)
    unit = files["/etc/systemd/system/cryb-cache-credentials.service"]["content"]
    assert "User=valkey" in unit and f"ExecStart={CREDENTIALS_AGENT} --config {CREDENTIALS_AGENT_CONFIG}" in unit
