"""`policies/rules/kubernetes.py`: the PgBouncer Deployment as the program declares it passes every rule; a dozen
misconfigured objects are each rejected for the specific problem; unknown values are no violation; and the stack
rules see a namespace without default deny and a replicated workload without a PDB."""

import copy
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE, UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE

from components.kubernetes import cache_cluster, cnpg, manifests
from policies.rules import kubernetes
from policies.rules.base import ResourceRule
from tests.cache_workload_example import cache_workload
from tests.cnpg_example import CLUSTER_SPEC
from tests.policies.rules.helpers import RULES, Case, Node, case_tests, resource_violations, stack_violations

DEPLOYMENT, NAMESPACE, SECRET, CONFIG_MAP = (
    kubernetes.DEPLOYMENT,
    kubernetes.NAMESPACE,
    kubernetes.SECRET,
    kubernetes.CONFIG_MAP,
)
WORKLOAD = manifests.PgBouncerWorkload(
    name="pgbouncer-shard0",
    namespace="cryb-db-pooler",
    image="ghcr.io/cloudnative-pg/pgbouncer:1.24.1",
    min_replicas=2,
    max_replicas=4,
    processes_per_pod=2,
    target_cpu_percent=70,
    cpu_request="250m",
    cpu_limit="1",
    memory="256Mi",
    server_ca_config_map="cryb-db-server-ca",
    issuer_name="cryb-db",
    issuer_kind="ClusterIssuer",
    reloader_image="busybox:1.37.0",
)
GOOD = manifests.pgbouncer_deployment(WORKLOAD, config_hash="0" * 64)
GOOD_NAMESPACE = manifests.namespace("api", kubernetes_version="1.33", client=True)
POOLER = cnpg.POOLER_LABEL
GOOD_CLUSTER = cnpg.cluster(CLUSTER_SPEC)
GOOD_POOLER = cnpg.pooler(CLUSTER_SPEC)


def changed(mutate: Callable[[dict[str, Any]], None], base: dict[str, Any] = GOOD) -> dict[str, Any]:
    obj = copy.deepcopy(base)
    mutate(obj)
    return obj


