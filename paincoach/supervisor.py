"""Keep the stack's child processes running: a child that exits unexpectedly is logged and
started again after a growing pause (1 s, 2 s, 4 s ... 60 s); one that crashes too often in a
window makes the supervisor stop everything, so an outer supervisor (systemd) can take over.

The state of every child is written to a small JSON file for `paincoach status`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("paincoach.supervisor")


def exit_reason(returncode: int) -> str:
    """'exited with code 3', or 'killed by SIGKILL': never anything a child printed."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


@dataclass
class Child:
    """One supervised process and what the supervisor knows about it."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    cwd: Path | None = None
    health_url: str | None = None  # what `paincoach status` asks; no secrets in it
    process: subprocess.Popen[bytes] | None = None
    started_at: float | None = None  # wall-clock time of the latest start
    restarts: int = 0
    last_exit: str | None = None
    crashes: deque[float] = field(default_factory=deque)  # monotonic times, within the window
    restart_at: float | None = None  # monotonic time of the next start while backing off

    @property
    def state(self) -> str:
        if self.restart_at is not None:
            return "restarting"
        if self.process is not None and self.process.poll() is None:
            return "running"
        return "stopped"


class Supervisor:
    """Starts children, watches them from a background thread, restarts or gives up."""

    def __init__(
        self,
        max_restarts: int = 5,
        window_seconds: float = 600.0,
        state_file: Path | None = None,
        first_backoff: float = 1.0,
        max_backoff: float = 60.0,
        poll_seconds: float = 0.5,
        extra_state: dict[str, Any] | None = None,
    ) -> None:
        self.max_restarts = max_restarts
        self.window_seconds = window_seconds
        self.state_file = state_file
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.poll_seconds = poll_seconds
        self.extra_state = extra_state or {}
        self.children: dict[str, Child] = {}
        self.failure: str | None = None  # why the supervisor gave up
        self.gave_up = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.RLock()  # the watcher and stop() never start and kill at once
        self._thread: threading.Thread | None = None
        self._started_at = time.time()

    # Starting ---------------------------------------------------------------------------

    def start(self, child: Child) -> None:
        """Start `child` now (its output appended to its log) and supervise it from now on."""
        with self._lock:
            self.children[child.name] = child
            self._spawn(child)
            self.write_state()

    def _spawn(self, child: Child) -> None:
        child.log_path.parent.mkdir(parents=True, exist_ok=True)
        with child.log_path.open("ab") as output:
            child.process = subprocess.Popen(
                child.command,
                cwd=child.cwd,
                env=child.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: Ctrl-C reaches only us
            )
        child.started_at = time.time()
        child.restart_at = None

    def watch(self) -> None:
        """From now on, restart children that exit; call once every child has started."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        while not self._stopping.wait(self.poll_seconds):
            if not self.check():
                self._stop_children()
                self.write_state()
                self.gave_up.set()
                return

    # One round --------------------------------------------------------------------------

    def check(self, now: float | None = None) -> bool:
        """Notice exits, start what is due; False when a child crashed too often."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._stopping.is_set():
                return True
            changed = False
            for child in self.children.values():
                if child.restart_at is None and child.process is not None:
                    returncode = child.process.poll()
                    if returncode is not None:
                        changed = True
                        if not self._crashed(child, returncode, now):
                            return False
                if child.restart_at is not None and now >= child.restart_at:
                    changed = True
                    self._spawn(child)
                    child.restarts += 1
                    log.info("service restarted", service=child.name, restarts=child.restarts)
            if changed:
                self.write_state()
            return True

    def _crashed(self, child: Child, returncode: int, now: float) -> bool:
        """Log the exit and plan the restart; False when it is one crash too many."""
        assert child.process is not None
        _kill_group(child.process.pid, signal.SIGKILL)  # a worker it left behind holds its port
        child.last_exit = exit_reason(returncode)
        child.crashes.append(now)
        while child.crashes and child.crashes[0] <= now - self.window_seconds:
            child.crashes.popleft()
        if len(child.crashes) > self.max_restarts:
            self.failure = (
                f"{child.name} {child.last_exit}, {len(child.crashes)} times within "
                f"{self.window_seconds:g} s (SUPERVISOR_MAX_RESTARTS={self.max_restarts}, "
                f"SUPERVISOR_WINDOW_SECONDS={self.window_seconds:g}); stopping everything"
            )
            log.error("giving up", service=child.name, reason=child.last_exit)
            return False
        delay = min(self.first_backoff * 2 ** (len(child.crashes) - 1), self.max_backoff)
        child.restart_at = now + delay
        log.warning("service exited", service=child.name, reason=child.last_exit, restart_in=delay)
        return True

    # Stopping ---------------------------------------------------------------------------

    def stop(self, timeout: float = 15.0) -> None:
        """Stop watching, then SIGTERM every child, newest first; SIGKILL what outlives
        `timeout` seconds."""
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._stop_children(timeout)
        self.write_state()

    def _stop_children(self, timeout: float = 15.0) -> None:
        with self._lock:
            self._stopping.set()
            running = [c.process for c in reversed(self.children.values()) if c.process]
            for child in self.children.values():
                child.restart_at = None
            for process in running:
                if process.poll() is None:
                    _kill_group(process.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for process in running:
                try:
                    process.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    _kill_group(process.pid, signal.SIGKILL)
                    process.wait()
                _kill_group(process.pid, signal.SIGKILL)  # whatever it left behind

    # The state file ---------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            if self.gave_up.is_set() or self.failure:
                state = "gave up"
            elif self._stopping.is_set():
                state = "stopped"
            else:
                state = "running"
            return {
                "supervisor_pid": os.getpid(),
                "state": state,
                "failure": self.failure,
                "started_at": self._started_at,
                "updated_at": time.time(),
                **self.extra_state,
                "services": [
                    {
                        "name": child.name,
                        "state": child.state,
                        "pid": child.process.pid if child.process else None,
                        "started_at": child.started_at,
                        "restarts": child.restarts,
                        "last_exit": child.last_exit,
                        "health_url": child.health_url,
                    }
                    for child in self.children.values()
                ],
            }

    def write_state(self) -> None:
        """Replace the state file in one step, so a reader never sees half of it."""
        if self.state_file is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        partial = self.state_file.with_suffix(".tmp")
        partial.write_text(json.dumps(self.snapshot(), indent=2))
        partial.replace(self.state_file)


def _kill_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
