"""Validate Kubernetes objects offline: built-in kinds against the Kubernetes OpenAPI schema of the target version
(kubernetes-validate, strict: unknown fields are errors), custom resources against the CRD schemas vendored in
components/kubernetes/crds/ (made strict the same way, since the API server would silently prune unknown fields)."""

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

CRD_DIR = Path(__file__).resolve().parents[3] / "components" / "kubernetes" / "crds"


class SchemaError(Exception):
    """An object that does not validate, with where and why."""


def _strict(schema: Any) -> Any:
    """A copy in which every object schema listing `properties` admits no others (as `kubectl --validate=strict`)."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            out.get("type") == "object"
            and "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the strict openAPIV3Schema of every served version of every vendored CRD."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
            for version in doc["spec"]["versions"]:
                if version.get("served"):
                    schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
                    found[(f"{group}/{version['name']}", kind)] = schema
    return found


def validate(manifest: dict[str, Any], kubernetes_version: str) -> str:
    """Validate one object; returns what it was validated against, raises SchemaError naming the object."""
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    what = f"{kind} {manifest.get('metadata', {}).get('namespace', '')}/{manifest.get('metadata', {}).get('name')}"
    schema = crd_schemas().get((api_version, kind))
    if schema is not None:
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(manifest), key=lambda e: list(e.path))
        if errors:
            e = errors[0]
            raise SchemaError(f"{what}: {'.'.join(map(str, e.path))}: {e.message} (CRD {api_version})")
        return f"CRD {api_version}/{kind}"
    try:
        version = kubernetes_validate.validate(manifest, kubernetes_version, strict=True)
    except kubernetes_validate.ValidationError as e:
        raise SchemaError(f"{what}: {'.'.join(map(str, e.path))}: {e.message} (Kubernetes {e.version})") from e
    except kubernetes_validate.SchemaNotFoundError as e:
        raise SchemaError(f"{what}: no schema: {e.message}") from e
    return f"Kubernetes {version}"
