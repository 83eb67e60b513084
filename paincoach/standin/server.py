"""`BotApiStandIn`: a local Telegram Bot API server for tests, benchmarks and offline demos.

PTB talks to it over real HTTP (`Bot(token, base_url=standin.base_url,
base_file_url=standin.base_file_url)`); tests play the user through the helpers below or
through the JSON control API under /control/.
"""

import asyncio
import hashlib
import logging
import math
import re
import secrets
import time
import zlib
from collections import Counter, deque
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, Unpack

from aiohttp import web

from paincoach.standin.botapi import BotApi
from paincoach.standin.control import add_control_routes
from paincoach.standin.errors import ApiError, server_error, too_many_requests
from paincoach.standin.media import image_size
from paincoach.standin.params import Params, not_found, read_request
from paincoach.standin.state import (
    JSON,
    CallbackAnswer,
    CallbackQuery,
    ChatAction,
    Sender,
    SentMessage,
    State,
    StoredFile,
    Webhook,
    bot_command_entities,
)
from paincoach.standin.webhook import deliver_forever

logger = logging.getLogger(__name__)

DEFAULT_TOKEN = "123456789:AAStandInTokenForLocalTestsOnly_0000"
# Telegram allows 50 MB uploads; a little headroom for the multipart envelope
MAX_UPLOAD_BYTES = 52 * 1024 * 1024
# the message-creating methods Telegram's flood control counts
SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument"})
USER_MESSAGE_KINDS = ("sticker", "voice", "photo", "document", "location", "contact")
_TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]{30,}")


