"""The cache as a Valkey cluster StatefulSet (`cryb-db:cache.engine: kubernetes`), as plain dicts and rendered files.

Pure. The node's redis.conf and ACL file come from components/cache/redis_conf.py (the same functions the EC2 nodes
use), the cluster-forming Job runs components/cache/cloud_init.render_bootstrap_script over the pods' DNS names, and
`start_script()` is each pod's entry point: it hashes the ACL passwords from the ExternalSecret's files into the ACL
file and the replicator's into the masterauth include, then execs the server announcing its pod name.
tests/real/test_cache_statefulset.py runs all three with redis-server on loopback.
"""

from dataclasses import dataclass
from typing import Any

from components.cache.cloud_init import render_bootstrap_script
from components.cache.cluster_plan import ClusterPlan
from components.cache.redis_conf import (
    RedisConfInputs,
    TlsFiles,
    acl_template,
    acl_users,
    maxmemory_mb_of,
    render_redis_conf,
)

from . import alert_rules
from .manifests import CLIENT_LABEL, EXTERNAL_SECRETS_API, SECRET_STORE, UID, labels, metadata

NAME = "cache"
HEADLESS_SERVICE = "cache-nodes"
CONF_DIR = "/etc/cache/conf"  # the ConfigMap: node.conf, users.acl.template, start.sh, form-cluster.sh
USERS_DIR = "/etc/cache/users"  # the ExternalSecret's Secret: one file per ACL user holding its password
TLS_DIR = "/etc/cache/tls"  # cert-manager's Secret: tls.crt, tls.key, ca.crt
RUN_DIR = "/run/cache"  # an emptyDir (memory): the filled ACL file and the masterauth include
DATA_DIR = "/data"  # the PVC: AOF and nodes.conf
TLS = TlsFiles(cert=f"{TLS_DIR}/tls.crt", key=f"{TLS_DIR}/tls.key", ca=f"{TLS_DIR}/ca.crt")
USERS_SECRET = "cache-users"
TLS_SECRET = "cache-tls"
CONFIG_MAP = "cache-config"
STORAGE_CLASS = "cryb-db-gp3-encrypted"
SELECTOR = {"app.kubernetes.io/name": "valkey", "app.kubernetes.io/instance": NAME}
FORM_TIMEOUT_SECONDS = 900
EXPORTER_PORT = 9121  # the redis_exporter sidecar's metrics port (HTTPS, the node's certificate)
EXPORTER_USER = "admin"  # CLUSTER INFO and INFO for every section need more than `reader` has (the EC2 agent's too)
DEFAULT_EXPORTER_IMAGE = "oliver006/redis_exporter:v1.88.0"


def pod_host(index: int, namespace: str) -> str:
    """The stable DNS name of StatefulSet pod `index` (through the headless Service)."""
    return f"{NAME}-{index}.{HEADLESS_SERVICE}.{namespace}.svc.cluster.local"


def client_host(namespace: str) -> str:
    """The client Service: any node, for cluster discovery (the outputs' configurationEndpoint)."""
    return f"{NAME}.{namespace}.svc.cluster.local"


def node_conf_inputs(
    port: int, cluster_port: int, memory_mib: int, maxmemory_policy: str, replicas_per_shard: int
) -> RedisConfInputs:
    """A pod's redis.conf inputs: TLS only, AOF on the PVC, users and masterauth from files start.sh writes."""
    return RedisConfInputs(
        port=port,
        cluster_port=cluster_port,
        maxmemory_mb=maxmemory_mb_of(memory_mib),
        maxmemory_policy=maxmemory_policy,
        data_dir=DATA_DIR,
        aclfile=f"{RUN_DIR}/users.acl",
        secrets_include=f"{RUN_DIR}/secrets.conf",
        tls=TLS,
        logfile="",  # stdout: the container log
        replicas_per_shard=replicas_per_shard,
    )


