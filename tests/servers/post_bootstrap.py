"""The analytics cluster's post-bootstrap script exactly as the prod stack renders it (the launch template's user data),
run against a loopback PostgreSQL: it creates the admin role and database, and on the `partman` backend pg_partman
(and pg_cron where preloaded) with the admin's grants. Only the file that names the backend is moved into the
test's directory (on a node it is /etc/cryb-db/analytics-backend, written at boot)."""

import os
import subprocess
from pathlib import Path

from components.selfhosted.cloud_init import BACKEND_FILE
from components.selfhosted.patroni_config import POST_BOOTSTRAP_SCRIPT
from scripts.preview.mock_engine import Evaluation
from scripts.sandbox.userdata import decode_user_data, parse_cloud_config

from .postgres import PostgresServer

ANALYTICS_COMPONENT = "cryb-prod-analytics"


def rendered_post_bootstrap(prod: Evaluation, component: str = ANALYTICS_COMPONENT) -> str:
    """The script of the component's first node (every node carries the same one)."""
    templates = sorted(
        (t for t in prod.of_type("aws:ec2/launchTemplate:LaunchTemplate") if t.name.startswith(f"{component}-node-")),
        key=lambda t: t.name,
    )
    if not templates:
        raise LookupError(f"no launch template of {component} in the evaluation")
    config = parse_cloud_config(decode_user_data(templates[0].inputs["userData"]))
    return config.file(POST_BOOTSTRAP_SCRIPT).content


def run_post_bootstrap(
    script: str, server: PostgresServer, workdir: Path, *, backend: str, admin_password: str
) -> subprocess.CompletedProcess[str]:
    """Run the script as Patroni does (`<script> <superuser conninfo>`); raises on a non-zero exit."""
    backend_file = workdir / "analytics-backend"
    backend_file.write_text(f"{backend}\n")
    path = workdir / "post-bootstrap"
    path.write_text(script.replace(BACKEND_FILE, str(backend_file)))
    environment = {**os.environ, "CRYB_ADMIN_PASSWORD": admin_password}
    result = subprocess.run(
        ["bash", str(path), server.info.dsn_for(dbname="postgres")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"post-bootstrap exited {result.returncode}: {result.stderr.strip()[-2000:]}")
    return result