def pod(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


def container(obj: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return pod(obj)["containers"][index]


CASES = [
    Case(
        "kubernetes-pod-security-restricted",
        DEPLOYMENT,
        GOOD,
        [changed(lambda o: container(o)["securityContext"].__setitem__("privileged", True))],
        [
            changed(
                lambda o: container(o)["securityContext"].__setitem__("allowPrivilegeEscalation", UNKNOWN_BOOLEAN_VALUE)
            )
        ],
    ),
    Case(
        "kubernetes-namespace-restricted",
        NAMESPACE,
        GOOD_NAMESPACE,
        [
            changed(
                lambda o: o["metadata"]["labels"].__setitem__("pod-security.kubernetes.io/enforce", "baseline"),
                GOOD_NAMESPACE,
            )
        ],
        [
            changed(
                lambda o: o["metadata"]["labels"].__setitem__(
                    "pod-security.kubernetes.io/enforce", UNKNOWN_STRING_VALUE
                ),
                GOOD_NAMESPACE,
            )
        ],
    ),
    Case("kubernetes-requests-and-limits", DEPLOYMENT, GOOD, [changed(lambda o: container(o).pop("resources"))]),
    Case("kubernetes-probes", DEPLOYMENT, GOOD, [changed(lambda o: container(o).pop("livenessProbe"))]),
    Case(
        "kubernetes-image-pinned",
        DEPLOYMENT,
        GOOD,
        [changed(lambda o: container(o).__setitem__("image", "pgbouncer:latest"))],
        [changed(lambda o: container(o).__setitem__("image", UNKNOWN_STRING_VALUE))],
    ),
    Case(
        "kubernetes-cnpg-cluster-resilient",
        kubernetes.CNPG_CLUSTER,
        GOOD_CLUSTER,
        [changed(lambda o: o["spec"].__setitem__("instances", 1), GOOD_CLUSTER)],
        [changed(lambda o: o["spec"].__setitem__("affinity", UNKNOWN_OBJECT_VALUE), GOOD_CLUSTER)],
    ),
    Case(
        "kubernetes-requests-and-limits",
        kubernetes.CNPG_POOLER,
        GOOD_POOLER,
        [changed(lambda o: o["spec"]["template"]["spec"]["containers"][0].pop("resources"), GOOD_POOLER)],
    ),
    Case(
        "kubernetes-no-plaintext-secret",
        SECRET,
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x", "namespace": "api"}},
        [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "stringData": {"password": "hunter2"}}],
    ),
]

(
    test_compliant_input_passes,
    test_violating_input_is_reported_with_what_to_change,
    test_unknown_values_are_not_violations,
    test_unknowns_recorded_offline_are_not_violations,
) = case_tests(CASES)

# A dozen misconfigurations, each rejected for its own reason (the message names it).
MISCONFIGURED = [
    ("kubernetes-pod-security-restricted", lambda o: pod(o).__setitem__("hostNetwork", True), "hostNetwork=true"),
    (
        "kubernetes-pod-security-restricted",
        lambda o: (pod(o)["securityContext"].pop("runAsNonRoot"), container(o)["securityContext"].pop("runAsNonRoot")),
        "runAsNonRoot is not true",
    ),
    (
        "kubernetes-pod-security-restricted",
        lambda o: container(o)["securityContext"].__setitem__("runAsUser", 0),
        "runAsUser 0 is root",
    ),
    (
        "kubernetes-pod-security-restricted",
        lambda o: container(o)["securityContext"].__setitem__("allowPrivilegeEscalation", True),
        "allowPrivilegeEscalation is not false",
    ),
    (
        "kubernetes-pod-security-restricted",
        lambda o: container(o)["securityContext"]["capabilities"].__setitem__("add", ["NET_ADMIN"]),
        "adds capabilities ['NET_ADMIN']",
    ),
    (
        "kubernetes-pod-security-restricted",
        lambda o: container(o)["securityContext"]["capabilities"].__setitem__("drop", ["NET_RAW"]),
        "capabilities.drop lacks ALL",
    ),
    (
        "kubernetes-pod-security-restricted",
        lambda o: (
            pod(o)["securityContext"].pop("seccompProfile"),
            container(o)["securityContext"].pop("seccompProfile"),
        ),
        "seccompProfile is unset",
    ),
    (
        "kubernetes-pod-security-restricted",
        lambda o: container(o)["securityContext"].__setitem__("readOnlyRootFilesystem", False),
        "readOnlyRootFilesystem is not true",
    ),
    (
        "kubernetes-pod-security-restricted",
        lambda o: pod(o)["volumes"].append({"name": "host", "hostPath": {"path": "/"}}),
        "volume 'host' is a hostPath",
    ),
    (
        "kubernetes-pod-security-restricted",
        lambda o: container(o)["ports"][0].__setitem__("hostPort", 6432),
        "hostPort 6432",
    ),
    (
        "kubernetes-requests-and-limits",
        lambda o: container(o)["resources"]["limits"].pop("memory"),
        "no limits.memory",
    ),
    ("kubernetes-probes", lambda o: container(o, 1).pop("readinessProbe"), "container 'writer-1': no readinessProbe"),
    ("kubernetes-image-pinned", lambda o: container(o).__setitem__("image", "ghcr.io/x/pgbouncer"), "is not pinned"),
    (
        "kubernetes-image-pinned",
        lambda o: container(o).__setitem__("image", "ghcr.io/x/pgbouncer@sha256:abc"),
        "is not pinned",
    ),
    (
        "kubernetes-no-plaintext-secret",
        lambda o: container(o).__setitem__("env", [{"name": "PGPASSWORD", "value": "hunter2"}]),
        "env 'PGPASSWORD' is a literal credential",
    ),
]


@pytest.mark.parametrize(("rule", "mutate", "problem"), MISCONFIGURED, ids=[m[2] for m in MISCONFIGURED])
def test_each_misconfiguration_is_rejected_for_its_problem(
    rule: str, mutate: Callable[[dict[str, Any]], Any], problem: str
) -> None:
    assert resource_violations(RULES[rule], DEPLOYMENT, GOOD) == []
    messages = resource_violations(RULES[rule], DEPLOYMENT, changed(mutate))
    assert any(problem in m for m in messages), messages


def test_a_credential_in_a_config_map_or_secret_data_is_rejected() -> None:
    rule = RULES["kubernetes-no-plaintext-secret"]
    config_map = manifests.config_map("cryb-db-outputs", "api", {"outputs.json": "{}"}, "outputs")
    assert resource_violations(rule, CONFIG_MAP, config_map) == []
    leaked = manifests.config_map("app", "api", {"db_password": "hunter2"}, "outputs")
    assert any("ConfigMap key 'db_password'" in m for m in resource_violations(rule, CONFIG_MAP, leaked))
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "data": {"password": "aHVudGVyMg=="}}
    assert any("Secret declared with data" in m for m in resource_violations(rule, SECRET, secret))


