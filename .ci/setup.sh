#!/usr/bin/env bash
# Set up a fresh machine for cryb-db: Debian packages for the real-server tests and the virtualenv.
# Idempotent: installs only what is missing. Used by `make setup`, and so by the README and CI.
# Creates two virtualenvs: .venv (program, CLI, tests) and policies/.venv (the policy pack, as the Pulumi CLI runs it).
set -euo pipefail
cd "$(dirname "$0")/.."

# Servers the tests start themselves on loopback (no systemd service is used or needed), node for pyright.
APT_PACKAGES=(
  postgresql-15 postgresql-contrib pgbouncer redis-server
  etcd-server patroni pgbackrest postgresql-15-partman postgresql-15-cron postgresql-15-pgaudit
  awscli python3-boto3 python3-yaml etcd-client  # the rendered node scripts (tests/real/sandbox)
  systemd iproute2 procps util-linux openssl curl jq  # the node sandbox (namespaces, units, tmpfiles, sysctl)
  nodejs make
  libpq-dev gcc python3-dev  # psycopg2, which barman (barman-cloud, tests/real/test_barman_cloud_archive.py) needs, builds from source
  prometheus prometheus-redis-exporter  # promtool (the data stores' alert rules) and the cache pods' exporter sidecar
)

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's packages start their services where systemd runs; the tests need none of them (and want the ports).
for service in postgresql pgbouncer redis-server etcd prometheus prometheus-redis-exporter; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
    echo "setup: note: system service $service is running; tests use their own servers on ephemeral ports"
  fi
done

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing pinned Python packages (about a minute)"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

# The policy pack's own virtualenv. `pulumi preview --policy-pack policies` runs the pack with the interpreter of
# policies/.venv (PulumiPolicy.yaml: runtime python, toolchain pip, virtualenv .venv) and installs nothing into a local
# pack, so it must exist first (docs/policies.md). Isolated from the system site-packages; tests/policies/engine/
# drives the pack with it.
if [ ! -x policies/.venv/bin/python ]; then
  echo "setup: creating policies/.venv (the policy pack's virtualenv) with $($PYTHON --version)"
  "$PYTHON" -m venv policies/.venv
fi
pack_stamp=policies/.venv/.requirements.sha256
pack_want=$(sha256sum < policies/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$pack_stamp" 2>/dev/null)" != "$pack_want" ]; then
  echo "setup: installing the policy pack's pinned packages into policies/.venv (about a minute)"
  policies/.venv/bin/python -m pip install -q --disable-pip-version-check -r policies/requirements.txt
  echo "$pack_want" > "$pack_stamp"
fi
