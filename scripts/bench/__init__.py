"""`python -m scripts bench <name>`: benchmarks that print figures against their targets and write a Markdown table
under reports/ (docs/benchmarks.md). Targets live here, not in tests.

Modules: `command` (the group `__main__.py` loads lazily, listing every benchmark), one module per benchmark
(`preview_wall_time`, `cache_failover`, `patroni_failover`, `pitr`, `patroni_rotation`, `region_failover`) and
`local_redis_cluster` (the self-hosted cache cluster on loopback that `cache_failover` and
tests/real/test_redis_cluster.py start).

May import: `scripts` (PROJECT_DIR), `scripts.reports`, `scripts.preview.stack_files`, components/ (the rendered
configs they start), tests/servers (the loopback servers, imported lazily by the Patroni and pgBackRest
benchmarks), redis, psycopg, moto. Imported by: `__main__.py` and the tests.
"""