def _tiny_png() -> bytes:
    """A valid 1x1 PNG, the default picture a test user sends."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body).to_bytes(4, "big")
        return len(body).to_bytes(4, "big") + kind + body + crc

    header = (1).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


# stand-in bytes so getFile works for stickers and voice notes a test did not provide
_PLACEHOLDER_FILES = {
    # a VP8X header declaring 512x512
    "sticker": b"RIFF\x1a\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00" + bytes(4) + b"\xff\x01\x00" * 2,
    "voice": b"OggS\x00\x02" + bytes(20),
    "document": b"%PDF-1.4\n% stand-in document\n",
}


@dataclass
class Fault:
    """One injected failure for the next call of a method."""

    error_code: int
    retry_after: int
    description: str | None

    def error(self) -> ApiError:
        if self.error_code == 429:
            return too_many_requests(self.retry_after)
        if self.description is not None:
            return ApiError(self.error_code, self.description)
        return server_error(self.error_code)


class BotApiStandIn:
    """A Telegram Bot API stand-in served by aiohttp; also an async context manager."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "paincoach_standin_bot",
        bot_first_name: str = "PainCoach",
        messages_per_second: int | None = None,
        per_chat_per_second: int | None = None,
        latency: float = 0.0,
    ):
        self.token = token
        bot_id = token.split(":", 1)[0]
        self.bot_user: JSON = {
            "id": int(bot_id) if bot_id.isdigit() else 1000,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.state = State()
        self.api = BotApi(self.state, self.bot_user)
        self.latency = latency
        self.messages_per_second = messages_per_second
        self.per_chat_per_second = per_chat_per_second
        self._faults: dict[str, deque[Fault]] = {}
        self._sent_times: deque[float] = deque()
        self._sent_times_by_chat: dict[int, deque[float]] = {}
        self._calls: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._send_count = 0
        self._first_send: float | None = None
        self._last_send: float | None = None
        self._host = "127.0.0.1"
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._webhook_task: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Bind and serve; port 0 picks a free port (see `.port`)."""
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_bot_api)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        add_control_routes(app, self)
        # no access log: request paths carry the bot token
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self._host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
        self._port = int(self._runner.addresses[0][1])
        self.state.notifier.closing = False
        self._webhook_task = asyncio.create_task(deliver_forever(self.state))
        logger.info("Bot API stand-in listening on %s", self.url)

    async def stop(self) -> None:
        """Wake every long poll, stop webhook delivery and close the server."""
        self.state.notifier.closing = True
        self.state.notifier.notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            await asyncio.gather(self._webhook_task, return_exceptions=True)
            self._webhook_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the stand-in is not started")
        return self._port

    @property
    def url(self) -> str:
        """Root URL, e.g. for the control API: f"{standin.url}/control/stats"."""
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For PTB's `base_url`: PTB appends the token, then `/<method>`."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """For PTB's `base_file_url`: PTB appends the token, then `/<file_path>`."""
        return f"{self.url}/file/bot"

    # --- Bot API over HTTP ---------------------------------------------------------------

    async def _handle_bot_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            result = await self._call(request, method)
        except ApiError as exc:
            self._errors[str(exc.error_code)] += 1
            return web.json_response(exc.to_json(), status=exc.error_code)
        return web.json_response({"ok": True, "result": result})

    async def _call(self, request: web.Request, method: str) -> Any:
        self._check_token(request.match_info["token"])
        if self.latency:
            await asyncio.sleep(self.latency)
        try:
            raw = await read_request(request)
        except web.HTTPRequestEntityTooLarge:
            raise ApiError(413, "Request Entity Too Large") from None
        name = self.api.canonical_name(method)
        self._calls[name or method] += 1
        if name is None:
            raise not_found()
        params = Params(raw)
        self._take_fault(name)
        if name in SEND_METHODS:
            self._check_rate_limit(params)
        result = await self.api.methods[name.lower()](params)
        if name in SEND_METHODS:
            self._count_send(params)
        return result

    def _check_token(self, token: str) -> None:
        if token == self.token and not self.state.logged_out:
            return
        if token == self.token or _TOKEN_RE.fullmatch(token):
            raise ApiError(401, "Unauthorized")
        # Telegram answers a malformed token with a bare 404
        raise ApiError(404, "Not Found")

    def _take_fault(self, method: str) -> None:
        for key in (method.lower(), "*"):
            queue = self._faults.get(key)
            if queue:
                raise queue.popleft().error()

    def _check_rate_limit(self, params: Params) -> None:
        now = time.monotonic()
        windows: list[tuple[deque[float], int | None]] = [
            (self._sent_times, self.messages_per_second)
        ]
        chat_id = params.get_str("chat_id")
        if chat_id is not None and chat_id.lstrip("-").isdigit():
            chat_window = self._sent_times_by_chat.setdefault(int(chat_id), deque())
            windows.append((chat_window, self.per_chat_per_second))
        for window, limit in windows:
            while window and window[0] <= now - 1.0:
                window.popleft()
            if limit is not None and len(window) >= limit:
                raise too_many_requests(max(1, math.ceil(window[0] + 1.0 - now)))

    def _count_send(self, params: Params) -> None:
        now = time.monotonic()
        self._sent_times.append(now)
        chat_id = params.get_str("chat_id")
        if chat_id is not None and chat_id.lstrip("-").isdigit():
            self._sent_times_by_chat.setdefault(int(chat_id), deque()).append(now)
        self._send_count += 1
        self._first_send = self._first_send or now
        self._last_send = now

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        wanted = request.match_info["file_path"]
        for stored in self.state.files.values():
            if stored.file_path == wanted and stored.data is not None:
                return web.Response(
                    body=stored.data, content_type=stored.mime_type or "application/octet-stream"
                )
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )

    # --- faults, rate limits, statistics -------------------------------------------------

    def inject_fault(
        self,
        method: str,
        count: int = 1,
        *,
        error_code: int = 429,
        retry_after: int = 1,
        description: str | None = None,
    ) -> None:
        """Make the next `count` calls of `method` ("*" = any method) fail with `error_code`."""
        queue = self._faults.setdefault(method.lower(), deque())
        queue.extend(Fault(error_code, retry_after, description) for _ in range(count))

    def clear_faults(self) -> None:
        self._faults.clear()

    def set_rate_limit(
        self, messages_per_second: int | None = None, per_chat_per_second: int | None = None
    ) -> None:
        """Answer 429 when sends exceed these limits within any one second (None = no limit)."""
        self.messages_per_second = messages_per_second
        self.per_chat_per_second = per_chat_per_second

    def stats(self) -> JSON:
        """Call counts, error counts and the achieved send rate, for benchmarks."""
        rate = None
        if self._send_count > 1 and self._first_send and self._last_send:
            elapsed = self._last_send - self._first_send
            rate = (self._send_count - 1) / elapsed if elapsed > 0 else None
        return {
            "calls": dict(self._calls),
            "errors": dict(self._errors),
            "messages_sent": self._send_count,
            "send_rate_per_second": rate,
            "pending_updates": len(self.state.pending_updates),
        }

    def reset(self) -> None:
        """Forget chats, messages, updates, webhook, faults and statistics."""
        self.state.reset()
        self._faults.clear()
        self._sent_times.clear()
        self._sent_times_by_chat.clear()
        self._calls.clear()
        self._errors.clear()
        self._send_count = 0
        self._first_send = self._last_send = None

    # --- the user side -------------------------------------------------------------------

    def user_says(
        self, chat_id: int, text: str, *, reply_to: int | None = None, **sender: Unpack[Sender]
    ) -> JSON:
        """A user writes `text`; returns the queued `message` update."""
        if not text.strip():
            raise ValueError("a Telegram message needs text")
        content: JSON = {"text": text}
        entities = bot_command_entities(text)
        if entities:
            content["entities"] = entities
        return self.state.user_message(
            chat_id, sender, self._with_reply(chat_id, reply_to, content)
        )

    def send_command(
        self, chat_id: int, command: str, args: str = "", **sender: Unpack[Sender]
    ) -> JSON:
        """A user sends `/command args` (e.g. `/start CODE`), with its bot_command entity."""
        text = f"/{command.lstrip('/')}" + (f" {args}" if args else "")
        return self.user_says(chat_id, text, **sender)

    def user_sends(
        self,
        chat_id: int,
        kind: str,
        *,
        data: bytes | None = None,
        caption: str | None = None,
        filename: str | None = None,
        mime_type: str | None = None,
        emoji: str = "🙂",
        duration: int = 2,
        latitude: float = 52.52,
        longitude: float = 13.405,
        phone_number: str = "+10000000000",
        reply_to: int | None = None,
        **sender: Unpack[Sender],
    ) -> JSON:
        """A user sends a sticker, voice, photo, document, location or contact."""
        if kind not in USER_MESSAGE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(USER_MESSAGE_KINDS)}")
        content: JSON
        if kind in ("location", "contact"):
            if kind == "location":
                content = {"location": {"latitude": latitude, "longitude": longitude}}
            else:
                user_id = sender.get("user_id", chat_id)
                first_name = sender.get("first_name") or self.state.users.get(user_id, {}).get(
                    "first_name", "Test"
                )
                content = {
                    "contact": {
                        "phone_number": phone_number,
                        "first_name": first_name,
                        "user_id": user_id,
                    }
                }
        else:
            content = self._user_file(kind, data, filename, mime_type, emoji, duration)
            if caption and kind in ("photo", "document"):
                content["caption"] = caption
        return self.state.user_message(
            chat_id, sender, self._with_reply(chat_id, reply_to, content)
        )

    def _user_file(
        self,
        kind: str,
        data: bytes | None,
        filename: str | None,
        mime_type: str | None,
        emoji: str,
        duration: int,
    ) -> JSON:
        if data is None:
            data = _tiny_png() if kind == "photo" else _PLACEHOLDER_FILES[kind]
        defaults = {
            "photo": (None, "image/png"),
            "document": ("document.pdf", "application/pdf"),
            "voice": (None, "audio/ogg"),
            "sticker": (None, "image/webp"),
        }
        filename = filename or defaults[kind][0]
        mime_type = mime_type or defaults[kind][1]
        width, height = image_size(data) or (512, 512)
        stored = self.state.new_file(
            kind, data, filename=filename, mime_type=mime_type, width=width, height=height
        )
        base: JSON = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
        }
        if kind == "photo":
            return {"photo": [{**base, "width": width, "height": height}]}
        if kind == "document":
            return {"document": {**base, "file_name": filename, "mime_type": mime_type}}
        if kind == "voice":
            return {"voice": {**base, "duration": duration, "mime_type": mime_type}}
        return {
            "sticker": {
                **base,
                "type": "regular",
                "width": width,
                "height": height,
                "is_animated": False,
                "is_video": False,
                "emoji": emoji,
            }
        }

    def _with_reply(self, chat_id: int, reply_to: int | None, content: JSON) -> JSON:
        if reply_to is None:
            return content
        chat = self.state.chats.get(chat_id)
        target = chat.messages.get(reply_to) if chat else None
        if target is None:
            raise LookupError(f"message {reply_to} is not in chat {chat_id}")
        shallow = {k: v for k, v in target.items() if k != "reply_to_message"}
        return {**content, "reply_to_message": shallow}

    def edit_user_message(self, chat_id: int, message_id: int, text: str) -> JSON:
        """The user edits one of their text messages; returns the `edited_message` update."""
        chat = self.state.chats.get(chat_id)
        message = chat.messages.get(message_id) if chat else None
        if chat is None or message is None or message["from"].get("is_bot"):
            raise LookupError(f"no user message {message_id} in chat {chat_id}")
        if "text" not in message:
            raise ValueError("only text messages can be edited here")
        edited = {k: v for k, v in message.items() if k != "entities"}
        edited.update(text=text, edit_date=self.state.now())
        entities = bot_command_entities(text)
        if entities:
            edited["entities"] = entities
        chat.messages[message_id] = edited
        return self.state.add_update("edited_message", edited)

    def press_button(
        self,
        chat_id: int,
        message_id: int,
        data: str | None = None,
        *,
        button_text: str | None = None,
        forge: bool = False,
        **sender: Unpack[Sender],
    ) -> JSON:
        """The user taps an inline button of a bot message; returns the `callback_query` update.

        Pick the button by `data` or by `button_text`. `forge=True` sends `data` even if no
        such button exists (a stale or tampered client), which Telegram itself would refuse.
        """
        sent = self._live_sent_message(chat_id, message_id)
        buttons = sent.buttons if sent else []
        if button_text is not None:
            matches = [b for b in buttons if b.get("text") == button_text]
            if not matches or "callback_data" not in matches[0]:
                raise LookupError(f"no callback button {button_text!r} on message {message_id}")
            data = matches[0]["callback_data"]
        if data is None:
            raise ValueError("give the button's data or its text")
        if not forge and data not in [b.get("callback_data") for b in buttons]:
            raise LookupError(f"no button with data {data!r} on message {message_id}")
        user, chat = self.state.user_chat(chat_id, sender)
        query_id = str(secrets.randbits(62))
        digest = hashlib.sha256(f"{self.token}:{chat_id}".encode()).digest()
        query: JSON = {
            "id": query_id,
            "from": user,
            "chat_instance": str(int.from_bytes(digest[:7], "big")),
            "data": data,
        }
        if sent is not None:
            query["message"] = sent.message
        else:
            # what Telegram sends for a message the bot can no longer see
            query["message"] = {"chat": chat.to_json(), "message_id": message_id, "date": 0}
        self.state.callback_queries[query_id] = CallbackQuery(
            id=query_id,
            chat_id=chat_id,
            message_id=message_id,
            data=data,
            created_at=time.time(),
        )
        return self.state.add_update("callback_query", query)

    def _live_sent_message(self, chat_id: int, message_id: int) -> SentMessage | None:
        for sent in self.state.sent:
            if sent.chat_id == chat_id and sent.message_id == message_id and not sent.deleted:
                return sent
        return None

    def block_bot(self, chat_id: int, blocked: bool = True, **sender: Unpack[Sender]) -> JSON:
        """The user blocks (or unblocks) the bot: sends then fail with 403, as on Telegram."""
        user, chat = self.state.user_chat(chat_id, sender)
        chat.blocked = blocked
        bot = {k: self.bot_user[k] for k in ("id", "is_bot", "first_name", "username")}
        member = {"user": bot, "status": "member"}
        kicked = {"user": bot, "status": "kicked", "until_date": 0}
        return self.state.add_update(
            "my_chat_member",
            {
                "chat": chat.to_json(),
                "from": user,
                "date": self.state.now(),
                "old_chat_member": member if blocked else kicked,
                "new_chat_member": kicked if blocked else member,
            },
        )

    # --- what the bot did ----------------------------------------------------------------

    def sent_messages(self, chat_id: int | None = None, *, after: int = 0) -> list[SentMessage]:
        """Messages the bot sent (to one chat, or all), oldest first, with id > `after`."""
        return [
            sent
            for sent in self.state.sent
            if (chat_id is None or sent.chat_id == chat_id) and sent.message_id > after
        ]

    async def wait_for_bot_messages(
        self, chat_id: int, *, after: int = 0, count: int = 1, timeout: float = 5.0
    ) -> list[SentMessage]:
        """Wait until the bot has sent `count` messages with id > `after` (or time runs out).

        Returns what is there at that moment, possibly fewer than `count`.
        """
        await self.state.notifier.wait_for(
            lambda: len(self.sent_messages(chat_id, after=after)) >= count, timeout
        )
        return self.sent_messages(chat_id, after=after)

    async def wait_for_changes(
        self, chat_id: int | None = None, *, since_revision: int = 0, timeout: float = 5.0
    ) -> list[SentMessage]:
        """Bot messages sent, edited or deleted after `since_revision` (see `.revision`)."""

        def changed() -> list[SentMessage]:
            return [s for s in self.sent_messages(chat_id) if s.revision > since_revision]

        return await self.state.notifier.wait_for(changed, timeout)

    @property
    def revision(self) -> int:
        """A counter bumped by every bot send, edit and delete."""
        return self.state.revision

    def callback_answers(self) -> list[CallbackAnswer]:
        return list(self.state.callback_answers)

    async def wait_for_callback_answer(
        self, callback_query_id: str, timeout: float = 5.0
    ) -> CallbackAnswer | None:
        def answer() -> CallbackAnswer | None:
            for item in self.state.callback_answers:
                if item.callback_query_id == callback_query_id:
                    return item
            return None

        return await self.state.notifier.wait_for(answer, timeout)

    def chat_actions(self, chat_id: int | None = None) -> list[ChatAction]:
        return [a for a in self.state.chat_actions if chat_id is None or a.chat_id == chat_id]

    def pending_updates(self) -> list[JSON]:
        return list(self.state.pending_updates)

    @property
    def webhook(self) -> Webhook | None:
        return self.state.webhook

    def commands(self, scope: str = "type=default", language_code: str = "") -> list[JSON]:
        return list(self.state.commands.get((scope, language_code), []))

    def file(self, file_id: str) -> StoredFile | None:
        return self.state.files.get(file_id)
