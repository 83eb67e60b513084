"""Telegram's limit of about 30 messages a second for a bot, kept in every one-second window.

python-telegram-bot's AIORateLimiter (aiolimiter's leaky bucket) does the waiting, the retries
after a 429 and the per-group limits. Its bucket holds one message, refilled 2 % under the
limit: one message at a time, evenly spaced. A bigger bucket lets replies a moment apart go
at once, but must refill that much slower to keep every second under the limit, and a
reminder fan-out goes at the refill rate (a bucket of two held it to 27.5 a second, 0.84 of
the limit). A moving window (30 in any 1.02 s, sent at once while there is room) kept the
fan-out at the limit but, against the Bot API stand-in, the end of one burst of 30 and the
start of the next arrived less than a second apart and got 429s; a window of 3 in 0.102 s
makes one reply in ten wait up to 100 ms at 11 turns a second, more than even spacing does
(docs/perf/2026-11-26-fan-out.md).
"""

from __future__ import annotations

from typing import Any

from telegram.ext import AIORateLimiter

# What Telegram's 30 a second counts: messages sent. Removing a pressed keyboard or
# answering a button press is not held back behind them (docs/perf/2026-11-26-gateway.md).
MESSAGE_METHODS = frozenset(
    {"sendMessage", "sendPhoto", "sendDocument", "sendAudio", "sendVoice", "sendVideo",
     "sendAnimation", "sendSticker", "sendLocation", "sendContact", "sendMediaGroup"}
)  # fmt: skip
# Telegram counts its seconds on its own clock, after the network: 2 % of slack.
SLACK = 1.02


class MessageRateLimiter(AIORateLimiter):
    """At most `per_second` messages a second, evenly spaced; calls other than sending a
    message go straight through (a RetryAfter on them is handled by the gateway's retries)."""

    def __init__(self, per_second: float) -> None:
        super().__init__(overall_max_rate=1, overall_time_period=SLACK / per_second, max_retries=3)

    async def process_request(  # type: ignore[override]
        self,
        callback: Any,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        if endpoint not in MESSAGE_METHODS:
            return await callback(*args, **kwargs)
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )
