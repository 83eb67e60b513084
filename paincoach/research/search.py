"""The research index: every patient, coach and safety turn researchers may see, with its
words already withheld or scrubbed, searchable with the database's own full-text search.

It lives in the app database, next to `participants`, so that visibility (consent,
withdrawal, study arm) is a join and never a Python filter. It is a cache: built from the
tracker store on demand, refreshed incrementally from the last event id it read, and rebuilt
for a participant whose free-text consent or time zone changed. PostgreSQL searches a
generated `tsvector` column with a GIN index (plainto_tsquery, ts_headline); SQLite an FTS5
table over the same rows (MATCH, snippet). Withheld texts are indexed as nothing.
"""

from __future__ import annotations

import contextlib
import html
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import structlog
from markupsafe import Markup
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    inspect,
    literal_column,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement

from paincoach.db.engine import get_engine, session_scope
from paincoach.db.models import Participant, UTCDateTime
from paincoach.research.members import (
    CARE_TEAM_WITHHELD,
    FREE_TEXT_WITHHELD,
    NICKNAME,
    WITHHELD,
    Member,
    members,
    with_private_texts,
)
from paincoach.research.tracker import TrackerEvents
from paincoach.research.turns import (
    MARK_END,
    MARK_START,
    TEXT_KINDS,
    Context,
    Turn,
    TurnReader,
)
from paincoach.scheduler.jobs import zone

log = structlog.get_logger("paincoach.research")

# Events younger than this may still be arriving out of id order from another Rasa replica
# (ids are taken before a turn's transaction commits), so they wait for the next refresh.
SETTLE_SECONDS = 60.0
_INSERT_BATCH = 1000
_ADVISORY_LOCK = 0x7265736561726368  # "research", one refresh at a time across processes
_SQLITE_REFRESH = threading.Lock()