def start_script() -> str:
    """POSIX sh, the pod's entry point. Environment: POD_IP and POD_HOST (downward API); CACHE_CONF_DIR,
    CACHE_USERS_DIR, CACHE_RUN_DIR and CACHE_SERVER default to the pod's paths and valkey-server."""
    users = " ".join(acl_users())
    return f"""#!/bin/sh
# Rendered by components/kubernetes/cache_cluster.py: a cache node's entry point.
set -eu
umask 077
CONF_DIR=${{CACHE_CONF_DIR:-{CONF_DIR}}}
USERS_DIR=${{CACHE_USERS_DIR:-{USERS_DIR}}}
RUN_DIR=${{CACHE_RUN_DIR:-{RUN_DIR}}}
SERVER=${{CACHE_SERVER:-valkey-server}}
: "${{POD_IP:?set POD_IP (downward API status.podIP)}}"
: "${{POD_HOST:?set POD_HOST (the pod's DNS name)}}"
password() {{ printf %s "$(cat "$USERS_DIR/$1")"; }}
cp "$CONF_DIR/users.acl.template" "$RUN_DIR/users.acl.new"
for user in {users}; do
  case "$(password "$user")" in
    *[!A-Za-z0-9]*|'') echo "start: the password of $user must be letters and digits" >&2; exit 1 ;;
  esac
  hash=$(password "$user" | sha256sum | cut -d' ' -f1)
  sed -i "s/@@SHA256:$user@@/$hash/" "$RUN_DIR/users.acl.new"
done
if grep -q '@@SHA256:' "$RUN_DIR/users.acl.new"; then echo "start: ACL template still has placeholders" >&2; exit 1; fi
mv "$RUN_DIR/users.acl.new" "$RUN_DIR/users.acl"
printf 'masterauth "%s"\\n' "$(password replicator)" > "$RUN_DIR/secrets.conf"
# The node announces its current address (a restarted pod has a new one) and its stable name, which clients get
# from CLUSTER SLOTS/SHARDS and verify the certificate against.
exec "$SERVER" "$CONF_DIR/node.conf" --cluster-announce-ip "$POD_IP" --cluster-announce-hostname "$POD_HOST" \\
  --cluster-preferred-endpoint-type hostname
"""


def form_script(plan: ClusterPlan, namespace: str, port: int, cluster_port: int) -> str:
    """The Job's script: the EC2 bootstrap over the pods' names (idempotent: it exits if slots are assigned)."""
    endpoints = [(pod_host(node.index, namespace), port, cluster_port) for node in plan.nodes]
    return render_bootstrap_script(plan, endpoints, resolve_names=True)


def config_files(
    plan: ClusterPlan, namespace: str, port: int, cluster_port: int, memory_mib: int, maxmemory_policy: str
) -> dict[str, str]:
    """The ConfigMap's files."""
    conf = render_redis_conf(
        node_conf_inputs(port, cluster_port, memory_mib, maxmemory_policy, len(plan.replicas_of(0)))
    )
    return {
        "node.conf": conf,
        "users.acl.template": acl_template(),
        "start.sh": start_script(),
        "form-cluster.sh": form_script(plan, namespace, port, cluster_port),
    }


@dataclass(frozen=True)
class CacheWorkload:
    namespace: str
    image: str
    cli_image: str
    nodes: int
    port: int
    cluster_port: int
    cpu: str
    memory_mib: int
    storage_gib: int
    issuer_name: str
    issuer_kind: str
    exporter_image: str = DEFAULT_EXPORTER_IMAGE
    """redis_exporter, the metrics sidecar of every node (pinned)."""
    prometheus_namespace: str = "monitoring"
    """Where the cluster's Prometheus runs: it may reach the exporters' port."""


