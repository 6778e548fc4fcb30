"""`python -m scripts bench <name>`: the group of benchmarks that print figures (targets live here, not in tests)."""

import typer

bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks; each prints its figures and writes a Markdown table.")


def _register_benchmarks() -> None:
    """Each benchmark lives in its own module; `bench` lists them all."""
    from .cache_failover import cache_bench_app
    from .patroni_failover import failover_bench_app
    from .patroni_rotation import rotation_bench_app
    from .pitr import pitr_bench_app
    from .pooler import pooler_bench_app
    from .preview_wall_time import preview
    from .region_failover import region_bench_app
    from .shard_move import shard_move_bench_app
    from .slo import slo_bench_app

    bench_app.command("preview")(preview)  # bench preview
    bench_app.add_typer(cache_bench_app)  # bench cache-failover
    bench_app.add_typer(failover_bench_app)  # bench patroni-failover
    bench_app.add_typer(pitr_bench_app)  # bench pitr
    bench_app.add_typer(rotation_bench_app)  # bench patroni-rotation
    bench_app.add_typer(pooler_bench_app)  # bench pooler
    bench_app.add_typer(shard_move_bench_app)  # bench shard-move
    bench_app.add_typer(slo_bench_app)  # bench slo
    bench_app.add_typer(region_bench_app)  # bench region-failover


_register_benchmarks()
