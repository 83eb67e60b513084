"""Safety actions: triage into tiers, the check question, crisis support, red flags."""

from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.safety import (
    ActionAskSafeNowAnswer,
    ActionAskSafetyCheckAnswer,
    ActionCrisisFollowup,
    ActionCrisisSupport,
    ActionRedFlag,
    ActionSafetyCheckAnswer,
    ActionSafetyTriage,
    ValidateSafetyCheckForm,
)
from paincoach.db.engine import session_scope
from paincoach.db.models import CareTeamAlert, CheckIn, SafetyEvent
from paincoach.db.store import CoachStore
from paincoach.settings import get_settings
from tests.helpers import DOMAIN, enrol, make_tracker, run, slot_events, texts


def events_of(database_url: str) -> list[SafetyEvent]:
    with session_scope(database_url) as session:
        return list(session.scalars(select(SafetyEvent).order_by(SafetyEvent.id)).all())


def alerts_of(database_url: str) -> int:
    with session_scope(database_url) as session:
        return len(session.scalars(select(CareTeamAlert)).all())


GATEWAY_CERTAIN = [
    {"entity": "safety_net", "value": "kill_myself"},
    {"entity": "safety_tier", "value": "certain"},
]
GATEWAY_POSSIBLE = [
    {"entity": "safety_net", "value": "risk_model"},
    {"entity": "safety_tier", "value": "possible"},
]


async def test_the_gateways_certain_tier_is_recorded_with_an_alert(
    store: CoachStore, database_url: str
) -> None:
    enrol(store)
    tracker = make_tracker(intent="crisis", entities=GATEWAY_CERTAIN)
    _, events = await run(ActionSafetyTriage(), tracker)
    assert slot_events(events) == {
        "safety_kind": "crisis", "safety_tier": "certain", "safety_interrupted": None,
    }  # fmt: skip
    (event,) = events_of(database_url)
    assert (event.tier, event.detected_by, event.reason) == ("certain", "safety_net", "kill_myself")
    assert alerts_of(database_url) == 1


async def test_a_possible_tier_interrupting_a_check_in_will_resume_it(
    store: CoachStore, database_url: str
) -> None:
    enrol(store)
    tracker = make_tracker(
        intent="crisis", entities=GATEWAY_POSSIBLE, active_loop="checkin_form",
        slots={"pain_average": 6},
    )  # fmt: skip
    _, events = await run(ActionSafetyTriage(), tracker)
    assert slot_events(events)["safety_tier"] == "possible"
    assert slot_events(events)["safety_interrupted"] == "checkin_form"
    (event,) = events_of(database_url)
    assert (event.tier, event.detected_by) == ("possible", "risk_model")
    assert alerts_of(database_url) == 0  # a question is not an alarm


@pytest.mark.parametrize(
    ("text", "tier"),
    [("i'm not suicidal, just exhausted", "possible"), ("i want to kill myself", "certain")],
)
async def test_a_crisis_the_nlu_noticed_is_confirmed_by_the_risk_model_or_asked_about(
    store: CoachStore, database_url: str, text: str, tier: str
) -> None:
    enrol(store)
    _, events = await run(ActionSafetyTriage(), make_tracker(text=text, intent="crisis"))
    assert slot_events(events)["safety_tier"] == tier
    assert events_of(database_url)[0].tier == tier


@pytest.mark.parametrize(
    ("text", "tier"),
    [
        ("had a lovely walk with the dog today", "unlikely"),
        ("i can't feel my legs and i've wet myself", "certain"),
    ],
)
async def test_a_red_flag_the_nlu_noticed_is_dropped_when_the_risk_model_rules_it_out(
    store: CoachStore, database_url: str, text: str, tier: str
) -> None:
    enrol(store)
    tracker = make_tracker(text=text, intent="red_flag", active_loop="checkin_form")
    _, events = await run(ActionSafetyTriage(), tracker)
    assert slot_events(events)["safety_tier"] == tier
    assert slot_events(events)["safety_interrupted"] == "checkin_form"
    (event,) = events_of(database_url)
    assert event.tier == tier
    assert alerts_of(database_url) == (1 if tier == "certain" else 0)


