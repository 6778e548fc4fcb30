"""cloud-init user data and the instance-role policy of a self-hosted PostgreSQL node, as pure functions.

At first boot a node (Debian 12):

1. installs PostgreSQL, Patroni, etcd, pgBackRest, pg_partman, pg_cron and the CloudWatch agent (skipped on a
   baked image that carries `/etc/cryb-db/packages-baked`); the analytics cluster also tries TimescaleDB and,
   where the package cannot be installed, falls back to native partitioning with pg_partman and says so in
   `/etc/cryb-db/analytics-backend` and the log;
2. attaches its stable network interface (the node's address survives instance replacement, so etcd peer
   URLs, Patroni addresses and the NLB targets never change) and routes it;
3. stripes the instance-store NVMe devices into RAID 0 (mdadm; one device is used directly), formats XFS and
   mounts it on /data;
4. fetches the pgBackRest passphrase from Secrets Manager, and has the credentials agent
   (components/selfhosted/credentials_agent/agent.py) write its passwords into Patroni's credentials file; a 30-second
   timer keeps running the agent, which is how rotated passwords reach the node (docs/selfhosted.md);
5. makes a TLS certificate for PostgreSQL and the REST API, starts etcd (re-joining as a replaced member when
   peers already form a cluster), Patroni, the CloudWatch agent and the backup timers.

Only ARNs and rendered configuration are in the user data; no secret value is.
"""

import ast
import base64
import functools
import gzip
import ipaddress
import json
import re
import shlex
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from components.postgres.roles import ROLE_NAMES, role_script
from components.selfhosted.credentials_agent import AGENT_FILE, acknowledgement_tags_only
from components.selfhosted.metrics_agent import AGENT_FILE as METRICS_AGENT_FILE
from components.selfhosted.nvme_instances import Arch, nvme_instance_type
from components.selfhosted.patroni_config import (
    DATA_MOUNT,
    ETCD_CLIENT_PORT,
    ON_ROLE_CHANGE_SCRIPT,
    POST_BOOTSTRAP_SCRIPT,
    PROD_ETCD_DATA_DIR,
    PROD_ETCD_TLS,
    PROD_ETCD_TLS_DIR,
    PROD_LOG_DIR,
    PROD_PATRONI_LOG_DIR,
    PROD_PGBACKREST_CONFIG_PATH,
    PROD_SOCKET_DIR,
    PROD_TLS,
)
from components.selfhosted.pgbackrest_config import CIPHER_INCLUDE, backup_command

USER_DATA_LIMIT_BYTES = 16 * 1024  # EC2 rejects larger user data (after base64 decoding)
CONF_DIR = "/etc/cryb-db"
# Patroni reads a directory: the rendered patroni.yml, then the agent's secrets.yml merged over it. Its own
# directory, because Debian's /etc/patroni holds example files Patroni would load too.
PATRONI_CONFIG_DIR = "/etc/patroni/cryb"
PATRONI_YML = f"{PATRONI_CONFIG_DIR}/patroni.yml"
PATRONI_SECRETS = f"{PATRONI_CONFIG_DIR}/secrets.yml"
PATRONI_ENV = f"{CONF_DIR}/patroni.env"
ETCD_ENV = f"{CONF_DIR}/etcd.env"
PGBACKREST_CONF = f"{PROD_PGBACKREST_CONFIG_PATH}/pgbackrest.conf"
PGBACKREST_LOG_DIR = "/var/log/pgbackrest"
PGBACKREST_SPOOL = f"{DATA_MOUNT}/pgbackrest-spool"
# Shared by every unit: not /tmp, which is private to the Patroni unit (PrivateTmp=yes), so archive-push and the
# backup service would never see each other's locks. /run is emptied at boot: tmpfiles.d re-creates it, owned by
# postgres, before any unit starts (and the setup script applies the same file at first boot).
PGBACKREST_LOCK_PATH = "/run/pgbackrest"
PGBACKREST_TMPFILES = "/etc/tmpfiles.d/cryb-pgbackrest.conf"
SETUP_SCRIPT = "/usr/local/sbin/cryb-pg-setup"
ADDRESS_SCRIPT = "/usr/local/sbin/cryb-node-address"
BACKUP_SCRIPT = "/usr/local/sbin/cryb-pg-backup"
CREDENTIALS_AGENT = "/usr/local/sbin/cryb-pg-credentials"
CREDENTIALS_AGENT_CONFIG = f"{CONF_DIR}/credentials-agent.json"
CREDENTIALS_INTERVAL_SECONDS = 30
ETCD_CERTS_SCRIPT = "/usr/local/sbin/cryb-etcd-certs"
ETCDCTL_ENV = f"{CONF_DIR}/etcdctl.env"
ETCD_CERT_DAYS = 90
ETCD_CERT_RENEW_DAYS = 30
"""The leaf certificates the cluster CA issues (etcd's, and PostgreSQL's and the REST API's) live 90 days and are
re-issued (daily check) when fewer than 30 are left."""
METRICS_AGENT = "/usr/local/sbin/cryb-pg-metrics"
METRICS_AGENT_CONFIG = f"{CONF_DIR}/metrics-agent.json"
METRICS_INTERVAL_SECONDS = 60
INCR_BACKUP_HOURS = 4
# 06:00 ... 22:00 UTC: every INCR_BACKUP_HOURS after the 02:00 full (Sunday) or differential (other days).
INCR_BACKUP_CALENDAR_HOURS = ",".join(f"{h:02d}" for h in range(2 + INCR_BACKUP_HOURS, 24, INCR_BACKUP_HOURS))
BAKED_MARKER = f"{CONF_DIR}/packages-baked"
BACKEND_FILE = f"{CONF_DIR}/analytics-backend"
METRICS_NAMESPACE = "cryb-db/selfhosted"
"""Namespace of the CloudWatch agent's metrics; the node may put metrics only here (node_role_policy)."""
ASG_DIMENSION = "AutoScalingGroupName"
# The exact dimension names the alarms use for each agent metric (the agent config publishes these sets).
AGENT_METRIC_DIMENSIONS: dict[str, tuple[str, ...]] = {
    "mem_used_percent": (ASG_DIMENSION,),
    "disk_used_percent": (ASG_DIMENSION, "path"),
}
ENI_ROUTE_TABLE = 1001
SECRET_KEYS = ("superuser", "replication", "rewind", "restapi", "admin", "pgbackrest", *ROLE_NAMES)
ROTATED_SECRET_KEYS = ("superuser", "replication", "rewind", "restapi", "admin", *ROLE_NAMES)
"""Secrets the credentials agent applies and the rotation function rotates (not the pgBackRest passphrase)."""


