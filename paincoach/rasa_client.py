"""The one way PainCoach's channels talk to the Rasa server: its REST channel and HTTP API."""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog

from paincoach.db.store import CoachStore
from paincoach.settings import SERVICE_SECRET_HEADER

log = structlog.get_logger("paincoach.rasa")
ERASE_MARKER = {"paincoach": "erase_conversation"}
# Rasa could not finish the turn and did not save it (scripts/rasa_patches/paincoach_rasa_turns.py).
TURN_FAILED = {"paincoach": "turn_failed"}
TURN_KEY = "paincoach_turn"  # in a user message's metadata: which turn of ours it was


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class BotMessage:
    """One message from the coach: text, buttons, an image, or a custom payload."""

    text: str | None = None
    buttons: tuple[Button, ...] = ()
    image: str | None = None
    custom: dict[str, Any] | None = field(default=None)

    @classmethod
    def from_rasa(cls, raw: dict[str, Any]) -> BotMessage:
        return cls(
            text=raw.get("text"),
            buttons=tuple(
                Button(str(b.get("title", "")), str(b.get("payload", "")))
                for b in raw.get("buttons") or []
            ),
            image=raw.get("image"),
            custom=raw.get("custom"),
        )


class RasaUnavailable(RuntimeError):
    """The Rasa server did not answer; the caller keeps the message and tries later."""


class RasaClient:
    """Send patient messages to Rasa and carry out what the replies ask of the channel."""

    def __init__(
        self,
        base_url: str,
        token: str,
        store: CoachStore,
        tracker_store_url: str,
        timeout: float = 30.0,
        max_concurrent: int = 16,
        secret: str = "",
    ) -> None:
        self.base_url = base_url
        # Rasa works through turns one CPU at a time; queueing here rather than inside Rasa
        # keeps each request's timeout for its own work.
        self._slots = asyncio.Semaphore(max_concurrent)
        self.token = token
        self.store = store
        self.tracker_store_url = tracker_store_url
        # SERVICE_SECRET, which Rasa's REST channel checks when it is set.
        headers = {SERVICE_SECRET_HEADER: secret} if secret else None
        self.http = httpx.AsyncClient(timeout=timeout, headers=headers)

    @property
    def base_url(self) -> str:
        return ",".join(self.base_urls)

    @base_url.setter
    def base_url(self, urls: str) -> None:
        """One Rasa server, or several replicas comma-separated."""
        self.base_urls = [url.strip().rstrip("/") for url in urls.split(",") if url.strip()]

    def url_for(self, sender: str) -> str:
        """The replica for this conversation: always the same one, so its cache stays warm."""
        return self.base_urls[zlib.crc32(sender.encode()) % len(self.base_urls)]

    async def close(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> RasaClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def send(
        self,
        sender: str,
        text: str,
        metadata: dict[str, Any] | None = None,
        turn: str | None = None,
    ) -> list[BotMessage]:
        """A patient's message in, the coach's replies out. `turn` names the turn, so that
        `replies_to` can tell afterwards whether Rasa took it."""
        body: dict[str, Any] = {"sender": sender, "message": text}
        if metadata or turn:
            body["metadata"] = {**(metadata or {}), **({TURN_KEY: turn} if turn else {})}
        replies = await self._post(sender, "/webhooks/rest/webhook", body)
        return self._after_turn(sender, replies)

    async def replies_to(self, sender: str, turn: str) -> list[BotMessage] | None:
        """The coach's replies to the turn named `turn`, from the conversation; None if Rasa
        never took that turn. For a message sent again after a crash: was it answered?"""
        response = await self._get(
            sender,
            f"/conversations/{sender}/tracker",
            params={"token": self.token, "include_events": "AFTER_RESTART"},
        )
        events = response.get("events") or []
        start = next(
            (
                index
                for index in range(len(events) - 1, -1, -1)
                if events[index].get("event") == "user" and _turn_of(events[index]) == turn
            ),
            None,
        )
        if start is None:
            return None
        replies = []
        for event in events[start + 1 :]:
            if event.get("event") == "user":
                break
            if event.get("event") == "bot":
                replies.append({"text": event.get("text"), **(event.get("data") or {})})
        return self._after_turn(sender, replies)

    async def trigger_intent(
        self, sender: str, intent: str, entities: dict[str, Any] | None = None
    ) -> list[BotMessage]:
        """Start a conversation turn from our side (reminders, pushes, the safety net)."""
        body = {"name": intent, "entities": entities or {}}
        response = await self._post(
            sender,
            f"/conversations/{sender}/trigger_intent",
            body,
            params={"output_channel": "rest", "token": self.token},
        )
        return self._after_turn(sender, response.get("messages") or [])

    async def add_message(self, sender: str, text: str) -> None:
        """Put a patient's words in the transcript without predicting a reply."""
        await self._post(
            sender,
            f"/conversations/{sender}/messages",
            {"text": text, "sender": "user"},
            params={"token": self.token},
        )

    async def is_ready(self) -> bool:
        """True when every replica is up and has a model loaded."""
        for url in self.base_urls:
            try:
                response = await self.http.get(f"{url}/status", params={"token": self.token})
            except httpx.TransportError:
                return False
            if response.status_code != 200 or not response.json().get("model_file"):
                return False
        return True

    async def _post(  # type: ignore[no-untyped-def]
        self, sender: str, path: str, body: dict[str, Any], params: dict[str, str] | None = None
    ):
        return await self._request("POST", sender, path, body, params)

    async def _get(self, sender: str, path: str, params: dict[str, str]) -> dict[str, Any]:
        found: dict[str, Any] = await self._request("GET", sender, path, None, params)
        return found

    async def _request(  # type: ignore[no-untyped-def]
        self,
        method: str,
        sender: str,
        path: str,
        body: dict[str, Any] | None,
        params: dict[str, str] | None,
    ):
        try:
            async with self._slots:
                response = await self.http.request(
                    method, f"{self.url_for(sender)}{path}", json=body, params=params
                )
        except httpx.TransportError as error:
            raise RasaUnavailable(str(error)) from error
        if response.status_code >= 500:
            raise RasaUnavailable(f"Rasa answered {response.status_code}")
        response.raise_for_status()
        return response.json()

    def _after_turn(self, sender: str, replies: list[dict[str, Any]]) -> list[BotMessage]:
        if any(raw.get("custom") == TURN_FAILED for raw in replies):
            # Nothing of this turn was saved: what it said so far must not reach the patient.
            raise RasaUnavailable("Rasa could not finish the turn")
        messages = [BotMessage.from_rasa(raw) for raw in replies]
        if any(m.custom == ERASE_MARKER for m in messages):
            # Rasa has saved the turn by now, so its events can go for good.
            erased = self.store.erase_tracker(sender, self.tracker_store_url)
            log.info("conversation erased", participant=sender, events=erased)
        return [m for m in messages if m.custom != ERASE_MARKER]


def _turn_of(event: dict[str, Any]) -> str | None:
    """The turn key of a user event: in its metadata (a message), or as an entity (an intent
    triggered by the safety net)."""
    key = (event.get("metadata") or {}).get(TURN_KEY)
    if key is None:
        for entity in (event.get("parse_data") or {}).get("entities") or []:
            if entity.get("entity") == TURN_KEY:
                key = entity.get("value")
    return str(key) if key is not None else None
