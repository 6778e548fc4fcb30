"""The self-hosted cache (`cryb-db:cache.engine: ec2`) of the prod stack booted in the sandbox: the evaluation, the
secrets the preview declares seeded in moto, the 6 nodes booted from their launch templates (scripts/sandbox/cache.py),
and a way for the test process to talk to them over the sandbox network."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from scripts.local.aws import REGION, aws_stand_in, endpoint, seed_cache_secrets
from scripts.local.nodes import NETNS_LOCK, in_netns, rendered_cache_port
from scripts.preview.mock_engine import Evaluation, evaluate
from scripts.sandbox import Sandbox
from scripts.sandbox.cache import cache_component, cache_image, cache_node_specs
from scripts.sandbox.node import Node
from scripts.sandbox.userdata import decode_user_data, parse_cloud_config
from scripts.servers.moto_tls import MotoTlsServer
from tests.helpers import write_config


def cache_ec2_evaluation(config_dir: Path) -> Evaluation:
    """The prod stack with `cryb-db:cache` switched to the self-hosted engine (as tests/components/cache does)."""
    return evaluate("prod", write_config(config_dir, "prod", {"cryb-db:cache": {"engine": "ec2"}}))


@dataclass
class CacheCluster:
    box: Sandbox
    moto: MotoTlsServer
    evaluation: Evaluation
    arns: dict[str, str]
    """Secret kind (`app`, `admin`, `tls-ca-cert`, ...) -> ARN."""
    port: int
    booted_at: float
    boot_seconds: dict[str, float]
    workdir: Path
    _read: dict[str, str] = field(default_factory=dict)

    def secret(self, kind: str) -> str:
        """The secret's current value in Secrets Manager (moto; asked from this machine's network, not the hub's)."""
        if kind not in self._read:
            value = self.moto.boto3_client("secretsmanager").get_secret_value(
                SecretId=self.arns[kind], VersionStage="AWSCURRENT"
            )
            self._read[kind] = str(value["SecretString"])
        return self._read[kind]

    def password(self, user: str) -> str:
        return str(json.loads(self.secret(user))["password"])

    def ca_file(self) -> Path:
        """The CA certificate the nodes stored in Secrets Manager (what applications verify nodes with)."""
        path = self.workdir / "ca.crt"
        if not path.exists():
            path.write_text(self.secret("tls-ca-cert"))
        return path

    def planned_role(self, node: Node) -> str:
        """`s0-master`, `s1-replica1`, ... from the launch template's tags (the cluster plan)."""
        template = next(
            r for r in self.evaluation.resources if r.name == node.name and r.type.endswith("LaunchTemplate")
        )
        return str(template.inputs["tags"]["cache-node"])

    @contextmanager
    def on_sandbox_network(self) -> Iterator[None]:
        """Run the block with this thread in the sandbox's hub namespace: sockets made inside it reach the nodes'
        addresses (and keep working after the block). Only this thread moves; the rest of the process stays."""
        with NETNS_LOCK, in_netns(self.box.network.hub):
            yield


def rendered_port(node: Node) -> int:
    return rendered_cache_port(node)


@contextmanager
def booted_cache(evaluation: Evaluation) -> Iterator[CacheCluster]:
    """Boot the cache's nodes from their launch templates at once; everything is torn down on exit, even on failure."""
    component = cache_component(evaluation)
    specs = cache_node_specs(evaluation, REGION)
    parse_cloud_config(decode_user_data(specs[0].user_data))  # fails early on user data the sandbox cannot boot
    workdir = Path(tempfile.mkdtemp(prefix="cryb-cache-sandbox-"))
    try:
        with aws_stand_in([]) as moto:
            arns = seed_cache_secrets(moto, evaluation, component)
            box = Sandbox(specs, aws=endpoint(moto, []), image=cache_image(), region=REGION)
            try:
                box.start()
                started = time.monotonic()
                took = box.boot_all()
                cluster = CacheCluster(
                    box=box, moto=moto, evaluation=evaluation, arns=arns, port=rendered_port(box.nodes[0]),
                    booted_at=started, boot_seconds=took, workdir=workdir,
                )  # fmt: skip
                for user in ("app", "reader", "admin"):
                    cluster.password(user)
                cluster.ca_file()
                yield cluster
            finally:
                box.close()
    finally:
        for entry in workdir.iterdir():
            entry.unlink()
        workdir.rmdir()
