"""Qualitative coding: the project codebook, and codes applied to messages or spans of them.

A coding names a message by its tracker-store event id and a span by character offsets
(Unicode code points, end exclusive) into the message text exactly as the research transcript
shows it. Several coders can code the same span; each coding records its coder. Only
participants researchers may see (research consent, not withdrawn) have codings shown or
exported; their rows stay until the participant asks for erasure.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from paincoach.db.engine import session_scope
from paincoach.db.models import Code, Coding, ConsoleUser, Participant
from paincoach.research.members import in_research
from paincoach.research.transcripts import ResearchStore, Turn
from paincoach.research.turns import TEXT_KINDS
from paincoach.settings import Settings

COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
NAME_MAX = 120
DESCRIPTION_MAX = 2000
MEMO_MAX = 5000
DEFAULT_COLOUR = "#4c78a8"
SEGMENT_COLUMNS = (
    "code", "coder", "pseudonym", "time_utc", "text", "memo",
    "code_path", "study_arm", "local_time", "event_id", "start", "end", "coded_at_utc",
)  # fmt: skip


class CodingError(ValueError):
    """A code or a coding that cannot be saved as asked; the message says why."""


@dataclass(frozen=True)
class CodeNode:
    """A code with its place in the hierarchy."""

    id: int
    name: str
    description: str
    colour: str
    parent_id: int | None
    depth: int
    path: str  # "Parent / Child"


@dataclass(frozen=True)
class CodingView:
    """A coding as a transcript page or an export shows it."""

    id: int
    code_id: int
    code_name: str
    colour: str
    coder_id: int | None
    coder: str
    pseudonym: str
    study_arm: str | None
    event_id: int
    start: int
    end: int
    memo: str | None
    created_at: datetime


@dataclass(frozen=True)
class CodeForm:
    """A code as typed in the codebook form (kept when it is refused)."""

    name: str = ""
    description: str = ""
    colour: str = DEFAULT_COLOUR
    parent: str = ""  # a code id, or empty for a top-level code


class Codebook:
    """The project's codes, and the codings of every coder."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.database_url

    # --- codes ------------------------------------------------------------------------

    def codes(self) -> list[CodeNode]:
        """Every code, parents before their children, siblings by name."""
        with session_scope(self.url) as session:
            rows = session.scalars(select(Code).order_by(Code.name)).all()
        children: dict[int | None, list[Code]] = {}
        known = {row.id for row in rows}
        for row in rows:
            parent = row.parent_id if row.parent_id in known else None
            children.setdefault(parent, []).append(row)
        ordered: list[CodeNode] = []

        def walk(parent: int | None, depth: int, prefix: str) -> None:
            for row in children.get(parent, []):
                path = f"{prefix} / {row.name}" if prefix else row.name
                ordered.append(CodeNode(row.id, row.name, row.description or "", row.colour,
                                        parent, depth, path))  # fmt: skip
                walk(row.id, depth + 1, path)

        walk(None, 0, "")
        return ordered

    def _checked(
        self, form: CodeForm, code_id: int | None = None
    ) -> tuple[str, str, str, int | None]:
        name = " ".join(form.name.split())
        if not name:
            raise CodingError("Give the code a name.")
        if len(name) > NAME_MAX:
            raise CodingError(f"A code name has at most {NAME_MAX} characters.")
        description = form.description.strip()
        if len(description) > DESCRIPTION_MAX:
            raise CodingError(f"A description has at most {DESCRIPTION_MAX:,} characters.")
        colour = form.colour.strip() or DEFAULT_COLOUR
        if not COLOUR.match(colour):
            raise CodingError("The colour must look like #1f77b4.")
        parent_id: int | None = None
        if form.parent.strip():
            try:
                parent_id = int(form.parent)
            except ValueError:
                raise CodingError("Choose the parent code from the list.") from None
            nodes = {node.id: node for node in self.codes()}
            if parent_id not in nodes:
                raise CodingError("Choose the parent code from the list.")
            ancestor: int | None = parent_id
            while ancestor is not None:
                if ancestor == code_id:
                    raise CodingError("A code cannot be filed under itself or its own sub-code.")
                ancestor = nodes[ancestor].parent_id
        return name, description, colour.lower(), parent_id

    def add_code(self, form: CodeForm, creator_id: int | None) -> Code:
        name, description, colour, parent_id = self._checked(form)
        with session_scope(self.url) as session:
            if session.scalar(select(Code.id).where(Code.name == name)) is not None:
                raise CodingError(f"There is already a code named '{name}'.")
            code = Code(name=name, description=description, colour=colour,
                        parent_id=parent_id, created_by=creator_id)  # fmt: skip
            session.add(code)
            session.flush()
            return code

    def update_code(self, code_id: int, form: CodeForm) -> Code:
        name, description, colour, parent_id = self._checked(form, code_id)
        with session_scope(self.url) as session:
            code = session.get(Code, code_id)
            if code is None:
                raise CodingError("There is no such code.")
            clash = session.scalar(select(Code.id).where(Code.name == name, Code.id != code_id))
            if clash is not None:
                raise CodingError(f"There is already a code named '{name}'.")
            code.name, code.description, code.colour = name, description, colour
            code.parent_id = parent_id
            return code

    def code(self, code_id: int) -> Code | None:
        with session_scope(self.url) as session:
            return session.get(Code, code_id)

    # --- codings ----------------------------------------------------------------------

    def span(
        self, pseudonym: str, event_id: int, start: int, end: int, turns: list[Turn] | None = None
    ) -> Turn:
        """The message a span is in, if the span covers words a researcher may code."""
        if turns is None:
            turns = ResearchStore(self.settings).transcript(pseudonym)
        if turns is None:
            raise CodingError("There is no such participant.")
        turn = next((t for t in turns if t.event_id == event_id), None)
        if turn is None or turn.kind not in TEXT_KINDS or not turn.text:
            raise CodingError("Choose a message of this transcript to code.")
        if turn.withheld:
            raise CodingError("This message is withheld; there are no words to code.")
        if not 0 <= start < end <= len(turn.text):
            raise CodingError("Select some words of the message first.")
        if not turn.text[start:end].strip():
            raise CodingError("The selection holds only spaces; select some words.")
        return turn

    def code_named(self, name: str) -> Code | None:
        with session_scope(self.url) as session:
            return session.scalar(select(Code).where(Code.name == " ".join(name.split())))

    def apply(
        self,
        pseudonym: str,
        event_id: int,
        start: int,
        end: int,
        code_ids: list[int],
        memo: str,
        coder_id: int,
        turns: list[Turn] | None = None,
    ) -> list[Coding]:
        """Apply codes to a span of one message (`turns`: the transcript, when already read)."""
        self.span(pseudonym, event_id, start, end, turns)
        if not code_ids:
            raise CodingError("Choose at least one code, or name a new one.")
        memo = memo.strip()
        if len(memo) > MEMO_MAX:
            raise CodingError(f"A memo has at most {MEMO_MAX:,} characters.")
        with session_scope(self.url) as session:
            participant_id = session.scalar(
                select(Participant.id).where(Participant.pseudonym == pseudonym, in_research())
            )
            if participant_id is None:
                raise CodingError("There is no such participant.")
            known = set(session.scalars(select(Code.id).where(Code.id.in_(code_ids))))
            if known != set(code_ids):
                raise CodingError("One of the chosen codes no longer exists.")
            saved = []
            for code_id in dict.fromkeys(code_ids):
                coding = Coding(
                    code_id=code_id, coder_id=coder_id, participant_id=participant_id,
                    event_id=event_id, start=start, end=end, memo=memo or None,
                )  # fmt: skip
                session.add(coding)
                saved.append(coding)
            session.flush()
            return saved

    def remove(self, coding_id: int, coder_id: int) -> str | None:
        """Remove one of the coder's own codings; the participant's pseudonym, or None."""
        with session_scope(self.url) as session:
            found = session.execute(
                select(Coding, Participant.pseudonym)
                .join(Participant, Participant.id == Coding.participant_id)
                .where(Coding.id == coding_id, Coding.coder_id == coder_id, in_research())
            ).first()
            if found is None:
                return None
            session.delete(found[0])
            return str(found[1])

    def codings(self, pseudonym: str | None = None) -> list[CodingView]:
        """Codings of visible participants (one, or all), in transcript order."""
        query = (
            select(Coding, Code, Participant.pseudonym, Participant.study_arm, ConsoleUser.email)
            .join(Code, Code.id == Coding.code_id)
            .join(Participant, Participant.id == Coding.participant_id)
            .outerjoin(ConsoleUser, ConsoleUser.id == Coding.coder_id)
            .where(in_research())
            .order_by(Participant.pseudonym, Coding.event_id, Coding.start, Coding.id)
        )
        if pseudonym is not None:
            query = query.where(Participant.pseudonym == pseudonym)
        with session_scope(self.url) as session:
            return [
                CodingView(
                    coding.id,
                    code.id,
                    code.name,
                    code.colour,
                    coding.coder_id,
                    email or "(removed account)",
                    who,
                    arm,
                    coding.event_id,
                    coding.start,
                    coding.end,
                    coding.memo,
                    coding.created_at,
                )
                for coding, code, who, arm, email in session.execute(query)
            ]


