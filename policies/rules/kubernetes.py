"""Kubernetes objects (components/kubernetes/, docs/kubernetes.md): restricted pod security, requests and limits,
probes, images pinned, no credential in plain objects, and per namespace a default-deny NetworkPolicy and per
replicated workload (Deployment, StatefulSet, CloudNativePG Pooler) a PodDisruptionBudget; CloudNativePG clusters
that survive a zone and lose no commit.

The rules read the objects as the provider receives them (`apiVersion`, `kind`, `metadata`, `spec`, camelCase).
An unknown value is never a violation: the rule says nothing until the engine knows it.
"""

import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import Severity

from .base import Config, RuleSet
from .graph import Stack
from .props import UNKNOWN, lookup
from .resource import Resource

RULES = RuleSet()

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
JOB = "kubernetes:batch/v1:Job"
CRON_JOB = "kubernetes:batch/v1:CronJob"
POD = "kubernetes:core/v1:Pod"
WORKLOADS = (DEPLOYMENT, STATEFUL_SET, DAEMON_SET, JOB, CRON_JOB, POD)
LONG_RUNNING = (DEPLOYMENT, STATEFUL_SET, DAEMON_SET)
NAMESPACE = "kubernetes:core/v1:Namespace"
SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
CNPG_POOLER = "kubernetes:postgresql.cnpg.io/v1:Pooler"
POOLER_LABEL = "cnpg.io/poolerName"  # the operator labels a Pooler's pods with it
ZONE = "topology.kubernetes.io/zone"
ALLOWED_CAPABILITIES = {"NET_BIND_SERVICE"}  # the only one the restricted profile lets a container add
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PASSPHRASE|API_?KEY|PRIVATE_?KEY|CREDENTIAL", re.I)
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
VERSION_TAG = re.compile(r":v?\d+(\.\d+)+([-_.][A-Za-z0-9_.-]+)?$")


def pod_spec(resource: Resource) -> Any:
    if resource.type == POD:
        return resource.get("spec")
    if resource.type == CRON_JOB:
        return resource.get("spec", "jobTemplate", "spec", "template", "spec")
    return resource.get("spec", "template", "spec")


def containers(pod: Any) -> Iterator[dict[str, Any]]:
    for key in ("initContainers", "containers"):
        items = lookup(pod, key, default=[])
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict):
                yield item


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _is_false(value: Any) -> bool:
    return value is not UNKNOWN and value is not True


@RULES.resource(
    types=list(WORKLOADS),
    name="kubernetes-pod-security-restricted",
    description="Workloads meet the Pod Security Standard `restricted` and run with a read-only root filesystem.",
    controls=("CRYB.K8S.1",),
    severity=Severity.CRITICAL,
    remediation="Set runAsNonRoot, seccompProfile RuntimeDefault, allowPrivilegeEscalation false, capabilities drop "
    "ALL and readOnlyRootFilesystem true; no privileged containers, host namespaces, hostPath volumes or hostPorts.",
)
def pod_security_restricted(resource: Resource, config: Config) -> Iterator[str]:
    pod = pod_spec(resource)
    if not isinstance(pod, dict):
        return
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key) is True:
            yield f"{key}=true: the pod shares the node's namespace; remove it"
    volumes = pod.get("volumes", [])
    for volume in volumes if isinstance(volumes, list) else []:
        if isinstance(volume, dict) and "hostPath" in volume:
            yield f"volume {volume.get('name')!r} is a hostPath: it exposes the node's filesystem; use an emptyDir/PVC"
    pod_context = _mapping(pod.get("securityContext"))
    for container in containers(pod):
        name = container.get("name")
        ctx = _mapping(container.get("securityContext"))

        def effective(key: str, ctx: dict[str, Any] = ctx) -> Any:
            return ctx[key] if key in ctx else pod_context.get(key)

        if ctx.get("privileged") is True:
            yield f"container {name!r}: privileged=true gives it the node; remove it"
        if _is_false(effective("runAsNonRoot")):
            yield f"container {name!r}: runAsNonRoot is not true; set it (and a non-zero runAsUser)"
        if effective("runAsUser") == 0:
            yield f"container {name!r}: runAsUser 0 is root; use a non-zero uid"
        seccomp = lookup(effective("seccompProfile"), "type")
        if seccomp is not UNKNOWN and seccomp not in ("RuntimeDefault", "Localhost"):
            yield f"container {name!r}: seccompProfile is {seccomp or 'unset'}; set type RuntimeDefault"
        escalation = ctx.get("allowPrivilegeEscalation")
        if escalation is not UNKNOWN and escalation is not False:
            yield f"container {name!r}: allowPrivilegeEscalation is not false; set it to false"
        drop = lookup(ctx, "capabilities", "drop", default=[])
        if drop is not UNKNOWN and "ALL" not in (drop if isinstance(drop, list) else []):
            yield f"container {name!r}: capabilities.drop lacks ALL; drop ALL capabilities"
        add = lookup(ctx, "capabilities", "add", default=[])
        extra = sorted(set(add if isinstance(add, list) else []) - ALLOWED_CAPABILITIES)
        if extra:
            yield f"container {name!r}: adds capabilities {extra}; only NET_BIND_SERVICE is allowed"
        if _is_false(ctx.get("readOnlyRootFilesystem")):
            yield f"container {name!r}: readOnlyRootFilesystem is not true; set it and mount an emptyDir for scratch"
        ports = container.get("ports", [])
        for port in ports if isinstance(ports, list) else []:
            if isinstance(port, dict) and port.get("hostPort"):
                yield f"container {name!r}: hostPort {port['hostPort']} binds the node; use a Service instead"


