"""`python -m scripts dr-drill`: restore every PostgreSQL shard to a point in time into a scratch instance, verify it,
measure RTO and RPO, delete the scratch instance whatever happens, and write a Markdown + JSON report
(docs/backups.md, docs/disaster-recovery.md).

`python -m scripts dr-drill --outputs FILE [--shard ID] [--target TIME]`, FILE being `pulumi stack output --json`.

Per shard: (1) RPO = now - the instance's latest restorable time; (2) on the primary, commit a marker row with
canary rows, then a stream of "tick" rows around the target time; (3) wait until the target is restorable;
(4) `RestoreDBInstanceToPointInTime` into a scratch instance in the shard's data subnets and security groups;
(5) verify over psycopg: the marker and the canary checksum, every tick committed before the target present and
none started after it; RTO = restore request -> verified; (6) delete the scratch instance (no final snapshot).

Patroni clusters (`selfhosted.clusters[]`, shards with topology `patroni`) take the same steps and report with
pgBackRest: RPO from `pg_stat_archiver`, restore into a scratch node on the drill host (`patroni_drill`,
`scratch_node`).

Modules: `planning` (shards and Patroni targets from the outputs, target, scratch names, settings), `connector`
(endpoints and the Secrets Manager connector), `verification` (the database side), `rds_restore` (the AWS side),
`drill` (one shard, then the run), `report` (results, Markdown/JSON/table) and `command` (the Typer app
`__main__.py` loads lazily); `dr promote-region`: `promotion_plan`, `promotion` (RDS), `cluster_promotion` (the
Patroni standby clusters, over Patroni's REST API: `PATCH /config` removes `standby_cluster`), `promote_command`.

AWS calls go through an injected boto3 RDS client and database connections through an injected connector, so the
tests run the same code against moto and local PostgreSQL servers. May import: `scripts` (PROJECT_DIR),
`scripts.reports`, `components.selfhosted.pgbackrest_config` (the repository config the nodes render), boto3 and
psycopg (lazily, in `command` and `connector`). Imported by: `__main__.py` only.
"""
