"""How a turn's replies become Telegram messages: consecutive texts merged into one, sent
within Telegram's limit of messages a second."""

from __future__ import annotations

import asyncio
import time

from telegram.error import BadRequest, TelegramError
from telegram.ext import ExtBot

from paincoach.gateway.core import remove_keyboard
from paincoach.gateway.limits import MessageRateLimiter
from paincoach.gateway.render import merged
from paincoach.rasa_client import BotMessage, Button
from paincoach.standin import BotApiStandIn

YES_NO = (Button("Yes", "/affirm"), Button("No", "/deny"))


def test_a_turns_texts_become_one_message_with_the_buttons_under_the_last() -> None:
    replies = [
        BotMessage("Thanks, saved."),
        BotMessage("That's a little better than your week so far."),
        BotMessage("Would you like an exercise?", YES_NO),
    ]

    assert merged(replies) == [
        BotMessage(
            "Thanks, saved.\n\nThat's a little better than your week so far.\n\n"
            "Would you like an exercise?",
            YES_NO,
        )
    ]


def test_text_after_buttons_starts_a_new_message() -> None:
    """Buttons stay under the text they answer, so nothing is added below them."""
    replies = [BotMessage("Pick one", YES_NO), BotMessage("Or tell me in your own words.")]

    assert merged(replies) == replies


def test_photos_and_custom_payloads_keep_their_place() -> None:
    chart = BotMessage(custom={"paincoach": "progress_chart"})
    photo = BotMessage(image="https://example.org/breathing.png")
    replies = [
        BotMessage("Here is your week."),
        chart,
        BotMessage("Your pain came down."),
        BotMessage("Keep it up."),
        photo,
        BotMessage("Breathe in for four."),
    ]

    assert merged(replies) == [
        BotMessage("Here is your week."),
        chart,
        BotMessage("Your pain came down.\n\nKeep it up."),
        photo,
        BotMessage("Breathe in for four."),
    ]


def test_no_message_grows_past_telegrams_limit_counted_as_telegram_counts() -> None:
    """4,096 UTF-16 code units: an emoji counts two."""
    long = "🙂" * 1500  # 3,000 units
    replies = [BotMessage(long), BotMessage("x" * 1094), BotMessage("y")]

    assert [len((m.text or "").encode("utf-16-le")) // 2 for m in merged(replies)] == [
        3000 + 2 + 1094,
        1,
    ]


def test_nothing_to_merge() -> None:
    assert merged([]) == []
    assert merged([BotMessage("Hello")]) == [BotMessage("Hello")]


async def test_the_limiter_keeps_every_one_second_window_and_sends_at_the_limit() -> None:
    """90 messages at once (a fan-out) go at the limit and no faster: the stand-in answers 429
    to a 31st message in any one second. Two replies a moment apart go one slot apart."""
    async with BotApiStandIn() as standin:
        chats = range(1000, 1090)
        for chat_id in (1, 2, *chats):
            standin.user_says(chat_id, "hi")
        standin.set_rate_limit(messages_per_second=30)
        bot: ExtBot[None] = ExtBot(
            standin.token, base_url=standin.base_url, rate_limiter=MessageRateLimiter(30)
        )
        async with bot:
            await bot.send_message(1, "connected")  # the connections are open
            await asyncio.sleep(1.1)
            started = time.perf_counter()
            await asyncio.gather(*(bot.send_message(chat_id, "reply") for chat_id in (1, 2)))
            two = time.perf_counter() - started
            await asyncio.sleep(1.1)

            started = time.perf_counter()
            await asyncio.gather(*(bot.send_message(chat_id, "reminder") for chat_id in chats))
            ninety = time.perf_counter() - started

    assert 0.03 < two < 0.2  # one 34 ms slot apart
    assert standin.stats()["errors"] == {}  # not one 429
    assert 2.9 < ninety < 3.3  # 30 a second, 2 % under


async def test_a_keyboard_that_cannot_be_removed_does_not_stop_the_turn() -> None:
    """remove_keyboard runs beside the coach's answer: its failure is logged, never raised."""

    class Gone:
        def __init__(self, error: Exception) -> None:
            self.error, self.calls = error, 0

        async def edit_reply_markup(self, reply_markup: object = None) -> None:
            self.calls += 1
            raise self.error

    for error in (BadRequest("Message is not modified"), TelegramError("Bad Gateway")):
        message = Gone(error)
        await remove_keyboard(message)  # type: ignore[arg-type]
        assert message.calls == 1
