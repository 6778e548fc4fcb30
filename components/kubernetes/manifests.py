"""The Kubernetes objects of the applications' side, as plain dicts in the API's own shape (camelCase).

Pure: values may be Pulumi outputs (ARNs, hosts), which the engine resolves inside the dicts; nothing here declares a
resource. The components hand each dict to its pulumi-kubernetes class; tests validate what the program records
against the Kubernetes OpenAPI schema and the vendored CRD schemas (crds/).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .pgbouncer_ini import AUTH_FILE, CLIENT_TLS_DIR, SERVER_CA_FILE, userlist_template

PART_OF = "cryb-db"
CLIENT_LABEL = "cryb-db/client"  # namespaces whose pods may reach the poolers
EXTERNAL_SECRETS_API = "external-secrets.io/v1"
CERT_MANAGER_API = "cert-manager.io/v1"
SECRET_STORE = "cryb-db"
SERVICE_ACCOUNT = "cryb-db-secrets"
DNS_PORT = 53
SERVICE_PORT = 5432  # what applications dial; the pods listen on the pgbouncer_ini ports
WRITER_LISTEN_PORT = 6432
READER_LISTEN_PORT = 6433
CONFIG_HASH_ANNOTATION = "cryb-db/pgbouncer-ini-sha256"
USERLIST_TEMPLATE = userlist_template()
UID = 10001  # a non-root uid with no entry in the image: the process needs no home and writes nothing


def labels(component: str, instance: str | None = None) -> dict[str, str]:
    result = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi"}
    result["app.kubernetes.io/component"] = component
    if instance:
        result["app.kubernetes.io/instance"] = instance
    return result


def metadata(name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta.update({k: v for k, v in extra.items() if v is not None})
    return meta


def namespace(name: str, *, kubernetes_version: str, client: bool) -> dict[str, Any]:
    """A namespace where the Pod Security admission enforces `restricted` (and audits and warns on it)."""
    pss = {
        f"pod-security.kubernetes.io/{mode}{suffix}": value
        for mode in ("enforce", "audit", "warn")
        for suffix, value in (("", "restricted"), ("-version", f"v{kubernetes_version}"))
    }
    lbl = {**labels("namespace"), **pss}
    if client:
        lbl[CLIENT_LABEL] = "true"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata(name, labels=lbl)}


def config_map(name: str, ns: str, data: Any, component: str) -> dict[str, Any]:
    """`data`: file name -> content (or a Pulumi output of that mapping)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(name, ns, labels=labels(component)),
        "data": dict(data) if isinstance(data, Mapping) else data,
    }


def service_account(ns: str, role_arn: Any | None) -> dict[str, Any]:
    """The identity External Secrets uses for this namespace's store (IRSA: annotated with the role)."""
    annotations = {"eks.amazonaws.com/role-arn": role_arn} if role_arn is not None else None
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(SERVICE_ACCOUNT, ns, labels=labels("secrets"), annotations=annotations),
        "automountServiceAccountToken": False,  # only External Secrets requests its token, by TokenRequest
    }


def secret_store(ns: str, *, region: str, authentication: str, role_arn: Any) -> dict[str, Any]:
    """AWS Secrets Manager through the namespace's role: IRSA (a token of the service account) or, with EKS Pod
    Identity, the controller's identity assuming the namespace's role."""
    aws: dict[str, Any] = {"service": "SecretsManager", "region": region}
    if authentication == "irsa":
        aws["auth"] = {"jwt": {"serviceAccountRef": {"name": SERVICE_ACCOUNT}}}
    else:
        aws["role"] = role_arn
    return {
        "apiVersion": EXTERNAL_SECRETS_API,
        "kind": "SecretStore",
        "metadata": metadata(SECRET_STORE, ns, labels=labels("secrets")),
        "spec": {"provider": {"aws": aws}},
    }


