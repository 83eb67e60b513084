"""The research console on a small study with known Telegram ids, nicknames and care-team
messages: no researcher page or download contains any of them; transcripts, search, coding, the
codebook, exports and the dashboard work, and bad input is explained with what was typed kept."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from paincoach.db.engine import session_scope
from paincoach.db.models import AuditEntry
from paincoach.research import dashboard, qdpx
from paincoach.research.coding import Codebook, CodeForm
from paincoach.research.exports import FORMATS, KINDS
from paincoach.research.transcripts import ResearchStore, Turn
from paincoach.settings import Settings
from tests.console_client import Browser, add_user, console_app, logged_in
from tests.research_world import (
    FREE,
    NEVER_CONSENTED,
    NEVER_SHOWN,
    NO_RESEARCH,
    PATIENT_WORDS,
    PLAIN,
    WITHDRAWN,
    build,
    research_settings,
)

RESEARCHER = "researcher@uni.example"
OTHER_CODER = "second.coder@uni.example"
HIDDEN_PEOPLE = (NO_RESEARCH.pseudonym, WITHDRAWN.pseudonym, NEVER_CONSENTED.pseudonym)


@dataclass
class Study:
    settings: Settings
    app: FastAPI
    browser: Browser
    coder: int


@pytest.fixture
def study(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Study:
    settings = research_settings(database_url, request, tmp_path)
    build(settings)
    app = console_app(database_url, tracker_store_url=settings.tracker_store_url)
    coder = add_user(app, RESEARCHER, "researcher")
    add_user(app, OTHER_CODER, "researcher")
    return Study(settings, app, logged_in(app, RESEARCHER), coder)


def _turn(settings: Settings, pseudonym: str, text: str) -> Turn:
    return next(t for t in ResearchStore(settings).transcript(pseudonym) or [] if t.text == text)


def _code_something(study: Study) -> None:
    book = Codebook(study.settings)
    code = book.add_code(CodeForm("Body", "Where it hurts", "#aa3300"), study.coder).id
    words = _turn(study.settings, FREE.pseudonym, PATIENT_WORDS)
    book.apply(FREE.pseudonym, words.event_id, 3, 13, [code], "back again", study.coder)


def _readable(response_bytes: bytes, name: str) -> str:
    """A download as text, whatever its format (zip and Parquet are opened up)."""
    if name.endswith(".parquet"):
        return pq.read_table(io.BytesIO(response_bytes)).to_pandas().to_csv()
    if name.endswith(".qdpx"):
        archive = zipfile.ZipFile(io.BytesIO(response_bytes))
        return "".join(archive.read(n).decode() for n in archive.namelist())
    return response_bytes.decode("utf-8")


def _every_researcher_address(study: Study) -> list[str]:
    pages = [
        "/research/participants",
        "/research/participants?arm=A",
        "/research/transcripts",
        "/research/transcripts?q=back",
        "/research/transcripts?q=physio",
        "/research/transcripts?below=0.9",
        "/research/transcripts?kind=slot",
        "/research/transcripts?kind=action",
        "/research/transcripts?kind=form",
        "/research/transcripts?kind=safety",
        "/research/transcripts?kind=module",
        "/research/transcripts?intent=inform",
        f"/research/transcripts?pseudonym={PLAIN.pseudonym}",
        "/research/codebook",
        "/research/codebook.css",
        "/research/export",
        "/research/dashboard",
        "/research/dashboard?arm=B",
        "/research/export/qdpx",
        "/research/export/codings.csv",
        "/research/export/dictionary.json",
        "/research/export/dictionary.md",
        *(f"/research/transcripts/{p.pseudonym}" for p in (FREE, PLAIN)),
        *(f"/research/dashboard/{chart}.csv" for chart in dashboard.CHARTS),
    ]
    for kind in KINDS:
        pages += [f"/research/export/data?kind={kind}&format={fmt}" for fmt in FORMATS]
    return pages


def test_no_researcher_page_or_download_holds_an_id_a_nickname_or_a_care_team_message(
    study: Study,
) -> None:
    _code_something(study)
    seen = 0
    for address in _every_researcher_address(study):
        response = study.browser.get(address)
        assert response.status_code == 200, address
        disposition = response.headers.get("content-disposition", "")
        name = disposition.rsplit("filename=", 1)[-1].strip('"') if disposition else address
        text = html.unescape(_readable(response.content, name))
        for secret in (*NEVER_SHOWN, *HIDDEN_PEOPLE):
            assert secret.lower() not in text.lower(), (address, secret)
        seen += len(text)
    assert seen > 100_000  # the pages and downloads really held the study
    for secret in (FREE.nickname, str(FREE.chat_id), "nerve block"):
        searched = study.browser.get("/research/transcripts", params={"q": secret}).text
        assert "Nothing matches." in searched, secret


def test_participants_lists_only_the_visible_with_their_counts(study: Study) -> None:
    page = study.browser.get("/research/participants").text
    assert FREE.pseudonym in page and PLAIN.pseudonym in page
    row = re.search(rf"{FREE.pseudonym}</a></td>(.*?)</tr>", page, re.S)
    assert row is not None
    cells = re.findall(r"<td>([^<]*)</td>", row.group(1))
    assert cells[0] == "A" and cells[1] == "2026-03-02"
    arm_b = study.browser.get("/research/participants?arm=B").text
    assert PLAIN.pseudonym in arm_b and FREE.pseudonym not in arm_b


def test_a_transcript_shows_every_kind_of_turn_with_both_times(study: Study) -> None:
    page = html.unescape(study.browser.get(f"/research/transcripts/{FREE.pseudonym}").text)
    assert PATIENT_WORDS in page
    assert "2026-03-02 08:01:04 UTC" in page and "2026-03-02 09:01 local" in page
    assert (
        'intent <span class="code">flare_up</span>' in page
        and "(0.88)" in page
        and "body_part</span>=lower back" in page
    )
    assert "<span>Yes</span><span>Not now</span>" in page  # the reply's buttons
    for kind in (
        "kind-patient",
        "kind-bot",
        "kind-action",
        "kind-form",
        "kind-slot",
        "kind-safety",
        "kind-module",
    ):
        assert kind in page, kind
    assert "[care-team message withheld]" in page and "[nickname]" in page
    plain = html.unescape(study.browser.get(f"/research/transcripts/{PLAIN.pseudonym}").text)
    assert "[free text withheld]" in plain and PATIENT_WORDS not in plain
    for hidden in HIDDEN_PEOPLE:
        assert study.browser.get(f"/research/transcripts/{hidden}").status_code == 404


def test_search_highlights_the_words_and_filters_narrow(study: Study) -> None:
    found = study.browser.get("/research/transcripts", params={"q": "lower back"}).text
    assert "<mark>lower</mark> <mark>back</mark>" in found
    assert FREE.pseudonym in found and "#turn-" in found
    assert PLAIN.pseudonym not in found.split('id="results"')[1]  # withheld words are not found
    low = study.browser.get("/research/transcripts", params={"below": "0.4"}).text
    results = low.split('id="results"')[1]
    assert "(0.37)" in results and "(0.88)" not in results
    mine = study.browser.get(
        "/research/transcripts", params={"pseudonym": PLAIN.pseudonym, "kind": "bot"}
    ).text
    assert FREE.pseudonym not in mine.split('id="results"')[1]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "last week"}, "is not a date like 2026-03-31"),
        ({"since": "2026-03-05", "until": "2026-03-01"}, "before the start date"),
        ({"below": "high"}, "a number between 0 and 1"),
        ({"below": "7"}, "a number between 0 and 1"),
        ({"module": "no-such-module"}, "Choose a module"),
        ({"intent": "two words"}, "An intent is one word"),
        ({"kind": "gossip"}, "Choose a kind"),
        ({"q": "x" * 201}, "at most 200 characters"),
    ],
)
def test_bad_filters_are_explained_and_kept(
    study: Study, params: dict[str, str], message: str
) -> None:
    page = study.browser.get("/research/transcripts", params=params)
    assert page.status_code == 422
    text = html.unescape(page.text)
    assert message in text
    for name, value in params.items():
        if name in ("since", "until", "below", "intent", "q"):
            assert f'value="{value[:201]}"' in text


def test_a_researcher_codes_a_span_with_a_new_code_and_a_memo(study: Study) -> None:
    words = _turn(study.settings, FREE.pseudonym, PATIENT_WORDS)
    address = f"/research/transcripts/{FREE.pseudonym}"
    study.browser.get(address)
    saved = study.browser.post(
        f"{address}/codings",
        {
            "event_id": words.event_id,
            "start": 3,
            "end": 13,
            "new_code": "Lower back",
            "new_colour": "#aa3300",
            "memo": "blames the drive",
        },
    )
    assert saved.status_code == 303 and saved.headers["location"].endswith(
        f"?coded=1#turn-{words.event_id}"
    )
    page = study.browser.get(saved.headers["location"]).text
    assert "The coding was saved." in page
    code = Codebook(study.settings).code_named("Lower back")
    assert code is not None
    assert f'<span class="coded code-{code.id}" title="Lower back">lower back</span>' in page
    assert "blames the drive" in page and RESEARCHER in page
    assert f".code-{code.id} {{" in study.browser.get("/research/codebook.css").text
    # A second coder applies the existing code to the whole message; both codings are kept.
    other = logged_in(study.app, OTHER_CODER)
    other.get(address)
    again = other.post(
        f"{address}/codings",
        {"event_id": words.event_id, "start": 0, "end": len(PATIENT_WORDS), "code_ids": [code.id]},
    )
    assert again.status_code == 303
    views = Codebook(study.settings).codings(FREE.pseudonym)
    assert {(v.coder, v.start, v.end) for v in views} == {
        (RESEARCHER, 3, 13),
        (OTHER_CODER, 0, len(PATIENT_WORDS)),
    }
    # Each removes only their own.
    theirs = next(v for v in views if v.coder == OTHER_CODER)
    assert study.browser.post(f"/research/codings/{theirs.id}/delete").status_code == 404
    assert other.post(f"/research/codings/{theirs.id}/delete").status_code == 303
    with session_scope(study.settings.database_url) as session:
        actions = set(session.scalars(select(AuditEntry.action)))
    assert {"transcript_view", "coding_add", "code_add", "coding_delete"} <= actions


def test_a_coding_that_cannot_be_saved_says_why_and_keeps_the_form(study: Study) -> None:
    words = _turn(study.settings, FREE.pseudonym, PATIENT_WORDS)
    address = f"/research/transcripts/{FREE.pseudonym}"
    study.browser.get(address)
    memo = "a memo worth keeping"
    cases = [
        ({"memo": memo}, "Select some words of a message first."),
        (
            {"event_id": words.event_id, "start": 3, "end": 13, "memo": memo},
            "Choose at least one code",
        ),
        (
            {"event_id": words.event_id, "start": 13, "end": 3, "memo": memo, "new_code": "New"},
            "Select some words",
        ),
        (
            {
                "event_id": words.event_id,
                "start": 3,
                "end": 13,
                "memo": "m" * 5001,
                "new_code": "New",
            },
            "A memo has at most 5,000 characters",
        ),
        (
            {
                "event_id": words.event_id,
                "start": 3,
                "end": 13,
                "memo": memo,
                "new_code": "New",
                "new_colour": "pink",
            },
            "The colour must look like",
        ),
    ]
    for form, message in cases:
        refused = study.browser.post(f"{address}/codings", form)
        assert refused.status_code == 422, form
        text = html.unescape(refused.text)
        assert message in text, message
        if len(form["memo"]) < 100:
            assert f">{memo}</textarea>" in text
        if "new_code" in form:
            assert 'value="New"' in text
    assert Codebook(study.settings).codings() == []
    assert Codebook(study.settings).code_named("New") is None


def test_the_codebook_adds_and_changes_codes_and_explains_refusals(study: Study) -> None:
    study.browser.get("/research/codebook")
    added = study.browser.post(
        "/research/codebook", {"name": "Body", "description": "Where", "colour": "#112233"}
    )
    assert added.status_code == 303
    body = Codebook(study.settings).code_named("Body")
    assert body is not None
    child = study.browser.post(
        "/research/codebook", {"name": "Back", "colour": "#445566", "parent": str(body.id)}
    )
    assert child.status_code == 303
    page = study.browser.get("/research/codebook").text
    assert "Body" in page and 'class="depth-1"><span class="swatch' in page
    refused = study.browser.post(
        "/research/codebook", {"name": "Body", "description": "typed", "colour": "#000000"}
    )
    assert refused.status_code == 422
    assert (
        "already a code named &#39;Body&#39;" in refused.text
        and ">typed</textarea>" in refused.text
    )
    back = Codebook(study.settings).code_named("Back")
    assert back is not None
    loop = study.browser.post(
        f"/research/codebook/{body.id}",
        {"name": "Body", "colour": "#112233", "parent": str(back.id)},
    )
    assert loop.status_code == 422 and "cannot be filed under itself" in loop.text
    renamed = study.browser.post(
        f"/research/codebook/{back.id}",
        {"name": "Lower back", "colour": "#445566", "parent": str(body.id)},
    )
    assert renamed.status_code == 303
    assert Codebook(study.settings).code_named("Lower back") is not None
    assert study.browser.post("/research/codebook/999999", {"name": "x"}).status_code == 404


def test_downloads_read_back_and_are_audited(study: Study) -> None:
    _code_something(study)
    parquet = study.browser.get(
        "/research/export/data", params={"kind": "checkins", "format": "parquet", "arm": "A"}
    )
    assert parquet.status_code == 200 and "attachment" in parquet.headers["content-disposition"]
    table = pq.read_table(io.BytesIO(parquet.content)).to_pandas()
    assert set(table["pseudonym"]) == {FREE.pseudonym}
    segments = list(
        csv.DictReader(io.StringIO(study.browser.get("/research/export/codings.csv").text))
    )
    assert [(s["code"], s["coder"], s["pseudonym"], s["text"], s["memo"]) for s in segments] == [
        ("Body", RESEARCHER, FREE.pseudonym, "lower back", "back again")
    ]
    assert segments[0]["time_utc"].startswith("2026-03-02T08:01")
    project = qdpx.read_qdpx(io.BytesIO(study.browser.get("/research/export/qdpx").content))
    assert [s.text for s in project.selections] == ["lower back"]
    dictionary = json.loads(study.browser.get("/research/export/dictionary.json").text)
    assert dictionary
    bad = study.browser.get(
        "/research/export/data", params={"kind": "secrets", "format": "xls", "since": "soon"}
    )
    assert bad.status_code == 422
    text = html.unescape(bad.text)
    assert "Choose what to export" in text and "Choose CSV" in text and 'value="soon"' in text
    with session_scope(study.settings.database_url) as session:
        exports = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "export").order_by(AuditEntry.id)
        ).all()
    assert [e.target for e in exports] == ["checkins (parquet)", "codings (csv)", "qdpx (qdpx)"]
    assert all(e.actor_email == RESEARCHER and e.address for e in exports)
    assert "arm=A" in (exports[0].detail or "")


def test_the_dashboard_draws_six_charts_each_with_its_data(study: Study) -> None:
    page = study.browser.get("/research/dashboard").text
    assert page.count('<img src="data:image/svg+xml;base64,') == 6
    for chart in dashboard.CHARTS:
        assert f"/research/dashboard/{chart}.csv" in page
    peg = list(csv.DictReader(io.StringIO(study.browser.get("/research/dashboard/peg.csv").text)))
    assert peg[0]["week_since_enrolment"] == "1" and float(peg[0]["mean_peg"]) > 0
    modules = study.browser.get("/research/dashboard/modules.csv").text
    assert "understanding-pain,2,2,2,1.0" in modules
    only_b = study.browser.get("/research/dashboard/adherence.csv", params={"arm": "B"}).text
    assert PLAIN.pseudonym in only_b and FREE.pseudonym not in only_b
    later = study.browser.get("/research/dashboard/active.csv", params={"since": "2026-03-04"})
    assert "2026-03-02" not in later.text and "2026-03-04" in later.text
    bad = study.browser.get("/research/dashboard", params={"since": "someday"})
    assert bad.status_code == 422 and 'value="someday"' in bad.text
    assert "data:image/svg" not in bad.text
    assert study.browser.get("/research/dashboard/nothing.csv").status_code == 404
