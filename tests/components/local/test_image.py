"""The local stack's image: the Dockerfile passes hadolint, the entrypoint passes shellcheck, and the entrypoint
really installs a node's rendered files (from the component's own uploads) into a temporary root."""

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

from components.cache.redis_conf import acl_users
from components.local.component import IMAGE_DIR
from components.selfhosted.cloud_init import PATRONI_YML
from scripts.preview.mock_engine import evaluate

BIN = Path(sys.executable).parent
ENTRYPOINT = IMAGE_DIR / "entrypoint.sh"


def test_dockerfile_passes_hadolint() -> None:
    done = subprocess.run([BIN / "hadolint", IMAGE_DIR / "Dockerfile"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN apt-get install curl\n")
    done = subprocess.run([BIN / "hadolint", bad], capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "DL3006" in done.stdout


def test_dockerfile_installs_the_node_packages_and_bakes_no_config() -> None:
    text = (IMAGE_DIR / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM debian:bookworm-slim" in text
    for package in ("patroni", "etcd-server", "pgbackrest", "postgresql-$PG_MAJOR-partman", "redis-server"):
        assert package in text
    copied = [line for line in text.splitlines() if line.startswith(("COPY", "ADD"))]
    assert copied == ["COPY --chmod=0755 entrypoint.sh /usr/local/bin/cryb-entrypoint"]


def test_entrypoint_passes_shellcheck() -> None:
    done = subprocess.run([BIN / "shellcheck", ENTRYPOINT], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout


def _stage(tmp_path: Path, node: str) -> tuple[Path, Path, dict[str, str]]:
    """The uploads the component declares for `node`, written as Docker would: (stage, secrets, contents)."""
    container = evaluate("local").named(f"cryb-local-{node}")
    stage, secrets = tmp_path / "stage", tmp_path / "secrets"
    contents = {}
    for upload in container.inputs["uploads"]:
        path = upload["file"]
        if path.startswith("/etc/cryb-local/files/"):
            target = stage / path.removeprefix("/etc/cryb-local/files/")
        else:
            target = secrets / path.removeprefix("/etc/cryb-local/secrets/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(upload["content"])
        contents[path] = upload["content"]
    return stage, secrets, contents


def _run(tmp_path: Path, stage: Path, secrets: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRYB_ROOT": str(tmp_path / "root"), "CRYB_STAGE": str(stage), "CRYB_SECRETS": str(secrets)}
    return subprocess.run(["bash", ENTRYPOINT, *args], capture_output=True, text=True, env=env, check=False)


def test_entrypoint_applies_a_patroni_nodes_rendered_files(tmp_path: Path) -> None:
    stage, secrets, contents = _stage(tmp_path, "analytics-b")
    done = _run(tmp_path, stage, secrets, "apply")
    assert done.returncode == 0, done.stderr
    root = tmp_path / "root"
    manifest = (stage / "manifest").read_text().splitlines()
    assert len(manifest) >= 6 and f"installed {len(manifest)} rendered files" in done.stderr
    for line in manifest:
        mode, _, path = line.split(" ", 2)
        installed = root / path.lstrip("/")
        assert installed.read_text() == contents[f"/etc/cryb-local/files{path}"]
        assert stat.S_IMODE(installed.stat().st_mode) == int(mode, 8), path
    assert "analytics-b" in (root / PATRONI_YML.lstrip("/")).read_text()


def test_entrypoint_refuses_a_manifest_naming_a_missing_file(tmp_path: Path) -> None:
    stage, secrets, _ = _stage(tmp_path, "analytics-a")
    (stage / "etc/patroni/cryb/patroni.yml").unlink()
    done = _run(tmp_path, stage, secrets, "apply")
    assert done.returncode == 1 and "patroni.yml is missing" in done.stderr


def test_entrypoint_fills_the_cache_acl_with_password_hashes(tmp_path: Path) -> None:
    stage, secrets, _ = _stage(tmp_path, "cache-s0-master")
    for user in acl_users():  # the mock engine's stand-in passwords, as the secret uploads would carry
        assert (secrets / f"cache-{user}").is_file()
    assert _run(tmp_path, stage, secrets, "apply").returncode == 0
    done = _run(tmp_path, stage, secrets, "fill-acl")
    assert done.returncode == 0, done.stderr
    acl = (tmp_path / "root/etc/cryb-cache/users.acl").read_text()
    assert "@@" not in acl
    app_password = (secrets / "cache-app").read_text()
    assert f"user app on resetpass #{hashlib.sha256(app_password.encode()).hexdigest()}" in acl
    assert app_password not in acl
    conf = (tmp_path / "root/etc/cryb-cache/secrets.conf").read_text()
    assert conf == f'masterauth "{(secrets / "cache-replicator").read_text()}"\n'
    assert (tmp_path / "root/usr/local/sbin/cryb-cache-bootstrap").stat().st_mode & stat.S_IXUSR