@dataclass(frozen=True)
class NodeBootInputs:
    """What one node's user data is rendered from. ARNs and addresses only, never secret values."""

    cluster: str
    node_index: int
    node_name: str
    region: str
    instance_type: str
    postgres_major: str
    timescaledb: bool
    patroni_yml: str
    pgbackrest_conf: str
    etcd_env: str
    eni_id: str
    node_address: str
    subnet_cidr: str
    peer_etcd_client_urls: Sequence[str]
    node_etcd_peer_url: str
    secret_arns: Mapping[str, str]
    log_group: str
    database_name: str
    admin_user: str
    stanza: str
    restapi_port: int
    cluster_nodes: Sequence[str] = ()
    """Names of every node of the cluster, this one included (the credentials agent waits for all of them)."""
    pg_port: int = 5432
    package_proxy: str | None = None
    etcd_ca_secret_arn: str = ""
    """The cluster's etcd CA (certificate and key); empty until the first node to boot stores one."""
    ca_cert_secret_arn: str = ""
    """Where the node publishes that CA's certificate (never its key) for applications: `tlsCaCertSecretArn`."""
    tls_dns_names: Sequence[str] = ()
    """DNS names clients reach this node by (its own name, the writer and reader names): the subjectAltNames of its
    PostgreSQL and REST API certificate, besides its address."""
    component: str | None = None
    """The cluster's component name (`cryb-prod-analytics`): the `Cluster` dimension of the metrics agent (default:
    `cluster`)."""


def _arch(instance_type: str) -> str:
    return "arm64" if nvme_instance_type(instance_type).arch == "arm64" else "amd64"


def image_ssm_parameter(instance_type: str, override: str | Mapping[Arch, str] | None = None) -> str:
    """The AMI parameter launch templates resolve at launch (`resolve:ssm:`): the baked image of the type's
    architecture if given (one name, or one per architecture: the config checks they fit, see
    `components.config.selfhosted.image_problems`), else the public Debian 12 parameter for the type's architecture
    (Graviton `gd` types are arm64)."""
    if isinstance(override, Mapping):
        arch = nvme_instance_type(instance_type).arch
        if arch not in override:
            raise ValueError(f"{instance_type} is {arch}: no image for that architecture in {dict(override)}")
        return override[arch]
    return override or f"/aws/service/debian/release/bookworm/latest/{_arch(instance_type)}"


