"""The pulumi SDK's own cost per resource under the preview's mock engine: the floor no program change can go under.

A generated program registers `count` CloudWatch metric alarms (the most numerous type of the largest stack) with
inputs shaped like the program's own, and nothing else: no components, no config model, no policy pack, no JSON
document. It is evaluated by the same `evaluate` the preview uses (EchoMocks, RecordingMonitor, no stack traces) in a
fresh process with the garbage collector off, as `preview` runs. The CPU time of that evaluation divided by `count`
is what the SDK charges per resource before the program does anything; times the largest stack's resource count it
is the least CPU time that stack's preview can take on this machine (docs/benchmarks.md#the-sdk-floor).

    python -m scripts.bench.preview_floor 2500     # prints one JSON line: resources, cpu_s, ms_per_resource
"""

import gc
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from scripts import PROJECT_DIR

DEFAULT_RESOURCES = 2500

# One metric alarm per resource, with the inputs the monitoring components give theirs (components/monitoring).
_PROGRAM = """\
import pulumi_aws as aws

for i in range({count}):
    aws.cloudwatch.MetricAlarm(
        f"floor-{{i}}",
        name=f"cryb-floor-{{i}}-cpu",
        alarm_description="CPU above 80% for 15 minutes",
        comparison_operator="GreaterThanThreshold",
        evaluation_periods=3,
        datapoints_to_alarm=3,
        metric_name="CPUUtilization",
        namespace="AWS/RDS",
        period=300,
        statistic="Average",
        threshold=80,
        treat_missing_data="breaching",
        dimensions={{"DBInstanceIdentifier": f"cryb-floor-{{i}}"}},
        alarm_actions=["arn:aws:sns:us-east-1:123456789012:cryb-alarms"],
        ok_actions=["arn:aws:sns:us-east-1:123456789012:cryb-alarms"],
        tags={{"project": "cryb-db", "environment": "prod", "owner": "platform"}},
    )
"""


@dataclass(frozen=True)
class FloorRun:
    resources: int
    """Resources the mock engine recorded (the program's `count`)."""
    cpu_s: float
    """CPU time of the evaluation alone (imports of pulumi and pulumi_aws excluded)."""

    @property
    def ms_per_resource(self) -> float:
        return self.cpu_s * 1000 / self.resources


def evaluate_floor(count: int) -> FloorRun:
    """Evaluate the generated program of `count` alarms in this process and time it (CPU time)."""
    if count < 1:
        raise ValueError(f"count = {count}: must be at least 1")
    import pulumi_aws  # noqa: F401  (imported before the clock starts, as every preview has it imported)

    from scripts.preview.mock_engine import evaluate

    with tempfile.TemporaryDirectory(prefix="preview-floor-") as program_dir:
        (Path(program_dir) / "__main__.py").write_text(_PROGRAM.format(count=count))
        gc.disable()
        started = time.process_time()
        evaluation = evaluate("prod", program_dir=Path(program_dir))
        cpu = time.process_time() - started
    return FloorRun(len(evaluation.resources), cpu)


@dataclass(frozen=True)
class Floor:
    """The SDK's cost line, from two fresh processes of different sizes."""

    small: FloorRun
    large: FloorRun

    @property
    def ms_per_resource(self) -> float:
        """The slope between the two runs: what each extra resource costs, fixed costs excluded."""
        return (self.large.cpu_s - self.small.cpu_s) * 1000 / (self.large.resources - self.small.resources)

    def cpu_s_for(self, resources: int) -> float:
        """The least CPU time the SDK takes to evaluate a program of `resources` resources on this machine."""
        return self.small.cpu_s + (resources - self.small.resources) * self.ms_per_resource / 1000


def measure_floor(small: int = DEFAULT_RESOURCES // 5, large: int = DEFAULT_RESOURCES) -> Floor:
    """The floor from a run of `small` and one of `large` alarms, each in a fresh process."""
    if not 1 <= small < large:
        raise ValueError(f"small = {small}, large = {large}: need 1 <= small < large")
    return Floor(run_floor(small), run_floor(large))


def run_floor(count: int) -> FloorRun:
    """`evaluate_floor` in a fresh process (as the sweep's previews run)."""
    command = [sys.executable, "-m", "scripts.bench.preview_floor", str(count)]
    completed = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"the SDK floor run failed ({completed.returncode}): {completed.stderr.strip()[-2000:]}")
    document = json.loads(completed.stdout.strip().splitlines()[-1])
    return FloorRun(document["resources"], document["cpuS"])


def main(argv: list[str]) -> int:
    count = int(argv[0]) if argv else DEFAULT_RESOURCES
    run = evaluate_floor(count)
    print(json.dumps({"resources": run.resources, "cpuS": round(run.cpu_s, 4), "msPerResource": run.ms_per_resource}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
