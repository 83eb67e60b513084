"""The JSON control API under /control/: play the user and watch the bot from outside.

Used by the terminal chat and the benchmark, which run in other processes. Every answer is
`{"ok": true, "result": ...}` or `{"ok": false, "error": "..."}` with a 4xx status.
"""

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from paincoach.standin.state import JSON, Sender

if TYPE_CHECKING:
    from paincoach.standin.server import BotApiStandIn

MAX_WAIT_SECONDS = 60.0
_SENDER_FIELDS = {
    "user_id": int,
    "first_name": str,
    "last_name": str,
    "username": str,
    "language_code": str,
    "chat_type": str,
    "chat_title": str,
}


class ControlError(Exception):
    """A control request the stand-in cannot carry out."""


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _field(body: JSON, name: str, kind: type, default: Any = ...) -> Any:
    value = body.get(name, default)
    if value is ...:
        raise ControlError(f"{name} is required")
    if value is not None and value is not default and not isinstance(value, kind):
        if kind is float and isinstance(value, int):
            return float(value)
        raise ControlError(f"{name} must be {kind.__name__}")
    return value


def _sender(body: JSON) -> Sender:
    sender: dict[str, Any] = {}
    for name, kind in _SENDER_FIELDS.items():
        if body.get(name) is not None:
            sender[name] = _field(body, name, kind)
    return Sender(**sender)  # type: ignore[typeddict-item]


def _query_number(request: web.Request, name: str, default: float) -> float:
    try:
        return float(request.query.get(name, default))
    except ValueError:
        raise ControlError(f"{name} must be a number") from None


def add_control_routes(app: web.Application, standin: "BotApiStandIn") -> None:
    """Register the /control/ endpoints for `standin` on `app`."""
    control = ControlApi(standin)
    routes: list[tuple[str, str, Callable[[web.Request], Awaitable[web.Response]]]] = [
        ("GET", "/control/state", control.get_state),
        ("POST", "/control/messages", control.post_message),
        ("POST", "/control/commands", control.post_command),
        ("POST", "/control/media", control.post_media),
        ("POST", "/control/edits", control.post_edit),
        ("POST", "/control/callbacks", control.post_callback),
        ("POST", "/control/block", control.post_block),
        ("GET", "/control/chats/{chat_id}/messages", control.get_messages),
        ("GET", "/control/chats/{chat_id}/actions", control.get_actions),
        ("GET", "/control/changes", control.get_changes),
        ("GET", "/control/callback_answers", control.get_callback_answers),
        ("GET", "/control/bot_commands", control.get_bot_commands),
        ("GET", "/control/updates", control.get_updates),
        ("POST", "/control/faults", control.post_fault),
        ("DELETE", "/control/faults", control.delete_faults),
        ("POST", "/control/rate_limit", control.post_rate_limit),
        ("POST", "/control/latency", control.post_latency),
        ("GET", "/control/stats", control.get_stats),
        ("POST", "/control/reset", control.post_reset),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, _guarded(handler))