def external_secret(
    name: str, ns: str, secret_arn: Any, *, template: Mapping[str, str] | None = None, refresh: str = "5m"
) -> dict[str, Any]:
    """A Kubernetes Secret kept in step with one Secrets Manager secret (its JSON keys, or `template`d files)."""
    target: dict[str, Any] = {"name": name, "creationPolicy": "Owner", "deletionPolicy": "Delete"}
    if template is not None:
        target["template"] = {"type": "Opaque", "engineVersion": "v2", "data": dict(template)}
    return {
        "apiVersion": EXTERNAL_SECRETS_API,
        "kind": "ExternalSecret",
        "metadata": metadata(name, ns, labels=labels("secrets")),
        "spec": {
            "refreshInterval": refresh,
            "secretStoreRef": {"name": SECRET_STORE, "kind": "SecretStore"},
            "target": target,
            "dataFrom": [{"extract": {"key": secret_arn}}],
        },
    }


def network_policies(
    ns: str,
    *,
    egress: Sequence[Mapping[str, Any]],
    ingress: Sequence[Mapping[str, Any]] = (),
    pod_selector: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Default deny (in and out) for every pod of the namespace, then the allowed flows, DNS included."""
    deny = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata("default-deny", ns, labels=labels("network")),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    dns = {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": DNS_PORT}, {"protocol": "TCP", "port": DNS_PORT}],
    }
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": dict(pod_selector)} if pod_selector else {},
        "policyTypes": ["Egress", *(["Ingress"] if ingress else [])],
        "egress": [dns, *egress],
    }
    if ingress:
        spec["ingress"] = list(ingress)
    allow = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata("allow-cryb-db", ns, labels=labels("network")),
        "spec": spec,
    }
    return [deny, allow]


def to_cidrs(cidrs: Sequence[str], ports: Sequence[int]) -> dict[str, Any]:
    return {
        "to": [{"ipBlock": {"cidr": cidr}} for cidr in cidrs],
        "ports": [{"protocol": "TCP", "port": port} for port in sorted(set(ports))],
    }


def to_poolers(pooler_namespace: str) -> dict[str, Any]:
    return {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": pooler_namespace}},
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "pgbouncer"}},
            }
        ],
        "ports": [{"protocol": "TCP", "port": p} for p in (WRITER_LISTEN_PORT, READER_LISTEN_PORT)],
    }


def to_data_stores(data_namespace: str, cache_port: int | None) -> list[dict[str, Any]]:
    """The data namespace's CloudNativePG Poolers (5432) and, with a cache port, its Valkey pods."""
    namespace = {"matchLabels": {"kubernetes.io/metadata.name": data_namespace}}
    rules: list[dict[str, Any]] = [
        {
            "to": [
                {
                    "namespaceSelector": namespace,
                    "podSelector": {"matchExpressions": [{"key": "cnpg.io/poolerName", "operator": "Exists"}]},
                }
            ],
            "ports": [{"protocol": "TCP", "port": 5432}],
        }
    ]
    if cache_port is not None:
        rules.append(
            {
                "to": [
                    {
                        "namespaceSelector": namespace,
                        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "valkey"}},
                    }
                ],
                "ports": [{"protocol": "TCP", "port": cache_port}],
            }
        )
    return rules


def from_clients() -> dict[str, Any]:
    return {
        "from": [{"namespaceSelector": {"matchLabels": {CLIENT_LABEL: "true"}}}],
        "ports": [{"protocol": "TCP", "port": p} for p in (WRITER_LISTEN_PORT, READER_LISTEN_PORT)],
    }


