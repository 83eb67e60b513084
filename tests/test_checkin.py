"""The daily check-in: every kind of answer, saving as we go, partial check-ins, feedback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from actions.checkin import ActionSubmitCheckin, ValidateCheckinForm
from actions.conversation import ActionStopForm
from paincoach.db.engine import session_scope
from paincoach.db.models import CheckIn, utcnow
from paincoach.db.store import CoachStore
from tests.helpers import enrol, make_tracker, run, slot_events, texts

FULL = {
    "pain_average": 6, "pain_enjoyment": 5, "pain_activity": 4,
    "mood": 7, "sleep_quality": 3, "checkin_note": "walked the dog",
}  # fmt: skip


async def validate(text: str, slot: str = "pain_average", **kwargs):  # type: ignore[no-untyped-def]
    tracker = make_tracker(text=text, filled={slot: text}, active_loop="checkin_form", **kwargs)
    return await run(ValidateCheckinForm(), tracker)


@pytest.mark.parametrize(
    ("typed", "value"), [("7", 7), ("seven", 7), ("about a 7", 7), ("7/10", 7), ("0", 0)]
)
async def test_good_answers_are_saved_straight_away(
    store: CoachStore, database_url: str, typed: str, value: int
) -> None:
    enrol(store)
    messages, events = await validate(typed)
    slots = slot_events(events)
    assert slots["pain_average"] == value
    assert messages == []
    with session_scope(database_url) as session:
        saved = session.get(CheckIn, int(slots["checkin_id"]))
        assert saved is not None
        assert saved.pain_average == value
        assert saved.completed_at is None


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("11", "from 0 to 10"),
        ("-3", "from 0 to 10"),
        ("lots", "number from 0 to 10"),
        ("🙂", "number from 0 to 10"),
        ("", "number from 0 to 10"),
        ("x" * 5000, "number from 0 to 10"),
        ("7.5", "7 or 8"),
        ("six or seven", "6 or 7"),
        ("DROP TABLE checkins;", "number from 0 to 10"),
    ],
)
async def test_bad_answers_get_a_clear_reask_and_store_nothing(
    store: CoachStore, database_url: str, typed: str, says: str
) -> None:
    enrol(store)
    messages, events = await validate(typed)
    assert slot_events(events)["pain_average"] is None
    assert says in texts(messages)
    with session_scope(database_url) as session:
        assert session.scalars(select(CheckIn)).all() == []


async def test_note_can_be_skipped_or_written(store: CoachStore) -> None:
    enrol(store)
    _, events = await validate("/deny", slot="checkin_note", intent="deny")
    assert slot_events(events)["checkin_note"] == "-"
    _, events = await validate("slept badly, stressful day", slot="checkin_note")
    assert slot_events(events)["checkin_note"] == "slept badly, stressful day"


async def test_check_in_before_consent_asks_nothing_and_stores_nothing(
    store: CoachStore, database_url: str
) -> None:
    tracker = make_tracker(text="7", filled={"pain_average": "7"}, active_loop="checkin_form")
    _, events = await run(ValidateCheckinForm(), tracker)
    assert slot_events(events).get("requested_slot") is None
    messages, _ = await run(ActionSubmitCheckin(), make_tracker(text="7"))
    assert "/start" in texts(messages)
    with session_scope(database_url) as session:
        assert session.scalars(select(CheckIn)).all() == []


async def test_stopping_half_way_keeps_a_partial_check_in(
    store: CoachStore, database_url: str
) -> None:
    enrol(store)
    _, events = await validate("6")
    checkin_id = slot_events(events)["checkin_id"]
    tracker = make_tracker(
        text="stop",
        intent="stop",
        slots={"pain_average": 6, "pain_enjoyment": 5, "checkin_id": checkin_id},
        active_loop="checkin_form",
    )
    messages, events = await run(ActionStopForm(), tracker)
    assert "kept the answers" in texts(messages)
    assert {"event": "active_loop", "name": None} in [
        {"event": e["event"], "name": e.get("name")} for e in events
    ]
    with session_scope(database_url) as session:
        (saved,) = session.scalars(select(CheckIn)).all()
        assert (saved.pain_average, saved.pain_enjoyment, saved.pain_activity) == (6, 5, None)
        assert saved.completed_at is None


async def test_first_check_in_thanks_and_completes(store: CoachStore, database_url: str) -> None:
    enrol(store)
    messages, events = await run(ActionSubmitCheckin(), make_tracker(slots=FULL))
    assert "saved" in texts(messages)
    assert slot_events(events)["pain_average"] is None  # ready for tomorrow
    with session_scope(database_url) as session:
        (saved,) = session.scalars(select(CheckIn)).all()
        assert saved.completed_at is not None
        assert saved.note == "walked the dog"
        assert saved.peg_score == pytest.approx(5.0)


async def test_a_worse_day_is_compared_with_last_week_and_offers_an_exercise(
    store: CoachStore, database_url: str
) -> None:
    enrol(store)
    for days_ago, pain in [(1, 3), (2, 4), (3, 3)]:
        checkin_id = store.save_checkin("p-test", {"pain_average": pain, "mood": 6}, completed=True)
        with session_scope(database_url) as session:
            session.execute(
                update(CheckIn)
                .where(CheckIn.id == checkin_id)
                .values(started_at=utcnow() - timedelta(days=days_ago))
            )
    messages, events = await run(
        ActionSubmitCheckin(), make_tracker(slots={**FULL, "pain_average": 8, "mood": 3})
    )
    said = texts(messages)
    assert "8/10" in said and "3.3" in said and "mood is lower" in said
    assert slot_events(events)["offered_exercise"] == "paced_breathing"


@pytest.mark.parametrize("mood", [0, 1, 2])
async def test_a_very_low_mood_is_acknowledged_and_support_offered(
    store: CoachStore, mood: int
) -> None:
    enrol(store)
    store.save_checkin("p-test", {"pain_average": 5, "mood": mood}, completed=True)
    messages, events = await run(
        ActionSubmitCheckin(), make_tracker(slots={**FULL, "pain_average": 5, "mood": mood})
    )
    said = texts(messages)
    assert f"mood is very low today ({mood}/10)" in said
    assert "care team" in said and "116 123" in said
    assert slot_events(events)["offered_exercise"] == "pleasant_activities"


async def test_a_mood_of_three_gets_no_special_note(store: CoachStore) -> None:
    enrol(store)
    messages, _ = await run(ActionSubmitCheckin(), make_tracker(slots={**FULL, "mood": 3}))
    assert "very low" not in texts(messages)


async def test_a_better_day_is_celebrated_without_an_offer(store: CoachStore) -> None:
    enrol(store)
    store.save_checkin("p-test", {"pain_average": 7, "mood": 5}, completed=True)
    messages, events = await run(
        ActionSubmitCheckin(), make_tracker(slots={**FULL, "pain_average": 3})
    )
    assert "lower than your recent average" in texts(messages)
    assert slot_events(events)["offered_exercise"] is None


async def test_database_failure_apologises_and_keeps_the_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from actions import common
    from paincoach.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    get_settings.cache_clear()
    common.store.cache_clear()
    try:
        messages, events = await validate("7")
    finally:
        get_settings.cache_clear()
        common.store.cache_clear()
    assert "noted it" in texts(messages)
    assert slot_events(events)["pain_average"] == 7
