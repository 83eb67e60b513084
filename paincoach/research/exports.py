"""Data exports for analysis (R, Stata, pandas): CSV, JSON Lines and Parquet, streamed.

Rows are produced in batches from server-side cursors (the app database) and per
conversation (the tracker store), and written as they come: the csv module, one JSON object
per line, or pyarrow's ParquetWriter one row group per batch. Memory stays bounded by the
batch size, whatever the size of the study. Only participants with research consent who
have not withdrawn are exported, with the same withholding rules as the transcripts.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from paincoach.db.engine import session_scope
from paincoach.db.models import (
    AuditEntry,
    CheckIn,
    CopingSession,
    Goal,
    GoalReview,
    ModuleAnswer,
    ModuleProgress,
    Participant,
    SafetyEvent,
)
from paincoach.research.dictionary import EXPORTS, Export, as_json, as_markdown
from paincoach.research.members import (
    FREE_TEXT_WITHHELD,
    Member,
    in_research,
    members,
    with_private_texts,
)
from paincoach.research.tracker import TrackerEvents
from paincoach.research.turns import TurnReader
from paincoach.settings import Settings

FORMATS = ("csv", "jsonl", "parquet")
BATCH = 5000
Row = dict[str, Any]


class ExportError(ValueError):
    """An export that cannot be made as asked; the message says why in one line."""


@dataclass(frozen=True)
class Window:
    """Which rows to export: days on each participant's own calendar (both ends included)
    and one study arm, all optional."""

    since: date | None = None
    until: date | None = None
    arm: str | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise ExportError(f"--since {self.since} is after --until {self.until}.")

    def contains(self, day: date) -> bool:
        return (self.since is None or day >= self.since) and (
            self.until is None or day <= self.until
        )

    @property
    def utc_start(self) -> datetime | None:
        """A UTC bound a day wide of `since`: every time zone's day starts after it."""
        if self.since is None:
            return None
        return datetime.combine(self.since, datetime.min.time(), UTC) - timedelta(days=1)

    @property
    def utc_end(self) -> datetime | None:
        if self.until is None:
            return None
        return datetime.combine(self.until, datetime.min.time(), UTC) + timedelta(days=2)

    def around(self, column: Any) -> list[Any]:
        """SQL conditions that keep `column` near the window (the exact test is per row)."""
        conditions = []
        if self.utc_start is not None:
            conditions.append(column >= self.utc_start)
        if self.utc_end is not None:
            conditions.append(column < self.utc_end)
        return conditions


# Reading ---------------------------------------------------------------------------------


def _stream(session: Session, query: Any) -> Iterator[Any]:
    """Rows of a query through a server-side cursor, a batch at a time."""
    yield from session.execute(query.execution_options(yield_per=BATCH, stream_results=True))


def _visible(query: Any, model: Any, window: Window) -> Any:
    query = query.join(Participant, Participant.id == model.participant_id).where(in_research())
    if window.arm is not None:
        query = query.where(Participant.study_arm == window.arm)
    return query


def _members(session: Session, window: Window) -> dict[int, Member]:
    return {m.id: m for m in members(session, window.arm)}


def _who(member: Member) -> Row:
    return {"pseudonym": member.pseudonym, "study_arm": member.study_arm}


@lru_cache(maxsize=256)
def _scrubber(member: Member) -> TurnReader:
    return TurnReader(member)


def _free_text(member: Member, text: str | None) -> str | None:
    """A free text as research may see it: withheld without consent, nickname scrubbed."""
    if text is None:
        return None
    if not member.free_text:
        return FREE_TEXT_WITHHELD
    return _scrubber(member).scrub(text)


def _day_fields(member: Member, moment: datetime) -> Row:
    day = member.local_day(moment)
    return {"local_date": day, "day_number": member.day_number(day)}


def _json(value: Any) -> str:
    if not value:  # most turns have no entities, buttons or detail
        return "{}" if isinstance(value, dict) else "[]"
    return json.dumps(value, ensure_ascii=False, default=str)