def _namespace_nodes(*, with_deny: bool) -> list[Node]:
    policies = manifests.network_policies("api", egress=[manifests.to_poolers("cryb-db-pooler")])
    nodes = [Node(NAMESPACE, "ns", GOOD_NAMESPACE)]
    nodes += [Node(kubernetes.NETWORK_POLICY, p["metadata"]["name"], p) for p in policies[0 if with_deny else 1 :]]
    return nodes


def test_a_namespace_without_default_deny_is_rejected() -> None:
    rule = RULES["kubernetes-network-policy-per-namespace"]
    assert stack_violations(rule, _namespace_nodes(with_deny=True)) == []
    found = stack_violations(rule, _namespace_nodes(with_deny=False))
    assert found == [("ns", "namespace 'api' has no default-deny NetworkPolicy: declare one (podSelector {})")]


def test_a_replicated_workload_without_a_pdb_is_rejected() -> None:
    rule = RULES["kubernetes-pdb-for-replicated-workloads"]
    pdb = Node(kubernetes.PDB, "pdb", manifests.pgbouncer_pdb(WORKLOAD))
    hpa = Node(kubernetes.HPA, "hpa", manifests.pgbouncer_hpa(WORKLOAD))
    single = changed(lambda o: o["spec"].__setitem__("replicas", 1))
    assert stack_violations(rule, [Node(DEPLOYMENT, "d", GOOD), pdb]) == []
    assert stack_violations(rule, [Node(DEPLOYMENT, "d", single)]) == []  # one replica: nothing to keep serving
    found = stack_violations(rule, [Node(DEPLOYMENT, "d", GOOD)])
    assert found and found[0][0] == "d" and "runs 2 replicas without a PodDisruptionBudget" in found[0][1]
    # one replica declared, but its HPA keeps two: still needs the budget
    assert stack_violations(rule, [Node(DEPLOYMENT, "d", single), hpa])
    other_namespace = changed(
        lambda o: o["metadata"].__setitem__("namespace", "other"), manifests.pgbouncer_pdb(WORKLOAD)
    )
    assert stack_violations(rule, [Node(DEPLOYMENT, "d", GOOD), Node(kubernetes.PDB, "p", other_namespace)])


def test_kubernetes_rules_apply_to_kubernetes_types_only() -> None:
    for rule in kubernetes.RULES.rules:
        if isinstance(rule, ResourceRule):
            assert rule.resource_types and all(t.startswith("kubernetes:") for t in rule.resource_types), rule.name


