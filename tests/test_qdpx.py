"""The codebook, codings and the REFI-QDA export: valid against the official QDA-XML 1.0 schema
(vendored under tests/standards/), and read back, every coding's selected text is the span
that was coded, with its code, coder and memo."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import xmlschema
from typer.testing import CliRunner

from paincoach.research import qdpx
from paincoach.research.coding import Codebook, CodeForm, CodingError, segments
from paincoach.research.synthetic import Conversation, write
from paincoach.research.transcripts import ResearchStore, Turn
from paincoach.settings import Settings
from tests.providers import add_provider
from tests.research_world import (
    FREE,
    NEVER_SHOWN,
    NO_RESEARCH,
    PATIENT_WORDS,
    PLAIN,
    START,
    WITHDRAWN,
    build,
    research_settings,
)

SCHEMA = Path(__file__).parent / "standards" / "refi-qda-project-1.0.xsd"
# Code points beyond the BMP (a browser counts these as two), a line break and markup.
TRICKY = "Pain 😖😖 today,\nknees <worse> & hips — «ouch»"


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMA))


@pytest.fixture
def study(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    settings = research_settings(database_url, request, tmp_path)
    build(settings)
    extra = Conversation(FREE.pseudonym, START + timedelta(days=6))
    extra.user(TRICKY, "flare_up", 0.71).bot("That sounds hard. 💛").listen()
    write(settings.tracker_store_url, extra)
    return settings


def _turn(settings: Settings, pseudonym: str, text: str) -> Turn:
    turns = ResearchStore(settings).transcript(pseudonym) or []
    return next(t for t in turns if t.text == text)


def _coded(settings: Settings) -> tuple[Codebook, dict[str, int]]:
    """A small codebook with a hierarchy and codings by two coders, one with a memo."""
    book = Codebook(settings)
    ana = add_provider(settings.database_url, "ana@uni.example", role="researcher")
    ben = add_provider(settings.database_url, "ben@uni.example", role="researcher")
    body = book.add_code(CodeForm("Body", "Where it hurts", "#1F77B4"), ana).id
    back = book.add_code(CodeForm("Back", "Lower back", "#ff7f0e", str(body)), ana).id
    feeling = book.add_code(CodeForm("Feeling", "", "#2ca02c"), ben).id
    words = _turn(settings, FREE.pseudonym, PATIENT_WORDS)
    start = PATIENT_WORDS.index("lower back")
    book.apply(FREE.pseudonym, words.event_id, start, start + len("lower back"), [back], "",
               ana)  # fmt: skip
    book.apply(FREE.pseudonym, words.event_id, 0, len(PATIENT_WORDS), [feeling, body],
               "Frames the flare-up as the drive's doing.", ben)  # fmt: skip
    tricky = _turn(settings, FREE.pseudonym, TRICKY)
    emoji_end = TRICKY.index("today")
    book.apply(FREE.pseudonym, tricky.event_id, 5, emoji_end, [feeling], "Emoji only", ana)
    book.apply(FREE.pseudonym, tricky.event_id, TRICKY.index("knees"), len(TRICKY), [body], "",
               ben)  # fmt: skip
    reply = _turn(settings, PLAIN.pseudonym, "Sleep and pain are closely linked.")
    book.apply(PLAIN.pseudonym, reply.event_id, 0, 5, [feeling], "", ana)
    return book, {"body": body, "back": back, "feeling": feeling, "ana": ana, "ben": ben}


def _export(settings: Settings, **kwargs: object) -> tuple[bytes, qdpx.ExportSummary]:
    buffer = io.BytesIO()
    summary = qdpx.write_qdpx(settings, buffer, **kwargs)  # type: ignore[arg-type]
    return buffer.getvalue(), summary


def test_the_project_validates_and_reads_back_span_for_span(
    study: Settings, schema: xmlschema.XMLSchema
) -> None:
    book, _ = _coded(study)
    data, summary = _export(study)
    archive = zipfile.ZipFile(io.BytesIO(data))
    schema.validate(archive.read("project.qde"))  # raises with the reason when invalid
    assert summary.sources == 2 and summary.codes == 3 and summary.codings == 6
    project = qdpx.read_qdpx(io.BytesIO(data))
    assert set(project.sources) == {FREE.pseudonym, PLAIN.pseudonym}

    expected = []
    for segment in segments(study):
        view = segment.coding
        expected.append((view.pseudonym, segment.text, view.code_name, view.coder,
                         view.memo or ""))  # fmt: skip
        assert segment.text == (segment.turn.text or "")[view.start : view.end]
    read = [(s.source, s.text, s.codes[0], s.coders[0], (s.memos or [""])[0])
            for s in project.selections]  # fmt: skip
    assert sorted(read) == sorted(expected)
    assert len(read) == len(book.codings()) == 6
    spans = {s.text for s in project.selections}
    assert {"lower back", "😖😖 ", PATIENT_WORDS, "Sleep"} <= spans
    assert TRICKY[TRICKY.index("knees") :] in spans


def test_the_codebook_keeps_its_hierarchy_and_colours(study: Settings) -> None:
    _coded(study)
    project = qdpx.read_qdpx(io.BytesIO(_export(study)[0]))
    codes = {name: (parent, colour) for name, parent, colour in project.codes.values()}
    assert codes == {"Body": (None, "#1f77b4"), "Back": ("Body", "#ff7f0e"),
                     "Feeling": (None, "#2ca02c")}  # fmt: skip


def test_cases_carry_the_study_arm_and_counts(study: Settings) -> None:
    project = qdpx.read_qdpx(io.BytesIO(_export(study)[0]))
    assert project.cases[FREE.pseudonym]["study arm"] == "A"
    assert project.cases[PLAIN.pseudonym]["study arm"] == "B"
    assert project.cases[FREE.pseudonym]["check-ins"] == "4"
    assert project.cases[FREE.pseudonym]["enrolled"] == "2026-03-02"
    arm_b = qdpx.read_qdpx(io.BytesIO(_export(study, arm="B")[0]))
    assert set(arm_b.sources) == {PLAIN.pseudonym}


def test_nobody_hidden_from_researchers_is_in_the_project(
    study: Settings, schema: xmlschema.XMLSchema
) -> None:
    _coded(study)
    data, _ = _export(study)
    archive = zipfile.ZipFile(io.BytesIO(data))
    everything = b"".join(archive.read(name) for name in archive.namelist()).decode()
    for hidden in (NO_RESEARCH.pseudonym, WITHDRAWN.pseudonym, *NEVER_SHOWN):
        assert hidden not in everything, hidden
    plain = qdpx.read_qdpx(io.BytesIO(data)).sources[PLAIN.pseudonym]
    assert "[free text withheld]" in plain and PATIENT_WORDS not in plain


def test_an_empty_study_is_still_a_valid_project(
    database_url: str, request: pytest.FixtureRequest, tmp_path: Path,
    schema: xmlschema.XMLSchema,
) -> None:  # fmt: skip
    settings = research_settings(database_url, request, tmp_path)
    data, summary = _export(settings)
    schema.validate(zipfile.ZipFile(io.BytesIO(data)).read("project.qde"))
    assert summary.sources == 0


def test_exporting_twice_gives_the_same_guids(study: Settings) -> None:
    _coded(study)
    first = qdpx.read_qdpx(io.BytesIO(_export(study)[0]))
    second = qdpx.read_qdpx(io.BytesIO(_export(study)[0]))
    assert first.codes == second.codes
    assert set(first.sources) == set(second.sources)


def test_the_cli_writes_the_project(
    study: Settings, schema: xmlschema.XMLSchema, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paincoach.cli import app
    from paincoach.settings import get_settings

    _coded(study)
    monkeypatch.setenv("DATABASE_URL", study.database_url)
    monkeypatch.setenv("TRACKER_STORE_URL", study.tracker_store_url)
    get_settings.cache_clear()
    out = tmp_path / "study.qdpx"
    try:
        result = CliRunner().invoke(app, ["export", "qdpx", "--out", str(out)])
        refused = CliRunner().invoke(app, ["export", "qdpx", "--out", str(tmp_path)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "2 transcripts" in result.output and "6 codings" in result.output
    schema.validate(zipfile.ZipFile(out).read("project.qde"))
    assert refused.exit_code != 0 and "folder" in refused.output


# --- the codebook and codings themselves -----------------------------------------------------


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (CodeForm("  "), "Give the code a name."),
        (CodeForm("x" * 121), "at most 120 characters"),
        (CodeForm("Sleep", colour="red"), "The colour must look like"),
        (CodeForm("Sleep", parent="999999"), "Choose the parent code"),
        (CodeForm("Sleep", parent="abc"), "Choose the parent code"),
        (CodeForm("Body"), "already a code named 'Body'"),
    ],
)
def test_a_code_that_cannot_be_saved_says_why(
    study: Settings, form: CodeForm, message: str
) -> None:
    book = Codebook(study)
    book.add_code(CodeForm("Body"), None)
    with pytest.raises(CodingError, match=message):
        book.add_code(form, None)


def test_a_code_cannot_be_filed_under_its_own_subcode(study: Settings) -> None:
    book = Codebook(study)
    parent = book.add_code(CodeForm("Body"), None).id
    child = book.add_code(CodeForm("Back", parent=str(parent)), None).id
    with pytest.raises(CodingError, match="cannot be filed under itself"):
        book.update_code(parent, CodeForm("Body", parent=str(child)))
    book.update_code(child, CodeForm("Lower back", "renamed", "#000000", ""))
    assert [(n.name, n.depth) for n in book.codes()] == [("Body", 0), ("Lower back", 0)]


def test_a_coding_must_cover_words_of_a_visible_message(study: Settings) -> None:
    book = Codebook(study)
    code = book.add_code(CodeForm("Body"), None).id
    coder = add_provider(study.database_url, "ana@uni.example", role="researcher")
    words = _turn(study, FREE.pseudonym, PATIENT_WORDS)
    withheld = _turn(study, PLAIN.pseudonym, "[free text withheld]")
    cases = [
        (FREE.pseudonym, words.event_id, 5, 5, [code], "Select some words"),
        (FREE.pseudonym, words.event_id, 0, len(PATIENT_WORDS) + 1, [code], "Select some words"),
        (FREE.pseudonym, words.event_id, 2, 3, [code], "only spaces"),
        (FREE.pseudonym, words.event_id, 0, 4, [], "Choose at least one code"),
        (FREE.pseudonym, words.event_id, 0, 4, [code, 999999], "no longer exists"),
        (FREE.pseudonym, 999999999, 0, 4, [code], "Choose a message"),
        (PLAIN.pseudonym, withheld.event_id, 0, 4, [code], "withheld"),
        (NO_RESEARCH.pseudonym, words.event_id, 0, 4, [code], "no such participant"),
    ]
    for pseudonym, event_id, start, end, codes, message in cases:
        with pytest.raises(CodingError, match=message):
            book.apply(pseudonym, event_id, start, end, codes, "", coder)
    assert book.codings() == []


def test_coders_remove_only_their_own_codings(study: Settings) -> None:
    book, ids = _coded(study)
    ana_coding = next(c for c in book.codings() if c.coder_id == ids["ana"])
    assert book.remove(ana_coding.id, ids["ben"]) is None
    assert book.remove(ana_coding.id, ids["ana"]) == ana_coding.pseudonym
    assert ana_coding.id not in {c.id for c in book.codings()}


def test_the_schema_check_is_not_vacuous(schema: xmlschema.XMLSchema) -> None:
    broken = b'<Project xmlns="urn:QDA-XML:project:1.0"><Sources/></Project>'
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        schema.validate(broken)
