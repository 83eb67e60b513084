"""The terminal chat stops at the first Ctrl-C, even while it waits for the patient to type."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time

from paincoach.settings import PROJECT_ROOT

# A test runner started in the background inherits SIGINT ignored (POSIX, for commands run
# with `&` in a script), and so would these children: they take Ctrl-C as a terminal does.
AS_FROM_A_TERMINAL = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)"

CHAT = (
    AS_FROM_A_TERMINAL
    + """
import asyncio
from paincoach.chat import chat
try:
    asyncio.run(chat("http://127.0.0.1:9"))
except KeyboardInterrupt:
    print("stopped", flush=True)
"""
)


# A single Ctrl-C must end it; on a busy machine (CI runs this while Rasa reloads after the
# chaos tests) the shutdown can take several seconds, so the bound is generous.
STOP_WITHIN = 60


def prompt_reached(process: subprocess.Popen[str], timeout: float = 60) -> str:
    """What the process printed up to its "you>" prompt (imports are slow on a busy box)."""
    assert process.stdout is not None
    seen, deadline = "", time.monotonic() + timeout
    while "you> " not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            chunk = os.read(process.stdout.fileno(), 4096).decode()
            if not chunk:
                break
            seen += chunk
    return seen


def test_the_first_ctrl_c_at_the_prompt_stops_the_chat() -> None:
    terminal, patient_side = pty.openpty()  # a real terminal, as in `make run`
    process = subprocess.Popen(
        [sys.executable, "-c", CHAT],
        cwd=PROJECT_ROOT,
        stdin=patient_side,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(patient_side)
    try:
        seen = prompt_reached(process)
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=STOP_WITHIN)
    finally:
        process.kill()
        os.close(terminal)
    assert "you> " in seen and "stopped" in out


COMMAND = (
    AS_FROM_A_TERMINAL
    + """
import sys, types
import paincoach.stack, paincoach.console.demo

class Stack:
    standin_url = "http://127.0.0.1:9"
    def __init__(self, *args, **kwargs): pass
    def start(self): print("started", flush=True)
    def stop(self): print("stack stopped", flush=True)

paincoach.stack.Stack = Stack
paincoach.console.demo.prepare_demo = lambda settings, chat_id: types.SimpleNamespace(
    email="demo@example.org", password="", start_code=None
)
from paincoach.cli import app
app(["chat"])
"""
)


def test_the_first_ctrl_c_in_paincoach_chat_stops_every_service() -> None:
    """`make run`: one Ctrl-C at the prompt ends the chat and stops the services it started."""
    terminal, patient_side = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", COMMAND],
        cwd=PROJECT_ROOT,
        stdin=patient_side,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(patient_side)
    try:
        seen = prompt_reached(process)  # services "started", at the "you>" prompt
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=STOP_WITHIN)
        out = seen + out
    finally:
        process.kill()
        os.close(terminal)
    assert "started" in out and "Bye." in out and "stack stopped" in out, err
    assert process.returncode == 0, err
