"""The Kubernetes side as both stacks declare it (mock engine): one explicit provider, the outputs ConfigMap equal to
the stack outputs, each namespace's role reading exactly its secrets, pool sizes that keep every PgBouncer at its
HPA maximum under the shard's max_connections, and NetworkPolicies that open only the flows named."""

import configparser
import json
from pathlib import Path
from typing import Any

from components.config.kubernetes import RDS_PROXY_MAX_CONNECTIONS_PERCENT
from components.kubernetes.pool_sizing import SUPERUSER_RESERVED
from components.network.plan import plan_subnets
from components.postgres import tuning
from scripts.preview.mock_engine import Evaluation, RecordedResource
from tests.helpers import evaluate_with, stack_document

PROVIDER = "pulumi:providers:kubernetes"


def k8s(evaluation: Evaluation, kind: str) -> list[RecordedResource]:
    return [r for r in evaluation.resources if r.type.startswith("kubernetes:") and r.type.endswith(f":{kind}")]


def test_one_explicit_provider_from_config_for_every_object(each_stack: Evaluation) -> None:
    providers = [r for r in each_stack.resources if r.type == PROVIDER]
    assert len(providers) == 1 and providers[0].name == f"cryb-{each_stack.stack}-kubernetes"
    assert providers[0].inputs["context"] == f"cryb-{each_stack.stack}"
    objects = [r for r in each_stack.resources if r.type.startswith("kubernetes:")]
    assert objects and {r.provider.split("::")[-2] for r in objects if r.provider} == {providers[0].name}
    assert all(r.provider for r in objects)


def test_the_outputs_config_map_is_the_stack_outputs(each_stack: Evaluation) -> None:
    maps = [r for r in k8s(each_stack, "ConfigMap") if r.inputs["metadata"]["name"] == "cryb-db-outputs"]
    apps = stack_document(each_stack.stack)["config"]["cryb-db:kubernetes"]["applications"]
    assert sorted(m.inputs["metadata"]["namespace"] for m in maps) == sorted(a["name"] for a in apps)
    for config_map in maps:
        contract = json.loads(config_map.inputs["data"]["outputs.json"])
        expected = {
            key: each_stack.outputs[key] for key in ("environment", "region", "postgres", "cache", "selfhosted")
        }
        assert contract == json.loads(json.dumps(expected))


def _policy(evaluation: Evaluation, component: str) -> dict[str, Any]:
    return json.loads(evaluation.named(f"{component}-secrets-read").inputs["policy"])


def test_each_namespace_role_reads_exactly_its_secrets(prod: Evaluation) -> None:
    shards = [s["secretArn"] for s in prod.outputs["postgres"]["shards"]]
    analytics = next(c["secretArn"] for c in prod.outputs["selfhosted"]["clusters"] if c["name"] == "analytics")
    cache = prod.outputs["cache"]["secretArns"]
    expected = {
        "cryb-prod-app-api": {*shards, analytics, cache["app"]},
        "cryb-prod-app-realtime": {*shards, cache["app"]},
        "cryb-prod-app-feed-worker": {*shards, cache["reader"]},
        "cryb-prod-poolers": {*shards, analytics},
    }
    secrets_key = prod.outputs["kmsKeyArns"]["secrets"]
    for component, arns in expected.items():
        read, decrypt = _policy(prod, component)["Statement"]
        assert set(read["Resource"]) == arns, component
        assert read["Action"] == ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
        assert decrypt["Resource"] == secrets_key and decrypt["Action"] == "kms:Decrypt"
        assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}
    # the ExternalSecrets of a namespace point at exactly those ARNs
    api = {r.inputs["spec"]["dataFrom"][0]["extract"]["key"] for r in k8s(prod, "ExternalSecret")
           if r.inputs["metadata"]["namespace"] == "api"}  # fmt: skip
    assert api == expected["cryb-prod-app-api"]


def test_irsa_trust_names_the_namespace_service_account(prod: Evaluation) -> None:
    issuer = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    for component, namespace in (("cryb-prod-app-api", "api"), ("cryb-prod-poolers", "cryb-db-pooler")):
        (statement,) = json.loads(prod.named(f"{component}-secrets-role").inputs["assumeRolePolicy"])["Statement"]
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Principal"]["Federated"].endswith(f"oidc-provider/{issuer}")
        assert statement["Condition"]["StringEquals"] == {
            f"{issuer}:sub": f"system:serviceaccount:{namespace}:cryb-db-secrets",
            f"{issuer}:aud": "sts.amazonaws.com",
        }
        account = prod.named(f"{component}-service-account").inputs
        assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")


