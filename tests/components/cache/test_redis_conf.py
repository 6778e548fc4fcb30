"""redis.conf and the ACL file of a self-hosted node: the settings that make failover, TLS and RBAC work."""

import dataclasses
import hashlib
import re

import pytest

from components.cache.cloud_init import node_conf_inputs
from components.cache.redis_conf import (
    ACCESS_STRINGS,
    CLUSTER_NODE_TIMEOUT_MS,
    FAILOVER_TARGET_SECONDS,
    INSTANCE_MEMORY_MIB,
    TlsFiles,
    acl_template,
    acl_users,
    data_volume_gib,
    fill_acl_template,
    maxmemory_mb,
    render_acl_file,
    render_redis_conf,
    render_secrets_include,
    worst_case_failover_ms,
)

PROD = node_conf_inputs(6379, 16379, "r7g.large", "volatile-lru", 1)


def directives(text: str) -> dict[str, str]:
    """Last value of every directive (as Redis applies them), comments skipped."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            found[key] = value
    return found


def test_cluster_mode_with_a_timeout_that_fails_over_within_the_target() -> None:
    conf = directives(render_redis_conf(PROD))
    assert conf["cluster-enabled"] == "yes"
    assert conf["cluster-port"] == "16379"
    assert int(conf["cluster-node-timeout"]) == CLUSTER_NODE_TIMEOUT_MS
    assert worst_case_failover_ms(CLUSTER_NODE_TIMEOUT_MS) < FAILOVER_TARGET_SECONDS * 1000
    assert conf["cluster-require-full-coverage"] == "no"


def test_a_timeout_too_slow_for_the_target_is_refused() -> None:
    with pytest.raises(ValueError, match="not under the 10 s target"):
        render_redis_conf(dataclasses.replace(PROD, node_timeout_ms=7000))


def test_tls_only_no_plaintext_port_and_encrypted_replication_and_bus() -> None:
    conf = directives(render_redis_conf(PROD))
    assert conf["port"] == "0"
    assert conf["tls-port"] == "6379"
    assert conf["tls-replication"] == "yes" and conf["tls-cluster"] == "yes"
    assert conf["tls-cert-file"] == '"/etc/cryb-cache/tls/node.crt"'
    assert conf["tls-protocols"] == '"TLSv1.2 TLSv1.3"'
    plain = directives(render_redis_conf(dataclasses.replace(PROD, tls=None)))
    assert plain["port"] == "6379" and "tls-port" not in plain


def test_ports_and_paths_are_parameters() -> None:
    inputs = dataclasses.replace(
        PROD,
        port=30001,
        cluster_port=40001,
        data_dir="/tmp/n1",
        aclfile="/tmp/n1/users.acl",
        secrets_include="/tmp/n1/secrets.conf",
        bind="127.0.0.1",
        tls=TlsFiles("/c", "/k", "/ca"),
    )
    conf = directives(render_redis_conf(inputs))
    assert (conf["tls-port"], conf["cluster-port"], conf["bind"]) == ("30001", "40001", "127.0.0.1")
    assert conf["dir"] == '"/tmp/n1"' and conf["aclfile"] == '"/tmp/n1/users.acl"'
    assert conf["include"] == '"/tmp/n1/secrets.conf"'
    with pytest.raises(ValueError, match="must differ"):
        render_redis_conf(dataclasses.replace(PROD, cluster_port=6379))


def test_maxmemory_leaves_a_quarter_of_the_instance_for_forks_and_buffers() -> None:
    conf = directives(render_redis_conf(PROD))
    assert conf["maxmemory"] == "12288mb"  # r7g.large: 16 GiB
    assert conf["maxmemory-policy"] == "volatile-lru"
    assert maxmemory_mb("t4g.small") == 1536
    with pytest.raises(ValueError, match="must be one of"):
        maxmemory_mb("x1e.32xlarge")
    with pytest.raises(ValueError, match="maxmemory_policy 'lru'"):
        render_redis_conf(dataclasses.replace(PROD, maxmemory_policy="lru"))
    for instance_type, memory in INSTANCE_MEMORY_MIB.items():
        assert data_volume_gib(instance_type) >= max(20, 3 * memory // 1024)


@pytest.mark.parametrize(
    ("persistence", "expected"),
    [
        ("aof", {"appendonly": "yes", "appendfsync": "everysec", "save": '""'}),
        ("rdb", {"appendonly": "no"}),
        ("none", {"appendonly": "no", "save": '""'}),
    ],
)
def test_persistence_choices(persistence: str, expected: dict[str, str]) -> None:
    conf = directives(render_redis_conf(dataclasses.replace(PROD, persistence=persistence)))  # type: ignore[arg-type]
    assert {k: conf[k] for k in expected} == expected
    if persistence == "rdb":
        assert conf["save"].startswith("3600")


def test_default_is_aof_so_a_restarted_master_does_not_come_back_empty() -> None:
    assert directives(render_redis_conf(PROD))["appendonly"] == "yes"


def test_no_secret_in_the_conf_users_come_from_the_acl_file() -> None:
    text = render_redis_conf(PROD)
    conf = directives(text)
    assert "requirepass" not in conf and "masterauth" not in conf and "user" not in conf
    assert conf["masteruser"] == "replicator"
    assert conf["aclfile"] == '"/etc/cryb-cache/users.acl"'


def test_acl_file_disables_default_and_hashes_every_password() -> None:
    passwords = {user: f"pw-{user}-0123456789abcdef" for user in acl_users()}
    text = fill_acl_template(acl_template(), passwords)
    lines = dict(line.split(" ", 2)[1:] for line in text.strip().splitlines())  # user -> rules
    assert lines["default"].startswith("off") and "#" not in lines["default"] and "nopass" not in lines["default"]
    for user, password in passwords.items():
        assert f"#{hashlib.sha256(password.encode()).hexdigest()}" in lines[user]
        assert password not in text
    assert lines["app"].endswith(ACCESS_STRINGS["app"].partition(" ")[2])
    assert "-@all +@read" in lines["reader"]
    assert lines["replicator"].endswith("+psync +replconf +ping")


def test_acl_file_rejects_missing_or_malformed_hashes() -> None:
    with pytest.raises(ValueError, match="no password hash for user"):
        render_acl_file({"app": "0" * 64})
    with pytest.raises(ValueError, match="64 lowercase hex"):
        render_acl_file({user: "not-a-hash" for user in acl_users()})


def test_secrets_include_only_accepts_safe_passwords() -> None:
    assert render_secrets_include("A" * 40) == f'masterauth "{"A" * 40}"\n'
    with pytest.raises(ValueError, match="letters and digits"):
        render_secrets_include('bad"quote-and-more-than-16')


def test_every_line_is_a_directive_redis_understands() -> None:
    # A typo'd directive makes redis-server refuse to start; the real test starts it, this catches shape errors.
    for line in render_redis_conf(PROD).splitlines():
        assert line.startswith("#") or re.match(r"^[a-z][a-z-]+ \S", line), line
