"""End to end through Telegram's stand-in, against the stack `make up` runs (the session's
`full_stack`): stand-in → gateway → Rasa → actions → database, and the scheduler."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import create_engine, inspect, select, text, update

from paincoach import enrolment
from paincoach.db.engine import session_scope
from paincoach.db.models import CheckIn, Participant, SafetyEvent, ScheduledJob, TelegramChat
from paincoach.db.store import CoachStore
from paincoach.gateway.app import build_application, make_rasa_client
from paincoach.research.search import ResearchIndex
from paincoach.scheduler.jobs import REMINDER, next_local_time
from paincoach.settings import Settings
from paincoach.stack import Stack
from paincoach.standin import BotApiStandIn
from tests.providers import add_provider
from tests.standin_chat import RemoteStandIn, Sent, find_fragment

pytestmark = pytest.mark.e2e


@dataclass
class Patient:
    """One Telegram user talking to the bot through the stand-in."""

    standin: RemoteStandIn
    chat_id: int
    seen: int = 0
    log: list[Sent] = field(default_factory=list)
    # Where the text waited for last ended in the last message returned (a turn's texts
    # arrive as one message, paragraph by paragraph).
    offset: int = 0

    async def replies(self, until: str, timeout: float = 30) -> list[Sent]:
        """Wait for the bot's replies up to one whose text or caption contains `until` (after
        the text waited for last, if it is in the same message)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            new = self.standin.sent_messages(self.chat_id, after=self.seen)
            # The rest of the message returned last counts too.
            rest = self.log[-1:] if self.log and self.log[-1].message_id == self.seen else []
            candidates = [*rest, *new]
            said = [(message.text or "") + (message.caption or "") for message in candidates]
            found = find_fragment(said, (0, self.offset if rest else 0), until)
            if found is not None:
                index, self.offset = found
                self.seen = candidates[index].message_id
                self.log += new[: index + 1 - len(rest)]
                return candidates[: index + 1]
            if asyncio.get_running_loop().time() > deadline:
                said = [m.text or m.caption or m.method for m in new]
                raise AssertionError(f"no reply containing {until!r}; got {said}")
            await asyncio.sleep(0.05)

    async def says(self, text: str, until: str) -> list[Sent]:
        self.seen = max(
            self.seen, self.standin.user_says(self.chat_id, text)["message"]["message_id"]
        )
        return await self.replies(until)

    async def command(self, command: str, until: str, args: str = "") -> list[Sent]:
        update = self.standin.send_command(self.chat_id, command, args)
        self.seen = max(self.seen, update["message"]["message_id"])
        return await self.replies(until)

    async def presses(self, title: str, until: str) -> list[Sent]:
        """Press the button titled `title` on the latest message that has it."""
        message = next(m for m in reversed(self.log) if any(b["text"] == title for b in m.buttons))
        self.standin.press_button(self.chat_id, message.message_id, button_text=title)
        return await self.replies(until)


@dataclass
class Telegram:
    """The running stack's stand-in, and the settings its services were started with."""

    standin: RemoteStandIn
    settings: Settings

    def patient(self, chat_id: int) -> Patient:
        return Patient(self.standin, chat_id)


@pytest.fixture
def telegram(full_stack: Stack) -> Iterator[Telegram]:
    standin = RemoteStandIn(full_stack.standin_url)
    try:
        yield Telegram(standin, full_stack.settings)
    finally:
        standin.close()


async def onboard(patient: Patient, name: str = "Kim") -> None:
    await patient.command("start", until="Do you agree")
    await onboard_after_start(patient, name)


async def onboard_after_start(patient: Patient, name: str = "Kim") -> None:
    await patient.presses("Yes, I agree", until="optional")
    await patient.presses("No", until="call you")
    await patient.says(name, until="time of day")
    await patient.says("8pm", until="time zone")
    await patient.says("Oslo", until="what we can do")


