"""preview-diff: what differs between two preview documents, and nothing else."""

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from scripts import PROJECT_DIR
from scripts.preview.diff import ABSENT, preview_differences

DOCUMENT: dict[str, Any] = {
    "stack": "dev",
    "resources": [
        {"urn": "urn:a", "type": "t", "name": "a", "parent": None, "inputs": {"tags": {"x": "1"}, "ports": [1, 2]}},
        {"urn": "urn:b", "type": "t", "name": "b", "parent": "urn:a", "inputs": {}},
    ],
    "outputs": {"vpcId": "vpc-1"},
    "policy": {"violations": []},
}


def test_identical_documents_and_reordered_resources_have_no_difference() -> None:
    reordered = copy.deepcopy(DOCUMENT)
    reordered["resources"].reverse()
    assert preview_differences(DOCUMENT, copy.deepcopy(DOCUMENT)) == []
    assert preview_differences(DOCUMENT, reordered) == []


def test_each_kind_of_change_is_named_by_where_it_is() -> None:
    after = copy.deepcopy(DOCUMENT)
    after["resources"][0]["inputs"]["tags"]["x"] = "2"
    after["resources"][0]["inputs"]["ports"].append(3)
    del after["resources"][1]
    after["resources"].append({"urn": "urn:c", "type": "t", "name": "c", "parent": None, "inputs": {}})
    after["outputs"]["vpcId"] = "vpc-2"
    after["policy"]["violations"].append({"policy": "p"})
    found = {d.where: (d.before, d.after) for d in preview_differences(DOCUMENT, after)}
    assert found == {
        "urn:a /inputs/tags/x": ("1", "2"),
        "urn:a /inputs/ports": ([1, 2], [1, 2, 3]),
        "urn:b": ("present", ABSENT),
        "urn:c": (ABSENT, "present"),
        "outputs/vpcId": ("vpc-1", "vpc-2"),
        "policy/violations": ([], [{"policy": "p"}]),
    }


def test_the_command_exits_1_and_prints_the_difference(tmp_path: Path) -> None:
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    before.write_text(json.dumps(DOCUMENT))
    changed = copy.deepcopy(DOCUMENT)
    changed["outputs"]["vpcId"] = "vpc-2"
    after.write_text(json.dumps(changed))
    run = [sys.executable, "-m", "scripts", "preview-diff"]
    same = subprocess.run([*run, str(before), str(before)], capture_output=True, text=True, cwd=PROJECT_DIR)
    assert (same.returncode, same.stdout.strip()) == (0, "0 difference(s)")
    differ = subprocess.run([*run, str(before), str(after)], capture_output=True, text=True, cwd=PROJECT_DIR)
    assert differ.returncode == 1
    assert differ.stdout.splitlines() == ["outputs/vpcId: 'vpc-1' -> 'vpc-2'", "1 difference(s)"]
