"""What a messaging channel keeps: chat ↔ pseudonym, sent keyboards, messages waiting for Rasa,
and the Telegram updates received, so that each is handled once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from paincoach.db.engine import session_scope
from paincoach.db.models import (
    PendingMessage,
    SentKeyboard,
    TelegramChat,
    TelegramUpdate,
    utcnow,
)
from paincoach.db.store import new_pseudonym


class Press(Enum):
    OK = "ok"
    UNKNOWN = "unknown"  # no such keyboard, or an index that was never on it: forged or stale
    USED = "used"  # already pressed once


@dataclass(frozen=True)
class ButtonPress:
    outcome: Press
    payload: str | None = None


class ChannelStore:
    """The channel's own tables in the app database."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url

    def pseudonym_for_chat(self, chat_id: int) -> str:
        """The chat's pseudonym, created on first contact."""
        with session_scope(self.url) as session:
            found = session.scalar(
                select(TelegramChat.pseudonym).where(TelegramChat.chat_id == chat_id)
            )
            if found:
                return found
        try:
            with session_scope(self.url) as session:
                pseudonym = new_pseudonym()
                session.add(TelegramChat(chat_id=chat_id, pseudonym=pseudonym))
                return pseudonym
        except IntegrityError:  # another replica created it at the same moment
            return self.pseudonym_for_chat(chat_id)

    def chat_for_pseudonym(self, pseudonym: str) -> int | None:
        with session_scope(self.url) as session:
            return session.scalar(
                select(TelegramChat.chat_id).where(TelegramChat.pseudonym == pseudonym)
            )

    def remember_keyboard(self, pseudonym: str, message_id: int, payloads: Sequence[str]) -> None:
        with session_scope(self.url) as session:
            session.add(
                SentKeyboard(pseudonym=pseudonym, message_id=message_id, payloads=list(payloads))
            )

    def press(
        self, pseudonym: str, message_id: int, data: str, update_id: int | None = None
    ) -> ButtonPress:
        """Check a button press against what was sent, and allow each keyboard one press
        (the update that pressed it may press it again, when handled again after a crash)."""
        with session_scope(self.url) as session:
            keyboard = session.scalar(
                select(SentKeyboard)
                .where(SentKeyboard.pseudonym == pseudonym, SentKeyboard.message_id == message_id)
                .with_for_update()
            )
            if keyboard is None or not data.isdigit() or int(data) >= len(keyboard.payloads):
                return ButtonPress(Press.UNKNOWN)
            if keyboard.pressed_at is not None and (
                update_id is None or keyboard.pressed_update_id != update_id
            ):
                return ButtonPress(Press.USED)
            keyboard.pressed_at = utcnow()
            keyboard.pressed_update_id = update_id
            return ButtonPress(Press.OK, keyboard.payloads[int(data)])

    def queue(self, pseudonym: str, text: str, turn: str | None = None) -> bool:
        """Keep a message for Rasa; False if this turn is already kept."""
        with session_scope(self.url) as session:
            if turn is not None and session.scalar(
                select(PendingMessage.id).where(PendingMessage.turn == turn)
            ):
                return False
            session.add(PendingMessage(pseudonym=pseudonym, text=text, turn=turn))
            return True

    def has_pending(self, pseudonym: str) -> bool:
        with session_scope(self.url) as session:
            return (
                session.scalar(
                    select(PendingMessage.id).where(
                        PendingMessage.pseudonym == pseudonym, PendingMessage.answered_at.is_(None)
                    )
                )
                is not None
            )

    def pending(self, limit: int = 100) -> list[PendingMessage]:
        with session_scope(self.url) as session:
            return list(
                session.scalars(
                    select(PendingMessage)
                    .where(PendingMessage.answered_at.is_(None))
                    .order_by(PendingMessage.received_at, PendingMessage.id)
                    .limit(limit)
                )
            )

    def mark_answered(self, message_id: int) -> None:
        with session_scope(self.url) as session:
            session.execute(
                update(PendingMessage)
                .where(PendingMessage.id == message_id)
                .values(answered_at=utcnow())
            )

    # Telegram updates -------------------------------------------------------------------

    def receive_update(self, update_id: int, chat_id: int | None, body: dict[str, Any]) -> bool:
        """Write an update down before Telegram is told it arrived; False if it already was
        (Telegram delivers an update again when it did not hear that it arrived)."""
        try:
            with session_scope(self.url) as session:
                if session.get(TelegramUpdate, update_id) is not None:
                    return False
                session.add(TelegramUpdate(update_id=update_id, chat_id=chat_id, body=body))
        except IntegrityError:  # another replica wrote it at the same moment
            return False
        return True

    def update_handled(self, update_id: int) -> None:
        """The update's work is done: its content and chat are forgotten, its id kept."""
        with session_scope(self.url) as session:
            session.execute(
                update(TelegramUpdate)
                .where(TelegramUpdate.update_id == update_id)
                .values(handled_at=utcnow(), chat_id=None, body=None)
            )

    def unhandled_updates(self) -> list[tuple[int, dict[str, Any]]]:
        """Updates received but not handled (a crash came in between), oldest first."""
        with session_scope(self.url) as session:
            rows = session.execute(
                select(TelegramUpdate.update_id, TelegramUpdate.body)
                .where(TelegramUpdate.handled_at.is_(None), TelegramUpdate.body.is_not(None))
                .order_by(TelegramUpdate.update_id)
            )
            return [(update_id, body) for update_id, body in rows if body]

    def forget_updates(self, handled_before: datetime) -> int:
        """Drop the ids of updates handled before `handled_before` (Telegram keeps an
        unconfirmed update for 24 hours, so an older one cannot come again)."""
        with session_scope(self.url) as session:
            result = session.execute(
                delete(TelegramUpdate).where(TelegramUpdate.handled_at < handled_before)
            )
            return int(getattr(result, "rowcount", 0) or 0)
