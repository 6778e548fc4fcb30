"""The preview sweep (scripts/bench/preview_sweep.py): its configs, its slope and one point; no timing assertions
(the figures live in the benchmark, docs/benchmarks.md)."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config.postgres import RDS_ONLY_FIELDS
from scripts.bench.preview_sweep import (
    POSTGRES,
    PointResult,
    SweepPoint,
    point_config,
    run_preview,
    slope,
    summary,
    sweep_points,
    table_rows,
)
from scripts.preview.stack_files import stack_file_path


@pytest.fixture(scope="module")
def prod_file() -> dict[str, Any]:
    return yaml.safe_load(stack_file_path("prod").read_text())


def test_every_point_is_valid_or_refused_with_the_configs_message(prod_file: dict[str, Any], tmp_path: Path) -> None:
    points = sweep_points(prod_file, tmp_path)
    covered = {(p.shards, p.replicas) for p, _, _ in points if p.postgres_engine == "rds"}
    assert covered == {(s, r) for s in (1, 4, 8, 16) for r in (1, 5)}
    assert {(p.postgres_engine, p.cache_engine) for p, _, _ in points} >= {("ec2", "elasticache"), ("rds", "ec2")}
    for point, path, refused in points:
        written = yaml.safe_load(path.read_text())["config"][POSTGRES]
        assert written["shardCount"] == point.shards
        if refused is not None:
            assert refused.startswith("cryb-db:"), refused  # the ConfigError's line: key = value: why
    # The program places the windows of every allowed shape, the largest (16 x 5) included: nothing is refused.
    assert [(p.label, refused) for p, _, refused in points if refused is not None] == []


def test_an_ec2_point_drops_the_rds_only_keys_of_the_prod_file(prod_file: dict[str, Any]) -> None:
    document = point_config(prod_file, SweepPoint(4, None, postgres_engine="ec2", cache_engine="ec2"))
    postgres = document["config"][POSTGRES]
    assert postgres["engine"] == "ec2" and "readReplicas" not in postgres
    assert not {"instanceClass", "storageType", "iops"} & set(postgres)
    assert all(name not in postgres for name in RDS_ONLY_FIELDS)
    assert document["config"]["cryb-db:cache"]["engine"] == "ec2"
    assert prod_file["config"][POSTGRES]["instanceClass"] == "db.r7g.2xlarge"  # the base is not changed


def test_the_slope_is_the_least_squares_cost_per_resource() -> None:
    assert slope([100, 200, 300], [1000, 1200, 1400]) == pytest.approx(2.0)
    assert slope([0, 1, 2, 3], [1, 3, 2, 4]) == pytest.approx(0.8)  # not just end points: (4 - 1) / 3 = 1.0
    assert slope([500, 500], [1.0, 2.0]) == 0.0

    def point(resources: int, seconds: float, mib: float, cpu: float) -> PointResult:
        return PointResult(str(resources), SweepPoint(1, 1), None, resources, [seconds], [mib], [cpu], [3.5, 5.04])

    refused = PointResult("8 shards", SweepPoint(8, 1), "cryb-db:postgres.x = 1: no")
    totals = summary([point(400, 2.0, 200, 1.5), refused, point(1400, 4.5, 400, 3.5)])
    assert totals["ms_per_resource"] == pytest.approx(2.5)
    assert totals["cpu_ms_per_resource"] == pytest.approx(2.0)  # (3.5 - 1.5) s / 1,000 resources
    assert totals["largest_median_cpu_s"] == 3.5
    assert totals["largest_resources"] == 1400 and not totals["largest_meets_target"] and totals["slope_meets_target"]
    assert table_rows([refused])[0][-1] == "config refuses: cryb-db:postgres.x = 1: no"
    # label, resources, min s, median s, median CPU s, load average range, peak MiB, verdict
    assert table_rows([point(400, 2.0, 200, 1.5)])[0] == ["400", "400", "2.00", "2.00", "1.50", "3.5-5.0", "200", "yes"]


def test_one_point_previews_in_a_fresh_process(prod_file: dict[str, Any], tmp_path: Path) -> None:
    config = tmp_path / "point.yaml"
    config.write_text(yaml.safe_dump(point_config(prod_file, SweepPoint(1, 1)), sort_keys=False))
    run = run_preview(config)
    assert run.code in (0, 3), run.stderr
    assert run.resources is not None and run.resources > 100
    assert run.seconds > 0 and run.peak_mib > 50  # a Python process with pulumi loaded
    assert run.cpu_seconds > 0.3  # the child's own CPU time (importing pulumi_aws alone takes more), not ours
    assert run.load_average >= 0