_SETUP = r"""#!/bin/bash
# First-boot setup of @@NODE@@ (cluster @@CLUSTER@@), rendered by components/selfhosted/cloud_init.py.
set -euo pipefail
REGION=@@REGION@@
PG=@@PG@@
log() { echo "cryb-pg-setup: $*" | tee -a /var/log/cryb-pg-setup.log; }
export DEBIAN_FRONTEND=noninteractive
install -d -m 0755 @@CONF_DIR@@

# 1. Packages (a baked image already has them and may have no route to any mirror).
if [ ! -e @@BAKED@@ ]; then
  PROXY=@@PROXY@@
  CURL=(curl -fsSL --retry 5)
  if [ -n "$PROXY" ]; then
    printf 'Acquire::http::Proxy "%s";\nAcquire::https::Proxy "%s";\n' "$PROXY" "$PROXY" \
      > /etc/apt/apt.conf.d/80cryb-proxy
    CURL+=(--proxy "$PROXY")
  fi
  # Debian would create and start a default cluster and default etcd/patroni services: Patroni owns them.
  install -d /etc/postgresql-common
  echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d
  apt-get update -q
  apt-get install -y -q --no-install-recommends ca-certificates curl gnupg jq openssl mdadm xfsprogs awscli \
    python3-boto3
  "${CURL[@]}" https://www.postgresql.org/media/keys/ACCC4CF8.asc | gpg --dearmor -o /usr/share/keyrings/pgdg.gpg
  echo "deb [signed-by=/usr/share/keyrings/pgdg.gpg] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
    > /etc/apt/sources.list.d/pgdg.list
  if [ @@TIMESCALEDB@@ = true ]; then
    TSDB=https://packagecloud.io/timescale/timescaledb
    "${CURL[@]}" "$TSDB/gpgkey" | gpg --dearmor -o /usr/share/keyrings/timescaledb.gpg \
      && echo "deb [signed-by=/usr/share/keyrings/timescaledb.gpg] $TSDB/debian/ bookworm main" \
        > /etc/apt/sources.list.d/timescaledb.list || log "TimescaleDB repository unreachable"
  fi
  apt-get update -q
  apt-get install -y -q --no-install-recommends "postgresql-$PG" "postgresql-$PG-partman" "postgresql-$PG-cron" \
    patroni python3-psycopg2 python3-etcd etcd-server etcd-client pgbackrest "postgresql-$PG-pgaudit"
  if [ @@TIMESCALEDB@@ = true ]; then
    if apt-cache show "timescaledb-2-postgresql-$PG" >/dev/null 2>&1 \
        && apt-get install -y -q --no-install-recommends "timescaledb-2-postgresql-$PG"; then
      echo timescaledb > @@BACKEND@@
    else
      echo partman > @@BACKEND@@
    fi
  fi
  "${CURL[@]}" -o /tmp/cwagent.deb \
    "https://amazoncloudwatch-agent-$REGION.s3.$REGION.amazonaws.com/debian/@@ARCH@@/latest/amazon-cloudwatch-agent.deb"
  dpkg -i /tmp/cwagent.deb && rm -f /tmp/cwagent.deb
  rm -f /usr/sbin/policy-rc.d
  systemctl disable --now etcd patroni postgresql 2>/dev/null || true
  systemctl mask etcd patroni
fi
if [ @@TIMESCALEDB@@ = true ] && [ "$(cat @@BACKEND@@ 2>/dev/null)" != timescaledb ]; then
  echo partman > @@BACKEND@@
  log "TimescaleDB is not installable here: analytics uses native range partitioning maintained by pg_partman"
  python3 - <<'PY'
import yaml
path = "@@PATRONI_YML@@"
config = yaml.safe_load(open(path))
params = config["postgresql"]["parameters"]
params["shared_preload_libraries"] = ",".join(
    lib for lib in params.get("shared_preload_libraries", "").split(",") if lib and lib != "timescaledb")
config["bootstrap"]["dcs"]["postgresql"]["parameters"].pop("timescaledb.telemetry_level", None)
open(path, "w").write(yaml.safe_dump(config, sort_keys=False, width=200))
PY
fi

# 2. The stable address.
@@ADDRESS_SCRIPT@@

# 3. NVMe instance storage: RAID 0 of every device, XFS, /data.
if ! mountpoint -q @@DATA@@; then
  for _ in $(seq 60); do
    mapfile -t DEVS < <(lsblk -dpno NAME,MODEL | awk '/Amazon EC2 NVMe Instance Storage/ {print $1}')
    [ "${#DEVS[@]}" -ge @@NVME_DEVICES@@ ] && break
    sleep 1
  done
  [ "${#DEVS[@]}" -eq @@NVME_DEVICES@@ ] || { log "expected @@NVME_DEVICES@@ NVMe devices, found ${#DEVS[@]}"; exit 1; }
  if [ @@NVME_DEVICES@@ -gt 1 ]; then
    TARGET=/dev/md/cryb-data
    [ -e "$TARGET" ] || mdadm --create "$TARGET" --level=0 --raid-devices=@@NVME_DEVICES@@ --run "${DEVS[@]}"
    mdadm --detail --scan > /etc/mdadm/mdadm.conf
  else
    TARGET=${DEVS[0]}
  fi
  blkid "$TARGET" >/dev/null 2>&1 || mkfs.xfs -f -K "$TARGET"  # -K: no discard pass over a fresh device
  install -d @@DATA@@
  OPTIONS=defaults,noatime,nofail,x-systemd.device-timeout=30
  echo "UUID=$(blkid -s UUID -o value "$TARGET") @@DATA@@ xfs $OPTIONS 0 2" >> /etc/fstab
  mount @@DATA@@
fi
install -d -o postgres -g postgres -m 0700 @@DATA@@/postgresql @@PGBACKREST_SPOOL@@
install -d -o etcd -g etcd -m 0700 @@ETCD_DATA@@
install -d -o postgres -g postgres -m 0750 @@PG_LOG_DIR@@ @@PATRONI_LOG_DIR@@ @@PGBACKREST_LOG_DIR@@ /var/run/postgresql
systemd-tmpfiles --create @@PGBACKREST_TMPFILES@@

# 4. Secrets: readable by postgres only; never in user data or Pulumi state of the instance. The credentials agent
#    writes Patroni's passwords (root:postgres 0640) from the secrets' effective versions.
secret() { aws --region "$REGION" secretsmanager get-secret-value --secret-id "$1" --query SecretString --output text \
  | jq -r .password; }
umask 077
@@AGENT@@ --boot
install -d -m 0750 -g postgres @@PGBR_DIR@@/conf.d
printf '[global]\nrepo1-cipher-pass=%s\n' "$(secret @@ARN_pgbackrest@@)" > @@PGBR_DIR@@/@@CIPHER_INCLUDE@@
chown postgres:postgres @@PGBR_DIR@@/@@CIPHER_INCLUDE@@
chgrp postgres @@PGBR_CONF@@ @@PATRONI_YML@@ && chmod 0640 @@PGBR_CONF@@ @@PATRONI_YML@@

# 5. TLS, all from the cluster CA (renewed daily by a timer): PostgreSQL's and the REST API's certificate (clients
#    verify-full it against the published CA), etcd's member and Patroni client certificates.
install -d -o postgres -g postgres -m 0700 "$(dirname @@TLS_CERT@@)"
umask 022
@@ETCD_CERTS@@

# 6. etcd: a replacement node re-joins the peers' cluster under its old peer URL instead of forming a new one.
# On the cluster's first boot the peers may already have formed it with this node listed as `unstarted`: then
# this node simply starts and joins as listed. Only a member that had started (its node was replaced and its
# data is gone) is removed and added again.
if [ ! -d @@ETCD_DATA@@/member ]; then
  set -a; . @@ETCDCTL_ENV@@; set +a  # TLS: the cluster CA and the member's client certificate
  unset ETCDCTL_ENDPOINTS  # etcdctl 3.4 refuses an endpoints variable shadowed by --endpoints
  PEERS=@@PEERS@@
  # `simple` output (ID, status, name, peer URLs, ...) prints IDs in hex; JSON numbers lose precision in jq.
  if MEMBERS=$(etcdctl --endpoints="$PEERS" --dial-timeout=3s --command-timeout=5s member list 2>/dev/null); then
    LISTED=$(echo "$MEMBERS" | awk -F', ' -v url=@@PEER_URL@@ '$4 == url {print $1 " " $2}')
    if [ "${LISTED#* }" != "unstarted" ]; then
      if [ -n "$LISTED" ]; then
        etcdctl --endpoints="$PEERS" member remove "${LISTED%% *}"
      fi
      # After a removal the peers refuse another change until they see each other healthy again (strict
      # reconfiguration check): retry for a minute.
      for attempt in $(seq 30); do
        etcdctl --endpoints="$PEERS" member add @@NODE@@ --peer-urls=@@PEER_URL@@ && break
        [ "$attempt" -lt 30 ] || { log "could not add @@NODE@@ to the etcd cluster of $PEERS"; exit 1; }
        sleep 2
      done
      sed -i 's/^ETCD_INITIAL_CLUSTER_STATE=.*/ETCD_INITIAL_CLUSTER_STATE="existing"/' @@ETCD_ENV@@
      log "re-joined the etcd cluster of $PEERS"
    fi
  fi
fi

# 7. Services.
modprobe softdog || log "no softdog: Patroni runs without a watchdog"
echo 'KERNEL=="watchdog", OWNER="postgres", MODE="0600"' > /etc/udev/rules.d/60-cryb-watchdog.rules
udevadm trigger --sysname-match=watchdog || true
/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s \
  -c file:/opt/aws/amazon-cloudwatch-agent/etc/cryb-pg.json
systemctl daemon-reload
systemctl enable --now cryb-node-address cryb-etcd cryb-patroni cryb-pg-credentials.timer cryb-etcd-certs.timer \
  cryb-pgbackrest-backup@full.timer cryb-pgbackrest-backup@diff.timer cryb-pgbackrest-backup@incr.timer \
  cryb-pg-metrics.timer
log "node @@NODE@@ is up"
"""