@dataclass(frozen=True)
class Segment:
    """A coded span with its words, as the coded-segments export lists it."""

    coding: CodingView
    code_path: str
    turn: Turn
    text: str


def segments(settings: Settings, pseudonym: str | None = None) -> Iterator[Segment]:
    """Every coding of visible participants with the words it covers, one transcript at a time.
    A coding whose message is gone (retention) or withheld now is left out."""
    book = Codebook(settings)
    paths = {node.id: node.path for node in book.codes()}
    store = ResearchStore(settings)
    by_participant: dict[str, list[CodingView]] = {}
    for view in book.codings(pseudonym):
        by_participant.setdefault(view.pseudonym, []).append(view)
    for who, views in by_participant.items():
        turns = {t.event_id: t for t in store.transcript(who) or []}
        for view in views:
            turn = turns.get(view.event_id)
            if turn is None or turn.withheld or not turn.text or view.end > len(turn.text):
                continue
            yield Segment(view, paths.get(view.code_id, view.code_name), turn,
                          turn.text[view.start : view.end])  # fmt: skip


def segments_csv(settings: Settings) -> Iterator[str]:
    """The coded segments as CSV: code, coder, pseudonym, time, text, memo, and where. The
    header is the first chunk, then one chunk per segment."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(SEGMENT_COLUMNS)
    yield buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    for segment in segments(settings):
        view = segment.coding
        writer.writerow(
            (view.code_name, view.coder, view.pseudonym, segment.turn.at.isoformat(),
             segment.text, view.memo or "", segment.code_path, view.study_arm or "",
             segment.turn.local.isoformat(), view.event_id, view.start, view.end,
             view.created_at.isoformat())
        )  # fmt: skip
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
