"""A Patroni drill cluster (tests/servers/patroni.py) with its credentials in moto's Secrets Manager and one
credentials agent per node (components/selfhosted/credentials_agent/agent.py): shared by
tests/real/test_patroni_rotation.py and `python -m scripts bench patroni-rotation`.

Call it inside moto's `mock_aws()`. Agents run when told (`run_agents`, a timer tick on every live node) or on
their own timers in background threads (`start_timers`).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import psycopg

from components.selfhosted.credentials_agent.agent import KEYS, Agent, AgentConfig
from components.selfhosted.rotation_function import handler as rotation
from scripts.servers.ports import LOOPBACK

from ..secrets_rotation import begin_rotation
from .patroni import PatroniDrillCluster
from .postgres import PG_BIN_DIR

REGION = "us-east-1"
ADMIN = "cryb_admin"
USERS = {"superuser": "postgres", "replication": "replicator", "rewind": "rewind", "restapi": "patroni", "admin": ADMIN}
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
FUNCTION_NAME = "cryb-test-analytics-rotation"


@dataclass
class RotationRig:
    cluster: PatroniDrillCluster
    secrets: Any
    arns: dict[str, str]
    agents: list[Agent] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def create(cls, cluster: PatroniDrillCluster, secrets: Any) -> RotationRig:
        """Secrets holding the started cluster's passwords (tagged as the component tags them), the admin role,
        and an agent per node configured as cloud-init configures it, with loopback paths and ports."""
        arns = {
            key: secrets.create_secret(
                Name=f"cryb-db/cryb-test-analytics/{key}",
                SecretString=json.dumps({"username": USERS[key], "password": cluster.passwords[key]}),
                Tags=[{"Key": "secret-purpose", "Value": key}],
            )["ARN"]
            for key in KEYS
        }
        leader = cluster.leader()
        assert leader is not None
        with psycopg.connect(cluster.superuser_dsn(leader), autocommit=True) as conn:
            conn.execute(f"create role {ADMIN} login password '{cluster.passwords['admin']}'")
        rig = cls(cluster, secrets, arns)
        for node in cluster.nodes:
            assert node.patroni is not None
            config = AgentConfig(
                region=REGION,
                node=node.name,
                nodes=[n.name for n in cluster.nodes],
                secrets=arns,
                patroni_secrets_file=str(node.config_dir / "secrets.yml"),
                env_file=str(node.workdir / "patroni.env"),
                file_group="postgres",
                reload_command=["kill", "-HUP", str(node.patroni.pid)],
                restapi_url=f"http://{LOOPBACK}:{node.endpoint.restapi_port}",
                host=LOOPBACK,
                port=node.endpoint.pg_port,
                socket_dir=node.inputs.socket_dir,
                database="postgres",
                psql=str(PG_BIN_DIR / "psql"),
            )
            rig.agents.append(Agent(config, secrets))
        return rig

    def run_agents(self, _seconds: float = 0.0) -> list[dict[str, Any]]:
        """One timer tick on every live node."""
        return [agent.run() for agent, node in zip(self.agents, self.cluster.nodes, strict=True) if not node.killed]

    def start_timers(self, interval: float) -> None:
        """Every node's agent on its own timer (as systemd runs them: not aligned with each other)."""

        def tick(agent: Agent, offset: float) -> None:
            self._stop.wait(offset)
            while not self._stop.is_set():
                agent.run()
                self._stop.wait(interval)

        for index, agent in enumerate(self.agents):
            thread = threading.Thread(target=tick, args=(agent, interval * index / len(self.agents)), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop_timers(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def rotate(self, key: str, *, ticks_while_waiting: bool = True) -> str:
        """The four steps as Secrets Manager runs them. With `ticks_while_waiting`, each of the function's waits is a
        tick of every agent instead of a sleep; otherwise the function really sleeps (agents on timers)."""
        token = begin_rotation(self.arns[key], REGION, FUNCTION_NAME)
        nodes = [n.name for n in self.cluster.nodes]
        for step in STEPS:
            event = {"SecretId": self.arns[key], "ClientRequestToken": token, "Step": step}
            if ticks_while_waiting:
                rotation.rotate(event, self.secrets, nodes, sleep=self.run_agents)
            else:
                rotation.rotate(event, self.secrets, nodes)
        if ticks_while_waiting:
            self.run_agents()  # the tick after finishSecret: nothing is pending any more
        return token

    def password(self, key: str, stage: str = "AWSCURRENT") -> str:
        value = self.secrets.get_secret_value(SecretId=self.arns[key], VersionStage=stage)
        return json.loads(value["SecretString"])["password"]