# CloudNativePG clusters: each misconfiguration rejected for its own reason.
MISCONFIGURED_CLUSTERS = [
    ("kubernetes-cnpg-cluster-resilient", lambda o: o["spec"].__setitem__("instances", 2), "instances = 2"),
    (
        "kubernetes-cnpg-cluster-resilient",
        lambda o: o["spec"]["postgresql"].pop("synchronous"),
        "no synchronous standby",
    ),
    ("kubernetes-cnpg-cluster-resilient", lambda o: o["spec"].__setitem__("enablePDB", False), "enablePDB is false"),
    (
        "kubernetes-cnpg-cluster-resilient",
        lambda o: o["spec"]["affinity"].__setitem__("topologyKey", "kubernetes.io/hostname"),
        "instances may share a zone",
    ),
    (
        "kubernetes-cnpg-cluster-resilient",
        lambda o: o["spec"]["affinity"].__setitem__("podAntiAffinityType", "preferred"),
        "instances may share a zone",
    ),
    ("kubernetes-cnpg-cluster-resilient", lambda o: o["spec"].pop("backup"), "no backups"),
    (
        "kubernetes-cnpg-cluster-resilient",
        lambda o: o["spec"].__setitem__("enableSuperuserAccess", True),
        "enableSuperuserAccess is true",
    ),
    ("kubernetes-requests-and-limits", lambda o: o["spec"]["resources"].pop("limits"), "no limits.cpu, limits.memory"),
    (
        "kubernetes-image-pinned",
        lambda o: o["spec"].__setitem__("imageName", "ghcr.io/cloudnative-pg/postgresql:17"),
        "imageName 'ghcr.io/cloudnative-pg/postgresql:17' is not pinned",
    ),
]


@pytest.mark.parametrize(
    ("rule", "mutate", "problem"), MISCONFIGURED_CLUSTERS, ids=[m[2] for m in MISCONFIGURED_CLUSTERS]
)
def test_each_cluster_misconfiguration_is_rejected_for_its_problem(
    rule: str, mutate: Callable[[dict[str, Any]], Any], problem: str
) -> None:
    assert resource_violations(RULES[rule], kubernetes.CNPG_CLUSTER, GOOD_CLUSTER) == []
    messages = resource_violations(RULES[rule], kubernetes.CNPG_CLUSTER, changed(mutate, GOOD_CLUSTER))
    assert any(problem in m for m in messages), messages


def test_a_pooler_without_a_pdb_is_rejected() -> None:
    rule = RULES["kubernetes-pdb-for-replicated-workloads"]
    pdb = Node(kubernetes.PDB, "pdb", cnpg.pooler_pdb(CLUSTER_SPEC))
    assert stack_violations(rule, [Node(kubernetes.CNPG_POOLER, "p", GOOD_POOLER), pdb]) == []
    found = stack_violations(rule, [Node(kubernetes.CNPG_POOLER, "p", GOOD_POOLER)])
    assert found == [
        ("p", "Pooler 'shard0-pooler-rw' runs 2 replicas without a PodDisruptionBudget: add one selecting its pods")
    ]
    single = changed(lambda o: o["spec"].__setitem__("instances", 1), GOOD_POOLER)
    assert stack_violations(rule, [Node(kubernetes.CNPG_POOLER, "p", single)]) == []
    wrong = changed(
        lambda o: o["spec"]["selector"].__setitem__("matchLabels", {POOLER: "other"}), cnpg.pooler_pdb(CLUSTER_SPEC)
    )
    assert stack_violations(rule, [Node(kubernetes.CNPG_POOLER, "p", GOOD_POOLER), Node(kubernetes.PDB, "w", wrong)])


def test_a_statefulset_without_a_pdb_is_rejected() -> None:
    rule = RULES["kubernetes-pdb-for-replicated-workloads"]
    workload = cache_workload(memory_mib=1024)
    sts = Node(kubernetes.STATEFUL_SET, "s", cache_cluster.statefulset(workload, "0" * 64))
    assert stack_violations(rule, [sts, Node(kubernetes.PDB, "b", cache_cluster.pdb(workload))]) == []
    (found,) = stack_violations(rule, [sts])
    assert found == (
        "s",
        "StatefulSet 'cache' runs 6 replicas without a PodDisruptionBudget: add one selecting its pods",
    )
