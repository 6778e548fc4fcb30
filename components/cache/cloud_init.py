"""cloud-init user data of a self-hosted cache node (engine `ec2`), as pure functions.

At first boot a node installs Valkey from the Amazon Linux 2023 repositories (reached through the S3
gateway endpoint: the data subnets have no internet route), fetches its ACL passwords from Secrets Manager
(through the interface endpoint), turns them into SHA-256 hashes in the ACL file, gets or creates the
cluster's TLS CA, signs its own certificate, starts the server under its own systemd unit, and ships the
server log to CloudWatch Logs. Every node first runs its join script (a node booting empty while its peers serve a
formed cluster rejoins it as a replica); node 0 then runs the bootstrap from components/cache/cluster_plan.py (node
addresses are fixed, so every node's user data names every peer). No password is ever part of the user data or the
Pulumi state of the instance; only secret ARNs are.
"""

import base64
import functools
import gzip
import json
import shlex
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from components.cache.cluster_plan import ClusterPlan
from components.cache.credentials_agent import AGENT_FILE as CREDENTIALS_AGENT_FILE
from components.cache.metrics_agent import AGENT_FILE as METRICS_AGENT_FILE
from components.cache.metrics_agent import NAMESPACE as METRICS_NAMESPACE
from components.cache.redis_conf import RedisConfInputs, TlsFiles, acl_template, maxmemory_mb
from components.rotation.policies import acknowledgement_tags_only

CONF_DIR = "/etc/cryb-cache"
DATA_DIR = "/var/lib/cryb-cache"
LOG_FILE = "/var/log/cryb-cache/server.log"
SERVICE = "cryb-cache"
OS_USER = "valkey"
PACKAGE = "valkey"  # AL2023 package; the unit below only needs its valkey-server/valkey-cli binaries
SETUP_SCRIPT = "/usr/local/sbin/cryb-cache-setup"
# Background saves and AOF rewrites fork: with the kernel's heuristic overcommit (0) a fork of a large server can
# fail under memory pressure, and Valkey/Redis warn at start. 1 is what their documentation requires.
SYSCTL_FILE = "/etc/sysctl.d/60-cryb-cache.conf"
SYSCTL_SETTINGS = {"vm.overcommit_memory": "1"}
BOOTSTRAP_SCRIPT = "/usr/local/sbin/cryb-cache-bootstrap"
JOIN_SCRIPT = "/usr/local/sbin/cryb-cache-join"
METRICS_AGENT = "/usr/local/sbin/cryb-cache-metrics"
METRICS_AGENT_CONFIG = f"{CONF_DIR}/metrics-agent.json"
METRICS_INTERVAL_SECONDS = 60
CREDENTIALS_AGENT = "/usr/local/sbin/cryb-cache-credentials"
CREDENTIALS_AGENT_CONFIG = f"{CONF_DIR}/credentials-agent.json"
# The rotation function waits for every node's acknowledgement: a run every 30 s keeps a rotation under a minute.
CREDENTIALS_INTERVAL_SECONDS = 30
USER_DATA_LIMIT_BYTES = 16 * 1024  # EC2 rejects larger user data
ROLES_READ = ("app", "reader", "admin", "replicator")
PEER_WAIT_SECONDS = 900  # peers boot in parallel; node 0 waits this long for all of them to answer

TLS_FILES = TlsFiles(cert=f"{CONF_DIR}/tls/node.crt", key=f"{CONF_DIR}/tls/node.key", ca=f"{CONF_DIR}/tls/ca.crt")


@dataclass(frozen=True)
class NodeBootInputs:
    """What one node's user data is rendered from. ARNs only, never secret values."""

    cluster_name: str
    node_index: int
    node_count: int
    region: str
    redis_conf: str
    secret_arns: Mapping[str, str]
    tls_ca_secret_arn: str
    tls_ca_cert_secret_arn: str
    engine_log_group: str
    port: int
    bootstrap_script: str | None = None
    join_script: str | None = None
    """render_join_script for this node: a node booting without cluster state rejoins a formed cluster."""
    node_name: str = ""
    """The node's plan name (`s0-master`): the `Node` dimension of its metrics and its rotation acknowledgements."""
    cluster_nodes: tuple[str, ...] = ()
    """Every node's plan name: the credentials agent switches masterauth once all of them accept a new password."""


