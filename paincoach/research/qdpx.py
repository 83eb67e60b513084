"""REFI-QDA projects (`.qdpx`, QDA-XML 1.0) that NVivo, ATLAS.ti, MAXQDA and QDA Miner import.

A `.qdpx` file is a zip holding `project.qde` (XML in the `urn:QDA-XML:project:1.0` namespace)
and the plain-text sources under `sources/`. Here:
- each participant's transcript is one TextSource: a line per message ("[local time] Speaker:
  text"), the words exactly as the research transcript shows them;
- the codebook becomes the CodeBook, hierarchy and colours kept;
- each coding becomes a PlainTextSelection whose start and end are character positions (Unicode
  code points, end exclusive) into that source's text, holding a Coding by its coder (a User);
- memos become Notes referred to from their selection;
- study arm, enrolment and counts become Case variables, one Case per participant.
GUIDs are derived from the database ids, so exporting twice gives the same GUIDs and a tool can
merge a newer export into an older project.
"""

from __future__ import annotations

import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO
from xml.etree import ElementTree as ET

from paincoach.research.coding import Codebook, CodeNode, CodingView
from paincoach.research.transcripts import ParticipantSummary, ResearchStore, Turn
from paincoach.research.turns import BOT, PATIENT, SAFETY
from paincoach.settings import Settings

NAMESPACE = "urn:QDA-XML:project:1.0"
Q = f"{{{NAMESPACE}}}"
PROJECT_FILE = "project.qde"
SOURCES = "sources"
# A fixed namespace for the GUIDs of this project's things (uuid5 of the thing's kind and id).
GUID_SPACE = uuid.UUID("5b0f6a8e-3f8c-4f43-9d2e-8f2a1f3c7d10")
SPEAKERS = {PATIENT: "Participant", BOT: "Coach", SAFETY: "Safety net"}
SOURCE_KINDS = frozenset(SPEAKERS)
VARIABLES = (  # name, QDA-XML type, description
    ("study arm", "Text", "The study arm from the enrolment code; empty when none."),
    ("enrolled", "Date", "The day of consent, on the participant's own calendar."),
    ("check-ins", "Integer", "Check-ins started (completed or partial)."),
    ("modules completed", "Integer", "Scripted modules the participant finished."),
    ("messages in", "Integer", "Messages the participant typed or sent with a button."),
    ("messages out", "Integer", "The coach's messages."),
    ("safety events", "Integer", "Crisis and red-flag responses."),
)

ET.register_namespace("", NAMESPACE)


def guid(kind: str, key: object) -> str:
    return str(uuid.uuid5(GUID_SPACE, f"{kind}:{key}"))


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class SourceText:
    """A participant's transcript as one plain text, and where each message's words start."""

    text: str
    starts: dict[int, int]  # tracker event id -> offset of the message's first character


def source_text(turns: Iterable[Turn]) -> SourceText:
    """One line per message with words: "[2026-03-02 08:00] Participant: ..."."""
    parts: list[str] = []
    starts: dict[int, int] = {}
    length = 0
    for turn in turns:
        if turn.kind not in SOURCE_KINDS or turn.text is None:
            continue
        prefix = f"[{turn.local:%Y-%m-%d %H:%M}] {SPEAKERS[turn.kind]}: "
        starts[turn.event_id] = length + len(prefix)
        line = f"{prefix}{turn.text}\n"
        parts.append(line)
        length += len(line)
    return SourceText("".join(parts), starts)


@dataclass
class ExportSummary:
    sources: int = 0
    codes: int = 0
    codings: int = 0
    skipped: int = 0  # codings whose message is gone or withheld now


def _sub(parent: ET.Element, tag: str, **attributes: str) -> ET.Element:
    return ET.SubElement(parent, Q + tag, {k: v for k, v in attributes.items()})


def _codes(parent: ET.Element, nodes: list[CodeNode], parent_id: int | None) -> None:
    for node in (n for n in nodes if n.parent_id == parent_id):
        element = _sub(
            parent,
            "Code",
            guid=guid("code", node.id),
            name=node.name,
            isCodable="true",
            color=node.colour,
        )
        if node.description:
            _sub(element, "Description").text = node.description
        _codes(element, nodes, node.id)


