"""What a provider reads about their own patients: the caseload list and one patient's record.

Everything here is read-only and scoped to one provider: a patient of another provider is
simply not found, exactly like a pseudonym that does not exist.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import mean

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from paincoach.alerts import URGENT
from paincoach.db.engine import session_scope
from paincoach.db.models import (
    CareTeamAlert,
    CareTeamMessage,
    CheckIn,
    CopingSession,
    FlareUpPlan,
    Goal,
    ModuleAnswer,
    ModuleProgress,
    Participant,
    SafetyEvent,
    utcnow,
)
from paincoach.modules.schema import Module

COMPLETED = "completed"
RECORD_DAYS = 30


@dataclass(frozen=True)
class ModulePlace:
    """Where the patient is in their current (or last) module."""

    module_id: str
    title: str
    status: str  # assigned, in_progress, paused or completed
    step: int  # 1-based, for people
    steps: int


@dataclass(frozen=True)
class PatientSummary:
    """One row of the caseload list."""

    pseudonym: str
    nickname: str | None
    timezone: str
    enrolled_at: datetime
    last_checkin_at: datetime | None
    peg_week: float | None  # mean PEG of the last 7 days
    peg_week_before: float | None  # mean PEG of the 7 days before those
    checkin_days: int
    days_enrolled: int
    open_alerts: int
    urgent_alerts: int
    module: ModulePlace | None
    worse_threshold: float

    @property
    def peg_trend(self) -> float | None:
        if self.peg_week is None or self.peg_week_before is None:
            return None
        return self.peg_week - self.peg_week_before

    @property
    def worsening(self) -> bool:
        trend = self.peg_trend
        return trend is not None and trend >= self.worse_threshold

    @property
    def adherence(self) -> float:
        return min(self.checkin_days / max(self.days_enrolled, 1), 1.0)

    @property
    def attention(self) -> int:
        """0: crisis or red flag open; 1: another alert open; 2: PEG worsening; 3: the rest."""
        if self.urgent_alerts:
            return 0
        if self.open_alerts:
            return 1
        if self.worsening:
            return 2
        return 3


def module_place(progress: ModuleProgress, modules: Mapping[str, Module]) -> ModulePlace:
    module = modules.get(progress.module_id)
    steps = len(module.steps) if module else 0
    step = progress.step_index + 1
    return ModulePlace(
        module_id=progress.module_id,
        title=module.title if module else progress.module_id,
        status=progress.status,
        step=min(step, steps) if steps else step,
        steps=steps,
    )


def _mean_peg(checkins: Sequence[CheckIn]) -> float | None:
    scores = [c.peg_score for c in checkins if c.peg_score is not None]
    return mean(scores) if scores else None


def own_patient(url: str, provider_id: int, pseudonym: str) -> Participant | None:
    """The patient with this pseudonym if they are this provider's; None otherwise."""
    with session_scope(url) as session:
        return session.scalar(
            select(Participant).where(
                Participant.pseudonym == pseudonym, Participant.provider_id == provider_id
            )
        )


def own_pseudonyms(url: str, provider_id: int) -> dict[str, str | None]:
    """This provider's patients: pseudonym → nickname, by nickname."""
    with session_scope(url) as session:
        rows = session.execute(
            select(Participant.pseudonym, Participant.nickname)
            .where(Participant.provider_id == provider_id)
            .order_by(Participant.nickname, Participant.pseudonym)
        ).all()
    return {pseudonym: nickname for pseudonym, nickname in rows}


