"""`python -m scripts bench preview --sweep`: the offline preview's wall time and peak memory against resource count.

Each point is the prod stack file with a few keys changed (shards, read replicas, engines), written to a temporary
file and previewed in a fresh process (`python -m scripts preview --stack prod --config FILE --json`, as users run
it, imports included). A config the model refuses is reported with its message, not run. Targets: the largest
point previews in <= 3 s, and each extra resource costs < 3 ms (the least-squares slope over the points).

Each run also records the child's CPU time (user + system, from `os.wait4`) and the 1-minute load average when it
started: on a machine shared with other work, wall time measures the neighbours too, CPU time much less so.
"""

import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic.alias_generators import to_camel
from rich.console import Console

from components.config import ConfigError, parse_stack_config
from components.config.postgres import RDS_ONLY_FIELDS
from scripts import PROJECT_DIR
from scripts.preview.stack_files import read_stack_file, stack_file_path
from scripts.reports.tables import markdown_table, rich_table

from .preview_floor import Floor, measure_floor

SHARD_COUNTS = (1, 4, 8, 16)
READ_REPLICAS = (1, 5)
TARGET_SECONDS = 3.0
TARGET_MS_PER_RESOURCE = 3.0
POSTGRES = "cryb-db:postgres"
CACHE = "cryb-db:cache"


@dataclass(frozen=True)
class SweepPoint:
    """One stack variant: prod with these keys changed."""

    shards: int
    replicas: int | None  # None: engine ec2 (no read replicas)
    postgres_engine: str = "rds"
    cache_engine: str = "elasticache"

    @property
    def label(self) -> str:
        parts = [f"{self.shards} shard{'s' if self.shards != 1 else ''}"]
        if self.replicas is not None:
            parts.append(f"{self.replicas} replica{'s' if self.replicas != 1 else ''}")
        if self.postgres_engine != "rds":
            parts.append(f"postgres {self.postgres_engine}")
        if self.cache_engine != "elasticache":
            parts.append(f"cache {self.cache_engine}")
        return ", ".join(parts)


@dataclass
class PointResult:
    label: str
    point: SweepPoint
    refused: str | None = None  # the config's message when it refuses the point
    resources: int | None = None
    seconds: list[float] = field(default_factory=list)
    peak_rss_mib: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    """The child's user + system CPU time per run."""
    load_averages: list[float] = field(default_factory=list)
    """The 1-minute load average when each run started."""

    @property
    def min_s(self) -> float:
        return min(self.seconds)

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def peak_mib(self) -> float:
        return max(self.peak_rss_mib)

    @property
    def median_cpu_s(self) -> float:
        return statistics.median(self.cpu_seconds)

    @property
    def load_range(self) -> str:
        low, high = min(self.load_averages), max(self.load_averages)
        return f"{low:.1f}" if round(low, 1) == round(high, 1) else f"{low:.1f}-{high:.1f}"


def point_config(base: dict[str, Any], point: SweepPoint) -> dict[str, Any]:
    """The stack document of `point`: `base` (a parsed Pulumi.<stack>.yaml) with its keys changed."""
    document = copy.deepcopy(base)
    config = document.setdefault("config", {})
    postgres = dict(config.get(POSTGRES) or {})
    postgres["shardCount"] = point.shards
    if point.postgres_engine == "ec2":
        for name in RDS_ONLY_FIELDS:  # engine ec2 refuses the RDS-only keys the prod file sets
            postgres.pop(to_camel(name), None)
        postgres["engine"] = "ec2"
    else:
        postgres["readReplicas"] = point.replicas
    config[POSTGRES] = postgres
    if point.cache_engine != "elasticache":
        config[CACHE] = {**(config.get(CACHE) or {}), "engine": point.cache_engine}
    return document


def refusal(path: Path) -> str | None:
    """The config model's message if it refuses the stack file at `path` (what `preview` would exit 2 with)."""
    try:
        parse_stack_config(read_stack_file(path).config)
    except ConfigError as exc:
        return "; ".join(exc.problems)
    return None


