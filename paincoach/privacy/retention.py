"""Retention: transcripts and free texts are kept RETENTION_DAYS, numeric outcomes for good.

Older tracker events go (except each conversation's current session, which Rasa still reads
to carry on), and so do the free texts in our own tables: check-in notes, answers to module
questions, care-team messages, messages that waited for Rasa, sent keyboards and the
research index. Check-in scores, coping ratings, module progress, goals and safety events
stay. Each run appends one audit-log entry with what it removed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from sqlalchemy import CursorResult, Result, delete, func, select, update

from paincoach.db.engine import session_scope
from paincoach.db.models import (
    AuditEntry,
    CareTeamMessage,
    CheckIn,
    ModuleAnswer,
    PendingMessage,
    SentKeyboard,
    utcnow,
)
from paincoach.research.search import ResearchIndex
from paincoach.research.tracker import TrackerEvents
from paincoach.settings import Settings

log = structlog.get_logger("paincoach.privacy")
RETENTION = "retention"


def affected(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE touched."""
    return int(cast(CursorResult[Any], result).rowcount)


def cutoff(settings: Settings, now: datetime) -> datetime | None:
    """Everything older than this goes; None when RETENTION_DAYS is 0 (keep everything)."""
    if settings.retention_days <= 0:
        return None
    return now - timedelta(days=settings.retention_days)


def apply_retention(
    settings: Settings, now: datetime | None = None, *, by: str = "cli"
) -> dict[str, int]:
    """Delete what is older than the retention period; returns how much of each went.

    Safe to repeat and to run from several places at once: every step deletes what is old,
    and what is already gone is simply not counted again.
    """
    now = now or utcnow()
    limit = cutoff(settings, now)
    if limit is None:
        return {}
    removed = {"tracker_events": TrackerEvents(settings.tracker_store_url).erase_older_than(limit)}
    with session_scope(settings.database_url) as session:
        removed["checkin_notes"] = affected(
            session.execute(
                update(CheckIn)
                .where(CheckIn.started_at < limit, CheckIn.note.is_not(None))
                .values(note=None)
            )
        )
        for name, table, column, extra in (
            ("module_answers", ModuleAnswer, ModuleAnswer.answered_at,
             ModuleAnswer.kind == "question"),
            ("care_team_messages", CareTeamMessage, CareTeamMessage.created_at, None),
            ("pending_messages", PendingMessage, PendingMessage.received_at, None),
            ("sent_keyboards", SentKeyboard, SentKeyboard.sent_at, None),
        ):  # fmt: skip
            statement = delete(table).where(column < limit)
            if extra is not None:
                statement = statement.where(extra)
            removed[name] = affected(session.execute(statement))
    removed["research_index"] = ResearchIndex(
        settings.database_url, settings.tracker_store_url
    ).forget_before(limit)
    detail = "; ".join([f"older than {limit:%Y-%m-%d %H:%M} UTC"] + [
        f"{name}={count}" for name, count in removed.items()
    ])  # fmt: skip
    with session_scope(settings.database_url) as session:
        session.add(
            AuditEntry(at=now, action=RETENTION, target="transcripts and free texts",
                       address=by[:64], detail=detail[:400])
        )  # fmt: skip
    log.info("retention applied", **removed)
    return removed


def last_applied(settings: Settings) -> datetime | None:
    """When retention last ran (any replica, any process), from the audit log."""
    with session_scope(settings.database_url) as session:
        return session.scalar(select(func.max(AuditEntry.at)).where(AuditEntry.action == RETENTION))