def _case(
    cases: ET.Element, person: ParticipantSummary, variable_guids: dict[str, str]
) -> ET.Element:
    case = _sub(cases, "Case", guid=guid("case", person.pseudonym), name=person.pseudonym)
    values: list[tuple[str, str, str]] = [
        ("study arm", "TextValue", person.study_arm or ""),
        ("enrolled", "DateValue", person.enrolled.isoformat()),
        ("check-ins", "IntegerValue", str(person.checkins)),
        ("modules completed", "IntegerValue", str(person.modules_completed)),
        ("messages in", "IntegerValue", str(person.messages_in)),
        ("messages out", "IntegerValue", str(person.messages_out)),
        ("safety events", "IntegerValue", str(person.safety_events)),
    ]
    for name, tag, value in values:
        holder = _sub(case, "VariableValue")
        _sub(holder, "VariableRef", targetGUID=variable_guids[name])
        _sub(holder, tag).text = value
    _sub(case, "SourceRef", targetGUID=guid("source", person.pseudonym))
    return case


def write_qdpx(
    settings: Settings, out: IO[bytes], *, arm: str | None = None, now: datetime | None = None
) -> ExportSummary:
    """Write the project for every participant researchers may see (or one study arm)."""
    now = now or datetime.now(UTC)
    store = ResearchStore(settings)
    book = Codebook(settings)
    people = store.participants(arm)
    nodes = book.codes()
    codings: dict[str, list[CodingView]] = {}
    for view in book.codings():
        codings.setdefault(view.pseudonym, []).append(view)
    summary = ExportSummary(codes=len(nodes))

    project = ET.Element(
        Q + "Project",
        {"name": "PainCoach transcripts", "origin": "PainCoach", "creationDateTime": _when(now)},
    )
    coders = {
        v.coder_id: v.coder
        for views in codings.values()
        for v in views
        if v.pseudonym in {p.pseudonym for p in people}
    }
    if coders:
        users = _sub(project, "Users")
        for coder_id, email in sorted(coders.items(), key=lambda item: item[1]):
            _sub(users, "User", guid=guid("user", coder_id), name=email, id=str(coder_id or ""))
    if nodes:
        _codes(_sub(_sub(project, "CodeBook"), "Codes"), nodes, None)
    variable_guids = {name: guid("variable", name) for name, _, _ in VARIABLES}
    if people:
        variables = _sub(project, "Variables")
        for name, kind, description in VARIABLES:
            variable = _sub(
                variables, "Variable", guid=variable_guids[name], name=name, typeOfVariable=kind
            )
            _sub(variable, "Description").text = description
        cases = _sub(project, "Cases")
        for person in people:
            _case(cases, person, variable_guids)
    notes: list[tuple[CodingView, str]] = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if people:
            sources = _sub(project, "Sources")
        for person in people:
            turns = store.transcript(person.pseudonym) or []
            text = source_text(turns)
            by_event = {t.event_id: t for t in turns}
            source_guid = guid("source", person.pseudonym)
            archive.writestr(f"{SOURCES}/{source_guid}.txt", text.text.encode("utf-8"))
            summary.sources += 1
            source = _sub(
                sources,
                "TextSource",
                guid=source_guid,
                name=person.pseudonym,
                plainTextPath=f"internal://{source_guid}.txt",
                creationDateTime=_when(now),
            )
            _sub(source, "Description").text = (
                f"Transcript of participant {person.pseudonym}"
                + (f", study arm {person.study_arm}" if person.study_arm else "")
                + ". Times are the participant's local time."
            )
            for view in codings.get(person.pseudonym, []):
                turn = by_event.get(view.event_id)
                offset = text.starts.get(view.event_id)
                if (
                    turn is None
                    or offset is None
                    or turn.withheld
                    or turn.text is None
                    or view.end > len(turn.text)
                ):
                    summary.skipped += 1
                    continue
                user = guid("user", view.coder_id)
                selection = _sub(
                    source,
                    "PlainTextSelection",
                    guid=guid("selection", view.id),
                    name=turn.text[view.start : view.end][:80],
                    startPosition=str(offset + view.start),
                    endPosition=str(offset + view.end),
                    creatingUser=user,
                    creationDateTime=_when(view.created_at),
                )
                coding = _sub(
                    selection,
                    "Coding",
                    guid=guid("coding", view.id),
                    creatingUser=user,
                    creationDateTime=_when(view.created_at),
                )
                _sub(coding, "CodeRef", targetGUID=guid("code", view.code_id))
                if view.memo:
                    _sub(selection, "NoteRef", targetGUID=guid("note", view.id))
                    notes.append((view, turn.text[view.start : view.end]))
                summary.codings += 1
        if notes:
            holder = _sub(project, "Notes")
            for view, words in notes:
                note = _sub(
                    holder,
                    "Note",
                    guid=guid("note", view.id),
                    name=f"Memo on {view.code_name}: {words[:40]}",
                    creatingUser=guid("user", view.coder_id),
                    creationDateTime=_when(view.created_at),
                )
                _sub(note, "PlainTextContent").text = view.memo
        _sub(project, "Description").text = (
            "Pseudonymised PainCoach transcripts with the project's codebook and codings. "
            "Participants without consent to research use of free text appear with their "
            "words withheld."
        )
        ET.indent(project)
        archive.writestr(PROJECT_FILE, ET.tostring(project, encoding="utf-8", xml_declaration=True))
    return summary


