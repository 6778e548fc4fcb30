"""`cryb-db:postgres.engine: ec2`: the OLTP shards as self-hosted Patroni clusters, in the same outputs contract as
RDS shards (issue 7 item 6), evaluated from a prod stack file whose postgres section switches engine."""

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from components.config import ConfigError, parse_stack_config
from scripts import PROJECT_DIR
from scripts.preview.mock_engine import Evaluation, evaluate
from scripts.preview.policy_runner import policy_config_file, run_policies
from scripts.preview.stack_files import read_stack_file, stack_file_path
from tests.helpers import PROD_SELFHOSTED, write_config

SCHEMA = json.loads((PROJECT_DIR / "docs" / "outputs.schema.json").read_text())
EC2_POSTGRES = {"engine": "ec2", "shardCount": 2, "ec2": {"instanceType": "i4i.xlarge"}}
RDS_SHARD_FIELDS = {
    "id", "name", "topology", "writerEndpoint", "readerEndpoints", "proxyEndpoint", "port", "proxyPort",
    "databaseName", "secretArn", "roleSecretArns", "iamAuthentication", "region", "bucketRange", "shardMapVersion",
}  # fmt: skip


@pytest.fixture(scope="module")
def ec2_prod(tmp_path_factory: pytest.TempPathFactory) -> Evaluation:
    config = write_config(tmp_path_factory.mktemp("ec2"), "prod", {"cryb-db:postgres": EC2_POSTGRES})
    return evaluate("prod", config)


def test_no_rds_resources_and_one_cluster_of_three_nodes_per_shard(ec2_prod: Evaluation) -> None:
    assert not ec2_prod.of_type("aws:rds/instance:Instance")
    assert not ec2_prod.of_type("aws:rds/proxy:Proxy")
    shards = [r for r in ec2_prod.of_type("cryb:postgres_selfhosted:SelfHostedCluster") if "-pg-" in r.name]
    assert sorted(r.name for r in shards) == ["cryb-prod-pg-00", "cryb-prod-pg-01"]
    for shard in shards:
        groups = [g for g in ec2_prod.of_type("aws:autoscaling/group:Group") if g.parent == shard.urn]
        assert len(groups) == 3
        zones = {
            ec2_prod.by_id(g.inputs["vpcZoneIdentifiers"][0]).inputs["availabilityZone"]  # type: ignore[union-attr]
            for g in groups
        }
        assert len(zones) == 3


def test_shards_keep_the_rds_contract(ec2_prod: Evaluation) -> None:
    outputs = ec2_prod.masked_outputs()
    jsonschema.Draft202012Validator(SCHEMA).validate(outputs)
    postgres = outputs["postgres"]
    assert (postgres["engine"], postgres["topology"]) == ("patroni-postgresql", "patroni")
    assert [s["id"] for s in postgres["shards"]] == [0, 1]
    for shard in postgres["shards"]:
        # plus the pgBackRest repository dr-drill restores and the secret of the cluster CA's certificate (verify-full)
        assert set(shard) == RDS_SHARD_FIELDS | {"backup", "tlsCaCertSecretArn"}
        assert ec2_prod.named(shard["tlsCaCertSecretArn"].rsplit("/", 1)[-1]).name == f"{shard['name']}-tls-ca-cert"
        assert shard["port"] == 5433  # the stack's non-default port, as on RDS
        # no RDS Proxy: with cryb-db:kubernetes on (prod), the shard's PgBouncer writer Service (docs/kubernetes.md)
        assert shard["proxyEndpoint"] == f"pgbouncer-shard{shard['id']}-rw.cryb-db-pooler.svc.cluster.local"
        assert shard["proxyPort"] == 5432
        assert shard["iamAuthentication"] is False
        # the admin secret of that very cluster (the mock engine's ARNs end with the resource name)
        secret_name = shard["secretArn"].rsplit("/", 1)[-1]
        assert secret_name == f"{shard['name']}-admin"
        assert ec2_prod.named(secret_name).type == "aws:secretsmanager/secret:Secret"
    # buckets still route to exactly these shards
    owners = {r["shard"] for r in postgres["shardMap"]["ranges"]}
    assert owners == {0, 1}


