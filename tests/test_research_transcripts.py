"""Transcripts for researchers: who appears, every turn, what is withheld, filters, search,
the index kept in step with the tracker store, and withdrawal. On SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from paincoach.db.engine import session_scope
from paincoach.db.models import Participant
from paincoach.research.search import state_table, turns_table
from paincoach.research.synthetic import Conversation, write
from paincoach.research.transcripts import ResearchStore, Turn
from paincoach.research.withdrawal import withdraw_from_research
from paincoach.settings import Settings
from tests.research_world import (
    ANSWER_WORDS,
    FREE,
    GOAL_WORDS,
    NEVER_CONSENTED,
    NEVER_SHOWN,
    NO_RESEARCH,
    NOTE_WORDS,
    PATIENT_WORDS,
    PLAIN,
    START,
    WITHDRAWN,
    build,
    research_settings,
)

LATER = START + timedelta(days=30)


@pytest.fixture
def settings(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    found = research_settings(database_url, request, tmp_path)
    build(found)
    return found


@pytest.fixture
def research(settings: Settings) -> ResearchStore:
    store = ResearchStore(settings)
    store.index.refresh(now=LATER)
    return store


def everything_shown(turns: list[Turn]) -> str:
    return repr([(t.text, t.entities, t.buttons, t.detail, t.intent) for t in turns])


def test_only_participants_in_the_research_appear(research: ResearchStore) -> None:
    assert [p.pseudonym for p in research.participants()] == [FREE.pseudonym, PLAIN.pseudonym]
    assert [p.pseudonym for p in research.participants(arm="B")] == [PLAIN.pseudonym]
    assert research.participants(arm="nobody") == []
    for hidden in (NO_RESEARCH, WITHDRAWN, NEVER_CONSENTED):
        assert research.transcript(hidden.pseudonym) is None
    assert research.transcript("p-unknown") is None


def test_the_participants_list_counts_what_happened(research: ResearchStore) -> None:
    summary = {p.pseudonym: p for p in research.participants()}[PLAIN.pseudonym]
    assert summary.study_arm == "B"
    assert summary.enrolled == date(2026, 3, 2)  # in New York too
    # typed or tapped by the patient; the two triggers (push, safety net) are not messages
    assert (summary.messages_in, summary.messages_out) == (17, 17)
    assert summary.first_activity is not None and summary.last_activity is not None
    assert summary.first_activity < summary.last_activity
    assert (summary.checkins, summary.modules_completed, summary.safety_events) == (4, 1, 2)


def test_a_transcript_shows_every_turn_in_order(research: ResearchStore) -> None:
    turns = research.transcript(FREE.pseudonym)
    assert turns is not None
    assert [t.event_id for t in turns] == sorted(t.event_id for t in turns)
    kinds = {t.kind for t in turns}
    assert kinds == {"patient", "bot", "action", "form", "slot", "safety", "module"}
    flare = next(t for t in turns if t.intent == "flare_up")
    assert flare.text == PATIENT_WORDS and flare.confidence == pytest.approx(0.88)
    assert flare.entities == [{"entity": "body_part", "value": "lower back"}]
    assert flare.at.tzinfo == UTC and flare.local.utcoffset() == timedelta(hours=1)  # Oslo
    assert flare.local == flare.at
    offer = next(t for t in turns if t.kind == "bot" and t.buttons)
    assert offer.buttons == [
        {"title": "Yes", "payload": "/affirm"}, {"title": "Not now", "payload": "/deny"}
    ]  # fmt: skip
    assert offer.detail == {"response": "utter_flare_up"}
    safety = next(t for t in turns if t.kind == "safety")
    assert safety.intent == "crisis"
    assert safety.detail == {"safety_kind": "crisis", "tier": "possible", "reason": "hopelessness"}
    assert any(t.kind == "form" and t.text == "checkin_form started" for t in turns)
    assert any(t.kind == "slot" and t.detail == {"slot": "mood", "value": 4.0} for t in turns)
    push = next(t for t in turns if t.kind == "module" and t.intent == "continue_module")
    assert push.text == "module understanding-pain pushed"
    answer = next(t for t in turns if t.text == ANSWER_WORDS)
    assert answer.kind == "patient" and answer.module_id == "understanding-pain"
    assert any(t.kind == "module" and t.text == "step 2" for t in turns)


def test_free_text_shown_only_with_consent(research: ResearchStore) -> None:
    free, plain = research.transcript(FREE.pseudonym), research.transcript(PLAIN.pseudonym)
    assert free is not None and plain is not None
    assert NOTE_WORDS in everything_shown(free) and GOAL_WORDS in everything_shown(free)
    shown = everything_shown(plain)
    for words in (PATIENT_WORDS, NOTE_WORDS, ANSWER_WORDS, GOAL_WORDS, "pointless"):
        assert words not in shown
    patient = [t for t in plain if t.kind == "patient"]
    assert {t.text for t in patient if t.withheld} == {
        "[free text withheld]", "[care-team message withheld]", "[nickname]"
    }  # fmt: skip
    # buttons and commands are the coach's words; intents and scores stay
    assert {t.text for t in patient if not t.withheld} == {"/start", "/affirm"}
    assert any(t.intent == "flare_up" and t.withheld for t in patient)
    # the coach repeating the note or the goal is withheld too
    echo = next(t for t in plain if t.kind == "bot" and t.text and "Your goal" in t.text)
    assert echo.text == "Your goal: [free text withheld], 3 times a week."


@pytest.mark.parametrize("person", [FREE, PLAIN])
def test_care_team_messages_nicknames_and_telegram_never_shown(
    research: ResearchStore, person: object
) -> None:
    turns = research.transcript(person.pseudonym)  # type: ignore[attr-defined]
    assert turns is not None
    shown = everything_shown(turns)
    for secret in NEVER_SHOWN:
        assert secret not in shown
    assert "Lovely to meet you, [nickname]!" in shown
    assert "[care-team message withheld]" in shown
    hits = research.search("nerve block") + research.search(person.nickname)  # type: ignore[attr-defined]
    assert hits == []


def test_search_finds_highlights_and_escapes(research: ResearchStore) -> None:
    hits = research.search("grumbling backs")  # stemmed: back ~ backs
    assert [h.pseudonym for h in hits] == [FREE.pseudonym]
    assert hits[0].turn.text == PATIENT_WORDS
    assert "<mark>back</mark>" in hits[0].snippet and "<mark>grumbling</mark>" in hits[0].snippet
    # the patient's markup is shown, never run
    bold = research.search("bold")
    assert (
        len(bold) == 1 and "<b>" not in bold[0].snippet and "<mark>bold</mark>" in bold[0].snippet
    )
    assert bold[0].turn.text == "<b>bold</b> & sleep"
    # the coach's words of everyone visible are searchable, withheld words of nobody
    assert {h.pseudonym for h in research.search("closely linked")} == {
        FREE.pseudonym, PLAIN.pseudonym
    }  # fmt: skip
    assert research.search("withheld") == []
    assert research.search("stiff knee", pseudonym=PLAIN.pseudonym) == []
    assert research.search("   ") == [] and research.search("!!") == []
    assert [h.pseudonym for h in research.search("linked", arm="B")] == [PLAIN.pseudonym]
    assert research.search("linked", limit=1)[0].pseudonym == FREE.pseudonym


def test_turns_filter_by_intent_confidence_module_and_day(research: ResearchStore) -> None:
    unsure = research.turns(max_confidence=0.5, kind="patient")
    assert unsure and all(h.turn.confidence is not None for h in unsure)
    assert all(h.turn.confidence <= 0.5 for h in unsure)  # type: ignore[operator]
    assert {h.turn.intent for h in research.turns(intent="flare_up")} == {"flare_up"}
    assert len(research.turns(intent="flare_up")) == 2
    in_module = research.turns(module="understanding-pain", pseudonym=FREE.pseudonym)
    assert ANSWER_WORDS in [h.turn.text for h in in_module]
    assert all(h.turn.module_id == "understanding-pain" for h in in_module)
    first_day = research.turns(since=date(2026, 3, 2), until=date(2026, 3, 2), limit=1000)
    assert first_day and all(h.turn.local.date() == date(2026, 3, 2) for h in first_day)
    later = research.turns(since=datetime(2026, 3, 3, tzinfo=UTC), limit=1000)
    assert later and all(h.turn.at >= datetime(2026, 3, 3, tzinfo=UTC) for h in later)
    assert len(first_day) + len(later) == len(research.turns(limit=1000))  # nothing between


def count_indexed(settings: Settings, pseudonym: str) -> int:
    with session_scope(settings.database_url) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(turns_table)
                .where(turns_table.c.pseudonym == pseudonym)
            )
            or 0
        )


def test_the_index_reads_only_new_events_and_rebuilds_on_consent_change(
    research: ResearchStore, settings: Settings
) -> None:
    before = count_indexed(settings, FREE.pseudonym)
    assert before > 0 and count_indexed(settings, NO_RESEARCH.pseudonym) == 0
    assert research.index.refresh(now=LATER) == 0  # nothing new
    more = Conversation(FREE.pseudonym, START + timedelta(days=8))
    more.user("the heat pad helped with the aching", "inform", 0.7).bot("Glad it helped.")
    fresh = Conversation(PLAIN.pseudonym, LATER - timedelta(seconds=5))
    fresh.user("drizzle outside", "inform", 0.7)
    write(settings.tracker_store_url, more, fresh)
    assert research.index.refresh(now=LATER) == 2  # the last one is still settling
    assert [h.pseudonym for h in research.search("aching")] == [FREE.pseudonym]
    assert count_indexed(settings, FREE.pseudonym) == before + 2
    # Free-text consent changes: what was indexed for them is rebuilt.
    with session_scope(settings.database_url) as session:
        session.execute(
            update(Participant)
            .where(Participant.pseudonym == PLAIN.pseudonym)
            .values(free_text_consent=True)
        )
    research.index.refresh(now=LATER + timedelta(minutes=5))
    assert [h.pseudonym for h in research.search("grumbling")] == [
        FREE.pseudonym, PLAIN.pseudonym
    ]  # fmt: skip
    assert research.search("drizzle")[0].pseudonym == PLAIN.pseudonym


def test_withdrawal_removes_them_from_every_view(
    research: ResearchStore, settings: Settings
) -> None:
    assert research.search("grumbling")
    assert withdraw_from_research(FREE.pseudonym, settings) is True
    assert withdraw_from_research(FREE.pseudonym, settings) is False  # already out
    assert withdraw_from_research(NO_RESEARCH.pseudonym, settings) is False
    assert withdraw_from_research("p-unknown", settings) is False
    assert [p.pseudonym for p in research.participants()] == [PLAIN.pseudonym]
    assert research.transcript(FREE.pseudonym) is None
    assert research.search("grumbling") == []
    assert all(h.pseudonym == PLAIN.pseudonym for h in research.turns(limit=1000))
    assert count_indexed(settings, FREE.pseudonym) == 0


def test_erased_participants_leave_the_index(research: ResearchStore, settings: Settings) -> None:
    from paincoach.db.store import CoachStore

    assert CoachStore(settings.database_url).erase_participant(PLAIN.pseudonym)
    assert research.index.prune() > 0  # the scheduler prunes every hour
    assert research.search("closely linked")[0].pseudonym == FREE.pseudonym
    assert count_indexed(settings, PLAIN.pseudonym) == 0
    with session_scope(settings.database_url) as session:
        states = set(session.scalars(select(state_table.c.pseudonym)))
    assert states == {FREE.pseudonym}


def test_a_refresh_already_running_elsewhere_is_not_waited_for(
    research: ResearchStore, settings: Settings
) -> None:
    from paincoach.db.engine import get_engine
    from paincoach.research import search

    more = Conversation(FREE.pseudonym, START + timedelta(days=8)).user("ache", "inform", 0.7)
    write(settings.tracker_store_url, more)
    engine = get_engine(settings.database_url)
    with contextlib.ExitStack() as held:
        if engine.dialect.name == "postgresql":
            other = held.enter_context(engine.connect())
            other.execute(select(func.pg_advisory_lock(search._ADVISORY_LOCK)))
            held.callback(other.execute, select(func.pg_advisory_unlock(search._ADVISORY_LOCK)))
        else:
            held.enter_context(search._SQLITE_REFRESH)
        assert research.index.refresh(now=LATER) == 0  # the index is read as it is
        assert research.search("ache") == []
    assert research.index.refresh(now=LATER) == 1
    assert [h.turn.text for h in research.search("ache")] == ["ache"]
