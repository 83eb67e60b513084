"""`paincoach status` from a supervisor's state file and live checks, and the console's
`/healthz` (no login, no data; 503 when its database does not answer)."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from paincoach.cli import app
from paincoach.status import duration, stack_status, write_tick
from paincoach.supervisor import Child, Supervisor
from tests.conftest import free_port
from tests.console_client import console_app


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[Supervisor]:
    """A supervisor running a console-like child with a health URL, and a gateway-like one."""
    port = free_port()
    server = (
        "import http.server as h; "
        f"h.test(h.SimpleHTTPRequestHandler, port={port}, bind='127.0.0.1')"
    )
    supervisor = Supervisor(state_file=tmp_path / "run" / "status.json", poll_seconds=0.05)
    for name, code, url in [
        ("console", server, f"http://127.0.0.1:{port}/"),
        ("gateway", "import time; time.sleep(60)", None),
    ]:
        supervisor.start(
            Child(name, [sys.executable, "-c", code], dict(os.environ), tmp_path / f"{name}.out",
                  cwd=tmp_path, health_url=url)
        )  # fmt: skip
    supervisor.watch()
    deadline = time.monotonic() + 20
    while stack_status(tmp_path / "run").services[0].detail:  # until the server answers
        assert time.monotonic() < deadline, "the fake console did not start"
        time.sleep(0.1)
    yield supervisor
    supervisor.stop()


def status(run_dir: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["status", "--run-dir", str(run_dir)])
    return result.exit_code, result.output


def test_healthy_when_every_service_answers_and_the_scheduler_ticks(
    supervised: Supervisor, tmp_path: Path
) -> None:
    write_tick(tmp_path / "run" / "scheduler.tick", every=20)
    code, output = status(tmp_path / "run")
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0].startswith("Supervisor running")
    assert lines[1].split() == ["SERVICE", "STATE", "UPTIME", "RESTARTS", "HEALTH"]
    assert lines[2].split()[:2] == ["console", "running"] and lines[2].split()[3] == "0"
    assert "last scheduler tick 0 s ago" in lines[3]
    assert lines[-1] == "All healthy."


def test_a_restart_is_reported_with_how_the_service_ended(
    supervised: Supervisor, tmp_path: Path
) -> None:
    write_tick(tmp_path / "run" / "scheduler.tick", every=20)
    gateway = supervised.children["gateway"]
    assert gateway.process is not None
    gateway.process.kill()
    deadline = time.monotonic() + 10
    while gateway.restarts == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    code, output = status(tmp_path / "run")
    row = next(line for line in output.splitlines() if line.startswith("gateway"))
    assert row.split()[1] == "running" and row.split()[3] == "1", output
    assert "last exit: killed by SIGKILL" in row
    assert code == 0


def test_a_stale_scheduler_or_a_silent_service_is_unhealthy(
    supervised: Supervisor, tmp_path: Path
) -> None:
    tick = tmp_path / "run" / "scheduler.tick"
    tick.write_text(json.dumps({"at": time.time() - 600, "every": 20}))
    code, output = status(tmp_path / "run")
    assert code == 1 and "UNHEALTHY: last scheduler tick 600 s ago" in output
    tick.unlink()
    assert "no scheduler tick yet" in status(tmp_path / "run")[1]

    write_tick(tick, every=20)
    console = supervised.children["console"]
    supervised.stop()
    code, output = status(tmp_path / "run")
    assert code == 1 and "Not running: the supervisor has stopped." in output
    assert console.state == "stopped"


def test_nothing_running_is_said_plainly(tmp_path: Path) -> None:
    code, output = status(tmp_path / "nowhere")
    assert code == 1 and "Not running: no" in output and "Traceback" not in output
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "status.json").write_text("{half")
    code, output = status(tmp_path / "broken")
    assert code == 1 and "Cannot read" in output


def test_durations_read_like_a_clock() -> None:
    assert [duration(s) for s in (None, 5, 75, 3 * 3600 + 120, 2 * 86400 + 3600)] == [
        "-", "5s", "1m15s", "3h02m", "2d01h",
    ]  # fmt: skip


def test_bad_supervisor_settings_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from paincoach.settings import get_settings

    monkeypatch.setenv("SUPERVISOR_WINDOW_SECONDS", "soon")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["up"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "SUPERVISOR_WINDOW_SECONDS" in result.output


def test_healthz_needs_no_login_and_says_when_the_database_is_away(sqlite_url: str) -> None:
    with TestClient(console_app(sqlite_url)) as client:
        answer = client.get("/healthz")
        assert (answer.status_code, answer.text) == (200, "ok")
        assert client.head("/healthz").status_code == 200
        assert "set-cookie" not in answer.headers
    away = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/paincoach"  # nobody listens
    with TestClient(console_app(away)) as client:
        answer = client.get("/healthz")
    assert (answer.status_code, answer.text) == (503, "database unavailable")