def transcripts(settings: Settings, window: Window) -> Iterator[Row]:
    """Every turn of every visible conversation, conversation by conversation."""
    tracker = TrackerEvents(settings.tracker_store_url)
    with session_scope(settings.database_url) as session:
        found = list(_members(session, window).values())
    for bare in found:
        with session_scope(settings.database_url) as session:
            member = with_private_texts(session, bare)
        reader = TurnReader(member)
        start, end = window.utc_start, window.utc_end
        if start is not None:
            for event in tracker.context_before(member.pseudonym, start):
                reader.follow(event)
        who = _who(member)
        events = tracker.conversation(member.pseudonym, since=start, until=end, turns_only=True)
        for turn in reader.read_all(events):
            day = turn.local.date()
            if not window.contains(day):
                continue
            yield {
                **who,
                "event_id": turn.event_id,
                "at_utc": turn.at,
                "local_time": turn.local.isoformat(),
                "local_date": day,
                "day_number": member.day_number(day),
                "kind": turn.kind,
                "text": turn.text,
                "withheld": turn.withheld,
                "intent": turn.intent,
                "confidence": turn.confidence,
                "entities": _json(turn.entities),
                "buttons": _json(turn.buttons),
                "module_id": turn.module_id,
                "detail": _json(turn.detail),
            }


CHECKIN_ITEMS = ("pain_average", "pain_enjoyment", "pain_activity", "mood", "sleep_quality")


def _best_checkin(day: list[Any]) -> Any:
    """Of one day's check-ins: completed first, then the most answered, then the latest."""
    return max(
        day,
        key=lambda c: (
            c.completed_at is not None,
            sum(getattr(c, item) is not None for item in CHECKIN_ITEMS),
            c.started_at,
            c.id,
        ),
    )


def checkins(settings: Settings, window: Window) -> Iterator[Row]:
    """One row per participant per local day with a check-in (long format)."""
    with session_scope(settings.database_url) as session:
        found = _members(session, window)
        query = _visible(select(CheckIn.__table__), CheckIn, window)
        query = query.where(*window.around(CheckIn.started_at)).order_by(
            CheckIn.participant_id, CheckIn.started_at, CheckIn.id
        )
        day: list[Any] = []  # the check-ins of one participant on one local day
        key: tuple[int, date] = (0, date.min)
        for row in _stream(session, query):
            this = (row.participant_id, found[row.participant_id].local_day(row.started_at))
            if this != key:
                if day:
                    yield _checkin_row(found[key[0]], day)
                day, key = [], this
            if window.contains(this[1]):
                day.append(row)
        if day:
            yield _checkin_row(found[key[0]], day)


def _checkin_row(member: Member, day: list[Any]) -> Row:
    best = _best_checkin(day)
    items = {item: getattr(best, item) for item in CHECKIN_ITEMS}
    peg = (items["pain_average"], items["pain_enjoyment"], items["pain_activity"])
    return {
        **_who(member),
        **_day_fields(member, best.started_at),
        "checkin_id": best.id,
        "started_at_utc": best.started_at,
        "completed_at_utc": best.completed_at,
        "status": "completed" if best.completed_at is not None else "partial",
        **items,
        "peg_score": None if None in peg else sum(peg) / 3,  # type: ignore[arg-type]
        "items_answered": sum(v is not None for v in items.values()),
        "note": _free_text(member, best.note),
        "checkins_that_day": len(day),
    }


def coping(settings: Settings, window: Window) -> Iterator[Row]:
    with session_scope(settings.database_url) as session:
        found = _members(session, window)
        query = _visible(select(CopingSession.__table__), CopingSession, window)
        query = query.where(*window.around(CopingSession.started_at)).order_by(
            CopingSession.participant_id, CopingSession.started_at, CopingSession.id
        )
        for row in _stream(session, query):
            member = found[row.participant_id]
            days = _day_fields(member, row.started_at)
            if not window.contains(days["local_date"]):
                continue
            before, after = row.tension_before, row.tension_after
            yield {
                **_who(member),
                **days,
                "session_id": row.id,
                "exercise": row.exercise,
                "started_at_utc": row.started_at,
                "completed_at_utc": row.completed_at,
                "completed": row.completed_at is not None,
                "steps_completed": row.steps_completed,
                "tension_before": before,
                "tension_after": after,
                "tension_change": None if before is None or after is None else after - before,
            }


def modules(settings: Settings, window: Window) -> Iterator[Row]:
    with session_scope(settings.database_url) as session:
        found = _members(session, window)
        answers = {
            (pid, module): count
            for pid, module, count in session.execute(
                _visible(
                    select(ModuleAnswer.participant_id, ModuleAnswer.module_id, func.count()),
                    ModuleAnswer,
                    window,
                ).group_by(ModuleAnswer.participant_id, ModuleAnswer.module_id)
            )
        }
        query = _visible(select(ModuleProgress.__table__), ModuleProgress, window)
        query = query.where(*window.around(ModuleProgress.assigned_at)).order_by(
            ModuleProgress.participant_id, ModuleProgress.assigned_at, ModuleProgress.id
        )
        for row in _stream(session, query):
            member = found[row.participant_id]
            day = member.local_day(row.assigned_at)
            if not window.contains(day):
                continue
            took = None
            if row.completed_at is not None and row.started_at is not None:
                took = (row.completed_at - row.started_at).total_seconds() / 86400
            yield {
                **_who(member),
                "module_id": row.module_id,
                "status": row.status,
                "step_index": row.step_index,
                "assigned_at_utc": row.assigned_at,
                "started_at_utc": row.started_at,
                "completed_at_utc": row.completed_at,
                "updated_at_utc": row.updated_at,
                "assigned_day_number": member.day_number(day),
                "days_to_complete": took,
                "answers": answers.get((row.participant_id, row.module_id), 0),
            }


