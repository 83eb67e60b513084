"""Safety: crisis support with the configured numbers, red flags, medication questions."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from actions.safety import ActionCrisisFollowup, ActionCrisisSupport, ActionRedFlag
from paincoach.db.engine import session_scope
from paincoach.db.models import CheckIn, SafetyEvent
from paincoach.db.store import CoachStore
from paincoach.settings import get_settings
from tests.helpers import DOMAIN, enrol, make_tracker, run, slot_events, texts


async def test_crisis_reply_gives_default_numbers_and_asks_if_safe(
    store: CoachStore, database_url: str
) -> None:
    enrol(store)
    messages, _ = await run(
        ActionCrisisSupport(), make_tracker(text="i want to die", intent="crisis")
    )
    said = texts(messages)
    assert "116 123" in said and "112" in said
    assert "Are you safe right now?" in said
    assert [b["payload"] for b in messages[-1]["buttons"]] == ["/affirm", "/deny"]
    with session_scope(database_url) as session:
        (event,) = session.scalars(select(SafetyEvent)).all()
        assert (event.kind, event.detected_by, event.participant_id is not None) == (
            "crisis", "nlu", True,
        )  # fmt: skip


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
    messages, _ = await run(
        ActionCrisisSupport(),
        make_tracker(sender="p-stranger", intent="crisis", metadata={"safety_net": True}),
    )
    assert "116 123" in texts(messages)
    with session_scope(database_url) as session:
        (event,) = session.scalars(select(SafetyEvent)).all()
        assert event.participant_id is None and event.detected_by == "safety_net"


async def test_crisis_during_check_in_ends_it_and_keeps_the_answers(
    store: CoachStore, database_url: str
) -> None:
    enrol(store)
    tracker = make_tracker(intent="crisis", slots={"pain_average": 8}, active_loop="checkin_form")
    _, events = await run(ActionCrisisSupport(), tracker)
    assert any(e["event"] == "active_loop" and e["name"] is None for e in events)
    with session_scope(database_url) as session:
        (checkin,) = session.scalars(select(CheckIn)).all()
        assert checkin.pain_average == 8 and checkin.completed_at is None


@pytest.mark.parametrize(
    ("intent", "safe", "says"), [("affirm", True, "glad"), ("deny", False, "112")]
)
async def test_safe_now_answer_is_recorded(
    store: CoachStore, database_url: str, intent: str, safe: bool, says: str
) -> None:
    enrol(store)
    await run(ActionCrisisSupport(), make_tracker(intent="crisis"))
    messages, _ = await run(ActionCrisisFollowup(), make_tracker(intent=intent))
    assert says in texts(messages)
    with session_scope(database_url) as session:
        (event,) = session.scalars(select(SafetyEvent)).all()
        assert event.safe_now is safe


async def test_red_flag_advises_urgent_care_and_is_recorded(
    store: CoachStore, database_url: str
) -> None:
    enrol(store)
    messages, _ = await run(ActionRedFlag(), make_tracker(intent="red_flag"))
    assert "urgent" in texts(messages) and "112" in texts(messages)
    with session_scope(database_url) as session:
        (event,) = session.scalars(select(SafetyEvent)).all()
        assert event.kind == "red_flag"


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
        messages, events = await run(ActionRedFlag(), make_tracker(intent="red_flag"))
    finally:
        get_settings.cache_clear()
        common.store.cache_clear()
    assert "urgent" in texts(messages)
    assert slot_events(events) == {}