_metadata = MetaData()
turns_table = Table(
    "research_turns",
    _metadata,
    # The tracker store's event id (INTEGER PRIMARY KEY on SQLite: the FTS5 rowid).
    Column(
        "event_id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("pseudonym", String(64), nullable=False, index=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("local_date", Date, nullable=False),
    Column("kind", String(10), nullable=False),
    Column("intent", String(120)),
    Column("confidence", Float),
    Column("module_id", String(64)),
    Column("text", Text, nullable=False),
    # What is searched: the text without its placeholders; empty when the text is withheld.
    Column("search_text", Text, nullable=False),
    Column("withheld", Boolean, nullable=False),
    Column("extra", JSON, nullable=False),  # entities, buttons and detail of the turn
)
state_table = Table(
    "research_index_state",
    _metadata,
    Column("pseudonym", String(64), primary_key=True),
    Column("last_event_id", BigInteger, nullable=False),
    Column("fingerprint", String(100), nullable=False),
    Column("context", JSON, nullable=False),
)

_SQLITE_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS research_turns_fts USING fts5(search_text, "
    "content='research_turns', content_rowid='event_id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS research_turns_fts_insert AFTER INSERT ON research_turns "
    "BEGIN INSERT INTO research_turns_fts(rowid, search_text) "
    "VALUES (new.event_id, new.search_text); END",
    "CREATE TRIGGER IF NOT EXISTS research_turns_fts_delete AFTER DELETE ON research_turns "
    "BEGIN INSERT INTO research_turns_fts(research_turns_fts, rowid, search_text) "
    "VALUES ('delete', old.event_id, old.search_text); END",
)
_POSTGRES_DDL = (
    "ALTER TABLE research_turns ADD COLUMN IF NOT EXISTS search_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english', search_text)) STORED",
    "CREATE INDEX IF NOT EXISTS ix_research_turns_search ON research_turns "
    "USING GIN (search_vector)",
)
_ready: set[str] = set()
PLACEHOLDERS = re.compile(
    "|".join(re.escape(p) for p in (FREE_TEXT_WITHHELD, CARE_TEAM_WITHHELD, NICKNAME, WITHHELD))
)


@dataclass(frozen=True)
class Hit:
    """A turn found by a search or a filter, with its participant and a snippet: safe HTML
    in which the matched words are wrapped in <mark>."""

    pseudonym: str
    turn: Turn
    snippet: Markup


@dataclass(frozen=True)
class TurnFilter:
    """Which turns to list or search; every field narrows the result."""

    pseudonym: str | None = None
    arm: str | None = None
    since: date | datetime | None = None  # a date: the participant's own calendar day
    until: date | datetime | None = None  # inclusive for a date, exclusive for a datetime
    module: str | None = None
    intent: str | None = None
    max_confidence: float | None = None
    kind: str | None = None


def highlight(snippet: str) -> Markup:
    """Escape a snippet, then turn the search's markers into <mark> elements."""
    escaped = html.escape(snippet, quote=True)
    return Markup(escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


def searchable(text: str) -> str:
    """A text as the search reads it: placeholders are gaps, never words to find."""
    return PLACEHOLDERS.sub("[…]", text)


def search_words(query: str) -> list[str]:
    """The words of a query, as plainto_tsquery reads them: every word must match."""
    return re.findall(r"\w+", query)


class ResearchIndex:
    """The index in the app database, kept in step with the tracker store."""

    def __init__(self, database_url: str, tracker_store_url: str) -> None:
        self.database_url = database_url
        self.tracker = TrackerEvents(tracker_store_url)

    @property
    def engine(self) -> Engine:
        return get_engine(self.database_url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def ensure(self) -> None:
        """Create the index tables once per process (they are a cache, rebuilt at will)."""
        if self.database_url in _ready:
            return
        _metadata.create_all(self.engine, checkfirst=True)
        with self.engine.begin() as connection:
            for statement in _SQLITE_DDL if self.dialect == "sqlite" else _POSTGRES_DDL:
                connection.execute(text(statement))
        _ready.add(self.database_url)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[Connection | None]:
        """A connection that alone refreshes the index (an advisory lock on PostgreSQL, a
        process lock on SQLite, whose writers take turns anyway), or None while another
        refresh runs: the index is then read as it is rather than waited for."""
        if self.dialect != "postgresql":
            if not _SQLITE_REFRESH.acquire(blocking=False):
                yield None
                return
            try:
                with self.engine.connect() as connection:
                    yield connection
            finally:
                _SQLITE_REFRESH.release()
            return
        with self.engine.connect() as connection:
            mine = connection.scalar(select(func.pg_try_advisory_lock(_ADVISORY_LOCK)))
            connection.commit()
            if not mine:
                yield None
                return
            try:
                yield connection
            finally:
                connection.rollback()
                connection.execute(select(func.pg_advisory_unlock(_ADVISORY_LOCK)))
                connection.commit()

    # Keeping it in step ----------------------------------------------------------------

    def refresh(self, now: datetime | None = None, settle_seconds: float = SETTLE_SECONDS) -> int:
        """Read the events the index has not seen yet; returns how many turns it added."""
        self.ensure()
        settled = (now or datetime.now(UTC)) - timedelta(seconds=settle_seconds)
        try:
            with self._exclusive() as connection:
                return 0 if connection is None else self._refresh(connection, settled)
        except IntegrityError:  # another process indexed the same events a moment ago
            log.info("research index refreshed elsewhere")
            return 0

    def _refresh(self, connection: Connection, settled: datetime) -> int:
        with session_scope(self.database_url) as session:
            visible = {m.pseudonym: m for m in members(session)}
        with connection.begin():
            states = {row.pseudonym: row for row in connection.execute(select(state_table))}
        watermark = min((s.last_event_id for s in states.values()), default=0)
        # The newest settled event, looked for only past what was read already.
        horizon = self.tracker.last_id(settled, after_id=watermark)
        if states and self.tracker.last_id() < watermark:
            gone = list(states)  # the tracker store was emptied or replaced: start again
            horizon = self.tracker.last_id(settled)
        else:
            gone = [
                p for p, s in states.items()
                if p not in visible or s.fingerprint != visible[p].fingerprint
            ]  # fmt: skip
        self._forget(connection, gone)
        for pseudonym in gone:
            states.pop(pseudonym)
        added = 0
        for pseudonym in sorted(set(visible) - set(states)):
            reader = self._reader(visible[pseudonym], Context())
            added += self._index(
                connection,
                {pseudonym: reader},
                self.tracker.conversation(pseudonym, upto_id=horizon, turns_only=True),
                horizon,
            )
        if states:
            after = min(s.last_event_id for s in states.values())
            if horizon > after:
                readers = _LazyReaders(self, visible, states)
                events = (
                    event
                    for event in self.tracker.after(after, horizon)
                    if event.sender_id in states
                    and event.id > states[event.sender_id].last_event_id
                )
                added += self._index(connection, readers, events, horizon)
        return added

    def _reader(self, member: Member, context: Context) -> TurnReader:
        with session_scope(self.database_url) as session:
            return TurnReader(with_private_texts(session, member), context)

    def _index(self, connection: Connection, readers: Any, events: Any, horizon: int) -> int:
        """Add the turns of `events` and move the readers' states to `horizon`, at once."""
        rows: list[dict[str, Any]] = []
        added = 0
        with connection.begin():
            for event in events:
                reader = readers[event.sender_id]
                turn = reader.read(event)
                if turn is None or turn.kind not in TEXT_KINDS:
                    continue
                rows.append(_row(event.sender_id, turn))
                if len(rows) >= _INSERT_BATCH:
                    connection.execute(turns_table.insert(), rows)
                    added += len(rows)
                    rows = []
            if rows:
                connection.execute(turns_table.insert(), rows)
                added += len(rows)
            for pseudonym, reader in readers.items():
                connection.execute(delete(state_table).where(state_table.c.pseudonym == pseudonym))
                connection.execute(
                    state_table.insert().values(
                        pseudonym=pseudonym,
                        last_event_id=horizon,
                        fingerprint=reader.member.fingerprint,
                        context=reader.context.as_dict(),
                    )
                )
            if isinstance(readers, _LazyReaders):  # the others had nothing new
                connection.execute(
                    state_table.update()
                    .where(state_table.c.last_event_id < horizon)
                    .values(last_event_id=horizon)
                )
        return added

    def _forget(self, connection: Connection, pseudonyms: list[str]) -> int:
        removed = 0
        with connection.begin():
            for start in range(0, len(pseudonyms), 500):
                chunk = pseudonyms[start : start + 500]
                removed += connection.execute(
                    delete(turns_table).where(turns_table.c.pseudonym.in_(chunk))
                ).rowcount
                connection.execute(delete(state_table).where(state_table.c.pseudonym.in_(chunk)))
        return removed

    def exists(self) -> bool:
        return inspect(self.engine).has_table(turns_table.name)

    def forget(self, pseudonym: str) -> int:
        """Drop one participant from the index (withdrawal, erasure); returns turns removed."""
        if not self.exists():
            return 0
        with self.engine.connect() as connection:
            return self._forget(connection, [pseudonym])

    def prune(self) -> int:
        """Drop everyone researchers may no longer see (erased, withdrawn); turns removed."""
        if not self.exists():
            return 0
        with session_scope(self.database_url) as session:
            visible = set(
                session.scalars(
                    select(Participant.pseudonym).where(
                        Participant.research_consent.is_(True),
                        Participant.research_withdrawn_at.is_(None),
                    )
                )
            )
        with self.engine.connect() as connection:
            with connection.begin():
                indexed = set(connection.scalars(select(state_table.c.pseudonym)))
                indexed |= set(connection.scalars(select(turns_table.c.pseudonym).distinct()))
            return self._forget(connection, sorted(indexed - visible))

    def forget_before(self, cutoff: datetime) -> int:
        """Drop turns older than `cutoff` (retention); returns how many."""
        if not self.exists():
            return 0
        with self.engine.begin() as connection:
            return int(
                connection.execute(delete(turns_table).where(turns_table.c.at < cutoff)).rowcount
            )

    # Reading ----------------------------------------------------------------------------

    def _conditions(self, where: TurnFilter) -> list[ColumnElement[bool]]:
        t = turns_table.c
        conditions: list[ColumnElement[bool]] = [
            Participant.research_consent.is_(True),
            Participant.research_withdrawn_at.is_(None),
        ]
        if where.pseudonym is not None:
            conditions.append(t.pseudonym == where.pseudonym)
        if where.arm is not None:
            conditions.append(Participant.study_arm == where.arm)
        for bound, is_lower in ((where.since, True), (where.until, False)):
            if isinstance(bound, datetime):
                conditions.append(t.at >= bound if is_lower else t.at < bound)
            elif isinstance(bound, date):
                conditions.append(t.local_date >= bound if is_lower else t.local_date <= bound)
        if where.module is not None:
            conditions.append(t.module_id == where.module)
        if where.intent is not None:
            conditions.append(t.intent == where.intent)
        if where.max_confidence is not None:
            conditions.append(t.confidence <= where.max_confidence)
        if where.kind is not None:
            conditions.append(t.kind == where.kind)
        return conditions

    def _select(self, where: TurnFilter, *extra: Any) -> Any:
        return (
            select(turns_table, Participant.timezone, *extra)
            .join(Participant, Participant.pseudonym == turns_table.c.pseudonym)
            .where(*self._conditions(where))
            .order_by(turns_table.c.at, turns_table.c.event_id)
        )

    def turns(self, where: TurnFilter, limit: int = 200) -> list[Hit]:
        """Turns matching the filter, in time order; the snippet is the whole text."""
        self.ensure()
        with self.engine.connect() as connection:
            rows = connection.execute(self._select(where).limit(limit)).all()
        return [_hit(row, highlight(row.text)) for row in rows]

    def search(self, query: str, where: TurnFilter, limit: int = 200) -> list[Hit]:
        """Turns whose words match every word of `query` (stemmed), in time order."""
        self.ensure()
        words = search_words(query)
        if not words:
            return []
        if self.dialect == "postgresql":
            tsquery = func.plainto_tsquery("english", " ".join(words))
            headline = func.ts_headline(
                "english", turns_table.c.search_text, tsquery,
                f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=30, MinWords=12, "
                "MaxFragments=2, FragmentDelimiter=\" … \"",
            )  # fmt: skip
            statement = (
                self._select(where, headline.label("snippet"))
                .where(literal_column("research_turns.search_vector").op("@@")(tsquery))
                .limit(limit)
            )
        else:
            fts = Table("research_turns_fts", MetaData(), Column("rowid", Integer))
            match = " ".join('"' + w.replace('"', '""') + '"' for w in words)
            snippet = func.snippet(
                literal_column("research_turns_fts"), 0, MARK_START, MARK_END, " … ", 24
            )
            statement = (
                self._select(where, snippet.label("snippet"))
                .join(fts, fts.c.rowid == turns_table.c.event_id)
                .where(literal_column("research_turns_fts").op("MATCH")(match))
                .limit(limit)
            )
        with self.engine.connect() as connection:
            rows = connection.execute(statement).all()
        return [_hit(row, highlight(row.snippet or row.search_text)) for row in rows]


class _LazyReaders(dict[str, TurnReader]):
    """Readers for indexed participants, made (with their private texts) when first needed."""

    def __init__(self, index: ResearchIndex, visible: dict[str, Member], states: Any) -> None:
        super().__init__()
        self.index, self.visible, self.states = index, visible, states

    def __missing__(self, pseudonym: str) -> TurnReader:
        state = self.states[pseudonym]
        reader = self.index._reader(self.visible[pseudonym], Context(**dict(state.context)))
        self[pseudonym] = reader
        return reader


def _row(pseudonym: str, turn: Turn) -> dict[str, Any]:
    return {
        "event_id": turn.event_id,
        "pseudonym": pseudonym,
        "at": turn.at,
        "local_date": turn.local.date(),
        "kind": turn.kind,
        "intent": (turn.intent or None) and turn.intent[:120],
        "confidence": turn.confidence,
        "module_id": turn.module_id,
        "text": turn.text or "",
        "search_text": "" if turn.withheld else searchable(turn.text or ""),
        "withheld": turn.withheld,
        "extra": {"entities": turn.entities, "buttons": turn.buttons, "detail": turn.detail},
    }


def _hit(row: Any, snippet: Markup) -> Hit:
    extra = row.extra or {}
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
    turn = Turn(
        event_id=row.event_id,
        at=at,
        local=at.astimezone(zone(row.timezone or "UTC")),
        kind=row.kind,
        text=row.text,
        intent=row.intent,
        confidence=row.confidence,
        entities=list(extra.get("entities") or []),
        buttons=list(extra.get("buttons") or []),
        detail=dict(extra.get("detail") or {}),
        withheld=bool(row.withheld),
        module_id=row.module_id,
    )
    return Hit(pseudonym=row.pseudonym, turn=turn, snippet=snippet)
