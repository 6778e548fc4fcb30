"""Strategy detection (scripts/analytics/strategy.py): which strategy a server's facts allow, which one is chosen
and why, and pg_cron."""

import pytest

from scripts.analytics.errors import MigrationError
from scripts.analytics.parameters import Parameters
from scripts.analytics.strategy import Extension, Requested, ServerFacts, Strategy, choose_strategy

PG15_PARTMAN = ServerFacts(
    database="cryb",
    role="cryb_admin",
    server_version="15.8",
    can_create_extensions=True,
    available={"pg_partman": Extension("4.7.2"), "pg_cron": Extension("1.4-1")},
)


def facts(**changes: object) -> ServerFacts:
    return ServerFacts(**{**PG15_PARTMAN.__dict__, **changes})  # type: ignore[arg-type]


def test_without_timescaledb_pg_partman_is_chosen_and_the_reason_says_why() -> None:
    choice = choose_strategy(facts(), Requested.auto, Parameters())
    assert choice.strategy == Strategy.partman
    assert choice.partman_version == "4.7.2"
    assert choice.reason == (
        "TimescaleDB is not available on this server: native range partitioning by day with pg_partman 4.7.2"
    )
    assert choice.maintenance.startswith("external: pg_cron is not loaded")
    assert not choice.use_cron


def test_pg_cron_in_this_database_schedules_the_maintenance() -> None:
    loaded = facts(cron_database="cryb", preload_libraries=("pg_cron",))
    choice = choose_strategy(loaded, Requested.auto, Parameters(cron_schedule="*/10 * * * *"))
    assert (choice.use_cron, choice.maintenance) == (True, "pg_cron job cryb-analytics-maintenance (*/10 * * * *)")
    elsewhere = choose_strategy(
        facts(cron_database="postgres", preload_libraries=("pg_cron",)), Requested.auto, Parameters()
    )
    assert not elsewhere.use_cron
    assert "pg_cron runs jobs in database postgres, not cryb" in elsewhere.maintenance


def test_a_role_that_cannot_read_settings_relies_on_what_is_installed() -> None:
    """Non-superusers cannot read shared_preload_libraries or cron.database_name (PostgreSQL hides them)."""
    owner = facts(can_create_extensions=False, preload_libraries=None, cron_database=None)
    installed = {"pg_partman": Extension("4.7.2", "partman"), "pg_cron": Extension("1.4-1", "pg_catalog")}
    with_cron = choose_strategy(facts(**{**owner.__dict__, "installed": installed}), Requested.auto, Parameters())
    assert (with_cron.strategy, with_cron.use_cron) == (Strategy.partman, True)
    without = choose_strategy(owner, Requested.auto, Parameters())
    assert (without.strategy, without.use_cron) == (Strategy.native, False)
    assert "pg_cron is not installed in cryb and role cryb_admin cannot create it" in without.maintenance


def test_timescaledb_wins_when_preloaded_and_its_jobs_do_the_maintenance() -> None:
    available = {**PG15_PARTMAN.available, "timescaledb": Extension("2.17.2")}
    choice = choose_strategy(
        facts(available=available, preload_libraries=("timescaledb", "pg_cron"), cron_database="cryb"),
        Requested.auto,
        Parameters(),
    )
    assert (choice.strategy, choice.use_cron, choice.maintenance) == (
        Strategy.timescaledb,
        False,
        "TimescaleDB background jobs",
    )
    not_preloaded = choose_strategy(facts(available=available), Requested.auto, Parameters())
    assert not_preloaded.strategy == Strategy.partman
    assert not_preloaded.reason.startswith("TimescaleDB is available but not in shared_preload_libraries")


def test_a_role_that_cannot_create_pg_partman_falls_back_to_native_partitioning() -> None:
    choice = choose_strategy(facts(can_create_extensions=False), Requested.auto, Parameters())
    assert choice.strategy == Strategy.native
    assert "pg_partman is available but not installed, and role cryb_admin cannot create it" in choice.reason
    assert "SELECT analytics.run_maintenance()" in choice.maintenance


def test_pg_partman_installed_by_a_superuser_is_used_when_the_role_has_the_grants() -> None:
    installed = {"pg_partman": Extension("4.7.2", "partman")}
    granted = facts(can_create_extensions=False, installed=installed)
    assert choose_strategy(granted, Requested.auto, Parameters()).strategy == Strategy.partman
    no_grants = facts(can_create_extensions=False, installed=installed, partman_privileges=False)
    with pytest.raises(MigrationError, match="lacks USAGE on schema partman"):
        choose_strategy(no_grants, Requested.partman, Parameters())
    with pytest.raises(MigrationError, match="pg_partman is installed but cannot be used: role cryb_admin lacks"):
        choose_strategy(no_grants, Requested.auto, Parameters())
    elsewhere = facts(installed={"pg_partman": Extension("5.2.4", "public")})
    with pytest.raises(MigrationError, match="installed in schema public, the migrations need schema partman"):
        choose_strategy(elsewhere, Requested.auto, Parameters())
    assert choose_strategy(elsewhere, Requested.native, Parameters()).strategy == Strategy.native


def test_an_impossible_request_is_refused_with_the_reason() -> None:
    with pytest.raises(MigrationError, match="strategy timescaledb cannot run on this server: TimescaleDB is not"):
        choose_strategy(facts(), Requested.timescaledb, Parameters())


def test_the_recorded_strategy_is_kept_and_a_different_request_refused() -> None:
    available = {**PG15_PARTMAN.available, "timescaledb": Extension("2.17.2")}
    later = facts(available=available, preload_libraries=("timescaledb",), recorded_strategy=Strategy.partman)
    kept = choose_strategy(later, Requested.auto, Parameters())
    assert kept.strategy == Strategy.partman
    assert kept.reason.startswith("kept partman, which built the existing analytics schema: ")
    with pytest.raises(MigrationError, match="strategy: native is not allowed: the analytics schema was built with"):
        choose_strategy(later, Requested.native, Parameters())
