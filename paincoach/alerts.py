"""Care-team alerts: what a provider should look at, raised by rules over the app database.

Crisis and red-flag alerts come from `CoachStore.record_safety_event` the moment the coach
responds. `AlertStore.evaluate` adds, once per scheduler tick, the alerts that follow from
what did (not) happen: pain rising over check-ins, silence, a module left half done. It is
idempotent: a patient never has two open alerts of one kind, and an acknowledged alert is
raised again only on new evidence (a newer check-in, a longer silence after the next
check-in, a module touched since). An alert's detail never holds the patient's words.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from paincoach.db.engine import session_scope
from paincoach.db.models import (
    CareTeamAlert,
    CheckIn,
    ConsoleUser,
    ModuleProgress,
    Participant,
    utcnow,
)
from paincoach.settings import get_settings

CRISIS = "crisis"
RED_FLAG = "red_flag"
PAIN_RISING = "pain_rising"
NO_CHECKIN = "no_checkin"
MODULE_STALLED = "module_stalled"
URGENT = (CRISIS, RED_FLAG)
LABELS = {
    CRISIS: "Crisis",
    RED_FLAG: "Medical red flag",
    PAIN_RISING: "Pain rising",
    NO_CHECKIN: "No check-in",
    MODULE_STALLED: "Module stalled",
}
# What each alert means, for the console's help text and the README.
MEANINGS = {
    CRISIS: "The patient wrote about suicide or self-harm; the coach gave the helpline and "
    "emergency numbers and asked whether they are safe now.",
    RED_FLAG: "The patient described a symptom that may need urgent care; the coach advised "
    "them to seek it.",
    PAIN_RISING: "Pain (PEG score or average pain) rose on each of the last 3 check-ins.",
    NO_CHECKIN: "No check-in, not even a partial one, for ALERT_SILENT_DAYS days.",
    MODULE_STALLED: "A module was started but not touched for MODULE_STALLED_DAYS days.",
}
RISING_RUN = 3
PAIN_LOOKBACK = timedelta(days=60)  # check-ins older than this do not count as "in a row"
NOTIFY_WITHIN = timedelta(hours=24)  # an urgent alert older than this is not sent to a phone
_SQLITE_EVALUATION = threading.Lock()


@dataclass(frozen=True)
class Alert:
    """An alert as the console lists it."""

    id: int
    kind: str
    detail: str | None
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: int | None
    notified_at: datetime | None
    pseudonym: str
    nickname: str | None

    @property
    def label(self) -> str:
        return LABELS.get(self.kind, self.kind.replace("_", " ").capitalize())

    @property
    def urgent(self) -> bool:
        return self.kind in URGENT

    @property
    def open(self) -> bool:
        return self.acknowledged_at is None


@dataclass(frozen=True)
class UrgentAlert:
    """A crisis or red-flag alert to send to the linked providers' own Telegram chats."""

    id: int
    kind: str
    pseudonym: str
    chat_ids: tuple[int, ...]


def _rising(values: list[float | None]) -> bool:
    """Strictly rising, every value present."""
    present = [v for v in values if v is not None]
    return len(present) == len(values) and all(a < b for a, b in itertools.pairwise(present))


