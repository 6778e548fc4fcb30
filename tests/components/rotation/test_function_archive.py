"""Every rotation function's archive, as the real program declares it, is complete: unpacked alone (no repository on
the path) its handler imports and loads nothing but the standard library, boto3 and the archive's own files."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from components.rotation.function import function_archive
from scripts import PROJECT_DIR
from scripts.preview.mock_engine import Evaluation, RecordedResource

FUNCTION = "aws:lambda/function:Function"
PROBE = """
import importlib, json, sys
module, attribute = sys.argv[1].rsplit(".", 1)
handler = getattr(importlib.import_module(module), attribute)
own = sorted(name for name, m in sys.modules.items() if name.split(".")[0] == "components")
files = sorted({getattr(sys.modules[name], "__file__", "") for name in own})
print(json.dumps({"callable": callable(handler), "modules": own, "files": files}))
"""


def rotation_functions(evaluation: Evaluation) -> list[RecordedResource]:
    return [f for f in evaluation.of_type(FUNCTION) if f.name.endswith("-rotation-function")]


def package_of(evaluation: Evaluation, function: RecordedResource) -> RecordedResource:
    """The upload the function's code comes from: its signed key was computed by a signing job, whose source is
    the uploaded package (the dependencies the engine records)."""

    def source(resource: RecordedResource, key: str, type_token: str) -> RecordedResource:
        found = [evaluation.by_urn(urn) for urn in resource.property_dependencies.get(key, [])]
        (match,) = [r for r in found if r is not None and r.type == type_token]
        return match

    job = source(function, "s3Key", "aws:signer/signingJob:SigningJob")
    return source(job, "source", "aws:s3/bucketObjectv2:BucketObjectv2")


def unpack(evaluation: Evaluation, function: RecordedResource, into: Path) -> None:
    for name, asset in package_of(evaluation, function).inputs["source"]["assets"].items():
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(asset["text"] if "text" in asset else (PROJECT_DIR / asset["path"]).read_text())


def test_prod_declares_both_kinds_of_rotation_function(prod: Evaluation) -> None:
    handlers = sorted(f.inputs["handler"] for f in rotation_functions(prod))
    assert handlers == [
        "components.cache.rotation_function.handler.handler",
        "components.selfhosted.rotation_function.handler.handler",
    ]


@pytest.mark.parametrize("concern", ["cache", "selfhosted"])
def test_the_unpacked_archive_alone_imports_the_handler(prod: Evaluation, tmp_path: Path, concern: str) -> None:
    (function,) = [f for f in rotation_functions(prod) if f.inputs["handler"].startswith(f"components.{concern}.")]
    unpack(prod, function, tmp_path)
    # not the program's packages (they import pulumi, which the Lambda runtime does not have)
    for package in ("components", f"components/{concern}", "components/rotation"):
        assert (tmp_path / package / "__init__.py").read_text() == "", package
    probe = f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n" + PROBE
    result = subprocess.run(
        [sys.executable, "-I", "-c", probe, function.inputs["handler"]],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["callable"] is True
    assert all(path.startswith(str(tmp_path)) for path in loaded["files"]), loaded["files"]
    assert "components.rotation.steps" in loaded["modules"]


def test_an_archive_takes_files_of_components_only(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="files of components/ only"):
        function_archive([PROJECT_DIR / "scripts" / "preview.py"])
    with pytest.raises(ValueError, match=r"not its __init__\.py"):
        function_archive([PROJECT_DIR / "components" / "__init__.py"])
