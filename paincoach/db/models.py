"""The app database: what the coach remembers about each participant."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and reads them back aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


class Participant(Base):
    """A patient who consented. Known only by a random pseudonym, never a Telegram id."""

    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    consented_at: Mapped[datetime]
    research_consent: Mapped[bool] = mapped_column(default=False)
    # Research use of free text (notes, module answers, messages): a separate, optional yes.
    free_text_consent: Mapped[bool] = mapped_column(default=False, server_default="0")
    # Withdrawn from the research: out of researcher views and exports from then on.
    research_withdrawn_at: Mapped[datetime | None]
    nickname: Mapped[str | None] = mapped_column(String(40))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    checkin_time: Mapped[time | None]
    reminders_paused: Mapped[bool] = mapped_column(default=False)
    language: Mapped[str] = mapped_column(String(8), default="en")
    enrolment_code: Mapped[str | None] = mapped_column(String(32))
    # The provider who enrolled the patient (through their code) and the study arm, if any.
    provider_id: Mapped[int | None] = mapped_column(
        ForeignKey("console_users.id", ondelete="SET NULL"), index=True
    )
    study_arm: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    checkins: Mapped[list[CheckIn]] = relationship(
        back_populates="participant", cascade="all, delete-orphan", passive_deletes=True
    )


class ConsentRefusal(Base):
    """Someone declined to take part. Only the fact and the time are kept."""

    __tablename__ = "consent_refusals"

    id: Mapped[int] = mapped_column(primary_key=True)
    refused_at: Mapped[datetime] = mapped_column(default=utcnow)


class CheckIn(Base):
    """One daily check-in: the PEG items, mood, sleep and a note. Partial until completed."""

    __tablename__ = "checkins"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    completed_at: Mapped[datetime | None]
    pain_average: Mapped[int | None]
    pain_enjoyment: Mapped[int | None]
    pain_activity: Mapped[int | None]
    mood: Mapped[int | None]
    sleep_quality: Mapped[int | None]
    note: Mapped[str | None] = mapped_column(Text)

    participant: Mapped[Participant] = relationship(back_populates="checkins")

    @property
    def peg_score(self) -> float | None:
        """Mean of the three PEG items (Krebs et al. 2009), when all three were answered."""
        items = (self.pain_average, self.pain_enjoyment, self.pain_activity)
        if any(item is None for item in items):
            return None
        return sum(items) / 3  # type: ignore[arg-type]


class CopingSession(Base):
    """One coping exercise, with tension rated before and after."""

    __tablename__ = "coping_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    exercise: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    tension_before: Mapped[int | None]
    tension_after: Mapped[int | None]
    steps_completed: Mapped[int] = mapped_column(default=0)


class Goal(Base):
    """A weekly activity goal. Setting a new one retires the old one."""

    __tablename__ = "goals"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    activity: Mapped[str] = mapped_column(String(200))
    times_per_week: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    active: Mapped[bool] = mapped_column(default=True)

    reviews: Mapped[list[GoalReview]] = relationship(
        back_populates="goal", cascade="all, delete-orphan", passive_deletes=True
    )


class GoalReview(Base):
    """How often the patient managed their goal, as they told the coach."""

    __tablename__ = "goal_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    goal_id: Mapped[int] = mapped_column(ForeignKey("goals.id", ondelete="CASCADE"), index=True)
    reviewed_at: Mapped[datetime] = mapped_column(default=utcnow)
    times_done: Mapped[int]

    goal: Mapped[Goal] = relationship(back_populates="reviews")


class FlareUpPlan(Base):
    """The patient's own flare-up plan, written with the coach. The newest one is current."""

    __tablename__ = "flare_up_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    warning_signs: Mapped[str] = mapped_column(Text)
    what_helps: Mapped[str] = mapped_column(Text)
    what_to_ease_off: Mapped[str] = mapped_column(Text)
    who_can_help: Mapped[str] = mapped_column(Text)
    note_to_self: Mapped[str] = mapped_column(Text)


class CareTeamMessage(Base):
    """A message between a patient and their care team (the inbox)."""

    __tablename__ = "care_team_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    from_patient: Mapped[bool] = mapped_column(default=True)
    body: Mapped[str] = mapped_column(Text)
    read_at: Mapped[datetime | None]
    # A provider's reply: who wrote it, and when the gateway delivered it to the chat.
    provider_id: Mapped[int | None] = mapped_column(
        ForeignKey("console_users.id", ondelete="SET NULL")
    )
    delivered_at: Mapped[datetime | None]
    delivery_attempts: Mapped[int] = mapped_column(default=0, server_default="0")


class SafetyEvent(Base):
    """A crisis or medical red flag the coach responded to, for the care team to follow up."""

    __tablename__ = "safety_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Null when it happened before consent: the response is given, nobody is identified.
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    # certain: the full response was given; possible: a check question was asked.
    tier: Mapped[str] = mapped_column(String(10), default="certain", server_default="certain")
    # safety_net, risk_model, nlu or check_question; `reason` names the rule or the answer.
    detected_by: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(40))
    check_answer: Mapped[str | None] = mapped_column(String(10))  # yes, no, unsure, unclear
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    safe_now: Mapped[bool | None]
    acknowledged_at: Mapped[datetime | None]