@RULES.resource(
    types=[NAMESPACE],
    name="kubernetes-namespace-restricted",
    description="Every namespace enforces the Pod Security Standard `restricted`.",
    controls=("CRYB.K8S.1",),
    severity=Severity.HIGH,
    remediation="Label the namespace pod-security.kubernetes.io/enforce=restricted (and its -version).",
)
def namespace_restricted(resource: Resource, config: Config) -> Iterator[str]:
    enforce = resource.get("metadata", "labels", "pod-security.kubernetes.io/enforce")
    if enforce is not UNKNOWN and enforce != "restricted":
        yield f"pod-security.kubernetes.io/enforce is {enforce!r}: label the namespace with 'restricted'"


def _missing_resources(resources: Any) -> list[str]:
    return [
        f"{kind}.{what}"
        for kind in ("requests", "limits")
        for what in ("cpu", "memory")
        if lookup(resources, kind, what) in (None, "")
    ]


@RULES.resource(
    types=[*WORKLOADS, CNPG_CLUSTER, CNPG_POOLER],
    name="kubernetes-requests-and-limits",
    description="Every container (and every CloudNativePG instance) requests CPU and memory and has CPU and memory "
    "limits.",
    controls=("CRYB.K8S.2",),
    severity=Severity.MEDIUM,
    remediation="Set resources.requests.cpu/memory and resources.limits.cpu/memory on every container.",
)
def requests_and_limits(resource: Resource, config: Config) -> Iterator[str]:
    if resource.type == CNPG_CLUSTER:
        resources = resource.get("spec", "resources")
        missing = [] if resources is UNKNOWN else _missing_resources(resources)
        if missing:
            yield f"instances: no {', '.join(missing)} in spec.resources; set them (requests = limits)"
        return
    for container in containers(pod_spec(resource)):
        resources = container.get("resources")
        if resources is UNKNOWN:
            continue
        missing = _missing_resources(resources)
        if missing:
            yield f"container {container.get('name')!r}: no {', '.join(missing)}; set them"


@RULES.resource(
    types=list(LONG_RUNNING),
    name="kubernetes-probes",
    description="Every long-running container has a readiness and a liveness probe.",
    controls=("CRYB.K8S.2",),
    severity=Severity.MEDIUM,
    remediation="Add readinessProbe and livenessProbe (tcpSocket, httpGet or exec) to every container.",
)
def probes(resource: Resource, config: Config) -> Iterator[str]:
    pod = pod_spec(resource)
    items = lookup(pod, "containers", default=[])
    for container in items if isinstance(items, list) else []:
        if not isinstance(container, dict):
            continue
        missing = [p for p in ("readinessProbe", "livenessProbe") if container.get(p) is None]
        if missing:
            yield f"container {container.get('name')!r}: no {' or '.join(missing)}; add them"


def _pinned(image: str) -> bool:
    return bool(DIGEST.search(image) or VERSION_TAG.search(image.split("@")[0]))


