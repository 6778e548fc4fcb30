"""The Patroni credential rotation benchmark's figures (scripts/bench/patroni_rotation.py), no servers."""

import pytest

from scripts.bench.patroni_rotation import ClientLog


def test_the_rotation_benchmark_measures_the_longest_run_of_failures() -> None:
    assert ClientLog(10, []).longest_gap(0.05) == 0.0
    # Two runs of failures 50 ms apart (3 and 5 attempts), separated by successes: the longer counts.
    failures = [1.0, 1.05, 1.1, 3.0, 3.05, 3.1, 3.15, 3.2]
    assert ClientLog(40, failures).longest_gap(0.05) == pytest.approx(0.25)