def _number(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _alert(row: CareTeamAlert, pseudonym: str, nickname: str | None) -> Alert:
    return Alert(
        id=row.id, kind=row.kind, detail=row.detail, created_at=row.created_at,
        acknowledged_at=row.acknowledged_at, acknowledged_by=row.acknowledged_by,
        notified_at=row.notified_at, pseudonym=pseudonym, nickname=nickname,
    )  # fmt: skip


class AlertStore:
    """Raise, list, acknowledge and notify care-team alerts."""

    def __init__(
        self,
        url: str | None = None,
        *,
        silent_days: int | None = None,
        stalled_days: int | None = None,
    ) -> None:
        settings = get_settings()
        self.url = url or settings.database_url
        self.silent_days = silent_days or settings.alert_silent_days
        self.stalled_days = stalled_days or settings.module_stalled_days

    # Raising ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _evaluation(self) -> Iterator[Session]:
        """One evaluation at a time, across replicas on PostgreSQL (an advisory lock held until
        commit) and within the process on SQLite, so no alert is raised twice."""
        postgres = make_url(self.url).get_backend_name() == "postgresql"
        # On SQLite the lock is taken first so that it is released after the commit.
        with (
            contextlib.nullcontext() if postgres else _SQLITE_EVALUATION,
            session_scope(self.url) as session,
        ):
            if postgres:
                session.execute(text("SELECT pg_advisory_xact_lock(hashtext('paincoach.alerts'))"))
            yield session

    def evaluate(self, now: datetime | None = None) -> int:
        """Raise the alerts that are due now; returns how many were raised."""
        now = now or utcnow()
        with self._evaluation() as session:
            latest = self._latest_alerts(session)
            raised = [
                *self._pain_rising(session, now),
                *self._silence(session, now),
                *self._stalled_modules(session, now),
            ]
            added = 0
            for participant_id, kind, evidence_at, detail in raised:
                last = latest.get((participant_id, kind))
                if last is not None and (last[0] or last[1] >= evidence_at):
                    continue  # still open, or already raised on this evidence
                session.add(
                    CareTeamAlert(
                        participant_id=participant_id, kind=kind, detail=detail[:200],
                        created_at=now,
                    )
                )  # fmt: skip
                latest[(participant_id, kind)] = (True, now)
                added += 1
            return added

    def _latest_alerts(self, session: Session) -> dict[tuple[int, str], tuple[bool, datetime]]:
        """Per patient and rule kind: whether an alert is open, and when the newest was raised."""
        rows = session.execute(
            select(
                CareTeamAlert.participant_id,
                CareTeamAlert.kind,
                func.count().filter(CareTeamAlert.acknowledged_at.is_(None)),
                func.max(CareTeamAlert.created_at),
            )
            .where(
                CareTeamAlert.kind.in_((PAIN_RISING, NO_CHECKIN, MODULE_STALLED)),
                CareTeamAlert.participant_id.is_not(None),
            )
            .group_by(CareTeamAlert.participant_id, CareTeamAlert.kind)
        ).all()
        return {
            (pid, kind): (open_count > 0, newest)
            for pid, kind, open_count, newest in rows
            if pid is not None
        }

    def _pain_rising(
        self, session: Session, now: datetime
    ) -> Iterator[tuple[int, str, datetime, str]]:
        ranked = (
            select(
                CheckIn.participant_id,
                CheckIn.completed_at,
                CheckIn.pain_average,
                CheckIn.pain_enjoyment,
                CheckIn.pain_activity,
                func.row_number()
                .over(
                    partition_by=CheckIn.participant_id,
                    order_by=(CheckIn.completed_at.desc(), CheckIn.id.desc()),
                )
                .label("recent"),
            )
            .join(Participant, Participant.id == CheckIn.participant_id)
            .where(
                Participant.provider_id.is_not(None),
                CheckIn.completed_at.is_not(None),
                CheckIn.started_at >= now - PAIN_LOOKBACK,
            )
            .subquery()
        )
        runs: dict[int, list[CheckIn]] = defaultdict(list)
        for row in session.execute(
            select(ranked).where(ranked.c.recent <= RISING_RUN).order_by(ranked.c.recent.desc())
        ):
            runs[row.participant_id].append(
                CheckIn(
                    completed_at=row.completed_at,
                    pain_average=row.pain_average,
                    pain_enjoyment=row.pain_enjoyment,
                    pain_activity=row.pain_activity,
                )
            )
        for participant_id, run in runs.items():
            if len(run) < RISING_RUN:
                continue
            pegs = [c.peg_score for c in run]
            averages: list[float | None] = [
                float(c.pain_average) if c.pain_average is not None else None for c in run
            ]
            if _rising(pegs):
                shown = " → ".join(_number(p) for p in pegs if p is not None)
                detail = f"PEG score rose on {RISING_RUN} check-ins in a row ({shown})"
            elif _rising(averages):
                shown = " → ".join(_number(p) for p in averages if p is not None)
                detail = f"Average pain rose on {RISING_RUN} check-ins in a row ({shown})"
            else:
                continue
            evidence_at = run[-1].completed_at
            assert evidence_at is not None
            yield participant_id, PAIN_RISING, evidence_at, detail

    def _silence(self, session: Session, now: datetime) -> Iterator[tuple[int, str, datetime, str]]:
        last_checkin = (
            select(CheckIn.participant_id, func.max(CheckIn.started_at).label("last"))
            .group_by(CheckIn.participant_id)
            .subquery()
        )
        rows = session.execute(
            select(
                Participant.id,
                Participant.consented_at,
                Participant.reminders_paused,
                last_checkin.c.last,
            )
            .outerjoin(last_checkin, last_checkin.c.participant_id == Participant.id)
            .where(Participant.provider_id.is_not(None))
        ).all()
        for participant_id, consented_at, paused, last in rows:
            since = last or consented_at
            days = (now - since).days
            if days < self.silent_days:
                continue
            detail = (
                f"No check-in for {days} days"
                if last is not None
                else f"No check-in since joining {days} days ago"
            )
            if paused:
                detail += " (daily reminders are paused)"
            yield participant_id, NO_CHECKIN, since, detail

    def _stalled_modules(
        self, session: Session, now: datetime
    ) -> Iterator[tuple[int, str, datetime, str]]:
        rows = session.execute(
            select(ModuleProgress)
            .join(Participant, Participant.id == ModuleProgress.participant_id)
            .where(
                Participant.provider_id.is_not(None),
                ModuleProgress.status.in_(("in_progress", "paused")),
                ModuleProgress.updated_at <= now - timedelta(days=self.stalled_days),
            )
            .order_by(ModuleProgress.updated_at)
        ).scalars()
        seen: set[int] = set()
        for progress in rows:
            if progress.participant_id in seen:
                continue  # the longest-stalled module speaks for the patient
            seen.add(progress.participant_id)
            days = (now - progress.updated_at).days
            state = "paused" if progress.status == "paused" else "left"
            detail = (
                f"Module '{progress.module_id}' {state} at step {progress.step_index + 1} "
                f"and untouched for {days} days"
            )
            yield progress.participant_id, MODULE_STALLED, progress.updated_at, detail

    # Reading and acknowledging -----------------------------------------------------------

    def alerts(
        self, provider_id: int, include_acknowledged: bool = False, limit: int = 500
    ) -> list[Alert]:
        """The provider's patients' alerts: open first, crises and red flags first, newest
        first."""
        with session_scope(self.url) as session:
            query = (
                select(CareTeamAlert, Participant.pseudonym, Participant.nickname)
                .join(Participant, Participant.id == CareTeamAlert.participant_id)
                .where(Participant.provider_id == provider_id)
                .order_by(CareTeamAlert.created_at.desc(), CareTeamAlert.id.desc())
            )
            if not include_acknowledged:
                query = query.where(CareTeamAlert.acknowledged_at.is_(None))
            found = [
                _alert(row, pseudonym, nickname)
                for row, pseudonym, nickname in session.execute(query.limit(limit))
            ]
        # sorted() is stable: within each group the newest stays first.
        return sorted(found, key=lambda a: (not a.open, not a.urgent))

    def acknowledge(self, alert_id: int, provider_id: int, now: datetime | None = None) -> bool:
        """Mark one of the provider's patients' alerts as seen; False if it is not theirs.
        Acknowledging twice keeps the first acknowledgement."""
        with session_scope(self.url) as session:
            alert = session.scalar(
                select(CareTeamAlert)
                .join(Participant, Participant.id == CareTeamAlert.participant_id)
                .where(CareTeamAlert.id == alert_id, Participant.provider_id == provider_id)
            )
            if alert is None:
                return False
            if alert.acknowledged_at is None:
                alert.acknowledged_at = now or utcnow()
                alert.acknowledged_by = provider_id
            return True

    # Telling the providers' phones -------------------------------------------------------

    def urgent_unnotified(self, now: datetime | None = None) -> list[UrgentAlert]:
        """Crisis and red-flag alerts of the last 24 hours, not yet acknowledged nor sent,
        whose patient has a provider with a linked Telegram chat and an enabled account."""
        now = now or utcnow()
        with session_scope(self.url) as session:
            rows = session.execute(
                select(CareTeamAlert.id, CareTeamAlert.kind, Participant.pseudonym)
                .add_columns(ConsoleUser.telegram_chat_id)
                .join(Participant, Participant.id == CareTeamAlert.participant_id)
                .join(ConsoleUser, ConsoleUser.id == Participant.provider_id)
                .where(
                    CareTeamAlert.kind.in_(URGENT),
                    CareTeamAlert.notified_at.is_(None),
                    CareTeamAlert.acknowledged_at.is_(None),
                    CareTeamAlert.created_at >= now - NOTIFY_WITHIN,
                    ConsoleUser.telegram_chat_id.is_not(None),
                    ConsoleUser.disabled_at.is_(None),
                )
                .order_by(CareTeamAlert.created_at, CareTeamAlert.id)
            ).all()
        chats: dict[tuple[int, str, str], list[int]] = defaultdict(list)
        for alert_id, kind, pseudonym, chat_id in rows:
            chats[(alert_id, kind, pseudonym)].append(chat_id)
        return [
            UrgentAlert(alert_id, kind, pseudonym, tuple(ids))
            for (alert_id, kind, pseudonym), ids in chats.items()
        ]

    def mark_notified(self, alert_id: int, now: datetime | None = None) -> bool:
        """Claim an alert for sending (so two gateways never both send it); False if another
        already did."""
        with session_scope(self.url) as session:
            claimed = session.execute(
                update(CareTeamAlert)
                .where(CareTeamAlert.id == alert_id, CareTeamAlert.notified_at.is_(None))
                .values(notified_at=now or utcnow())
                .returning(CareTeamAlert.id)
            ).first()
            return claimed is not None

    def unmark_notified(self, alert_id: int) -> None:
        """The message did not go out: try again at the next tick."""
        with session_scope(self.url) as session:
            session.execute(
                update(CareTeamAlert).where(CareTeamAlert.id == alert_id).values(notified_at=None)
            )