@RULES.resource(
    types=[*WORKLOADS, CNPG_CLUSTER],
    name="kubernetes-image-pinned",
    description="Every image is pinned by digest or by an exact version tag (never latest or no tag).",
    controls=("CRYB.K8S.3",),
    severity=Severity.HIGH,
    remediation="Use repo@sha256:<digest> or repo:<exact version>, e.g. ghcr.io/cloudnative-pg/pgbouncer:1.24.1.",
)
def image_pinned(resource: Resource, config: Config) -> Iterator[str]:
    if resource.type == CNPG_CLUSTER:
        image = resource.get("spec", "imageName")
        if isinstance(image, str) and not _pinned(image):
            yield f"imageName {image!r} is not pinned; pin a digest or exact version (or leave it to the operator)"
        return
    for container in containers(pod_spec(resource)):
        image = container.get("image")
        if image is UNKNOWN or not isinstance(image, str):
            continue
        if not _pinned(image):
            yield f"container {container.get('name')!r}: image {image!r} is not pinned; pin a digest or exact version"


@RULES.resource(
    types=[SECRET, CONFIG_MAP, *WORKLOADS],
    name="kubernetes-no-plaintext-secret",
    description="No credential in a Secret's data, a ConfigMap or a container's environment declared by the "
    "program: credentials come from Secrets Manager through External Secrets.",
    controls=("CRYB.K8S.4",),
    severity=Severity.CRITICAL,
    remediation="Declare an ExternalSecret pointing at the Secrets Manager ARN and mount or reference its Secret.",
)
def no_plaintext_secret(resource: Resource, config: Config) -> Iterator[str]:
    if resource.type == SECRET:
        for key in ("data", "stringData"):
            values = resource.get(key)
            if values not in (None, {}, UNKNOWN):
                yield f"Secret declared with {key}: its values land in the Pulumi state; use an ExternalSecret"
        return
    if resource.type == CONFIG_MAP:
        data = resource.get("data")
        for key in sorted(data) if isinstance(data, dict) else []:
            if SECRET_NAME.search(key):
                yield f"ConfigMap key {key!r} looks like a credential: ConfigMaps are not secret; use an ExternalSecret"
        return
    for container in containers(pod_spec(resource)):
        env = container.get("env", [])
        for var in env if isinstance(env, list) else []:
            if isinstance(var, dict) and "value" in var and SECRET_NAME.search(str(var.get("name", ""))):
                yield (
                    f"container {container.get('name')!r}: env {var.get('name')!r} is a literal credential; "
                    "use valueFrom.secretKeyRef of an ExternalSecret's Secret"
                )


def _namespace_of(resource: Resource) -> Any:
    return resource.get("metadata", "namespace")


@RULES.stack(
    name="kubernetes-network-policy-per-namespace",
    description="Every namespace the program declares has a default-deny NetworkPolicy (all pods, in and out).",
    controls=("CRYB.K8S.5",),
    severity=Severity.HIGH,
    remediation="Add a NetworkPolicy with podSelector {} and policyTypes [Ingress, Egress] and no rules, then allow "
    "the flows the namespace needs.",
)
def network_policy_per_namespace(stack: Stack, config: Config) -> Iterator[tuple[Resource | None, str]]:
    denies: set[Any] = set()
    for policy in stack.of_type(NETWORK_POLICY):
        spec = policy.get("spec")
        if not isinstance(spec, dict):
            denies.add(_namespace_of(policy))  # unknown: cannot tell, so no violation
            continue
        types = spec.get("policyTypes")
        if (
            spec.get("podSelector") == {}
            and isinstance(types, list)
            and {"Ingress", "Egress"} <= set(types)
            and not spec.get("ingress")
            and not spec.get("egress")
        ):
            denies.add(_namespace_of(policy))
    for namespace in stack.of_type(NAMESPACE):
        name = namespace.get("metadata", "name")
        if name is UNKNOWN or UNKNOWN in denies:
            continue
        if name not in denies:
            yield namespace, f"namespace {name!r} has no default-deny NetworkPolicy: declare one (podSelector {{}})"


def _replicas(workload: Resource, stack: Stack) -> Any:
    """The most replicas the workload keeps by itself: spec.replicas, or its HPA's minimum."""
    counts = [workload.get("spec", "replicas", default=1)]
    for hpa in stack.of_type(HPA):
        target = hpa.get("spec", "scaleTargetRef")
        if (
            isinstance(target, dict)
            and target.get("name") == workload.get("metadata", "name")
            and target.get("kind") == workload.get("kind")
            and _namespace_of(hpa) == _namespace_of(workload)
        ):
            counts.append(hpa.get("spec", "minReplicas", default=1))
    if UNKNOWN in counts:
        return UNKNOWN
    return max(c for c in counts if isinstance(c, int | float))


