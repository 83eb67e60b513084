"""How the coach's messages look on Telegram: text, inline keyboards, photos, files."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from paincoach.rasa_client import Button

SCALE_ROW = 6  # 0–10 fits a phone in two rows of six


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
