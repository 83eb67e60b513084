"""Rasa's REST channel, refusing requests without the shared secret when one is set.

The REST webhook takes any `sender`: whoever reaches it could chat as any patient and read
the replies. With `secret` set (SERVICE_SECRET, through credentials.yml) every request must
carry it in the X-PainCoach-Secret header, or it gets 401 before Rasa sees the message.
The channel keeps the name `rest`, so its URL (/webhooks/rest/webhook) and the gateway's
`output_channel=rest` stay as they are.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

SECRET_HEADER = "X-PainCoach-Secret"  # as in paincoach/settings.py and endpoints.yml


class SecureRestInput(RestInput):
    """The REST channel behind a shared-secret check."""

    def __init__(self, secret: str = "") -> None:
        self.secret = secret or ""

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls(secret=str((credentials or {}).get("secret") or ""))

    def is_authorised(self, request: Request) -> bool:
        """True when no secret is set, or the request carries it (compared in constant time)."""
        if not self.secret:
            return True
        given = request.headers.get(SECRET_HEADER, "")
        return hmac.compare_digest(given.encode(), self.secret.encode())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        webhook = super().blueprint(on_new_message)

        @webhook.middleware("request")
        async def require_secret(request: Request) -> HTTPResponse | None:
            if self.is_authorised(request):
                return None
            return response.json({"error": "missing or wrong shared secret"}, status=401)

        return webhook
