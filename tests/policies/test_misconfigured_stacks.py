"""Misconfigured stack files (tests/policies/misconfigured/*.yaml), previewed as users preview them: each is
refused with a non-zero exit and the expected message. The config model refuses what it can see (exit 2, naming the
key); the policy pack catches what a valid config still gets wrong for the stack it is previewed as (exit 3, naming
the rule and the resource). Each file's header says `# stack:`, `# exit:` and one `# expect:` line per message."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from scripts.__main__ import app

CASES = sorted((Path(__file__).parent / "misconfigured").glob("*.yaml"))


def header(path: Path, key: str) -> list[str]:
    prefix = f"# {key}: "
    return [line[len(prefix) :] for line in path.read_text().splitlines() if line.startswith(prefix)]


def test_there_are_at_least_twenty_and_each_says_what_it_expects() -> None:
    assert len(CASES) >= 20
    for path in CASES:
        assert header(path, "stack") and header(path, "exit") and header(path, "expect"), path.name


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_previewing_a_misconfigured_file_fails_naming_the_problem(path: Path) -> None:
    (stack,), (code,) = header(path, "stack"), header(path, "exit")
    result = CliRunner().invoke(app, ["preview", "--stack", stack, "--config", str(path)], env={"COLUMNS": "400"})
    assert result.exit_code == int(code), result.output
    for expected in header(path, "expect"):
        assert expected in result.output, (expected, result.output[-3000:])
