"""Providers and their patients, written straight into the test database."""

from __future__ import annotations

from datetime import time

from sqlalchemy import update

from paincoach.db.engine import session_scope
from paincoach.db.models import ConsoleUser, Participant
from paincoach.db.store import CoachStore, Consent


def add_provider(
    url: str,
    email: str = "physio@clinic.example",
    *,
    role: str = "provider",
    chat_id: int | None = None,
) -> int:
    """A console account (the password hash is never checked here); returns its id."""
    with session_scope(url) as session:
        user = ConsoleUser(email=email, role=role, password_hash="-", telegram_chat_id=chat_id)
        session.add(user)
        session.flush()
        return user.id


def add_patient(
    url: str,
    pseudonym: str,
    provider_id: int | None,
    *,
    timezone: str = "Europe/Oslo",
    nickname: str = "Sam",
) -> None:
    """A consented participant, tied to `provider_id` as an enrolment code would."""
    CoachStore(url).register_consent(pseudonym, Consent(False, nickname, time(20), timezone))
    with session_scope(url) as session:
        session.execute(
            update(Participant)
            .where(Participant.pseudonym == pseudonym)
            .values(provider_id=provider_id)
        )
