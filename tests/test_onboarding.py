"""Onboarding: nothing is stored before consent except the refusal itself."""

from __future__ import annotations

from datetime import time

import pytest
from sqlalchemy import func, select

from actions.onboarding import ActionStart, ActionSubmitOnboarding, ValidateOnboardingForm
from paincoach.db.engine import session_scope
from paincoach.db.models import ConsentRefusal, Participant
from paincoach.db.store import CoachStore
from tests.helpers import enrol, make_tracker, run, slot_events, texts

CONSENTED = {
    "consent": True, "research_consent": False, "nickname": "Sam",
    "checkin_time": "20:00", "timezone": "Europe/Oslo",
}  # fmt: skip


async def validate(slot: str, text: str, intent: str = "inform", **slots):  # type: ignore[no-untyped-def]
    tracker = make_tracker(
        text=text, intent=intent, slots=slots, filled={slot: text}, active_loop="onboarding_form"
    )
    return await run(ValidateOnboardingForm(), tracker)


async def test_intro_says_what_the_coach_is_not(store: CoachStore) -> None:
    messages, _ = await run(ActionStart(), make_tracker(text="/start", intent="start"))
    said = texts(messages)
    assert "not a doctor" in said and "not an emergency service" in said and "112" in said


@pytest.mark.parametrize(
    ("text", "intent", "expected"),
    [
        ("/affirm", "affirm", True),
        ("yes", "inform", True),
        ("/deny", "deny", False),
        ("no thanks", "inform", False),
        ("what?", "nlu_fallback", None),
        ("🙂", "inform", None),
    ],
)
async def test_consent_answers(
    store: CoachStore, text: str, intent: str, expected: bool | None
) -> None:
    messages, events = await validate("consent", text, intent)
    assert slot_events(events)["consent"] is expected
    assert (expected is None) == bool(messages)


@pytest.mark.parametrize(
    ("typed", "nickname"),
    [
        ("Sam", "Sam"),
        ("call me Jo", "Jo"),
        ("  Ann-Marie  ", "Ann-Marie"),
        ("", None),
        ("x" * 5000, None),
    ],
)
async def test_nickname(store: CoachStore, typed: str, nickname: str | None) -> None:
    _, events = await validate("nickname", typed)
    assert slot_events(events)["nickname"] == nickname


async def test_time_and_zone_are_read_or_asked_again(store: CoachStore) -> None:
    _, events = await validate("checkin_time", "8pm")
    assert slot_events(events)["checkin_time"] == "20:00"
    messages, events = await validate("checkin_time", "whenever")
    assert slot_events(events)["checkin_time"] is None and "8pm" in texts(messages)
    _, events = await validate("timezone", "oslo")
    assert slot_events(events)["timezone"] == "Europe/Oslo"
    messages, events = await validate("timezone", "atlantis")
    assert slot_events(events)["timezone"] is None and "London" in texts(messages)


async def test_consent_stores_the_participant(store: CoachStore, database_url: str) -> None:
    messages, _ = await run(ActionSubmitOnboarding(), make_tracker(slots=CONSENTED))
    assert "Sam" in texts(messages)
    participant = store.participant("p-test")
    assert participant is not None
    assert participant.checkin_time == time(20, 0)
    assert participant.timezone == "Europe/Oslo"
    assert participant.research_consent is False


async def test_refusal_stores_only_the_refusal(store: CoachStore, database_url: str) -> None:
    messages, events = await run(
        ActionSubmitOnboarding(), make_tracker(slots={"consent": False, "nickname": "Sam"})
    )
    assert "haven't stored anything" in texts(messages)
    assert messages[-1]["custom"] == {"paincoach": "erase_conversation"}
    assert store.pending_erasures() == ["p-test"]  # the conversation goes too
    assert slot_events(events)["consent"] is None
    with session_scope(database_url) as session:
        assert session.scalar(select(func.count()).select_from(Participant)) == 0
        assert session.scalar(select(func.count()).select_from(ConsentRefusal)) == 1


async def test_a_refusal_ends_the_form(store: CoachStore) -> None:
    tracker = make_tracker(slots={"consent": False}, active_loop="onboarding_form")
    _, events = await run(ValidateOnboardingForm(), tracker)
    assert slot_events(events).get("requested_slot") is None


async def test_returning_participant_is_welcomed_back(store: CoachStore) -> None:
    enrol(store)
    messages, _ = await run(ActionStart(), make_tracker(text="/start", intent="start"))
    assert "Welcome back Sam" in texts(messages)
    _, events = await run(ValidateOnboardingForm(), make_tracker(active_loop="onboarding_form"))
    assert slot_events(events).get("requested_slot") is None  # nothing more to ask


async def test_free_text_consent_is_asked_only_after_a_yes_to_research(store: CoachStore) -> None:
    form = ValidateOnboardingForm()
    slots = ["consent", "research_consent", "free_text_consent", "nickname"]
    no = make_tracker(slots={"consent": True, "research_consent": False})
    yes = make_tracker(slots={"consent": True, "research_consent": True})
    assert "free_text_consent" not in await form.required_slots(slots, None, no, {})  # type: ignore[arg-type]
    assert "free_text_consent" in await form.required_slots(slots, None, yes, {})  # type: ignore[arg-type]


@pytest.mark.parametrize(("research", "free_text", "kept"), [
    (True, True, True), (True, False, False), (False, True, False)])  # fmt: skip
async def test_free_text_consent_is_stored_only_with_research_consent(
    store: CoachStore, research: bool, free_text: bool, kept: bool
) -> None:
    slots = {**CONSENTED, "research_consent": research, "free_text_consent": free_text}
    await run(ActionSubmitOnboarding(), make_tracker(slots=slots))
    participant = store.participant("p-test")
    assert participant is not None and participant.free_text_consent is kept
