"""`python -m scripts local up|status|down|logs`: the platform on this machine, from the same rendered node artifacts
that boot on EC2 (docs/local.md)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from scripts.local.preflight import problems, stack_problem
from scripts.local.state import OUTPUTS_FILE, STATE_DIR, STATE_FILE, State, alive, read_state
from scripts.local.tuning import BUDGET_MIB, describe
from scripts.sandbox.node import PROJECT_DIR

UP_TIMEOUT = 480.0
"""A guard, not the target (60 s quiet): prod's 12 nodes took 268 s on the 2 shared cores at load average 20-34."""
DOWN_TIMEOUT = 90.0
local_app = typer.Typer(no_args_is_help=True, add_completion=False, help="The platform on this machine.")
out = Console()
err = Console(stderr=True, soft_wrap=True)  # an error stays one line, whatever the width


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(2)


def _running_state() -> State | None:
    """The state of a live platform; a state file whose supervisor is gone is stale and removed."""
    state = read_state(STATE_FILE)
    if state is None:
        return None
    if alive(state.pid):
        return state
    STATE_FILE.unlink(missing_ok=True)
    return None


def node_table(state: State) -> Table:
    table = Table(title=f"local {state.stack}: {state.phase}")
    for column in ("node", "address", "phase", "boot s", "role", "health"):
        table.add_column(column, no_wrap=True)
    for node in state.nodes:
        health = "[green]ok[/green]" if node.healthy else ("[red]down[/red]" if node.phase == "booted" else "-")
        table.add_row(
            node.name, f"{node.address}:{node.port}", node.phase,
            "" if node.boot_seconds is None else f"{node.boot_seconds:.1f}", node.role, health,
        )  # fmt: skip
    return table


def budget_lines(state: State) -> list[str]:
    """What the platform was tuned for and what it uses (the budget of scripts/local/tuning.py), and its notes (a
    self-hosted cluster's TimescaleDB fallback)."""
    lines = list(state.notes)
    if state.tuning:
        parameters = {k: v for k, v in state.tuning.items() if k != "budget"}
        lines.append(f"PostgreSQL tuned for {state.tuning.get('budget')}: {describe(parameters)}")
    if state.memory:
        lines.append(
            f"memory: {state.memory.get('rss_mib')} MiB summed RSS in {state.memory.get('processes'):.0f} processes "
            f"(peak {state.memory.get('peak_rss_mib')} MiB; budget {BUDGET_MIB} MiB)"
        )
    return lines


def environment_lines(state: State) -> list[str]:
    return [f"export {key}={value}" for key, value in state.environment.items()]


@local_app.command()
def up(
    stack: Annotated[
        str, typer.Option(help="The stack whose nodes to boot (Pulumi.<stack>.yaml); prod adds its analytics cluster.")
    ] = "dev",
    config: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="A stack file instead of Pulumi.<stack>.yaml.")
    ] = None,
) -> None:
    """Preview the stack offline and boot its PostgreSQL shard (Patroni; one shard of a multi-shard stack), its
    self-hosted clusters (prod: analytics) and its cache (6 nodes) in node sandboxes, with moto serving AWS; write
    outputs.local.json."""
    wrong_stack = stack_problem(stack, config)
    if wrong_stack is not None:
        raise _fail(wrong_stack)
    running = _running_state()
    if running is not None and running.stack != stack:
        raise _fail(f"already up with stack {running.stack}, not {stack}: `local down` first")
    if running is not None:
        out.print(f"already up (stack {running.stack}, supervisor pid {running.pid}): `local status` shows it")
        return
    for problem in problems():
        raise _fail(problem)
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    STATE_FILE.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "scripts.local.supervisor", "--stack", stack]
    if config is not None:
        argv += ["--config", str(config.resolve())]
    started = time.monotonic()
    with (STATE_DIR / "supervisor.log").open("ab") as log:
        supervisor = subprocess.Popen(
            argv, cwd=PROJECT_DIR, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # the daemon outlives this command and its terminal
        )  # fmt: skip
    try:
        state = _watch(supervisor, stack, started)
    except KeyboardInterrupt:
        supervisor.terminate()  # the supervisor stops everything it started before it exits
        supervisor.wait(DOWN_TIMEOUT)
        STATE_FILE.unlink(missing_ok=True)
        raise _fail("interrupted: stopped everything up had started") from None
    if state is None or state.phase != "up":
        supervisor.wait(DOWN_TIMEOUT)  # it has stopped everything it started before it exits
        STATE_FILE.unlink(missing_ok=True)
        reason = state.error if state is not None and state.error else "the supervisor exited"
        raise _fail(f"local up failed: {reason} (details: {STATE_DIR / 'supervisor.log'})")
    out.print(f"up in {time.monotonic() - started:.1f} s; outputs: {OUTPUTS_FILE}")
    for line in budget_lines(state):
        out.print(line, highlight=False)
    out.print("To reach the local AWS (Secrets Manager holds the passwords), in a shell:")
    for line in environment_lines(state):
        out.print(f"  {line}", highlight=False)
    out.print(f"  python -m scripts health --outputs {OUTPUTS_FILE.name} --sslmode require", highlight=False)


