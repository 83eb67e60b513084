"""Everything the coach reads and writes, behind one small class."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, inspect, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from paincoach.db.engine import make_engine, session_scope
from paincoach.db.models import (
    CareTeamAlert,
    CareTeamMessage,
    CheckIn,
    Coding,
    ConsentRefusal,
    CopingSession,
    ErasureRequest,
    FlareUpPlan,
    Goal,
    GoalReview,
    ModuleAnswer,
    ModuleProgress,
    Participant,
    PendingMessage,
    SafetyEvent,
    ScheduledJob,
    SentKeyboard,
    TelegramChat,
    TelegramUpdate,
    utcnow,
)

CHECKIN_ITEMS = ("pain_average", "pain_enjoyment", "pain_activity", "mood", "sleep_quality")
StoreError = SQLAlchemyError
ERASED = "erased"  # what a completed erasure request keeps in place of the pseudonym


def new_pseudonym() -> str:
    """A random participant pseudonym: what Rasa sees instead of any real identity."""
    return "p-" + secrets.token_hex(8)


@dataclass(frozen=True)
class Consent:
    research: bool
    nickname: str
    checkin_time: time
    timezone: str
    enrolment_code: str | None = None
    free_text: bool = False  # research use of free text, only with research consent


class CoachStore:
    """The app database, as the coach's actions and the channels use it."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url

    def _session(self):  # type: ignore[no-untyped-def]
        return session_scope(self.url)

    def _participant(self, session: Session, pseudonym: str) -> Participant | None:
        return session.scalar(select(Participant).where(Participant.pseudonym == pseudonym))

    # Onboarding -------------------------------------------------------------------------

    def participant(self, pseudonym: str) -> Participant | None:
        with self._session() as session:
            return self._participant(session, pseudonym)

    def register_consent(self, pseudonym: str, consent: Consent) -> Participant:
        """Create (or update) the participant once they have consented."""
        with self._session() as session:
            participant = self._participant(session, pseudonym)
            if participant is None:
                participant = Participant(pseudonym=pseudonym, consented_at=utcnow())
                session.add(participant)
            participant.research_consent = consent.research
            participant.free_text_consent = consent.research and consent.free_text
            participant.nickname = consent.nickname
            participant.checkin_time = consent.checkin_time
            participant.timezone = consent.timezone
            participant.enrolment_code = consent.enrolment_code or participant.enrolment_code
            session.flush()
            return participant

    def record_refusal(self) -> None:
        with self._session() as session:
            session.add(ConsentRefusal())

    # Check-ins --------------------------------------------------------------------------

    def save_checkin(
        self,
        pseudonym: str,
        answers: Mapping[str, Any],
        checkin_id: int | None = None,
        completed: bool = False,
    ) -> int:
        """Create or update a check-in with the answers given so far; returns its id."""
        with self._session() as session:
            participant = self._require(session, pseudonym)
            checkin = session.get(CheckIn, checkin_id) if checkin_id else None
            if checkin is None or checkin.participant_id != participant.id:
                checkin = CheckIn(participant_id=participant.id)
                session.add(checkin)
            for item in CHECKIN_ITEMS:
                if answers.get(item) is not None:
                    setattr(checkin, item, int(answers[item]))
            if answers.get("note"):
                checkin.note = str(answers["note"])[:4000]
            if completed and checkin.completed_at is None:
                checkin.completed_at = utcnow()
            session.flush()
            return checkin.id

    def checkins_since(self, pseudonym: str, since: datetime) -> list[CheckIn]:
        with self._session() as session:
            participant = self._require(session, pseudonym)
            return list(
                session.scalars(
                    select(CheckIn)
                    .where(CheckIn.participant_id == participant.id, CheckIn.started_at >= since)
                    .order_by(CheckIn.started_at)
                )
            )

    def recent_checkins(self, pseudonym: str, days: int) -> list[CheckIn]:
        return self.checkins_since(pseudonym, utcnow() - timedelta(days=days))

    # Coping, goals and flare-up plans ---------------------------------------------------

    def save_coping_session(
        self,
        pseudonym: str,
        exercise: str,
        tension_before: int | None,
        tension_after: int | None,
        steps_completed: int,
        completed: bool,
    ) -> int:
        with self._session() as session:
            participant = self._require(session, pseudonym)
            coping = CopingSession(
                participant_id=participant.id,
                exercise=exercise,
                tension_before=tension_before,
                tension_after=tension_after,
                steps_completed=steps_completed,
                completed_at=utcnow() if completed else None,
            )
            session.add(coping)
            session.flush()
            return coping.id

    def coping_sessions(self, pseudonym: str) -> list[CopingSession]:
        with self._session() as session:
            participant = self._require(session, pseudonym)
            return list(
                session.scalars(
                    select(CopingSession)
                    .where(CopingSession.participant_id == participant.id)
                    .order_by(CopingSession.started_at)
                )
            )

    def set_goal(self, pseudonym: str, activity: str, times_per_week: int) -> Goal:
        with self._session() as session:
            participant = self._require(session, pseudonym)
            session.execute(
                update(Goal)
                .where(Goal.participant_id == participant.id, Goal.active.is_(True))
                .values(active=False)
            )
            goal = Goal(
                participant_id=participant.id,
                activity=activity[:200],
                times_per_week=times_per_week,
            )
            session.add(goal)
            session.flush()
            return goal

    def active_goal(self, pseudonym: str) -> Goal | None:
        with self._session() as session:
            participant = self._require(session, pseudonym)
            return session.scalar(
                select(Goal)
                .where(Goal.participant_id == participant.id, Goal.active.is_(True))
                .order_by(Goal.created_at.desc())
            )

    def review_goal(self, pseudonym: str, times_done: int) -> GoalReview | None:
        with self._session() as session:
            participant = self._require(session, pseudonym)
            goal = session.scalar(
                select(Goal).where(Goal.participant_id == participant.id, Goal.active.is_(True))
            )
            if goal is None:
                return None
            review = GoalReview(goal_id=goal.id, times_done=times_done)
            session.add(review)
            session.flush()
            return review

    def save_flare_up_plan(self, pseudonym: str, **sections: str) -> FlareUpPlan:
        with self._session() as session:
            participant = self._require(session, pseudonym)
            plan = FlareUpPlan(participant_id=participant.id, **sections)
            session.add(plan)
            session.flush()
            return plan

    def flare_up_plan(self, pseudonym: str) -> FlareUpPlan | None:
        with self._session() as session:
            participant = self._require(session, pseudonym)
            return session.scalar(
                select(FlareUpPlan)
                .where(FlareUpPlan.participant_id == participant.id)
                .order_by(FlareUpPlan.created_at.desc(), FlareUpPlan.id.desc())
            )

    # Care team and safety ---------------------------------------------------------------

    def add_care_team_message(self, pseudonym: str, body: str) -> int:
        with self._session() as session:
            participant = self._require(session, pseudonym)
            message = CareTeamMessage(participant_id=participant.id, body=body[:4000])
            session.add(message)
            session.flush()
            return message.id

    def record_safety_event(
        self,
        pseudonym: str,
        kind: str,
        detected_by: str = "nlu",
        *,
        tier: str = "certain",
        reason: str | None = None,
    ) -> int:
        """Record a crisis or red flag; a certain one also alerts the care team. Before
        consent the event is kept without identity."""
        with self._session() as session:
            participant = self._participant(session, pseudonym)
            participant_id = participant.id if participant else None
            event = SafetyEvent(
                participant_id=participant_id,
                kind=kind,
                tier=tier,
                detected_by=detected_by,
                reason=reason[:40] if reason else None,
            )
            session.add(event)
            if tier == "certain":
                session.add(CareTeamAlert(participant_id=participant_id, kind=kind))
            session.flush()
            return event.id

    def record_check_answer(self, pseudonym: str, kind: str, answer: str) -> None:
        """Attach the answer to a check question to the latest possible event of that kind.
        Before consent nobody is identified, so the answer is its own anonymous event."""
        with self._session() as session:
            participant = self._participant(session, pseudonym)
            event = None
            if participant is not None:
                event = session.scalar(
                    select(SafetyEvent)
                    .where(
                        SafetyEvent.participant_id == participant.id,
                        SafetyEvent.kind == kind,
                        SafetyEvent.tier == "possible",
                        SafetyEvent.check_answer.is_(None),
                    )
                    .order_by(SafetyEvent.created_at.desc(), SafetyEvent.id.desc())
                )
            if event is None:
                event = SafetyEvent(
                    participant_id=participant.id if participant else None,
                    kind=kind,
                    tier="possible",
                    detected_by="check_question",
                )
                session.add(event)
            event.check_answer = answer

    def mark_safe_now(self, pseudonym: str, safe: bool) -> None:
        """Attach the patient's answer to "are you safe now?" to their latest crisis event."""
        with self._session() as session:
            participant = self._participant(session, pseudonym)
            if participant is None:
                return
            event = session.scalar(
                select(SafetyEvent)
                .where(SafetyEvent.participant_id == participant.id, SafetyEvent.kind == "crisis")
                .order_by(SafetyEvent.created_at.desc(), SafetyEvent.id.desc())
            )
            if event is not None:
                event.safe_now = safe

    # Preferences ------------------------------------------------------------------------

    def set_checkin_time(self, pseudonym: str, checkin_time: time) -> None:
        with self._session() as session:
            self._require(session, pseudonym).checkin_time = checkin_time

    def set_reminders_paused(self, pseudonym: str, paused: bool) -> None:
        with self._session() as session:
            self._require(session, pseudonym).reminders_paused = paused

    def export(self, pseudonym: str) -> dict[str, Any] | None:
        """Everything stored about one participant, for them to download (/mydata)."""
        with self._session() as session:
            participant = self._participant(session, pseudonym)
            if participant is None:
                return None

            def rows(model: Any) -> list[dict[str, Any]]:
                found = session.scalars(
                    select(model).where(model.participant_id == participant.id).order_by(model.id)
                )
                return [_columns(row, skip={"participant_id"}) for row in found]

            goals = rows(Goal)
            reviews = session.scalars(
                select(GoalReview).where(GoalReview.goal_id.in_([g["id"] for g in goals]))
            )
            return {
                "participant": _columns(participant, skip={"id"}),
                "checkins": rows(CheckIn),
                "coping_sessions": rows(CopingSession),
                "goals": goals,
                "goal_reviews": [_columns(r) for r in reviews],
                "flare_up_plans": rows(FlareUpPlan),
                "care_team_messages": rows(CareTeamMessage),
                "safety_events": rows(SafetyEvent),
                "module_progress": rows(ModuleProgress),
                "module_answers": rows(ModuleAnswer),
            }

    # Erasure ----------------------------------------------------------------------------

    def erase_participant(self, pseudonym: str) -> bool:
        """Delete every row about the participant and queue their tracker events for erasure."""
        with self._session() as session:
            participant = self._participant(session, pseudonym)
            session.add(ErasureRequest(pseudonym=pseudonym))
            # The chat mapping goes too, so a later /start begins with a new pseudonym, with
            # any update of the chat still being handled (this one).
            chats = select(TelegramChat.chat_id).where(TelegramChat.pseudonym == pseudonym)
            session.execute(delete(TelegramUpdate).where(TelegramUpdate.chat_id.in_(chats)))
            for channel_table in (TelegramChat, SentKeyboard, PendingMessage):
                session.execute(delete(channel_table).where(channel_table.pseudonym == pseudonym))
            if participant is None:
                return False
            goal_ids = select(Goal.id).where(Goal.participant_id == participant.id)
            # Explicit deletes, child tables first, so erasure never depends on cascades.
            session.execute(delete(GoalReview).where(GoalReview.goal_id.in_(goal_ids)))
            for table in (
                CheckIn, CopingSession, Goal, FlareUpPlan, CareTeamMessage, SafetyEvent,
                CareTeamAlert, ScheduledJob, ModuleProgress, ModuleAnswer, Coding,
            ):  # fmt: skip
                session.execute(delete(table).where(table.participant_id == participant.id))
            session.execute(delete(Participant).where(Participant.id == participant.id))
            return True

    def pending_erasures(self) -> list[str]:
        with self._session() as session:
            return list(
                session.scalars(
                    select(ErasureRequest.pseudonym).where(
                        ErasureRequest.tracker_erased_at.is_(None)
                    )
                )
            )

    def erase_tracker(self, pseudonym: str, tracker_store_url: str) -> int:
        """Delete the participant's events from Rasa's tracker store; returns how many."""
        engine = make_engine(tracker_store_url)
        try:
            if "events" not in inspect(engine).get_table_names():
                erased = 0
            else:
                with engine.begin() as connection:
                    erased = connection.execute(
                        text("DELETE FROM events WHERE sender_id = :sender"),
                        {"sender": pseudonym},
                    ).rowcount
        finally:
            engine.dispose()
        with self._session() as session:
            session.execute(
                update(ErasureRequest)
                .where(
                    ErasureRequest.pseudonym == pseudonym,
                    ErasureRequest.tracker_erased_at.is_(None),
                )
                # Done: the record of the erasure stays, without the pseudonym it erased.
                .values(tracker_erased_at=utcnow(), pseudonym=ERASED)
            )
        return erased

    # ------------------------------------------------------------------------------------

    def _require(self, session: Session, pseudonym: str) -> Participant:
        participant = self._participant(session, pseudonym)
        if participant is None:
            raise NotEnrolled(pseudonym)
        return participant


class NotEnrolled(LookupError):
    """The conversation partner has not consented, so nothing may be stored about them."""


def _columns(row: Any, skip: set[str] | None = None) -> dict[str, Any]:
    """A model row as a plain dict of its column values."""
    return {
        column.key: getattr(row, column.key)
        for column in row.__table__.columns
        if column.key not in (skip or set())
    }
