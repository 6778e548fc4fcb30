"""The applications' side on the EKS cluster: each consuming application's namespace (`ApplicationAccess`) and the
shards' PgBouncer Deployments (`PgBouncerPoolers`). The manifests come from `manifests.py`, pgbouncer.ini from
`pgbouncer_ini.py`, pool sizes from `pool_sizing.py`, IAM documents from `iam_documents.py`; the Kubernetes provider
comes from `__main__.py` (components create none)."""

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from . import iam_documents, manifests
from .objects import KubernetesObject
from .pgbouncer_ini import PgBouncerSettings, reloader_script, render
from .pool_sizing import pool_sizes


class SecretsIdentityArgs(TypedDict):
    """How a namespace's External Secrets store reaches Secrets Manager."""

    authentication: Literal["irsa", "pod-identity"]
    """irsa (the namespace's service account token) or pod-identity (the controller's role assumes this one)."""
    oidc_provider_arn: str | None
    """The cluster's IAM OIDC provider (irsa)."""
    controller_role_arn: str | None
    """The External Secrets controller's Pod Identity role (pod-identity)."""
    secrets_kms_key_arn: pulumi.Input[str]
    """The key the secrets are encrypted with: the role may decrypt with it through Secrets Manager only."""
    region: str
    """Region of the secrets."""


class ApplicationAccessArgs(TypedDict):
    """One consuming application's namespace."""

    namespace: str
    """Its namespace (created here, PSS restricted)."""
    kubernetes_version: str
    """The cluster's minor version (the Pod Security version label)."""
    outputs_json: pulumi.Input[str]
    """The outputs contract, as `pulumi stack output --json` shows it (the ConfigMap's `outputs.json`)."""
    secret_arns: Mapping[str, pulumi.Input[str]]
    """Kubernetes Secret name -> Secrets Manager ARN: exactly what this application may read."""
    identity: SecretsIdentityArgs
    """How its secrets store authenticates."""
    pooler_namespace: str
    """Where the PgBouncers run (its pods may reach them)."""
    data_subnet_cidrs: Sequence[str]
    """The data subnets (its pods may reach the cache port there)."""
    cache_port: int | None
    """The cache port, or None when it uses no cache."""
    data_namespace: NotRequired[str | None]
    """The data namespace (engine kubernetes): its pods may reach its Poolers, and the cache pods on `cache_port`."""
    tags: Mapping[str, str]
    """Tags of the AWS resources (the IAM role)."""


class PoolerTargetArgs(TypedDict):
    """A server one PgBouncer Deployment pools for."""

    name: str
    """`shard<N>` or the self-hosted cluster's name: the Deployment is `pgbouncer-<name>`."""
    database: str
    """The database."""
    writer_hosts: pulumi.Input[Sequence[str]]
    """The writer's host name (RDS endpoint, or the Patroni writer NLB)."""
    reader_hosts: pulumi.Input[Sequence[str]]
    """Reader host names (used round-robin); empty: the reader pool goes to the writer."""
    port: int
    """The server port."""
    secret_arn: pulumi.Input[str]
    """Secrets Manager ARN of the credentials clients use (auth_file)."""
    max_connections: int
    """The server's max_connections (components/postgres/tuning.py)."""
    other_poolers: int
    """Connections another pooler may take from the same server (RDS Proxy)."""
    pools_per_server: int
    """The pods' pools that may connect to one server with the HPA at its maximum (HPA maximum, doubled when the
    reader pool goes to the writer too): the pool sizes are divided by it times `processes_per_pod`."""


class PgBouncerArgs(TypedDict):
    """PgBouncer settings shared by every target (cryb-db:kubernetes.pgbouncer)."""

    image: str
    """Image pinned by version tag or digest (PgBouncer >= 1.21)."""
    min_replicas: int
    """HPA minimum (>= 2: survives a zone)."""
    max_replicas: int
    """HPA maximum: the pool sizes are divided by it."""
    processes_per_pod: int
    """PgBouncer processes (containers) per pool and pod, sharing the pool's port (so_reuseport), each with its own
    pool: the pool sizes are divided by it too."""
    target_cpu_percent: int
    """HPA CPU target."""
    reserved_connections: int
    """Server connections no pooler may take (besides the superuser slots)."""
    max_client_connections: int
    """Client connections per PgBouncer process."""
    max_prepared_statements: int
    """Prepared statements tracked per server connection."""
    cpu_request: str
    """CPU request per PgBouncer container."""
    cpu_limit: str
    """CPU limit per container."""
    memory: str
    """Memory request and limit per container."""
    server_ca_config_map: str
    """ConfigMap with `ca.pem`, the servers' CA (verify-full)."""
    issuer_name: str
    """cert-manager issuer of the client-side certificates."""
    issuer_kind: str
    """Issuer or ClusterIssuer."""
    reloader_image: str
    """Image of the reloader sidecar (POSIX sh, sha256sum, pkill), pinned."""