def module_answers(settings: Settings, window: Window) -> Iterator[Row]:
    with session_scope(settings.database_url) as session:
        found = _members(session, window)
        query = _visible(select(ModuleAnswer.__table__), ModuleAnswer, window)
        query = query.where(*window.around(ModuleAnswer.answered_at)).order_by(
            ModuleAnswer.participant_id, ModuleAnswer.answered_at, ModuleAnswer.id
        )
        for row in _stream(session, query):
            member = found[row.participant_id]
            days = _day_fields(member, row.answered_at)
            if not window.contains(days["local_date"]):
                continue
            scale = None
            if row.kind == "scale" and row.answer.strip().isdigit():
                scale = int(row.answer.strip())
            yield {
                **_who(member),
                **days,
                "module_id": row.module_id,
                "step_id": row.step_id,
                "step_kind": row.kind,
                "answered_at_utc": row.answered_at,
                "answer": _free_text(member, row.answer) if row.kind == "question" else row.answer,
                "scale_value": scale,
            }


def goals(settings: Settings, window: Window) -> Iterator[Row]:
    with session_scope(settings.database_url) as session:
        found = _members(session, window)
        query = (
            _visible(
                select(
                    Goal.participant_id, Goal.id, Goal.activity, Goal.times_per_week,
                    Goal.created_at, Goal.active, GoalReview.id.label("review_id"),
                    GoalReview.reviewed_at, GoalReview.times_done,
                ),
                Goal,
                window,
            )
            .outerjoin(GoalReview, GoalReview.goal_id == Goal.id)
            .order_by(Goal.participant_id, Goal.created_at, Goal.id, GoalReview.reviewed_at)
        )  # fmt: skip
        for row in _stream(session, query):
            member = found[row.participant_id]
            reviewed = row.reviewed_at
            if not window.contains(member.local_day(reviewed or row.created_at)):
                continue
            yield {
                **_who(member),
                "goal_id": row.id,
                "activity": _free_text(member, row.activity),
                "times_per_week": row.times_per_week,
                "created_at_utc": row.created_at,
                "created_day_number": member.day_number(member.local_day(row.created_at)),
                "active": row.active,
                "review_id": row.review_id,
                "reviewed_at_utc": reviewed,
                "review_day_number": (
                    member.day_number(member.local_day(reviewed)) if reviewed else None
                ),
                "times_done": row.times_done,
            }


def safety(settings: Settings, window: Window) -> Iterator[Row]:
    with session_scope(settings.database_url) as session:
        found = _members(session, window)
        query = _visible(select(SafetyEvent.__table__), SafetyEvent, window)
        query = query.where(*window.around(SafetyEvent.created_at)).order_by(
            SafetyEvent.participant_id, SafetyEvent.created_at, SafetyEvent.id
        )
        for row in _stream(session, query):
            member = found[row.participant_id]
            days = _day_fields(member, row.created_at)
            if not window.contains(days["local_date"]):
                continue
            yield {
                **_who(member),
                **days,
                "safety_event_id": row.id,
                "created_at_utc": row.created_at,
                "kind": row.kind,
                "tier": row.tier,
                "detected_by": row.detected_by,
                "reason": row.reason,
                "check_answer": row.check_answer,
                "safe_now": row.safe_now,
                "acknowledged": row.acknowledged_at is not None,
            }


@dataclass
class _Tally:
    """What one participant did in the window, counted while streaming."""

    active_days: set[date] = field(default_factory=set)
    checkin_days: set[date] = field(default_factory=set)
    counts: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))