def _ini(evaluation: Evaluation, target: str, role: str) -> configparser.ConfigParser:
    config_map = next(
        r for r in k8s(evaluation, "ConfigMap") if r.inputs["metadata"]["name"] == f"pgbouncer-{target}-ini"
    )
    parser = configparser.ConfigParser()
    parser.read_string(config_map.inputs["data"][f"{role}.ini"])
    return parser


def _pgbouncer_containers(evaluation: Evaluation, target: str) -> list[dict[str, Any]]:
    deployment = next(r for r in k8s(evaluation, "Deployment") if r.inputs["metadata"]["name"] == f"pgbouncer-{target}")
    return deployment.inputs["spec"]["template"]["spec"]["containers"]


def _processes(evaluation: Evaluation, target: str, role: str) -> int:
    """PgBouncer processes of the pod that run `role`.ini, as the Deployment declares them."""
    ini = f"/etc/pgbouncer/ini/{role}.ini"
    return sum(c["command"] == ["pgbouncer", ini] for c in _pgbouncer_containers(evaluation, target))


def test_every_pgbouncer_at_the_hpa_maximum_stays_under_max_connections(each_stack: Evaluation) -> None:
    """Each server: HPA maximum x the processes of each pool that reaches it (the reader pool too, when it goes to
    the writer), each process with a full pool of its own."""
    doc = stack_document(each_stack.stack)["config"]
    instance_class = doc["cryb-db:postgres"]["instanceClass"]
    max_connections = tuning.max_connections(tuning.instance_class(instance_class))
    proxy_share = max_connections * RDS_PROXY_MAX_CONNECTIONS_PERCENT // 100
    reserved = 10
    hpas = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in k8s(each_stack, "HorizontalPodAutoscaler")}
    for shard in each_stack.outputs["postgres"]["shards"]:
        target = f"shard{shard['id']}"
        inis = {role: _ini(each_stack, target, role) for role in ("writer", "reader")}
        on_writer = [
            role for role, ini in inis.items() if f"host={shard['writerEndpoint']} " in ini["databases"]["cryb"] + " "
        ]
        assert "writer" in on_writer
        assert (on_writer == ["writer", "reader"]) == (shard["readerEndpoints"] == [])
        writer_load = sum(
            _processes(each_stack, target, role) * int(inis[role]["pgbouncer"]["max_db_connections"])
            for role in on_writer
        )
        hpa = hpas[f"pgbouncer-{target}"]
        assert hpa["maxReplicas"] * writer_load + proxy_share + reserved + SUPERUSER_RESERVED <= max_connections
        assert hpa["minReplicas"] >= 2
        for ini in inis.values():
            section = ini["pgbouncer"]
            assert int(section["default_pool_size"]) + int(section["reserve_pool_size"]) == int(
                section["max_db_connections"]
            )
            assert section["pool_mode"] == "transaction" and section["server_tls_sslmode"] == "verify-full"
            assert int(section["max_prepared_statements"]) > 0
            assert section["so_reuseport"] == "1"  # the pool's processes share its port


def test_each_pool_runs_its_configured_processes_on_one_port(each_stack: Evaluation) -> None:
    """prod: the default 2 PgBouncer containers per pool, dev: 1 (Pulumi.dev.yaml); each its own probes and
    resources, all one uid (SO_REUSEPORT shares a port only within a uid), the port declared once per pool."""
    expected = {"prod": 2, "dev": 1}[each_stack.stack]
    for shard in each_stack.outputs["postgres"]["shards"]:
        target = f"shard{shard['id']}"
        containers = _pgbouncer_containers(each_stack, target)
        names = [c["name"] for c in containers]
        assert names == [f"{role}-{i}" for role in ("writer", "reader") for i in range(expected)]
        for role, port in (("writer", 6432), ("reader", 6433)):
            assert _processes(each_stack, target, role) == expected
            mine = [c for c in containers if c["name"].startswith(role)]
            assert [c.get("ports") for c in mine] == [
                [{"name": f"pg-{role[0]}", "containerPort": port, "protocol": "TCP"}],
                *[None] * (expected - 1),
            ]
            for c in mine:
                assert (
                    c["readinessProbe"]["tcpSocket"]["port"] == port and c["livenessProbe"]["tcpSocket"]["port"] == port
                )
                assert c["resources"]["requests"]["cpu"] == "250m" and c["resources"]["limits"]["cpu"] == "1"
                assert c["securityContext"]["runAsUser"] == 10001


