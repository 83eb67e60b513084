"""Pseudonymised transcripts for researchers: who appears, every turn, filters and search.

Only participants with research consent who have not withdrawn appear; everything else
about what is withheld is in `paincoach.research.turns`. The tracker store is read for a
whole transcript; lists, filters and search go through the research index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from paincoach.db.engine import session_scope
from paincoach.db.models import CheckIn, ModuleProgress, Participant, SafetyEvent
from paincoach.research.members import in_research, member, members
from paincoach.research.search import Hit, ResearchIndex, TurnFilter
from paincoach.research.tracker import TrackerEvents
from paincoach.research.turns import KINDS, Turn, TurnReader
from paincoach.settings import Settings

__all__ = ["KINDS", "Hit", "ParticipantSummary", "ResearchStore", "Turn"]


@dataclass(frozen=True)
class ParticipantSummary:
    """One line of the participants list: a pseudonym and counts, nothing identifying."""

    pseudonym: str
    study_arm: str | None
    enrolled: date  # the day of consent, on the participant's calendar
    first_activity: datetime | None  # UTC: first and last message in or out
    last_activity: datetime | None
    messages_in: int  # typed by the patient (not reminders, pushes or the safety net)
    messages_out: int  # the coach's replies
    checkins: int
    modules_completed: int
    safety_events: int


def _counts(session: Session, model: Any, *where: Any) -> dict[int, int]:
    """Rows of `model` per visible participant."""
    query = (
        select(model.participant_id, func.count())
        .join(Participant, Participant.id == model.participant_id)
        .where(in_research(), *where)
        .group_by(model.participant_id)
    )
    return {pid: count for pid, count in session.execute(query)}


class ResearchStore:
    """What a researcher can read: participants, transcripts, filtered turns and search."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tracker = TrackerEvents(settings.tracker_store_url)
        self.index = ResearchIndex(settings.database_url, settings.tracker_store_url)

    def participants(self, arm: str | None = None) -> list[ParticipantSummary]:
        """Everyone researchers may see (optionally one study arm), by pseudonym."""
        url = self.settings.database_url
        with session_scope(url) as session:
            found = members(session, arm)

            checkins = _counts(session, CheckIn)
            modules = _counts(session, ModuleProgress, ModuleProgress.status == "completed")
            safety = _counts(session, SafetyEvent)
        activity = self.tracker.activity(m.pseudonym for m in found)
        summaries = []
        for m in found:
            seen = activity.get(m.pseudonym)
            summaries.append(
                ParticipantSummary(
                    pseudonym=m.pseudonym,
                    study_arm=m.study_arm,
                    enrolled=m.enrolled,
                    first_activity=seen.first if seen else None,
                    last_activity=seen.last if seen else None,
                    messages_in=seen.messages_in if seen else 0,
                    messages_out=seen.messages_out if seen else 0,
                    checkins=checkins.get(m.id, 0),
                    modules_completed=modules.get(m.id, 0),
                    safety_events=safety.get(m.id, 0),
                )
            )
        return summaries

    def transcript(
        self,
        pseudonym: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Turn] | None:
        """Every turn of one participant's conversation in order (UTC `since`/`until` slice
        it); None for anyone researchers may not see."""
        with session_scope(self.settings.database_url) as session:
            found = member(session, pseudonym)
        if found is None:
            return None
        reader = TurnReader(found)
        if since is not None:
            for event in self.tracker.context_before(pseudonym, since):
                reader.follow(event)
        events = self.tracker.conversation(pseudonym, since=since, until=until, turns_only=True)
        return list(reader.read_all(events))

    def turns(
        self,
        *,
        pseudonym: str | None = None,
        arm: str | None = None,
        since: date | datetime | None = None,
        until: date | datetime | None = None,
        module: str | None = None,
        intent: str | None = None,
        max_confidence: float | None = None,
        kind: str | None = None,
        limit: int = 200,
    ) -> list[Hit]:
        """Patient, coach and safety turns across transcripts that match every filter, in
        time order. A date bound is the participant's calendar day (until: inclusive); a
        datetime bound is UTC (until: exclusive)."""
        self.index.refresh()
        where = TurnFilter(pseudonym, arm, since, until, module, intent, max_confidence, kind)
        return self.index.turns(where, limit)

    def search(
        self,
        query: str,
        *,
        pseudonym: str | None = None,
        arm: str | None = None,
        since: date | datetime | None = None,
        until: date | datetime | None = None,
        module: str | None = None,
        intent: str | None = None,
        max_confidence: float | None = None,
        kind: str | None = None,
        limit: int = 200,
    ) -> list[Hit]:
        """Full-text search across transcripts (every word must match, stemmed), with the
        same filters as `turns`; each hit's snippet marks the matched words."""
        self.index.refresh()
        where = TurnFilter(pseudonym, arm, since, until, module, intent, max_confidence, kind)
        return self.index.search(query, where, limit)
