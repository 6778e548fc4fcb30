"""Node images fit their CPU architecture (issue 13, defect 5): a baked AMI is built for one architecture and EC2
refuses to start it on another, so the config checks the image of every node type before any resource exists, and
each launch template resolves the image of its own type's architecture."""

from pathlib import Path

import pytest

from components.config import ConfigError
from components.config.selfhosted import image_problems
from components.selfhosted.cloud_init import image_ssm_parameter
from scripts.preview.mock_engine import evaluate
from tests.helpers import write_config

ANALYTICS_KEY = "cryb-db:selfhosted.clusters.analytics.instanceType"
SHARD_KEY = "cryb-db:postgres.ec2.instanceType"
MIXED = {ANALYTICS_KEY: "i4i.2xlarge", SHARD_KEY: "r7gd.2xlarge"}


def test_one_image_for_one_architecture_is_fine() -> None:
    assert image_problems("/cryb-db/images/pg", {ANALYTICS_KEY: "i4i.2xlarge", SHARD_KEY: "i4i.xlarge"}) == []
    assert image_problems(None, MIXED) == []  # the public Debian parameter is chosen per type


def test_one_image_for_two_architectures_names_the_key_the_types_and_the_fix() -> None:
    (problem,) = image_problems("/cryb-db/images/pg", MIXED)
    assert problem.startswith("cryb-db:selfhosted.imageSsmParameter = '/cryb-db/images/pg'")
    assert "arm64: cryb-db:postgres.ec2.instanceType r7gd.2xlarge" in problem
    assert "x86_64: cryb-db:selfhosted.clusters.analytics.instanceType i4i.2xlarge" in problem
    assert "one per architecture" in problem


def test_a_map_must_cover_every_architecture_in_use() -> None:
    assert image_problems({"x86_64": "/img/x86", "arm64": "/img/arm"}, MIXED) == []
    (problem,) = image_problems({"x86_64": "/img/x86"}, MIXED)
    assert problem.startswith("cryb-db:selfhosted.imageSsmParameter.arm64: missing")
    assert "r7gd.2xlarge" in problem and "x86_64, arm64" in problem


def test_each_type_resolves_the_image_of_its_architecture() -> None:
    images = {"x86_64": "/img/x86", "arm64": "/img/arm"}
    assert image_ssm_parameter("i4i.2xlarge", images) == "/img/x86"
    assert image_ssm_parameter("r7gd.xlarge", images) == "/img/arm"
    assert image_ssm_parameter("r7gd.xlarge", "/img/one") == "/img/one"
    assert image_ssm_parameter("r7gd.xlarge") == "/aws/service/debian/release/bookworm/latest/arm64"
    assert image_ssm_parameter("i4i.xlarge") == "/aws/service/debian/release/bookworm/latest/amd64"
    with pytest.raises(ValueError, match=r"r7gd\.xlarge is arm64"):
        image_ssm_parameter("r7gd.xlarge", {"x86_64": "/img/x86"})


def _launch_template_images(tmp_path: Path, images: object) -> dict[str, str]:
    overrides = {
        "cryb-db:postgres": {"engine": "ec2", "shardCount": 1, "ec2": {"instanceType": "r7gd.2xlarge"}},
        "cryb-db:selfhosted": {"imageSsmParameter": images, "clusters": {"analytics": {"timescaledb": True}}},
    }
    evaluation = evaluate("prod", write_config(tmp_path, "prod", overrides))
    return {
        template.name: template.inputs["imageId"]
        for template in evaluation.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    }


def test_the_program_gives_each_launch_template_its_architectures_image(tmp_path: Path) -> None:
    images = _launch_template_images(tmp_path, {"x86_64": "/cryb-db/images/pg-x86", "arm64": "/cryb-db/images/pg-arm"})
    analytics = {name: image for name, image in images.items() if name.startswith("cryb-prod-analytics-")}
    shards = {name: image for name, image in images.items() if "-pg-" in name}
    assert len(analytics) == 3 and len(shards) == 3
    assert set(analytics.values()) == {"resolve:ssm:/cryb-db/images/pg-x86"}  # i4i (default analytics type)
    assert set(shards.values()) == {"resolve:ssm:/cryb-db/images/pg-arm"}  # r7gd


def test_the_program_refuses_one_image_for_both_before_any_resource(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"imageSsmParameter = '/cryb-db/images/pg'.*two CPU architectures"):
        _launch_template_images(tmp_path, "/cryb-db/images/pg")
