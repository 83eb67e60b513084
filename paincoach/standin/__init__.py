"""A local stand-in for the Telegram Bot API, so the gateway runs offline in tests and demos."""

from paincoach.standin.errors import ApiError
from paincoach.standin.server import DEFAULT_TOKEN, BotApiStandIn
from paincoach.standin.state import CallbackAnswer, ChatAction, Sender, SentMessage, StoredFile

__all__ = [
    "DEFAULT_TOKEN",
    "ApiError",
    "BotApiStandIn",
    "CallbackAnswer",
    "ChatAction",
    "Sender",
    "SentMessage",
    "StoredFile",
]
