"""The SDK floor (scripts/bench/preview_floor.py): its arithmetic by hand, and one small real run that records what
it generates; no timing assertions (the figures live in the benchmark, docs/benchmarks.md)."""

import pytest

from scripts.bench.preview_floor import Floor, FloorRun, evaluate_floor, measure_floor, run_floor
from scripts.bench.preview_sweep import floor_sentence


def test_the_floor_is_the_slope_between_two_sizes_and_extends_from_the_small_run() -> None:
    floor = Floor(FloorRun(500, 1.0), FloorRun(2500, 5.0))
    assert floor.ms_per_resource == pytest.approx(2.0)  # (5.0 - 1.0) s / 2,000 resources
    assert floor.cpu_s_for(2550) == pytest.approx(5.1)  # 1.0 + 2,050 x 2 ms
    assert floor.cpu_s_for(500) == pytest.approx(1.0)


def test_the_sentence_says_whether_the_floor_alone_exceeds_the_target() -> None:
    floor = Floor(FloorRun(500, 1.0), FloorRun(2500, 5.0))
    assert floor_sentence(floor, 2550).endswith(
        "at least 5.10 s of CPU in the SDK alone on this machine, above the 3 s target."
    )
    assert floor_sentence(floor, 1000).endswith(
        "at least 2.00 s of CPU in the SDK alone on this machine, within the 3 s target."
    )
    assert floor_sentence(floor, 0).startswith("SDK floor: 2.00 ms of CPU per resource (2500 metric alarms")


def test_the_generated_program_registers_exactly_its_alarms_through_the_preview_engine() -> None:
    run = run_floor(7)  # a fresh process, as the sweep runs it
    assert run.resources == 7
    assert run.cpu_s > 0


def test_sizes_are_checked() -> None:
    with pytest.raises(ValueError, match="small = 5, large = 5"):
        measure_floor(5, 5)
    with pytest.raises(ValueError, match="count = 0"):
        evaluate_floor(0)
