"""`paincoach status`: each service's state, uptime and restarts from the supervisor's state
file, checked live (its health URL answers; the scheduler has ticked lately)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

STALE_TICKS = 3  # the scheduler counts as stuck after missing this many ticks (plus a minute)


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str
    uptime: float | None
    restarts: int
    detail: str
    healthy: bool


@dataclass(frozen=True)
class StackStatus:
    summary: str
    services: list[ServiceStatus]
    healthy: bool


def read_tick(path: Path) -> tuple[float, float] | None:
    """(seconds since the scheduler's last tick, its tick interval), or None before the first."""
    try:
        tick = json.loads(path.read_text())
        return max(time.time() - float(tick["at"]), 0.0), float(tick["every"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_tick(path: Path, every: float) -> None:
    """Record that the scheduler has just ticked (replaced in one step)."""
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps({"at": time.time(), "every": every}))
    partial.replace(path)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    return True


def _answers(url: str) -> str | None:
    """None when `url` answers 200; otherwise what went wrong, in a few words."""
    try:
        response = httpx.get(url, timeout=3)
    except httpx.TransportError as error:
        return f"not answering ({type(error).__name__})"
    return None if response.status_code == 200 else f"answers {response.status_code}"


def _service(raw: dict[str, Any], tick_file: Path, supervised: bool) -> ServiceStatus:
    state = str(raw.get("state", "unknown")) if supervised else "stopped"
    running = state == "running" and _alive(raw.get("pid"))
    if state == "running" and not running:
        state = "stopped"
    started = raw.get("started_at")
    uptime = time.time() - float(started) if running and started else None
    problems = []
    if raw.get("last_exit"):
        problems.append(f"last exit: {raw['last_exit']}")
    healthy = running
    if running and raw.get("health_url"):
        trouble = _answers(str(raw["health_url"]))
        if trouble:
            healthy = False
            problems.insert(0, trouble)
    if running and raw.get("name") == "gateway":
        tick = read_tick(tick_file)
        if tick is None:
            healthy = False
            problems.insert(0, "no scheduler tick yet")
        else:
            age, every = tick
            problems.insert(0, f"last scheduler tick {age:.0f} s ago")
            if age > STALE_TICKS * every + 60:
                healthy = False
    return ServiceStatus(
        name=str(raw.get("name", "?")),
        state=state,
        uptime=uptime,
        restarts=int(raw.get("restarts") or 0),
        detail="; ".join(problems),
        healthy=healthy,
    )


def stack_status(run_dir: Path) -> StackStatus:
    """What the state file in `run_dir` says, checked against the living processes."""
    try:
        state = json.loads((run_dir / "status.json").read_text())
    except FileNotFoundError:
        return StackStatus(f"Not running: no {run_dir / 'status.json'}.", [], False)
    except (OSError, ValueError):
        return StackStatus(f"Cannot read {run_dir / 'status.json'}.", [], False)
    supervised = state.get("state") == "running" and _alive(state.get("supervisor_pid"))
    if supervised:
        summary = f"Supervisor running (pid {state['supervisor_pid']})."
    elif state.get("state") == "gave up":
        summary = f"Supervisor gave up: {state.get('failure')}."
    else:
        summary = "Not running: the supervisor has stopped."
    services = [
        _service(raw, run_dir / "scheduler.tick", supervised) for raw in state.get("services", [])
    ]
    healthy = supervised and bool(services) and all(s.healthy for s in services)
    return StackStatus(summary, services, healthy)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def render(status: StackStatus) -> str:
    lines = [status.summary]
    if status.services:
        lines.append(f"{'SERVICE':<10} {'STATE':<11} {'UPTIME':>9} {'RESTARTS':>8}  HEALTH")
        for s in status.services:
            lines.append(
                f"{s.name:<10} {s.state:<11} {duration(s.uptime):>9} {s.restarts:>8}  "
                f"{'healthy' if s.healthy else 'UNHEALTHY'}{': ' + s.detail if s.detail else ''}"
            )
    lines.append("All healthy." if status.healthy else "Not healthy.")
    return "\n".join(lines)
