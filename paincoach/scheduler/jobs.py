"""Scheduled messages in the app database: planning reminders, claiming due jobs, finishing."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from paincoach.db.engine import session_scope
from paincoach.db.models import CheckIn, Participant, ScheduledJob
from paincoach.settings import get_settings

_SQLITE_CLAIMS = threading.Lock()
REMINDER = "checkin_reminder"
# A reminder starts the check-in itself; the entity tells the first question how to open.
REMINDER_INTENT = "start_checkin"
PUSH = "push"


@dataclass(frozen=True)
class Job:
    """A claimed job, detached from its session."""

    id: int
    kind: str
    intent: str
    entities: dict[str, Any]
    due_at: datetime
    pseudonym: str
    timezone: str


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def next_local_time(now: datetime, at: time, timezone: str) -> datetime:
    """The next moment, strictly after `now`, when the wall clock in `timezone` shows `at`.

    Across a DST change the wall-clock time is kept (08:00 stays 08:00); a time that does
    not exist that day (in the skipped hour) is sent an hour later.
    """
    tz = zone(timezone)
    local_now = now.astimezone(tz)
    for days in (0, 1, 2):
        day = local_now.date() + timedelta(days=days)
        candidate = datetime.combine(day, at, tzinfo=tz).astimezone(UTC)
        if candidate > now:
            return candidate
    raise AssertionError("unreachable: a wall-clock time recurs within two days")


def local_day(moment: datetime, timezone: str) -> date:
    return moment.astimezone(zone(timezone)).date()


class JobStore:
    """Reminders and pushes, planned and claimed so that no message is sent twice."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url
        is_sqlite = make_url(url or get_settings().database_url).get_backend_name() == "sqlite"
        self._claim_lock: AbstractContextManager[object] = (
            _SQLITE_CLAIMS if is_sqlite else contextlib.nullcontext()
        )

    def _insert(self, session: Session, rows: Sequence[dict[str, Any]]) -> int:
        """Insert jobs, skipping any that already exist (another replica may plan too)."""
        if not rows:
            return 0
        dialect = session.get_bind().dialect.name
        insert = postgres_insert if dialect == "postgresql" else sqlite_insert
        statement = (
            insert(ScheduledJob)
            .values(list(rows))
            .on_conflict_do_nothing()
            .returning(ScheduledJob.id)
        )
        return len(session.execute(statement).all())

    def plan_reminders(self, now: datetime) -> int:
        """Make sure every active participant has their next daily reminder planned."""
        with session_scope(self.url) as session:
            participants = session.execute(
                select(Participant.id, Participant.checkin_time, Participant.timezone).where(
                    Participant.reminders_paused.is_(False), Participant.checkin_time.is_not(None)
                )
            ).all()
            planned = set(
                session.scalars(
                    select(ScheduledJob.participant_id).where(
                        ScheduledJob.kind == REMINDER,
                        ScheduledJob.status.in_(("pending", "sending")),
                    )
                )
            )
            rows = [
                {
                    "participant_id": pid,
                    "kind": REMINDER,
                    "intent": REMINDER_INTENT,
                    "entities": {},
                    "due_at": next_local_time(now, at, tz),  # type: ignore[arg-type]
                    "status": "pending",
                    "attempts": 0,
                    "created_at": now,
                }
                for pid, at, tz in participants
                if pid not in planned
            ]
            return self._insert(session, rows)

    def schedule_push(
        self,
        pseudonyms: Sequence[str],
        intent: str,
        at: datetime,
        entities: dict[str, Any] | None = None,
    ) -> int:
        """Schedule `intent` to be triggered for each participant at `at` (UTC)."""
        with session_scope(self.url) as session:
            ids = session.scalars(
                select(Participant.id).where(Participant.pseudonym.in_(list(pseudonyms)))
            ).all()
            rows = [
                {
                    "participant_id": pid, "kind": PUSH, "intent": intent,
                    "entities": entities or {}, "due_at": at, "status": "pending",
                    "attempts": 0, "created_at": at,
                }
                for pid in ids
            ]  # fmt: skip
            return self._insert(session, rows)

    def claim_due(self, now: datetime, limit: int = 500, stale_after: float = 300) -> list[Job]:
        """Claim due jobs so that each is sent by one worker only.

        On PostgreSQL, row locks with SKIP LOCKED let several gateway replicas claim side by
        side. SQLite has no row locks, so claims in one process take turns (SQLite is the
        single-machine default; replicas need PostgreSQL). A job left 'sending' by a crashed
        process is claimed again after `stale_after` seconds.
        """
        with self._claim_lock, session_scope(self.url) as session:
            stale = now - timedelta(seconds=stale_after)
            claimable = or_(
                ScheduledJob.status == "pending",
                and_(ScheduledJob.status == "sending", ScheduledJob.claimed_at < stale),
            )
            due_ids = (
                select(ScheduledJob.id)
                .where(ScheduledJob.due_at <= now, claimable)
                .order_by(ScheduledJob.due_at, ScheduledJob.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            ids = list(session.scalars(due_ids))
            if not ids:
                return []
            claimed = (
                session.execute(
                    update(ScheduledJob)
                    .where(ScheduledJob.id.in_(ids), claimable)
                    .values(status="sending", claimed_at=now, attempts=ScheduledJob.attempts + 1)
                    .returning(ScheduledJob.id)
                )
                .scalars()
                .all()
            )
            rows = session.execute(
                select(ScheduledJob, Participant.pseudonym, Participant.timezone)
                .join(Participant, Participant.id == ScheduledJob.participant_id)
                .where(ScheduledJob.id.in_(claimed))
                .order_by(ScheduledJob.due_at, ScheduledJob.id)
            ).all()
            return [
                Job(
                    id=job.id, kind=job.kind, intent=job.intent, entities=dict(job.entities or {}),
                    due_at=job.due_at, pseudonym=pseudonym, timezone=timezone,
                )
                for job, pseudonym, timezone in rows
            ]  # fmt: skip

    def finish(self, job_id: int, status: str, now: datetime) -> None:
        with session_scope(self.url) as session:
            session.execute(
                update(ScheduledJob)
                .where(ScheduledJob.id == job_id)
                .values(status=status, finished_at=now)
            )

    def release(self, job_id: int) -> None:
        """Put a job back to be tried again (the send failed before anything went out)."""
        with session_scope(self.url) as session:
            session.execute(
                update(ScheduledJob).where(ScheduledJob.id == job_id).values(status="pending")
            )

    def reminder_decision(self, job: Job, now: datetime, nudge_after_days: int) -> str | None:
        """Which reminder is due: "daily", "nudge" after days of silence, or None."""
        with session_scope(self.url) as session:
            participant = session.scalar(
                select(Participant).where(Participant.pseudonym == job.pseudonym)
            )
            if participant is None or participant.reminders_paused:
                return None
            last = session.scalar(
                select(func.max(CheckIn.started_at)).where(CheckIn.participant_id == participant.id)
            )
        if last is not None and local_day(last, job.timezone) == local_day(now, job.timezone):
            return None  # already checked in today
        since = (now - (last or participant.consented_at)).days
        return "nudge" if since >= nudge_after_days else "daily"

    def counts(self) -> dict[str, int]:
        with session_scope(self.url) as session:
            return dict(
                session.execute(
                    select(ScheduledJob.status, func.count()).group_by(ScheduledJob.status)
                ).all()
            )