def caseload(
    url: str,
    provider_id: int,
    modules: Mapping[str, Module],
    worse_threshold: float,
    now: datetime | None = None,
) -> list[PatientSummary]:
    """Every patient of the provider, needs-attention first."""
    now = now or utcnow()
    week_ago, fortnight_ago = now - timedelta(days=7), now - timedelta(days=14)
    with session_scope(url) as session:
        patients = list(
            session.scalars(select(Participant).where(Participant.provider_id == provider_id))
        )
        ids = [p.id for p in patients]
        if not ids:
            return []
        recent: dict[int, list[CheckIn]] = defaultdict(list)
        for checkin in session.scalars(
            select(CheckIn).where(
                CheckIn.participant_id.in_(ids), CheckIn.started_at >= fortnight_ago
            )
        ):
            recent[checkin.participant_id].append(checkin)
        last_checkin = dict(
            session.execute(
                select(CheckIn.participant_id, func.max(CheckIn.started_at))
                .where(CheckIn.participant_id.in_(ids))
                .group_by(CheckIn.participant_id)
            ).all()
        )
        checkin_days = dict(
            session.execute(
                select(
                    CheckIn.participant_id, func.count(func.distinct(func.date(CheckIn.started_at)))
                )
                .where(CheckIn.participant_id.in_(ids))
                .group_by(CheckIn.participant_id)
            ).all()
        )
        alerts: dict[int, list[str]] = defaultdict(list)
        for participant_id, kind in session.execute(
            select(CareTeamAlert.participant_id, CareTeamAlert.kind).where(
                CareTeamAlert.participant_id.in_(ids), CareTeamAlert.acknowledged_at.is_(None)
            )
        ):
            if participant_id is not None:
                alerts[participant_id].append(kind)
        current: dict[int, ModuleProgress] = {}
        for progress in session.scalars(
            select(ModuleProgress)
            .where(ModuleProgress.participant_id.in_(ids))
            .order_by(ModuleProgress.updated_at)
        ):
            held = current.get(progress.participant_id)
            # an unfinished module is "current" over a finished one; otherwise the newest
            if held is None or held.status == COMPLETED or progress.status != COMPLETED:
                current[progress.participant_id] = progress

    rows = []
    for patient in patients:
        checkins = recent[patient.id]
        rows.append(
            PatientSummary(
                pseudonym=patient.pseudonym,
                nickname=patient.nickname,
                timezone=patient.timezone,
                enrolled_at=patient.consented_at,
                last_checkin_at=last_checkin.get(patient.id),
                peg_week=_mean_peg([c for c in checkins if c.started_at >= week_ago]),
                peg_week_before=_mean_peg([c for c in checkins if c.started_at < week_ago]),
                checkin_days=int(checkin_days.get(patient.id, 0)),
                days_enrolled=(now - patient.consented_at).days + 1,
                open_alerts=len(alerts[patient.id]),
                urgent_alerts=sum(kind in URGENT for kind in alerts[patient.id]),
                module=module_place(current[patient.id], modules)
                if patient.id in current
                else None,
                worse_threshold=worse_threshold,
            )
        )
    oldest = datetime.min.replace(tzinfo=now.tzinfo)
    rows.sort(
        key=lambda r: (
            r.attention,
            -r.urgent_alerts,
            -r.open_alerts,
            -(r.peg_trend or 0.0),
            r.last_checkin_at or oldest,
            (r.nickname or "").lower(),
        )
    )
    return rows


# --- one patient's record ---------------------------------------------------------------


@dataclass(frozen=True)
class AnsweredStep:
    step_id: str
    kind: str
    text: str  # the step as the patient saw it
    answer: str
    answered_at: datetime


@dataclass(frozen=True)
class ModuleRecord:
    place: ModulePlace
    assigned_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    answers: list[AnsweredStep] = field(default_factory=list)


@dataclass(frozen=True)
class PatientRecord:
    patient: Participant
    checkins: list[CheckIn]  # the last 30 days, oldest first
    coping: list[CopingSession]
    goal: Goal | None
    plan: FlareUpPlan | None
    modules: list[ModuleRecord]
    safety_events: list[SafetyEvent]
    messages: list[CareTeamMessage]  # oldest first
    open_alerts: list[CareTeamAlert]

    @property
    def notes(self) -> list[CheckIn]:
        return [c for c in reversed(self.checkins) if c.note]


def _step_text(module: Module | None, step_id: str) -> str:
    if module is None:
        return step_id
    for step in module.steps:
        if step.id == step_id:
            return getattr(step, "text", None) or step_id
    return step_id


def patient_record(
    url: str, participant_id: int, modules: Mapping[str, Module], now: datetime | None = None
) -> PatientRecord:
    """Everything the provider's patient page shows, read in one session."""
    now = now or utcnow()
    since = now - timedelta(days=RECORD_DAYS)
    with session_scope(url) as session:
        patient = session.get_one(Participant, participant_id)
        checkins = list(
            session.scalars(
                select(CheckIn)
                .where(CheckIn.participant_id == participant_id, CheckIn.started_at >= since)
                .order_by(CheckIn.started_at)
            )
        )
        coping = list(
            session.scalars(
                select(CopingSession)
                .where(CopingSession.participant_id == participant_id)
                .order_by(CopingSession.started_at.desc())
                .limit(50)
            )
        )
        goal = session.scalar(
            select(Goal)
            .where(Goal.participant_id == participant_id, Goal.active.is_(True))
            .options(selectinload(Goal.reviews))
            .order_by(Goal.created_at.desc())
        )
        plan = session.scalar(
            select(FlareUpPlan)
            .where(FlareUpPlan.participant_id == participant_id)
            .order_by(FlareUpPlan.created_at.desc(), FlareUpPlan.id.desc())
        )
        module_records = _module_records(session, participant_id, modules)
        events = list(
            session.scalars(
                select(SafetyEvent)
                .where(SafetyEvent.participant_id == participant_id)
                .order_by(SafetyEvent.created_at.desc())
            )
        )
        messages = list(
            session.scalars(
                select(CareTeamMessage)
                .where(CareTeamMessage.participant_id == participant_id)
                .order_by(CareTeamMessage.created_at, CareTeamMessage.id)
            )
        )
        open_alerts = list(
            session.scalars(
                select(CareTeamAlert)
                .where(
                    CareTeamAlert.participant_id == participant_id,
                    CareTeamAlert.acknowledged_at.is_(None),
                )
                .order_by(CareTeamAlert.created_at.desc())
            )
        )
    return PatientRecord(
        patient, checkins, coping, goal, plan, module_records, events, messages, open_alerts
    )