# -- PgBouncer ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PgBouncerWorkload:
    """One shard's (or self-hosted cluster's) PgBouncer Deployment and what sizes it."""

    name: str
    """`pgbouncer-<target>`: the Deployment, and the prefix of its Services, ConfigMap and Secrets."""
    namespace: str
    image: str
    min_replicas: int
    max_replicas: int
    processes_per_pod: int
    """PgBouncer containers per pool (writer, reader) in a pod, sharing the pool's port (so_reuseport)."""
    target_cpu_percent: int
    cpu_request: str
    cpu_limit: str
    memory: str
    server_ca_config_map: str
    issuer_name: str
    issuer_kind: str
    reloader_image: str

    @property
    def selector(self) -> dict[str, str]:
        return {"app.kubernetes.io/name": "pgbouncer", "app.kubernetes.io/instance": self.name}

    def service_name(self, role: str) -> str:
        return f"{self.name}-{'rw' if role == 'writer' else 'ro'}"

    def service_host(self, role: str) -> str:
        return pooler_host(self.name.removeprefix("pgbouncer-"), self.namespace, role)


def pooler_host(target: str, namespace: str, role: str = "writer") -> str:
    """The in-cluster name of a target's PgBouncer Service (what the outputs' proxyEndpoint says for Patroni)."""
    return f"pgbouncer-{target}-{'rw' if role == 'writer' else 'ro'}.{namespace}.svc.cluster.local"


def _container(w: PgBouncerWorkload, role: str, port: int, process: int = 0) -> dict[str, Any]:
    """PgBouncer process `process` of the `role` pool. Every process of a pool runs the same ini and listens on the
    same port (so_reuseport: the kernel spreads the connections). The port is declared (and named, for the Service)
    on process 0 only: a port is the pod's, and Kubernetes warns of a duplicate declaration. The probes of each
    container reach the port, which any process of the pool may answer; a process that exits ends its container,
    which the kubelet restarts while the others keep serving."""
    probe = {"tcpSocket": {"port": port}, "periodSeconds": 10, "timeoutSeconds": 3}
    ports = [{"name": f"pg-{role[0]}", "containerPort": port, "protocol": "TCP"}] if process == 0 else []
    return {
        "name": f"{role}-{process}",
        "image": w.image,
        "command": ["pgbouncer", f"/etc/pgbouncer/ini/{role}.ini"],
        **({"ports": ports} if ports else {}),
        "resources": {
            "requests": {"cpu": w.cpu_request, "memory": w.memory},
            "limits": {"cpu": w.cpu_limit, "memory": w.memory},
        },
        "readinessProbe": {**probe, "initialDelaySeconds": 2, "failureThreshold": 3},
        "livenessProbe": {**probe, "initialDelaySeconds": 10, "failureThreshold": 6},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "ini", "mountPath": "/etc/pgbouncer/ini", "readOnly": True},
            {"name": "auth", "mountPath": "/etc/pgbouncer/auth", "readOnly": True},
            {"name": "tls", "mountPath": "/etc/pgbouncer/tls", "readOnly": True},
            {"name": "server-ca", "mountPath": "/etc/pgbouncer/server-ca", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


RELOADER_WATCHES = (AUTH_FILE, f"{CLIENT_TLS_DIR}/tls.crt", f"{CLIENT_TLS_DIR}/tls.key", SERVER_CA_FILE)


def _reloader(w: PgBouncerWorkload) -> dict[str, Any]:
    """A native sidecar (an init container that keeps running): `reload.sh` from the ini ConfigMap."""
    base = _container(w, "writer", WRITER_LISTEN_PORT)
    return {
        "name": "reloader",
        "image": w.reloader_image,
        "restartPolicy": "Always",
        "command": ["sh", "/etc/pgbouncer/ini/reload.sh"],
        "resources": {"requests": {"cpu": "5m", "memory": "16Mi"}, "limits": {"cpu": "50m", "memory": "32Mi"}},
        "securityContext": base["securityContext"],
        "volumeMounts": [m for m in base["volumeMounts"] if m["name"] in ("ini", "auth", "tls", "server-ca")],
    }


def pgbouncer_deployment(w: PgBouncerWorkload, *, config_hash: str) -> dict[str, Any]:
    """`processes_per_pod` PgBouncer containers per pool (writer and reader: PgBouncer is single-threaded, so each
    process uses one core; the processes of a pool share its port), spread over zones, restricted security context,
    one uid for all (SO_REUSEPORT lets only sockets of the same uid share a port); `config_hash` rolls the pods when
    pgbouncer.ini changes."""
    pod_labels = {**labels("pgbouncer", w.name), **w.selector}
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": w.selector},
        }
        for key, when in (
            ("topology.kubernetes.io/zone", "DoNotSchedule"),
            ("kubernetes.io/hostname", "ScheduleAnyway"),
        )
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(w.name, w.namespace, labels=pod_labels),
        "spec": {
            "replicas": w.min_replicas,  # the HPA owns it after creation (ignore_changes in the component)
            "selector": {"matchLabels": w.selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": {CONFIG_HASH_ANNOTATION: config_hash}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": UID,
                        "runAsGroup": UID,
                        "fsGroup": UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "topologySpreadConstraints": spread,
                    "terminationGracePeriodSeconds": 60,
                    # The reloader signals every PgBouncer process when a rotated secret or renewed certificate lands.
                    "shareProcessNamespace": True,
                    "initContainers": [_reloader(w)],
                    "containers": [
                        _container(w, role, port, process)
                        for role, port in (("writer", WRITER_LISTEN_PORT), ("reader", READER_LISTEN_PORT))
                        for process in range(w.processes_per_pod)
                    ],
                    "volumes": [
                        {"name": "ini", "configMap": {"name": f"{w.name}-ini", "defaultMode": 0o440}},
                        {"name": "auth", "secret": {"secretName": f"{w.name}-auth", "defaultMode": 0o440}},
                        {"name": "tls", "secret": {"secretName": f"{w.name}-tls", "defaultMode": 0o440}},
                        {"name": "server-ca", "configMap": {"name": w.server_ca_config_map, "defaultMode": 0o444}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
                    ],
                },
            },
        },
    }