def sweep_points(base: dict[str, Any], workdir: Path) -> list[tuple[SweepPoint, Path, str | None]]:
    """Every point with its config file (written under `workdir`) and the config's refusal, if any.

    RDS shards x read replicas (the program places their windows: every allowed shape previews), then the self-hosted
    engines at prod's shard count. A point the config refuses is reported with its message and not run."""
    prod_shards = int((base.get("config", {}).get(POSTGRES) or {}).get("shardCount", 4))
    candidates: list[SweepPoint] = []
    for shards in SHARD_COUNTS:
        for replicas in READ_REPLICAS:
            candidates.append(SweepPoint(shards, replicas))
    candidates += [
        SweepPoint(prod_shards, None, postgres_engine="ec2"),
        SweepPoint(prod_shards, 1, cache_engine="ec2"),
        SweepPoint(prod_shards, None, postgres_engine="ec2", cache_engine="ec2"),
    ]
    points: list[tuple[SweepPoint, Path, str | None]] = []

    def add(point: SweepPoint) -> str | None:
        path = workdir / f"point-{len(points):02d}.yaml"
        path.write_text(yaml.safe_dump(point_config(base, point), sort_keys=False))
        refused = refusal(path)
        points.append((point, path, refused))
        return refused

    for point in candidates:
        add(point)
    return points


@dataclass(frozen=True)
class PreviewRun:
    """One cold `preview --json` process."""

    seconds: float
    """Wall time."""
    cpu_seconds: float
    """The child's user + system CPU time."""
    peak_mib: float
    """The child's peak RSS."""
    resources: int | None
    """Resources in its document; None when it failed."""
    code: int
    stderr: str
    load_average: float
    """The 1-minute load average when it started."""