def _guarded(
    handler: Callable[[web.Request], Awaitable[web.Response]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Turn bad input into a 400 and unknown targets into a 404, both as JSON."""

    async def wrapper(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except LookupError as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=404)
        except (ControlError, ValueError) as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=400)

    return wrapper


class ControlApi:
    """Handlers translating JSON requests into `BotApiStandIn` helper calls."""

    def __init__(self, standin: "BotApiStandIn"):
        self.standin = standin

    async def _body(self, request: web.Request) -> JSON:
        if not request.body_exists:
            return {}
        try:
            body = await request.json()
        except ValueError:
            raise ControlError("the body must be JSON") from None
        if not isinstance(body, dict):
            raise ControlError("the body must be a JSON object")
        return body

    def _chat_id(self, request: web.Request) -> int:
        try:
            return int(request.match_info["chat_id"])
        except ValueError:
            raise ControlError("chat_id must be an integer") from None

    def _wait(self, request: web.Request) -> float:
        return min(max(_query_number(request, "wait", 0.0), 0.0), MAX_WAIT_SECONDS)

    async def get_state(self, request: web.Request) -> web.Response:
        state = self.standin.state
        webhook = state.webhook
        return _ok(
            {
                "bot": self.standin.bot_user,
                "base_url": self.standin.base_url,
                "webhook": webhook.url if webhook else None,
                "pending_updates": len(state.pending_updates),
                "chats": [chat.to_json() for chat in state.chats.values()],
                "revision": state.revision,
            }
        )

    async def post_message(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        update = self.standin.user_says(
            _field(body, "chat_id", int),
            _field(body, "text", str),
            reply_to=_field(body, "reply_to", int, None),
            **_sender(body),
        )
        return _ok(update)

    async def post_command(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        update = self.standin.send_command(
            _field(body, "chat_id", int),
            _field(body, "command", str),
            _field(body, "args", str, ""),
            **_sender(body),
        )
        return _ok(update)

    async def post_media(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        data = None
        encoded = _field(body, "data_base64", str, None)
        if encoded is not None:
            try:
                data = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                raise ControlError("data_base64 is not base64") from None
        options = {
            name: _field(body, name, kind)
            for name, kind in (
                ("caption", str),
                ("filename", str),
                ("mime_type", str),
                ("emoji", str),
                ("duration", int),
                ("latitude", float),
                ("longitude", float),
                ("phone_number", str),
                ("reply_to", int),
            )
            if body.get(name) is not None
        }
        update = self.standin.user_sends(
            _field(body, "chat_id", int),
            _field(body, "kind", str),
            data=data,
            **options,
            **_sender(body),
        )
        return _ok(update)

    async def post_edit(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        update = self.standin.edit_user_message(
            _field(body, "chat_id", int), _field(body, "message_id", int), _field(body, "text", str)
        )
        return _ok(update)

    async def post_callback(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        update = self.standin.press_button(
            _field(body, "chat_id", int),
            _field(body, "message_id", int),
            _field(body, "data", str, None),
            button_text=_field(body, "button_text", str, None),
            forge=bool(_field(body, "forge", bool, False)),
            **_sender(body),
        )
        return _ok(update)

    async def post_block(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        update = self.standin.block_bot(
            _field(body, "chat_id", int), bool(_field(body, "blocked", bool, True)), **_sender(body)
        )
        return _ok(update)

    async def get_messages(self, request: web.Request) -> web.Response:
        """Bot messages in a chat with id > `after`; `wait` long-polls for `count` of them."""
        chat_id = self._chat_id(request)
        after = int(_query_number(request, "after", 0))
        count = int(_query_number(request, "count", 1))
        include_bytes = request.query.get("include_bytes", "").lower() in ("1", "true", "yes")
        messages = await self.standin.wait_for_bot_messages(
            chat_id, after=after, count=count, timeout=self._wait(request)
        )
        return _ok([m.to_json(include_bytes=include_bytes) for m in messages])

    async def get_changes(self, request: web.Request) -> web.Response:
        """Bot messages sent, edited or deleted since revision `since` (long-polls `wait`)."""
        chat = request.query.get("chat_id")
        try:
            chat_id = int(chat) if chat else None
        except ValueError:
            raise ControlError("chat_id must be an integer") from None
        since = int(_query_number(request, "since", 0))
        changed = await self.standin.wait_for_changes(
            chat_id, since_revision=since, timeout=self._wait(request)
        )
        return _ok({"revision": self.standin.revision, "messages": [m.to_json() for m in changed]})

    async def get_actions(self, request: web.Request) -> web.Response:
        actions = self.standin.chat_actions(self._chat_id(request))
        return _ok([{"action": a.action, "at": a.at} for a in actions])

    async def get_callback_answers(self, request: web.Request) -> web.Response:
        query_id = request.query.get("callback_query_id")
        if query_id:
            answer = await self.standin.wait_for_callback_answer(query_id, self._wait(request))
            return _ok([answer.to_json()] if answer else [])
        return _ok([a.to_json() for a in self.standin.callback_answers()])

    async def get_bot_commands(self, request: web.Request) -> web.Response:
        """The commands the bot registered with setMyCommands (default scope)."""
        return _ok(self.standin.commands())

    async def get_updates(self, request: web.Request) -> web.Response:
        return _ok(self.standin.pending_updates())

    async def post_fault(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        self.standin.inject_fault(
            _field(body, "method", str),
            _field(body, "count", int, 1),
            error_code=_field(body, "error_code", int, 429),
            retry_after=_field(body, "retry_after", int, 1),
            description=_field(body, "description", str, None),
        )
        return _ok(True)

    async def delete_faults(self, request: web.Request) -> web.Response:
        self.standin.clear_faults()
        return _ok(True)

    async def post_rate_limit(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        self.standin.set_rate_limit(
            _field(body, "messages_per_second", int, None),
            _field(body, "per_chat_per_second", int, None),
        )
        return _ok(True)

    async def post_latency(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        seconds = _field(body, "seconds", float)
        if seconds < 0:
            raise ControlError("seconds must not be negative")
        self.standin.latency = seconds
        return _ok(True)

    async def get_stats(self, request: web.Request) -> web.Response:
        return _ok(self.standin.stats())

    async def post_reset(self, request: web.Request) -> web.Response:
        self.standin.reset()
        return _ok(True)