def node_conf_inputs(
    port: int, cluster_port: int, instance_type: str, maxmemory_policy: str, replicas_per_shard: int
) -> RedisConfInputs:
    """The redis.conf inputs of an EC2 node; tests replace ports and paths with `dataclasses.replace`."""
    return RedisConfInputs(
        port=port,
        cluster_port=cluster_port,
        maxmemory_mb=maxmemory_mb(instance_type),
        maxmemory_policy=maxmemory_policy,
        data_dir=DATA_DIR,
        aclfile=f"{CONF_DIR}/users.acl",
        secrets_include=f"{CONF_DIR}/secrets.conf",
        tls=TLS_FILES,
        logfile=LOG_FILE,
        replicas_per_shard=replicas_per_shard,
    )


def ami_ssm_parameter(instance_type: str) -> str:
    """The public SSM parameter of the latest AL2023 AMI for the instance's architecture (Graviton = arm64).
    Launch templates resolve it at launch (`resolve:ssm:`), so no AMI id is pinned in code."""
    family = instance_type.split(".")[0]
    arch = "arm64" if family.rstrip("dn").endswith("g") else "x86_64"
    return f"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}"


def ca_request_token(cluster_name: str) -> str:
    """Idempotency token of the CA secret version: every node tries to store its own CA under this token and
    Secrets Manager keeps exactly one, so all nodes end up trusting the same CA without a coordinator."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cryb-db/{cluster_name}/cache-tls-ca/v1"))


def render_bootstrap_script(
    plan: ClusterPlan, endpoints: Sequence[tuple[str, int, int]], *, resolve_names: bool = False
) -> str:
    """Bash that runs the plan's bootstrap steps against `endpoints[i] = (ip, port, bus_port)` of node i.

    Environment: REDISCLI_AUTH (admin password), CACHE_CLI (valkey-cli or redis-cli), CACHE_TLS_ARGS
    (e.g. `--tls --cacert ca.crt`). It exits 0 without changes if node 0 already has slots assigned.
    `resolve_names`: the endpoints are DNS names (a StatefulSet's pods): the CLI connects by name (TLS verifies it),
    CLUSTER MEET gets each name's IPv4 address (getent), as MEET takes only addresses.
    """
    if len(endpoints) != len(plan.nodes):
        raise ValueError(f"{len(endpoints)} endpoints for {len(plan.nodes)} planned nodes")
    n = len(plan.nodes)
    hosts = " ".join(shlex.quote(h) for h, _, _ in endpoints)
    ports = " ".join(str(p) for _, p, _ in endpoints)
    buses = " ".join(str(b) for _, _, b in endpoints)
    lines = [
        "#!/bin/bash",
        "# Rendered by components/cache/cloud_init.py from components/cache/cluster_plan.py.",
        "set -euo pipefail",
        ': "${REDISCLI_AUTH:?set REDISCLI_AUTH to the admin password}"',
        "export REDISCLI_AUTH",
        'read -r -a TLS <<< "${CACHE_TLS_ARGS:-}"',
        'CLI="${CACHE_CLI:-valkey-cli}"',
        "TIMEOUT=${CACHE_BOOTSTRAP_TIMEOUT:-120}",
        f"HOSTS=({hosts})",
        f"PORTS=({ports})",
        f"BUSES=({buses})",
        'cli() { local i=$1; shift; "$CLI" --no-auth-warning --user admin "${TLS[@]}" -h "${HOSTS[$i]}" '
        '-p "${PORTS[$i]}" "$@"; }',
        "field() { cli \"$1\" CLUSTER INFO | tr -d '\\r' | awk -F: -v k=\"$2\" '$1 == k {print $2}'; }",
        "wait_for() {  # wait_for <what> <command...>: retry until the command succeeds or TIMEOUT passes",
        "  local what=$1 deadline=$((SECONDS + TIMEOUT)); shift",
        '  until "$@" >/dev/null 2>&1; do',
        '    if ((SECONDS >= deadline)); then echo "bootstrap: timed out waiting for $what" >&2; exit 1; fi',
        "    sleep 0.2",
        "  done",
        "}",
        'pong() { [ "$(cli "$1" PING 2>/dev/null)" = PONG ]; }',
        f'knows_all() {{ [ "$(field "$1" cluster_known_nodes)" = {n} ]; }}',
        'state_ok() { [ "$(field "$1" cluster_state)" = ok ]; }',
        # A replica counts once its first sync is done: before that it could not take over.
        "is_replica() { [ \"$(cli \"$1\" ROLE | sed -n '1p;4p' | tr -d '\\r' | paste -sd,)\" = slave,connected ]; }",
        'sees_replicas() { [ "$(cli "$1" CLUSTER NODES | grep -c slave)" = "$2" ]; }',
        f'for i in $(seq 0 {n - 1}); do wait_for "node $i to answer" pong "$i"; done',
        'if [ "$(field 0 cluster_slots_assigned)" != 0 ]; then',
        '  echo "bootstrap: node 0 already has slots assigned; nothing to do"',
        "  exit 0",
        "fi",
    ]
    meet = "HOSTS"
    if resolve_names:
        meet = "ADDRS"
        lines += [
            "ADDRS=()",
            'for i in "${!HOSTS[@]}"; do',
            "  ADDRS[$i]=$(getent ahostsv4 \"${HOSTS[$i]}\" | awk '{print $1; exit}')",
            '  [ -n "${ADDRS[$i]}" ] || { echo "bootstrap: cannot resolve ${HOSTS[$i]}" >&2; exit 1; }',
            "done",
        ]
    for step in plan.bootstrap_steps():
        if step.kind == "meet":
            t = step.target
            lines.append(f'cli {step.node} CLUSTER MEET "${{{meet}[{t}]}}" "${{PORTS[{t}]}}" "${{BUSES[{t}]}}"')
        elif step.kind == "addslots" and step.slots is not None:
            lines.append(f"cli {step.node} CLUSTER ADDSLOTSRANGE {step.slots[0]} {step.slots[1]} >/dev/null")
        elif step.kind == "wait-known":
            lines.append(f'for i in $(seq 0 {n - 1}); do wait_for "node $i to know all {n} nodes" knows_all "$i"; done')
        elif step.kind == "replicate" and step.node is not None and step.target is not None:
            lines.append(
                f'cli {step.node} CLUSTER REPLICATE "$(cli {step.target} CLUSTER MYID)" >/dev/null'
                f"  # {plan.nodes[step.node].name} -> {plan.nodes[step.target].name}"
            )
        elif step.kind == "wait-ok":
            lines.append(f'for i in $(seq 0 {n - 1}); do wait_for "cluster_state:ok on node $i" state_ok "$i"; done')
            replicas = " ".join(str(r.index) for r in plan.replicas)
            if replicas:
                synced = 'wait_for "node $i to finish its first sync" is_replica "$i"'
                lines.append(f"for i in {replicas}; do {synced}; done")
                count = len(plan.replicas)
                seen = f'wait_for "node $i to see {count} replicas" sees_replicas "$i" {count}'
                lines.append(f"for i in $(seq 0 {n - 1}); do {seen}; done")
    lines.append(f'echo "bootstrap: cluster of {n} nodes is ok"')
    return "\n".join(lines) + "\n"


def render_join_script(plan: ClusterPlan, endpoints: Sequence[tuple[str, int, int]], self_index: int) -> str:
    """Bash run at every first boot of node `self_index`, before any bootstrap: a node that boots with no cluster
    state (a replaced instance, or its data lost) while its peers form a cluster rejoins it by itself: the peers
    forget the node id that had this address (it died with the data), this node meets one of them and becomes the
    replica of the master with the fewest replicas (the one that lost it). On the cluster's first boot no peer has
    slots yet: it does nothing and node 0's bootstrap forms the cluster. Environment as render_bootstrap_script."""
    if len(endpoints) != len(plan.nodes):
        raise ValueError(f"{len(endpoints)} endpoints for {len(plan.nodes)} planned nodes")
    n = len(plan.nodes)
    return f"""#!/bin/bash
# Rendered by components/cache/cloud_init.py: rejoin of node {self_index} ({plan.nodes[self_index].name}).
set -euo pipefail
: "${{REDISCLI_AUTH:?set REDISCLI_AUTH to the admin password}}"
export REDISCLI_AUTH
read -r -a TLS <<< "${{CACHE_TLS_ARGS:-}}"
CLI="${{CACHE_CLI:-valkey-cli}}"
TIMEOUT=${{CACHE_BOOTSTRAP_TIMEOUT:-120}}
SELF={self_index}
HOSTS=({" ".join(shlex.quote(h) for h, _, _ in endpoints)})
PORTS=({" ".join(str(p) for _, p, _ in endpoints)})
BUSES=({" ".join(str(b) for _, _, b in endpoints)})
cli() {{ local i=$1; shift
  "$CLI" --no-auth-warning --user admin "${{TLS[@]}}" -h "${{HOSTS[$i]}}" -p "${{PORTS[$i]}}" "$@"; }}
field() {{ cli "$1" CLUSTER INFO 2>/dev/null | tr -d '\\r' | awk -F: -v k="$2" '$1 == k {{print $2}}'; }}
wait_for() {{
  local what=$1 deadline=$((SECONDS + TIMEOUT)); shift
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then echo "join: timed out waiting for $what" >&2; exit 1; fi
    sleep 0.2
  done
}}
pong() {{ [ "$(cli "$1" PING 2>/dev/null)" = PONG ]; }}
knows_all() {{ [ "$(field "$SELF" cluster_known_nodes)" = {n} ]; }}
all_slots() {{ [ "$(field "$SELF" cluster_slots_assigned)" = 16384 ]; }}
linked() {{ cli "$SELF" INFO replication | tr -d '\\r' | grep -q '^master_link_status:up'; }}
# Gossip about a node carries its flags, not its master: a replica is "slave -" (or a slotless master) here until
# its own ping arrives. Counting replicas before then makes its master look like the one that lost its replica.
roles_known() {{ [ "$(cli "$SELF" CLUSTER NODES | tr -d '\\r' | awk '$3 !~ /myself|fail/ &&
  !(($3 ~ /master/ && NF >= 9) || ($3 ~ /slave/ && $4 != "-")) {{u++}} END {{print u + 0}}')" = 0 ]; }}
wait_for "this node to answer" pong "$SELF"
if [ "$(field "$SELF" cluster_known_nodes)" != 1 ]; then echo "join: this node is in a cluster"; exit 0; fi
PEER=""
for i in "${{!HOSTS[@]}}"; do
  if [ "$i" != "$SELF" ] && [ "$(field "$i" cluster_slots_assigned)" = 16384 ]; then PEER=$i; break; fi
done
if [ -z "$PEER" ]; then echo "join: no peer serves a formed cluster (first boot): nothing to do"; exit 0; fi
ME="${{HOSTS[$SELF]}}:${{PORTS[$SELF]}}@"
# A peer that reached this address and met the new id has cleared the old id's address (flag `noaddr`).
OLD=$(cli "$PEER" CLUSTER NODES | tr -d '\\r' \
  | awk -v me="$ME" '$3 !~ /myself/ && (index($2, me) == 1 || $3 ~ /noaddr/) {{print $1}}')
for old in $OLD; do
  for i in "${{!HOSTS[@]}}"; do
    [ "$i" = "$SELF" ] || cli "$i" CLUSTER FORGET "$old" >/dev/null 2>&1 || true
  done
  echo "join: the peers forgot $old, the id this address had"
done
cli "$SELF" CLUSTER MEET "${{HOSTS[$PEER]}}" "${{PORTS[$PEER]}}" "${{BUSES[$PEER]}}" >/dev/null
wait_for "this node to know all {n} nodes" knows_all
# Each master's slots reach this node in that master's own first messages: choose only once all have arrived.
wait_for "this node to learn every master's slots" all_slots
wait_for "this node to learn every replica's master" roles_known
# The serving master with the fewest replicas: the one whose replica this node replaces.
MASTER=$(cli "$SELF" CLUSTER NODES | tr -d '\\r' | awk '
  $3 ~ /master/ && $3 !~ /fail/ && NF >= 9 {{ order[++n] = $1 }}
  $3 ~ /slave/ && $3 !~ /fail/ {{ replicas[$4]++ }}
  END {{ for (i = 1; i <= n; i++)
          if (best == "" || replicas[order[i]] + 0 < least) {{ best = order[i]; least = replicas[best] + 0 }}
        print best }}')
[ -n "$MASTER" ] || {{ echo "join: no serving master found" >&2; exit 1; }}
wait_for "CLUSTER REPLICATE $MASTER" cli "$SELF" CLUSTER REPLICATE "$MASTER"
wait_for "the link to the master" linked
echo "join: rejoined as a replica of $MASTER"
"""


def _setup_script(inputs: NodeBootInputs) -> str:
    q = shlex.quote
    return f"""#!/bin/bash
# First-boot setup of cache node {inputs.node_index} of {inputs.cluster_name} (components/cache/cloud_init.py).
set -euo pipefail
umask 077
REGION={q(inputs.region)}
CA_SECRET={q(inputs.tls_ca_secret_arn)}
CA_CERT_SECRET={q(inputs.tls_ca_cert_secret_arn)}
CA_TOKEN={ca_request_token(inputs.cluster_name)}
ADMIN_SECRET={q(inputs.secret_arns["admin"])}
sm() {{ aws --region "$REGION" secretsmanager "$@"; }}
secret() {{ sm get-secret-value --secret-id "$1" --version-stage AWSCURRENT --query SecretString --output text; }}
# json_get FILE KEY: one string field of a JSON document
json_get() {{ python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]], end="")' "$1" "$2"; }}

dnf install -y {PACKAGE} amazon-cloudwatch-agent openssl python3-boto3
sysctl -p {SYSCTL_FILE}
id -u {OS_USER} >/dev/null 2>&1 || useradd --system --home-dir {DATA_DIR} --shell /sbin/nologin {OS_USER}
install -d -o {OS_USER} -g {OS_USER} -m 0750 {CONF_DIR} {CONF_DIR}/tls {DATA_DIR} "$(dirname {LOG_FILE})"

# IMDSv2 only (the launch template requires tokens).
TOKEN=$(curl -sf -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
SELF_IP=$(curl -sf -H "X-aws-ec2-metadata-token: $TOKEN" http://169.254.169.254/latest/meta-data/local-ipv4)

# TLS: every node offers a new CA under the same idempotency token; Secrets Manager keeps only the first.
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if ! secret "$CA_SECRET" > "$WORK/ca.json" 2>/dev/null; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \\
    -subj "/CN={inputs.cluster_name} cache CA" -keyout "$WORK/ca.key" -out "$WORK/ca.crt"
  python3 - "$WORK/ca.crt" "$WORK/ca.key" > "$WORK/offer.json" <<'PY'
import json, sys
print(json.dumps({{"cert": open(sys.argv[1]).read(), "key": open(sys.argv[2]).read()}}))
PY
  sm put-secret-value --secret-id "$CA_SECRET" --client-request-token "$CA_TOKEN" \\
    --secret-string "file://$WORK/offer.json" >/dev/null 2>&1 || true
  secret "$CA_SECRET" > "$WORK/ca.json"
fi
json_get "$WORK/ca.json" cert > {TLS_FILES.ca}
json_get "$WORK/ca.json" key > "$WORK/ca.key"
# Applications verify nodes with this public certificate (every node stores the same value: idempotent).
sm put-secret-value --secret-id "$CA_CERT_SECRET" --client-request-token "$CA_TOKEN" \\
  --secret-string "file://{TLS_FILES.ca}" >/dev/null 2>&1 || true
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$SELF_IP" \\
  -keyout {TLS_FILES.key} -out "$WORK/node.csr"
printf 'subjectAltName=IP:%s,DNS:%s\\nextendedKeyUsage=serverAuth,clientAuth\\n' "$SELF_IP" "$(hostname -f)" \\
  > "$WORK/ext"
openssl x509 -req -in "$WORK/node.csr" -CA {TLS_FILES.ca} -CAkey "$WORK/ca.key" -CAcreateserial -days 825 \\
  -extfile "$WORK/ext" -out {TLS_FILES.cert}

# ACL users (SHA-256 hashes in the ACL file) and masterauth (an include only the server reads): the credentials
# agent writes both from Secrets Manager, as its timer does during a rotation.
{CREDENTIALS_AGENT} --config {CREDENTIALS_AGENT_CONFIG} --boot
secret "$ADMIN_SECRET" > "$WORK/admin.json"
chown -R {OS_USER}:{OS_USER} {CONF_DIR} {DATA_DIR}
chmod 0600 {CONF_DIR}/secrets.conf {TLS_FILES.key}

/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s \\
  -c file:/opt/aws/amazon-cloudwatch-agent/etc/{SERVICE}.json
systemctl daemon-reload
systemctl enable --now {SERVICE} {SERVICE}-metrics.timer {SERVICE}-credentials.timer

if [ -x {JOIN_SCRIPT} ]; then
  REDISCLI_AUTH=$(json_get "$WORK/admin.json" password) CACHE_CLI=valkey-cli \\
    CACHE_TLS_ARGS="--tls --cacert {TLS_FILES.ca}" {JOIN_SCRIPT}
fi
if [ -x {BOOTSTRAP_SCRIPT} ]; then
  REDISCLI_AUTH=$(json_get "$WORK/admin.json" password) CACHE_CLI=valkey-cli \\
    CACHE_BOOTSTRAP_TIMEOUT={PEER_WAIT_SECONDS} CACHE_TLS_ARGS="--tls --cacert {TLS_FILES.ca}" {BOOTSTRAP_SCRIPT}
fi
"""


def _sysctl_conf() -> str:
    """Kernel settings of a cache node, applied at first boot and by systemd-sysctl at every boot."""
    return "".join(f"{key} = {value}\n" for key, value in SYSCTL_SETTINGS.items())


def _unit() -> str:
    return f"""[Unit]
Description=cryb-db cache node (Valkey cluster mode)
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
User={OS_USER}
Group={OS_USER}
ExecStart=/usr/bin/valkey-server {CONF_DIR}/node.conf
Restart=always
RestartSec=2
LimitNOFILE=65536
NoNewPrivileges=yes
ProtectSystem=full
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
"""


def _agent_units(agent: str, does: str, docs: str, exec_start: str, timeout_seconds: int, every: int) -> dict[str, str]:
    """A node agent's oneshot service (as the server's user) after the server, and its timer every `every` s."""
    return {
        f"{SERVICE}-{agent}.service": f"""[Unit]
Description=cryb-db cache node: {does} ({docs})
After={SERVICE}.service

[Service]
Type=oneshot
User={OS_USER}
Group={OS_USER}
ExecStart={exec_start}
TimeoutSec={timeout_seconds}
NoNewPrivileges=yes
ProtectHome=yes
PrivateTmp=yes
""",
        f"{SERVICE}-{agent}.timer": f"""[Unit]
Description=cryb-db cache node: {does} every {every} s

[Timer]
OnBootSec=30
OnUnitActiveSec={every}
AccuracySec=1

[Install]
WantedBy=timers.target
""",
    }


def _metrics_units() -> dict[str, str]:
    """The metrics agent (it reads the CA and keeps its state in the data dir)."""
    return _agent_units(
        "metrics",
        "publish its metrics",
        "docs/cache.md#alarms-of-self-hosted-nodes",
        f"{METRICS_AGENT} --config {METRICS_AGENT_CONFIG}",
        30,
        METRICS_INTERVAL_SECONDS,
    )


def _credentials_units() -> dict[str, str]:
    """The credentials agent (it owns the files it rewrites and logs in as admin)."""
    return _agent_units(
        "credentials",
        "apply rotated ACL passwords",
        "docs/cache.md#self-hosted-password-rotation",
        f"{CREDENTIALS_AGENT} --config {CREDENTIALS_AGENT_CONFIG}",
        60,
        CREDENTIALS_INTERVAL_SECONDS,
    )


def credentials_agent_config(inputs: NodeBootInputs) -> dict[str, Any]:
    """The credentials agent's configuration on this node (`AgentConfig` in
    components/cache/credentials_agent/agent.py)."""
    return {
        "region": inputs.region,
        "node": inputs.node_name or f"node-{inputs.node_index}",
        "nodes": list(inputs.cluster_nodes) or [inputs.node_name or f"node-{inputs.node_index}"],
        "secrets": {user: inputs.secret_arns[user] for user in ROLES_READ},
        "acl_template": f"{CONF_DIR}/users.acl.template",
        "acl_file": f"{CONF_DIR}/users.acl",
        "secrets_include": f"{CONF_DIR}/secrets.conf",
        "port": inputs.port,
        "ca_file": TLS_FILES.ca,
    }


def metrics_agent_config(inputs: NodeBootInputs) -> dict[str, Any]:
    """The metrics agent's configuration on this node (components/cache/metrics_agent/agent.py)."""
    return {
        "region": inputs.region,
        "namespace": METRICS_NAMESPACE,
        "cluster": inputs.cluster_name,
        "node": inputs.node_name or f"node-{inputs.node_index}",
        "planned_nodes": inputs.node_count,
        "port": inputs.port,
        "ca_file": TLS_FILES.ca,
        "password_secret_arn": inputs.secret_arns["admin"],
        "state_file": f"{DATA_DIR}/metrics-agent.state",
    }


@functools.cache
def _metrics_agent_source() -> str:
    return METRICS_AGENT_FILE.read_text()


@functools.cache
def _credentials_agent_source() -> str:
    return CREDENTIALS_AGENT_FILE.read_text()


def _cloudwatch_agent(inputs: NodeBootInputs) -> str:
    return json.dumps(
        {
            "logs": {
                "logs_collected": {
                    "files": {
                        "collect_list": [
                            {
                                "file_path": LOG_FILE,
                                "log_group_name": inputs.engine_log_group,
                                "log_stream_name": f"{{instance_id}}-node-{inputs.node_index}",
                            }
                        ]
                    }
                }
            }
        },
        indent=2,
    )


class _LiteralDumper(yaml.SafeDumper):
    """Multi-line strings as `|` blocks, so the user data stays readable in the console."""


def _literal(dumper: yaml.SafeDumper, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_LiteralDumper.add_representer(str, _literal)


def render_user_data(inputs: NodeBootInputs) -> str:
    """`#cloud-config` for one node: files (conf, ACL template, unit, agent config, scripts) and one runcmd."""
    missing = sorted(set(ROLES_READ) - set(inputs.secret_arns))
    if missing:
        raise ValueError(f"no secret ARN for user(s) {', '.join(missing)}")
    files: list[dict[str, str]] = [
        {"path": f"{CONF_DIR}/node.conf", "permissions": "0640", "content": inputs.redis_conf},
        {"path": f"{CONF_DIR}/users.acl.template", "permissions": "0600", "content": acl_template()},
        {"path": f"/etc/systemd/system/{SERVICE}.service", "permissions": "0644", "content": _unit()},
        {"path": SYSCTL_FILE, "permissions": "0644", "content": _sysctl_conf()},
        {
            "path": f"/opt/aws/amazon-cloudwatch-agent/etc/{SERVICE}.json",
            "permissions": "0644",
            "content": _cloudwatch_agent(inputs) + "\n",
        },
        *(
            {"path": f"/etc/systemd/system/{unit}", "permissions": "0644", "content": text}
            for unit, text in _metrics_units().items()
        ),
        {"path": METRICS_AGENT, "permissions": "0755", "content": _metrics_agent_source()},
        {
            "path": METRICS_AGENT_CONFIG,
            "permissions": "0644",
            "content": json.dumps(metrics_agent_config(inputs), indent=1) + "\n",
        },
        *(
            {"path": f"/etc/systemd/system/{unit}", "permissions": "0644", "content": text}
            for unit, text in _credentials_units().items()
        ),
        {"path": CREDENTIALS_AGENT, "permissions": "0755", "content": _credentials_agent_source()},
        {
            "path": CREDENTIALS_AGENT_CONFIG,
            "permissions": "0644",
            "content": json.dumps(credentials_agent_config(inputs), indent=1) + "\n",
        },
        {"path": SETUP_SCRIPT, "permissions": "0700", "content": _setup_script(inputs)},
    ]
    if inputs.bootstrap_script is not None:
        files.append({"path": BOOTSTRAP_SCRIPT, "permissions": "0700", "content": inputs.bootstrap_script})
    if inputs.join_script is not None:
        files.append({"path": JOIN_SCRIPT, "permissions": "0700", "content": inputs.join_script})
    document = {"write_files": files, "runcmd": [[SETUP_SCRIPT]]}
    text = "#cloud-config\n" + yaml.dump(document, Dumper=_LiteralDumper, sort_keys=False, width=200)
    packed = len(gzip.compress(text.encode(), mtime=0))
    if packed > USER_DATA_LIMIT_BYTES:
        raise ValueError(f"user data of node {inputs.node_index} is {packed} bytes gzipped; EC2 allows 16 KiB")
    return text


def encode_user_data(text: str) -> str:
    """gzip + base64 for the launch template (cloud-init detects gzip): the shipped agent does not fit plain."""
    return base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode()


def node_role_policy(
    read_secret_arns: Sequence[str],
    ca_secret_arns: Sequence[str],
    secrets_kms_key_arn: str,
    log_group_arn: str,
    region: str,
) -> dict[str, Any]:
    """Least privilege for a node: read its users' secrets (and, for the credentials agent, their stages and any
    version), acknowledge their rotations with `cryb-rotation-*` tags only, write only the CA secrets (first boot),
    decrypt through Secrets Manager only, write its own log group and its metrics namespace. Nothing else: no EC2, S3
    or IAM actions."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadCacheSecrets",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": [*read_secret_arns, *ca_secret_arns],
            },
            {
                # Which version is staged AWSPENDING while a rotation is in progress (the credentials agent).
                "Sid": "SeeRotationStages",
                "Effect": "Allow",
                "Action": "secretsmanager:DescribeSecret",
                "Resource": list(read_secret_arns),
            },
            {
                # The agent acknowledges a rotation with `cryb-rotation-*` tags; no other tag may be set or changed.
                "Sid": "AcknowledgeRotations",
                "Effect": "Allow",
                "Action": "secretsmanager:TagResource",
                "Resource": list(read_secret_arns),
                "Condition": acknowledgement_tags_only(),
            },
            {
                "Sid": "StoreTheClusterCaOnce",
                "Effect": "Allow",
                "Action": "secretsmanager:PutSecretValue",
                "Resource": list(ca_secret_arns),
            },
            {
                "Sid": "DecryptSecretsThroughSecretsManager",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": secrets_kms_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
            },
            {
                "Sid": "PutNodeMetrics",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",  # PutMetricData has no resource-level permissions; the namespace is the scope
                "Condition": {"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
            },
            {
                "Sid": "ShipServerLog",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                "Resource": [log_group_arn, f"{log_group_arn}:*"],
            },
        ],
    }
