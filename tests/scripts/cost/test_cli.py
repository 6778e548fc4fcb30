"""The cost section as users run the preview: --json carries it, --compare shows a 2x-shard config's difference,
bad input gets one clear line, and the preview still loads no boto3."""

import json
import subprocess
import sys
from pathlib import Path

from scripts import PROJECT_DIR
from tests.helpers import stack_document, write_config

# 8 shards' staggered backup windows reach the default maintenance start: move it clear of them.
MOVED_MAINTENANCE = {"maintenanceWindowStart": "sun:14:00"}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts", *args], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=180
    )


def test_compare_with_twice_the_shards_costs_more_rds(tmp_path: Path) -> None:
    postgres = stack_document("prod")["config"]["cryb-db:postgres"]
    shards = int(postgres.get("shardCount", 4))
    bigger = write_config(
        tmp_path, "prod", {"cryb-db:postgres": {**postgres, "shardCount": 2 * shards, **MOVED_MAINTENANCE}}
    )
    done = run("preview", "--stack", "prod", "--json", "--compare", str(bigger))
    assert done.returncode == 0, done.stderr
    cost = json.loads(done.stdout)["cost"]
    compare = cost["compare"]
    assert compare["config"] == str(bigger)
    rds = compare["byComponent"]["cryb-prod-pg"]
    assert rds["difference"] > 0 and rds["compare"] == rds["stack"] + rds["difference"]
    assert compare["total"]["stack"] == cost["totalMonthlyUsd"]
    assert compare["total"]["difference"] >= rds["difference"]
    summary = tmp_path / "preview.json"
    summary.write_text(done.stdout)
    markdown = run("prices", "summary", str(summary))
    assert markdown.returncode == 0 and f"${cost['totalMonthlyUsd']:,.2f}" in markdown.stdout


def test_a_missing_compare_file_is_named() -> None:
    done = run("preview", "--stack", "dev", "--compare", "no-such-stack.yaml")
    assert done.returncode == 2
    assert "no-such-stack.yaml" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_bad_input_to_prices_is_one_line_naming_it(tmp_path: Path) -> None:
    done = run("prices", "refresh", "--region", "mars-north-9")
    assert done.returncode == 2 and "'mars-north-9'" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    done = run("prices", "summary", str(tmp_path / "absent.json"))
    assert done.returncode == 2 and "absent.json" in done.stderr


def test_the_preview_with_its_cost_section_loads_no_boto3() -> None:
    probe = (
        "import sys, scripts.__main__ as cli;"
        "cli.app(['preview', '--stack', 'dev', '--json'], standalone_mode=False);"
        "print('loaded:', sorted(m for m in ('psycopg', 'redis', 'boto3', 'botocore') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"cost": {' in done.stdout
    (loaded,) = [line for line in done.stdout.splitlines() if line.startswith("loaded:")]
    assert loaded == "loaded: []"
