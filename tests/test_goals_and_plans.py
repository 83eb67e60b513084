"""Weekly goals, flare-up plans, the care-team inbox, reminder preferences and progress."""

from __future__ import annotations

from datetime import time

from sqlalchemy import select

from actions.care_team import ActionSubmitCareTeamMessage, ValidateCareTeamForm
from actions.education import ActionPainEducation
from actions.flare_up import ActionFlareUpSupport, ActionShowFlarePlan, ActionSubmitFlarePlan
from actions.goals import (
    ActionShowGoal,
    ActionSubmitGoal,
    ActionSubmitGoalReview,
    ValidateGoalForm,
)
from actions.preferences import (
    ActionPauseReminders,
    ActionResumeReminders,
    ActionSaveCheckinTime,
)
from actions.progress import ActionProgressSummary
from paincoach import content
from paincoach.db.engine import session_scope
from paincoach.db.models import CareTeamMessage, GoalReview
from paincoach.db.store import CoachStore
from tests.helpers import enrol, make_tracker, run, slot_events, texts

PLAN = {
    "flare_warning_signs": "stiff neck",
    "flare_what_helps": "heat and breathing",
    "flare_what_to_ease_off": "gardening",
    "flare_who_can_help": "my sister",
    "flare_note_to_self": "this will pass",
}


async def test_goal_set_shown_and_reviewed(store: CoachStore, database_url: str) -> None:
    enrol(store)
    tracker = make_tracker(
        text="8", filled={"goal_frequency": "8"}, slots={"goal_activity": "walk"},
        active_loop="goal_form",
    )  # fmt: skip
    _, events = await run(ValidateGoalForm(), tracker)
    assert slot_events(events)["goal_frequency"] == 8
    _, events = await run(
        ValidateGoalForm(),
        make_tracker(text="0", filled={"goal_frequency": "0"}, active_loop="goal_form"),
    )
    assert slot_events(events)["goal_frequency"] is None
    await run(
        ActionSubmitGoal(),
        make_tracker(slots={"goal_activity": "walk to the shop", "goal_frequency": 3}),
    )
    messages, _ = await run(ActionShowGoal(), make_tracker())
    assert "walk to the shop, 3 times a week" in texts(messages)
    messages, _ = await run(ActionSubmitGoalReview(), make_tracker(slots={"goal_times_done": 3}))
    assert "goal reached" in texts(messages)
    with session_scope(database_url) as session:
        (review,) = session.scalars(select(GoalReview)).all()
        assert review.times_done == 3


async def test_a_new_goal_replaces_the_old_one(store: CoachStore) -> None:
    enrol(store)
    store.set_goal("p-test", "swim", 1)
    store.set_goal("p-test", "walk", 2)
    goal = store.active_goal("p-test")
    assert goal is not None and goal.activity == "walk"


async def test_flare_up_plan_written_stored_and_shown_back(store: CoachStore) -> None:
    enrol(store)
    messages, _ = await run(ActionShowFlarePlan(), make_tracker())
    assert "haven't written" in texts(messages)
    messages, events = await run(ActionSubmitFlarePlan(), make_tracker(slots=PLAN))
    assert "heat and breathing" in texts(messages)
    assert slot_events(events)["flare_what_helps"] is None
    messages, _ = await run(ActionShowFlarePlan(), make_tracker())
    assert "this will pass" in texts(messages)
    messages, _ = await run(
        ActionFlareUpSupport(),
        make_tracker(
            text="my back is killing me",
            intent="flare_up",
            entities=[{"entity": "body_part", "value": "back"}],
            slots={"nickname": "Sam"},
        ),
    )
    assert "your back" in texts(messages) and "heat and breathing" in texts(messages)


async def test_care_team_message_goes_to_the_inbox(store: CoachStore, database_url: str) -> None:
    enrol(store)
    tracker = make_tracker(text="", filled={"care_team_message": ""}, active_loop="care_team_form")
    _, events = await run(ValidateCareTeamForm(), tracker)
    assert slot_events(events)["care_team_message"] is None
    long = "x" * 5000
    messages, events = await run(
        ValidateCareTeamForm(),
        make_tracker(text=long, filled={"care_team_message": long}, active_loop="care_team_form"),
    )
    assert slot_events(events)["care_team_message"] is None and "4,000" in texts(messages)
    await run(
        ActionSubmitCareTeamMessage(),
        make_tracker(slots={"care_team_message": "can we talk about my new exercises?"}),
    )
    with session_scope(database_url) as session:
        (message,) = session.scalars(select(CareTeamMessage)).all()
        assert message.body == "can we talk about my new exercises?" and message.from_patient


async def test_reminder_preferences_are_stored(store: CoachStore) -> None:
    enrol(store)
    await run(ActionSaveCheckinTime(), make_tracker(slots={"new_checkin_time": "07:30"}))
    await run(ActionPauseReminders(), make_tracker())
    participant = store.participant("p-test")
    assert participant is not None
    assert participant.checkin_time == time(7, 30) and participant.reminders_paused
    await run(ActionResumeReminders(), make_tracker())
    participant = store.participant("p-test")
    assert participant is not None and not participant.reminders_paused


async def test_progress_summary_in_two_lines(store: CoachStore) -> None:
    enrol(store)
    messages, _ = await run(ActionProgressSummary(), make_tracker())
    assert "haven't checked in" in texts(messages)
    for pain in (7, 7, 4, 4):
        store.save_checkin(
            "p-test",
            {"pain_average": pain, "pain_enjoyment": pain, "pain_activity": pain, "mood": 6},
            completed=True,
        )
    messages, _ = await run(ActionProgressSummary(), make_tracker())
    assert messages[-1]["custom"] == {"paincoach": "progress_chart"}  # drawn by the channel
    first, second = messages[0]["text"].split("\n")
    assert "4 check-ins" in first and "average pain 5.5/10" in first and "PEG 5.5" in first
    assert "eased from about 7.0 to 4.0" in second


def test_education_covers_at_least_six_topics() -> None:
    assert len(content.topics()) >= 6
    assert content.find_topic("does hurt mean harm?") == content.topics()["pain_vs_harm"]
    assert (
        content.find_topic("why does stress make my pain worse")
        == content.topics()["stress_and_pain"]
    )


async def test_education_answers_or_offers_topics(store: CoachStore) -> None:
    messages, _ = await run(ActionPainEducation(), make_tracker(text="why does my pain persist"))
    assert "Why pain can persist" in texts(messages)
    messages, _ = await run(ActionPainEducation(), make_tracker(text="tell me stuff"))
    assert len(messages[0]["buttons"]) == len(content.topics())
    messages, _ = await run(
        ActionPainEducation(), make_tracker(text="/x", slots={"education_topic": "sleep_and_pain"})
    )
    assert content.topics()["sleep_and_pain"].title in texts(messages)
