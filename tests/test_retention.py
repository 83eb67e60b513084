"""Retention and the erasure of unconsented conversations, as `paincoach retention` and the
scheduler run them, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from paincoach.cli import app
from paincoach.db.engine import get_engine, session_scope
from paincoach.db.models import (
    AuditEntry,
    CareTeamMessage,
    CheckIn,
    ConsentRefusal,
    ModuleAnswer,
    PendingMessage,
    SafetyEvent,
    SentKeyboard,
    TelegramChat,
)
from paincoach.privacy.before_consent import BEFORE_CONSENT, erase_unconsented
from paincoach.privacy.retention import RETENTION, apply_retention
from paincoach.privacy.upkeep import DataUpkeep
from paincoach.research.synthetic import Conversation, write
from paincoach.research.transcripts import ResearchStore
from paincoach.scheduler.clock import FakeClock
from paincoach.scheduler.jobs import JobStore
from paincoach.scheduler.runner import Scheduler
from paincoach.settings import Settings, get_settings
from tests.research_world import (
    FREE,
    NEVER_CONSENTED,
    NO_RESEARCH,
    PLAIN,
    START,
    build,
    research_settings,
)

A_YEAR_ON = START + timedelta(days=400)  # retention 365 days: the cut-off is START + 35 days


@pytest.fixture
def settings(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    found = research_settings(database_url, request, tmp_path)
    build(found)
    return found


def events_of(settings: Settings, sender: str) -> int:
    with get_engine(settings.tracker_store_url).connect() as connection:
        return int(
            connection.scalar(
                text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": sender}
            )
        )


def count(settings: Settings, model: Any, *where: Any) -> int:
    with session_scope(settings.database_url) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def audit(settings: Settings, action: str) -> list[AuditEntry]:
    with session_scope(settings.database_url) as session:
        return list(
            session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by("id"))
        )


def test_retention_deletes_old_transcripts_and_free_texts_and_keeps_the_numbers(
    settings: Settings,
) -> None:
    research = ResearchStore(settings)
    research.index.refresh(now=A_YEAR_ON)
    assert research.search("closely linked")
    free_before = events_of(settings, FREE.pseudonym)
    # FREE came back last week: a new session, which is kept whatever its age.
    back = Conversation(FREE.pseudonym, A_YEAR_ON - timedelta(days=7)).session_start()
    back.user("hello again", "greet", 0.99).bot("Welcome back!").listen()
    # NO_RESEARCH is in the middle of a session that began before the cut-off.
    going_on = Conversation(NO_RESEARCH.pseudonym, A_YEAR_ON - timedelta(hours=1))
    going_on.user("still here", "inform", 0.8)
    with session_scope(settings.database_url) as session:
        session.add(PendingMessage(pseudonym=FREE.pseudonym, text="old words", received_at=START))
        session.add(SentKeyboard(pseudonym=FREE.pseudonym, message_id=1, payloads=["/affirm"],
                                 sent_at=START))  # fmt: skip
        session.add(CareTeamMessage(participant_id=1, body="recent", created_at=A_YEAR_ON))
    write(settings.tracker_store_url, back, going_on)
    numbers = count(settings, CheckIn, CheckIn.pain_average.is_not(None))

    removed = apply_retention(settings, A_YEAR_ON)

    # the old conversations of the four who wrote then, and the session-start action that
    # came before the session still going on
    assert removed["tracker_events"] == 4 * free_before + 1
    assert events_of(settings, FREE.pseudonym) == 7  # the new session only
    assert events_of(settings, PLAIN.pseudonym) == 0  # gone quiet a year ago: all of it
    assert events_of(settings, NO_RESEARCH.pseudonym) > 1  # its session is still going on
    assert (
        removed["checkin_notes"] == 4 and count(settings, CheckIn, CheckIn.note.is_not(None)) == 0
    )
    assert count(settings, CheckIn, CheckIn.pain_average.is_not(None)) == numbers
    assert removed["module_answers"] == 4
    assert count(settings, ModuleAnswer) == 4  # the scale answers stay
    assert count(settings, ModuleAnswer, ModuleAnswer.kind == "question") == 0
    assert removed["care_team_messages"] == 4 and count(settings, CareTeamMessage) == 1
    assert (removed["pending_messages"], removed["sent_keyboards"]) == (1, 1)
    assert removed["research_index"] > 0
    research.index.refresh(now=A_YEAR_ON)
    assert research.search("closely linked") == []
    assert [h.turn.text for h in research.turns(pseudonym=FREE.pseudonym)] == [
        "hello again", "Welcome back!"
    ]  # fmt: skip
    (entry,) = audit(settings, RETENTION)
    assert entry.detail is not None and entry.detail.startswith("older than 2026-04-06")
    assert f"tracker_events={removed['tracker_events']}" in entry.detail
    # Again: nothing more to remove, and the run is logged.
    again = apply_retention(settings, A_YEAR_ON)
    assert set(again.values()) == {0} and len(audit(settings, RETENTION)) == 2


def test_retention_days_zero_keeps_everything(settings: Settings) -> None:
    keep = settings.model_copy(update={"retention_days": 0})
    before = events_of(settings, FREE.pseudonym)
    assert apply_retention(keep, A_YEAR_ON) == {}
    assert events_of(settings, FREE.pseudonym) == before and audit(settings, RETENTION) == []
    assert DataUpkeep(keep).retention_due(A_YEAR_ON) is False


def test_unconsented_conversations_go_after_the_ttl(settings: Settings) -> None:
    stranger = NEVER_CONSENTED.pseudonym
    now = START + timedelta(days=3)
    newcomer = Conversation("p-f6f6f6f6f6f6f6f6", now - timedelta(hours=2)).session_start()
    newcomer.user("hi", "greet", 0.9).bot("Hello! Before we start...")
    orphan = Conversation("p-0707070707070707", START).user("left behind", "inform", 0.5)
    talking = Conversation("p-0808080808080808", now - timedelta(hours=25))
    talking.user("first", "greet", 0.9).wait(25 * 3600 - 400).user("still here", "inform", 0.7)
    write(settings.tracker_store_url, newcomer, orphan, talking)
    with session_scope(settings.database_url) as session:
        session.add(TelegramChat(chat_id=9_100_000_001, pseudonym="p-f6f6f6f6f6f6f6f6",
                                 created_at=now - timedelta(hours=2)))  # fmt: skip
        session.add(SentKeyboard(pseudonym=stranger, message_id=7, payloads=["/affirm"],
                                 sent_at=START))  # fmt: skip
        session.add(PendingMessage(pseudonym=stranger, text="hello?", received_at=START))
        session.add(ConsentRefusal(refused_at=START))
    anonymous = count(settings, SafetyEvent, SafetyEvent.participant_id.is_(None))
    consented_events = events_of(settings, FREE.pseudonym)
    stranger_events = events_of(settings, stranger)

    erased = erase_unconsented(settings, now)

    assert erased == {
        "conversations": 2, "tracker_events": stranger_events + 2, "chat_mappings": 1,
        "sent_keyboards": 1, "pending_messages": 1,
    }  # fmt: skip
    assert events_of(settings, stranger) == 0 and events_of(settings, "p-0707070707070707") == 0
    assert count(settings, TelegramChat, TelegramChat.pseudonym == stranger) == 0
    assert count(settings, SentKeyboard, SentKeyboard.pseudonym == stranger) == 0
    # within the window, or still writing: kept
    assert events_of(settings, "p-f6f6f6f6f6f6f6f6") == 6
    assert events_of(settings, "p-0808080808080808") > 0
    # consented people and anonymous records: untouched
    assert events_of(settings, FREE.pseudonym) == consented_events
    assert count(settings, TelegramChat) == 5
    assert count(settings, SafetyEvent, SafetyEvent.participant_id.is_(None)) == anonymous
    assert count(settings, ConsentRefusal) == 1
    (entry,) = audit(settings, BEFORE_CONSENT)
    assert entry.detail is not None and "conversations=2" in entry.detail
    # Nothing more to do: no new entry.
    assert erase_unconsented(settings, now)["conversations"] == 0
    assert len(audit(settings, BEFORE_CONSENT)) == 1
    later = erase_unconsented(settings, now + timedelta(hours=1))
    assert later["conversations"] == 1  # the one who was still writing, once quiet
    assert events_of(settings, "p-0808080808080808") == 0


def test_upkeep_applies_retention_once_a_day_whatever_the_replicas(settings: Settings) -> None:
    replicas = [DataUpkeep(settings), DataUpkeep(settings)]
    first = [replica.run(A_YEAR_ON) for replica in replicas]
    assert [r["retention_applied"] for r in first] == [1, 0]
    assert first[0]["unconsented_erased"] == 1 and first[1]["unconsented_erased"] == 0
    assert first[0]["research_index_added"] > 0  # kept warm for the researchers' first search
    assert len(audit(settings, RETENTION)) == 1
    hour_later = [replica.run(A_YEAR_ON + timedelta(hours=1)) for replica in replicas]
    assert all(r["retention_applied"] == 0 for r in hour_later)
    # A restarted replica reads the last run from the audit log.
    assert DataUpkeep(settings).run(A_YEAR_ON + timedelta(hours=2))["retention_applied"] == 0
    next_day = replicas[1].run(A_YEAR_ON + timedelta(days=1))
    assert next_day["retention_applied"] == 1 and len(audit(settings, RETENTION)) == 2


class NoChats:
    async def trigger(self, pseudonym: str, intent: str, entities: dict[str, Any]) -> bool:
        return False


async def test_the_scheduler_runs_the_upkeep_beside_its_ticks(settings: Settings) -> None:
    scheduler = Scheduler(
        JobStore(settings.database_url), NoChats(), settings, FakeClock(A_YEAR_ON),
        upkeep=DataUpkeep(settings),
    )  # fmt: skip
    await scheduler.tick()
    assert scheduler.upkeep_task is not None
    done: Counter[str] = await scheduler.upkeep_task
    assert done["retention_applied"] == 1 and done["unconsented_erased"] == 1
    assert len(audit(settings, RETENTION)) == 1


runner = CliRunner()


def test_the_retention_commands(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TRACKER_STORE_URL", settings.tracker_store_url)
    monkeypatch.setenv("RETENTION_DAYS", "30")
    monkeypatch.setenv("UNCONSENTED_TTL_HOURS", "1")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["retention", "apply"])
        assert result.exit_code == 0, result.output
        assert "Removed what was older than 30 days:" in result.output
        assert "4 checkin notes" in result.output
        result = runner.invoke(app, ["retention", "unconsented"])
        assert result.exit_code == 0 and "Erased 1 unconsented conversation(s)" in result.output
        monkeypatch.setenv("RETENTION_DAYS", "0")
        get_settings.cache_clear()
        result = runner.invoke(app, ["retention", "apply"])
        assert result.exit_code == 0 and "everything is kept" in result.output
        monkeypatch.setenv("RETENTION_DAYS", "-1")
        get_settings.cache_clear()
        result = runner.invoke(app, ["retention", "apply"])
        assert result.exit_code == 2 and "RETENTION_DAYS" in result.output
        assert "Traceback" not in result.output
    finally:
        get_settings.cache_clear()
        structlog.reset_defaults()


def test_a_missing_tracker_store_is_nothing_to_remove(tmp_path: Path, database_url: str) -> None:
    settings = Settings(
        database_url=database_url, tracker_store_url=f"sqlite:///{tmp_path / 'none.db'}"
    )
    removed = apply_retention(settings, datetime.now().astimezone())
    assert removed["tracker_events"] == 0
    assert erase_unconsented(settings)["conversations"] == 0