_ETCD_CERTS = r"""#!/bin/bash
# TLS of @@NODE@@ from the cluster CA: etcd's member and Patroni client certificates, PostgreSQL's and the REST
# API's server certificate (docs/selfhosted.md#etcd-tls); Patroni reloads when that one is renewed.
set -euo pipefail
umask 077
REGION=@@REGION@@
DIR=@@DIR@@
sm() { aws --region "$REGION" secretsmanager "$@"; }
ca_value() { sm get-secret-value --secret-id @@ARN_CA@@ --query SecretString --output text; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if ! ca_value > "$WORK/ca.json" 2>/dev/null; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 -subj "/CN=@@CLUSTER@@ etcd CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$WORK/ca.key" -out "$WORK/ca.crt"
  jq -n --rawfile cert "$WORK/ca.crt" --rawfile key "$WORK/ca.key" '{cert: $cert, key: $key}' > "$WORK/offer.json"
  sm put-secret-value --secret-id @@ARN_CA@@ --client-request-token @@TOKEN@@ \
    --secret-string "file://$WORK/offer.json" >/dev/null 2>&1 || true
  ca_value > "$WORK/ca.json"
fi
jq -j .cert "$WORK/ca.json" > "$WORK/ca.crt"
jq -j .key "$WORK/ca.json" > "$WORK/ca.key"
install -d -m 0755 "$DIR"
cmp -s "$WORK/ca.crt" "$DIR/ca.crt" || install -m 0644 "$WORK/ca.crt" "$DIR/ca.crt"
# Applications verify the nodes with the CA's certificate: every node stores the same value under one token.
[ -z @@ARN_CA_CERT@@ ] || sm put-secret-value --secret-id @@ARN_CA_CERT@@ --client-request-token @@CERT_TOKEN@@ \
  --secret-string "file://$DIR/ca.crt" >/dev/null 2>&1 || true
ISSUED=
issue() {  # PATH (of PATH.crt and PATH.key) OWNER CN EXTENSIONS
  local at="${1%/*}" name="${1##*/}"
  if [ -s "$1.crt" ] && openssl x509 -checkend @@RENEW_SECONDS@@ -noout -in "$1.crt" >/dev/null \
      && openssl verify -CAfile "$DIR/ca.crt" "$1.crt" >/dev/null 2>&1; then
    return 0
  fi
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$3" \
    -keyout "$WORK/$name.key" -out "$WORK/$name.csr" 2>/dev/null
  printf '%b\n' "$4" > "$WORK/$name.ext"
  openssl x509 -req -in "$WORK/$name.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial \
    -CAserial "$WORK/ca.srl" -days @@DAYS@@ -extfile "$WORK/$name.ext" -out "$WORK/$name.crt" 2>/dev/null
  install -m 0600 -o "$2" -g "$2" "$WORK/$name.key" "$at/.$name.key" && mv -f "$at/.$name.key" "$1.key"
  install -m 0644 -o "$2" -g "$2" "$WORK/$name.crt" "$at/.$name.crt" && mv -f "$at/.$name.crt" "$1.crt"
  ISSUED="$ISSUED $name"
  echo "cryb-etcd-certs: issued $1 (CN=$3), $(openssl x509 -enddate -noout -in "$1.crt")"
}
issue "$DIR/member" etcd @@NODE@@ \
  'subjectAltName=IP:@@ADDRESS@@,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature'
issue "$DIR/patroni" postgres patroni 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature'
issue @@TLS_PATH@@ postgres @@NODE@@ \
  'subjectAltName=@@TLS_SANS@@\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature'
# A renewed server certificate: Patroni's SIGHUP reloads the REST API's certificate and PostgreSQL's configuration.
if [[ " $ISSUED " == *" @@TLS_NAME@@ "* ]] && systemctl is-active --quiet cryb-patroni; then
  systemctl reload cryb-patroni
fi
"""

_ADDRESS = r"""#!/bin/bash
# Attach and route the node's stable network interface (@@ENI@@, @@ADDRESS@@); runs at every boot.
set -euo pipefail
REGION=@@REGION@@
TOKEN=$(curl -sf -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
imds() { curl -sf -H "X-aws-ec2-metadata-token: $TOKEN" "http://169.254.169.254/latest/meta-data/$1"; }
INSTANCE=$(imds instance-id)
mac_of_eni() {
  for mac in $(imds network/interfaces/macs/); do
    [ "$(imds "network/interfaces/macs/${mac}interface-id")" = @@ENI@@ ] && { echo "${mac%/}"; return 0; }
  done
  return 1
}
# The replaced instance may still hold it for a while: retry for up to 10 minutes.
for _ in $(seq 120); do
  mac_of_eni >/dev/null && break
  aws --region "$REGION" ec2 attach-network-interface --network-interface-id @@ENI@@ --instance-id "$INSTANCE" \
    --device-index 1 >/dev/null 2>&1 || true
  sleep 5
done
MAC=$(mac_of_eni)
for _ in $(seq 60); do
  DEV=$(ip -o link | awk -v m="$MAC" '$0 ~ m {sub(":", "", $2); print $2}')
  [ -n "$DEV" ] && break
  sleep 1
done
ip link set "$DEV" up
ip addr replace @@ADDRESS@@/@@PREFIX@@ dev "$DEV"
# Replies leave through the interface they came in on (both interfaces sit in the same subnet).
ip route replace @@SUBNET@@ dev "$DEV" src @@ADDRESS@@ table @@TABLE@@
ip route replace default via @@GATEWAY@@ dev "$DEV" table @@TABLE@@
ip rule show | grep -q "from @@ADDRESS@@ lookup @@TABLE@@" || ip rule add from @@ADDRESS@@ table @@TABLE@@
"""

_POST_BOOTSTRAP = r"""#!/bin/bash
# Patroni runs this once, on the node that initialised the cluster; $1 is a superuser connection string
# (key=value). psql reads it only as -d: next to -d, a positional argument would be taken as the user name.
set -euo pipefail
BACKEND=$(cat @@BACKEND@@ 2>/dev/null || echo none)
psql -d "$1" -v ON_ERROR_STOP=1 <<'SQL'
\getenv admin_password CRYB_ADMIN_PASSWORD
CREATE ROLE @@ADMIN@@ LOGIN CREATEROLE REPLICATION PASSWORD :'admin_password';
CREATE DATABASE @@DATABASE@@ OWNER @@ADMIN@@;
SQL
psql -d "$1 dbname=@@DATABASE@@" -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' \
  -c 'CREATE EXTENSION IF NOT EXISTS pgaudit'
# Least-privilege roles (components/postgres/roles.py); the credentials agent sets their passwords from their
# secrets. The admin may manage them too (`scripts roles apply`).
psql -d "$1 dbname=@@DATABASE@@" -v ON_ERROR_STOP=1 <<'SQL'
@@ROLES@@GRANT @@ROLE_LIST@@ TO @@ADMIN@@ WITH ADMIN OPTION;
SQL
case $BACKEND in
  timescaledb) psql -d "$1 dbname=@@DATABASE@@" -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION IF NOT EXISTS timescaledb' ;;
  partman)
    # The analytics migrations (scripts/analytics/) run as the admin role: it needs pg_partman's
    # objects, and pg_cron (preloaded on analytics clusters) to schedule partition maintenance.
    psql -d "$1 dbname=@@DATABASE@@" -v ON_ERROR_STOP=1 <<'SQL'
CREATE SCHEMA IF NOT EXISTS partman;
CREATE EXTENSION IF NOT EXISTS pg_partman SCHEMA partman;
GRANT ALL ON SCHEMA partman TO @@ADMIN@@;
GRANT ALL ON ALL TABLES IN SCHEMA partman TO @@ADMIN@@;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA partman TO @@ADMIN@@;
GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA partman TO @@ADMIN@@;
SQL
    if psql -d "$1 dbname=@@DATABASE@@" -tAc 'SHOW shared_preload_libraries' | grep -q pg_cron; then
      psql -d "$1 dbname=@@DATABASE@@" -v ON_ERROR_STOP=1 \
        -c 'CREATE EXTENSION IF NOT EXISTS pg_cron' -c 'GRANT USAGE ON SCHEMA cron TO @@ADMIN@@'
    fi
    ;;
esac
"""

