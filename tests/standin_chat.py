"""A Telegram user played through the Bot API stand-in's control API, from another process:
what the browser tests use to be the patient (and the provider's own chat)."""

from __future__ import annotations

import time
from typing import Any

import httpx


class StandInChat:
    """One chat with the bot: type, send commands, press buttons, wait for replies."""

    def __init__(self, control_url: str, chat_id: int, first_name: str = "Robin") -> None:
        self.http = httpx.AsyncClient(base_url=control_url.rstrip("/"), timeout=70)
        self.chat_id = chat_id
        self.first_name = first_name
        self.seen = 0  # the newest message id in the chat, ours or the bot's
        self.log: list[dict[str, Any]] = []  # the bot's messages, in order
        self.cursor = 0  # log index after the last message waited for

    async def close(self) -> None:
        await self.http.aclose()

    async def _post(self, path: str, body: dict[str, Any]) -> None:
        body = {"chat_id": self.chat_id, "first_name": self.first_name, **body}
        response = await self.http.post(path, json=body)
        assert response.json()["ok"], response.text
        sent = response.json()["result"].get("message", {})
        self.seen = max(self.seen, sent.get("message_id", 0))

    async def says(self, text: str, until: str) -> dict[str, Any]:
        await self._post("/control/messages", {"text": text})
        return await self.wait_for(until)

    async def command(self, command: str, until: str, args: str = "") -> dict[str, Any]:
        await self._post("/control/commands", {"command": command, "args": args})
        return await self.wait_for(until)

    async def presses(self, title: str, until: str) -> dict[str, Any]:
        """Press the button titled `title` on the latest message that shows it."""
        for message in reversed(self.log):
            for button in buttons(message):
                if button["text"] == title:
                    await self._post(
                        "/control/callbacks",
                        {"message_id": message["message_id"], "data": button["callback_data"]},
                    )
                    return await self.wait_for(until)
        raise AssertionError(f"no button {title!r} in {[text(m) for m in self.log[-3:]]}")

    async def wait_for(self, fragment: str, timeout: float = 60) -> dict[str, Any]:
        """The next message from the bot (after the last one waited for) containing
        `fragment`, in any case (questions come in several wordings): already received, or
        yet to come."""
        deadline = time.monotonic() + timeout
        while True:
            for index in range(self.cursor, len(self.log)):
                if fragment.lower() in text(self.log[index]).lower():
                    self.cursor = index + 1
                    return self.log[index]
            if time.monotonic() > deadline:
                recent = [text(m)[:80] for m in self.log[-4:]]
                raise AssertionError(f"no message with {fragment!r} in {timeout:.0f} s; {recent}")
            response = await self.http.get(
                f"/control/chats/{self.chat_id}/messages",
                params={"after": self.seen, "count": 1, "wait": 5},
            )
            for message in response.json()["result"]:  # every message is logged, in order
                self.seen = max(self.seen, message["message_id"])
                self.log.append(message)


def text(message: dict[str, Any]) -> str:
    return str(message.get("text") or message.get("caption") or "")


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    markup = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button for row in markup for button in row]