def test_writer_and_reader_names_answer_from_the_patroni_health_checks(ec2_prod: Evaluation) -> None:
    groups = [g for g in ec2_prod.of_type("aws:lb/targetGroup:TargetGroup") if g.name.startswith("cryb-prod-pg-00-")]
    paths = {g.name.removeprefix("cryb-prod-pg-00-"): g.inputs["healthCheck"]["path"] for g in groups}
    assert paths == {"writer-tg": "/primary", "reader-tg": "/replica"}
    assert all(g.inputs["port"] == 5433 for g in groups)


def test_the_ec2_stack_passes_the_prod_policy_pack(ec2_prod: Evaluation) -> None:
    mandatory = [v for v in run_policies(ec2_prod, policy_config_file("prod")) if v["level"] == "mandatory"]
    assert mandatory == []


def _prod_with(postgres: dict[str, Any], **extra: Any) -> list[str]:
    raw = {**read_stack_file(stack_file_path("prod")).config, "cryb-db:postgres": json.dumps(postgres)}
    raw.update({f"cryb-db:{key}": json.dumps(value) for key, value in extra.items()})
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw)
    return caught.value.problems


def test_rds_only_keys_are_refused_with_engine_ec2() -> None:
    (problem,) = _prod_with({**EC2_POSTGRES, "instanceClass": "db.r7g.xlarge", "multiAz": True})
    assert "engine = 'ec2': instanceClass, multiAz apply to RDS shards only" in problem


def test_ec2_nodes_without_engine_ec2_are_refused() -> None:
    (problem,) = _prod_with({"ec2": {"instanceType": "i4i.xlarge"}})
    assert "engine = 'rds': `ec2` describes self-hosted shards" in problem


def test_prod_ec2_shards_must_be_synchronous_and_fit_the_azs() -> None:
    problems = _prod_with({**EC2_POSTGRES, "ec2": {"synchronousMode": False, "nodeCount": 5}})
    assert any(p.startswith("cryb-db:postgres.ec2.synchronousMode = False: must be true in prod") for p in problems)
    assert any(p.startswith("cryb-db:postgres.ec2.nodeCount = 5: needs as many AZs") for p in problems)


def test_ec2_shards_need_an_image_or_a_proxy_and_the_interface_endpoints() -> None:
    dev = read_stack_file(stack_file_path("dev")).config
    raw = {**dev, "cryb-db:postgres": json.dumps({"engine": "ec2", "shardCount": 1})}
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw)
    problems = caught.value.problems
    assert any(p.startswith("cryb-db:postgres.ec2.nodeCount = 3: needs as many AZs") for p in problems)
    assert any(p.startswith("cryb-db:selfhosted: set packageProxy or imageSsmParameter") for p in problems)
    endpoints = "cryb-db:network.interfaceEndpoints = False: must be true with self-hosted"
    assert any(p.startswith(endpoints) for p in problems)


def test_prod_stack_file_still_parses_with_its_analytics_cluster() -> None:
    config = parse_stack_config(read_stack_file(stack_file_path("prod")).config)
    assert config.postgres.engine == "rds" and "analytics" in config.selfhosted.clusters
    assert json.loads(PROD_SELFHOSTED)["clusters"]["analytics"]["timescaledb"] is True


def test_preview_cli_accepts_the_ec2_config(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = write_config(tmp_path, "prod", {"cryb-db:postgres": EC2_POSTGRES})
    done = subprocess.run(
        [sys.executable, "-m", "scripts", "preview", "--stack", "prod", "--config", str(config), "--json"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outputs"]["postgres"]["engine"] == "patroni-postgresql"