def _watch(supervisor: subprocess.Popen[bytes], stack: str, started: float) -> State | None:
    """Show every node's progress until the supervisor says up or failed (or exits)."""
    state: State | None = None
    with Live(Table(title=f"local {stack}: previewing"), console=out, refresh_per_second=4, transient=False) as live:
        while True:
            state = read_state(STATE_FILE)
            if state is not None and state.pid == supervisor.pid:
                live.update(node_table(state))
                if state.phase in ("up", "failed"):
                    break
            if supervisor.poll() is not None:
                state = read_state(STATE_FILE)
                break
            if time.monotonic() - started > UP_TIMEOUT:
                supervisor.terminate()
                supervisor.wait(DOWN_TIMEOUT)
                raise _fail(f"not up after {UP_TIMEOUT:.0f} s; stopped (see {STATE_DIR / 'supervisor.log'})")
            time.sleep(0.25)
    return state


@local_app.command()
def status() -> None:
    """Every node, its role (Patroni `/patroni`, the cache's `INFO replication`) and health."""
    state = _running_state()
    if state is None:
        raise _fail("not up (python -m scripts local up)")
    out.print(node_table(state))
    age = time.time() - state.checked_at if state.checked_at else None
    out.print(f"supervisor pid {state.pid}; checked {age:.0f} s ago" if age is not None else "not checked yet")
    for line in budget_lines(state):
        out.print(line, highlight=False)
    if state.phase == "up" and not all(n.healthy for n in state.nodes):
        raise typer.Exit(1)


@local_app.command()
def down() -> None:
    """Stop everything `up` started: nodes, namespaces, moto, forwarders."""
    state = read_state(STATE_FILE)
    if state is None:
        out.print("not up: nothing to stop")
        return
    if alive(state.pid):
        os.kill(state.pid, 15)
        deadline = time.monotonic() + DOWN_TIMEOUT
        while alive(state.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if alive(state.pid):
            raise _fail(f"supervisor {state.pid} did not stop within {DOWN_TIMEOUT:.0f} s")
    for namespace in state.namespaces:  # left only if the supervisor was killed: its nodes' processes too
        listed = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True, check=False)
        for pid in listed.stdout.split():
            try:
                os.kill(int(pid), 9)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
    STATE_FILE.unlink(missing_ok=True)
    OUTPUTS_FILE.unlink(missing_ok=True)
    out.print("down")


@local_app.command()
def logs(
    node: Annotated[str, typer.Argument(help="A node's name (as `local status` lists it).")],
    follow: Annotated[bool, typer.Option("--follow/--no-follow", "-f", help="Keep following.")] = True,
    lines: Annotated[int, typer.Option("-n", help="Lines of each log to show first.")] = 40,
) -> None:
    """Tail a node's console (boot) log and its units' journals."""
    state = _running_state()
    if state is None:
        raise _fail("not up (python -m scripts local up)")
    found = state.node(node)
    if found is None:
        raise _fail(f"no node {node!r}; nodes: {', '.join(n.name for n in state.nodes)}")
    files = [Path(found.logs[0])] if found.logs else []
    for directory in found.logs[1:]:
        files += sorted(Path(directory).glob("*.log"))
    existing = [str(f) for f in files if f.exists()]
    if not existing:
        raise _fail(f"{node} has written no log yet")
    argv = ["tail", "-n", str(lines), *(["-F"] if follow else []), *existing]
    raise typer.Exit(subprocess.call(argv))
