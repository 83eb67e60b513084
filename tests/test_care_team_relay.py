"""The gateway's care-team side against the Bot API stand-in: /link, crisis alerts to the
provider's own chat within one scheduler tick, and providers' replies in the patient's chat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from telegram import Bot
from telegram.ext import ApplicationBuilder, CommandHandler

from paincoach.alerts import AlertStore
from paincoach.db.channel import ChannelStore, Press
from paincoach.db.engine import session_scope
from paincoach.db.models import (
    CareTeamAlert,
    CareTeamMessage,
    ConsoleUser,
    Participant,
    SentKeyboard,
    TelegramChat,
    utcnow,
)
from paincoach.db.store import CoachStore
from paincoach.gateway.app import on_link, start_polling, stop_polling
from paincoach.gateway.providers import MAX_ATTEMPTS, ProviderRelay, chunks
from paincoach.scheduler.clock import FakeClock
from paincoach.scheduler.jobs import JobStore
from paincoach.scheduler.runner import Scheduler
from paincoach.settings import Settings
from paincoach.standin import BotApiStandIn
from tests.providers import add_patient, add_provider

PROVIDER_CHAT = 4242
PATIENT_CHAT = 9191
CONSOLE = "https://console.clinic.example"


class NoTurns:
    """The scheduler's gateway for these tests: no Rasa turn is expected."""

    async def trigger(self, pseudonym: str, intent: str, entities: dict[str, object]) -> bool:
        raise AssertionError("no coach turn was expected")


@pytest.fixture
async def standin() -> AsyncIterator[BotApiStandIn]:
    async with BotApiStandIn() as server:
        yield server


@pytest.fixture
async def relay(standin: BotApiStandIn, database_url: str) -> AsyncIterator[ProviderRelay]:
    settings = Settings(database_url=database_url, public_console_url=CONSOLE + "/")
    async with Bot(standin.token, base_url=standin.base_url) as bot:
        yield ProviderRelay(bot, settings)


def patient_chat(url: str, pseudonym: str, chat_id: int = PATIENT_CHAT) -> None:
    with session_scope(url) as session:
        session.add(TelegramChat(chat_id=chat_id, pseudonym=pseudonym))


def scheduler(relay: ProviderRelay, url: str) -> Scheduler:
    clock = FakeClock(utcnow())
    return Scheduler(
        JobStore(url), NoTurns(), relay.settings, clock, alerts=AlertStore(url), care_team=relay
    )


async def test_a_crisis_reaches_the_linked_provider_within_one_tick(
    standin: BotApiStandIn, relay: ProviderRelay, database_url: str
) -> None:
    standin.user_says(PROVIDER_CHAT, "hello")  # the provider has opened the bot
    provider = add_provider(database_url, chat_id=PROVIDER_CHAT)
    add_patient(database_url, "p-crisis", provider, nickname="Robin")
    CoachStore(database_url).record_safety_event("p-crisis", "crisis", "safety_net")
    outcomes = await scheduler(relay, database_url).tick()
    assert outcomes["alert_sent"] == 1
    (message,) = standin.sent_messages(PROVIDER_CHAT)
    assert "Crisis alert" in (message.text or "")
    assert "p-crisis" in (message.text or "")
    assert f"{CONSOLE}/patients/p-crisis" in (message.text or "")
    assert "Robin" not in (message.text or "")  # the pseudonym only
    with session_scope(database_url) as session:
        assert session.scalar(select(CareTeamAlert.notified_at)) is not None
    assert (await scheduler(relay, database_url).tick())["alert_sent"] == 0
    assert len(standin.sent_messages(PROVIDER_CHAT)) == 1


async def test_an_alert_that_could_not_be_sent_is_tried_again(
    standin: BotApiStandIn, relay: ProviderRelay, database_url: str
) -> None:
    standin.user_says(PROVIDER_CHAT, "hello")
    provider = add_provider(database_url, chat_id=PROVIDER_CHAT)
    add_patient(database_url, "p-red", provider)
    CoachStore(database_url).record_safety_event("p-red", "red_flag", "safety_net")
    standin.inject_fault("sendMessage", error_code=400, description="Bad Request: try later")
    assert (await relay.tick(utcnow()))["alert_retry"] == 1
    assert standin.sent_messages(PROVIDER_CHAT) == []
    assert (await relay.tick(utcnow()))["alert_sent"] == 1
    (message,) = standin.sent_messages(PROVIDER_CHAT)
    assert "Red-flag alert" in (message.text or "") and "p-red" in (message.text or "")


