"""Erasure: every row about the participant goes, and their conversation history with it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import create_engine, func, select, text

from actions.data_rights import ERASE_CONVERSATION, ActionDeleteMyData
from paincoach.db.engine import session_scope
from paincoach.db.models import Base, Code, Coding, ConsoleUser, ErasureRequest, Participant
from paincoach.db.store import CoachStore
from paincoach.modules.progress import ModuleStore
from tests.helpers import enrol, make_tracker, run, texts


def fill_everything(store: CoachStore, sender: str) -> None:
    enrol(store, sender)
    store.save_checkin(sender, {"pain_average": 5, "note": "x"}, completed=True)
    store.save_coping_session(sender, "body_scan", 5, 3, 6, completed=True)
    store.set_goal(sender, "walk", 3)
    store.review_goal(sender, 2)
    store.save_flare_up_plan(
        sender, warning_signs="a", what_helps="b", what_to_ease_off="c", who_can_help="d",
        note_to_self="e",
    )  # fmt: skip
    store.add_care_team_message(sender, "hello")
    store.record_safety_event(sender, "crisis")
    progress = ModuleStore(store.url)
    progress.start(sender, "understanding-pain")
    progress.save_answer(sender, "understanding-pain", "your-understanding", "question", "x")
    with session_scope(store.url) as session:
        coder = ConsoleUser(email=f"coder-{sender}@study.example", role="researcher",
                            password_hash="-")  # fmt: skip
        code = Code(name=f"pacing-{sender}")
        session.add_all([coder, code])
        session.flush()
        participant = session.scalar(select(Participant).where(Participant.pseudonym == sender))
        assert participant is not None
        session.add(Coding(code_id=code.id, coder_id=coder.id, participant_id=participant.id,
                           event_id=1, start=0, end=1))  # fmt: skip


# Tables that are not about one participant: accounts, the codebook, the audit log.
NOT_PER_PARTICIPANT = {
    "erasure_requests", "consent_refusals", "console_users", "console_sessions",
    "enrolment_codes", "codes", "audit_log", "password_resets",
}  # fmt: skip


def row_counts(url: str) -> dict[str, int]:
    with session_scope(url) as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
            if table.name not in NOT_PER_PARTICIPANT
        }


async def test_delete_erases_only_this_participant(store: CoachStore, database_url: str) -> None:
    fill_everything(store, "p-test")
    fill_everything(store, "p-other")
    before = row_counts(database_url)
    messages, events = await run(ActionDeleteMyData(), make_tracker(intent="affirm"))
    assert "erased everything" in texts(messages)
    assert messages[-1]["custom"] == ERASE_CONVERSATION
    assert any(e["event"] == "reset_slots" for e in events)
    after = row_counts(database_url)
    assert after == {table: count // 2 for table, count in before.items()}
    assert store.participant("p-test") is None and store.participant("p-other") is not None
    assert store.pending_erasures() == ["p-test"]


async def test_tracker_events_are_erased_and_the_request_closed(
    store: CoachStore, database_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    tracker_url = f"sqlite:///{tmp_path / 'tracker.db'}"
    engine = create_engine(tracker_url)
    with engine.begin() as connection:
        connection.execute(
            text("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id TEXT, data TEXT)")
        )
        for sender in ("p-test", "p-test", "p-other"):
            connection.execute(
                text("INSERT INTO events (sender_id, data) VALUES (:s, '{}')"), {"s": sender}
            )
    store.erase_participant("p-test")
    assert store.erase_tracker("p-test", tracker_url) == 2
    with engine.connect() as connection:
        remaining = connection.execute(text("SELECT sender_id FROM events")).scalars().all()
    assert remaining == ["p-other"]
    assert store.pending_erasures() == []
    with session_scope(database_url) as session:
        request = session.scalar(select(ErasureRequest))
        assert request is not None and isinstance(request.tracker_erased_at, datetime)
        assert request.pseudonym == "erased"  # the record stays, the identity goes
    engine.dispose()


async def test_withdrawing_from_the_research(store: CoachStore) -> None:
    from actions.data_rights import ActionWithdrawResearch

    enrol(store)  # with research consent
    messages, _ = await run(ActionWithdrawResearch(), make_tracker(intent="withdraw_research"))
    assert "withdrawn from the research" in texts(messages)
    participant = store.participant("p-test")
    assert participant is not None and participant.research_withdrawn_at is not None
    again, _ = await run(ActionWithdrawResearch(), make_tracker(intent="withdraw_research"))
    assert "not part of the research" in texts(again)
    assert store.export("p-test")["participant"]["research_withdrawn_at"] is not None  # type: ignore[index]
