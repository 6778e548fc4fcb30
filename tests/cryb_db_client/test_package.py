"""The router installs and runs without the Pulumi program: imported alone (a copy of the package, with pulumi and
components/ made unimportable), it routes a key from an outputs file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from scripts import PROJECT_DIR
from tests.servers.shards import stack_outputs

PROBE = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pulumi", "pulumi_aws", "components", "scripts", "policies"):
            raise ImportError(f"the router must not import {name}")
sys.meta_path.insert(0, Block())
sys.path.insert(0, sys.argv[2])  # only the copied package (python -I leaves the project off the path)
from cryb_db_client import Router, Static
router = Router.from_files(sys.argv[1], credentials=Static("app", "pw"), follow_moves=False)
route = router.route("user-1")
print(route.region, route.shard.id, route.bucket)
"""


def test_the_router_runs_alone(tmp_path: Path) -> None:
    shutil.copytree(PROJECT_DIR / "cryb_db_client", tmp_path / "cryb_db_client")
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(stack_outputs([(6000, "arn:aws:secretsmanager:us-east-1:1:secret:s", "app")], map_shards=1))
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", PROBE, str(outputs), str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    region, shard, bucket = done.stdout.split()
    assert (region, shard) == ("us-east-1", "0") and 0 <= int(bucket) < 1024


def test_the_router_has_its_own_distribution() -> None:
    pyproject = (PROJECT_DIR / "cryb_db_client" / "pyproject.toml").read_text()
    import tomllib

    project = tomllib.loads(pyproject)["project"]
    names = sorted(d.split(">")[0].split("=")[0] for d in project["dependencies"])
    assert names == ["psycopg", "psycopg-pool"]  # no pulumi: applications install only this
    assert project["optional-dependencies"]["aws"][0].startswith("boto3")


def test_every_exported_name_resolves_and_hashing_alone_loads_no_driver() -> None:
    probe = (
        "import sys, cryb_db_client.hashing as h;"
        "assert 'psycopg' not in sys.modules, 'hashing pulled in psycopg';"
        "import cryb_db_client as c;"
        "missing = [n for n in c.__all__ if getattr(c, n, None) is None];"
        "print(sorted(c._MODULE_OF) == sorted(c.__all__), missing)"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "[]"]
