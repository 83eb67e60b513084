"""Leaving the research: out of every researcher view and export from that moment on."""

from __future__ import annotations

from sqlalchemy import select

from paincoach.db.engine import session_scope
from paincoach.db.models import Participant, utcnow
from paincoach.research.search import ResearchIndex
from paincoach.settings import Settings, get_settings


def withdraw_from_research(pseudonym: str, settings: Settings | None = None) -> bool:
    """Record the withdrawal and drop the participant from the research index; False when
    they were not in the research (unknown, no research consent, or already withdrawn).

    Every research view and export selects participants by consent and withdrawal at the
    moment it runs, so nothing of theirs is shown or exported after this returns.
    """
    settings = settings or get_settings()
    with session_scope(settings.database_url) as session:
        participant = session.scalar(
            select(Participant).where(Participant.pseudonym == pseudonym).with_for_update()
        )
        if (
            participant is None
            or not participant.research_consent
            or participant.research_withdrawn_at is not None
        ):
            return False
        participant.research_withdrawn_at = utcnow()
    ResearchIndex(settings.database_url, settings.tracker_store_url).forget(pseudonym)
    return True
