"""Research exports: every kind in every format reads back with pandas and pyarrow with the
right rows and values; nothing identifying is in any of them; the data dictionary covers
every column; the command answers bad input in one line. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import structlog
from sqlalchemy import select
from typer.testing import CliRunner

from paincoach.cli import EXPORT_HELP, app
from paincoach.db.engine import session_scope
from paincoach.db.models import AuditEntry
from paincoach.research.dictionary import EXPORTS, PEG, as_json, as_markdown
from paincoach.research.exports import (
    FORMATS,
    KINDS,
    ExportError,
    Window,
    export_to_file,
    write_export,
)
from paincoach.research.transcripts import ResearchStore
from paincoach.settings import Settings, get_settings
from tests.research_world import (
    ANSWER_WORDS,
    FREE,
    GOAL_WORDS,
    NEVER_SHOWN,
    NOTE_WORDS,
    PLAIN,
    START,
    build,
    research_settings,
)

NOW = START + timedelta(days=9)
ROWS = {
    "checkins": 6, "coping": 4, "modules": 4, "module_answers": 4, "goals": 6, "safety": 4,
    "engagement": 2,
}  # fmt: skip


@pytest.fixture
def settings(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    found = research_settings(database_url, request, tmp_path)
    build(found)
    return found


def expected_rows(settings: Settings, kind: str) -> int:
    if kind != "transcripts":
        return ROWS[kind]
    research = ResearchStore(settings)
    return sum(len(research.transcript(p.pseudonym) or []) for p in (FREE, PLAIN))


def read_back(path: Path, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    if fmt == "jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_parquet(path)


def export(settings: Settings, kind: str, fmt: str, folder: Path, **window: object) -> Path:
    out = folder / f"{kind}.{fmt}"
    export_to_file(kind, fmt, out, settings, Window(now=NOW, **window))  # type: ignore[arg-type]
    return out


def test_every_export_in_every_format_reads_back(settings: Settings, tmp_path: Path) -> None:
    for kind in KINDS:
        expected = expected_rows(settings, kind)
        schema = EXPORTS[kind].schema
        for fmt in FORMATS:
            out = export(settings, kind, fmt, tmp_path)
            frame = read_back(out, fmt)
            assert len(frame) == expected, (kind, fmt)
            assert list(frame.columns) == EXPORTS[kind].names
            assert set(frame["pseudonym"]) == {FREE.pseudonym, PLAIN.pseudonym}
            if fmt == "parquet":
                table = pq.read_table(out)
                assert table.schema.equals(schema, check_metadata=False)
                assert table.num_rows == expected
            if fmt == "csv":
                assert pacsv.read_csv(out).num_rows == expected
        assert (tmp_path / f"{kind}.dictionary.json").exists()
        assert (tmp_path / f"{kind}.dictionary.md").exists()


def test_checkins_are_one_row_per_participant_per_local_day(
    settings: Settings, tmp_path: Path
) -> None:
    rows = pq.read_table(export(settings, "checkins", "parquet", tmp_path)).to_pylist()
    free = [r for r in rows if r["pseudonym"] == FREE.pseudonym]
    assert [(r["local_date"], r["day_number"]) for r in free] == [
        (date(2026, 3, 2), 0), (date(2026, 3, 4), 2), (date(2026, 3, 5), 3),
    ]  # fmt: skip
    first, _, last = free
    # two check-ins that day: the completed one is kept, and the count says so
    assert (first["pain_average"], first["pain_enjoyment"], first["pain_activity"]) == (6, 5, 7)
    assert first["peg_score"] == pytest.approx(6.0) and first["status"] == "completed"
    assert (first["mood"], first["sleep_quality"], first["items_answered"]) == (4, 3, 5)
    assert first["checkins_that_day"] == 2 and first["note"] == NOTE_WORDS
    assert first["study_arm"] == "A" and first["started_at_utc"].tzinfo is not None
    assert last["status"] == "partial" and last["peg_score"] is None
    assert (last["pain_average"], last["mood"], last["items_answered"]) == (5, 5, 2)
    plain = [r for r in rows if r["pseudonym"] == PLAIN.pseudonym]
    assert plain[0]["note"] == "[free text withheld]" and plain[1]["note"] is None
    assert plain[0]["local_date"] == date(2026, 3, 2)  # 02:01 in New York


def test_exports_filter_by_arm_and_by_day(settings: Settings, tmp_path: Path) -> None:
    only_a = read_back(export(settings, "checkins", "csv", tmp_path, arm="A"), "csv")
    assert set(only_a["pseudonym"]) == {FREE.pseudonym}
    later = read_back(
        export(settings, "checkins", "jsonl", tmp_path, since=date(2026, 3, 4)), "jsonl"
    )
    assert sorted(set(later["local_date"])) == ["2026-03-04", "2026-03-05"] and len(later) == 4
    first_day = read_back(
        export(
            settings, "transcripts", "parquet", tmp_path,
            since=date(2026, 3, 2), until=date(2026, 3, 2),
        ),
        "parquet",
    )  # fmt: skip
    assert len(first_day) and set(first_day["local_date"]) == {date(2026, 3, 2)}
    with pytest.raises(ExportError, match="after"):
        Window(since=date(2026, 3, 5), until=date(2026, 3, 1))


def test_other_exports_carry_the_right_values(settings: Settings, tmp_path: Path) -> None:
    def rows(kind: str) -> list[dict[str, object]]:
        table = pq.read_table(export(settings, kind, "parquet", tmp_path))
        return [r for r in table.to_pylist() if r["pseudonym"] == PLAIN.pseudonym]

    coping = rows("coping")
    assert [(r["exercise"], r["completed"], r["tension_change"]) for r in coping] == [
        ("paced_breathing", True, -3), ("body_scan", False, None)
    ]  # fmt: skip
    modules = rows("modules")
    assert [(r["module_id"], r["status"], r["answers"]) for r in modules] == [
        ("understanding-pain", "completed", 2), ("sleep", "assigned", 0)
    ]  # fmt: skip
    assert modules[0]["days_to_complete"] == pytest.approx(1.0)
    answers = {r["step_kind"]: r for r in rows("module_answers")}
    assert answers["question"]["answer"] == "[free text withheld]"
    assert (answers["scale"]["answer"], answers["scale"]["scale_value"]) == ("6", 6)
    goals = rows("goals")
    assert [(r["activity"], r["times_done"]) for r in goals] == [
        ("[free text withheld]", None), ("[free text withheld]", 2), ("[free text withheld]", 3)
    ]  # fmt: skip
    safety = rows("safety")
    assert [(r["kind"], r["tier"], r["check_answer"], r["acknowledged"]) for r in safety] == [
        ("crisis", "possible", "no", False), ("red_flag", "certain", None, True)
    ]  # fmt: skip
    (engagement,) = rows("engagement")
    assert engagement["days_in_window"] == 10 and engagement["checkin_days"] == 3
    assert engagement["checkin_adherence"] == pytest.approx(0.3)
    assert (engagement["messages_in"], engagement["messages_out"]) == (17, 17)
    assert (engagement["checkins_completed"], engagement["checkins_partial"]) == (2, 2)
    assert (engagement["active_days"], engagement["last_active_day_number"]) == (4, 3)
    assert (engagement["modules_assigned"], engagement["modules_completed"]) == (2, 1)
    assert (engagement["goals_set"], engagement["goal_reviews"]) == (2, 2)
    assert (engagement["coping_sessions"], engagement["safety_events"]) == (2, 2)
    free_answers = pq.read_table(tmp_path / "module_answers.parquet").to_pylist()
    assert ANSWER_WORDS in [r["answer"] for r in free_answers]
    free_goals = pq.read_table(tmp_path / "goals.parquet").to_pylist()
    assert GOAL_WORDS in [r["activity"] for r in free_goals]


def test_transcripts_export_matches_the_transcript_view(settings: Settings, tmp_path: Path) -> None:
    rows = pq.read_table(export(settings, "transcripts", "parquet", tmp_path)).to_pylist()
    turns = ResearchStore(settings).transcript(PLAIN.pseudonym)
    assert turns is not None
    mine = [r for r in rows if r["pseudonym"] == PLAIN.pseudonym]
    assert [r["event_id"] for r in mine] == [t.event_id for t in turns]
    assert [r["text"] for r in mine] == [t.text for t in turns]
    flare = next(r for r in mine if r["intent"] == "flare_up")
    assert flare["withheld"] and flare["confidence"] == pytest.approx(0.88)
    assert json.loads(flare["entities"]) == [{"entity": "body_part", "value": "lower back"}]
    assert flare["local_time"].endswith("-05:00")


def test_no_export_holds_a_telegram_id_a_nickname_or_a_care_team_message(
    settings: Settings, tmp_path: Path
) -> None:
    for kind in KINDS:
        for fmt in FORMATS:
            out = export(settings, kind, fmt, tmp_path)
            if fmt == "parquet":
                content = repr(pq.read_table(out).to_pylist())
            else:
                content = out.read_text(encoding="utf-8")
            for secret in NEVER_SHOWN:
                assert secret not in content, (kind, fmt, secret)
    for path in tmp_path.glob("*.dictionary.*"):
        text = path.read_text(encoding="utf-8")
        assert not any(secret in text for secret in NEVER_SHOWN)


def test_exports_stream_in_batches(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "transcripts.parquet"
    with out.open("wb") as stream:
        written = write_export(
            "transcripts", "parquet", stream, settings, Window(now=NOW), batch_size=25
        )
    assert written == expected_rows(settings, "transcripts")
    assert pq.ParquetFile(out).num_row_groups == -(-written // 25)


def test_the_data_dictionary_describes_every_column() -> None:
    described = json.loads(as_json())
    assert [e["export"] for e in described["exports"]] == list(KINDS)
    assert set(EXPORT_HELP) == set(KINDS)
    for entry in described["exports"]:
        schema = EXPORTS[entry["export"]].schema
        assert [c["name"] for c in entry["columns"]] == schema.names
        for column in entry["columns"]:
            assert column["type"] == str(schema.field(column["name"]).type)
            assert column["description"]
    checkins = {c["name"]: c for c in described["exports"][1]["columns"]}
    assert checkins["peg_score"]["instrument"] == PEG and "Krebs" in PEG
    assert checkins["pain_average"]["allowed_values"] == "0-10 (integer)"
    markdown = as_markdown()
    assert "## Daily check-ins (long format) (`checkins`)" in markdown
    assert "| `peg_score` | double |" in markdown
    assert pa.types.is_timestamp(EXPORTS["checkins"].schema.field("started_at_utc").type)


runner = CliRunner()


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TRACKER_STORE_URL", settings.tracker_store_url)
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()
    structlog.reset_defaults()


def test_the_export_command_writes_the_file_its_dictionary_and_an_audit_entry(
    cli_env: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "checkins.csv"
    result = runner.invoke(
        app, ["export", "checkins", "--format", "csv", "--out", str(out), "--arm", "A"]
    )
    assert result.exit_code == 0, result.output
    assert "Wrote 3 row(s)" in result.output
    assert len(pd.read_csv(out)) == 3
    assert (
        json.loads((tmp_path / "checkins.dictionary.json").read_text())["exports"][0]["export"]
        == "checkins"
    )
    with session_scope(cli_env.database_url) as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "export"))
        assert entry is not None
        assert (entry.target, entry.address, entry.detail) == (
            "checkins (csv)",
            "cli",
            "rows=3; arm=A",
        )
    result = runner.invoke(app, ["export", "dictionary", "--out", str(tmp_path / "dict")])
    assert result.exit_code == 0
    assert "## Engagement per participant" in (tmp_path / "dict" / "data-dictionary.md").read_text()


@pytest.mark.parametrize(
    ("arguments", "says", "code"),
    [
        (["checkins", "--since", "2026-13-01"], "--since must be a date like", 1),
        (["checkins", "--until", "yesterday"], "--until must be a date like", 1),
        (["checkins", "--since", "2026-03-05", "--until", "2026-03-01"], "is after", 1),
        (["checkins", "--format", "xlsx"], "Unknown format 'xlsx'", 1),
        (["checkins", "--out", "/nonexistent-folder/x.csv"], "Cannot write", 1),
        (["checkins", "--out", "."], "is a folder", 1),
        (["nonsense"], "No such command", 2),
        (["checkins", "--format", "csv"], "Missing option '--out'", 2),
    ],
)
def test_bad_export_arguments_get_one_line_and_no_traceback(
    cli_env: Settings, tmp_path: Path, arguments: list[str], says: str, code: int
) -> None:
    if "--out" not in arguments and arguments != ["checkins", "--format", "csv"]:
        arguments = [*arguments, "--out", str(tmp_path / "x.csv")]
    result = runner.invoke(app, ["export", *arguments])
    assert result.exit_code == code
    assert says in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x.csv").exists()