async def test_onboarding_and_check_in_by_buttons_and_by_text(telegram: Telegram) -> None:
    patient = telegram.patient(5001)
    await onboard(patient)
    registered = [c["command"] for c in telegram.standin.commands()]
    assert {"start", "checkin", "mydata", "delete", "language"} <= set(registered)

    first = await patient.command("checkin", until="on average")
    keyboard = first[-1].buttons
    assert [b["text"] for b in keyboard] == [*[str(n) for n in range(11)], "Stop"]
    await patient.presses("7", until="enjoying life")
    # The pressed keyboard is gone, so it cannot be pressed twice.
    pressed = next(m for m in patient.log if "on average" in (m.text or "").lower())
    assert telegram.standin.sent_messages(5001, after=pressed.message_id - 1)[0].buttons == []
    await patient.says("six", until="general activity")
    await patient.says("about a 5", until="mood")
    await patient.presses("4", until="sleep")
    await patient.says("3/10", until="note")
    await patient.presses("Skip", until="check-in saved")

    pseudonym = CoachStore(telegram.settings.database_url)
    with session_scope(telegram.settings.database_url) as session:
        link = session.scalar(select(TelegramChat).where(TelegramChat.chat_id == 5001))
        assert link is not None and link.pseudonym.startswith("p-")
        participant = pseudonym.participant(link.pseudonym)
        assert participant is not None and participant.nickname == "Kim"
        (checkin,) = session.scalars(
            select(CheckIn).where(CheckIn.participant_id == participant.id)
        ).all()
        assert (checkin.pain_average, checkin.pain_enjoyment, checkin.pain_activity) == (7, 6, 5)
        assert (checkin.mood, checkin.sleep_quality, checkin.note) == (4, 3, None)


async def test_progress_chart_arrives_as_a_photo(telegram: Telegram) -> None:
    patient = telegram.patient(5002)
    await onboard(patient)
    await patient.command("checkin", until="on average")
    for answer, next_question in [
        ("5", "enjoying"), ("5", "activity"), ("5", "mood"), ("5", "sleep"), ("5", "note"),
    ]:  # fmt: skip
        await patient.says(answer, until=next_question)
    await patient.says("no", until="check-in saved")
    replies = await patient.command("progress", until="1 check-in")
    photo = await wait_for(lambda: [m for m in telegram.standin.sent_messages(5002) if m.photo])
    assert photo[0].photo is not None and photo[0].photo.startswith(b"\x89PNG")
    assert "average pain 5.0/10" in (replies[-1].text or "")