_ON_ROLE_CHANGE = r"""#!/bin/bash
# Patroni callback (on_start and on_role_change): <action> <role> <scope>. A leader (re)creates the stanza so
# archiving works at once: the node that bootstraps a cluster gets only on_start, a promoted replica
# on_role_change. PostgreSQL may still be starting, hence the retries (in the background: Patroni waits for no
# callback, but a callback must not outlive its purpose either).
case $2 in
  master|primary)
    nohup bash -c 'for _ in $(seq 30); do
        pgbackrest --config-path=@@PGBR_DIR@@ --stanza=@@STANZA@@ stanza-create && exit 0
        sleep 2
      done; exit 1' >>@@PGBACKREST_LOG_DIR@@/stanza.log 2>&1 & ;;
esac
exit 0
"""

_BACKUP = r"""#!/bin/bash
# Run a pgBackRest backup of type $1 on the leader only (every node has the timer; replicas skip).
set -euo pipefail
curl -skf -o /dev/null https://@@ADDRESS@@:@@RESTAPI_PORT@@/primary || exit 0
case $1 in
  full) exec @@FULL@@ ;;
  diff) exec @@DIFF@@ ;;
  incr) exec @@INCR@@ ;;
  *) echo "unknown backup type $1" >&2; exit 2 ;;
esac
"""


def _units(inputs: NodeBootInputs) -> dict[str, str]:
    hardening = "NoNewPrivileges=yes\nProtectHome=yes\nPrivateTmp=yes\n"
    return {
        "cryb-node-address.service": f"""[Unit]
Description=cryb-db: attach and route the node's stable address
After=network-online.target
Wants=network-online.target
Before=cryb-etcd.service cryb-patroni.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={ADDRESS_SCRIPT}

[Install]
WantedBy=multi-user.target
""",
        "cryb-etcd.service": f"""[Unit]
Description=cryb-db: etcd member {inputs.node_name}
After=cryb-node-address.service data.mount
Requires=cryb-node-address.service

[Service]
Type=notify
User=etcd
EnvironmentFile={ETCD_ENV}
ExecStart=/usr/bin/etcd
Restart=always
RestartSec=2
LimitNOFILE=65536
{hardening}
[Install]
WantedBy=multi-user.target
""",
        # KillMode=process and no restart, as Patroni recommends: stopping Patroni must not kill PostgreSQL
        # behind its back, and a crashed Patroni is a failover, not something to paper over.
        "cryb-patroni.service": f"""[Unit]
Description=cryb-db: Patroni {inputs.node_name} of {inputs.cluster}
After=cryb-etcd.service data.mount
Wants=cryb-etcd.service

[Service]
Type=simple
User=postgres
Group=postgres
EnvironmentFile={PATRONI_ENV}
ExecStart=/usr/bin/patroni {PATRONI_CONFIG_DIR}
ExecReload=/bin/kill -s HUP $MAINPID
KillMode=process
TimeoutSec=30
Restart=no
{hardening}
[Install]
WantedBy=multi-user.target
""",
        # Root: it writes Patroni's credentials file and reloads Patroni; SQL runs as postgres through the socket.
        "cryb-pg-credentials.service": f"""[Unit]
Description=cryb-db: apply rotated credentials of {inputs.cluster} (docs/selfhosted.md#credential-rotation)
After=cryb-patroni.service

[Service]
Type=oneshot
ExecStart={CREDENTIALS_AGENT} --config {CREDENTIALS_AGENT_CONFIG}
TimeoutSec=120
{hardening}""",
        "cryb-etcd-certs.service": f"""[Unit]
Description=cryb-db: renew the TLS certificates (etcd, PostgreSQL) of {inputs.node_name} when they near expiry

[Service]
Type=oneshot
ExecStart={ETCD_CERTS_SCRIPT}
TimeoutSec=120
{hardening}""",
        "cryb-etcd-certs.timer": """[Unit]
Description=cryb-db: check the node's TLS certificates daily

[Timer]
OnCalendar=daily
RandomizedDelaySec=3600
Persistent=true

[Install]
WantedBy=timers.target
""",
        "cryb-pg-credentials.timer": f"""[Unit]
Description=cryb-db: apply rotated credentials every {CREDENTIALS_INTERVAL_SECONDS} s

[Timer]
OnBootSec=60
OnUnitActiveSec={CREDENTIALS_INTERVAL_SECONDS}
AccuracySec=1

[Install]
WantedBy=timers.target
""",
        # Not root: it only reads the node's REST API and calls CloudWatch with the instance profile.
        "cryb-pg-metrics.service": f"""[Unit]
Description=cryb-db: publish the replication lag of {inputs.node_name} (docs/monitoring.md)
After=cryb-patroni.service

[Service]
Type=oneshot
User=postgres
Group=postgres
ExecStart={METRICS_AGENT} --config {METRICS_AGENT_CONFIG}
TimeoutSec=30
{hardening}""",
        "cryb-pg-metrics.timer": f"""[Unit]
Description=cryb-db: publish node metrics every {METRICS_INTERVAL_SECONDS} s

[Timer]
OnBootSec=30
OnUnitActiveSec={METRICS_INTERVAL_SECONDS}
AccuracySec=1

[Install]
WantedBy=timers.target
""",
        "cryb-pgbackrest-backup@.service": f"""[Unit]
Description=cryb-db: pgBackRest %i backup of {inputs.stanza} (leader only)

[Service]
Type=oneshot
User=postgres
ExecStart={BACKUP_SCRIPT} %i
""",
        "cryb-pgbackrest-backup@full.timer": """[Unit]
Description=cryb-db: weekly full backup

[Timer]
OnCalendar=Sun *-*-* 02:00:00 UTC
RandomizedDelaySec=600
Persistent=true

[Install]
WantedBy=timers.target
""",
        "cryb-pgbackrest-backup@diff.timer": """[Unit]
Description=cryb-db: daily differential backup

[Timer]
OnCalendar=Mon..Sat *-*-* 02:00:00 UTC
RandomizedDelaySec=600
Persistent=true

[Install]
WantedBy=timers.target
""",
        # Between the 02:00 full/diff: a restore replays at most ~4 h of WAL on top of the newest backup, and an
        # incremental copies only files changed since the previous backup of any type.
        "cryb-pgbackrest-backup@incr.timer": f"""[Unit]
Description=cryb-db: incremental backup every {INCR_BACKUP_HOURS} h between the daily backups

[Timer]
OnCalendar=*-*-* {INCR_BACKUP_CALENDAR_HOURS}:00:00 UTC
RandomizedDelaySec=300
Persistent=false

[Install]
WantedBy=timers.target
""",
    }


