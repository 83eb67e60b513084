"""How a turn's replies become Telegram messages: consecutive texts merged into one."""

from __future__ import annotations

from paincoach.gateway.render import merged
from paincoach.rasa_client import BotMessage, Button

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
