"""Who researchers may see: participants with research consent who have not withdrawn."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, literal, select, union_all
from sqlalchemy.orm import Session

from paincoach.db.models import (
    CareTeamMessage,
    CheckIn,
    FlareUpPlan,
    Goal,
    ModuleAnswer,
    Participant,
)
from paincoach.scheduler.jobs import zone

# What researchers see instead of words they may not read.
FREE_TEXT_WITHHELD = "[free text withheld]"
CARE_TEAM_WITHHELD = "[care-team message withheld]"
NICKNAME = "[nickname]"
WITHHELD = "[withheld]"  # a value that is neither words nor a number (slots, entities)


def in_research() -> Any:
    """The condition on Participant rows that makes them visible to researchers."""
    return Participant.research_consent.is_(True) & Participant.research_withdrawn_at.is_(None)


@dataclass(frozen=True)
class Member:
    """A participant as the research layer knows them. The nickname and private texts are
    only ever used to scrub them out of what is shown; they are never shown."""

    id: int
    pseudonym: str
    study_arm: str | None
    consented_at: datetime
    timezone: str
    free_text: bool
    nickname: str | None = field(default=None, repr=False)
    # The patient's words kept in our own tables (plans, goals, notes, answers, messages to
    # the care team), in case the coach repeats them back in a reply.
    free_texts: tuple[str, ...] = field(default=(), repr=False)
    care_team_texts: tuple[str, ...] = field(default=(), repr=False)

    @property
    def enrolled(self) -> date:
        """The day of consent, on the participant's own calendar."""
        return self.consented_at.astimezone(zone(self.timezone)).date()

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(zone(self.timezone)).date()

    def day_number(self, day: date) -> int:
        """Days since enrolment on the participant's calendar: 0 on the day of consent."""
        return (day - self.enrolled).days

    @property
    def fingerprint(self) -> str:
        """What the indexed text of this participant depends on, besides their events."""
        return f"free_text={int(self.free_text)};tz={self.timezone}"


def member_query(arm: str | None = None, pseudonym: str | None = None) -> Select[Any]:
    query = select(Participant).where(in_research()).order_by(Participant.pseudonym)
    if arm is not None:
        query = query.where(Participant.study_arm == arm)
    if pseudonym is not None:
        query = query.where(Participant.pseudonym == pseudonym)
    return query


def _member(participant: Participant) -> Member:
    return Member(
        id=participant.id,
        pseudonym=participant.pseudonym,
        study_arm=participant.study_arm,
        consented_at=participant.consented_at,
        timezone=participant.timezone or "UTC",
        free_text=bool(participant.free_text_consent),
        nickname=participant.nickname,
    )


def members(session: Session, arm: str | None = None) -> list[Member]:
    """Everyone researchers may see (optionally one study arm), by pseudonym."""
    return [_member(p) for p in session.scalars(member_query(arm))]


def member(session: Session, pseudonym: str, with_texts: bool = True) -> Member | None:
    """One participant researchers may see, with the texts to scrub; None otherwise."""
    participant = session.scalar(member_query(pseudonym=pseudonym))
    if participant is None:
        return None
    found = _member(participant)
    return with_private_texts(session, found) if with_texts else found


def with_private_texts(session: Session, found: Member) -> Member:
    """The member with their stored free texts loaded (one query), for scrubbing replies
    that echo them."""
    pid = found.id
    plan = FlareUpPlan.participant_id == pid
    parts = [
        *(
            select(literal(False), column).where(plan)
            for column in (
                FlareUpPlan.warning_signs, FlareUpPlan.what_helps, FlareUpPlan.what_to_ease_off,
                FlareUpPlan.who_can_help, FlareUpPlan.note_to_self,
            )
        ),
        select(literal(False), Goal.activity).where(Goal.participant_id == pid),
        select(literal(False), CheckIn.note).where(
            CheckIn.participant_id == pid, CheckIn.note.is_not(None)
        ),
        select(literal(False), ModuleAnswer.answer).where(
            ModuleAnswer.participant_id == pid, ModuleAnswer.kind == "question"
        ),
        select(literal(True), CareTeamMessage.body).where(
            CareTeamMessage.participant_id == pid, CareTeamMessage.from_patient.is_(True)
        ),
    ]  # fmt: skip
    texts: list[str] = []
    care_team: list[str] = []
    for to_care_team, text in session.execute(union_all(*parts)):
        if text:
            (care_team if to_care_team else texts).append(text)
    return replace(found, free_texts=tuple(texts), care_team_texts=tuple(care_team))
