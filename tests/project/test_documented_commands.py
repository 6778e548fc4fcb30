"""Every `python -m scripts ...` command shown in README.md and docs/ exists with the options it shows, every command
and subcommand answers `--help`, and the documented commands that run offline run with the exit code the docs
promise. Derived from the docs and the CLI, so commands documented later are checked too."""

import re
import shlex
from functools import cache
from typing import Any

import pytest
import typer

from scripts import PROJECT_DIR
from scripts.__main__ import app
from tests.cli import run_cli

DOC_FILES = [PROJECT_DIR / "README.md", *sorted((PROJECT_DIR / "docs").glob("*.md"))]
PLACEHOLDER = re.compile(r"^(<.*>|[A-Z][A-Z_.]*|\.\.\.|…)$")


@cache
def root() -> Any:
    return typer.main.get_command(app)


def command_paths(command: Any = None, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and subcommand of the CLI, e.g. ("analytics", "migrate")."""
    command = command or root()
    paths = [prefix]
    if hasattr(command, "list_commands"):
        import click

        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            paths += command_paths(command.get_command(ctx, name), (*prefix, name))
    return paths


def documented_commands() -> list[tuple[str, str]]:
    """(where, the words after `python -m scripts`) for each command shown in the docs."""
    found = []
    for path in DOC_FILES:
        text = re.sub(r"\\\n\s*", " ", path.read_text())  # shell line continuations
        for number, line in enumerate(text.splitlines(), 1):
            for match in re.finditer(r"python -m scripts((?: [^`\n|#]*)?)", line.replace("\\|", "/")):
                words = match.group(1).split("  ")[0].strip().rstrip(".,;:)")
                found.append((f"{path.name}:{number}", words))
    return found


def split(words: str) -> tuple[tuple[str, ...], list[str]]:
    """(the command path, the options shown) of a documented command line."""
    known = set(command_paths())
    tokens = [t.strip("[]").rstrip(":,;") for t in words.replace("[", " [ ").replace("]", " ] ").split()]
    tokens = [t for t in tokens if t]
    path: tuple[str, ...] = ()
    for token in tokens:
        if (*path, token) in known:
            path = (*path, token)
        else:
            break
    options = sorted({t.split("=", 1)[0] for t in tokens if t.startswith("--")})
    return path, options


DOCUMENTED = documented_commands()


def test_the_docs_show_commands() -> None:
    assert len(DOCUMENTED) > 40
    assert {split(words)[0] for _, words in DOCUMENTED} >= {("preview",), ("health",), ("analytics", "migrate")}


@pytest.mark.parametrize(("where", "words"), DOCUMENTED, ids=[f"{w}:{c}" for w, c in DOCUMENTED])
def test_every_documented_command_and_option_exists(where: str, words: str) -> None:
    path, options = split(words)
    first = words.split()[0] if words.split() else ""
    assert path or first in ("", "--help", "...") or first.startswith("<"), f"{where}: no command {words!r}"
    import click

    def command_at(names: tuple[str, ...]) -> Any:
        command = root()
        for name in names:
            command = command.get_command(click.Context(command), name)
        return command

    # `shards plan|move|status ...`: alternatives after the path; each must exist, the options belong to one of them
    rest = words.split()[len(path) :]
    alternatives = rest[0].split("/") if rest and "/" in rest[0] and not rest[0].startswith("-") else []
    paths = [(*path, a) for a in alternatives] if alternatives else [path]
    known = set(command_paths())
    assert all(p in known for p in paths), f"{where}: no command among {paths}"
    accepted = {"--help"}
    for names in paths:
        accepted |= {opt for param in command_at(names).params for opt in (*param.opts, *param.secondary_opts)}
    unknown = [o for o in options if o not in accepted]
    assert unknown == [], f"{where}: `python -m scripts {words}` shows {unknown}, which the command does not take"


# One process renders every command's help, as `python -m scripts <command> --help` does (same entry point, output
# to a pipe): ~30 separate processes would cost minutes.
HELP_SCRIPT = """
import contextlib, io, json, os, sys
from scripts.__main__ import _invoke
from scripts.cli.help import hide_flag_types
from scripts.cli.output import widen_piped_output
widen_piped_output(os.environ, sys.stdout, sys.stderr)
hide_flag_types()
answers = {}
for path in json.loads(sys.argv[1]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = _invoke([*path, "--help"])
    answers[" ".join(path)] = [code, out.getvalue()]
sys.stdout.write(json.dumps(answers))
"""


@cache
def helps() -> dict[str, list[Any]]:
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", HELP_SCRIPT, json.dumps(command_paths())],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "(root)")
def test_every_command_answers_help(path: tuple[str, ...]) -> None:
    code, text = helps()[" ".join(path)]
    assert code == 0, text
    assert f"Usage: python -m scripts {' '.join(path)}".rstrip() in text
    assert "<bool>" not in text  # a flag takes no value, so it shows no type
    assert max(len(line) for line in text.splitlines()) <= 100  # help prose wraps even when piped
    command = root()
    import click

    for name in path:
        command = command.get_command(click.Context(command), name)
    if hasattr(command, "list_commands"):  # a group lists its subcommands
        subcommands = command.list_commands(click.Context(command))
        assert subcommands and all(name in text for name in subcommands)
    else:
        assert "COMMAND [ARGS]" not in text


def test_help_as_a_user_runs_it() -> None:
    """One real `--help` through `python -m scripts`, to tie the in-process rendering above to the entry point."""
    done = run_cli("health", "--help", timeout=120)
    assert done.returncode == 0 and done.stdout == helps()["health"][1]


# Documented commands that run offline: the same words, with what the docs promise.
OFFLINE = {
    ("preview",): 0,  # the shipped stacks have no mandatory violation
    ("config-docs",): 0,  # with --check: docs/configuration.md is current
}


def offline_runs() -> list[tuple[str, list[str], int]]:
    """The documented offline commands in their shortest documented form (optional `[...]` parts dropped)."""
    runs: dict[tuple[str, ...], tuple[str, int]] = {}
    for where, words in DOCUMENTED:
        path, _ = split(words)
        minimal = re.sub(r"\[[^\]]*\]", " ", words)
        if path not in OFFLINE or any(c in minimal for c in "<…/"):
            continue
        argv = shlex.split(minimal)
        if path == ("config-docs",):
            argv = ["config-docs", "--check"]  # never rewrite the docs from a test
        elif len(argv) == len(path):  # the command named in prose, not a command line
            continue
        if any(PLACEHOLDER.match(a) for a in argv) or "--config" in argv or "--compare" in argv:
            continue
        runs.setdefault(tuple(argv), (where, OFFLINE[path]))
    return [(where, list(argv), code) for argv, (where, code) in runs.items()]


OFFLINE_RUNS = offline_runs()


def test_offline_commands_were_found() -> None:
    assert {tuple(a[:3]) for _, a, _ in OFFLINE_RUNS} >= {("preview", "--stack", "prod"), ("config-docs", "--check")}


@pytest.mark.parametrize(("where", "argv", "code"), OFFLINE_RUNS, ids=[" ".join(a) for _, a, _ in OFFLINE_RUNS])
def test_documented_offline_commands_run(where: str, argv: list[str], code: int) -> None:
    done = run_cli(*argv, timeout=300)
    assert done.returncode == code, f"{where}: python -m scripts {' '.join(argv)}: {done.stderr[-2000:]}"
    if "--json" in argv:
        import json

        assert isinstance(json.loads(done.stdout), dict)
