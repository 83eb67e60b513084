"""End to end: the real Rasa server and action server, a patient chatting over REST."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import create_engine, func, select, text

from paincoach.db import migrate
from paincoach.db.engine import session_scope
from paincoach.db.models import Base, CheckIn, Participant
from paincoach.db.store import CoachStore
from paincoach.rasa_client import BotMessage, RasaClient
from paincoach.settings import Settings
from paincoach.stack import MODEL, Stack

pytestmark = pytest.mark.e2e
SENDER = "p-e2e0000000000001"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    if not MODEL.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"No trained model at {MODEL}: `make test` trains it before pytest")
        pytest.skip(f"No trained model at {MODEL}; run `make train` first")
    folder = tmp_path_factory.mktemp("e2e")
    return Settings(
        database_url=f"sqlite:///{folder / 'paincoach.db'}",
        tracker_store_url=f"sqlite:///{folder / 'tracker.db'}",
        rasa_token="e2e-token",
        rasa_port=free_port(),
        action_server_port=free_port(),
    )


@pytest.fixture(scope="module")
def stack(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    migrate.upgrade(settings.database_url)
    services = Stack(settings, log_dir=tmp_path_factory.mktemp("logs"))
    services.start()
    yield services
    services.stop()


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
    assert "check-in saved" in await say(client, "hard day, stairs were tough")

    with session_scope(settings.database_url) as session:
        participant = session.scalar(select(Participant).where(Participant.pseudonym == SENDER))
        assert participant is not None
        assert (participant.nickname, participant.timezone) == ("Sam", "Europe/London")
        assert participant.research_consent is False
        (checkin,) = session.scalars(select(CheckIn)).all()
        answers = (checkin.pain_average, checkin.pain_enjoyment, checkin.pain_activity)
        assert answers == (7, 6, 5)
        assert (checkin.mood, checkin.sleep_quality) == (4, 3)
        assert checkin.note == "hard day, stairs were tough" and checkin.completed_at is not None
    assert tracker_events(settings, SENDER) > 0

    assert "can't be undone" in await say(client, "/delete_my_data")
    assert "erased everything" in await say(client, "/affirm")
    with session_scope(settings.database_url) as session:
        for table in Base.metadata.sorted_tables:
            if table.name not in ("erasure_requests", "consent_refusals"):
                assert session.scalar(select(func.count()).select_from(table)) == 0, table.name
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
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(CheckIn)) == 0
