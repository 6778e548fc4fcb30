#!/bin/bash
# cryb-entrypoint: the entrypoint of every node container of the `local` stack (components/local/).
#   apply           install the rendered files uploaded to $CRYB_STAGE at the paths its manifest names
#   run patroni     apply, make the node's TLS certificate, start etcd, then Patroni (PostgreSQL) in the foreground
#   run cache       apply, fill the ACL hashes, make the TLS certificate, start the cache server (node 0 bootstraps)
#   health ROLE     the container's health check
# Secrets are files under $CRYB_SECRETS (Pulumi secret uploads), read here and never put in the container's
# configured environment. CRYB_ROOT prefixes every written path (tests apply into a temporary root).
set -euo pipefail

ROOT=${CRYB_ROOT:-}
STAGE=${CRYB_STAGE:-/etc/cryb-local/files}
SECRETS=${CRYB_SECRETS:-/etc/cryb-local/secrets}
CA_DIR=${CRYB_CA_DIR:-/var/lib/cryb-ca}
ADDRESS=${CRYB_ADDRESS:-127.0.0.1}

log() { echo "cryb-entrypoint: $*" >&2; }

owned_by() {  # owned_by <owner> <path>: chown when running as root and the user exists (not in a test root)
  local owner=$1 target=$2
  if [ "$(id -u)" = 0 ] && [ -z "$ROOT" ] && id -u "$owner" >/dev/null 2>&1; then
    chown "$owner:" "$target"
  fi
}

apply() {
  local mode owner path count=0
  [ -f "$STAGE/manifest" ] || { log "no manifest in $STAGE"; exit 1; }
  while read -r mode owner path; do
    [ -n "${path:-}" ] || continue
    [ -f "$STAGE$path" ] || { log "manifest names $path but $STAGE$path is missing"; exit 1; }
    install -D -m "$mode" "$STAGE$path" "$ROOT$path"
    owned_by "$owner" "$ROOT$path"
    count=$((count + 1))
  done < "$STAGE/manifest"
  log "installed $count rendered files"
}

secret() {  # secret <name>: one secret file's content
  [ -f "$SECRETS/$1" ] || { log "secret $1 missing in $SECRETS"; exit 1; }
  cat "$SECRETS/$1"
}

node_certificate() {  # node_certificate <dir> <owner>: a certificate for this node, signed by the stack's CA
  local dir=$ROOT$1 owner=$2
  install -d -m 0755 "$ROOT$CA_DIR" "$dir"
  (
    flock 9
    if [ ! -f "$ROOT$CA_DIR/ca.crt" ]; then
      openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=cryb-db local CA" \
        -keyout "$ROOT$CA_DIR/ca.key" -out "$ROOT$CA_DIR/ca.crt" 2>/dev/null
      chmod 0600 "$ROOT$CA_DIR/ca.key"
    fi
  ) 9>"$ROOT$CA_DIR/.lock"
  if [ ! -f "$dir/node.crt" ]; then
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$(hostname)" -keyout "$dir/node.key" -out "$dir/node.csr" 2>/dev/null
    printf 'subjectAltName=IP:%s,IP:127.0.0.1,DNS:%s,DNS:localhost\n' "$ADDRESS" "$(hostname)" > "$dir/node.ext"
    openssl x509 -req -in "$dir/node.csr" -CA "$ROOT$CA_DIR/ca.crt" -CAkey "$ROOT$CA_DIR/ca.key" -CAcreateserial \
      -days 825 -extfile "$dir/node.ext" -out "$dir/node.crt" 2>/dev/null
    rm -f "$dir/node.csr" "$dir/node.ext"
  fi
  install -m 0644 "$ROOT$CA_DIR/ca.crt" "$dir/ca.crt"
  chmod 0600 "$dir/node.key"
  owned_by "$owner" "$dir/node.key"
  owned_by "$owner" "$dir/node.crt"
}

