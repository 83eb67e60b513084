"""The terminal chat stops at the first Ctrl-C, even while it waits for the patient to type."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time

from paincoach.settings import PROJECT_ROOT

CHAT = """
import asyncio
from paincoach.chat import chat
try:
    asyncio.run(chat("http://127.0.0.1:9"))
except KeyboardInterrupt:
    print("stopped", flush=True)
"""


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
        time.sleep(2)  # at the "you>" prompt
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=10)
    finally:
        process.kill()
        os.close(terminal)
    assert "stopped" in out