def run_preview(config_file: Path, stack: str = "prod") -> PreviewRun:
    """One cold `python -m scripts preview --json` of `config_file`, measured."""
    command = [sys.executable, "-m", "scripts", "preview", "--stack", stack, "--config", str(config_file), "--json"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        load_average = os.getloadavg()[0]
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=PROJECT_DIR, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage (ru_maxrss in KiB on Linux)
        elapsed = time.perf_counter() - started
        process.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    resources = len(json.loads(stdout)["resources"]) if code in (0, 3) else None
    cpu = usage.ru_utime + usage.ru_stime
    return PreviewRun(elapsed, cpu, usage.ru_maxrss / 1024, resources, code, stderr, load_average)


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys against xs (0.0 with fewer than two distinct xs)."""
    if len(set(xs)) < 2:
        return 0.0
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    numerator = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return numerator / sum((x - mean_x) ** 2 for x in xs)


def _measured(results: list[PointResult]) -> list[PointResult]:
    return sorted((r for r in results if r.resources is not None and r.seconds), key=lambda r: r.resources or 0)


def summary(results: list[PointResult]) -> dict[str, Any]:
    measured = _measured(results)
    xs = [float(r.resources or 0) for r in measured]
    largest = measured[-1] if measured else None
    ms_per_resource = slope(xs, [r.median_s * 1000 for r in measured])
    cpu_ms_per_resource = slope(xs, [r.median_cpu_s * 1000 for r in measured if r.cpu_seconds])
    return {
        "ms_per_resource": round(ms_per_resource, 3),
        "ms_per_resource_of_minimums": round(slope(xs, [r.min_s * 1000 for r in measured]), 3),
        "mib_per_resource": round(slope(xs, [r.peak_mib for r in measured]), 4),
        "largest": largest.label if largest else None,
        "largest_resources": largest.resources if largest else None,
        "largest_median_s": round(largest.median_s, 3) if largest else None,
        "cpu_ms_per_resource": round(cpu_ms_per_resource, 3),
        "largest_median_cpu_s": round(largest.median_cpu_s, 3) if largest and largest.cpu_seconds else None,
        "target_s": TARGET_SECONDS,
        "target_ms_per_resource": TARGET_MS_PER_RESOURCE,
        "largest_meets_target": bool(largest and largest.median_s <= TARGET_SECONDS),
        "slope_meets_target": ms_per_resource < TARGET_MS_PER_RESOURCE,
    }


def table_rows(results: list[PointResult], full_messages: bool = True) -> list[list[str]]:
    """One row per point; a refused point says `config refuses: <message>` (or only `config refuses`, the
    message printed under the terminal table)."""
    rows = []
    for r in results:
        if r.refused:
            refused = f"config refuses: {r.refused}" if full_messages else "config refuses"
            rows.append([r.label, "-", "-", "-", "-", "-", "-", refused])
        elif r.resources is None:
            rows.append([r.label, "-", "-", "-", "-", "-", "-", "preview failed"])
        else:
            met = "yes" if r.median_s <= TARGET_SECONDS else "NO"
            cpu = f"{r.median_cpu_s:.2f}" if r.cpu_seconds else "-"
            load = r.load_range if r.load_averages else "-"
            rows.append(
                [r.label, str(r.resources), f"{r.min_s:.2f}", f"{r.median_s:.2f}", cpu, load, f"{r.peak_mib:.0f}", met]
            )
    return rows


HEADERS = [
    "point",
    "resources",
    "min s",
    "median s",
    "median CPU s",
    "load avg",
    "peak RSS MiB",
    f"<= {TARGET_SECONDS:.0f} s",
]


def write_chart(results: list[PointResult], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = _measured(results)
    xs = [r.resources or 0 for r in measured]
    medians = [r.median_s for r in measured]
    figure, time_axis = plt.subplots(figsize=(8, 4.5))
    # Points, not a line through them: on a busy machine neighbouring points differ by more than their sizes do.
    time_axis.errorbar(
        xs,
        medians,
        yerr=[[m - r.min_s for m, r in zip(medians, measured, strict=True)], [0.0] * len(xs)],
        fmt="o",
        color="tab:blue",
        label="median wall time (s), bar down to min",
    )
    ms_per_resource = slope([float(x) for x in xs], medians) * 1000
    if xs:
        intercept = statistics.fmean(medians) - ms_per_resource / 1000 * statistics.fmean(xs)
        ends = [min(xs), max(xs)]
        fit = [intercept + ms_per_resource / 1000 * x for x in ends]
        time_axis.plot(ends, fit, "-", color="tab:blue", alpha=0.5, label=f"fit: {ms_per_resource:.2f} ms/resource")
    if all(r.cpu_seconds for r in measured):
        time_axis.plot(xs, [r.median_cpu_s for r in measured], "^", color="tab:green", label="median CPU time (s)")
    time_axis.axhline(TARGET_SECONDS, color="tab:blue", linestyle=":", label=f"target {TARGET_SECONDS:.0f} s")
    time_axis.set_xlabel("resources")
    time_axis.set_ylabel("wall / CPU time (s)", color="tab:blue")
    memory_axis = time_axis.twinx()
    memory_axis.plot(xs, [r.peak_mib for r in measured], "s", color="tab:red", label="peak RSS (MiB)")
    memory_axis.set_ylabel("peak RSS (MiB)", color="tab:red")
    lines = time_axis.get_legend_handles_labels()[0] + memory_axis.get_legend_handles_labels()[0]
    labels = time_axis.get_legend_handles_labels()[1] + memory_axis.get_legend_handles_labels()[1]
    time_axis.legend(lines, labels, loc="upper left")
    time_axis.set_title("Offline preview (cold process) against stack size")
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)


def floor_sentence(floor: Floor, largest_resources: int) -> str:
    """What the SDK floor means for the largest point, in one sentence."""
    text = (
        f"SDK floor: {floor.ms_per_resource:.2f} ms of CPU per resource ({floor.large.resources} metric alarms through "
        "the same mock engine, nothing else: no components, no policies, imports excluded)"
    )
    if not largest_resources:
        return text + "."
    least = floor.cpu_s_for(largest_resources)
    verdict = "above" if least > TARGET_SECONDS else "within"
    return (
        f"{text}: the largest point ({largest_resources} resources) needs at least {least:.2f} s of CPU in the SDK "
        f"alone on this machine, {verdict} the {TARGET_SECONDS:.0f} s target."
    )


def run_sweep(runs: int, reports: Path, stack: str = "prod") -> list[PointResult]:
    """Measure every point `runs` times, print the table and write reports/bench-preview-sweep.{md,json,png}."""
    from rich.progress import track

    base = yaml.safe_load(stack_file_path(stack).read_text()) or {}
    results: list[PointResult] = []
    with tempfile.TemporaryDirectory(prefix="preview-sweep-") as workdir:
        points = sweep_points(base, Path(workdir))
        for point, path, refused in track(points, description="preview sweep"):
            result = PointResult(point.label, point, refused)
            results.append(result)
            if refused:
                continue
            for _ in range(runs):
                run = run_preview(path, stack)
                if run.resources is None:
                    stderr = run.stderr
                    result.refused = stderr.strip().splitlines()[-1] if run.code == 2 and stderr.strip() else None
                    Console(stderr=True).print(f"[red]{point.label}: exit {run.code}[/]\n{stderr}", highlight=False)
                    break
                result.resources = run.resources
                result.seconds.append(run.seconds)
                result.peak_rss_mib.append(run.peak_mib)
                result.cpu_seconds.append(run.cpu_seconds)
                result.load_averages.append(run.load_average)
    totals = summary(results)
    rows = table_rows(results)
    console = Console()
    console.print(
        rich_table(f"Offline preview at scale ({runs} cold runs per point)", HEADERS, table_rows(results, False))
    )
    for r in results:
        if r.refused:
            console.print(f"{r.label}: config refuses: {r.refused}", highlight=False)
    console.print(
        f"cost per extra resource: {totals['ms_per_resource']:.2f} ms over the medians, "
        f"{totals['ms_per_resource_of_minimums']:.2f} ms over the minimums (target < {TARGET_MS_PER_RESOURCE:.0f} ms), "
        f"{totals['cpu_ms_per_resource']:.2f} ms of CPU over the CPU medians, "
        f"{totals['mib_per_resource'] * 1024:.0f} KiB of peak RSS; largest: {totals['largest']} "
        f"({totals['largest_resources']} resources) median {totals['largest_median_s']} s wall, "
        f"{totals['largest_median_cpu_s']} s CPU (target <= {TARGET_SECONDS:.0f} s)"
    )
    floor = measure_floor()
    largest_resources = int(totals["largest_resources"] or 0)
    floor_line = floor_sentence(floor, largest_resources)
    console.print(floor_line, highlight=False)
    totals["sdk_floor_ms_per_resource"] = round(floor.ms_per_resource, 3)
    totals["sdk_floor_cpu_s_at_largest"] = round(floor.cpu_s_for(largest_resources), 3) if largest_resources else None
    reports.mkdir(exist_ok=True)
    machine = f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end"
    (reports / "bench-preview-sweep.md").write_text(
        "# Offline preview at scale\n\n"
        + f"{runs} cold runs per point on {machine}.\n\n"
        + markdown_table(HEADERS, rows)
        + f"\nCost per extra resource (least squares): {totals['ms_per_resource']:.2f} ms over the medians, "
        + f"{totals['ms_per_resource_of_minimums']:.2f} ms over the minimums, "
        + f"{totals['cpu_ms_per_resource']:.2f} ms of CPU over the CPU medians.\n\n"
        + floor_line
        + "\n"
    )
    document = {
        "machine": machine,
        "runs": runs,
        "summary": totals,
        "points": [
            {
                **asdict(r),
                "median_s": r.median_s if r.seconds else None,
                "median_cpu_s": r.median_cpu_s if r.cpu_seconds else None,
                "peak_mib": r.peak_mib if r.seconds else None,
            }
            for r in results
        ],
    }
    (reports / "bench-preview-sweep.json").write_text(json.dumps(document, indent=2) + "\n")
    write_chart(results, reports / "bench-preview-sweep.png")
    Console(stderr=True).print(f"[dim]wrote {reports}/bench-preview-sweep.md, .json and .png[/]")
    return results
