"""Rules that need facts the config cannot hold (the stack's region and its AZs) or that must not echo a secret:
checked by `__main__.py` right after the engine's lookups, before the first resource is registered, all at once."""

from components.cache.global_datastore import region_problem

from .backups import check_backups_for_stack
from .errors import ConfigError
from .stack import StackConfig


def region_problems(config: StackConfig, region: str, available_zones: int) -> list[str]:
    """One line per broken rule, each naming the key (an empty list: the stack can be built in `region`)."""
    problems: list[str] = []
    if available_zones < config.network.az_count:
        problems.append(
            f"cryb-db:network.azCount = {config.network.az_count}: region {region} has only {available_zones} AZs"
        )
    try:
        check_backups_for_stack(config.backups, environment=config.environment, region=region)
    except ConfigError as exc:
        problems += exc.problems
    try:
        config.postgres.backup_region(region)
    except ValueError as exc:  # e.g. `auto` with no paired region known
        problems.append(str(exc))
    # A missing (prod) or non-https pager URL, reported without echoing it (a validator error would print it).
    problems += config.monitoring.problems(config.environment)
    if config.dr.cache_global_datastore and (why := region_problem(region)) is not None:
        problems.append(f"cryb-db:dr.cacheGlobalDatastore = True in region {region}: {why}")
    return problems
