"""The mock-engine harness records what the real engine would receive, and masks secrets."""

import json
import textwrap
from pathlib import Path

import pytest

from scripts.mock_engine import evaluate
from scripts.stack_files import SECRET_PLACEHOLDER, read_stack_file

PROGRAM = """
import pulumi
import pulumi_aws as aws

class Box(pulumi.ComponentResource):
    def __init__(self, name, opts=None):
        super().__init__("cryb:test:Box", name, None, opts)
        self.key = aws.kms.Key(f"{name}-key", deletion_window_in_days=7, opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})

box = Box("box")
config = pulumi.Config("cryb-db")
group = aws.cloudwatch.LogGroup("logs", kms_key_id=box.key.arn, retention_in_days=365,
                                tags={"token": config.require_secret("token")})
pulumi.export("groupArn", group.arn)
pulumi.export("token", config.require_secret("token"))
pulumi.export("size", config.get_object("sizes"))
"""


@pytest.fixture()
def tiny_program(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "__main__.py").write_text(PROGRAM)
    config = tmp_path / "Pulumi.test.yaml"
    config.write_text(
        textwrap.dedent("""\
        config:
          aws:region: eu-west-1
          cryb-db:token:
            secure: v1:AAAAencrypted
          cryb-db:sizes:
            small: 1
            large: true
        """)
    )
    return tmp_path, config


def test_dependent_inputs_parents_and_numbers_are_recorded(tiny_program: tuple[Path, Path]) -> None:
    program_dir, config = tiny_program
    evaluation = evaluate("test", config, program_dir=program_dir)
    group = evaluation.named("logs")
    key = evaluation.named("box-key")
    assert group.inputs["kmsKeyId"] == "arn:aws:kms:eu-west-1:123456789012:key/box-key"  # echoed, not dropped
    assert group.inputs["retentionInDays"] == 365.0 and isinstance(group.inputs["retentionInDays"], float)
    assert key.parent == evaluation.named("box").urn
    assert group.parent is None
    assert evaluation.children(evaluation.named("box").urn) == [key]
    assert evaluation.by_id(key.id) is key


def test_secrets_are_masked_in_inputs_and_outputs(tiny_program: tuple[Path, Path]) -> None:
    program_dir, config = tiny_program
    evaluation = evaluate("test", config, program_dir=program_dir)
    group = evaluation.named("logs")
    assert group.masked_inputs()["tags"]["token"] == SECRET_PLACEHOLDER
    assert "token" in evaluation.secret_outputs
    masked = evaluation.masked_outputs()
    assert masked["token"] == SECRET_PLACEHOLDER
    assert masked["size"] == {"small": 1, "large": True}
    assert masked["groupArn"].startswith("arn:aws:logs:eu-west-1:123456789012:log-group:")


def test_program_errors_propagate(tmp_path: Path) -> None:
    (tmp_path / "__main__.py").write_text("raise RuntimeError('boom in program')\n")
    config = tmp_path / "Pulumi.x.yaml"
    config.write_text("config: {}\n")
    with pytest.raises(RuntimeError, match="boom in program"):
        evaluate("x", config, program_dir=tmp_path)


def test_an_invoke_without_a_mock_answer_fails_loudly(tmp_path: Path) -> None:
    (tmp_path / "__main__.py").write_text("import pulumi_aws as aws\naws.ec2.get_vpc(default=True)\n")
    config = tmp_path / "Pulumi.x.yaml"
    config.write_text("config: {}\n")
    with pytest.raises(Exception, match="no answer for invoke aws:ec2/getVpc:getVpc"):
        evaluate("x", config, program_dir=tmp_path)


def test_stack_file_values_are_passed_as_the_engine_passes_them(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.s.yaml"
    path.write_text("config:\n  a:flag: true\n  a:count: 3\n  a:obj: {x: [1, 2]}\n  a:pw: {secure: v1:xyz}\n")
    stack_file = read_stack_file(path)
    assert stack_file.config == {
        "a:flag": "true",
        "a:count": "3",
        "a:obj": json.dumps({"x": [1, 2]}),
        "a:pw": SECRET_PLACEHOLDER,
    }
    assert stack_file.secret_keys == ["a:pw"]


def test_evaluations_are_independent() -> None:
    first = evaluate("dev")
    second = evaluate("dev")
    assert [r.urn for r in first.resources] == [r.urn for r in second.resources]
    assert [r.inputs for r in first.resources] == [r.inputs for r in second.resources]