def _module_records(
    session: Session, participant_id: int, modules: Mapping[str, Module]
) -> list[ModuleRecord]:
    answers: dict[str, list[ModuleAnswer]] = defaultdict(list)
    for answer in session.scalars(
        select(ModuleAnswer)
        .where(ModuleAnswer.participant_id == participant_id)
        .order_by(ModuleAnswer.answered_at, ModuleAnswer.id)
    ):
        answers[answer.module_id].append(answer)
    records = []
    for progress in session.scalars(
        select(ModuleProgress)
        .where(ModuleProgress.participant_id == participant_id)
        .order_by(ModuleProgress.assigned_at.desc())
    ):
        module = modules.get(progress.module_id)
        records.append(
            ModuleRecord(
                place=module_place(progress, modules),
                assigned_at=progress.assigned_at,
                started_at=progress.started_at,
                completed_at=progress.completed_at,
                answers=[
                    AnsweredStep(
                        a.step_id, a.kind, _step_text(module, a.step_id), a.answer, a.answered_at
                    )
                    for a in answers.pop(progress.module_id, [])
                ],
            )
        )
    return records


# --- the inbox --------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxMessage:
    id: int
    pseudonym: str
    nickname: str | None
    body: str
    created_at: datetime
    unread: bool
    replies: int  # replies to this patient after this message


def inbox(url: str, provider_id: int, limit: int = 200) -> list[InboxMessage]:
    """Patients' care-team messages to this provider's team, newest first."""
    with session_scope(url) as session:
        rows = session.execute(
            select(CareTeamMessage, Participant.pseudonym, Participant.nickname)
            .join(Participant, Participant.id == CareTeamMessage.participant_id)
            .where(Participant.provider_id == provider_id, CareTeamMessage.from_patient.is_(True))
            .order_by(CareTeamMessage.created_at.desc(), CareTeamMessage.id.desc())
            .limit(limit)
        ).all()
        replied: dict[int, list[datetime]] = defaultdict(list)
        for participant_id, created_at in session.execute(
            select(CareTeamMessage.participant_id, CareTeamMessage.created_at)
            .join(Participant, Participant.id == CareTeamMessage.participant_id)
            .where(Participant.provider_id == provider_id, CareTeamMessage.from_patient.is_(False))
        ):
            replied[participant_id].append(created_at)
    return [
        InboxMessage(
            id=message.id,
            pseudonym=pseudonym,
            nickname=nickname,
            body=message.body,
            created_at=message.created_at,
            unread=message.read_at is None,
            replies=sum(at >= message.created_at for at in replied[message.participant_id]),
        )
        for message, pseudonym, nickname in rows
    ]


def unread_count(url: str, provider_id: int) -> int:
    with session_scope(url) as session:
        return int(
            session.scalar(
                select(func.count(CareTeamMessage.id))
                .join(Participant, Participant.id == CareTeamMessage.participant_id)
                .where(
                    Participant.provider_id == provider_id,
                    CareTeamMessage.from_patient.is_(True),
                    CareTeamMessage.read_at.is_(None),
                )
            )
            or 0
        )


def mark_read(url: str, participant_id: int) -> None:
    """The provider has seen the patient's messages (opened the conversation or replied)."""
    with session_scope(url) as session:
        session.execute(
            update(CareTeamMessage)
            .where(
                CareTeamMessage.participant_id == participant_id,
                CareTeamMessage.from_patient.is_(True),
                CareTeamMessage.read_at.is_(None),
            )
            .values(read_at=utcnow())
        )


REPLY_MAX = 4000  # the care-team message column keeps at most this many characters


def add_reply(url: str, participant_id: int, provider_id: int, body: str) -> int:
    """A provider's reply, waiting for the gateway to deliver it; the patient's messages
    before it count as read."""
    with session_scope(url) as session:
        reply = CareTeamMessage(
            participant_id=participant_id,
            from_patient=False,
            body=body,
            provider_id=provider_id,
        )
        session.add(reply)
        session.execute(
            update(CareTeamMessage)
            .where(
                CareTeamMessage.participant_id == participant_id,
                CareTeamMessage.from_patient.is_(True),
                CareTeamMessage.read_at.is_(None),
            )
            .values(read_at=utcnow())
        )
        session.flush()
        return reply.id