async def test_a_worrying_answer_to_a_safety_question_is_not_asked_about_twice(
    store: CoachStore,
) -> None:
    enrol(store)
    tracker = make_tracker(intent="crisis", entities=GATEWAY_POSSIBLE, active_loop="safe_now_form")
    _, events = await run(ActionSafetyTriage(), tracker)
    assert slot_events(events)["safety_tier"] == "certain"


@pytest.mark.parametrize(("kind", "says"), [("crisis", "thinking about"), ("red_flag", "new")])
async def test_the_check_question_offers_yes_no_and_not_sure(kind: str, says: str) -> None:
    messages, _ = await run(ActionAskSafetyCheckAnswer(), make_tracker(slots={"safety_kind": kind}))
    assert says in texts(messages)
    assert [b["title"] for b in messages[-1]["buttons"]] == ["Yes", "No", "Not sure"]


async def test_the_check_answer_is_read_by_the_form() -> None:
    validation = ValidateSafetyCheckForm()
    tracker = make_tracker(text="nope", intent="deny")
    assert validation.validate_safety_check_answer(
        "nope", CollectingDispatcher(), tracker, DOMAIN
    ) == {"safety_check_answer": "no"}


@pytest.mark.parametrize(
    ("kind", "ending", "says", "recorded"),
    [
        # No to the check question: acknowledged warmly, the answer kept with the event.
        ("crisis", {"safety_check_answer": "no"}, "glad", [("possible", "no")]),
        # A red flag only the NLU saw, which the model rules out: nothing was asked, a
        # line on when to get help, nothing more to record.
        ("red_flag", {"safety_tier": "unlikely"}, "medical help", []),
    ],
)
async def test_a_safety_episode_that_ends_well_carries_on_with_the_form(
    store: CoachStore,
    database_url: str,
    kind: str,
    ending: dict[str, str],
    says: str,
    recorded: list[tuple[str, str]],
) -> None:
    enrol(store)
    if recorded:
        await run(ActionSafetyTriage(), make_tracker(intent=kind, entities=GATEWAY_POSSIBLE))
    slots = {"safety_kind": kind, "safety_interrupted": "checkin_form", **ending}
    messages, events = await run(ActionSafetyCheckAnswer(), make_tracker(slots=slots))
    assert says in texts(messages) and "carry on" in texts(messages)
    assert not any(message.get("buttons") for message in messages)
    assert slot_events(events)["safety_tier"] == "cleared"
    assert slot_events(events)["safety_resume"] == "checkin_form"
    assert [(e.tier, e.check_answer) for e in events_of(database_url)] == recorded
    assert alerts_of(database_url) == 0


@pytest.mark.parametrize("answer", ["yes", "unsure", "unclear"])
async def test_anything_but_no_to_the_check_question_escalates(
    store: CoachStore, database_url: str, answer: str
) -> None:
    enrol(store)
    await run(ActionSafetyTriage(), make_tracker(intent="crisis", entities=GATEWAY_POSSIBLE))
    tracker = make_tracker(slots={"safety_kind": "crisis", "safety_check_answer": answer})
    _, events = await run(ActionSafetyCheckAnswer(), tracker)
    assert slot_events(events)["safety_tier"] == "certain"
    asked, escalated = events_of(database_url)
    assert (asked.tier, asked.check_answer) == ("possible", answer)
    assert (escalated.tier, escalated.detected_by, escalated.reason) == (
        "certain", "check_question", f"answer_{answer}",
    )  # fmt: skip
    assert alerts_of(database_url) == 1


async def test_crisis_reply_gives_default_numbers() -> None:
    messages, _ = await run(ActionCrisisSupport(), make_tracker(intent="crisis"))
    said = texts(messages)
    assert "116 123" in said and "112" in said and "care team" in said


async def test_are_you_safe_offers_yes_and_no() -> None:
    messages, _ = await run(ActionAskSafeNowAnswer(), make_tracker())
    assert "Are you safe right now?" in texts(messages)
    assert [b["payload"] for b in messages[-1]["buttons"]] == ["Yes", "No"]


