"""Before consent, nothing is kept for longer than it takes to finish onboarding.

Someone who writes to the coach gets a pseudonym and a chat mapping at once, and Rasa keeps
their conversation: that is what an unfinished onboarding needs. If they have not consented
within UNCONSENTED_TTL_HOURS of first writing, their conversation (tracker events) and
their chat mapping (TelegramChat, SentKeyboard, PendingMessage rows) are erased. Only
anonymous records stay: safety events and alerts without a participant, and consent refusals.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, exists, select

from paincoach.db.engine import session_scope
from paincoach.db.models import (
    AuditEntry,
    Participant,
    PendingMessage,
    SentKeyboard,
    TelegramChat,
    TelegramUpdate,
    utcnow,
)
from paincoach.privacy.retention import affected
from paincoach.research.tracker import TrackerEvents
from paincoach.settings import Settings

log = structlog.get_logger("paincoach.privacy")
BEFORE_CONSENT = "before_consent_erasure"
# Someone still writing is never erased mid-sentence; the next run takes them.
QUIET_MINUTES = 10


def erase_unconsented(
    settings: Settings, now: datetime | None = None, *, by: str = "cli"
) -> dict[str, int]:
    """Erase the conversation and chat mapping of everyone who first wrote more than
    UNCONSENTED_TTL_HOURS ago and has not consented; returns what went."""
    now = now or utcnow()
    first_allowed = now - timedelta(hours=settings.unconsented_ttl_hours)
    quiet_since = now - timedelta(minutes=QUIET_MINUTES)
    tracker = TrackerEvents(settings.tracker_store_url)
    conversations = tracker.started_before(first_allowed)
    with session_scope(settings.database_url) as session:
        consented = set(session.scalars(select(Participant.pseudonym)))
        young = set(
            session.scalars(
                select(TelegramChat.pseudonym).where(TelegramChat.created_at >= first_allowed)
            )
        )
        candidates = set(
            session.scalars(
                select(TelegramChat.pseudonym).where(TelegramChat.created_at < first_allowed)
            )
        )
        for table, column in (
            (SentKeyboard, SentKeyboard.sent_at),
            (PendingMessage, PendingMessage.received_at),
        ):
            candidates |= set(
                session.scalars(select(table.pseudonym).where(column < first_allowed))
            )
    candidates |= set(conversations)
    candidates -= consented | young
    candidates = {
        p for p in candidates if p not in conversations or conversations[p][1] < quiet_since
    }
    erased = {
        "conversations": 0, "tracker_events": 0, "chat_mappings": 0, "sent_keyboards": 0,
        "pending_messages": 0,
    }  # fmt: skip
    for pseudonym in sorted(candidates):
        removed = _erase(settings, pseudonym, tracker)
        if removed is None:
            continue  # consented in the meantime
        erased["conversations"] += 1
        for name, count in removed.items():
            erased[name] += count
    if erased["conversations"]:
        detail = "; ".join(f"{name}={count}" for name, count in erased.items())
        with session_scope(settings.database_url) as session:
            session.add(
                AuditEntry(at=now, action=BEFORE_CONSENT, target="unconsented conversations",
                           address=by[:64], detail=detail[:400])
            )  # fmt: skip
        log.info("unconsented conversations erased", **erased)
    return erased


def _erase(settings: Settings, pseudonym: str, tracker: TrackerEvents) -> dict[str, int] | None:
    """Erase one person's chat mapping, then their conversation; None if they consented."""
    not_consented = ~exists().where(Participant.pseudonym == pseudonym)
    removed: dict[str, int] = {}
    with session_scope(settings.database_url) as session:
        if session.scalar(select(not_consented)) is False:
            return None
        # The mapping first: a message arriving now starts afresh under a new pseudonym.
        chats = select(TelegramChat.chat_id).where(TelegramChat.pseudonym == pseudonym)
        session.execute(
            delete(TelegramUpdate).where(TelegramUpdate.chat_id.in_(chats), not_consented)
        )
        for name, table in (
            ("chat_mappings", TelegramChat),
            ("sent_keyboards", SentKeyboard),
            ("pending_messages", PendingMessage),
        ):
            removed[name] = affected(
                session.execute(delete(table).where(table.pseudonym == pseudonym, not_consented))
            )
    removed["tracker_events"] = tracker.erase_conversation(pseudonym)
    return removed