def cloudwatch_agent_config(inputs: NodeBootInputs) -> dict[str, Any]:
    """Ship PostgreSQL, Patroni and pgBackRest logs; report memory and disk usage (no agent default metrics).

    Metrics carry the node's auto-scaling group instead of host or instance id: the group (one instance each) is the
    node's identity across replacements, and the alarms (components/monitoring/component.py) watch exactly the
    dimension sets of AGENT_METRIC_DIMENSIONS. Memory is published as {AutoScalingGroupName}; disks carry device,
    fstype and path, so they are also rolled up to {AutoScalingGroupName, path}. The agent resolves
    `${aws:AutoScalingGroupName}` from the instance's tags (ec2:DescribeTags, granted by node_role_policy) and holds
    metrics back until it has.
    """
    stream = f"{{instance_id}}-{inputs.node_name}"
    files = [
        (f"{PROD_LOG_DIR}/postgresql-*.log", "postgresql"),
        (f"{PROD_PATRONI_LOG_DIR}/patroni.log", "patroni"),
        (f"{PGBACKREST_LOG_DIR}/*.log", "pgbackrest"),
        ("/var/log/cryb-pg-setup.log", "setup"),
    ]
    return {
        # omit_hostname: no `host` dimension (append_dimensions drops it too; this says so explicitly).
        "agent": {"metrics_collection_interval": 60, "omit_hostname": True},
        "logs": {
            "logs_collected": {
                "files": {
                    "collect_list": [
                        {"file_path": path, "log_group_name": inputs.log_group, "log_stream_name": f"{stream}-{kind}"}
                        for path, kind in files
                    ]
                }
            }
        },
        "metrics": {
            "namespace": METRICS_NAMESPACE,
            "append_dimensions": {ASG_DIMENSION: "${aws:AutoScalingGroupName}"},
            "aggregation_dimensions": [list(AGENT_METRIC_DIMENSIONS["disk_used_percent"])],
            "metrics_collected": {
                "mem": {"measurement": ["mem_used_percent"]},
                "disk": {"measurement": ["used_percent"], "resources": [DATA_MOUNT, "/"], "drop_device": True},
            },
        },
    }


def shipped_python(source: str) -> str:
    """A Python program as a node receives it: the same code without comments and docstrings (the source keeps them
    for readers; EC2 user data is limited to 16 KiB gzipped). The shebang stays."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
    shebang = source.splitlines(keepends=True)[0] if source.startswith("#!") else ""
    return shebang + ast.unparse(tree) + "\n"


@functools.cache
def shipped_credentials_agent() -> str:
    """The credentials agent as every node of every cluster ships it (read and reduced once per program run)."""
    return shipped_python(AGENT_FILE.read_text())


@functools.cache
def shipped_metrics_agent() -> str:
    return shipped_python(METRICS_AGENT_FILE.read_text())


def metrics_agent_config(inputs: NodeBootInputs) -> dict[str, Any]:
    """The metrics agent's configuration on this node (`MetricsConfig` in
    components/selfhosted/metrics_agent/agent.py)."""
    return {
        "region": inputs.region,
        "namespace": METRICS_NAMESPACE,
        "cluster": inputs.component or inputs.cluster,
        "node": inputs.node_name,
        "restapi_url": f"https://{inputs.node_address}:{inputs.restapi_port}",
    }


def credentials_agent_config(inputs: NodeBootInputs) -> dict[str, Any]:
    """The agent's configuration on this node (the fields of `AgentConfig` in
    components/selfhosted/credentials_agent/agent.py)."""
    return {
        "region": inputs.region,
        "node": inputs.node_name,
        "nodes": list(inputs.cluster_nodes),
        "secrets": {key: inputs.secret_arns[key] for key in ROTATED_SECRET_KEYS},
        "patroni_secrets_file": PATRONI_SECRETS,
        "env_file": PATRONI_ENV,
        "file_group": "postgres",
        "reload_command": ["systemctl", "reload", "cryb-patroni.service"],
        "restapi_url": f"https://{inputs.node_address}:{inputs.restapi_port}",
        "host": inputs.node_address,
        "port": inputs.pg_port,
        "socket_dir": PROD_SOCKET_DIR,
        "database": inputs.database_name,
    }


def etcd_ca_request_token(cluster: str) -> str:
    """Idempotency token of the etcd CA's secret version: every node offers its own CA under it and Secrets Manager
    keeps exactly one, so the nodes agree on the CA without a coordinator."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cryb-db/{cluster}/etcd-tls-ca/v1"))


def ca_cert_request_token(cluster: str) -> str:
    """Idempotency token of the published CA certificate's secret version: every node stores the same value."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cryb-db/{cluster}/tls-ca-cert/v1"))


def server_subject_alt_names(inputs: NodeBootInputs) -> str:
    """subjectAltName of the node's PostgreSQL and REST API certificate: what clients connect to with verify-full
    (the node's address and DNS name, the cluster's writer and reader names)."""
    for name in inputs.tls_dns_names:
        if not re.fullmatch(r"[A-Za-z0-9*][A-Za-z0-9.-]*", name):
            raise ValueError(f"tls_dns_names: {name!r} is not a DNS name")
    return ",".join([f"IP:{inputs.node_address}", *(f"DNS:{name}" for name in dict.fromkeys(inputs.tls_dns_names))])


def etcdctl_env(inputs: NodeBootInputs) -> str:
    """etcdctl's settings on a node (`set -a; . /etc/cryb-db/etcdctl.env; set +a; etcdctl endpoint health`, as root):
    the local member over TLS with the member's client certificate."""
    tls = PROD_ETCD_TLS
    values = {
        "ETCDCTL_API": "3",
        "ETCDCTL_ENDPOINTS": f"https://{inputs.node_address}:{ETCD_CLIENT_PORT}",
        "ETCDCTL_CACERT": tls.ca,
        "ETCDCTL_CERT": tls.cert,
        "ETCDCTL_KEY": tls.key,
    }
    return "# Rendered by components/selfhosted/cloud_init.py; do not edit.\n" + "".join(
        f"{key}={value}\n" for key, value in values.items()
    )