@RULES.stack(
    name="kubernetes-pdb-for-replicated-workloads",
    description="Every Deployment, StatefulSet or CloudNativePG Pooler with two or more replicas has a "
    "PodDisruptionBudget selecting its pods, so node drains keep it serving (the operator makes a Cluster's own).",
    controls=("CRYB.K8S.6",),
    severity=Severity.HIGH,
    remediation="Add a PodDisruptionBudget (maxUnavailable 1) in the same namespace whose selector matches the pods.",
)
def pdb_for_replicated(stack: Stack, config: Config) -> Iterator[tuple[Resource | None, str]]:
    budgets = stack.of_type(PDB)
    for workload in stack.of_type(DEPLOYMENT, STATEFUL_SET, CNPG_POOLER):
        if workload.type == CNPG_POOLER:
            replicas = workload.get("spec", "instances", default=1)
            template = workload.get("spec", "template", "metadata", "labels", default={})
            name = workload.get("metadata", "name")
            if template is UNKNOWN or name is UNKNOWN:
                continue
            labels: Any = {**(template if isinstance(template, dict) else {}), POOLER_LABEL: name}
        else:
            replicas = _replicas(workload, stack)
            labels = workload.get("spec", "template", "metadata", "labels")
        if replicas is UNKNOWN or not isinstance(replicas, int | float) or replicas < 2:
            continue
        if not isinstance(labels, dict):
            continue
        covered = False
        for pdb in budgets:
            selector = pdb.get("spec", "selector", "matchLabels")
            if selector is UNKNOWN or _namespace_of(pdb) is UNKNOWN:
                covered = True
                break
            if (
                _namespace_of(pdb) == _namespace_of(workload)
                and isinstance(selector, dict)
                and selector
                and selector.items() <= labels.items()
            ):
                covered = True
                break
        if not covered:
            yield (
                workload,
                (
                    f"{workload.get('kind')} {workload.get('metadata', 'name')!r} runs {int(replicas)} replicas "
                    "without a PodDisruptionBudget: add one selecting its pods"
                ),
            )


@RULES.resource(
    types=[CNPG_CLUSTER],
    name="kubernetes-cnpg-cluster-resilient",
    description="A CloudNativePG cluster runs at least 3 instances in different zones, commits on a synchronous "
    "standby, keeps the operator's PodDisruptionBudgets, backs up, and gives no superuser a password.",
    controls=("CRYB.K8S.7",),
    severity=Severity.HIGH,
    remediation="instances >= 3; postgresql.synchronous {method: any, number: 1}; affinity {enablePodAntiAffinity: "
    "true, topologyKey: topology.kubernetes.io/zone, podAntiAffinityType: required}; enablePDB not false; "
    "backup.barmanObjectStore (or the Barman Cloud plugin); enableSuperuserAccess false.",
)
def cnpg_cluster_resilient(resource: Resource, config: Config) -> Iterator[str]:
    spec = resource.get("spec")
    if not isinstance(spec, dict):
        return
    instances = spec.get("instances")
    if isinstance(instances, int | float) and instances < 3:
        yield f"instances = {int(instances)}: run at least 3 (a primary and a standby in each other zone)"
    number, minimum = lookup(spec, "postgresql", "synchronous", "number"), spec.get("minSyncReplicas")
    if UNKNOWN not in (number, minimum) and not any(isinstance(v, int | float) and v >= 1 for v in (number, minimum)):
        yield "no synchronous standby: set postgresql.synchronous {method: any, number: 1} (RPO 0)"
    if spec.get("enablePDB") is False:
        yield "enablePDB is false: keep the operator's PodDisruptionBudgets so drains never take the primary's quorum"
    affinity = spec.get("affinity")
    if affinity is not UNKNOWN:
        a = _mapping(affinity)
        spread = (a.get("enablePodAntiAffinity"), a.get("topologyKey"), a.get("podAntiAffinityType"))
        if UNKNOWN not in spread and spread != (True, ZONE, "required"):
            yield (
                "instances may share a zone: set affinity enablePodAntiAffinity true, topologyKey "
                f"{ZONE}, podAntiAffinityType required"
            )
    store, plugins = lookup(spec, "backup", "barmanObjectStore"), spec.get("plugins")
    if UNKNOWN not in (store, plugins) and not store and not plugins:
        yield "no backups: set backup.barmanObjectStore (WAL archive and base backups) or the Barman Cloud plugin"
    if spec.get("enableSuperuserAccess") is True:
        yield "enableSuperuserAccess is true: the postgres superuser gets a password Secret; leave it false"
