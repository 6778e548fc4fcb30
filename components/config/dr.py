"""`cryb-db:dr`: the warm standby in the DR region (`cryb-db:backups.drRegion`): its network, one cross-Region
read replica per RDS shard and the replica-lag alarms, and optionally the cache's ElastiCache Global Datastore
secondary (docs/disaster-recovery.md#the-warm-standby).

The rules that need other sections (the primary CIDR, the DR region, the shard topology and engine, the
environment) live in `dr_problems`, which the stack's cross-section rules call; all run before any resource.
"""

import ipaddress

from pydantic import Field, ValidationError, field_validator

from components.cache.global_datastore import node_type_problem, region_problem

from .base import Section
from .network import NetworkConfig

KEY = "cryb-db:dr"
# A cross-Region replica of a busy shard lags by seconds; a minute of lag means the RPO of a region loss is a minute.
DEFAULT_LAG_ALARM_SECONDS = 60


class DrConfig(Section):
    """The warm standby in `backups.drRegion`: the same network layout as the primary, a cross-Region read replica
    per RDS shard (topology `instance`), lag alarms to topics in the DR region."""

    standby: bool | None = Field(
        default=None,
        description="Declare the warm standby in `backups.drRegion`. Unset: on in prod (where it is required), off "
        "elsewhere. Needs `backups.drRegion`; RDS shards need topology `instance` (a Multi-AZ DB cluster cannot "
        "have a cross-Region replica).",
    )
    cidr: str = Field(
        default="10.21.0.0/16",
        description="IPv4 CIDR of the DR-region VPC: private, /16 to /20, and not overlapping `network.cidr` (so "
        "the two VPCs can be peered and the return path can stream back).",
    )
    lag_alarm_seconds: int = Field(
        default=DEFAULT_LAG_ALARM_SECONDS,
        ge=5,
        le=3600,
        description="Replica lag (seconds, 5-3600) above which a standby's lag alarm fires: the RPO a region loss "
        "would cost right now.",
    )

    cache_global_datastore: bool = Field(
        default=False,
        description="Replicate the ElastiCache cache to the DR region with a Global Datastore (a secondary "
        "replication group there, promoted by `dr promote-region`'s runbook). Needs the standby, `cache.engine: "
        "elasticache` and a node type Global Datastore supports (families m5, m6g, m7g, r5, r6g, r6gd, r7g, c7gn, "
        "size large and above) in a region that offers it. Off: the DR region starts with an empty cache.",
    )

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        # The same rules as the primary VPC's (private, /16-/20), with the same messages.
        try:
            return NetworkConfig.model_validate({"cidr": value}).cidr
        except ValidationError as exc:
            raise ValueError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None

    def enabled_for(self, environment: str) -> bool:
        return self.standby if self.standby is not None else environment == "prod"


def dr_problems(
    dr: DrConfig,
    *,
    environment: str,
    dr_region: str | None,
    primary_cidr: str,
    engine: str,
    topology: str,
    cache_engine: str = "elasticache",
    cache_node_type: str = "cache.r7g.large",
) -> list[str]:
    """One line per broken rule, each naming its key (empty: the standby can be declared as configured)."""
    problems: list[str] = []
    if environment == "prod" and dr.standby is False:
        problems.append(f"{KEY}.standby = False: must be true (or unset) in prod: a region loss needs a warm standby")
    if dr.cache_global_datastore:
        problems += _global_datastore_problems(dr, environment, dr_region, cache_engine, cache_node_type)
    if not dr.enabled_for(environment):
        return problems
    if dr_region is None and dr.standby is not None:  # prod without it: `backups.drRegion: required in prod`
        problems.append(f"{KEY}.standby = True: needs cryb-db:backups.drRegion (the region of the standby)")
    if ipaddress.IPv4Network(dr.cidr).overlaps(ipaddress.IPv4Network(primary_cidr)):
        problems.append(
            f"{KEY}.cidr = {dr.cidr!r}: overlaps cryb-db:network.cidr ({primary_cidr!r}); choose a private range "
            "that does not, e.g. 10.21.0.0/16"
        )
    if engine == "rds" and topology == "cluster":
        problems.append(
            f"{KEY}.standby = {'True' if dr.standby else 'unset (on in prod)'} with cryb-db:postgres.topology = "
            "'cluster': RDS cannot replicate a Multi-AZ DB "
            "cluster to another region (no cross-Region read replica, no cross-Region automated backups); use "
            "topology 'instance', or set dr.standby: false and rely on backups.drRegion"
        )
    return problems


def _global_datastore_problems(
    dr: DrConfig, environment: str, dr_region: str | None, cache_engine: str, cache_node_type: str
) -> list[str]:
    key = f"{KEY}.cacheGlobalDatastore = True"
    if not dr.enabled_for(environment) or dr_region is None:
        return [
            f"{key}: needs the warm standby ({KEY}.standby with cryb-db:backups.drRegion): its secondary lives there"
        ]
    if cache_engine != "elasticache":
        return [
            f"{key} with cryb-db:cache.engine = {cache_engine!r}: Global Datastore is an ElastiCache feature; the "
            "self-hosted cache is rebuilt empty in the DR region (docs/disaster-recovery.md): use cache.engine "
            "elasticache or set dr.cacheGlobalDatastore: false"
        ]
    problems = []
    if (why := node_type_problem(cache_node_type)) is not None:
        problems.append(f"{key} with cryb-db:cache.nodeType = {cache_node_type!r}: {why}")
    if (why := region_problem(dr_region)) is not None:
        problems.append(f"{key} with cryb-db:backups.drRegion = {dr_region!r}: {why}")
    return problems
