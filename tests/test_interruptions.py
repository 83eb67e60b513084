"""Commands and questions in the middle of any form or exercise: answered, then the patient
is offered to carry on where they were (actions/interruptions.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actions import common
from actions.checkin import ValidateCheckinForm
from actions.coping import ValidateCopingForm
from actions.goals import ValidateGoalForm
from actions.interruptions import INTERRUPTING_INTENTS, _answers
from actions.safety import ValidateSafetyCheckForm
from paincoach.db.store import CoachStore
from paincoach.gateway.core import COMMAND_PAYLOADS
from paincoach.settings import get_settings
from tests.helpers import DOMAIN, enrol, make_tracker, run, slot_events, texts


@pytest.fixture
def sqlite_store(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CoachStore]:
    """The actions' store on SQLite: what is tested here does not depend on the engine."""
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    common.store.cache_clear()
    store = common.store()
    enrol(store)
    yield store
    get_settings.cache_clear()
    common.store.cache_clear()


def in_exercise(text: str, intent: str) -> dict[str, object]:
    return {
        "text": text,
        "intent": intent,
        "active_loop": "coping_form",
        "slots": {
            "coping_exercise": "paced_breathing",
            "tension_before": 6,
            "exercise_step": 1,
            "requested_slot": "exercise_progress",
        },
    }


async def test_progress_typed_in_an_exercise_is_answered_not_taken_as_next(
    sqlite_store: CoachStore,
) -> None:
    messages, events = await run(
        ValidateCopingForm(), make_tracker(**in_exercise("/ask_progress", "ask_progress"))
    )
    said = texts(messages)
    assert "carry on with the exercise where we left off" in said
    assert "checked in" in said  # the progress summary (no check-ins yet)
    slots = slot_events(events)
    assert slots == {"exercise_progress": None}  # the same step is shown again
    assert "exercise_step" not in slots


@pytest.mark.parametrize(
    ("typed", "intent", "expected"),
    [
        ("/help", "help", None),  # utter_help, as a response
        ("/pause_reminders", "pause_reminders", "Reminders paused"),
        ("/start_checkin", "start_checkin", "Let's finish the exercise first"),
        ("are you a real person", "bot_challenge", None),
        ("why does pain persist", "ask_pain_education", "Why"),
    ],
)
async def test_every_command_and_question_is_answered_then_the_exercise_offered(
    sqlite_store: CoachStore, typed: str, intent: str, expected: str | None
) -> None:
    messages, events = await run(ValidateCopingForm(), make_tracker(**in_exercise(typed, intent)))
    assert "carry on with the exercise" in texts(messages)
    if expected:
        assert expected in texts(messages)
    else:
        assert any(m.get("response") for m in messages)
    assert slot_events(events)["exercise_progress"] is None


async def test_pause_in_the_middle_of_a_check_in_pauses_and_the_question_comes_again(
    sqlite_store: CoachStore,
) -> None:
    tracker = make_tracker(
        text="/pause_reminders",
        intent="pause_reminders",
        active_loop="checkin_form",
        slots={"pain_average": 5, "requested_slot": "pain_enjoyment"},
    )
    messages, events = await run(ValidateCheckinForm(), tracker)
    assert "Reminders paused" in texts(messages)
    assert "carry on with your check-in" in texts(messages)
    assert slot_events(events) == {"pain_enjoyment": None}
    assert sqlite_store.participant("p-test").reminders_paused  # type: ignore[union-attr]


async def test_a_check_in_command_during_the_check_in_just_carries_on(
    sqlite_store: CoachStore,
) -> None:
    tracker = make_tracker(
        text="/start_checkin",
        intent="start_checkin",
        active_loop="checkin_form",
        slots={"requested_slot": "mood"},
    )
    messages, events = await run(ValidateCheckinForm(), tracker)
    assert "middle of your check-in" in texts(messages)
    assert slot_events(events) == {"mood": None}


async def test_free_text_answers_are_the_patients_words_unless_it_is_a_command(
    sqlite_store: CoachStore,
) -> None:
    """A goal or a note may sound like a question; only a typed command interrupts it."""
    worded = make_tracker(
        text="walk to the shops and check in with my sister",
        intent="start_checkin",
        active_loop="goal_form",
        slots={"requested_slot": "goal_activity"},
        filled={"goal_activity": "walk to the shops and check in with my sister"},
    )
    messages, events = await run(ValidateGoalForm(), worded)
    assert "carry on" not in texts(messages)
    assert (
        slot_events(events).get("goal_activity") == "walk to the shops and check in with my sister"
    )
    command = make_tracker(
        text="/help",
        intent="help",
        active_loop="goal_form",
        slots={"requested_slot": "goal_activity"},
    )
    messages, events = await run(ValidateGoalForm(), command)
    assert "carry on with setting your goal" in texts(messages)
    assert slot_events(events) == {"goal_activity": None}


async def test_the_safety_question_is_never_interrupted(sqlite_store: CoachStore) -> None:
    tracker = make_tracker(
        text="/help",
        intent="help",
        active_loop="safety_check_form",
        slots={"requested_slot": "safety_check_answer"},
        filled={"safety_check_answer": "/help"},
    )
    messages, _ = await run(ValidateSafetyCheckForm(), tracker)
    assert "carry on" not in texts(messages)


async def test_a_form_resumed_after_a_rule_does_not_answer_the_old_message_again(
    sqlite_store: CoachStore,
) -> None:
    tracker = make_tracker(**in_exercise("/help", "help"))
    tracker.events.append({"event": "action", "name": "utter_help"})
    messages, _ = await run(ValidateCopingForm(), tracker)
    assert "carry on" not in texts(messages)


def test_one_list_of_interruptions_for_the_answers_the_domain_and_the_commands() -> None:
    assert set(_answers()) == INTERRUPTING_INTENTS
    questions = {"help", "bot_challenge", "medication_question", "ask_pain_education"}
    for name, slot in DOMAIN["slots"].items():
        for mapping in slot.get("mappings", []):
            excluded = set(mapping.get("not_intent") or [])
            if mapping.get("type") == "from_text" and "stop" in excluded:
                # Every question interrupts; commands too, except in a free-text answer.
                assert questions <= excluded, name
                assert excluded >= INTERRUPTING_INTENTS or not excluded & (
                    INTERRUPTING_INTENTS - questions
                ), name
    for command in ("progress", "help", "checkin", "pause", "resume"):
        assert COMMAND_PAYLOADS[command].lstrip("/") in INTERRUPTING_INTENTS