fill_acl() {  # the ACL file from its template: each @@SHA256:<user>@@ becomes the hash of the user's password
  local conf=$ROOT/etc/cryb-cache text user digest
  text=$(cat "$conf/users.acl.template")
  while read -r user; do
    digest=$(secret "cache-$user" | tr -d '\n' | sha256sum | cut -d' ' -f1)
    text=${text//@@SHA256:$user@@/$digest}
  done < <(grep -o '@@SHA256:[a-z]*@@' "$conf/users.acl.template" | sed 's/@@SHA256:\(.*\)@@/\1/' | sort -u)
  printf '%s\n' "$text" > "$conf/users.acl"
  printf 'masterauth "%s"\n' "$(secret cache-replicator)" > "$conf/secrets.conf"
  chmod 0600 "$conf/users.acl" "$conf/secrets.conf"
  owned_by redis "$conf/users.acl"
  owned_by redis "$conf/secrets.conf"
}

run_patroni() {
  apply
  install -d -m 0700 /data/postgresql /data/etcd
  install -d -m 0750 /data/pgbackrest-repo /data/pgbackrest-spool /var/log/pgbackrest /run/pgbackrest \
    /var/run/postgresql /var/log/patroni /var/log/postgresql /etc/pgbackrest/conf.d
  chown postgres: /data/postgresql /data/pgbackrest-repo /data/pgbackrest-spool /var/log/pgbackrest \
    /run/pgbackrest /var/run/postgresql /var/log/patroni /var/log/postgresql
  chown etcd: /data/etcd
  node_certificate /etc/cryb-db/tls postgres
  printf '[global]\nrepo1-cipher-pass=%s\n' "$(secret pgbackrest)" > /etc/pgbackrest/conf.d/cipher.conf
  chmod 0640 /etc/pgbackrest/conf.d/cipher.conf
  chown root:postgres /etc/pgbackrest/conf.d/cipher.conf
  set -a
  # shellcheck disable=SC1091 # rendered by components/selfhosted/patroni_config.py, uploaded at create
  . /etc/cryb-db/etcd.env
  set +a
  runuser -u etcd -- etcd >>/var/log/etcd.log 2>&1 &
  export PATRONI_SUPERUSER_PASSWORD PATRONI_REPLICATION_PASSWORD PATRONI_REWIND_PASSWORD PATRONI_RESTAPI_PASSWORD
  export CRYB_ADMIN_PASSWORD
  PATRONI_SUPERUSER_PASSWORD=$(secret superuser)
  PATRONI_REPLICATION_PASSWORD=$(secret replication)
  PATRONI_REWIND_PASSWORD=$(secret rewind)
  PATRONI_RESTAPI_PASSWORD=$(secret restapi)
  CRYB_ADMIN_PASSWORD=$(secret admin)
  exec runuser -u postgres -- patroni /etc/patroni/cryb/patroni.yml
}

run_cache() {
  apply
  install -d -m 0750 /var/lib/cryb-cache
  chown redis: /var/lib/cryb-cache
  fill_acl
  node_certificate /etc/cryb-cache/tls redis
  if [ -x /usr/local/sbin/cryb-cache-bootstrap ]; then
    REDISCLI_AUTH=$(secret cache-admin)
    (
      export REDISCLI_AUTH CACHE_CLI=redis-cli CACHE_TLS_ARGS="--tls --cacert /etc/cryb-cache/tls/ca.crt"
      sleep 2
      /usr/local/sbin/cryb-cache-bootstrap || log "cluster bootstrap failed; it runs again at the next start"
    ) &
  fi
  exec runuser -u redis -- redis-server /etc/cryb-cache/redis.conf
}

health() {
  case $1 in
    patroni) curl -fsk -o /dev/null "https://127.0.0.1:${CRYB_RESTAPI_PORT:-8008}/health" ;;
    cache)
      redis-cli --tls --cacert /etc/cryb-cache/tls/ca.crt -p "${CRYB_CACHE_PORT:?}" PING 2>&1 | grep -q -e PONG -e NOAUTH
      ;;
    *) log "unknown role $1"; exit 2 ;;
  esac
}

case ${1:-} in
  apply) apply ;;
  run)
    case ${2:-} in
      patroni) run_patroni ;;
      cache) run_cache ;;
      *) log "usage: $0 run patroni|cache"; exit 2 ;;
    esac
    ;;
  health) health "${2:-}" ;;
  fill-acl) fill_acl ;;
  *) log "usage: $0 apply | run patroni|cache | health patroni|cache | fill-acl"; exit 2 ;;
esac
