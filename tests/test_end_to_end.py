"""End to end: the real Rasa server and action server (of the session's stack), a patient
chatting over REST."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import create_engine, func, select, text

from paincoach.db.engine import session_scope
from paincoach.db.models import Base, CheckIn, Participant
from paincoach.db.store import CoachStore
from paincoach.rasa_client import BotMessage, RasaClient
from paincoach.settings import Settings
from paincoach.stack import Stack

pytestmark = pytest.mark.e2e
SENDER = "p-e2e0000000000001"


@pytest.fixture
def stack(full_stack: Stack) -> Stack:
    """The session's stack: this file speaks to its Rasa over REST, as a channel would."""
    return full_stack


@pytest.fixture
def settings(stack: Stack) -> Settings:
    return stack.settings


@pytest.fixture
async def client(stack: Stack, settings: Settings) -> AsyncIterator[RasaClient]:
    store = CoachStore(settings.database_url)
    async with RasaClient(stack.rasa_url, stack.token, store, settings.tracker_store_url) as rasa:
        yield rasa


async def say(client: RasaClient, text: str, sender: str = SENDER) -> str:
    replies: list[BotMessage] = await client.send(sender, text)
    assert replies, f"no reply to {text!r}"
    return "\n".join(m.text or "" for m in replies)


def tracker_events(settings: Settings, sender: str) -> int:
    engine = create_engine(settings.tracker_store_url)
    try:
        with engine.connect() as connection:
            return connection.scalar(
                text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": sender}
            )
    finally:
        engine.dispose()


async def test_onboarding_check_in_and_erasure(client: RasaClient, settings: Settings) -> None:
    assert "not a doctor" in await say(client, "/start")
    assert "optional" in await say(client, "/affirm")
    assert "call you" in await say(client, "/deny")
    assert "time of day" in await say(client, "Sam")
    assert "time zone" in await say(client, "8pm")
    assert "all set" in await say(client, "london")

    assert "average" in await say(client, "/start_checkin")
    assert "0 to 10" in await say(client, "11")
    assert "number from 0 to 10" in await say(client, "lots")
    assert "6 or 7" in await say(client, "six or seven")
    assert "enjoying life" in await say(client, "7")
    assert "general activity" in await say(client, "about a 6")
    assert "mood" in await say(client, "5/10")
    assert "sleep" in await say(client, "four")
    assert "note" in await say(client, "3")
    assert "check-in saved" in await say(client, "walked the dog, felt ok after")

    with session_scope(settings.database_url) as session:
        participant = session.scalar(select(Participant).where(Participant.pseudonym == SENDER))
        assert participant is not None
        assert (participant.nickname, participant.timezone) == ("Sam", "Europe/London")
        assert participant.research_consent is False
        participant_id = participant.id
        (checkin,) = session.scalars(
            select(CheckIn).where(CheckIn.participant_id == participant.id)
        ).all()
        answers = (checkin.pain_average, checkin.pain_enjoyment, checkin.pain_activity)
        assert answers == (7, 6, 5)
        assert (checkin.mood, checkin.sleep_quality) == (4, 3)
        assert checkin.note == "walked the dog, felt ok after" and checkin.completed_at is not None
    assert tracker_events(settings, SENDER) > 0

    assert "can't be undone" in await say(client, "/delete_my_data")
    assert "erased everything" in await say(client, "/affirm")
    assert CoachStore(settings.database_url).export(SENDER) is None
    with session_scope(settings.database_url) as session:
        for table in Base.metadata.sorted_tables:
            if "participant_id" in table.c:
                rows = select(func.count()).select_from(table)
                assert session.scalar(rows.where(table.c.participant_id == participant_id)) == 0
    assert tracker_events(settings, SENDER) == 0


@pytest.mark.parametrize(
    "message",
    [
        "",
        "🙂",
        "x" * 5000,
        "DROP TABLE participants;",
        "/no_such_intent",
        "/start_checkin{bad json",
    ],
)
async def test_bad_input_gets_a_sensible_reply(client: RasaClient, message: str) -> None:
    sender = "p-e2e-bad-" + str(abs(hash(message)) % 10_000)
    replies = await client.send(sender, message)
    assert replies, "the coach stayed silent"
    assert all(m.text or m.buttons for m in replies)


async def test_a_check_in_before_consent_stores_nothing(
    client: RasaClient, settings: Settings
) -> None:
    reply = await say(client, "/start_checkin", sender="p-e2e-stranger")
    assert "/start" in reply
    assert CoachStore(settings.database_url).participant("p-e2e-stranger") is None


async def test_a_refusal_keeps_nothing_but_the_refusal(
    client: RasaClient, settings: Settings
) -> None:
    sender = "p-e2e-refuses"
    assert "not a doctor" in await say(client, "/start", sender=sender)
    assert "haven't stored anything" in await say(client, "/deny", sender=sender)
    assert CoachStore(settings.database_url).participant(sender) is None
    assert tracker_events(settings, sender) == 0
