"""The Bot API methods a PTB 22 bot uses, implemented against the in-memory `State`."""

import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from paincoach.standin.errors import ApiError, bad_request
from paincoach.standin.formatting import PARSE_MODES, EntityParseError, render, strip_text
from paincoach.standin.media import image_size
from paincoach.standin.params import Params, Upload
from paincoach.standin.state import (
    JSON,
    CallbackAnswer,
    Chat,
    ChatAction,
    SentMessage,
    State,
    StoredFile,
    Webhook,
)

Handler = Callable[[Params], Awaitable[Any]]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
_SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


class BotApi:
    """Dispatches method names (case-insensitive, as on Telegram) to their implementations."""

    def __init__(self, state: State, bot_user: JSON):
        self.state = state
        self.bot_user = bot_user
        table: dict[str, Handler] = {
            "getMe": self.get_me,
            "logOut": self.log_out,
            "close": self.close,
            "getUpdates": self.get_updates,
            "setWebhook": self.set_webhook,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
            "sendMessage": self.send_message,
            "sendPhoto": self.send_photo,
            "sendDocument": self.send_document,
            "sendChatAction": self.send_chat_action,
            "answerCallbackQuery": self.answer_callback_query,
            "editMessageText": self.edit_message_text,
            "editMessageCaption": self.edit_message_caption,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "deleteMessage": self.delete_message,
            "setMyCommands": self.set_my_commands,
            "getMyCommands": self.get_my_commands,
            "deleteMyCommands": self.delete_my_commands,
            "getFile": self.get_file,
        }
        self.methods = {name.lower(): handler for name, handler in table.items()}
        self.names = {name.lower(): name for name in table}

    def canonical_name(self, method: str) -> str | None:
        """The method's registered spelling, or None if the stand-in does not implement it."""
        return self.names.get(method.lower())

    # --- bot identity --------------------------------------------------------------------

    async def get_me(self, p: Params) -> JSON:
        return dict(self.bot_user)

    async def log_out(self, p: Params) -> bool:
        # The cloud server refuses the token for a while after logOut; here until reset().
        self.state.logged_out = True
        return True

    async def close(self, p: Params) -> bool:
        return True

    # --- receiving updates ---------------------------------------------------------------

    async def get_updates(self, p: Params) -> list[JSON]:
        state = self.state
        if state.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        allowed = p.get_json("allowed_updates")
        if allowed is not None and not isinstance(allowed, list):
            raise bad_request("can't parse allowed_updates JSON object")
        state.set_allowed_updates(allowed)
        state.confirm_updates(p.get_int("offset", 0) or 0)
        limit = min(max(p.get_int("limit", 100) or 100, 1), 100)
        timeout = max(p.get_float("timeout", 0.0) or 0.0, 0.0)
        # Telegram lets only one getUpdates run at a time: a newer one ends the older.
        generation = state.end_long_poll("other getUpdates request")

        def ready() -> bool:
            return bool(state.pending_updates) or state.poll_generation != generation

        await state.notifier.wait_for(ready, timeout)
        if state.poll_generation != generation:
            if state.poll_ended_by == "setWebhook request":
                raise ApiError(409, "Conflict: terminated by setWebhook request")
            raise ApiError(
                409,
                f"Conflict: terminated by {state.poll_ended_by}; "
                "make sure that only one bot instance is running",
            )
        if state.webhook is not None:
            return []
        return state.pending_updates[:limit]

    async def set_webhook(self, p: Params) -> bool:
        url = p.get_str("url")
        if url is None:
            raise bad_request('parameter "url" is required')
        if url == "":
            return await self.delete_webhook(p)
        if not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret_token = p.get_str("secret_token")
        if secret_token is not None and not _SECRET_TOKEN_RE.fullmatch(secret_token):
            raise bad_request("secret token contains unallowed characters")
        max_connections = p.get_int("max_connections", 40) or 40
        if not 1 <= max_connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        allowed = p.get_json("allowed_updates")
        if allowed is not None and not isinstance(allowed, list):
            raise bad_request("can't parse allowed_updates JSON object")
        self.state.set_allowed_updates(allowed)
        if p.get_bool("drop_pending_updates"):
            self.state.pending_updates.clear()
        self.state.webhook = Webhook(
            url=url,
            secret_token=secret_token,
            max_connections=max_connections,
            ip_address=p.get_str("ip_address"),
            has_custom_certificate=p.has("certificate"),
        )
        self.state.end_long_poll("setWebhook request")
        return True

    async def delete_webhook(self, p: Params) -> bool:
        self.state.webhook = None
        if p.get_bool("drop_pending_updates"):
            self.state.pending_updates.clear()
        self.state.notifier.notify()
        return True

    async def get_webhook_info(self, p: Params) -> JSON:
        state = self.state
        webhook = state.webhook
        info: JSON = {
            "url": webhook.url if webhook else "",
            "has_custom_certificate": bool(webhook and webhook.has_custom_certificate),
            "pending_update_count": len(state.pending_updates),
        }
        if webhook is not None:
            info["max_connections"] = webhook.max_connections
            if webhook.ip_address:
                info["ip_address"] = webhook.ip_address
            if webhook.last_error_date is not None:
                info["last_error_date"] = webhook.last_error_date
                info["last_error_message"] = webhook.last_error_message
        if state.allowed_updates is not None:
            info["allowed_updates"] = sorted(state.allowed_updates)
        return info

    # --- sending -------------------------------------------------------------------------

    def _chat_for_sending(self, p: Params) -> Chat:
        chat = self.state.chats.get(p.require_chat_id())
        if chat is None:
            raise bad_request("chat not found")
        if chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _formatted(
        self, p: Params, text_key: str, entities_key: str, limit: int, too_long: str
    ) -> tuple[str | None, list[JSON]]:
        raw = p.get_str(text_key)
        if raw is None:
            return None, []
        parse_mode = p.get_str("parse_mode")
        if parse_mode and parse_mode.lower() not in PARSE_MODES:
            raise bad_request("unsupported parse_mode")
        try:
            text, entities = render(raw, parse_mode or None)
        except EntityParseError as exc:
            raise bad_request(f"can't parse entities: {exc}") from None
        explicit = p.get_json(entities_key)
        if explicit and not parse_mode:
            entities = list(explicit)
        text, entities = strip_text(text, entities)
        if len(text) > limit:
            raise bad_request(too_long)
        return text, entities

    def _reply_markup(self, p: Params) -> JSON | None:
        markup = p.get_json("reply_markup", "reply keyboard markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            _check_inline_keyboard(markup["inline_keyboard"])
        elif not any(k in markup for k in ("keyboard", "remove_keyboard", "force_reply")):
            raise bad_request("can't parse reply keyboard markup JSON object")
        return markup

    def _reply_to(self, p: Params, chat: Chat) -> JSON | None:
        reply = p.get_json("reply_parameters")
        if reply is None and p.has("reply_to_message_id"):
            reply = {"message_id": p.get_int("reply_to_message_id")}
        if not isinstance(reply, dict):
            return None
        target = chat.messages.get(int(reply.get("message_id") or 0))
        if target is None:
            if not reply.get("allow_sending_without_reply"):
                raise bad_request("message to be replied not found")
            return None
        # Telegram nests replies only one level deep
        return {k: v for k, v in target.items() if k != "reply_to_message"}

    def _record(
        self,
        p: Params,
        chat: Chat,
        method: str,
        content: JSON,
        *,
        raw_text: str | None,
        file: StoredFile | None = None,
    ) -> JSON:
        """Store a bot message in the chat and return it in Bot API form."""
        markup = self._reply_markup(p)
        reply_to = self._reply_to(p, chat)
        message: JSON = {
            "message_id": chat.allocate_message_id(),
            "from": _bot_as_sender(self.bot_user),
            "chat": chat.to_json(),
            "date": self.state.now(),
        }
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        message.update(content)
        if markup is not None and "inline_keyboard" in markup:
            # only inline keyboards are attached to the message itself
            message["reply_markup"] = markup
        chat.messages[message["message_id"]] = message
        self.state.sent.append(
            SentMessage(
                chat_id=chat.id,
                message_id=message["message_id"],
                date=message["date"],
                method=method,
                message=message,
                raw_text=raw_text,
                parse_mode=p.get_str("parse_mode"),
                reply_markup=markup,
                file=file,
                revision=self.state.next_revision(),
            )
        )
        self.state.notifier.notify()
        return message

    async def send_message(self, p: Params) -> JSON:
        chat = self._chat_for_sending(p)
        text, entities = self._formatted(
            p, "text", "entities", MAX_TEXT_LENGTH, "message is too long"
        )
        if not text:
            raise bad_request("message text is empty")
        content: JSON = {"text": text}
        if entities:
            content["entities"] = entities
        preview = p.get_json("link_preview_options")
        if isinstance(preview, dict) and preview:
            content["link_preview_options"] = preview
        return self._record(p, chat, "sendMessage", content, raw_text=p.get_str("text"))

    def _caption(self, p: Params) -> JSON:
        caption, entities = self._formatted(
            p, "caption", "caption_entities", MAX_CAPTION_LENGTH, "message caption is too long"
        )
        content: JSON = {}
        if caption:
            content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
        return content

    def _file_input(self, p: Params, name: str, kind: str) -> StoredFile:
        value = p.get_file(name)
        if value is None:
            raise bad_request(f"there is no {name} in the request")
        if isinstance(value, Upload):
            if not value.data:
                raise bad_request("file must be non-empty")
            details: JSON = {"filename": value.filename, "mime_type": value.mime_type}
            if kind == "photo":
                size = image_size(value.data)
                if size is None:
                    raise bad_request("IMAGE_PROCESS_FAILED")
                details["width"], details["height"] = size
            return self.state.new_file(kind, value.data, **details)
        known = self.state.files.get(value)
        if known is not None:
            if known.kind != kind and not (kind == "document" and known.kind != "photo"):
                raise bad_request(f"can't use file of type {known.kind.title()} as {kind.title()}")
            return known
        if value.startswith(("http://", "https://")):
            # Telegram would download it; offline we only remember the URL
            return self.state.new_file(kind, None, url=value)
        raise bad_request("wrong file identifier/HTTP URL specified")

    async def send_photo(self, p: Params) -> JSON:
        chat = self._chat_for_sending(p)
        stored = self._file_input(p, "photo", "photo")
        content: JSON = {
            "photo": [
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "width": stored.width,
                    "height": stored.height,
                    "file_size": stored.size,
                }
            ],
            **self._caption(p),
        }
        if p.get_bool("has_media_spoiler"):
            content["has_media_spoiler"] = True
        return self._record(
            p, chat, "sendPhoto", content, raw_text=p.get_str("caption"), file=stored
        )

    async def send_document(self, p: Params) -> JSON:
        chat = self._chat_for_sending(p)
        stored = self._file_input(p, "document", "document")
        document: JSON = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if stored.filename:
            document["file_name"] = stored.filename
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        if stored.data is not None:
            document["file_size"] = stored.size
        content = {"document": document, **self._caption(p)}
        return self._record(
            p, chat, "sendDocument", content, raw_text=p.get_str("caption"), file=stored
        )

    async def send_chat_action(self, p: Params) -> bool:
        chat = self._chat_for_sending(p)
        action = p.get_str("action")
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self.state.chat_actions.append(ChatAction(chat_id=chat.id, action=action, at=time.time()))
        self.state.notifier.notify()
        return True

    # --- callbacks -----------------------------------------------------------------------

    async def answer_callback_query(self, p: Params) -> bool:
        query = self.state.callback_queries.get(p.get_str("callback_query_id") or "")
        if query is None or query.answered:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        text = p.get_str("text")
        if text is not None and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        query.answered = True
        self.state.callback_answers.append(
            CallbackAnswer(
                callback_query_id=query.id,
                chat_id=query.chat_id,
                message_id=query.message_id,
                data=query.data,
                text=text,
                show_alert=p.get_bool("show_alert"),
                url=p.get_str("url"),
                cache_time=p.get_int("cache_time", 0) or 0,
                answered_at=time.time(),
            )
        )
        self.state.notifier.notify()
        return True

    # --- editing -------------------------------------------------------------------------

    def _bot_message(self, p: Params, action: str) -> tuple[Chat, SentMessage]:
        if p.has("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat = self.state.chats.get(p.require_chat_id())
        if chat is None:
            raise bad_request("chat not found")
        message_id = p.require_message_id()
        if message_id not in chat.messages:
            raise bad_request(f"message to {action} not found")
        for sent in self.state.sent:
            if sent.chat_id == chat.id and sent.message_id == message_id and not sent.deleted:
                return chat, sent
        raise bad_request(f"message can't be {action}ed")

    def _apply_edit(self, sent: SentMessage, chat: Chat, content: JSON, p: Params) -> JSON:
        """Replace content and keyboard (omitting reply_markup removes it, as on Telegram)."""
        markup = self._reply_markup(p)
        if markup is not None and "inline_keyboard" not in markup:
            raise bad_request("reply markup must be an inline keyboard")
        message = {k: v for k, v in sent.message.items() if k not in content}
        message.pop("reply_markup", None)
        message.update({k: v for k, v in content.items() if v})
        if markup is not None:
            message["reply_markup"] = markup
        unchanged = {k: v for k, v in sent.message.items() if k != "edit_date"}
        if {k: v for k, v in message.items() if k != "edit_date"} == unchanged:
            raise bad_request(NOT_MODIFIED)
        message["edit_date"] = self.state.now()
        sent.message = message
        sent.reply_markup = markup
        sent.revision = self.state.next_revision()
        chat.messages[sent.message_id] = message
        self.state.notifier.notify()
        return message

    async def edit_message_text(self, p: Params) -> JSON:
        chat, sent = self._bot_message(p, "edit")
        if "text" not in sent.message:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._formatted(
            p, "text", "entities", MAX_TEXT_LENGTH, "message is too long"
        )
        if not text:
            raise bad_request("message text is empty")
        message = self._apply_edit(sent, chat, {"text": text, "entities": entities}, p)
        sent.raw_text, sent.parse_mode = p.get_str("text"), p.get_str("parse_mode")
        return message

    async def edit_message_caption(self, p: Params) -> JSON:
        chat, sent = self._bot_message(p, "edit")
        if sent.file is None:
            raise bad_request("there is no caption in the message to edit")
        content = {"caption": None, "caption_entities": None, **self._caption(p)}
        message = self._apply_edit(sent, chat, content, p)
        sent.raw_text, sent.parse_mode = p.get_str("caption"), p.get_str("parse_mode")
        return message

    async def edit_message_reply_markup(self, p: Params) -> JSON:
        chat, sent = self._bot_message(p, "edit")
        return self._apply_edit(sent, chat, {}, p)

    async def delete_message(self, p: Params) -> bool:
        chat = self.state.chats.get(p.require_chat_id())
        message_id = p.require_message_id()
        if chat is None or chat.messages.pop(message_id, None) is None:
            raise bad_request("message to delete not found")
        for sent in self.state.sent:
            if sent.chat_id == chat.id and sent.message_id == message_id:
                sent.deleted = True
                sent.revision = self.state.next_revision()
        self.state.notifier.notify()
        return True

    # --- commands and files --------------------------------------------------------------

    def _command_key(self, p: Params) -> tuple[str, str]:
        scope = p.get_json("scope") or {"type": "default"}
        if not isinstance(scope, dict) or "type" not in scope:
            raise bad_request("can't parse BotCommandScope JSON object")
        scope_key = ",".join(f"{k}={scope[k]}" for k in sorted(scope))
        return scope_key, p.get_str("language_code") or ""

    async def set_my_commands(self, p: Params) -> bool:
        commands = p.get_json("commands", "commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        cleaned: list[JSON] = []
        for command in commands:
            if not isinstance(command, dict):
                raise bad_request("can't parse BotCommand JSON object")
            name = str(command.get("command", ""))
            description = str(command.get("description", "")).strip()
            if not _COMMAND_NAME_RE.fullmatch(name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        key = self._command_key(p)
        if cleaned:
            self.state.commands[key] = cleaned
        else:
            self.state.commands.pop(key, None)
        return True

    async def get_my_commands(self, p: Params) -> list[JSON]:
        return list(self.state.commands.get(self._command_key(p), []))

    async def delete_my_commands(self, p: Params) -> bool:
        self.state.commands.pop(self._command_key(p), None)
        return True

    async def get_file(self, p: Params) -> JSON:
        stored = self.state.files.get(p.get_str("file_id") or "")
        if stored is None:
            raise bad_request("invalid file_id")
        info: JSON = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if stored.data is not None:
            info["file_size"] = stored.size
            info["file_path"] = stored.file_path
        return info


def _bot_as_sender(bot_user: JSON) -> JSON:
    return {k: bot_user[k] for k in ("id", "is_bot", "first_name", "username")}


def _check_inline_keyboard(rows: Any) -> None:
    """Reject keyboards Telegram would reject, with its error texts."""
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(
            "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
        )
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise bad_request(
                    'can\'t parse inline keyboard button: Field "text" must be of type String'
                )
            if not any(key in button for key in _BUTTON_ACTIONS):
                raise bad_request(
                    "can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard"
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise bad_request("BUTTON_DATA_INVALID")
