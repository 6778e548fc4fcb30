"""Realistic mistakes, each one edit of one product file, and the tests that should catch it.

A mutation is the kind of slip a reviewer could miss: a setting wired to the wrong key, an off-by-one, a dropped
check, a weakened default. `python -m tests.mutation` applies each to a copy of the tree, runs its tests and reports
the ones that survive (docs/development.md#mutation-check). Add one when a bug slipped through review."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    find: str
    """Exact text, present exactly once in the file."""
    replace: str
    tests: tuple[str, ...]
    """pytest targets (files or node ids) that must fail with the mutation."""


MONITORING_TESTS = ("tests/components/monitoring",)

ALERT_RULE_TESTS = ("tests/components/kubernetes/test_alert_rules.py",)

MUTATIONS = (
    Mutation(
        "kubernetes alerts: the replica lag setting is not handed on",
        "components/config/monitoring.py",
        "replica_lag_seconds=alarms.replica_lag_seconds,",
        "replica_lag_seconds=60,",
        ALERT_RULE_TESTS,
    ),
    Mutation(
        "kubernetes alerts: the connections warning uses the critical share",
        "components/kubernetes/alert_rules.py",
        'f"{connections} > {t.connections_warning_percent}",',
        'f"{connections} > {t.connections_critical_percent}",',
        ALERT_RULE_TESTS,
    ),
    Mutation(
        "data-stores-have-alarms: another namespace's PrometheusRule covers a CloudNativePG cluster",
        "policies/rules/stack.py",
        "expressions = by_namespace.get(namespace, [])",
        "expressions = [e for found in by_namespace.values() for e in (found or [])]",
        ("tests/policies/rules/test_stack.py",),
    ),
    Mutation(
        "kubernetes alerts: the cache exporter's metrics are filtered by the PostgreSQL pods",
        "components/kubernetes/alert_rules.py",
        """pods = f'namespace="{namespace}",pod=~"{statefulset}-[0-9]+"'""",
        """pods = f'namespace="{namespace}",pod=~"{statefulset}-[1-9][0-9]*"'""",
        ALERT_RULE_TESTS,
    ),
    Mutation(
        # The sandbox drill found it (Patroni skips a method that needs a leader when a standby leader bootstraps).
        "a standby cluster's seed method needs a replication connection",
        "components/selfhosted/patroni_config.py",
        '"no_leader": True,  # it needs no replication connection',
        '"no_leader": False,  # it needs no replication connection',
        ("tests/components/selfhosted/test_patroni_config.py",),
    ),
    Mutation(
        "disabled alarm actions accepted with the standby tag alone",
        "policies/rules/cloudwatch.py",
        "all(tags.get(k) == v for k, v in ENABLED_AT_PROMOTION.items())",
        "any(tags.get(k) == v for k, v in ENABLED_AT_PROMOTION.items())",
        ("tests/policies/rules/test_cloudwatch.py",),
    ),
    Mutation(
        "cache replication-lag alarm reads the PostgreSQL setting",
        "components/monitoring/alarm_thresholds.py",
        "float(settings.cache_replication_lag_seconds)",
        "float(settings.replica_lag_seconds)",
        MONITORING_TESTS,
    ),
    Mutation(
        "warning connections use the critical share",
        "components/monitoring/alarm_thresholds.py",
        "float(limit * settings.connections_warning_percent // 100)",
        "float(limit * settings.connections_critical_percent // 100)",
        MONITORING_TESTS,
    ),
    Mutation(
        "config hands cache connections the wrong value",
        "components/config/monitoring.py",
        "cache_connections=self.cache_connections,",
        "cache_connections=10000,",
        MONITORING_TESTS,
    ),
    Mutation(
        "free-storage alarm at 20 % instead of 10 %",
        "components/monitoring/alarm_thresholds.py",
        '            float(allocated_bytes // 10),\n            5,\n            5,\n            "critical",',
        '            float(allocated_bytes // 5),\n            5,\n            5,\n            "critical",',
        MONITORING_TESTS,
    ),
    Mutation(
        "replica-lag alarm becomes a warning",
        "components/monitoring/alarm_thresholds.py",
        '                10,\n                10,\n                "critical",',
        '                10,\n                10,\n                "warning",',
        MONITORING_TESTS,
    ),
    Mutation(
        "work_mem divides by 4 sorts instead of 3",
        "components/postgres/tuning.py",
        "(mem_kib - shared_buffers_kib) // (3 * connections)",
        "(mem_kib - shared_buffers_kib) // (4 * connections)",
        ("tests/components/postgres", "tests/components/selfhosted/test_patroni_config.py"),
    ),
    Mutation(
        "shard moves merge ranges that are not adjacent",
        "components/postgres/shard_map.py",
        "if last and last.last == bucket - 1 and",
        "if last and",
        ("tests/components/postgres/test_shard_map.py",),
    ),
    Mutation(
        "a REST API rotation waits for a leader too",
        "components/selfhosted/rotation_function/handler.py",
        "return [*names, LEADER_TAG] if self.purpose in DATABASE_ROLES else names",
        "return [*names, LEADER_TAG]",
        ("tests/components/selfhosted/test_rotation_function.py",),
    ),
    Mutation(
        "testSecret on a configuration test checks acknowledgements",
        "components/rotation/acknowledged.py",
        '        LOG.info("testSecret: version %s of %s has no value: configuration test passed", token, arn)\n'
        "        return\n",
        '        LOG.info("testSecret: version %s of %s has no value: configuration test passed", token, arn)\n',
        ("tests/components/selfhosted/test_rotation_function.py",),
    ),
    Mutation(
        "testSecret no longer notices a node that fell back",
        "components/rotation/acknowledged.py",
        '    if missing:\n        raise RotationError(f"version {token} of {arn} is no longer',
        '    if False:\n        raise RotationError(f"version {token} of {arn} is no longer',
        (
            "tests/components/selfhosted/test_rotation_function.py",
            "tests/components/cache/test_node_rotation_function.py",
        ),
    ),
    Mutation(
        "a cache node switches masterauth before every node accepts the new replication password",
        "components/cache/credentials_agent/agent.py",
        "acknowledged = all(",
        "acknowledged = any(",
        ("tests/components/cache/test_credentials_agent.py",),
    ),
    Mutation(
        "pgBackRest keeps full backups for the diff retention",
        "components/selfhosted/pgbackrest_config.py",
        'f"repo1-retention-full={inputs.retention_full_days}"',
        'f"repo1-retention-full={inputs.retention_diff}"',
        ("tests/components/selfhosted",),
    ),
    Mutation(
        "pgBackRest repository without TLS verification",
        "components/selfhosted/pgbackrest_config.py",
        "f\"repo1-storage-verify-tls={'y' if repo.verify_tls else 'n'}\"",
        '"repo1-storage-verify-tls=n"',
        ("tests/components/selfhosted",),
    ),
    Mutation(
        "the DR region may equal the stack's region",
        "components/config/backups.py",
        "if backups.dr_region is not None and backups.dr_region == region:",
        "if False:",
        ("tests/components/backups/test_policies.py",),
    ),
    Mutation(
        "pg_cron schedule with a seconds field accepted",
        "scripts/analytics/parameters.py",
        "if len(fields) != 5 or",
        "if len(fields) not in (5, 6) or",
        ("tests/scripts/analytics",),
    ),
    Mutation(
        "NACL return traffic includes RDP",
        "components/network/plan.py",
        'NaclRule(201, ANYWHERE, "tcp", RDP_PORT + 1, high)',
        'NaclRule(201, ANYWHERE, "tcp", RDP_PORT, high)',
        ("tests/components/network",),
    ),
    Mutation(
        "ElastiCache accepts plaintext during migration",
        "components/cache/component.py",
        'transit_encryption_mode="required"',
        'transit_encryption_mode="preferred"',
        ("tests/components/cache",),
    ),
    Mutation(
        "Redis listens on plaintext too",
        "components/cache/redis_conf.py",
        '"port 0",',
        'f"port {inputs.port + 1}",',
        ("tests/components/cache",),
    ),
    Mutation(
        "KMS keys without rotation",
        "components/security/kms.py",
        "enable_key_rotation=True,",
        "enable_key_rotation=False,",
        ("tests/components/security", "tests/policies/test_stacks.py"),
    ),
    Mutation(
        "health reports a warning as ok",
        "scripts/health/thresholds.py",
        "return Status.CRITICAL if value > self.critical else Status.WARNING if value > self.warning else Status.OK",
        "return Status.CRITICAL if value > self.critical else Status.OK",
        ("tests/scripts/health",),
    ),
    Mutation(
        "a policy rule's message loses what to change",
        "policies/rules/rds.py",
        "set publicly_accessible=False; clients reach PostgreSQL inside the VPC.",
        "not allowed.",
        ("tests/policies/rules/test_rds.py",),
    ),
    Mutation(
        "RDS instances without deletion protection in prod",
        "components/postgres/component.py",
        '"deletion_protection": a["deletion_protection"],',
        '"deletion_protection": False,',
        ("tests/components/postgres", "tests/policies/test_stacks.py"),
    ),
    Mutation(
        "CloudNativePG clusters commit without a synchronous standby",
        "components/kubernetes/cnpg.py",
        '"synchronous": {"method": "any", "number": 1, "dataDurability": "required"}',
        '"synchronous": {"method": "any", "number": 0, "dataDurability": "required"}',
        ("tests/components/kubernetes/test_data_stores.py",),
    ),
    Mutation(
        "a Pooler sized as if it ran one pod",
        "components/kubernetes/cnpg.py",
        "max_replicas=spec.pooler_instances,",
        "max_replicas=1,",
        ("tests/components/kubernetes/test_cnpg.py", "tests/components/kubernetes/test_data_stores.py"),
    ),
    Mutation(
        "PgBouncer pools sized as if each pod ran one process per pool",
        "components/kubernetes/component.py",
        'processes_per_pod=p["processes_per_pod"],\n            other_poolers=target["other_poolers"],',
        'processes_per_pod=1,\n            other_poolers=target["other_poolers"],',
        ("tests/components/kubernetes/test_component.py",),
    ),
    Mutation(
        "the PgBouncer processes of a pool cannot share its port",
        "components/kubernetes/pgbouncer_ini.py",
        '("so_reuseport", "1"),',
        '("so_reuseport", "0"),',
        ("tests/components/kubernetes/test_pgbouncer_ini.py", "tests/components/kubernetes/test_component.py"),
    ),
    Mutation(
        "a cluster's backup role trusts the operator's service account",
        "components/kubernetes/data_stores.py",
        'iam_documents.irsa_trust(oidc, a["namespace"], c["name"])',
        'iam_documents.irsa_trust(oidc, a["namespace"], "cnpg-manager")',
        ("tests/components/kubernetes/test_data_stores.py",),
    ),
    Mutation(
        "Lambda code signing only warns",
        "components/signing/component.py",
        'policies={"untrusted_artifact_on_deployment": "Enforce"},',
        'policies={"untrusted_artifact_on_deployment": "Warn"},',
        ("tests/components/signing/test_component.py", "tests/policies/rules/test_lambda_.py"),
    ),
    Mutation(
        "Global Datastore node check: or for and",
        "components/cache/global_datastore.py",
        "if family in SUPPORTED_FAMILIES and size not in TOO_SMALL_SIZES:",
        "if family in SUPPORTED_FAMILIES or size not in TOO_SMALL_SIZES:",
        ("tests/components/cache/test_global_datastore.py", "tests/components/config/test_dr.py"),
    ),
    Mutation(
        "single-user rotation application unpinned",
        "components/postgres/role_secrets.py",
        "        semantic_version=SINGLE_USER_ROTATION_VERSION,\n",
        "",
        (
            "tests/components/postgres/test_component.py::test_every_shard_has_a_rotated_secret_per_least_privilege_role",
        ),
    ),
)
