"""The stand-in's in-memory world: chats, users, messages, updates, files and callbacks.

Everything Telegram would remember between calls lives here; the Bot API methods
(`botapi.py`) and the user side (`server.py` helpers, control API) both work on it.
"""

import asyncio
import base64
import contextlib
import hashlib
import itertools
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict, TypeVar

from paincoach.standin.formatting import utf16_len

JSON = dict[str, Any]
T = TypeVar("T")

# Telegram leaves these out unless a bot asks for them explicitly in allowed_updates
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_COMMAND_RE = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w@/])")


class Sender(TypedDict, total=False):
    """Who the user side is; private chats use the chat id as user id."""

    user_id: int
    first_name: str
    last_name: str
    username: str
    language_code: str
    chat_type: str
    chat_title: str


@dataclass
class StoredFile:
    """A file Telegram knows by file_id: uploaded by the bot or sent by a user."""

    file_id: str
    file_unique_id: str
    kind: str
    data: bytes | None
    filename: str | None = None
    mime_type: str | None = None
    url: str | None = None
    width: int = 0
    height: int = 0
    file_path: str | None = None

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else 0


@dataclass
class SentMessage:
    """A message the bot sent, as recorded for tests; `message` is its current Bot API form."""

    chat_id: int
    message_id: int
    date: int
    method: str
    message: JSON
    raw_text: str | None
    parse_mode: str | None
    reply_markup: JSON | None
    file: StoredFile | None = None
    revision: int = 0
    deleted: bool = False

    @property
    def text(self) -> str | None:
        return self.message.get("text")

    @property
    def caption(self) -> str | None:
        return self.message.get("caption")

    @property
    def entities(self) -> list[JSON]:
        return list(self.message.get("entities") or self.message.get("caption_entities") or [])

    @property
    def edit_date(self) -> int | None:
        return self.message.get("edit_date")

    @property
    def photo(self) -> bytes | None:
        return self.file.data if self.file and self.method == "sendPhoto" else None

    @property
    def document(self) -> bytes | None:
        return self.file.data if self.file and self.method == "sendDocument" else None

    @property
    def filename(self) -> str | None:
        return self.file.filename if self.file else None

    @property
    def buttons(self) -> list[JSON]:
        """Inline keyboard buttons, row by row, flattened."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]

    def to_json(self, *, include_bytes: bool = False) -> JSON:
        body: JSON = {
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "date": self.date,
            "method": self.method,
            "text": self.text,
            "caption": self.caption,
            "raw_text": self.raw_text,
            "parse_mode": self.parse_mode,
            "entities": self.entities,
            "reply_markup": self.reply_markup,
            "edit_date": self.edit_date,
            "deleted": self.deleted,
            "revision": self.revision,
            "message": self.message,
            "file": None,
        }
        if self.file is not None:
            data = self.file.data
            body["file"] = {
                "file_id": self.file.file_id,
                "filename": self.file.filename,
                "mime_type": self.file.mime_type,
                "url": self.file.url,
                "size": self.file.size,
                "sha256": hashlib.sha256(data).hexdigest() if data is not None else None,
            }
            if include_bytes and data is not None:
                body["file"]["data_base64"] = base64.b64encode(data).decode()
        return body


@dataclass
class CallbackQuery:
    """A button press sent to the bot, and how the bot answered it."""

    id: str
    chat_id: int
    message_id: int
    data: str
    created_at: float
    answered: bool = False


@dataclass
class CallbackAnswer:
    """One answerCallbackQuery call."""

    callback_query_id: str
    chat_id: int
    message_id: int
    data: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int
    answered_at: float

    def to_json(self) -> JSON:
        return dict(self.__dict__)


@dataclass
class ChatAction:
    """One sendChatAction call."""

    chat_id: int
    action: str
    at: float


@dataclass
class Chat:
    """A chat the stand-in knows because a user wrote from it."""

    id: int
    type: str
    title: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    next_message_id: int = 1
    # every live message in the chat, user's and bot's, in Bot API form
    messages: dict[int, JSON] = field(default_factory=dict)
    blocked: bool = False

    def to_json(self) -> JSON:
        body: JSON = {"id": self.id, "type": self.type}
        for key in ("title", "first_name", "last_name", "username"):
            value = getattr(self, key)
            if value is not None:
                body[key] = value
        return body

    def allocate_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


@dataclass
class Webhook:
    """The webhook configuration set with setWebhook."""

    url: str
    secret_token: str | None
    max_connections: int
    ip_address: str | None
    has_custom_certificate: bool
    last_error_date: int | None = None
    last_error_message: str | None = None


class Notifier:
    """Wakes every waiter on any change: long polls, webhook delivery, test helpers."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.closing = False

    def notify(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, timeout: float) -> None:
        """Wait for the next change or until `timeout` seconds pass."""
        if timeout <= 0 or self.closing:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)

    async def wait_for(self, check: Callable[[], T], timeout: float) -> T:
        """Re-evaluate `check` on every change until it is truthy or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            remaining = deadline - time.monotonic()
            if result or remaining <= 0 or self.closing:
                return result
            await self.wait(remaining)


class State:
    """All of the stand-in's memory; `reset()` forgets everything but the update counter."""

    def __init__(self) -> None:
        self.notifier = Notifier()
        # update ids never restart, so a running bot's confirmed offset stays meaningful; the
        # first is random, as Telegram's is after a quiet week, so that two stand-ins (or a
        # restarted one) do not reuse the ids a bot has already handled
        self._update_ids = itertools.count(secrets.randbelow(1_000_000_000) + 1)
        self._file_ids = itertools.count(1)
        # both only grow, so waiters holding an old value are not confused by reset()
        self.poll_generation = 0
        self.revision = 0
        # why the latest long poll was ended early, for its 409 description
        self.poll_ended_by = "other getUpdates request"
        self.reset()

    def reset(self) -> None:
        self.chats: dict[int, Chat] = {}
        self.users: dict[int, JSON] = {}
        self.pending_updates: list[JSON] = []
        self.allowed_updates: frozenset[str] | None = None
        self.sent: list[SentMessage] = []
        self.files: dict[str, StoredFile] = {}
        self.callback_queries: dict[str, CallbackQuery] = {}
        self.callback_answers: list[CallbackAnswer] = []
        self.chat_actions: list[ChatAction] = []
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.webhook: Webhook | None = None
        self.logged_out = False
        self.notifier.notify()

    def end_long_poll(self, reason: str) -> int:
        """End any waiting getUpdates with a 409 and return the new generation."""
        self.poll_generation += 1
        self.poll_ended_by = reason
        self.notifier.notify()
        return self.poll_generation

    def now(self) -> int:
        return int(time.time())

    def next_revision(self) -> int:
        self.revision += 1
        return self.revision

    # --- updates -------------------------------------------------------------------------

    def set_allowed_updates(self, allowed: list[str] | None) -> None:
        """Telegram keeps the last allowed_updates list; an empty one means the default."""
        if allowed is not None:
            self.allowed_updates = frozenset(allowed) if allowed else None

    def is_allowed(self, kind: str) -> bool:
        if self.allowed_updates is None:
            return kind not in DEFAULT_EXCLUDED_UPDATES
        return kind in self.allowed_updates

    def add_update(self, kind: str, payload: JSON) -> JSON:
        """Create an update; it is queued only if the bot's allowed_updates accept it."""
        update = {"update_id": next(self._update_ids), kind: payload}
        if self.is_allowed(kind):
            self.pending_updates.append(update)
        self.notifier.notify()
        return update

    def confirm_updates(self, offset: int) -> None:
        """Apply getUpdates' offset: positive confirms older ids, negative keeps the tail."""
        if offset > 0:
            self.pending_updates = [u for u in self.pending_updates if u["update_id"] >= offset]
        elif offset < 0:
            self.pending_updates = self.pending_updates[offset:]

    # --- the user side -------------------------------------------------------------------

    def user_chat(self, chat_id: int, sender: Sender) -> tuple[JSON, Chat]:
        """Find or create the user and chat a user-side action comes from."""
        user_id = sender.get("user_id", chat_id)
        chat_type = sender.get("chat_type") or ("private" if chat_id > 0 else "group")
        if chat_type == "private" and user_id != chat_id:
            raise ValueError("in a private chat the user id is the chat id")
        user = self.users.setdefault(
            user_id, {"id": user_id, "is_bot": False, "first_name": "Test"}
        )
        for key in ("first_name", "last_name", "username", "language_code"):
            if key in sender:
                user[key] = sender[key]  # type: ignore[literal-required]
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = self.chats[chat_id] = Chat(id=chat_id, type=chat_type)
        if chat.type == "private":
            chat.first_name = user["first_name"]
            chat.last_name = user.get("last_name")
            chat.username = user.get("username")
        elif "chat_title" in sender or chat.title is None:
            chat.title = sender.get("chat_title", "Test group")
        return dict(user), chat

    def user_message(self, chat_id: int, sender: Sender, content: JSON) -> JSON:
        """Record a new message from the user and queue the `message` update."""
        user, chat = self.user_chat(chat_id, sender)
        message: JSON = {
            "message_id": chat.allocate_message_id(),
            "from": user,
            "chat": chat.to_json(),
            "date": self.now(),
            **content,
        }
        chat.messages[message["message_id"]] = message
        return self.add_update("message", message)

    def new_file(self, kind: str, data: bytes | None, **details: Any) -> StoredFile:
        """Register a file under a fresh file_id, as Telegram does for every upload."""
        number = next(self._file_ids)
        extension = {"photo": "jpg", "voice": "oga", "sticker": "webp"}.get(kind, "bin")
        filename = details.get("filename")
        if filename and "." in filename:
            extension = filename.rsplit(".", 1)[1]
        stored = StoredFile(
            file_id=f"{kind[:2].upper()}AC{number:06d}{secrets.token_hex(8)}",
            file_unique_id=f"AQAD{number:06d}",
            kind=kind,
            data=data,
            file_path=f"{kind}s/file_{number}.{extension}" if data is not None else None,
            **details,
        )
        self.files[stored.file_id] = stored
        return stored


def bot_command_entities(text: str) -> list[JSON]:
    """The bot_command entities Telegram's clients attach to a user's text."""
    return [
        {
            "type": "bot_command",
            "offset": utf16_len(text[: match.start()]),
            "length": utf16_len(match.group()),
        }
        for match in _COMMAND_RE.finditer(text)
    ]