async def test_helplines_come_from_settings(
    store: CoachStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPLINE_NUMBER", "22 40 00 40")
    monkeypatch.setenv("EMERGENCY_NUMBER", "113")
    get_settings.cache_clear()
    messages, _ = await run(ActionCrisisSupport(), make_tracker(intent="crisis"))
    assert "22 40 00 40" in texts(messages) and "113" in texts(messages)


async def test_crisis_before_consent_still_answers_and_identifies_nobody(
    store: CoachStore, database_url: str
) -> None:
    tracker = make_tracker(sender="p-stranger", intent="crisis", entities=GATEWAY_CERTAIN)
    await run(ActionSafetyTriage(), tracker)
    messages, _ = await run(ActionCrisisSupport(), tracker)
    assert "116 123" in texts(messages)
    (event,) = events_of(database_url)
    assert event.participant_id is None and event.detected_by == "safety_net"


@pytest.mark.parametrize("interrupted", ["active", "asked about"])
async def test_crisis_during_check_in_ends_it_and_keeps_the_answers(
    store: CoachStore, database_url: str, interrupted: str
) -> None:
    enrol(store)
    if interrupted == "active":
        tracker = make_tracker(slots={"pain_average": 8}, active_loop="checkin_form")
    else:  # the check question came first, and the answer was yes
        tracker = make_tracker(slots={"pain_average": 8, "safety_interrupted": "checkin_form"})
    _, events = await run(ActionCrisisSupport(), tracker)
    assert any(e["event"] == "active_loop" and e["name"] is None for e in events)
    with session_scope(database_url) as session:
        (checkin,) = session.scalars(select(CheckIn)).all()
        assert checkin.pain_average == 8 and checkin.completed_at is None


@pytest.mark.parametrize(
    ("answer", "safe", "says"),
    [("yes", True, "glad"), ("no", False, "112 now"), ("unclear", None, "want to be sure")],
)
async def test_safe_now_answer_gets_a_real_follow_up_and_is_recorded(
    store: CoachStore, database_url: str, answer: str, safe: bool | None, says: str
) -> None:
    enrol(store)
    await run(ActionSafetyTriage(), make_tracker(intent="crisis", entities=GATEWAY_CERTAIN))
    messages, _ = await run(ActionCrisisFollowup(), make_tracker(slots={"safe_now_answer": answer}))
    assert says in texts(messages)
    (event,) = events_of(database_url)
    assert event.safe_now is safe


async def test_red_flag_advises_urgent_care_and_is_recorded(
    store: CoachStore, database_url: str
) -> None:
    enrol(store)
    entities = [{"entity": "safety_net", "value": "chest_pain"}]
    await run(ActionSafetyTriage(), make_tracker(intent="red_flag", entities=entities))
    messages, _ = await run(ActionRedFlag(), make_tracker(intent="red_flag"))
    assert "urgent" in texts(messages) and "112" in texts(messages)
    (event,) = events_of(database_url)
    assert (event.kind, event.tier) == ("red_flag", "certain")


def test_medication_reply_gives_no_dosing_advice() -> None:
    reply = DOMAIN["responses"]["utter_medication"][0]["text"]
    assert "prescribes" in reply and "can't give advice about doses" in reply


async def test_red_flag_still_answers_when_the_database_is_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from actions import common

    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    get_settings.cache_clear()
    common.store.cache_clear()
    try:
        entities = [{"entity": "safety_net", "value": "chest_pain"}]
        tracker = make_tracker(intent="red_flag", entities=entities)
        _, events = await run(ActionSafetyTriage(), tracker)
        messages, _ = await run(ActionRedFlag(), tracker)
    finally:
        get_settings.cache_clear()
        common.store.cache_clear()
    assert slot_events(events)["safety_tier"] == "certain"  # the record failed, not the reply
    assert "urgent" in texts(messages)


async def test_worrying_words_taken_as_a_form_answer_are_cleared_and_never_block_the_reply(
    store: CoachStore, database_url: str
) -> None:
    enrol(store)
    words = "i dont think i can do this much longer"
    slots = {"pain_average": 7, "pain_enjoyment": words, "requested_slot": "pain_enjoyment"}
    tracker = make_tracker(
        text=words, intent="crisis", entities=GATEWAY_CERTAIN, slots=slots,
        active_loop="checkin_form",
    )  # fmt: skip
    _, events = await run(ActionSafetyTriage(), tracker)
    assert slot_events(events)["pain_enjoyment"] is None
    # Even if such words reach the crisis reply, it is given, and the real answers are kept.
    messages, _ = await run(ActionCrisisSupport(), tracker)
    assert "116 123" in texts(messages)
