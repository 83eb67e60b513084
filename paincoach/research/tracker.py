"""Rasa's SQL tracker store, read (and pruned) in batches: the `events` table, nothing else.

Rasa owns that database; we only read its rows and delete whole events. Each row is one
event of one conversation (`sender_id` is the participant pseudonym), its JSON in `data`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    case,
    delete,
    func,
    inspect,
    select,
)
from sqlalchemy.sql import ColumnElement

from paincoach.db.engine import get_engine

BATCH = 2000

# The table as Rasa 3.6's SQLTrackerStore creates it (rasa/core/tracker_store.py).
_metadata = MetaData()
events = Table(
    "events",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False, index=True),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)

# Rasa marks events it did not get from the patient (trigger_intent) in their metadata.
_EXTERNAL = events.c.data.like('%"is_external": true%')
# Events that can make a turn: not listening, not the featurization note.
_TURNS = and_(
    events.c.type_name != "user_featurization",
    ~and_(events.c.type_name == "action", events.c.action_name == "action_listen"),
)


class TrackerEvent(NamedTuple):
    """One row of the events table, its JSON parsed (a tuple: millions are read)."""

    id: int
    sender_id: str
    type_name: str
    timestamp: float
    intent_name: str | None
    action_name: str | None
    data: dict[str, Any]

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp, UTC)


@dataclass(frozen=True)
class Activity:
    """What one conversation holds: messages in and out and their first and last times."""

    messages_in: int = 0
    messages_out: int = 0
    first: datetime | None = None
    last: datetime | None = None


def _parse(row: Any) -> TrackerEvent:
    id_, sender, type_name, timestamp, intent_name, action_name, raw = row
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:  # a damaged row is shown as an event without content
        data = {}
    if not isinstance(data, dict):
        data = {}
    if timestamp is None:
        timestamp = data.get("timestamp") or 0.0
    return TrackerEvent(id_, sender, type_name, float(timestamp), intent_name, action_name, data)


def epoch(moment: datetime) -> float:
    return moment.timestamp()


class TrackerEvents:
    """The events of Rasa's tracker store; every read streams in batches."""

    def __init__(self, url: str) -> None:
        self.url = url

    @property
    def engine(self) -> Engine:
        return get_engine(self.url)

    def exists(self) -> bool:
        """False before Rasa has written anything (the table is created on its first start)."""
        return "events" in inspect(self.engine).get_table_names()

    def _stream(self, statement: Any) -> Iterator[TrackerEvent]:
        if not self.exists():
            return
        with self.engine.connect() as connection:
            result = connection.execution_options(stream_results=True, yield_per=BATCH).execute(
                statement
            )
            for row in result:
                yield _parse(row)

    def conversation(
        self,
        sender: str,
        *,
        after_id: int = 0,
        upto_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        turns_only: bool = False,
    ) -> Iterator[TrackerEvent]:
        """One conversation's events in order, optionally a slice of ids or of time;
        `turns_only` leaves out Rasa's bookkeeping (listening, featurization), which makes
        no turn."""
        conditions: list[ColumnElement[bool]] = [events.c.sender_id == sender]
        if turns_only:
            conditions.append(_TURNS)
        if after_id:
            conditions.append(events.c.id > after_id)
        if upto_id is not None:
            conditions.append(events.c.id <= upto_id)
        if since is not None:
            conditions.append(events.c.timestamp >= epoch(since))
        if until is not None:
            conditions.append(events.c.timestamp < epoch(until))
        return self._stream(select(events).where(*conditions).order_by(events.c.id))

    def context_before(self, sender: str, before: datetime) -> Iterator[TrackerEvent]:
        """Only the events that set the conversation's context (forms, asked slots, modules,
        restarts) before `before`: enough to read what follows correctly, without the rest."""
        context = (
            events.c.type_name.in_(("active_loop", "restart", "reset_slots"))
            | and_(
                events.c.type_name == "slot",
                events.c.action_name.in_(("requested_slot", "module_id", "module_step")),
            )
            | (events.c.type_name == "session_started")
        )
        return self._stream(
            select(events)
            .where(events.c.sender_id == sender, events.c.timestamp < epoch(before), context)
            .order_by(events.c.id)
        )

    def after(self, after_id: int, upto_id: int) -> Iterator[TrackerEvent]:
        """Every conversation's events in (after_id, upto_id], in id order."""
        return self._stream(
            select(events)
            .where(events.c.id > after_id, events.c.id <= upto_id, _TURNS)
            .order_by(events.c.id)
        )

    def last_id(self, settled_before: datetime | None = None, after_id: int = 0) -> int:
        """The highest event id (of events older than `settled_before`, when given, looking
        only past `after_id`: a short range of the primary key); `after_id` if none."""
        if not self.exists():
            return 0
        statement = select(func.max(events.c.id))
        if settled_before is not None:
            statement = statement.where(events.c.timestamp < epoch(settled_before))
        if after_id:
            statement = statement.where(events.c.id > after_id)
        with self.engine.connect() as connection:
            return int(connection.scalar(statement) or after_id)

    def activity(self, senders: Iterable[str]) -> dict[str, Activity]:
        """Messages in (typed by the patient) and out (the coach's), per conversation."""
        found: dict[str, Activity] = {}
        if not self.exists():
            return found
        wanted = list(senders)
        typed = and_(events.c.type_name == "user", ~_EXTERNAL)
        with self.engine.connect() as connection:
            for start in range(0, len(wanted), 500):
                rows = connection.execute(
                    select(
                        events.c.sender_id,
                        func.sum(case((typed, 1), else_=0)),
                        func.sum(case((events.c.type_name == "bot", 1), else_=0)),
                        func.min(events.c.timestamp),
                        func.max(events.c.timestamp),
                    )
                    .where(
                        events.c.sender_id.in_(wanted[start : start + 500]),
                        events.c.type_name.in_(("user", "bot")),
                    )
                    .group_by(events.c.sender_id)
                )
                for sender, messages_in, messages_out, first, last in rows:
                    found[sender] = Activity(
                        int(messages_in or 0),
                        int(messages_out or 0),
                        datetime.fromtimestamp(first, UTC) if first is not None else None,
                        datetime.fromtimestamp(last, UTC) if last is not None else None,
                    )
        return found

    def messages(self, sender: str) -> Iterator[tuple[str, float]]:
        """("in", time) for each message the patient typed or sent with a button and
        ("out", time) for each of the coach's, in order."""
        if not self.exists():
            return
        query = (
            select(events.c.type_name, events.c.timestamp)
            .where(
                events.c.sender_id == sender,
                (events.c.type_name == "bot") | and_(events.c.type_name == "user", ~_EXTERNAL),
            )
            .order_by(events.c.id)
        )
        with self.engine.connect() as connection:
            result = connection.execution_options(stream_results=True, yield_per=BATCH).execute(
                query
            )
            for type_name, timestamp in result:
                yield ("in" if type_name == "user" else "out"), float(timestamp or 0.0)

    def started_before(self, before: datetime) -> dict[str, tuple[datetime, datetime]]:
        """Every conversation whose first event is older than `before`, with the times of
        its first and last events."""
        if not self.exists():
            return {}
        first, last = func.min(events.c.timestamp), func.max(events.c.timestamp)
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(events.c.sender_id, first, last)
                .group_by(events.c.sender_id)
                .having(first < epoch(before))
            )
            return {
                sender: (datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC))
                for sender, a, b in rows
            }

    def erase_conversation(self, sender: str) -> int:
        """Delete every event of one conversation; returns how many."""
        if not self.exists():
            return 0
        with self.engine.begin() as connection:
            return int(
                connection.execute(delete(events).where(events.c.sender_id == sender)).rowcount
            )

    def erase_older_than(self, cutoff: datetime) -> int:
        """Delete events older than `cutoff`; returns how many. A conversation still going
        on (its last event is newer than `cutoff`) keeps its current session, everything
        from its latest `session_started`, because that is what Rasa reads to carry on."""
        if not self.exists():
            return 0
        before = epoch(cutoff)
        session_start = func.max(
            case((events.c.type_name == "session_started", events.c.id), else_=None)
        )
        conversations = (
            select(events.c.sender_id, session_start, func.max(events.c.timestamp))
            .group_by(events.c.sender_id)
            .having(func.min(events.c.timestamp) < before)
        )
        with self.engine.connect() as connection:
            found = connection.execute(conversations).all()
        erased = 0
        for sender, current_session, last in found:
            old = and_(events.c.sender_id == sender, events.c.timestamp < before)
            if last >= before:
                if current_session is None:
                    continue  # no session boundary known: all of it may still be read
                old = and_(old, events.c.id < current_session)
            with self.engine.begin() as connection:
                erased += int(connection.execute(delete(events).where(old)).rowcount)
        return erased


def create_events_table(url: str) -> None:
    """Create the events table as Rasa does, for tests and benchmarks that write events."""
    _metadata.create_all(get_engine(url), checkfirst=True)
