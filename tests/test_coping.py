"""The coping toolbox: choosing, stepping through, rating before and after, logging."""

from __future__ import annotations

from actions.conversation import ActionStopForm
from actions.coping import (
    ActionOfferExercise,
    ActionStartOfferedExercise,
    ActionSubmitCoping,
    ValidateCopingForm,
)
from actions.prompts import AskCopingExercise, AskExerciseProgress
from paincoach import content
from paincoach.db.store import CoachStore
from tests.helpers import enrol, make_tracker, run, slot_events, texts


def test_the_toolbox_has_the_seven_exercises_with_several_steps() -> None:
    catalogue = content.exercises()
    assert list(catalogue) == [
        "paced_breathing", "muscle_relaxation", "body_scan", "activity_pacing",
        "thought_reframing", "pleasant_activities", "sleep_tips",
    ]  # fmt: skip
    assert all(len(e.steps) >= 4 for e in catalogue.values())


async def test_choosing_by_button_or_by_words(store: CoachStore) -> None:
    for typed, expected in [
        ("Paced breathing", "paced_breathing"),
        ("the body scan one", "body_scan"),
        ("pacing", "activity_pacing"),
        ("juggling", None),
    ]:
        tracker = make_tracker(
            text=typed, filled={"coping_exercise": typed}, active_loop="coping_form"
        )
        _, events = await run(ValidateCopingForm(), tracker)
        assert slot_events(events)["coping_exercise"] == expected


async def test_relaxation_requests_see_relaxation_exercises(store: CoachStore) -> None:
    messages, _ = await run(AskCopingExercise(), make_tracker(intent="request_relaxation"))
    titles = [b["title"] for b in messages[0]["buttons"]]
    assert titles == ["Paced breathing", "Muscle relaxation", "Body scan", "Stop"]


async def test_steps_advance_one_by_one_until_done(store: CoachStore) -> None:
    steps = len(content.exercises()["paced_breathing"].steps)
    slots = {"coping_exercise": "paced_breathing", "tension_before": 6}
    for step in range(steps):
        messages, _ = await run(
            AskExerciseProgress(), make_tracker(slots={**slots, "exercise_step": step})
        )
        assert f"Step {step + 1} of {steps}" in texts(messages)
        tracker = make_tracker(
            text="next",
            slots={**slots, "exercise_step": step},
            filled={"exercise_progress": "next"},
            active_loop="coping_form",
        )
        _, events = await run(ValidateCopingForm(), tracker)
        done = slot_events(events)
        assert done["exercise_step"] == step + 1
        assert done["exercise_progress"] == ("done" if step == steps - 1 else None)


async def test_finished_exercise_is_logged_with_both_ratings(store: CoachStore) -> None:
    enrol(store)
    slots = {"coping_exercise": "body_scan", "tension_before": 7, "tension_after": 4}
    messages, events = await run(ActionSubmitCoping(), make_tracker(slots=slots))
    assert "from 7 to 4" in texts(messages)
    assert slot_events(events)["coping_exercise"] is None
    (session,) = store.coping_sessions("p-test")
    assert (session.exercise, session.tension_before, session.tension_after) == ("body_scan", 7, 4)
    assert session.completed_at is not None


async def test_stopped_exercise_is_logged_as_unfinished(store: CoachStore) -> None:
    enrol(store)
    slots = {"coping_exercise": "paced_breathing", "tension_before": 5, "exercise_step": 2}
    messages, _ = await run(
        ActionStopForm(), make_tracker(intent="stop", slots=slots, active_loop="coping_form")
    )
    assert "stop the exercise" in texts(messages)
    (session,) = store.coping_sessions("p-test")
    assert session.completed_at is None and session.steps_completed == 2


async def test_offer_follows_the_situation_and_yes_starts_it(store: CoachStore) -> None:
    messages, events = await run(ActionOfferExercise(), make_tracker(intent="sleep_problem"))
    assert "sleep" in texts(messages).lower()
    assert slot_events(events)["offered_exercise"] == "sleep_tips"
    _, events = await run(
        ActionStartOfferedExercise(), make_tracker(slots={"offered_exercise": "sleep_tips"})
    )
    assert slot_events(events)["coping_exercise"] == "sleep_tips"
    messages, events = await run(ActionOfferExercise(), make_tracker(intent="thank"))
    assert messages == [] and slot_events(events)["offered_exercise"] is None


async def test_after_a_fine_check_in_nothing_is_offered_whatever_the_note_said(
    store: CoachStore,
) -> None:
    tracker = make_tracker(
        text="feeling low", intent="mood_low", latest_action="action_submit_checkin"
    )
    messages, events = await run(ActionOfferExercise(), tracker)
    assert messages == [] and slot_events(events)["offered_exercise"] is None


async def test_an_offer_names_the_exercise_in_natural_english(store: CoachStore) -> None:
    messages, _ = await run(ActionOfferExercise(), make_tracker(intent="mood_low"))
    assert (
        "Would you like to try planning something enjoyable together? "
        "It takes about 10 minutes." in texts(messages)
    )


def test_every_exercise_reads_as_natural_english_in_a_sentence() -> None:
    """Titles are names (not orders: "Plan something enjoyable takes..." is broken);
    `in_a_sentence` is what follows "try" in an offer."""
    imperatives = {"plan", "do", "try", "make", "take", "breathe", "relax", "scan"}
    for exercise in content.exercises().values():
        assert exercise.title.split()[0].lower() not in imperatives, exercise.title
        phrase = exercise.in_a_sentence
        assert phrase == phrase.lower() and phrase.split()[0] not in imperatives, phrase
        assert not phrase.endswith((".", "!", "?")), phrase
