"""A terminal chat with the coach as a Telegram user, through the local Bot API stand-in.

It is the production path end to end: the stand-in plays Telegram, the gateway polls it,
talks to Rasa, and sends the replies back. Reminders and pushes appear here as they would on
a phone; photos and files are saved under var/chat/ and their paths printed.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

from paincoach.settings import VAR_DIR

DEMO_CHAT_ID = 424242
DOWNLOADS = VAR_DIR / "chat"


def is_scale(buttons: list[dict[str, Any]]) -> bool:
    """0–10 buttons are typed as numbers, so they are not numbered as choices."""
    return bool(buttons) and all(b["text"].isdigit() or b["text"] == "Stop" for b in buttons)


def render(message: dict[str, Any], downloads: Path = DOWNLOADS) -> str:
    """One bot message as terminal lines; photos and files are saved to `downloads`."""
    lines = []
    text = message.get("text") or message.get("caption")
    if text:
        lines.append(f"coach> {text}")
    file = message.get("file")
    if file and file.get("data_base64"):
        downloads.mkdir(parents=True, exist_ok=True)
        name = file.get("filename") or f"{message['message_id']}.bin"
        path = downloads / f"{message['message_id']}-{name}"
        path.write_bytes(base64.b64decode(file["data_base64"]))
        kind = "photo" if message.get("method") == "sendPhoto" else "file"
        lines.append(f"coach> [{kind} saved to {path}]")
    buttons = [
        b for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row
    ]
    if is_scale(buttons):
        lines.append("       (" + " ".join(b["text"] for b in buttons) + ")")
    else:
        lines += [f"       [{n}] {b['text']}" for n, b in enumerate(buttons, start=1)]
    return "\n".join(lines)


class TelegramUser:
    """A user of the stand-in, driven through its control API."""

    def __init__(self, control_url: str, chat_id: int = DEMO_CHAT_ID) -> None:
        self.http = httpx.AsyncClient(base_url=control_url.rstrip("/"), timeout=40)
        self.chat_id = chat_id
        self.seen = 0
        self.keyboard: tuple[int, list[dict[str, Any]]] | None = None

    async def send(self, typed: str) -> None:
        """Typed text, a /command, or the number of a button on the last keyboard."""
        if self.keyboard and typed.isdigit():
            message_id, buttons = self.keyboard
            if is_scale(buttons):
                choice = next((b for b in buttons if b["text"] == typed), None)
            else:
                index = int(typed) - 1
                choice = buttons[index] if 0 <= index < len(buttons) else None
            if choice is not None:
                await self._post(
                    "/control/callbacks",
                    {
                        "chat_id": self.chat_id,
                        "message_id": message_id,
                        "data": choice["callback_data"],
                    },
                )
                return
        if typed.startswith("/") and len(typed) > 1:
            command, _, args = typed[1:].partition(" ")
            await self._post(
                "/control/commands", {"chat_id": self.chat_id, "command": command, "args": args}
            )
        else:
            await self._post("/control/messages", {"chat_id": self.chat_id, "text": typed})

    async def _post(self, path: str, body: dict[str, Any]) -> None:
        response = await self.http.post(path, json={**body, "first_name": "Demo"})
        self.seen = max(
            self.seen, response.json().get("result", {}).get("message", {}).get("message_id", 0)
        )

    async def listen(self) -> None:
        """Print every message the bot sends, as it arrives (replies, reminders, pushes)."""
        while True:
            response = await self.http.get(
                f"/control/chats/{self.chat_id}/messages",
                params={"after": self.seen, "wait": 25, "include_bytes": 1},
            )
            for message in response.json().get("result", []):
                self.seen = max(self.seen, message["message_id"])
                print("\r" + render(message) + "\nyou> ", end="", flush=True)
                markup = (message.get("reply_markup") or {}).get("inline_keyboard")
                if markup:
                    self.keyboard = (message["message_id"], [b for row in markup for b in row])

    async def close(self) -> None:
        await self.http.aclose()


def _read_lines(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
    """Read the terminal on a daemon thread, so that Ctrl-C is never kept waiting for it."""
    while True:
        try:
            typed: str | None = input("you> ")
        except (EOFError, OSError, ValueError):
            typed = None
        loop.call_soon_threadsafe(lines.put_nowait, typed)
        if typed is None:
            return


def _watch_terminal(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> bool:
    """Read typed lines on the event loop itself, as the terminal delivers them.

    No thread is left blocked in input(): such a thread made Ctrl-C wait, and at exit it
    holds stdin's lock, so Python aborted ("could not acquire lock ... at interpreter
    shutdown") instead of ending cleanly. False where stdin cannot be watched (a file).
    """
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    pending = bytearray()

    def readable() -> None:
        chunk = os.read(fd, 4096)
        pending.extend(chunk)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            lines.put_nowait(line.decode(errors="replace"))
        if not chunk:  # end of input
            loop.remove_reader(fd)
            if pending:
                lines.put_nowait(pending.decode(errors="replace"))
            lines.put_nowait(None)

    try:
        loop.add_reader(fd, readable)
    except (OSError, ValueError, NotImplementedError):
        return False
    return True


async def chat(control_url: str, start_code: str | None = None) -> None:
    """Read lines from the terminal and show the coach's messages until EOF or Ctrl-C.

    With `start_code`, a bare /start carries it, as a provider's invite link would.
    """
    user = TelegramUser(control_url)
    print("You are a Telegram user of the local stand-in. Type /start to begin, Ctrl-C to quit.\n")
    listener = asyncio.create_task(user.listen())
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    watched = _watch_terminal(loop, lines)
    if watched:
        print("you> ", end="", flush=True)
    else:
        # Not asyncio.to_thread: asyncio.run waits for its threads at exit.
        threading.Thread(target=_read_lines, args=(loop, lines), daemon=True).start()
    try:
        while (typed := await lines.get()) is not None:
            if start_code and typed.strip() == "/start":
                typed = f"/start {start_code}"
            if typed.strip():
                await user.send(typed.strip())
            if watched:
                print("you> ", end="", flush=True)
        await asyncio.sleep(3)  # end of input: let the last replies arrive
    finally:
        if watched:
            loop.remove_reader(sys.stdin.fileno())
        listener.cancel()
        await user.close()