def pgbouncer_pdb(w: PgBouncerWorkload) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(w.name, w.namespace, labels=labels("pgbouncer", w.name)),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": w.selector}},
    }


def pgbouncer_hpa(w: PgBouncerWorkload) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(w.name, w.namespace, labels=labels("pgbouncer", w.name)),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": w.name},
            "minReplicas": w.min_replicas,
            "maxReplicas": w.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": w.target_cpu_percent},
                    },
                }
            ],
        },
    }


def pgbouncer_service(w: PgBouncerWorkload, role: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(w.service_name(role), w.namespace, labels=labels("pgbouncer", w.name)),
        "spec": {
            "type": "ClusterIP",
            "selector": w.selector,
            "ports": [{"name": "postgres", "port": SERVICE_PORT, "targetPort": f"pg-{role[0]}", "protocol": "TCP"}],
        },
    }


def pgbouncer_certificate(w: PgBouncerWorkload) -> dict[str, Any]:
    """The client-side TLS certificate, issued and renewed by cert-manager for both Services' names."""
    names = [
        name
        for role in ("writer", "reader")
        for name in (
            w.service_name(role),
            f"{w.service_name(role)}.{w.namespace}",
            f"{w.service_name(role)}.{w.namespace}.svc",
            w.service_host(role),
        )
    ]
    return {
        "apiVersion": CERT_MANAGER_API,
        "kind": "Certificate",
        "metadata": metadata(f"{w.name}-tls", w.namespace, labels=labels("pgbouncer", w.name)),
        "spec": {
            "secretName": f"{w.name}-tls",
            "dnsNames": names,
            "duration": "2160h",
            "renewBefore": "360h",
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "usages": ["server auth", "digital signature", "key encipherment"],
            "issuerRef": {"name": w.issuer_name, "kind": w.issuer_kind, "group": "cert-manager.io"},
        },
    }


def pooler_endpoint(target: str, namespace: str) -> dict[str, Any]:
    """The outputs' proxy fields of a shard pooled by its PgBouncer: the writer Service and the port it serves."""
    return {"proxyEndpoint": pooler_host(target, namespace, "writer"), "proxyPort": SERVICE_PORT}