# --- reading a project back (tests, and checking a file before handing it on) -----------------


@dataclass
class Selection:
    source: str  # the source's name (the pseudonym)
    start: int
    end: int
    text: str  # the words at those positions of the source text
    codes: list[str] = field(default_factory=list)  # code names
    coders: list[str] = field(default_factory=list)  # user names
    memos: list[str] = field(default_factory=list)


@dataclass
class Project:
    xml: bytes
    sources: dict[str, str]  # name -> plain text
    codes: dict[str, tuple[str, str | None, str | None]]  # guid -> (name, parent name, colour)
    selections: list[Selection]
    cases: dict[str, dict[str, str]]  # case name -> variable name -> value


def read_qdpx(path_or_file: str | IO[bytes]) -> Project:
    """Read a `.qdpx` written by any tool: its sources' texts, codes, selections and cases."""
    with zipfile.ZipFile(path_or_file) as archive:
        xml = archive.read(PROJECT_FILE)
        root = ET.fromstring(xml)
        users = {u.get("guid"): u.get("name") or "" for u in root.iter(Q + "User")}
        codes: dict[str, tuple[str, str | None, str | None]] = {}

        def walk(element: ET.Element, parent: str | None) -> None:
            for code in element.findall(Q + "Code"):
                codes[code.get("guid", "")] = (code.get("name", ""), parent, code.get("color"))
                walk(code, code.get("name"))

        for holder in root.iter(Q + "Codes"):
            walk(holder, None)
        notes = {
            n.get("guid"): (n.findtext(Q + "PlainTextContent") or "") for n in root.iter(Q + "Note")
        }
        variables = {v.get("guid"): v.get("name", "") for v in root.iter(Q + "Variable")}
        sources: dict[str, str] = {}
        selections: list[Selection] = []
        for source in root.iter(Q + "TextSource"):
            name = source.get("name", "")
            path = source.get("plainTextPath")
            if path and path.startswith("internal://"):
                text = archive.read(f"{SOURCES}/{path.removeprefix('internal://')}").decode()
            else:
                text = source.findtext(Q + "PlainTextContent") or ""
            sources[name] = text
            for chosen in source.findall(Q + "PlainTextSelection"):
                start, end = int(chosen.get("startPosition", 0)), int(chosen.get("endPosition", 0))
                found = Selection(name, start, end, text[start:end])
                for coding in chosen.findall(Q + "Coding"):
                    ref = coding.find(Q + "CodeRef")
                    code = codes.get(ref.get("targetGUID", "") if ref is not None else "")
                    found.codes.append(code[0] if code else "")
                    found.coders.append(users.get(coding.get("creatingUser"), ""))
                found.memos = [
                    notes.get(r.get("targetGUID"), "") for r in chosen.findall(Q + "NoteRef")
                ]
                selections.append(found)
        cases: dict[str, dict[str, str]] = {}
        for case in root.iter(Q + "Case"):
            values = {}
            for value in case.findall(Q + "VariableValue"):
                ref = value.find(Q + "VariableRef")
                name = variables.get(ref.get("targetGUID") if ref is not None else None, "")
                typed = [child for child in value if child.tag != Q + "VariableRef"]
                values[name] = (typed[0].text or "") if typed else ""
            cases[case.get("name", "")] = values
    return Project(xml, sources, codes, selections, cases)