async def test_reminder_fires_at_local_time(telegram: Telegram) -> None:
    patient = telegram.patient(5003)
    await onboard(patient)  # check-in time 20:00 in Europe/Oslo
    pseudonym = _pseudonym(telegram, 5003)
    job = await wait_for(lambda: _reminder(telegram, pseudonym))  # planned by the scheduler
    oslo = datetime.now(UTC).astimezone(ZoneInfo("Europe/Oslo"))
    assert job.due_at.astimezone(ZoneInfo("Europe/Oslo")).time() == time(20, 0)
    assert job.due_at == next_local_time(job.created_at, time(20, 0), "Europe/Oslo")
    assert timedelta(0) < job.due_at - oslo <= timedelta(days=1)
    # The time comes (brought forward): the scheduler sends it through Rasa and the gateway.
    with session_scope(telegram.settings.database_url) as session:
        session.execute(
            update(ScheduledJob)
            .where(ScheduledJob.id == job.id)
            .values(due_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    await patient.replies(until="Time for today's check-in")
    await patient.replies(until="on average")


def _reminder(telegram: Telegram, pseudonym: str) -> ScheduledJob | None:
    with session_scope(telegram.settings.database_url) as session:
        return session.scalar(
            select(ScheduledJob)
            .join(Participant, Participant.id == ScheduledJob.participant_id)
            .where(Participant.pseudonym == pseudonym, ScheduledJob.kind == REMINDER)
        )


async def test_start_with_an_enrolment_code_ties_the_patient_to_it(telegram: Telegram) -> None:
    url = telegram.settings.database_url
    provider = add_provider(url, "enrol-e2e@clinic.example")
    code = enrolment.create_code(provider, arm="A", url=url).code
    patient = telegram.patient(5008)
    await patient.command("start", until="Do you agree", args=code)
    await patient.presses("Yes, I agree", until="optional")
    await patient.presses("Yes, that's fine", until="your own words")
    await patient.presses("No", until="call you")
    await patient.says("Alex", until="time of day")
    await patient.says("9am", until="time zone")
    await patient.says("Europe/Berlin", until="connected with your care team")
    participant = CoachStore(url).participant(_pseudonym(telegram, 5008))
    assert participant is not None
    assert (participant.enrolment_code, participant.research_consent) == (code, True)
    assert (participant.provider_id, participant.study_arm) == (provider, "A")


async def test_an_unknown_code_is_explained_and_onboarding_goes_on(telegram: Telegram) -> None:
    patient = telegram.patient(5011)
    said = await patient.command("start", until="Do you agree", args="EPIO-A7")
    assert "ask your clinic for a new one" in (said[0].text or "")
    await onboard_after_start(patient)
    participant = CoachStore(telegram.settings.database_url).participant(_pseudonym(telegram, 5011))
    assert participant is not None
    assert (participant.provider_id, participant.enrolment_code) == (None, None)


async def test_a_patient_who_already_uses_the_coach_is_enrolled_by_a_new_link(
    telegram: Telegram,
) -> None:
    url = telegram.settings.database_url
    patient = telegram.patient(5012)
    await onboard(patient)
    provider = add_provider(url, "late-enrol-e2e@clinic.example")
    code = enrolment.create_code(provider, url=url).code
    await patient.command("start", until="connected with your care team", args=code)
    await patient.replies(until="Welcome back")
    participant = CoachStore(url).participant(_pseudonym(telegram, 5012))
    assert participant is not None and participant.provider_id == provider


async def test_unknown_and_forged_button_presses_change_nothing(telegram: Telegram) -> None:
    patient = telegram.patient(5004)
    answered_before = len(telegram.standin.callback_answers())
    await patient.command("start", until="Do you agree")
    consent = patient.log[-1]
    telegram.standin.press_button(5004, consent.message_id, "99", forge=True)
    await patient.replies(until="earlier message")
    telegram.standin.press_button(5004, consent.message_id, "not-a-number", forge=True)
    await patient.replies(until="earlier message")
    await patient.presses("Yes, I agree", until="optional")
    telegram.standin.press_button(5004, consent.message_id, "0", forge=True)
    await patient.replies(until="already answered")
    answered = telegram.standin.callback_answers()
    assert len(answered) - answered_before == 4


async def test_non_text_and_edited_messages_get_a_friendly_reply(telegram: Telegram) -> None:
    patient = telegram.patient(5005)
    for kind, expected in [
        ("sticker", "only read text"), ("voice", "voice messages"), ("photo", "only read text"),
        ("document", "only read text"), ("location", "location"), ("contact", "contact details"),
    ]:  # fmt: skip
        update = telegram.standin.user_sends(5005, kind)
        patient.seen = max(patient.seen, update["message"]["message_id"])
        await patient.replies(until=expected)
    sent = telegram.standin.user_says(5005, "hello")
    await patient.replies(until="/start")
    telegram.standin.edit_user_message(5005, sent["message"]["message_id"], "goodbye")
    await patient.replies(until="edited a message")


async def test_unknown_command_and_language(telegram: Telegram) -> None:
    patient = telegram.patient(5006)
    await patient.command("frobnicate", until="don't know that command")
    await patient.command("language", until="English")


def safety_events(telegram: Telegram, chat_id: int) -> list[tuple[str, str, str, str | None]]:
    """(kind, tier, detected_by, check answer) of each safety event of this patient."""
    participant = CoachStore(telegram.settings.database_url).participant(
        _pseudonym(telegram, chat_id)
    )
    assert participant is not None
    with session_scope(telegram.settings.database_url) as session:
        events = session.scalars(
            select(SafetyEvent)
            .where(SafetyEvent.participant_id == participant.id)
            .order_by(SafetyEvent.id)
        ).all()
        return [(e.kind, e.tier, e.detected_by, e.check_answer) for e in events]


def said(replies: list[Sent]) -> str:
    return "".join(m.text or "" for m in replies)


@pytest.mark.parametrize(
    "phrase", ["i want to kill myself", "honestly everyone would be better off without me"]
)
async def test_certain_crisis_gets_the_full_response(telegram: Telegram, phrase: str) -> None:
    patient = telegram.patient(5100 + len(phrase))
    await onboard(patient)
    replies = await patient.says(phrase, until="Are you safe right now?")
    assert "116 123" in said(replies)
    assert safety_events(telegram, patient.chat_id) == [("crisis", "certain", "safety_net", None)]
    await patient.presses("Yes, I'm safe", until="glad you're safe")


async def test_possible_crisis_is_asked_about_and_no_carries_on(telegram: Telegram) -> None:
    patient = telegram.patient(5150)
    await onboard(patient)
    replies = await patient.says("i dont think i can do this much longer", until="thinking about")
    assert "116 123" not in said(replies)
    assert [b["text"] for b in replies[-1].buttons] == ["Yes", "No", "Not sure"]
    await patient.presses("No", until="glad")
    assert safety_events(telegram, patient.chat_id) == [("crisis", "possible", "risk_model", "no")]
    await patient.says("can we do a relaxation exercise", until="relax")


async def test_no_to_the_check_question_resumes_the_check_in(telegram: Telegram) -> None:
    patient = telegram.patient(5151)
    await onboard(patient)
    await patient.command("checkin", until="on average")
    await patient.presses("7", until="enjoying life")
    await patient.says("i dont think i can do this much longer", until="thinking about")
    await patient.presses("No", until="enjoying life")  # the question it was on, again
    await patient.presses("6", until="general activity")


@pytest.mark.parametrize(("answer", "press"), [("yes", True), ("unsure", True), ("unclear", False)])
async def test_anything_but_no_to_the_check_question_gets_the_full_response(
    telegram: Telegram, answer: str, press: bool
) -> None:
    patient = telegram.patient(5160 + len(answer))
    await onboard(patient)
    await patient.says("i dont think i can do this much longer", until="thinking about")
    if press:
        title = "Yes" if answer == "yes" else "Not sure"
        replies = await patient.presses(title, until="Are you safe right now?")
    else:
        replies = await patient.says("why do you ask", until="Are you safe right now?")
    assert "116 123" in said(replies)
    assert safety_events(telegram, patient.chat_id) == [
        ("crisis", "possible", "risk_model", answer),
        ("crisis", "certain", "check_question", None),
    ]
    # "Are you safe right now?" has a real follow-up for anything else, too.
    await patient.says("i dont really know", until="want to be sure")


async def test_possible_red_flag_asks_whether_it_is_new(telegram: Telegram) -> None:
    patient = telegram.patient(5170)
    await onboard(patient)
    await patient.says("my arm has been aching a bit", until="Is this new")
    await patient.presses("No", until="good to know")
    await patient.says("actually yes it came on suddenly today", until="urgent")


async def test_crisis_inside_a_long_message_is_caught(telegram: Telegram) -> None:
    patient = telegram.patient(5180)
    await onboard(patient)
    diary = (
        "Busy day, took the kids swimming and then the physio at three. My back has been "
        "bad all week and the new tablets make me sleepy. Honestly I want to kill myself most "
        "nights now. Anyway the physio gave me new stretches and we had pasta for tea."
    )
    replies = await patient.says(diary, until="Are you safe right now?")
    assert "116 123" in said(replies)


async def test_crisis_that_only_shows_in_context_is_asked_about(telegram: Telegram) -> None:
    patient = telegram.patient(5190)
    await onboard(patient)
    await patient.says("i dont see things getting better", until="thinking about")
    await patient.presses("No", until="glad")
    await patient.says("whats the point of any of it", until="thinking about")
    await patient.presses("No", until="glad")
    await patient.says("the weekend probably", until="thinking about")
    assert safety_events(telegram, patient.chat_id)[-1][:3] == ("crisis", "possible", "risk_model")


async def test_pain_idiom_is_a_flare_up_not_a_crisis(telegram: Telegram) -> None:
    patient = telegram.patient(5200)
    await onboard(patient)
    replies = await patient.says("my back is killing me today", until="Paced breathing")
    assert "116 123" not in "".join(m.text or "" for m in replies)


async def test_mydata_and_delete(telegram: Telegram) -> None:
    patient = telegram.patient(5300)
    await onboard(patient, name="Robin")
    await patient.command("mydata", until="Everything I have stored")
    document = next(m for m in telegram.standin.sent_messages(5300) if m.document)
    export = json.loads(document.document or b"{}")
    assert export["participant"]["nickname"] == "Robin"
    assert "chat_id" not in json.dumps(export)
    pseudonym = _pseudonym(telegram, 5300)
    await patient.command("delete", until="can't be undone")
    await patient.presses("Yes, delete everything", until="erased everything")
    assert CoachStore(telegram.settings.database_url).participant(pseudonym) is None
    with session_scope(telegram.settings.database_url) as session:
        assert session.scalar(select(TelegramChat).where(TelegramChat.chat_id == 5300)) is None


async def test_forged_webhook_request_is_refused(full_stack: Stack) -> None:
    """A gateway of its own in webhook mode, with its own stand-in, talking to the stack's Rasa."""
    from paincoach.gateway.app import start_webhook, stop_webhook
    from tests.conftest import free_port

    async with BotApiStandIn() as standin:
        port = free_port()
        settings = full_stack.settings.model_copy(
            update={
                "telegram_bot_token": standin.token,
                "telegram_api_base_url": standin.base_url,
                "telegram_api_base_file_url": standin.base_file_url,
                "public_url": f"http://127.0.0.1:{port}",
                "webhook_secret": "s3cret-token",
                "webhook_port": port,
            }
        )
        rasa = make_rasa_client(settings, full_stack.rasa_url, full_stack.token)
        application = build_application(settings, rasa, run_scheduler=False)
        await start_webhook(application, settings)
        try:
            update = {
                "update_id": 1,
                "message": {
                    "message_id": 1,
                    "date": 0,
                    "chat": {"id": 1, "type": "private"},
                    "text": "hi",
                },
            }
            url = f"http://127.0.0.1:{port}/telegram"
            async with httpx.AsyncClient() as client:
                forged = await client.post(url, json=update)
                wrong = await client.post(
                    url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
                )
            assert forged.status_code == 403 and wrong.status_code == 403
            # A genuine update, delivered by the stand-in with the secret, is answered.
            patient = Patient(standin, 6000)  # type: ignore[arg-type]  # the same helpers
            await patient.says("hello", until="/start")
        finally:
            await stop_webhook(application)


def _pseudonym(telegram: Telegram, chat_id: int) -> str:
    with session_scope(telegram.settings.database_url) as session:
        return session.scalars(
            select(TelegramChat.pseudonym).where(TelegramChat.chat_id == chat_id)
        ).one()


async def wait_for(probe, timeout: float = 10):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not (found := probe()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)
    return found


async def test_research_consent_with_free_text_and_withdrawal_from_mydata(
    telegram: Telegram,
) -> None:
    patient = telegram.patient(5310)
    await patient.command("start", until="Do you agree")
    await patient.presses("Yes, I agree", until="optional")
    await patient.presses("Yes, that's fine", until="your own words")
    await patient.presses("Yes, they may", until="call you")
    await patient.says("Robin", until="time of day")
    await patient.says("8pm", until="time zone")
    await patient.says("Oslo", until="what we can do")
    store = CoachStore(telegram.settings.database_url)
    pseudonym = _pseudonym(telegram, 5310)
    joined = store.participant(pseudonym)
    assert joined is not None and joined.research_consent and joined.free_text_consent

    await patient.command("mydata", until="taking part in the research")
    await patient.presses("Withdraw from the research", until="withdrawn from the research")
    withdrawn = store.participant(pseudonym)
    assert withdrawn is not None and withdrawn.research_withdrawn_at is not None
    # Nothing more to withdraw from: /mydata no longer offers it.
    await patient.command("mydata", until="Everything I have stored")
    assert "taking part in the research" not in " ".join(
        m.text or "" for m in telegram.standin.sent_messages(5310)[-2:]
    )


def _everything_mentioning(url: str, needles: tuple[str, ...]) -> list[str]:
    """Every table.column of a database whose value contains one of `needles`."""
    engine = create_engine(url)
    found = []
    try:
        with engine.connect() as connection:
            for table in inspect(engine).get_table_names():
                rows = connection.execute(text(f'SELECT * FROM "{table}"')).mappings()
                for row in rows:
                    for column, value in row.items():
                        if value is not None and any(n in str(value) for n in needles):
                            found.append(f"{table}.{column}")
    finally:
        engine.dispose()
    return sorted(set(found))


async def test_after_delete_nothing_in_either_database_refers_to_the_patient(
    telegram: Telegram,
) -> None:
    chat_id = 8675309123  # distinctive, so that no unrelated number contains it
    patient = telegram.patient(chat_id)
    await patient.command("start", until="Do you agree")
    await patient.presses("Yes, I agree", until="optional")
    await patient.presses("Yes, that's fine", until="your own words")
    await patient.presses("Yes, they may", until="call you")
    await patient.says("Thaddeus", until="time of day")
    await patient.says("8pm", until="time zone")
    await patient.says("Oslo", until="what we can do")
    await patient.command("checkin", until="on average")
    for rating in ("6", "5", "5", "6", "4"):
        await patient.says(rating, until="?")
    await patient.says("walked to the shop with Thaddeus's dog", until="saved")
    pseudonym = _pseudonym(telegram, chat_id)
    settings = telegram.settings
    index = ResearchIndex(settings.database_url, settings.tracker_store_url)
    index.refresh(settle_seconds=0)  # the research index holds copies of turns too
    needles = (pseudonym, str(chat_id), "Thaddeus")
    assert _everything_mentioning(settings.database_url, needles)  # the scan can see them

    await patient.command("delete", until="can't be undone")
    await patient.presses("Yes, delete everything", until="erased everything")
    assert _everything_mentioning(settings.database_url, needles) == []
    assert _everything_mentioning(settings.tracker_store_url, needles) == []


async def test_commands_in_the_middle_of_an_exercise_are_answered_then_it_carries_on(
    telegram: Telegram,
) -> None:
    """`/progress` typed during an exercise is answered, not taken as "Next"; so is /help;
    then the same step is offered again and the exercise carries on from there."""
    patient = telegram.patient(5010)
    await onboard(patient)
    await patient.says("can we do a breathing exercise", until="how much pain or tension")
    await patient.presses("5", until="Step 1 of")
    for command, answer in [("progress", "checked in"), ("help", "what we can do")]:
        replies = await patient.command(command, until="Step 1 of")
        said = "\n".join(m.text or "" for m in replies)
        assert answer in said.lower() and "carry on with the exercise" in said
        assert "Step 2 of" not in said
    await patient.presses("Next", until="Step 2 of")
