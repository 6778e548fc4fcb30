"""The GitHub workflows are valid against the official workflow schema (offline, shipped by check-jsonschema)."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scripts.stack_files import PROJECT_DIR

WORKFLOWS = sorted((PROJECT_DIR / ".github" / "workflows").glob("*.yml"))


def check(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_there_are_workflows() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "preview.yml"}


def test_workflows_match_the_github_schema() -> None:
    done = check(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    stepz: []\n")
    assert check(broken).returncode != 0


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_pull_requests_preview_each_stack_with_the_policy_pack(stack: str) -> None:
    workflow = yaml.safe_load((WORKFLOWS[0].parent / "preview.yml").read_text())
    (job,) = workflow["jobs"].values()
    assert stack in job["strategy"]["matrix"]["stack"]
    (pulumi_step,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]
    assert pulumi_step["with"]["command"] == "preview"
    assert pulumi_step["with"]["policyPacks"] == "policies"
    assert pulumi_step["with"]["comment-on-pr"] is True
    assert Path(pulumi_step["with"]["policyPackConfigs"].replace("${{ matrix.stack }}", stack)).name == f"{stack}.json"


def test_ci_runs_exactly_the_ci_script() -> None:
    workflow = yaml.safe_load((WORKFLOWS[0].parent / "ci.yml").read_text())
    runs = [s.get("run") for job in workflow["jobs"].values() for s in job["steps"]]
    assert "bash .ci/run" in runs