def engagement(settings: Settings, window: Window) -> Iterator[Row]:
    """One row per participant: activity, adherence and use of each part of the coach."""
    tracker = TrackerEvents(settings.tracker_store_url)
    with session_scope(settings.database_url) as session:
        found = _members(session, window)
        tallies: dict[int, _Tally] = {pid: _Tally() for pid in found}

        def count(model: Any, column: Any, what: Callable[[Any], list[str]]) -> None:
            query = _visible(select(model.__table__), model, window)
            for row in _stream(session, query.where(*window.around(column))):
                day = found[row.participant_id].local_day(getattr(row, column.key))
                if not window.contains(day):
                    continue
                tally = tallies[row.participant_id]
                for name in what(row):
                    tally.counts[name] += 1
                if model is CheckIn:
                    tally.checkin_days.add(day)
                    tally.active_days.add(day)

        count(
            CheckIn, CheckIn.started_at,
            lambda c: ["checkins_completed" if c.completed_at else "checkins_partial"],
        )  # fmt: skip
        count(CopingSession, CopingSession.started_at, lambda _: ["coping_sessions"])
        count(
            ModuleProgress, ModuleProgress.assigned_at,
            lambda m: ["modules_assigned"] + (["modules_completed"] * (m.status == "completed")),
        )  # fmt: skip
        count(Goal, Goal.created_at, lambda _: ["goals_set"])
        count(SafetyEvent, SafetyEvent.created_at, lambda _: ["safety_events"])
        reviews = _visible(
            select(Goal.participant_id, GoalReview.reviewed_at).join(
                GoalReview, GoalReview.goal_id == Goal.id
            ),
            Goal,
            window,
        ).where(*window.around(GoalReview.reviewed_at))
        for pid, moment in _stream(session, reviews):
            if window.contains(found[pid].local_day(moment)):
                tallies[pid].counts["goal_reviews"] += 1
    for pid, member in found.items():
        yield _engagement_row(member, tallies[pid], tracker, window)


def _engagement_row(member: Member, tally: _Tally, tracker: TrackerEvents, window: Window) -> Row:
    start = max(member.enrolled, window.since) if window.since else member.enrolled
    today = member.local_day(window.now)
    end = min(today, window.until) if window.until else today
    days = max((end - start).days + 1, 0)
    first = last = None
    messages = {"in": 0, "out": 0}
    for direction, timestamp in tracker.messages(member.pseudonym):
        moment = datetime.fromtimestamp(timestamp, UTC)
        day = member.local_day(moment)
        if not (start <= day <= end):
            continue
        messages[direction] += 1
        first = first or moment
        last = moment
        if direction == "in":
            tally.active_days.add(day)
    in_window = [d for d in tally.active_days if start <= d <= end]
    checkin_days = len([d for d in tally.checkin_days if start <= d <= end])
    counts = tally.counts
    return {
        **_who(member),
        "enrolled_date": member.enrolled,
        "window_start": start,
        "window_end": end,
        "days_in_window": days,
        "first_activity_utc": first,
        "last_activity_utc": last,
        "last_active_day_number": member.day_number(max(in_window)) if in_window else None,
        "messages_in": messages["in"],
        "messages_out": messages["out"],
        "active_days": len(in_window),
        "checkin_days": checkin_days,
        "checkins_completed": counts["checkins_completed"],
        "checkins_partial": counts["checkins_partial"],
        "checkin_adherence": checkin_days / days if days else None,
        "coping_sessions": counts["coping_sessions"],
        "modules_assigned": counts["modules_assigned"],
        "modules_completed": counts["modules_completed"],
        "goals_set": counts["goals_set"],
        "goal_reviews": counts["goal_reviews"],
        "safety_events": counts["safety_events"],
    }


PRODUCERS: dict[str, Callable[[Settings, Window], Iterator[Row]]] = {
    "transcripts": transcripts,
    "checkins": checkins,
    "coping": coping,
    "modules": modules,
    "module_answers": module_answers,
    "goals": goals,
    "safety": safety,
    "engagement": engagement,
}
KINDS = tuple(PRODUCERS)


# Writing ---------------------------------------------------------------------------------


class Writer(Protocol):
    def write(self, rows: list[Row]) -> None: ...

    def close(self) -> None: ...