_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": UID,
    "runAsGroup": UID,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "fsGroup": UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def storage_class(kms_key_arn: Any) -> dict[str, Any]:
    """gp3 EBS volumes encrypted with the stack's data key; bound where the pod lands; kept when released."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": metadata(STORAGE_CLASS, labels=labels("storage")),
        "provisioner": "ebs.csi.aws.com",
        "parameters": {
            "type": "gp3",
            "encrypted": "true",
            "kmsKeyId": kms_key_arn,
            "csi.storage.k8s.io/fstype": "ext4",
        },
        "reclaimPolicy": "Retain",
        "allowVolumeExpansion": True,
        "volumeBindingMode": "WaitForFirstConsumer",
    }


def users_external_secret(namespace: str, secret_arns: dict[str, Any]) -> dict[str, Any]:
    """One file per ACL user (its password) from its Secrets Manager secret."""
    return {
        "apiVersion": EXTERNAL_SECRETS_API,
        "kind": "ExternalSecret",
        "metadata": metadata(USERS_SECRET, namespace, labels=labels("secrets")),
        "spec": {
            "refreshInterval": "5m",
            "secretStoreRef": {"name": SECRET_STORE, "kind": "SecretStore"},
            "target": {"name": USERS_SECRET, "creationPolicy": "Owner", "deletionPolicy": "Delete"},
            "data": [
                {"secretKey": user, "remoteRef": {"key": secret_arns[user], "property": "password"}}
                for user in acl_users()
            ],
        },
    }


def certificate(w: CacheWorkload) -> dict[str, Any]:
    """One certificate for every node (wildcard of the headless Service) and the client Service."""
    ns = w.namespace
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": metadata(TLS_SECRET, ns, labels=labels("cache", NAME)),
        "spec": {
            "secretName": TLS_SECRET,
            "dnsNames": [
                f"*.{HEADLESS_SERVICE}.{ns}.svc.cluster.local",
                f"*.{HEADLESS_SERVICE}.{ns}.svc",
                client_host(ns),
                f"{NAME}.{ns}.svc",
            ],
            "duration": "2160h",
            "renewBefore": "360h",
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "usages": ["server auth", "client auth", "digital signature", "key encipherment"],
            "issuerRef": {"name": w.issuer_name, "kind": w.issuer_kind, "group": "cert-manager.io"},
        },
    }


def services(w: CacheWorkload) -> list[dict[str, Any]]:
    """The headless Service (stable pod names, published before the pods are ready: the cluster forms through
    them) and the client Service."""
    ports = [{"name": "valkey", "port": w.port, "targetPort": "valkey", "protocol": "TCP"}]
    headless = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(HEADLESS_SERVICE, w.namespace, labels=labels("cache", NAME)),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": SELECTOR,
            "ports": [*ports, {"name": "bus", "port": w.cluster_port, "targetPort": "bus", "protocol": "TCP"}],
        },
    }
    client = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(NAME, w.namespace, labels=labels("cache", NAME)),
        "spec": {"type": "ClusterIP", "selector": SELECTOR, "ports": ports},
    }
    return [headless, client]


def _resources(cpu: str, memory: str) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}


def exporter_args(port: int) -> list[str]:
    """redis_exporter's command line: the node by its pod name over TLS (the name its certificate holds) as the
    `admin` ACL user (password from the environment, REDIS_PASSWORD), serving its metrics over HTTPS with the same
    certificate. `$(POD_HOST)` is expanded by the kubelet."""
    return [
        f"--redis.addr=rediss://$(POD_HOST):{port}",
        f"--redis.user={EXPORTER_USER}",
        f"--tls-ca-cert-file={TLS.ca}",
        f"--tls-server-cert-file={TLS.cert}",
        f"--tls-server-key-file={TLS.key}",
        f"--web.listen-address=:{EXPORTER_PORT}",
        "--redis-only-metrics",
    ]


def _exporter(w: CacheWorkload, env: list[dict[str, Any]]) -> dict[str, Any]:
    probe = {"tcpSocket": {"port": "metrics"}, "periodSeconds": 10, "timeoutSeconds": 3}
    password = {"secretKeyRef": {"name": USERS_SECRET, "key": EXPORTER_USER}}
    return {
        "name": "exporter",
        "image": w.exporter_image,
        "args": exporter_args(w.port),
        "env": [*env, {"name": "REDIS_PASSWORD", "valueFrom": password}],
        "ports": [{"name": "metrics", "containerPort": EXPORTER_PORT, "protocol": "TCP"}],
        "resources": _resources("100m", "64Mi"),
        "readinessProbe": {**probe, "initialDelaySeconds": 5, "failureThreshold": 3},
        "livenessProbe": {**probe, "initialDelaySeconds": 30, "failureThreshold": 6},
        "securityContext": _SECURITY,
        "volumeMounts": [{"name": "tls", "mountPath": TLS_DIR, "readOnly": True}],
    }


def pod_monitor(w: CacheWorkload, selector_labels: dict[str, str]) -> dict[str, Any]:
    """Prometheus scrapes every node's exporter over HTTPS, verifying the nodes' certificate (the client Service's
    name is one of its names) against cert-manager's CA."""
    tls = {"ca": {"secret": {"name": TLS_SECRET, "key": "ca.crt"}}, "serverName": client_host(w.namespace)}
    return alert_rules.pod_monitor(NAME, w.namespace, SELECTOR, "metrics", tls, selector_labels)