_COMMENT_LINE = re.compile(r"^[ \t]*#(?!!).*\n", re.M)


def _fill(template: str, values: Mapping[str, str]) -> str:
    """A script template with its placeholders filled and its comment-only lines dropped (not the shebang): the
    source keeps the comments for readers, the node needs none, and EC2 user data is limited to 16 KiB."""
    for key, value in values.items():
        template = template.replace(f"@@{key}@@", value)
    if "@@" in template:
        start = template.index("@@")
        raise ValueError(f"unfilled placeholder near {template[start : start + 40]!r}")
    return _COMMENT_LINE.sub("", template)


def _subnet_facts(subnet_cidr: str) -> tuple[str, str]:
    """(prefix length, gateway): AWS puts the subnet's router at its base address + 1."""
    network = ipaddress.IPv4Network(subnet_cidr, strict=True)
    return str(network.prefixlen), str(network.network_address + 1)


class _LiteralDumper(yaml.SafeDumper):
    """Multi-line strings as `|` blocks, so the user data stays readable in the console."""


def _literal(dumper: yaml.SafeDumper, value: str) -> Any:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_LiteralDumper.add_representer(str, _literal)


def render_user_data(inputs: NodeBootInputs) -> str:
    """`#cloud-config` for one node: the rendered configuration, units, scripts and one runcmd."""
    missing = sorted(set(SECRET_KEYS) - set(inputs.secret_arns))
    if missing:
        raise ValueError(f"no secret ARN for {', '.join(missing)}")
    if inputs.node_name not in inputs.cluster_nodes:
        raise ValueError(f"cluster_nodes {list(inputs.cluster_nodes)} does not name this node {inputs.node_name!r}")
    node_type = nvme_instance_type(inputs.instance_type)
    prefix, gateway = _subnet_facts(inputs.subnet_cidr)
    q = shlex.quote
    common = {
        "NODE": inputs.node_name,
        "CLUSTER": inputs.cluster,
        "REGION": q(inputs.region),
        "ADDRESS": inputs.node_address,
        "ENI": q(inputs.eni_id),
        "BACKEND": BACKEND_FILE,
        "PGBR_DIR": PROD_PGBACKREST_CONFIG_PATH,
        "PGBACKREST_LOG_DIR": PGBACKREST_LOG_DIR,
        "STANZA": inputs.stanza,
    }
    address = _fill(
        _ADDRESS,
        {**common, "PREFIX": prefix, "SUBNET": inputs.subnet_cidr, "GATEWAY": gateway, "TABLE": str(ENI_ROUTE_TABLE)},
    )
    setup = _fill(
        _SETUP,
        {
            **common,
            "PG": q(inputs.postgres_major),
            "CONF_DIR": CONF_DIR,
            "BAKED": BAKED_MARKER,
            "PROXY": q(inputs.package_proxy or ""),
            "TIMESCALEDB": "true" if inputs.timescaledb else "false",
            "ARCH": _arch(inputs.instance_type),
            "PATRONI_YML": PATRONI_YML,
            "ADDRESS_SCRIPT": ADDRESS_SCRIPT,
            "DATA": DATA_MOUNT,
            "NVME_DEVICES": str(node_type.nvme_devices),
            "PGBACKREST_SPOOL": PGBACKREST_SPOOL,
            "ETCD_DATA": PROD_ETCD_DATA_DIR,
            "PG_LOG_DIR": PROD_LOG_DIR,
            "PATRONI_LOG_DIR": PROD_PATRONI_LOG_DIR,
            "PATRONI_ENV": PATRONI_ENV,
            "PGBR_CONF": PGBACKREST_CONF,
            "CIPHER_INCLUDE": CIPHER_INCLUDE,
            "TLS_CERT": PROD_TLS.cert,
            "PEERS": q(",".join(inputs.peer_etcd_client_urls)),
            "PEER_URL": q(inputs.node_etcd_peer_url),
            "ETCD_ENV": ETCD_ENV,
            "PGBACKREST_TMPFILES": PGBACKREST_TMPFILES,
            **{f"ARN_{key}": q(arn) for key, arn in inputs.secret_arns.items()},
            "AGENT": f"{CREDENTIALS_AGENT} --config {CREDENTIALS_AGENT_CONFIG}",
            "ETCD_CERTS": ETCD_CERTS_SCRIPT,
            "ETCDCTL_ENV": ETCDCTL_ENV,
        },
    )
    etcd_certs = _fill(
        _ETCD_CERTS,
        {
            **common,
            "DIR": PROD_ETCD_TLS_DIR,
            "ARN_CA": q(inputs.etcd_ca_secret_arn),
            "TOKEN": etcd_ca_request_token(inputs.cluster),
            "DAYS": str(ETCD_CERT_DAYS),
            "RENEW_DAYS": str(ETCD_CERT_RENEW_DAYS),
            "RENEW_SECONDS": str(ETCD_CERT_RENEW_DAYS * 86400),
            "ARN_CA_CERT": q(inputs.ca_cert_secret_arn),
            "CERT_TOKEN": ca_cert_request_token(inputs.cluster),
            "TLS_PATH": q(PROD_TLS.key.removesuffix(".key")),
            "TLS_NAME": PROD_TLS.key.removesuffix(".key").rsplit("/", 1)[-1],
            "TLS_SANS": server_subject_alt_names(inputs),
        },
    )
    post_bootstrap = _fill(
        _POST_BOOTSTRAP,
        {
            **common,
            "ADMIN": inputs.admin_user,
            "DATABASE": inputs.database_name,
            "ROLES": role_script(inputs.database_name),
            "ROLE_LIST": ", ".join(ROLE_NAMES),
        },
    )
    on_role_change = _fill(_ON_ROLE_CHANGE, common)
    backup = _fill(
        _BACKUP,
        {
            **common,
            "RESTAPI_PORT": str(inputs.restapi_port),
            "FULL": backup_command(PROD_PGBACKREST_CONFIG_PATH, inputs.stanza, "full"),
            "DIFF": backup_command(PROD_PGBACKREST_CONFIG_PATH, inputs.stanza, "diff"),
            "INCR": backup_command(PROD_PGBACKREST_CONFIG_PATH, inputs.stanza, "incr"),
        },
    )
    files: list[dict[str, str]] = [
        {"path": PATRONI_YML, "permissions": "0640", "content": inputs.patroni_yml},
        {"path": PGBACKREST_CONF, "permissions": "0640", "content": inputs.pgbackrest_conf},
        {"path": ETCD_ENV, "permissions": "0644", "content": inputs.etcd_env},
        {"path": ETCDCTL_ENV, "permissions": "0644", "content": etcdctl_env(inputs)},
        {
            "path": PGBACKREST_TMPFILES,
            "permissions": "0644",
            "content": f"d {PGBACKREST_LOCK_PATH} 0750 postgres postgres -\n",
        },
        {
            "path": "/opt/aws/amazon-cloudwatch-agent/etc/cryb-pg.json",
            "permissions": "0644",
            "content": json.dumps(cloudwatch_agent_config(inputs), indent=1) + "\n",
        },
        *(
            {"path": f"/etc/systemd/system/{unit}", "permissions": "0644", "content": text}
            for unit, text in _units(inputs).items()
        ),
        {"path": ADDRESS_SCRIPT, "permissions": "0755", "content": address},
        {"path": POST_BOOTSTRAP_SCRIPT, "permissions": "0755", "content": post_bootstrap},
        {"path": ON_ROLE_CHANGE_SCRIPT, "permissions": "0755", "content": on_role_change},
        {"path": BACKUP_SCRIPT, "permissions": "0755", "content": backup},
        {"path": ETCD_CERTS_SCRIPT, "permissions": "0700", "content": etcd_certs},
        {"path": CREDENTIALS_AGENT, "permissions": "0700", "content": shipped_credentials_agent()},
        {
            "path": CREDENTIALS_AGENT_CONFIG,
            "permissions": "0600",
            "content": json.dumps(credentials_agent_config(inputs), indent=1) + "\n",
        },
        {"path": METRICS_AGENT, "permissions": "0755", "content": shipped_metrics_agent()},
        {
            "path": METRICS_AGENT_CONFIG,
            "permissions": "0644",
            "content": json.dumps(metrics_agent_config(inputs), indent=1) + "\n",
        },
        {"path": SETUP_SCRIPT, "permissions": "0700", "content": setup},
    ]
    document = {"write_files": files, "runcmd": [[SETUP_SCRIPT]]}
    return "#cloud-config\n" + yaml.dump(document, Dumper=_LiteralDumper, sort_keys=False, width=200)


