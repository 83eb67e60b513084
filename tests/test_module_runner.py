"""The module runner: each step shown and read, answers saved as given, pause and resume,
questions in the middle, free text that sounds like another intent, and a crisis."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.checkin import ValidateCheckinForm
from actions.conversation import close_form
from actions.modules import (
    ActionAskModuleAnswer,
    ActionContinueModule,
    ActionModuleNext,
    ValidateModuleForm,
    catalogue,
    modules,
    remind_of_waiting_module,
)
from paincoach.db.engine import session_scope
from paincoach.db.models import ModuleAnswer, ModuleProgress, ScheduledJob
from paincoach.db.store import CoachStore
from paincoach.modules.runner import (
    CARRY_ON,
    NEXT,
    START_EXERCISE,
    Outcome,
    prompt,
    read_reply,
)
from paincoach.modules.schema import (
    CheckpointStep,
    ChoiceStep,
    ExerciseStep,
    MessageStep,
    QuestionStep,
    ScaleStep,
)
from tests.helpers import enrol, make_tracker, run, slot_events, texts

QUESTION = QuestionStep(id="q", kind="question", text="What helps you most?")
CHOICE = ChoiceStep(id="c", kind="choice", text="Pick one", options=["Walking", "Reading", "Rest"])
SCALE = ScaleStep(id="s", kind="scale", text="How sure?", low="not at all", high="very")
MESSAGE = MessageStep(id="m", kind="message", text="Pain is an alarm.")
CHECKPOINT = CheckpointStep(id="k", kind="checkpoint", text="Shall we carry on?")
EXERCISE = ExerciseStep(id="e", kind="exercise", exercise="paced_breathing")


@pytest.fixture(autouse=True)
def fresh_module_store() -> None:
    modules.cache_clear()


# What each step shows -----------------------------------------------------------------


def test_each_step_kind_shows_its_buttons() -> None:
    assert prompt(MESSAGE).buttons == [NEXT]
    assert prompt(QUESTION).buttons == []
    assert prompt(CHOICE).buttons == ["Walking", "Reading", "Rest"]
    assert prompt(SCALE).buttons == [str(n) for n in range(11)]
    assert "0 = not at all, 10 = very" in prompt(SCALE).text
    assert prompt(CHECKPOINT).buttons == [CARRY_ON, "Later"]
    assert "Let's try some paced breathing together" in prompt(EXERCISE).text
    assert prompt(EXERCISE).buttons[0] == START_EXERCISE


# How a reply is read ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "intent"),
    [
        ("stairs were tough", "red_flag"),
        ("I can't stop thinking about the pain", "stop"),
        ("why does pain persist?", "ask_pain_education"),
        ("help", "help"),
        ("my legs went numb after the walk", "red_flag"),
        ("I feel hopeless some days", "crisis"),
    ],
)
def test_free_text_is_the_answer_whatever_it_sounds_like(typed: str, intent: str) -> None:
    reply = read_reply(QUESTION, typed, intent)
    assert (reply.outcome, reply.value) == (Outcome.ANSWER, typed)


@pytest.mark.parametrize(
    "typed", ["later", "Pause", "stop", "not now", "can we do this later?"[:-1], "ok later thanks"]
)
def test_an_explicit_pause_pauses_any_step(typed: str) -> None:
    for step in (QUESTION, CHOICE, SCALE, MESSAGE, CHECKPOINT, EXERCISE):
        assert read_reply(step, typed, "stop").outcome is Outcome.PAUSE, (step.kind, typed)


@pytest.mark.parametrize(
    ("typed", "picked"),
    [("Reading", "Reading"), ("2", "Reading"), ("walk", "Walking"), ("rest.", "Rest")],
)
def test_a_choice_is_read_by_label_number_or_start(typed: str, picked: str) -> None:
    assert read_reply(CHOICE, typed).value == picked


def test_a_question_in_the_middle_of_a_step_is_left_to_the_rules() -> None:
    for step in (MESSAGE, CHOICE, SCALE, CHECKPOINT):
        reply = read_reply(step, "why does pain persist?", "ask_pain_education")
        assert reply.outcome is Outcome.NOT_AN_ANSWER, step.kind


def test_unclear_replies_say_what_is_needed() -> None:
    assert read_reply(CHOICE, "purple").outcome is Outcome.UNCLEAR
    reply = read_reply(SCALE, "quite a lot")
    assert reply.outcome is Outcome.UNCLEAR and "0 to 10" in (reply.hint or "")
    assert read_reply(SCALE, "seven").value == "7"
    assert read_reply(CHECKPOINT, "yes please").outcome is Outcome.ANSWER
    assert read_reply(CHECKPOINT, "Later").outcome is Outcome.PAUSE
    assert read_reply(EXERCISE, START_EXERCISE).outcome is Outcome.EXERCISE
    assert read_reply(EXERCISE, "skip it").outcome is Outcome.SKIP


# The form, on the real database and the shipped module 1 ----------------------------

MODULE = "understanding-pain"


def at(step: int, text: str, intent: str = "inform", **extra: Any):  # type: ignore[no-untyped-def]
    slots = {"module_id": MODULE, "module_step": step, "requested_slot": "module_answer"}
    return make_tracker(text=text, intent=intent, slots=slots, active_loop="module_form", **extra)


def reply_for(step: Any) -> str:
    return {"message": NEXT, "question": "Because my nerves got sensitive", "choice": "1",
            "scale": "6", "checkpoint": CARRY_ON, "exercise": "Skip it"}[step.kind]  # fmt: skip


async def test_a_module_runs_to_the_end_and_every_answer_is_saved(
    store: CoachStore, database_url: str
) -> None:
    enrol(store)
    push = make_tracker(text="EXTERNAL: continue_module", intent="continue_module",
                        entities=[{"entity": "module_id", "value": MODULE}])  # fmt: skip
    messages, events = await run(ActionContinueModule(), push)
    assert "shared a module with you. “Understanding chronic pain”" in texts(messages)
    assert slot_events(events)["module_step"] == 0

    module = catalogue().modules[MODULE]
    for index, step in enumerate(module.steps):
        shown, _ = await run(ActionAskModuleAnswer(), at(index, ""))
        assert shown[0]["text"] == prompt(step).text
        _, events = await run(ValidateModuleForm(), at(index, reply_for(step)))
        assert slot_events(events)["module_step"] == index + 1
    assert slot_events(events)["module_answer"] == "completed"

    finished = make_tracker(slots={"module_id": MODULE, "module_step": len(module.steps),
                                   "module_answer": "completed"})  # fmt: skip
    messages, events = await run(ActionModuleNext(), finished)
    assert "end of “Understanding chronic pain”" in texts(messages)
    assert slot_events(events)["module_outcome"] == "completed"

    with session_scope(database_url) as session:
        progress = session.scalar(select(ModuleProgress))
        assert progress is not None
        assert (progress.status, progress.step_index) == ("completed", len(module.steps))
        saved = session.execute(
            select(ModuleAnswer.step_id, ModuleAnswer.kind, ModuleAnswer.answer).order_by(
                ModuleAnswer.id
            )
        ).all()
        follow_up = session.scalar(
            select(ScheduledJob).where(ScheduledJob.kind == "module_follow_up")
        )
        assert follow_up is not None and follow_up.entities == {"module_id": MODULE}
    interactive = [s for s in module.steps if s.kind in ("question", "choice", "scale")]
    assert [row.step_id for row in saved] == [s.id for s in interactive]
    assert ("your-understanding", "question", "Because my nerves got sensitive") in saved
    assert ("understanding", "scale", "6") in saved


async def test_pause_keeps_the_place_and_continue_resumes_there(
    store: CoachStore, database_url: str
) -> None:
    enrol(store)
    modules().start("p-test", MODULE)
    await run(ValidateModuleForm(), at(0, NEXT))
    await run(ValidateModuleForm(), at(1, "It got worse after my fall"))
    messages, events = await run(ValidateModuleForm(), at(2, "later", intent="stop"))
    assert slot_events(events)["module_answer"] == "paused"
    assert "continue my module" in texts(messages)
    (place,) = modules().places("p-test")
    assert (place.status, place.step_index) == ("paused", 2)

    messages, events = await run(ActionContinueModule(), make_tracker(text="continue my module"))
    assert slot_events(events)["module_step"] == 2
    assert "Welcome back" in texts(messages) and "step 3 of" in texts(messages)


async def test_continue_with_nothing_waiting_says_so(store: CoachStore) -> None:
    enrol(store)
    messages, events = await run(ActionContinueModule(), make_tracker(text="continue my module"))
    assert "don't have a module waiting" in texts(messages)
    assert slot_events(events) == {"module_id": None}


async def test_a_question_in_the_middle_is_not_taken_as_the_answer(store: CoachStore) -> None:
    enrol(store)
    modules().start("p-test", MODULE)
    # Step 0 is a message: a question there is answered, and the same step comes again.
    messages, events = await run(
        ValidateModuleForm(), at(0, "why does pain persist?", intent="ask_pain_education")
    )
    assert slot_events(events) == {"education_topic": None, "module_answer": None}
    assert "carry on with your module" in texts(messages)
    assert modules().places("p-test")[0].step_index == 0


async def test_a_red_flag_sounding_answer_is_saved_as_the_answer(
    store: CoachStore, database_url: str
) -> None:
    enrol(store)
    modules().start("p-test", MODULE)
    _, events = await run(ValidateModuleForm(), at(1, "stairs were tough", intent="red_flag"))
    assert slot_events(events)["module_step"] == 2
    assert modules().answers("p-test", MODULE) == [("your-understanding", "stairs were tough")]


async def test_the_safety_net_interrupts_and_a_crisis_pauses_the_module(
    store: CoachStore,
) -> None:
    enrol(store)
    modules().start("p-test", MODULE)
    external = at(1, "EXTERNAL: crisis", intent="crisis",
                  entities=[{"entity": "safety_net", "value": "ending_life"}])  # fmt: skip
    _, events = await run(ValidateModuleForm(), external)
    assert slot_events(events) == {}  # rejected: the crisis rules take over
    assert modules().answers("p-test", MODULE) == []

    events = close_form(at(1, ""), "module_form")  # the crisis support closes the form
    assert {"event": "active_loop", "name": None, "timestamp": None} in events
    (place,) = modules().places("p-test")
    assert (place.status, place.step_index) == ("paused", 1)


async def test_an_exercise_step_hands_over_to_the_toolbox(store: CoachStore) -> None:
    enrol(store)
    module = catalogue().modules["relaxation"]
    index = next(i for i, s in enumerate(module.steps) if isinstance(s, ExerciseStep))
    modules().start("p-test", module.id)
    tracker = make_tracker(
        text=START_EXERCISE,
        slots={"module_id": module.id, "module_step": index, "requested_slot": "module_answer"},
        active_loop="module_form",
    )
    _, events = await run(ValidateModuleForm(), tracker)
    assert slot_events(events) == {"module_answer": "exercise", "module_step": index + 1}
    done = make_tracker(slots={"module_id": module.id, "module_step": index + 1,
                               "module_answer": "exercise"})  # fmt: skip
    _, events = await run(ActionModuleNext(), done)
    step = module.steps[index]
    assert isinstance(step, ExerciseStep)
    assert slot_events(events)["coping_exercise"] == step.exercise
    assert slot_events(events)["module_outcome"] == "exercise"


# The check-in note works the same way -------------------------------------------------


async def test_a_checkin_note_is_kept_however_it_sounds(store: CoachStore) -> None:
    enrol(store)
    tracker = make_tracker(
        text="stairs were tough", intent="red_flag",
        slots={"requested_slot": "checkin_note"}, active_loop="checkin_form",
    )  # fmt: skip
    _, events = await run(ValidateCheckinForm(), tracker)
    assert slot_events(events)["checkin_note"] == "stairs were tough"
    external = make_tracker(
        text="EXTERNAL: red_flag", intent="red_flag",
        slots={"requested_slot": "checkin_note"}, active_loop="checkin_form",
    )  # fmt: skip
    _, events = await run(ValidateCheckinForm(), external)
    assert "checkin_note" not in slot_events(events)


async def test_after_a_check_in_a_waiting_module_is_one_tap_away(store: CoachStore) -> None:
    enrol(store)
    quiet = CollectingDispatcher()
    remind_of_waiting_module("p-test", quiet)
    assert quiet.messages == []
    modules().start("p-test", MODULE)
    modules().pause("p-test", MODULE, 3)
    reminded = CollectingDispatcher()
    remind_of_waiting_module("p-test", reminded)
    (message,) = reminded.messages
    assert "Understanding chronic pain" in message["text"] and "left off" in message["text"]
    assert message["buttons"] == [{"title": "Continue my module", "payload": "/continue_module"}]


async def test_a_cleared_answer_is_not_read_as_a_reply(store: CoachStore) -> None:
    """Rasa validates every slot set since the patient last spoke, including the answer the
    start of a module clears: that must not move the module on."""
    enrol(store)
    modules().start("p-test", MODULE)
    tracker = make_tracker(
        text="EXTERNAL: continue_module",
        slots={"module_id": MODULE, "module_step": 0},
        filled={"module_answer": None},
        active_loop="module_form",
    )
    _, events = await run(ValidateModuleForm(), tracker)
    assert "module_step" not in slot_events(events)
    (place,) = modules().places("p-test")
    assert place.step_index == 0
