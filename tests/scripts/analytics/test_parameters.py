"""The parameters the SQL reads (scripts/analytics/parameters.py): every problem named at once."""

import re

import pytest

from scripts.analytics.errors import MigrationError
from scripts.analytics.parameters import Parameters


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (Parameters(retention_days=0), "retention_days: 0 is not allowed (allowed: an integer from 1 to 3650)"),
        (Parameters(premake_days=91), "premake_days: 91 is not allowed (allowed: an integer from 1 to 90)"),
        (
            Parameters(retention_days=7, compress_after_days=7),
            "compress_after_days: 7 is not allowed (allowed: less than retention_days, 7;",
        ),
        (Parameters(cron_schedule="*/30 * * * * *"), "cron_schedule: '*/30 * * * * *' is not allowed (allowed: five"),
        (Parameters(cron_schedule="30 seconds"), "cron_schedule: '30 seconds' is not allowed"),
        (Parameters(cron_schedule="5 * * * *; drop"), "cron_schedule: '5 * * * *; drop' is not allowed"),
    ],
)
def test_bad_parameters_name_the_field_the_value_and_what_is_allowed(params: Parameters, message: str) -> None:
    with pytest.raises(MigrationError, match=re.escape(message)):
        params.validate()


def test_every_bad_parameter_is_reported_at_once() -> None:
    with pytest.raises(MigrationError) as caught:
        Parameters(retention_days=0, premake_days=0, cron_schedule="x").validate()
    assert [p in str(caught.value) for p in ("retention_days: 0", "premake_days: 0", "cron_schedule: 'x'")] == [
        True,
        True,
        True,
    ]


@pytest.mark.parametrize("schedule", ["5 * * * *", "*/15 * * * *", "0 3 * * 1-5", "0,30 1-6/2 * * *"])
def test_ordinary_cron_schedules_are_accepted(schedule: str) -> None:
    Parameters(cron_schedule=schedule).validate()  # raises MigrationError when refused
    assert Parameters(cron_schedule=schedule).settings(use_cron=True)["cron_schedule"] == schedule
    # the same schedule with a seconds field (six fields) is refused: the check above ran on it
    with pytest.raises(MigrationError, match=re.escape(f"cron_schedule: '0 {schedule}' is not allowed")):
        Parameters(cron_schedule=f"0 {schedule}").validate()