def encode_user_data(text: str) -> str:
    """gzip + base64 for the launch template (cloud-init detects gzip); ValueError past EC2's 16 KiB."""
    packed = gzip.compress(text.encode(), mtime=0)  # mtime 0: same text, same bytes, no spurious diffs
    if len(packed) > USER_DATA_LIMIT_BYTES:
        raise ValueError(f"user data is {len(packed)} bytes gzipped; EC2 allows {USER_DATA_LIMIT_BYTES}")
    return base64.b64encode(packed).decode()


def node_role_policy(
    *,
    secret_arns: Sequence[str],
    secrets_kms_key_arn: str,
    log_group_arn: str,
    eni_arns: Sequence[str],
    region: str,
    account_id: str,
    cluster_tag: tuple[str, str],
    etcd_ca_secret_arn: str | None = None,
    ca_cert_secret_arn: str | None = None,
) -> dict[str, Any]:
    """Least privilege for a node, besides its backup prefix (backup_policies.writer_role_policy): read this
    cluster's secrets, decrypt them only through Secrets Manager, write its log group and its metrics namespace,
    read instance tags (the agent's AutoScalingGroupName dimension), and attach only this cluster's stable
    interfaces to instances tagged as this cluster's nodes."""
    tag_key, tag_value = cluster_tag
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                # Describe: which version is staged AWSPENDING while a rotation is in progress (the agent).
                "Sid": "ReadClusterSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                "Resource": list(secret_arns),
            },
            {
                # The agent acknowledges a rotation with `cryb-rotation-*` tags; no other tag may be set or changed.
                "Sid": "AcknowledgeRotations",
                "Effect": "Allow",
                "Action": "secretsmanager:TagResource",
                "Resource": list(secret_arns),
                "Condition": acknowledgement_tags_only(),
            },
            *(
                [
                    {
                        # The etcd CA: read it, and store one when it is still empty (the first node to boot; the
                        # idempotency token keeps the first value, components/selfhosted/cloud_init.py).
                        "Sid": "ReadOrStoreEtcdCa",
                        "Effect": "Allow",
                        "Action": ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"],
                        "Resource": etcd_ca_secret_arn,
                    }
                ]
                if etcd_ca_secret_arn
                else []
            ),
            *(
                [
                    {
                        # Publish the CA's certificate for applications (the same value from every node).
                        "Sid": "PublishCaCertificate",
                        "Effect": "Allow",
                        "Action": "secretsmanager:PutSecretValue",
                        "Resource": ca_cert_secret_arn,
                    }
                ]
                if ca_cert_secret_arn
                else []
            ),
            {
                "Sid": "DecryptSecretsThroughSecretsManager",
                "Effect": "Allow",
                # GenerateDataKey: storing the etcd CA encrypts a new secret version.
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"] if etcd_ca_secret_arn else "kms:Decrypt",
                "Resource": secrets_kms_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
            },
            {
                "Sid": "ShipLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                "Resource": [log_group_arn, f"{log_group_arn}:*"],
            },
            {
                "Sid": "PutNodeMetrics",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",  # PutMetricData has no resource-level permissions; the namespace is the scope
                "Condition": {"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
            },
            {
                # The CloudWatch agent reads the instance's `aws:autoscaling:groupName` tag for the
                # AutoScalingGroupName dimension and publishes nothing until it has it.
                "Sid": "ReadInstanceTagsForMetricDimensions",
                "Effect": "Allow",
                "Action": "ec2:DescribeTags",
                "Resource": "*",  # Describe actions have no resource-level permissions
                "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
            },
            {
                "Sid": "AttachOwnStableInterfaces",
                "Effect": "Allow",
                "Action": "ec2:AttachNetworkInterface",
                "Resource": list(eni_arns),
            },
            {
                "Sid": "OnlyToThisClustersNodes",
                "Effect": "Allow",
                "Action": "ec2:AttachNetworkInterface",
                "Resource": f"arn:aws:ec2:{region}:{account_id}:instance/*",
                "Condition": {"StringEquals": {f"aws:ResourceTag/{tag_key}": tag_value}},
            },
        ],
    }