async def test_alerts_of_other_kinds_and_unlinked_providers_send_nothing(
    standin: BotApiStandIn, relay: ProviderRelay, database_url: str
) -> None:
    standin.user_says(PROVIDER_CHAT, "hello")
    linked = add_provider(database_url, chat_id=PROVIDER_CHAT)
    unlinked = add_provider(database_url, "nolink@clinic.example")
    add_patient(database_url, "p-silent", linked)
    add_patient(database_url, "p-theirs", unlinked)
    CoachStore(database_url).record_safety_event("p-theirs", "crisis", "safety_net")
    with session_scope(database_url) as session:
        session.execute(update(Participant).values(consented_at=utcnow() - timedelta(days=30)))
    outcomes = await scheduler(relay, database_url).tick()
    assert outcomes["alerts_raised"] == 2  # silence, for both
    assert outcomes["alert_sent"] == 0
    assert standin.sent_messages() == []


async def test_a_providers_reply_arrives_with_a_button_to_answer(
    standin: BotApiStandIn, relay: ProviderRelay, database_url: str
) -> None:
    standin.user_says(PATIENT_CHAT, "hi")
    provider = add_provider(database_url)
    add_patient(database_url, "p-reply", provider)
    patient_chat(database_url, "p-reply")
    CoachStore(database_url).add_care_team_message("p-reply", "my knee is worse since monday")
    with session_scope(database_url) as session:
        participant = session.scalar(select(Participant.id))
        session.add(
            CareTeamMessage(
                participant_id=participant,
                from_patient=False,
                provider_id=provider,
                body="Thanks for letting us know. Could you come in on Thursday?",
            )
        )
    outcomes = await scheduler(relay, database_url).tick()
    assert outcomes["reply_delivered"] == 1
    (message,) = standin.sent_messages(PATIENT_CHAT)
    assert message.text == (
        "Message from your care team:\n\nThanks for letting us know. Could you come in on Thursday?"
    )
    assert [b["text"] for b in message.buttons] == ["Reply"]
    with session_scope(database_url) as session:
        reply = session.scalar(
            select(CareTeamMessage).where(CareTeamMessage.from_patient.is_(False))
        )
        assert reply is not None and reply.delivered_at is not None
        assert reply.delivery_attempts == 1
        keyboard = session.scalar(select(SentKeyboard))
        assert keyboard is not None and keyboard.payloads == ["/contact_care_team"]
    press = ChannelStore(database_url).press("p-reply", message.message_id, "0")
    assert (press.outcome, press.payload) == (Press.OK, "/contact_care_team")
    # Delivered once; the patient's own message is never sent back.
    await scheduler(relay, database_url).tick()
    assert len(standin.sent_messages(PATIENT_CHAT)) == 1


async def test_a_reply_that_failed_is_retried_and_a_long_one_is_split(
    standin: BotApiStandIn, relay: ProviderRelay, database_url: str
) -> None:
    standin.user_says(PATIENT_CHAT, "hi")
    provider = add_provider(database_url)
    add_patient(database_url, "p-long", provider)
    patient_chat(database_url, "p-long")
    body = ("Here is what we talked about. " * 200).strip()  # about 6,000 characters
    with session_scope(database_url) as session:
        session.add(
            CareTeamMessage(
                participant_id=session.scalar(select(Participant.id)),
                from_patient=False,
                provider_id=provider,
                body=body,
            )
        )
    standin.inject_fault("sendMessage", error_code=502, description="Bad Gateway")
    assert (await relay.tick(utcnow()))["reply_failed"] == 1
    assert (await relay.tick(utcnow()))["reply_delivered"] == 1
    sent = standin.sent_messages(PATIENT_CHAT)
    assert len(sent) == 2 and all(len(m.text or "") <= 4096 for m in sent)
    assert " ".join(m.text or "" for m in sent).endswith(body[-200:])
    assert sent[0].buttons == [] and [b["text"] for b in sent[1].buttons] == ["Reply"]
    with session_scope(database_url) as session:
        assert session.scalar(select(CareTeamMessage.delivery_attempts)) == 2


async def test_a_reply_that_never_gets_through_stops_after_the_last_attempt(
    standin: BotApiStandIn, relay: ProviderRelay, database_url: str
) -> None:
    standin.user_says(PATIENT_CHAT, "hi")
    standin.block_bot(PATIENT_CHAT)
    provider = add_provider(database_url)
    add_patient(database_url, "p-blocked", provider)
    patient_chat(database_url, "p-blocked")
    with session_scope(database_url) as session:
        session.add(
            CareTeamMessage(
                participant_id=session.scalar(select(Participant.id)),
                from_patient=False,
                provider_id=provider,
                body="Hello",
            )
        )
    for _ in range(MAX_ATTEMPTS + 2):
        await relay.tick(utcnow())
    with session_scope(database_url) as session:
        reply = session.scalar(select(CareTeamMessage))
        assert reply is not None
        assert (reply.delivered_at, reply.delivery_attempts) == (None, MAX_ATTEMPTS)


