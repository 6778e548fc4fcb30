"""Every Kubernetes object the program declares, as the engine records it, validates against its schema: built-in
kinds against the Kubernetes OpenAPI schema of the configured version (kubernetes-validate, strict), External Secrets
and cert-manager objects against their vendored CRDs (strict). Both stacks and the variants that change the objects
(Patroni shards, EKS Pod Identity); and the validator rejects what the API server would."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from scripts import PROJECT_DIR
from scripts.preview.mock_engine import Evaluation, evaluate
from tests.components.kubernetes.schemas import SchemaError, crd_schemas, validate
from tests.helpers import evaluate_with, stack_document

EXPECTED_KINDS = {
    "Namespace",
    "ConfigMap",
    "ServiceAccount",
    "Service",
    "Deployment",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "NetworkPolicy",
    "SecretStore",
    "ExternalSecret",
    "Certificate",
}


def kubernetes_objects(evaluation: Evaluation) -> list[dict[str, Any]]:
    return [
        r.inputs
        for r in evaluation.resources
        if r.custom and r.type.startswith("kubernetes:") and "apiVersion" in r.inputs  # not a Helm release
    ]


def validate_all(evaluation: Evaluation, version: str) -> dict[str, str]:
    """kind -> what it was validated against; raises on the first object that does not validate."""
    return {o["kind"]: validate(o, version) for o in kubernetes_objects(evaluation)}


def kubernetes_version(stack: str) -> str:
    return stack_document(stack)["config"]["cryb-db:kubernetes"].get("version", "1.33")


def test_every_object_of_both_stacks_validates(each_stack: Evaluation) -> None:
    against = validate_all(each_stack, kubernetes_version(each_stack.stack))
    assert set(against) == EXPECTED_KINDS
    assert against["Deployment"] == "Kubernetes 1.33"
    assert against["ExternalSecret"] == "CRD external-secrets.io/v1/ExternalSecret"
    assert against["Certificate"] == "CRD cert-manager.io/v1/Certificate"


@pytest.mark.parametrize(
    "variant",
    [
        {"cryb-db:postgres": {"engine": "ec2", "shardCount": 2, "ec2": {"instanceType": "i4i.xlarge"}}},
        {"authentication": "pod-identity", "controllerRoleArn": "arn:aws:iam::111122223333:role/external-secrets"},
        {"version": "1.30"},
    ],
    ids=["patroni-shards", "pod-identity", "kubernetes-1.30"],
)
def test_variants_validate(tmp_path: Path, variant: dict[str, Any]) -> None:
    stack = "prod" if "cryb-db:postgres" in variant else "dev"
    k8s = copy.deepcopy(stack_document(stack)["config"]["cryb-db:kubernetes"])
    overrides: dict[str, Any] = {}
    if stack == "prod":
        overrides = {key: json.dumps(value) for key, value in variant.items()}
    else:
        k8s.update(variant)
        if "controllerRoleArn" in variant:
            k8s.pop("oidcProviderArn")
    overrides["cryb-db:kubernetes"] = json.dumps(k8s)
    evaluation = evaluate_with(tmp_path, stack, overrides)
    assert set(validate_all(evaluation, k8s.get("version", "1.33"))) == EXPECTED_KINDS
    if stack == "prod":  # Patroni shards: their proxy fields name their PgBouncer's writer Service
        shard = evaluation.outputs["postgres"]["shards"][1]
        assert shard["proxyEndpoint"] == "pgbouncer-shard1-rw.cryb-db-pooler.svc.cluster.local"
        assert shard["proxyPort"] == 5432


def _object(evaluation: Evaluation, kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(o for o in kubernetes_objects(evaluation) if o["kind"] == kind))


@pytest.mark.parametrize(
    ("kind", "mutate", "problem"),
    [
        ("Deployment", lambda o: o["spec"].__setitem__("replicas", "two"), "spec.replicas"),
        ("Deployment", lambda o: o["spec"]["template"]["spec"].__setitem__("hostNetwrk", True), "hostNetwrk"),
        ("Service", lambda o: o["spec"]["ports"][0].__setitem__("port", "5432"), "spec.ports.0.port"),
        ("HorizontalPodAutoscaler", lambda o: o["spec"].pop("maxReplicas"), "maxReplicas"),
        ("ExternalSecret", lambda o: o["spec"]["dataFrom"][0].__setitem__("extrct", {"key": "x"}), "extrct"),
        ("SecretStore", lambda o: o["spec"]["provider"]["aws"].__setitem__("service", "S3"), "S3"),
        ("Certificate", lambda o: o["spec"].pop("issuerRef"), "issuerRef"),
    ],
)
def test_the_validator_rejects_what_the_api_server_would(dev: Evaluation, kind: str, mutate: Any, problem: str) -> None:
    obj = _object(dev, kind)
    validate(obj, "1.33")  # as declared: valid
    mutate(obj)
    with pytest.raises(SchemaError, match=problem.replace(".", r"\.")):
        validate(obj, "1.33")


def test_vendored_crds_serve_the_versions_the_program_uses() -> None:
    served = set(crd_schemas())
    assert {
        ("external-secrets.io/v1", "SecretStore"),
        ("external-secrets.io/v1", "ExternalSecret"),
        ("cert-manager.io/v1", "Certificate"),
        ("postgresql.cnpg.io/v1", "Cluster"),
        ("postgresql.cnpg.io/v1", "ScheduledBackup"),
        ("postgresql.cnpg.io/v1", "Pooler"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
        ("monitoring.coreos.com/v1", "PodMonitor"),
    } <= served


@pytest.fixture(scope="module")
def kubernetes_engines() -> Evaluation:
    return evaluate("prod", PROJECT_DIR / "docs" / "examples" / "Pulumi.prod-kubernetes.yaml")


@pytest.mark.parametrize(
    ("kind", "mutate", "problem"),
    [
        ("Cluster", lambda o: o["spec"].__setitem__("instances", "3"), "spec.instances"),
        ("Cluster", lambda o: o["spec"]["postgresql"]["synchronous"].__setitem__("method", "all"), "'all'"),
        ("Cluster", lambda o: o["spec"]["backup"]["barmanObjectStore"]["wal"].__setitem__("encryption", "kms"), "kms"),
        ("Cluster", lambda o: o["spec"]["affinity"].__setitem__("podAntiAfinityType", "required"), "podAntiAfinity"),
        ("Pooler", lambda o: o["spec"]["pgbouncer"].__setitem__("poolMode", "statement"), "statement"),
        ("Pooler", lambda o: o["spec"].pop("cluster"), "cluster"),
        ("ScheduledBackup", lambda o: o["spec"].__setitem__("method", "pgbackrest"), "pgbackrest"),
        ("StatefulSet", lambda o: o["spec"].__setitem__("podManagementPolicy", 1), "podManagementPolicy"),
        ("PrometheusRule", lambda o: o["spec"]["groups"][0]["rules"][0].__setitem__("for", "ten minutes"), "ten"),
        ("PrometheusRule", lambda o: o["spec"]["groups"][0].__setitem__("rule", []), "rule"),
        ("PodMonitor", lambda o: o["spec"]["podMetricsEndpoints"][0].__setitem__("scheme", "tcp"), "tcp"),
        ("PodMonitor", lambda o: o["spec"]["podMetricsEndpoints"][0]["tlsConfig"].__setitem__("ca", "x"), "ca"),
    ],
)
def test_the_validator_rejects_bad_data_store_objects(
    kubernetes_engines: Evaluation, kind: str, mutate: Any, problem: str
) -> None:
    obj = _object(kubernetes_engines, kind)
    validate(obj, "1.33")
    mutate(obj)
    with pytest.raises(SchemaError, match=problem):
        validate(obj, "1.33")