def test_the_rds_proxy_share_the_pools_leave_is_the_proxy_setting(prod: Evaluation) -> None:
    groups = prod.of_type("aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup")
    assert groups
    for group in groups:
        assert group.inputs["connectionPoolConfig"]["maxConnectionsPercent"] == RDS_PROXY_MAX_CONNECTIONS_PERCENT


def test_no_secret_value_in_any_kubernetes_object(each_stack: Evaluation) -> None:
    """Credentials reach the cluster only through External Secrets: no Secret object, no secret-marked input, and the
    PgBouncer auth file is a template over the secret's keys, filled in by the operator."""
    objects = [r for r in each_stack.resources if r.type.startswith("kubernetes:")]
    assert not k8s(each_stack, "Secret")
    assert [r.name for r in objects if r.secret_paths] == []
    for auth in (r for r in k8s(each_stack, "ExternalSecret") if r.inputs["metadata"]["name"].endswith("-auth")):
        template = auth.inputs["spec"]["target"]["template"]["data"]["userlist.txt"]
        assert template.count("{{ .username") == 1 and template.count("{{ .password") == 1
        assert auth.inputs["spec"]["dataFrom"][0]["extract"]["key"].startswith("arn:aws:secretsmanager:")


def test_network_policies_open_only_the_named_flows(prod: Evaluation) -> None:
    policies = {
        (r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r.inputs["spec"]
        for r in k8s(prod, "NetworkPolicy")
    }
    namespaces = {ns for ns, _ in policies}
    assert namespaces == {"api", "realtime", "feed-worker", "cryb-db-pooler"}
    for namespace in namespaces:
        deny = policies[(namespace, "default-deny")]
        assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    data_cidrs = {s.cidr for s in plan_subnets("10.20.0.0/16", 3) if s.tier == "data"}
    pooler = policies[("cryb-db-pooler", "allow-cryb-db")]
    dns, to_servers = pooler["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert {peer["ipBlock"]["cidr"] for peer in to_servers["to"]} == data_cidrs
    server_ports = {s["port"] for s in prod.outputs["postgres"]["shards"]}
    server_ports |= {c["port"] for c in prod.outputs["selfhosted"]["clusters"]}
    assert {p["port"] for p in to_servers["ports"]} == server_ports
    assert pooler["ingress"] == [
        {
            "from": [{"namespaceSelector": {"matchLabels": {"cryb-db/client": "true"}}}],
            "ports": [{"protocol": "TCP", "port": 6432}, {"protocol": "TCP", "port": 6433}],
        }
    ]
    app = policies[("api", "allow-cryb-db")]
    assert "ingress" not in app and app["policyTypes"] == ["Egress"]
    ports = sorted(p["port"] for rule in app["egress"][1:] for p in rule["ports"])
    assert ports == sorted([6432, 6433, prod.outputs["cache"]["port"]])


def test_without_kubernetes_patroni_shards_keep_the_writer_nlb_and_nothing_kubernetes_is_declared(
    tmp_path: Path,
) -> None:
    evaluation = evaluate_with(
        tmp_path,
        "prod",
        {
            "cryb-db:postgres": json.dumps({"engine": "ec2", "shardCount": 1, "ec2": {"instanceType": "i4i.xlarge"}}),
            "cryb-db:kubernetes": json.dumps({"enabled": False}),
        },
    )
    (shard,) = evaluation.outputs["postgres"]["shards"]
    assert shard["proxyEndpoint"] == shard["writerEndpoint"] and shard["proxyPort"] == shard["port"]
    assert "kubernetes" not in evaluation.outputs
    assert not [r for r in evaluation.resources if "kubernetes" in r.type]