def test_long_texts_split_at_a_space() -> None:
    parts = chunks("word " * 2000, size=4000)
    assert len(parts) == 3 and all(len(p) <= 4000 for p in parts)
    assert all(not p.startswith(" ") and not p.endswith(" ") for p in parts)
    assert chunks("short") == ["short"]
    assert chunks("x" * 9000, size=4000) == ["x" * 4000, "x" * 4000, "x" * 1000]


# /link ------------------------------------------------------------------------------------


@pytest.fixture
async def bot_with_link(standin: BotApiStandIn, database_url: str) -> AsyncIterator[BotApiStandIn]:
    """The gateway's /link handler on a bot polling the stand-in."""
    settings = Settings(database_url=database_url)
    application = ApplicationBuilder().token(standin.token).base_url(standin.base_url).build()
    application.bot_data["care_team"] = ProviderRelay(application.bot, settings)
    application.add_handler(CommandHandler("link", on_link))
    await start_polling(application)
    try:
        yield standin
    finally:
        await stop_polling(application)


def link_code(url: str, provider: int, code: str, minutes: float = 15) -> None:
    with session_scope(url) as session:
        session.execute(
            update(ConsoleUser)
            .where(ConsoleUser.id == provider)
            .values(
                telegram_link_code=code,
                telegram_link_expires_at=utcnow() + timedelta(minutes=minutes),
            )
        )


async def link(standin: BotApiStandIn, chat_id: int, args: str) -> str:
    seen = standin.sent_messages(chat_id)
    after = seen[-1].message_id if seen else 0
    standin.send_command(chat_id, "link", args)
    (answer,) = await standin.wait_for_bot_messages(chat_id, after=after)
    return answer.text or ""


async def test_link_ties_the_providers_chat_once_and_creates_no_patient(
    bot_with_link: BotApiStandIn, database_url: str
) -> None:
    provider = add_provider(database_url)
    link_code(database_url, provider, "K7M2Q9XR")
    assert "Linked" in await link(bot_with_link, PROVIDER_CHAT, "k7m2q9xr")
    with session_scope(database_url) as session:
        user = session.get(ConsoleUser, provider)
        assert user is not None and user.telegram_chat_id == PROVIDER_CHAT
        assert (user.telegram_link_code, user.telegram_link_expires_at) == (None, None)
        assert session.scalar(select(func.count()).select_from(TelegramChat)) == 0
    # Used once: the same code from another chat links nothing.
    assert "not valid or has expired" in await link(bot_with_link, 5151, "K7M2Q9XR")
    with session_scope(database_url) as session:
        assert session.scalar(select(ConsoleUser.telegram_chat_id)) == PROVIDER_CHAT


async def test_link_refuses_expired_codes_disabled_accounts_and_guessing(
    bot_with_link: BotApiStandIn, database_url: str
) -> None:
    expired = add_provider(database_url)
    disabled = add_provider(database_url, "gone@clinic.example")
    link_code(database_url, expired, "EXP1RED2", minutes=-1)
    link_code(database_url, disabled, "D1SABLED")
    with session_scope(database_url) as session:
        session.execute(
            update(ConsoleUser).where(ConsoleUser.id == disabled).values(disabled_at=utcnow())
        )
    assert "not valid or has expired" in await link(bot_with_link, PROVIDER_CHAT, "EXP1RED2")
    assert "not valid or has expired" in await link(bot_with_link, PROVIDER_CHAT, "D1SABLED")
    assert "/link followed by the code" in await link(bot_with_link, PROVIDER_CHAT, "")
    for guess in ("AAAA2222", "BBBB3333", "CCCC4444"):
        await link(bot_with_link, PROVIDER_CHAT, guess)
    good = add_provider(database_url, "late@clinic.example")
    link_code(database_url, good, "G00DC0DE")
    assert "Too many wrong codes" in await link(bot_with_link, PROVIDER_CHAT, "G00DC0DE")
    with session_scope(database_url) as session:
        assert session.scalars(select(ConsoleUser.telegram_chat_id)).all() == [None] * 3
        assert session.scalar(select(func.count()).select_from(TelegramChat)) == 0
