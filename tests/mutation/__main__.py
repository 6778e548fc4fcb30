"""Apply each mutation of tests/mutation/mutations.py to a copy of the tree, run its tests, report the survivors.

    .venv/bin/python -m tests.mutation [--only SUBSTRING] [--markdown] [--ref COMMIT]

The copy (the tracked files of the working tree, with `.venv` linked) is made once in a temporary directory; each
mutation is applied, its tests run with `-x -q -p no:cacheprovider -m "not servers"`, and the file restored. Exit 0
when every mutation was killed, 1 when some survived, 2 when a mutation no longer applies (its text moved).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.mutation.mutations import MUTATIONS, Mutation

ROOT = Path(__file__).resolve().parents[2]


def copy_tree(target: Path, ref: str | None = None) -> None:
    """The working tree's tracked and new files, or the tree of commit `ref` (to compare a test suite's catch)."""
    if ref is not None:
        archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
        (target / ".venv").symlink_to(os.path.realpath(ROOT / ".venv"))
        return
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = ROOT / name.decode()
        if source.is_file() and not source.is_symlink():
            destination = target / name.decode()
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    (target / ".venv").symlink_to(os.path.realpath(ROOT / ".venv"))


def run(tree: Path, mutation: Mutation) -> tuple[str, float]:
    path = tree / mutation.path
    original = path.read_text()
    if original.count(mutation.find) != 1:
        return f"does not apply ({original.count(mutation.find)} matches)", 0.0
    path.write_text(original.replace(mutation.find, mutation.replace))
    started = time.monotonic()
    python = str(tree / ".venv/bin/python")
    pytest_argv = [python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not servers"]
    try:
        result = subprocess.run(
            [*pytest_argv, *mutation.tests],
            cwd=tree,
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        path.write_text(original)
    seconds = time.monotonic() - started
    if result.returncode == 1:
        return "killed", seconds
    if result.returncode == 0:
        return "SURVIVED", seconds
    return f"error (pytest exit {result.returncode})", seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="run the mutations whose name contains this text")
    parser.add_argument("--markdown", action="store_true", help="print the results as a Markdown table")
    parser.add_argument("--ref", help="mutate the tree of this commit instead of the working tree (its own tests)")
    options = parser.parse_args()
    chosen = [m for m in MUTATIONS if options.only in m.name]
    results: list[tuple[Mutation, str, float]] = []
    with tempfile.TemporaryDirectory(prefix="cryb-mutation-") as directory:
        tree = Path(directory)
        copy_tree(tree, options.ref)
        for mutation in chosen:
            outcome, seconds = run(tree, mutation)
            results.append((mutation, outcome, seconds))
            print(f"{outcome:>10}  {seconds:5.1f} s  {mutation.name}", file=sys.stderr, flush=True)
    if options.markdown:
        print("| mutation | file | result |\n|---|---|---|")
        for mutation, outcome, _ in results:
            print(f"| {mutation.name} | `{mutation.path}` | {outcome} |")
    if any(o.startswith("does not apply") or o.startswith("error") for _, o, _ in results):
        return 2
    return 1 if any(o == "SURVIVED" for _, o, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
