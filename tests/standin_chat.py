"""A Telegram user played through the Bot API stand-in's control API, from another process:
what the browser, gateway and chaos tests use to be the patient (and the provider's own
chat) against the stack `make up` runs."""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass
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
        # Where the last fragment waited for ended: a message's index in the log and the
        # offset in its text (a turn's texts arrive as one message, paragraph by paragraph).
        self.cursor = (0, 0)

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
        """The next message from the bot containing `fragment` after the last one waited for
        (later in the same message, or in a later one), in any case (questions come in several
        wordings): already received, or yet to come."""
        deadline = time.monotonic() + timeout
        while True:
            found = find_fragment([text(m) for m in self.log], self.cursor, fragment)
            if found is not None:
                self.cursor = found
                return self.log[found[0]]
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


def find_fragment(
    texts: Sequence[str], cursor: tuple[int, int], fragment: str
) -> tuple[int, int] | None:
    """Where `fragment` next occurs in `texts`, in any case, from `cursor` (a text's index
    and an offset in it) on: the index of its text and the offset just after it."""
    first, offset = cursor
    for index in range(first, len(texts)):
        found = texts[index].lower().find(fragment.lower(), offset if index == first else 0)
        if found >= 0:
            return index, found + len(fragment)
    return None


def text(message: dict[str, Any]) -> str:
    return str(message.get("text") or message.get("caption") or "")


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    markup = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button for row in markup for button in row]


@dataclass(frozen=True)
class Sent:
    """A message the bot sent, as the control API reports it (files with their bytes)."""

    message_id: int
    method: str
    text: str | None
    caption: str | None
    buttons: list[dict[str, Any]]
    photo: bytes | None
    document: bytes | None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Sent:
        data = (raw.get("file") or {}).get("data_base64")
        content = base64.b64decode(data) if data else None
        return cls(
            message_id=raw["message_id"],
            method=raw["method"],
            text=raw.get("text"),
            caption=raw.get("caption"),
            buttons=buttons(raw),
            photo=content if raw["method"] == "sendPhoto" else None,
            document=content if raw["method"] == "sendDocument" else None,
        )


class RemoteStandIn:
    """The stand-in of a running stack, driven through its control API: the user's side of
    `BotApiStandIn`'s test helpers, for tests against `make up`'s own gateway."""

    def __init__(self, control_url: str) -> None:
        self.http = httpx.Client(base_url=control_url.rstrip("/"), timeout=70)

    def close(self) -> None:
        self.http.close()

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.http.post(path, json=body)
        assert response.json()["ok"], response.text
        return response.json()["result"]

    def _get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        assert response.json()["ok"], response.text
        return response.json()["result"]

    def user_says(self, chat_id: int, text: str) -> dict[str, Any]:
        return dict(self._post("/control/messages", {"chat_id": chat_id, "text": text}))

    def send_command(self, chat_id: int, command: str, args: str = "") -> dict[str, Any]:
        body = {"chat_id": chat_id, "command": command, "args": args}
        return dict(self._post("/control/commands", body))

    def user_sends(self, chat_id: int, kind: str) -> dict[str, Any]:
        return dict(self._post("/control/media", {"chat_id": chat_id, "kind": kind}))

    def edit_user_message(self, chat_id: int, message_id: int, text: str) -> dict[str, Any]:
        body = {"chat_id": chat_id, "message_id": message_id, "text": text}
        return dict(self._post("/control/edits", body))

    def press_button(
        self,
        chat_id: int,
        message_id: int,
        data: str | None = None,
        *,
        button_text: str | None = None,
        forge: bool = False,
    ) -> dict[str, Any]:
        body = {"chat_id": chat_id, "message_id": message_id, "data": data,
                "button_text": button_text, "forge": forge}  # fmt: skip
        return dict(self._post("/control/callbacks", body))

    def sent_messages(self, chat_id: int, *, after: int = 0) -> list[Sent]:
        found = self._get(
            f"/control/chats/{chat_id}/messages", after=after, count=1, include_bytes="true"
        )
        return [Sent.from_json(raw) for raw in found]

    def callback_answers(self) -> list[dict[str, Any]]:
        return list(self._get("/control/callback_answers"))

    def commands(self) -> list[dict[str, Any]]:
        return list(self._get("/control/bot_commands"))