def statefulset(w: CacheWorkload, config_hash: Any) -> dict[str, Any]:
    pod_labels = {**labels("cache", NAME), **SELECTOR}
    probe = {"tcpSocket": {"port": "valkey"}, "periodSeconds": 10, "timeoutSeconds": 3}
    env = [
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_HOST", "value": f"$(POD_NAME).{HEADLESS_SERVICE}.{w.namespace}.svc.cluster.local"},
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(NAME, w.namespace, labels=pod_labels),
        "spec": {
            "serviceName": HEADLESS_SERVICE,
            "replicas": w.nodes,
            "podManagementPolicy": "Parallel",  # every node must answer before the Job forms the cluster
            "updateStrategy": {"type": "RollingUpdate"},
            "selector": {"matchLabels": SELECTOR},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": {"cryb-db/cache-config-sha256": config_hash}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": _pod_security(),
                    "terminationGracePeriodSeconds": 30,
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": key,
                            "whenUnsatisfiable": "DoNotSchedule",
                            "labelSelector": {"matchLabels": SELECTOR},
                        }
                        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
                    ],
                    "containers": [
                        {
                            "name": "valkey",
                            "image": w.image,
                            "command": ["sh", f"{CONF_DIR}/start.sh"],
                            "env": env,
                            "ports": [
                                {"name": "valkey", "containerPort": w.port, "protocol": "TCP"},
                                {"name": "bus", "containerPort": w.cluster_port, "protocol": "TCP"},
                            ],
                            "resources": _resources(w.cpu, f"{w.memory_mib}Mi"),
                            "readinessProbe": {**probe, "initialDelaySeconds": 5, "failureThreshold": 3},
                            "livenessProbe": {**probe, "initialDelaySeconds": 30, "failureThreshold": 6},
                            "securityContext": _SECURITY,
                            "volumeMounts": [
                                {"name": "data", "mountPath": DATA_DIR},
                                {"name": "conf", "mountPath": CONF_DIR, "readOnly": True},
                                {"name": "users", "mountPath": USERS_DIR, "readOnly": True},
                                {"name": "tls", "mountPath": TLS_DIR, "readOnly": True},
                                {"name": "run", "mountPath": RUN_DIR},
                            ],
                        },
                        _exporter(w, env),
                    ],
                    "volumes": [
                        {"name": "conf", "configMap": {"name": CONFIG_MAP, "defaultMode": 0o444}},
                        {"name": "users", "secret": {"secretName": USERS_SECRET, "defaultMode": 0o400}},
                        {"name": "tls", "secret": {"secretName": TLS_SECRET, "defaultMode": 0o400}},
                        {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                    ],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data", "labels": labels("cache", NAME)},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "storageClassName": STORAGE_CLASS,
                        "resources": {"requests": {"storage": f"{w.storage_gib}Gi"}},
                    },
                }
            ],
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        },
    }