class PgBouncerPoolersArgs(TypedDict):
    """The pooler namespace and one PgBouncer Deployment per target."""

    namespace: str
    """The pooler namespace (created here, PSS restricted)."""
    kubernetes_version: str
    """The cluster's minor version."""
    targets: Sequence[PoolerTargetArgs]
    """Every shard and self-hosted cluster."""
    pgbouncer: PgBouncerArgs
    """Shared settings."""
    identity: SecretsIdentityArgs
    """How the namespace's secrets store authenticates."""
    data_subnet_cidrs: Sequence[str]
    """Where the servers are: PgBouncer may reach only their ports there."""
    tags: Mapping[str, str]
    """Tags of the AWS resources."""


def _declare_identity(
    parent: pulumi.Resource,
    name: str,
    namespace: str,
    secret_arns: Sequence[pulumi.Input[str]],
    identity: SecretsIdentityArgs,
    tags: Mapping[str, str],
    depends_on: Sequence[pulumi.Resource],
) -> list[pulumi.Resource]:
    """The namespace's IAM role (trust and read policy), its service account and its SecretStore."""
    child = pulumi.ResourceOptions(parent=parent)
    if identity["authentication"] == "irsa":
        oidc = identity["oidc_provider_arn"]
        assert oidc is not None  # the config requires it for irsa
        trust = iam_documents.irsa_trust(oidc, namespace, manifests.SERVICE_ACCOUNT)
    else:
        controller = identity["controller_role_arn"]
        assert controller is not None  # the config requires it for pod-identity
        trust = iam_documents.pod_identity_trust(controller)
    role = aws.iam.Role(
        f"{name}-secrets-role",
        assume_role_policy=trust,
        description=f"External Secrets store of namespace {namespace}: reads its secrets only",
        max_session_duration=3600,
        tags={**tags, "Name": f"{name}-secrets-role"},
        opts=child,
    )
    aws.iam.RolePolicy(
        f"{name}-secrets-read",
        role=role.id,
        policy=pulumi.Output.all(list(secret_arns), identity["secrets_kms_key_arn"]).apply(
            lambda v: iam_documents.read_secrets_policy(v[0], v[1], identity["region"])
        ),
        opts=child,
    )
    after = pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on))
    irsa = identity["authentication"] == "irsa"
    account = KubernetesObject(
        f"{name}-service-account", manifests.service_account(namespace, role.arn if irsa else None), after
    )
    store = KubernetesObject(
        f"{name}-secret-store",
        manifests.secret_store(
            namespace, region=identity["region"], authentication=identity["authentication"], role_arn=role.arn
        ),
        pulumi.ResourceOptions(parent=parent, depends_on=[*depends_on, account]),
    )
    return [account, store]


