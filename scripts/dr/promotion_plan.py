"""What `dr promote-region` works on, read from the stack outputs, and what it writes back (pure: no AWS, no SQL).

Each shard's standby comes from the `dr` outputs section (docs/outputs.md); the journal records every finished
step per shard so a second run resumes where the first stopped; the new outputs point every shard at its promoted
standby, in the DR region, with a new shard-map version so routers that cache routing re-read it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .planning import OutputsError

# In order; every step is done per shard and journaled, except `outputs`, done once at the end.
STEPS = ("preflight", "fence", "catch-up", "promote", "multi-az", "verify-writes", "outputs")


@dataclass(frozen=True)
class StandbyTarget:
    """One shard and its standby in the DR region."""

    shard: int
    source_identifier: str
    source_region: str
    source_secret_arn: str
    source_endpoint: str
    standby_identifier: str
    standby_region: str
    standby_endpoint: str
    port: int
    database: str
    lag_alarm_name: str
    unhealthy_alarm_name: str


def targets_from_outputs(document: Any) -> list[StandbyTarget]:
    """Every shard with its standby; OutputsError naming the missing field when the outputs have no standby."""
    if not isinstance(document, dict):
        raise OutputsError("the outputs file is not a JSON object (expected `pulumi stack output --json`)")
    dr = document.get("dr")
    if not isinstance(dr, dict):
        raise OutputsError("outputs.dr is missing or null: this stack has no warm standby (cryb-db:dr.standby)")
    shards = document.get("postgres", {}).get("shards")
    if not isinstance(shards, list) or not shards:
        raise OutputsError("outputs.postgres.shards is missing or empty")
    standbys = {entry.get("id"): entry for entry in dr.get("shards", []) if isinstance(entry, dict)}
    targets = []
    for shard in shards:
        standby = standbys.get(shard.get("id"))
        if standby is None:
            raise OutputsError(f"outputs.dr.shards has no standby for shard {shard.get('id')} ({shard.get('name')})")
        try:
            targets.append(
                StandbyTarget(
                    shard=int(shard["id"]),
                    source_identifier=str(standby["source"]),
                    source_region=str(shard["region"]),
                    source_secret_arn=str(shard["secretArn"]),
                    source_endpoint=str(shard["writerEndpoint"]),
                    standby_identifier=str(standby["standbyIdentifier"]),
                    standby_region=str(standby["region"]),
                    standby_endpoint=str(standby["standbyEndpoint"]),
                    port=int(standby["port"]),
                    database=str(shard["databaseName"]),
                    lag_alarm_name=str(standby["lagAlarmName"]),
                    unhealthy_alarm_name=str(standby["unhealthyAlarmName"]),
                )
            )
        except KeyError as exc:
            raise OutputsError(f"outputs: shard {shard.get('id')} lacks {exc.args[0]!r}") from None
        if targets[-1].standby_region == targets[-1].source_region:
            raise OutputsError(
                f"outputs.dr.shards[{shard['id']}].region = {standby['region']!r}: the same region as the shard"
            )
    return targets


@dataclass
class Journal:
    """Finished steps per shard (and their facts: lag, times), saved after each step: the run is resumable."""

    path: Path
    run_id: str = ""
    done: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """step -> shard id (as text; `all` for the global steps) -> what the step recorded."""

    @classmethod
    def load(cls, path: Path) -> Journal:
        if not path.exists():
            return cls(path, run_id=datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
        data = json.loads(path.read_text())
        return cls(path, run_id=data["runId"], done=data["done"])

    def finished(self, step: str, shard: int | str) -> dict[str, Any] | None:
        return self.done.get(step, {}).get(str(shard))

    def record(self, step: str, shard: int | str, **facts: Any) -> None:
        self.done.setdefault(step, {})[str(shard)] = {"at": datetime.now(UTC).isoformat(), **facts}
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"runId": self.run_id, "done": self.done}, indent=2, default=str) + "\n")
        temporary.replace(self.path)  # never a half-written journal


def promoted_outputs(document: dict[str, Any], targets: list[StandbyTarget], promoted_at: str) -> dict[str, Any]:
    """The outputs after the promotion: each shard's writer is its promoted standby in the DR region (no proxy and
    no read replicas there yet), `promotedFrom` names the lost region, and the shard-map version changes."""
    new = json.loads(json.dumps(document))
    by_shard = {t.shard: t for t in targets}
    routing = new["postgres"]["shardMap"]
    version = hashlib.sha256(f"{routing['version']}:promoted:{promoted_at}".encode()).hexdigest()[:16]
    routing["version"] = version
    for shard in new["postgres"]["shards"]:
        target = by_shard[shard["id"]]
        shard.update(
            {
                "writerEndpoint": target.standby_endpoint,
                "readerEndpoints": [],
                "proxyEndpoint": target.standby_endpoint,
                "proxyPort": target.port,
                "port": target.port,
                "region": target.standby_region,
                "shardMapVersion": version,
                "promotedFrom": {"region": target.source_region, "identifier": target.source_identifier},
            }
        )
        shard["name"] = target.standby_identifier
    new["region"] = targets[0].standby_region
    return new


def summary_rows(targets: list[StandbyTarget], journal: Journal) -> list[dict[str, Any]]:
    """One row per shard for the report: lag at preflight (the RPO estimate), fencing, promotion and write times."""
    rows = []
    for target in targets:
        preflight = journal.finished("preflight", target.shard) or {}
        fence = journal.finished("fence", target.shard) or {}
        catch_up = journal.finished("catch-up", target.shard) or {}
        promote = journal.finished("promote", target.shard) or {}
        verify = journal.finished("verify-writes", target.shard) or {}
        rows.append(
            {
                "shard": target.shard,
                "standby": target.standby_identifier,
                "region": target.standby_region,
                "lag_s": preflight.get("lag_seconds"),
                "fence": fence.get("result", "-"),
                "caught_up": catch_up.get("result", "-"),
                "promote_s": promote.get("seconds"),
                "first_write_s": verify.get("seconds_after_promote_start"),
            }
        )
    return rows