def pdb(w: CacheWorkload) -> dict[str, Any]:
    """One node down at a time: a master and its replica are never drained together."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(NAME, w.namespace, labels=labels("cache", NAME)),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": SELECTOR}},
    }


JOB_SELECTOR = {"app.kubernetes.io/name": "valkey-form-cluster", "app.kubernetes.io/instance": NAME}


def form_job(w: CacheWorkload) -> dict[str, Any]:
    """Forms the cluster once every node answers; a no-op when it is formed (safe to run again)."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(f"{NAME}-form-cluster", w.namespace, labels=labels("cache", NAME)),
        "spec": {
            "backoffLimit": 6,
            "activeDeadlineSeconds": 2 * FORM_TIMEOUT_SECONDS,
            "template": {
                "metadata": {"labels": {**labels("cache", NAME), **JOB_SELECTOR}},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "automountServiceAccountToken": False,
                    "securityContext": _pod_security(),
                    "containers": [
                        {
                            "name": "form-cluster",
                            "image": w.cli_image,
                            "command": ["bash", f"{CONF_DIR}/form-cluster.sh"],
                            "env": [
                                {
                                    "name": "REDISCLI_AUTH",
                                    "valueFrom": {"secretKeyRef": {"name": USERS_SECRET, "key": "admin"}},
                                },
                                {"name": "CACHE_CLI", "value": "valkey-cli"},
                                {"name": "CACHE_TLS_ARGS", "value": f"--tls --cacert {TLS.ca}"},
                                {"name": "CACHE_BOOTSTRAP_TIMEOUT", "value": str(FORM_TIMEOUT_SECONDS)},
                            ],
                            "resources": _resources("100m", "64Mi"),
                            "securityContext": _SECURITY,
                            "volumeMounts": [
                                {"name": "conf", "mountPath": CONF_DIR, "readOnly": True},
                                {"name": "tls", "mountPath": TLS_DIR, "readOnly": True},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "conf", "configMap": {"name": CONFIG_MAP, "defaultMode": 0o444}},
                        {"name": "tls", "secret": {"secretName": TLS_SECRET, "defaultMode": 0o400}},
                    ],
                },
            },
        },
    }


def network_policy(w: CacheWorkload) -> dict[str, Any]:
    """Cache pods: clients (namespaces labelled as clients) and the Job on the port; each other on port and bus;
    Prometheus on the exporters' port. Each pod's exporter reaches its own node through the peers rule."""
    peers = [{"podSelector": {"matchLabels": SELECTOR}}]
    job = [{"podSelector": {"matchLabels": JOB_SELECTOR}}]
    clients = [{"namespaceSelector": {"matchLabels": {CLIENT_LABEL: "true"}}}]
    both = [{"protocol": "TCP", "port": w.port}, {"protocol": "TCP", "port": w.cluster_port}]
    prometheus = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": w.prometheus_namespace}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata("allow-cache", w.namespace, labels=labels("network")),
        "spec": {
            "podSelector": {"matchLabels": SELECTOR},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {"from": [*clients, *job], "ports": [{"protocol": "TCP", "port": w.port}]},
                {"from": peers, "ports": both},
                {"from": [prometheus], "ports": [{"protocol": "TCP", "port": EXPORTER_PORT}]},
            ],
            "egress": [{"to": peers, "ports": both}],
        },
    }


def job_network_policy(w: CacheWorkload) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata("allow-cache-form-cluster", w.namespace, labels=labels("network")),
        "spec": {
            "podSelector": {"matchLabels": JOB_SELECTOR},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"podSelector": {"matchLabels": SELECTOR}}], "ports": [{"protocol": "TCP", "port": w.port}]}
            ],
        },
    }
