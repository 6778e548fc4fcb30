"""The `dr-drill` command's refusals (scripts/dr/command.py) and the monthly workflow that runs it."""

import json
from pathlib import Path

import typer
import yaml
from typer.testing import CliRunner

from scripts import PROJECT_DIR
from scripts.dr.command import dr_app

WORKFLOW = PROJECT_DIR / ".github" / "workflows" / "dr-drill.yml"


def _cli() -> typer.Typer:
    app = typer.Typer()  # as scripts/__main__.py registers it: app.add_typer(dr_app)

    @app.callback()
    def main() -> None:
        """Operator tools."""

    app.add_typer(dr_app)
    return app


def test_the_command_exits_2_with_a_clear_message_on_unusable_outputs(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"environment": "prod"}))
    result = CliRunner().invoke(_cli(), ["dr-drill", "--outputs", str(outputs)])
    assert result.exit_code == 2
    assert "no `postgres` output" in result.output


def test_the_workflow_drills_prod_monthly_and_keeps_the_report() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the `on` key as True
    assert "workflow_dispatch" in triggers and triggers["schedule"][0]["cron"].split()[2:4] == ["3", "*"]
    assert workflow["permissions"]["id-token"] == "write"  # OIDC, no stored AWS keys
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    runs = " ".join(str(s.get("run", "")) for s in steps)
    assert "pulumi stack output --json" in runs and "prod-outputs.json" in runs
    assert "-m scripts dr-drill" in runs and "--outputs prod-outputs.json" in runs
    (upload,) = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert upload["if"] == "always()" and "reports/dr-drill-" in upload["with"]["path"]
    assert workflow["concurrency"]["cancel-in-progress"] is False
