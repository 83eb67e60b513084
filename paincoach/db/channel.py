"""What a messaging channel keeps: chat ↔ pseudonym, sent keyboards, messages waiting for Rasa."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from paincoach.db.engine import session_scope
from paincoach.db.models import PendingMessage, SentKeyboard, TelegramChat, utcnow
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

    def press(self, pseudonym: str, message_id: int, data: str) -> ButtonPress:
        """Check a button press against what was sent, and allow each keyboard one press."""
        with session_scope(self.url) as session:
            keyboard = session.scalar(
                select(SentKeyboard)
                .where(SentKeyboard.pseudonym == pseudonym, SentKeyboard.message_id == message_id)
                .with_for_update()
            )
            if keyboard is None or not data.isdigit() or int(data) >= len(keyboard.payloads):
                return ButtonPress(Press.UNKNOWN)
            if keyboard.pressed_at is not None:
                return ButtonPress(Press.USED)
            keyboard.pressed_at = utcnow()
            return ButtonPress(Press.OK, keyboard.payloads[int(data)])

    def queue(self, pseudonym: str, text: str) -> None:
        with session_scope(self.url) as session:
            session.add(PendingMessage(pseudonym=pseudonym, text=text))

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
