"""The supervisor with fake children (short Python processes): restarts with backoff, gives
up after too many crashes, stops everything, and writes a state file without patient data."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from paincoach.supervisor import Child, Supervisor, exit_reason

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def child(tmp_path: Path, name: str, code: str = "import time; time.sleep(60)") -> Child:
    return Child(name, [sys.executable, "-c", code], dict(os.environ), tmp_path / f"{name}.out")


def wait_until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def gone(pid: int) -> bool:
    """Ended: no such process, or a zombie nobody has reaped yet (PID 1 in a container)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status


def fast(tmp_path: Path, **options: float) -> Supervisor:
    """A supervisor whose backoff is counted in hundredths of a second."""
    settings: dict[str, float] = {"first_backoff": 0.05, "max_backoff": 0.4, "poll_seconds": 0.02}
    settings.update(options)
    return Supervisor(state_file=tmp_path / "run" / "status.json", **settings)  # type: ignore[arg-type]


def test_exit_reasons_name_the_code_or_the_signal() -> None:
    assert exit_reason(3) == "exited with code 3"
    assert exit_reason(-signal.SIGKILL) == "killed by SIGKILL"
    assert exit_reason(-200) == "killed by signal 200"


def test_a_killed_child_is_started_again_and_counted(tmp_path: Path) -> None:
    supervisor = fast(tmp_path)
    supervisor.start(child(tmp_path, "rasa"))
    supervisor.watch()
    try:
        first = supervisor.children["rasa"].process
        assert first is not None
        os.kill(first.pid, signal.SIGKILL)
        wait_until(lambda: supervisor.children["rasa"].restarts == 1)
        again = supervisor.children["rasa"]
        assert again.process is not None and again.process.pid != first.pid
        assert again.state == "running" and again.last_exit == "killed by SIGKILL"
        state = json.loads((tmp_path / "run" / "status.json").read_text())
        (rasa,) = state["services"]
        assert (rasa["name"], rasa["state"], rasa["restarts"]) == ("rasa", "running", 1)
        assert rasa["last_exit"] == "killed by SIGKILL" and state["state"] == "running"
    finally:
        supervisor.stop()
    assert supervisor.children["rasa"].state == "stopped"
    assert json.loads((tmp_path / "run" / "status.json").read_text())["state"] == "stopped"


def test_backoff_doubles_up_to_its_ceiling(tmp_path: Path) -> None:
    supervisor = Supervisor(max_restarts=10, window_seconds=1000, first_backoff=1, max_backoff=8)
    failing = child(tmp_path, "actions", "raise SystemExit(2)")
    supervisor.start(failing)
    now = 0.0
    delays = []
    try:
        for _ in range(6):
            assert failing.process is not None
            failing.process.wait()
            assert supervisor.check(now)
            assert failing.restart_at is not None and failing.state == "restarting"
            delays.append(failing.restart_at - now)
            now = failing.restart_at
            assert supervisor.check(now)  # due: started again
            assert failing.restart_at is None
    finally:
        supervisor.stop()
    assert delays == [1, 2, 4, 8, 8, 8]
    assert failing.restarts == 6 and failing.last_exit == "exited with code 2"


def test_crashes_outside_the_window_are_forgotten(tmp_path: Path) -> None:
    supervisor = Supervisor(max_restarts=1, window_seconds=10, first_backoff=1)
    failing = child(tmp_path, "gateway", "raise SystemExit(1)")
    supervisor.start(failing)
    try:
        for now in (0.0, 20.0, 40.0):  # one crash in every window: never too many
            assert failing.process is not None
            failing.process.wait()
            assert supervisor.check(now)
            assert failing.restart_at == now + 1  # and the backoff starts again at 1 s
            assert supervisor.check(now + 1)
    finally:
        supervisor.stop()


def test_too_many_crashes_stop_everything(tmp_path: Path) -> None:
    supervisor = fast(tmp_path, max_restarts=2, window_seconds=60)
    supervisor.start(child(tmp_path, "console"))
    supervisor.start(child(tmp_path, "gateway", "raise SystemExit(1)"))
    supervisor.watch()
    try:
        assert supervisor.gave_up.wait(10)
    finally:
        supervisor.stop()
    assert supervisor.children["gateway"].restarts == 2
    assert all(c.state == "stopped" for c in supervisor.children.values())
    assert supervisor.failure is not None
    assert "gateway exited with code 1, 3 times within 60 s" in supervisor.failure
    assert "SUPERVISOR_MAX_RESTARTS=2" in supervisor.failure
    state = json.loads((tmp_path / "run" / "status.json").read_text())
    assert state["state"] == "gave up" and state["failure"] == supervisor.failure


def test_stop_ends_children_that_ignore_sigterm_and_what_they_left_behind(
    tmp_path: Path,
) -> None:
    stubborn = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "worker = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(worker.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    supervisor = fast(tmp_path)
    supervisor.start(child(tmp_path, "actions", stubborn))
    log = tmp_path / "actions.out"
    wait_until(lambda: log.exists() and log.read_text().strip() != "")
    worker = int(log.read_text().split()[0])
    started = time.monotonic()
    supervisor.stop(timeout=0.5)
    assert time.monotonic() - started < 5
    assert supervisor.children["actions"].state == "stopped"
    wait_until(lambda: gone(worker))  # the worker went with its parent's group


def test_an_exit_takes_the_workers_it_left_behind_before_the_restart(tmp_path: Path) -> None:
    parent = (
        "import subprocess, sys\n"
        "worker = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(worker.pid, flush=True)\n"
        "raise SystemExit(1)\n"
    )
    supervisor = Supervisor(max_restarts=5, first_backoff=100)
    supervisor.start(child(tmp_path, "actions", parent))
    log = tmp_path / "actions.out"
    try:
        wait_until(lambda: log.exists() and log.read_text().strip() != "")
        worker = int(log.read_text().split()[0])
        supervisor.children["actions"].process.wait()  # type: ignore[union-attr]
        assert supervisor.check()
        wait_until(lambda: gone(worker))
    finally:
        supervisor.stop()


def test_the_state_file_holds_no_output_of_the_children(tmp_path: Path) -> None:
    supervisor = fast(tmp_path)
    supervisor.start(child(tmp_path, "gateway", "print('my pain is 9 today'); raise SystemExit(1)"))
    supervisor.watch()
    try:
        wait_until(lambda: supervisor.children["gateway"].restarts >= 1)
    finally:
        supervisor.stop()
    state = (tmp_path / "run" / "status.json").read_text()
    assert "pain" not in state and "exited with code 1" in state


def test_paincoach_up_exits_1_when_the_supervisor_gives_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What `paincoach up` does after start-up: wait, and fail with the reason."""
    import typer

    from paincoach.cli import _run_until_signal

    class Started:  # what _run_until_signal needs of a started Stack
        log_dir = tmp_path
        supervisor = fast(tmp_path, max_restarts=1, window_seconds=60)

        def stop(self) -> None:
            self.supervisor.stop()

    stack = Started()
    stack.supervisor.start(child(tmp_path, "rasa", "raise SystemExit(3)"))
    stack.supervisor.watch()
    with pytest.raises(typer.Exit) as stopped:
        _run_until_signal(stack)
    assert stopped.value.exit_code == 1
    assert "Stopped: rasa exited with code 3, 2 times within 60 s" in capsys.readouterr().err
    assert stack.supervisor.children["rasa"].state == "stopped"
