"""How the coach's messages look on Telegram: text, inline keyboards, photos, files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import MessageLimit

from paincoach.rasa_client import BotMessage, Button

SCALE_ROW = 6  # 0–10 fits a phone in two rows of six
PARAGRAPH = "\n\n"


def merged(replies: Sequence[BotMessage]) -> list[BotMessage]:
    """A turn's consecutive texts as one message, paragraph after paragraph, its buttons (if
    any) under the last one. One message a turn instead of three or four: the patient gets one
    notification and reads the turn as a whole, and a turn takes one of the 30 messages a
    second Telegram allows, not four. Photos and custom payloads stay messages of their own,
    in their place, and no message grows beyond Telegram's 4,096 characters."""
    out: list[BotMessage] = []
    for reply in replies:
        if out and _plain_text(out[-1]) and _text_only(reply):
            joined = f"{out[-1].text}{PARAGRAPH}{reply.text}"
            if _length(joined) <= MessageLimit.MAX_TEXT_LENGTH:
                out[-1] = replace(reply, text=joined)
                continue
        out.append(reply)
    return out


def _length(text: str) -> int:
    """A text's length as Telegram counts it: in UTF-16 code units (an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


def _text_only(reply: BotMessage) -> bool:
    """Text, with or without buttons: nothing that must be sent another way."""
    return bool(reply.text) and reply.image is None and reply.custom is None


def _plain_text(reply: BotMessage) -> bool:
    """Text that can take more text after it (buttons belong under the last paragraph)."""
    return _text_only(reply) and not reply.buttons


def keyboard(buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
    """Buttons as an inline keyboard; the callback data is the button's index only, so a
    press is checked against what was really sent and payloads never exceed 64 bytes."""
    if not buttons:
        return None
    keys = [InlineKeyboardButton(b.title[:64], callback_data=str(i)) for i, b in enumerate(buttons)]
    numbers = [k for k, b in zip(keys, buttons, strict=True) if b.title.isdigit()]
    others = [k for k, b in zip(keys, buttons, strict=True) if not b.title.isdigit()]
    rows: list[list[InlineKeyboardButton]] = [
        numbers[i : i + SCALE_ROW] for i in range(0, len(numbers), SCALE_ROW)
    ]
    per_row = 2 if all(len(b.title) <= 18 for b in buttons) else 1
    rows += [others[i : i + per_row] for i in range(0, len(others), per_row)]
    return InlineKeyboardMarkup(rows)