def _text(value: Any) -> Any:
    """A value as CSV and JSON Lines show it: ISO 8601 times in UTC with Z, ISO dates."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


class CsvWriter:
    def __init__(self, stream: IO[bytes], export: Export) -> None:
        self.text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)
        self.names = export.names
        self.csv = csv.writer(self.text)
        self.csv.writerow(self.names)

    def write(self, rows: list[Row]) -> None:
        for row in rows:
            self.csv.writerow(_csv_cell(row[name]) for name in self.names)

    def close(self) -> None:
        self.text.flush()
        self.text.detach()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _text(value)


class JsonLinesWriter:
    def __init__(self, stream: IO[bytes], export: Export) -> None:
        self.stream = stream
        self.names = export.names

    def write(self, rows: list[Row]) -> None:
        lines = (
            json.dumps({n: _text(row[n]) for n in self.names}, ensure_ascii=False) for row in rows
        )
        self.stream.write(("\n".join(lines) + "\n").encode("utf-8"))

    def close(self) -> None:
        self.stream.flush()


class ParquetWriter:
    def __init__(self, stream: IO[bytes], export: Export) -> None:
        self.schema = export.schema
        self.writer = pq.ParquetWriter(stream, self.schema, compression="zstd")

    def write(self, rows: list[Row]) -> None:
        """One row group per batch, converted column by column (much faster than by row)."""
        columns = [
            pa.array([row[field.name] for row in rows], type=field.type) for field in self.schema
        ]
        self.writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


WRITERS: dict[str, Callable[[IO[bytes], Export], Writer]] = {
    "csv": CsvWriter,
    "jsonl": JsonLinesWriter,
    "parquet": ParquetWriter,
}


def batches(rows: Iterable[Row], size: int = BATCH) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def check(kind: str, fmt: str) -> Export:
    if kind not in EXPORTS:
        raise ExportError(f"Unknown export '{kind}'. Known: {', '.join(KINDS)}.")
    if fmt not in WRITERS:
        raise ExportError(f"Unknown format '{fmt}'. Known: {', '.join(FORMATS)}.")
    return EXPORTS[kind]


def write_export(
    kind: str,
    fmt: str,
    stream: IO[bytes],
    settings: Settings,
    window: Window | None = None,
    *,
    batch_size: int = BATCH,
) -> int:
    """Write one export to a binary stream, batch by batch; returns the rows written."""
    export = check(kind, fmt)
    window = window or Window()
    writer = WRITERS[fmt](stream, export)
    written = 0
    try:
        for batch in batches(PRODUCERS[kind](settings, window), batch_size):
            writer.write(batch)
            written += len(batch)
    finally:
        writer.close()
    return written


def dictionary_paths(out: Path) -> tuple[Path, Path]:
    """Where an export's data dictionary goes: beside it, as JSON and Markdown."""
    stem = out.name.split(".", 1)[0] or out.name
    return out.with_name(f"{stem}.dictionary.json"), out.with_name(f"{stem}.dictionary.md")


def write_dictionary(json_path: Path, markdown_path: Path, kinds: list[str] | None = None) -> None:
    json_path.write_text(as_json(kinds) + "\n", encoding="utf-8")
    markdown_path.write_text(as_markdown(kinds), encoding="utf-8")


def export_to_file(
    kind: str,
    fmt: str,
    out: Path,
    settings: Settings,
    window: Window | None = None,
    *,
    actor: str = "cli",
) -> int:
    """Write an export and its data dictionary beside it; record it in the audit log.

    The file appears complete or not at all: it is written under a temporary name first.
    """
    check(kind, fmt)
    window = window or Window()
    if out.is_dir():
        raise ExportError(f"{out} is a folder; give a file name, e.g. {out / (kind + '.' + fmt)}.")
    partial = out.with_name(f".{out.name}.partial")
    try:
        with _open(partial) as stream:
            written = write_export(kind, fmt, stream, settings, window)
        partial.replace(out)
        write_dictionary(*dictionary_paths(out), kinds=[kind])
    except OSError as error:
        raise ExportError(f"Cannot write {out}: {error.strerror or error}.") from None
    finally:
        partial.unlink(missing_ok=True)
    record_export(settings, kind, fmt, written, window, address=actor)
    return written


def _open(path: Path) -> AbstractContextManager[IO[bytes]]:
    try:
        return path.open("wb")
    except OSError as error:
        raise ExportError(f"Cannot write {path.parent}: {error.strerror or error}.") from None


def record_export(
    settings: Settings,
    kind: str,
    fmt: str,
    rows: int,
    window: Window,
    *,
    address: str,
    actor_id: int | None = None,
    actor_email: str | None = None,
) -> None:
    """One audit-log entry for an export: who, what, which filters, how many rows."""
    filters = [f"{name}={value}" for name in ("since", "until", "arm")
               if (value := getattr(window, name)) is not None]  # fmt: skip
    with session_scope(settings.database_url) as session:
        session.add(
            AuditEntry(
                actor_id=actor_id,
                actor_email=actor_email,
                action="export",
                target=f"{kind} ({fmt})",
                address=address[:64],
                detail="; ".join([f"rows={rows}", *filters])[:400],
            )
        )