class ApplicationAccess(pulumi.ComponentResource):
    """A consuming application's namespace: PSS restricted, the outputs contract as a ConfigMap, its secrets through
    External Secrets (its own IAM role reads exactly them), and a default-deny NetworkPolicy that lets its pods reach
    the PgBouncers and the cache port only."""

    namespace: str

    def __init__(self, name: str, args: ApplicationAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cryb:kubernetes:ApplicationAccess", name, None, opts)
        ns = self.namespace = args["namespace"]
        child = pulumi.ResourceOptions(parent=self)
        namespace = KubernetesObject(
            f"{name}-namespace",
            manifests.namespace(ns, kubernetes_version=args["kubernetes_version"], client=True),
            child,
        )
        inside = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        KubernetesObject(
            f"{name}-outputs",
            manifests.config_map("cryb-db-outputs", ns, {"outputs.json": args["outputs_json"]}, "outputs"),
            inside,
        )
        egress = [manifests.to_poolers(args["pooler_namespace"])]
        if args["cache_port"] is not None:
            egress.append(manifests.to_cidrs(args["data_subnet_cidrs"], [args["cache_port"]]))
        data_namespace = args.get("data_namespace")
        if data_namespace:
            egress += manifests.to_data_stores(data_namespace, args["cache_port"])
        for policy in manifests.network_policies(ns, egress=egress):
            KubernetesObject(f"{name}-{policy['metadata']['name']}", policy, inside)
        stores = _declare_identity(
            self, name, ns, list(args["secret_arns"].values()), args["identity"], args["tags"], [namespace]
        )
        for secret_name, arn in sorted(args["secret_arns"].items()):
            KubernetesObject(
                f"{name}-{secret_name}",
                manifests.external_secret(secret_name, ns, arn),
                pulumi.ResourceOptions(parent=self, depends_on=stores),
            )
        self.register_outputs({"namespace": ns})


class PgBouncerPoolers(pulumi.ComponentResource):
    """PgBouncer in front of every shard and self-hosted cluster: per target a Deployment (writer and reader pools,
    each served by `processes_per_pod` PgBouncer processes sharing its port, >= 2 pods spread over zones), PDB, HPA
    on CPU, a writer and a reader Service, pgbouncer.ini with pool sizes that keep every process of every pod at the
    HPA maximum under max_connections, client TLS from cert-manager, auth from the target's
    secret through External Secrets; in a PSS-restricted namespace whose pods may reach only the servers' ports."""

    endpoints: dict[str, dict[str, Any]]
    """Target name -> {"writer": Service host, "reader": Service host, "port": 5432}."""

    def __init__(self, name: str, args: PgBouncerPoolersArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cryb:kubernetes:PgBouncerPoolers", name, None, opts)
        ns = args["namespace"]
        namespace = KubernetesObject(
            f"{name}-namespace",
            manifests.namespace(ns, kubernetes_version=args["kubernetes_version"], client=False),
            pulumi.ResourceOptions(parent=self),
        )
        self._inside = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        ports = sorted({t["port"] for t in args["targets"]})
        for policy in manifests.network_policies(
            ns,
            egress=[manifests.to_cidrs(args["data_subnet_cidrs"], ports)],
            ingress=[manifests.from_clients()],
        ):
            KubernetesObject(f"{name}-{policy['metadata']['name']}", policy, self._inside)
        self._stores = _declare_identity(
            self, name, ns, [t["secret_arn"] for t in args["targets"]], args["identity"], args["tags"], [namespace]
        )
        self.endpoints = {}
        for target in args["targets"]:
            self.endpoints[target["name"]] = self._pool(name, ns, target, args["pgbouncer"])
        self.register_outputs({"endpoints": self.endpoints})

    def _pool(self, name: str, ns: str, target: PoolerTargetArgs, p: PgBouncerArgs) -> dict[str, Any]:
        w = manifests.PgBouncerWorkload(
            name=f"pgbouncer-{target['name']}",
            namespace=ns,
            image=p["image"],
            min_replicas=p["min_replicas"],
            max_replicas=p["max_replicas"],
            processes_per_pod=p["processes_per_pod"],
            target_cpu_percent=p["target_cpu_percent"],
            cpu_request=p["cpu_request"],
            cpu_limit=p["cpu_limit"],
            memory=p["memory"],
            server_ca_config_map=p["server_ca_config_map"],
            issuer_name=p["issuer_name"],
            issuer_kind=p["issuer_kind"],
            reloader_image=p["reloader_image"],
        )
        sizes = pool_sizes(
            max_connections=target["max_connections"],
            reserved_connections=p["reserved_connections"],
            max_replicas=target["pools_per_server"],
            processes_per_pod=p["processes_per_pod"],
            other_poolers=target["other_poolers"],
            max_client_conn=p["max_client_connections"],
        )
        prefix = f"{name}-{target['name']}"

        def ini_files(hosts: list[Any]) -> dict[str, str]:
            writer, readers = list(hosts[0]), list(hosts[1]) or list(hosts[0])
            files = {}
            for role, role_hosts, port in (
                ("writer", writer, manifests.WRITER_LISTEN_PORT),
                ("reader", readers, manifests.READER_LISTEN_PORT),
            ):
                settings = PgBouncerSettings(
                    database=target["database"],
                    hosts=role_hosts,
                    port=target["port"],
                    pools=sizes,
                    max_prepared_statements=p["max_prepared_statements"],
                    listen_port=port,
                )
                files[f"{role}.ini"] = render(settings)
            files["reload.sh"] = reloader_script(manifests.RELOADER_WATCHES)
            return files

        files = pulumi.Output.all(target["writer_hosts"], target["reader_hosts"]).apply(ini_files)
        config_hash = files.apply(lambda f: hashlib.sha256("".join(f[k] for k in sorted(f)).encode()).hexdigest())
        inside = self._inside
        ini = KubernetesObject(f"{prefix}-ini", manifests.config_map(f"{w.name}-ini", ns, files, "pgbouncer"), inside)
        auth = KubernetesObject(
            f"{prefix}-auth",
            manifests.external_secret(
                f"{w.name}-auth", ns, target["secret_arn"], template={"userlist.txt": manifests.USERLIST_TEMPLATE}
            ),
            pulumi.ResourceOptions(parent=self, depends_on=self._stores),
        )
        tls = KubernetesObject(f"{prefix}-tls", manifests.pgbouncer_certificate(w), inside)
        deployment_manifest = manifests.pgbouncer_deployment(w, config_hash="")
        deployment_manifest["spec"]["template"]["metadata"]["annotations"][manifests.CONFIG_HASH_ANNOTATION] = (
            config_hash
        )
        deployment = KubernetesObject(
            f"{prefix}-deployment",
            deployment_manifest,
            pulumi.ResourceOptions(
                parent=self,
                depends_on=[ini, auth, tls],
                ignore_changes=["spec.replicas"],  # the HPA scales it
            ),
        )
        KubernetesObject(f"{prefix}-pdb", manifests.pgbouncer_pdb(w), inside)
        KubernetesObject(
            f"{prefix}-hpa", manifests.pgbouncer_hpa(w), pulumi.ResourceOptions(parent=self, depends_on=[deployment])
        )
        for role in ("writer", "reader"):
            KubernetesObject(f"{prefix}-{role}-service", manifests.pgbouncer_service(w, role), inside)
        return {"writer": w.service_host("writer"), "reader": w.service_host("reader"), "port": manifests.SERVICE_PORT}