class ErasureRequest(Base):
    """A participant asked to be forgotten; the tracker events go once their turn is saved."""

    __tablename__ = "erasure_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    tracker_erased_at: Mapped[datetime | None]


class CareTeamAlert(Base):
    """Something the care team should look at: a crisis, a red flag, pain rising, silence."""

    __tablename__ = "care_team_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(30))
    # A short, text-free explanation ("pain rose on 3 check-ins"); never the patient's words.
    detail: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[int | None] = mapped_column(
        ForeignKey("console_users.id", ondelete="SET NULL")
    )
    # When the linked providers' Telegram chats were told (crisis and red flag only).
    notified_at: Mapped[datetime | None]


class TelegramChat(Base):
    """The one place where a Telegram chat is tied to a participant pseudonym."""

    __tablename__ = "telegram_chats"

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SentKeyboard(Base):
    """The buttons of a message the coach sent, so a press can be checked and used once."""

    __tablename__ = "sent_keyboards"
    __table_args__ = (UniqueConstraint("pseudonym", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    message_id: Mapped[int] = mapped_column(BigInteger)
    payloads: Mapped[list[str]] = mapped_column(JSON)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    pressed_at: Mapped[datetime | None]
    # The Telegram update that pressed it: the same update, handled again after a crash,
    # may use the press it made.
    pressed_update_id: Mapped[int | None] = mapped_column(BigInteger)


class PendingMessage(Base):
    """A patient message that could not reach Rasa yet; it is answered when Rasa is back."""

    __tablename__ = "pending_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]
    # The turn's key in Rasa (see RasaClient.send), so a retry after a crash is not a second
    # turn; null for messages kept before it existed.
    turn: Mapped[str | None] = mapped_column(String(64), index=True)


class TelegramUpdate(Base):
    """Every Telegram update, written down before Telegram is told it arrived: one that is
    delivered again is not handled twice, and one a crash interrupted is handled at start.
    Its content (and chat) is kept only until it is handled."""

    __tablename__ = "telegram_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    handled_at: Mapped[datetime | None] = mapped_column(index=True)
    chat_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    body: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class ScheduledJob(Base):
    """A message to send at a set time: a check-in reminder, a nudge, a provider's push."""

    __tablename__ = "scheduled_jobs"
    __table_args__ = (UniqueConstraint("participant_id", "kind", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(30))
    intent: Mapped[str] = mapped_column(String(60))
    entities: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    due_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    claimed_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The provider who scheduled a push (null for reminders and follow-ups).
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("console_users.id", ondelete="SET NULL")
    )


class ConsoleUser(Base):
    """A clinician, researcher or administrator who logs in to the console."""

    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    role: Mapped[str] = mapped_column(String(12))  # admin, provider or researcher
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]
    # The provider's own Telegram chat, linked with /link CODE, for crisis alerts.
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    telegram_link_code: Mapped[str | None] = mapped_column(String(64), unique=True)
    telegram_link_expires_at: Mapped[datetime | None]


class ConsoleSession(Base):
    """A console login. The cookie carries only the random id; logging out ends it here."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("console_users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]


class EnrolmentCode(Base):
    """A code that ties a new patient to a provider (and a study arm) when they /start."""

    __tablename__ = "enrolment_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("console_users.id", ondelete="CASCADE"), index=True
    )
    study_arm: Mapped[str | None] = mapped_column(String(40))
    max_uses: Mapped[int] = mapped_column(default=1)
    uses: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class ModuleProgress(Base):
    """Where a patient is in one module: assigned, in progress at a step, or completed."""

    __tablename__ = "module_progress"
    __table_args__ = (UniqueConstraint("participant_id", "module_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    module_id: Mapped[str] = mapped_column(String(64))
    # assigned (pushed, not started), in_progress, paused or completed
    status: Mapped[str] = mapped_column(String(12), default="assigned")
    step_index: Mapped[int] = mapped_column(default=0)
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]


class ModuleAnswer(Base):
    """A patient's answer to one step of a module, saved when it was given."""

    __tablename__ = "module_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    module_id: Mapped[str] = mapped_column(String(64))
    step_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(12))  # question, choice, scale or checkpoint
    answer: Mapped[str] = mapped_column(Text)
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Who looked at or changed what in the console, when and from where. Append-only."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("console_users.id", ondelete="SET NULL"), index=True
    )
    actor_email: Mapped[str | None] = mapped_column(String(254))  # kept if the account goes
    action: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(String(400))


class Code(Base):
    """A code of the project codebook, for qualitative coding; codes may nest."""

    __tablename__ = "codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    colour: Mapped[str] = mapped_column(String(7), default="#4c78a8")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("codes.id", ondelete="SET NULL"))
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("console_users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Coding(Base):
    """A code applied by one coder to a message, or a span of it, with an optional memo."""

    __tablename__ = "codings"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("codes.id", ondelete="CASCADE"), index=True)
    coder_id: Mapped[int | None] = mapped_column(
        ForeignKey("console_users.id", ondelete="SET NULL")
    )
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    # The message: the id of its event in Rasa's tracker store (another database).
    event_id: Mapped[int] = mapped_column(BigInteger, index=True)
    start: Mapped[int]  # character offsets in the message text, end exclusive
    end: Mapped[int]
    memo: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PasswordReset(Base):
    """A one-time link an admin made for an account to set a new password."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("console_users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
