"""A terminal chat with the coach, as a demo patient: a thin client of the Rasa REST channel."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from pathlib import Path

from paincoach.rasa_client import BotMessage, Button, RasaClient, RasaUnavailable
from paincoach.settings import VAR_DIR


def demo_pseudonym(path: Path = VAR_DIR / "demo_patient") -> str:
    """The local demo patient keeps one pseudonym across runs, like a Telegram chat would."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    pseudonym = "demo-" + secrets.token_hex(6)
    path.write_text(pseudonym)
    return pseudonym


def is_scale(buttons: Sequence[Button]) -> bool:
    """0–10 buttons are typed as numbers, so they are not numbered as choices."""
    return all(b.title.isdigit() or b.payload == "/stop" for b in buttons)


def render(message: BotMessage) -> str:
    lines = [f"coach> {message.text}"] if message.text else []
    if message.image:
        lines.append(f"coach> [image] {message.image}")
    if message.buttons and is_scale(message.buttons):
        lines.append("       (" + " ".join(b.title for b in message.buttons) + ")")
    else:
        lines += [f"       [{n}] {b.title}" for n, b in enumerate(message.buttons, start=1)]
    return "\n".join(lines)


def resolve(typed: str, buttons: Sequence[Button]) -> str:
    """A typed choice number becomes that button's payload; anything else is sent as typed."""
    if buttons and not is_scale(buttons) and typed.isdigit() and 1 <= int(typed) <= len(buttons):
        return buttons[int(typed) - 1].payload
    return typed


async def chat(client: RasaClient, sender: str) -> None:
    print("Chatting with PainCoach as a demo patient. Type /start to begin, Ctrl-C to quit.\n")
    buttons: Sequence[Button] = ()
    while True:
        try:
            typed = (await asyncio.to_thread(input, "you> ")).strip()
        except EOFError:
            return
        if not typed:
            continue
        try:
            replies = await client.send(sender, resolve(typed, buttons))
        except RasaUnavailable:
            print("coach> Sorry, I can't reach the coach right now. Please try again shortly.")
            continue
        for message in replies:
            print(render(message))
        buttons = next((m.buttons for m in reversed(replies) if m.buttons), ())
