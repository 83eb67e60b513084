"""For researchers: pseudonymised participants and transcripts, search, qualitative coding,
exports and the engagement dashboard.

Everything shown comes from `paincoach.research`, which only ever returns participants with
research consent who have not withdrawn, by pseudonym, with care-team messages, nicknames and
(without free-text consent) the patient's own words withheld. Every view of a transcript,
every search and every export is written to the audit log.
"""

from __future__ import annotations

import base64
import itertools
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import IO, Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from markupsafe import Markup, escape

from paincoach.console import audit
from paincoach.console.dependencies import (
    Console,
    ConsoleState,
    Modules,
    Researcher,
    not_found,
    render,
    researcher,
)
from paincoach.db.engine import session_scope
from paincoach.research import dashboard, qdpx
from paincoach.research.coding import (
    DEFAULT_COLOUR,
    MEMO_MAX,
    Codebook,
    CodeForm,
    CodingError,
    CodingView,
    segments_csv,
)
from paincoach.research.dictionary import as_json, as_markdown
from paincoach.research.exports import (
    FORMATS,
    KINDS,
    ExportError,
    Window,
    record_export,
    write_export,
)
from paincoach.research.members import Member, members
from paincoach.research.transcripts import KINDS as TURN_KINDS
from paincoach.research.transcripts import ResearchStore, Turn
from paincoach.research.turns import TEXT_KINDS

router = APIRouter(prefix="/research", tags=["research"], dependencies=[Depends(researcher)])

SEARCH_LIMIT = 200
QUERY_MAX = 200
IDENTIFIER = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}
CHUNK = 64 * 1024


def _store(state: Console) -> ResearchStore:
    return ResearchStore(state.settings)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M")


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def _date(value: str, name: str, problems: dict[str, str]) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        problems[name] = f"'{value.strip()[:40]}' is not a date like 2026-03-31."
        return None


def _members(state: Console) -> list[Member]:
    """Who researchers may see, from the app database alone (no counts: cheap on every page)."""
    with session_scope(state.settings.database_url) as session:
        return members(session)


def _arms(state: Console) -> list[str]:
    return sorted({m.study_arm for m in _members(state) if m.study_arm})


# --- participants -----------------------------------------------------------------------------


@router.get("/participants", response_class=HTMLResponse)
def participants_page(request: Request, state: ConsoleState, arm: str = "") -> HTMLResponse:
    """Every participant researchers may see, by pseudonym, with counts; one arm if chosen."""
    store = _store(state)
    everyone = store.participants()
    arms = sorted({p.study_arm for p in everyone if p.study_arm})
    shown = [p for p in everyone if p.study_arm == arm] if arm else everyone
    audit.record_request(request, "participants_view", detail=f"arm={arm}" if arm else None)
    return render(
        request, "research/participants.html", {"participants": shown, "arms": arms, "arm": arm}
    )


# --- transcripts: filters and search ----------------------------------------------------------


@dataclass
class TurnQuery:
    """The transcript filters as typed, what could not be read, and the store's arguments."""

    form: dict[str, str]
    problems: dict[str, str]
    arguments: dict[str, Any]

    @property
    def asked(self) -> bool:
        return any(self.form.values())


FILTER_FIELDS = ("q", "pseudonym", "arm", "since", "until", "module", "intent", "below", "kind")


def _turn_query(request: Request, module_ids: list[str]) -> TurnQuery:
    params = request.query_params
    form = {name: params.get(name, "")[: QUERY_MAX + 1].strip() for name in FILTER_FIELDS}
    problems: dict[str, str] = {}
    if len(form["q"]) > QUERY_MAX:
        problems["q"] = f"Search for at most {QUERY_MAX} characters."
    since = _date(form["since"], "since", problems)
    until = _date(form["until"], "until", problems)
    if since and until and until < since:
        problems["until"] = "The end date is before the start date."
    if form["module"] and form["module"] not in module_ids:
        problems["module"] = "Choose a module from the list."
    if form["intent"] and not IDENTIFIER.match(form["intent"]):
        problems["intent"] = "An intent is one word, like flare_up."
    if form["kind"] and form["kind"] not in TURN_KINDS:
        problems["kind"] = "Choose a kind of turn from the list."
    below: float | None = None
    if form["below"]:
        try:
            below = float(form["below"].replace(",", "."))
        except ValueError:
            below = None
        if below is None or not 0 < below <= 1:
            problems["below"] = "A confidence threshold is a number between 0 and 1, like 0.6."
            below = None
    arguments = {
        "pseudonym": form["pseudonym"] or None,
        "arm": form["arm"] or None,
        "since": since,
        "until": until,
        "module": form["module"] or None,
        "intent": form["intent"] or None,
        "max_confidence": below,
        "kind": form["kind"] or None,
        "limit": SEARCH_LIMIT,
    }
    return TurnQuery(form, problems, arguments)


@router.get("/transcripts", response_class=HTMLResponse)
def transcripts_page(request: Request, state: ConsoleState, modules: Modules) -> HTMLResponse:
    """Turns across all transcripts that match the filters, or a full-text search with the
    matched words highlighted."""
    module_ids = sorted(modules.modules)
    query = _turn_query(request, module_ids)
    store = _store(state)
    hits = []
    if query.asked and not query.problems:
        if query.form["q"]:
            hits = store.search(query.form["q"], **query.arguments)
        else:
            hits = store.turns(**query.arguments)
        used = [name for name in FILTER_FIELDS if query.form[name] and name != "q"]
        detail = ("full-text search; " if query.form["q"] else "") + (
            "filters: " + ", ".join(used) if used else "no filters"
        )
        audit.record_request(
            request,
            "transcript_search",
            target=query.form["pseudonym"] or None,
            detail=f"{detail}; {len(hits)} turns",
        )
    participants = _members(state)
    return render(
        request,
        "research/transcripts.html",
        {
            "query": query,
            "hits": hits,
            "limit": SEARCH_LIMIT,
            "module_ids": module_ids,
            "kinds": TURN_KINDS,
            "pseudonyms": [p.pseudonym for p in participants],
            "arms": sorted({p.study_arm for p in participants if p.study_arm}),
        },
        status_code=422 if query.problems else 200,
    )


# --- one transcript, and coding it ------------------------------------------------------------


def coded_pieces(text: str, codings: list[CodingView]) -> Markup:
    """The message text with each coded stretch in a <span> coloured by its first code; the
    element's text stays exactly the message text, so selection offsets match."""
    if not codings:
        return escape(text)
    cuts = sorted({0, len(text), *(c.start for c in codings), *(c.end for c in codings)})
    pieces = []
    for begin, end in itertools.pairwise(cuts):
        if begin >= end or end > len(text):
            continue
        covering = [c for c in codings if c.start <= begin and c.end >= end]
        words = escape(text[begin:end])
        if covering:
            names = escape(", ".join(dict.fromkeys(c.code_name for c in covering)))
            pieces.append(
                Markup(
                    f'<span class="coded code-{covering[0].code_id}" title="{names}">{words}</span>'
                )
            )
        else:
            pieces.append(Markup(words))
    return Markup("").join(pieces)


def _transcript_page(
    request: Request,
    state: Console,
    user_id: int,
    pseudonym: str,
    *,
    turns: list[Turn] | None = None,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    store = _store(state)
    turns = turns if turns is not None else store.transcript(pseudonym)
    if turns is None:
        raise not_found()
    summary = next((m for m in _members(state) if m.pseudonym == pseudonym), None)
    counts = {kind: sum(1 for t in turns if t.kind == kind) for kind in TEXT_KINDS}
    book = Codebook(state.settings)
    by_event: dict[int, list[CodingView]] = {}
    for view in book.codings(pseudonym):
        by_event.setdefault(view.event_id, []).append(view)
    rendered = {
        t.event_id: coded_pieces(t.text, by_event.get(t.event_id, []))
        for t in turns
        if t.text is not None and t.kind in TEXT_KINDS
    }
    return render(
        request,
        "research/transcript.html",
        {
            "pseudonym": pseudonym,
            "summary": summary,
            "counts": counts,
            "turns": turns,
            "rendered": rendered,
            "codings": by_event,
            "codes": book.codes(),
            "coder_id": user_id,
            "text_kinds": TEXT_KINDS,
            "memo_max": MEMO_MAX,
            "default_colour": DEFAULT_COLOUR,
            "form": form
            or {
                "event_id": "",
                "start": "",
                "end": "",
                "code_ids": [],
                "new_code": "",
                "new_colour": DEFAULT_COLOUR,
                "memo": "",
            },
            "error": error,
            "coded": request.query_params.get("coded") == "1",
        },
        status_code=status_code,
    )


@router.get("/transcripts/{pseudonym}", response_class=HTMLResponse)
def transcript_page(
    request: Request, pseudonym: str, user: Researcher, state: ConsoleState
) -> HTMLResponse:
    """Every turn of one conversation in order, with times in UTC and the participant's own,
    and the codings of every coder."""
    turns = _store(state).transcript(pseudonym)
    if turns is None:
        raise not_found()
    audit.record_request(request, "transcript_view", target=pseudonym)
    return _transcript_page(request, state, user.id, pseudonym, turns=turns)


def _number(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


@router.post("/transcripts/{pseudonym}/codings", response_class=HTMLResponse)
def add_coding(
    request: Request,
    pseudonym: str,
    user: Researcher,
    state: ConsoleState,
    event_id: Annotated[str, Form()] = "",
    start: Annotated[str, Form()] = "",
    end: Annotated[str, Form()] = "",
    memo: Annotated[str, Form()] = "",
    new_code: Annotated[str, Form()] = "",
    new_colour: Annotated[str, Form()] = DEFAULT_COLOUR,
    code_ids: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Apply the ticked codes (and a new one, if named) to the selected words, with a memo."""
    return _add_coding(
        request, pseudonym, user.id, state, event_id, start, end, memo, new_code, new_colour,
        code_ids or [],
    )  # fmt: skip


def _add_coding(
    request: Request,
    pseudonym: str,
    user_id: int,
    state: Console,
    event_id: str,
    start: str,
    end: str,
    memo: str,
    new_code: str,
    new_colour: str,
    code_ids: list[str],
) -> Response:
    store = _store(state)
    turns = store.transcript(pseudonym)
    if turns is None:
        raise not_found()
    form = {
        "event_id": event_id[:20],
        "start": start[:20],
        "end": end[:20],
        "code_ids": code_ids,
        "new_code": new_code[:200],
        "new_colour": new_colour[:7],
        "memo": memo,
    }
    book = Codebook(state.settings)
    try:
        numbers = [_number(event_id), _number(start), _number(end)]
        if None in numbers:
            raise CodingError("Select some words of a message first.")
        chosen = [_number(code) for code in code_ids]
        if None in chosen:
            raise CodingError("One of the chosen codes no longer exists.")
        event, first, last = (int(n) for n in numbers)  # type: ignore[arg-type]
        book.span(pseudonym, event, first, last, turns)
        ids = [int(code) for code in chosen]  # type: ignore[arg-type]
        if len(memo) > MEMO_MAX:
            raise CodingError(f"A memo has at most {MEMO_MAX:,} characters.")
        if new_code.strip():
            existing = book.code_named(new_code)
            if existing is None:
                existing = book.add_code(CodeForm(new_code, "", new_colour), user_id)
                audit.record_request(request, "code_add", target=existing.name)
            ids.append(existing.id)
        saved = book.apply(pseudonym, event, first, last, ids, memo, user_id, turns)
    except CodingError as problem:
        return _transcript_page(
            request,
            state,
            user_id,
            pseudonym,
            turns=turns,
            form=form,
            error=str(problem),
            status_code=422,
        )
    audit.record_request(
        request, "coding_add", target=pseudonym, detail=f"message {event}, {len(saved)} code(s)"
    )
    return RedirectResponse(
        f"/research/transcripts/{pseudonym}?coded=1#turn-{event}", status_code=303
    )


@router.post("/codings/{coding_id}/delete")
def delete_coding(
    request: Request, coding_id: int, user: Researcher, state: ConsoleState
) -> RedirectResponse:
    """Remove one of your own codings (another coder's is theirs to remove)."""
    pseudonym = Codebook(state.settings).remove(coding_id, user.id)
    if pseudonym is None:
        raise not_found()
    audit.record_request(request, "coding_delete", target=pseudonym, detail=f"coding {coding_id}")
    return RedirectResponse(f"/research/transcripts/{pseudonym}", status_code=303)


# --- the codebook -----------------------------------------------------------------------------


def _codebook_page(
    request: Request,
    state: Console,
    *,
    form: CodeForm | None = None,
    error: str | None = None,
    edit: tuple[int, CodeForm, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    book = Codebook(state.settings)
    counts: dict[int, int] = {}
    for view in book.codings():
        counts[view.code_id] = counts.get(view.code_id, 0) + 1
    return render(
        request,
        "research/codebook.html",
        {
            "codes": book.codes(),
            "counts": counts,
            "form": form or CodeForm(),
            "error": error,
            "edit": edit,
            "done": request.query_params.get("done"),
        },
        status_code=status_code,
    )


@router.get("/codebook", response_class=HTMLResponse)
def codebook_page(request: Request, state: ConsoleState) -> HTMLResponse:
    """The project's codes, as a tree, with how often each was applied."""
    return _codebook_page(request, state)


@router.post("/codebook", response_class=HTMLResponse)
def add_code(
    request: Request,
    user: Researcher,
    state: ConsoleState,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    colour: Annotated[str, Form()] = DEFAULT_COLOUR,
    parent: Annotated[str, Form()] = "",
) -> Response:
    """Add a code; bad input is explained and what was typed stays."""
    form = CodeForm(name[:200], description[:3000], colour[:20], parent[:20])
    try:
        code = Codebook(state.settings).add_code(form, user.id)
    except CodingError as problem:
        return _codebook_page(request, state, form=form, error=str(problem), status_code=422)
    audit.record_request(request, "code_add", target=code.name)
    return RedirectResponse("/research/codebook?done=added", status_code=303)


@router.post("/codebook/{code_id}", response_class=HTMLResponse)
def change_code(
    request: Request,
    code_id: int,
    state: ConsoleState,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    colour: Annotated[str, Form()] = DEFAULT_COLOUR,
    parent: Annotated[str, Form()] = "",
) -> Response:
    """Rename a code, describe it, recolour it or file it under another."""
    book = Codebook(state.settings)
    if book.code(code_id) is None:
        raise not_found()
    form = CodeForm(name[:200], description[:3000], colour[:20], parent[:20])
    try:
        code = book.update_code(code_id, form)
    except CodingError as problem:
        return _codebook_page(request, state, edit=(code_id, form, str(problem)), status_code=422)
    audit.record_request(request, "code_change", target=code.name)
    return RedirectResponse("/research/codebook?done=changed", status_code=303)


@router.get("/codebook.css")
def codebook_css(state: ConsoleState) -> Response:
    """Each code's colour as a class, so pages show codes without inline styles (CSP)."""
    rules = []
    for node in Codebook(state.settings).codes():
        colour = node.colour if re.fullmatch(r"#[0-9a-f]{6}", node.colour) else DEFAULT_COLOUR
        rules.append(
            f".code-{node.id} {{ background-color: {colour}40; "
            f"border-bottom: 2px solid {colour}; }}\n"
            f".swatch-{node.id} {{ background-color: {colour}; }}\n"
        )
    return Response("".join(rules), media_type="text/css")


# --- exports ----------------------------------------------------------------------------------


def _window(form: dict[str, str], problems: dict[str, str]) -> Window | None:
    since = _date(form.get("since", ""), "since", problems)
    until = _date(form.get("until", ""), "until", problems)
    if since and until and until < since:
        problems["until"] = "The end date is before the start date."
    if problems:
        return None
    return Window(since, until, form.get("arm") or None)


def _export_page(
    request: Request,
    state: Console,
    form: dict[str, str],
    problems: dict[str, str],
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "research/exports.html",
        {
            "kinds": KINDS,
            "formats": FORMATS,
            "form": form,
            "problems": problems,
            "arms": _arms(state),
        },
        status_code=status_code,
    )


@router.get("/export", response_class=HTMLResponse)
def export_page(request: Request, state: ConsoleState) -> HTMLResponse:
    """Every download: the data exports with their dictionary, coded segments and REFI-QDA."""
    form = {"kind": "checkins", "format": "csv", "since": "", "until": "", "arm": ""}
    return _export_page(request, state, form, {})


def _stream_file(spool: IO[bytes]) -> Iterator[bytes]:
    try:
        spool.seek(0)
        while chunk := spool.read(CHUNK):
            yield chunk
    finally:
        spool.close()


def _spool() -> IO[bytes]:
    """Where a download is written before it is sent: memory first, disk past 16 MB."""
    return tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)


@router.get("/export/qdpx")
def export_qdpx(request: Request, user: Researcher, state: ConsoleState, arm: str = "") -> Response:
    """The REFI-QDA project (.qdpx): transcripts, codebook, codings and memos."""
    spool = _spool()
    summary = qdpx.write_qdpx(state.settings, spool, arm=arm or None)
    record_export(
        state.settings,
        "qdpx",
        "qdpx",
        summary.codings,
        Window(arm=arm or None),
        address=audit.client_address(request),
        actor_id=user.id,
        actor_email=user.email,
    )
    return StreamingResponse(
        _stream_file(spool),
        media_type="application/zip",
        headers=_attachment(f"paincoach-{_stamp()}.qdpx"),
    )


@router.get("/export/codings.csv")
def export_codings(request: Request, user: Researcher, state: ConsoleState) -> Response:
    """Coded segments as CSV: code, coder, pseudonym, time, text, memo."""
    spool = _spool()
    rows = -1
    for chunk in segments_csv(state.settings):
        spool.write(chunk.encode("utf-8"))
        rows += 1
    record_export(
        state.settings,
        "codings",
        "csv",
        rows,
        Window(),
        address=audit.client_address(request),
        actor_id=user.id,
        actor_email=user.email,
    )
    return StreamingResponse(
        _stream_file(spool),
        media_type=MEDIA_TYPES["csv"],
        headers=_attachment(f"paincoach-coded-segments-{_stamp()}.csv"),
    )


@router.get("/export/dictionary.{fmt}")
def export_dictionary(fmt: str) -> Response:
    """The data dictionary of every export: each column's type, unit, values and instrument."""
    if fmt == "json":
        return Response(
            as_json() + "\n",
            media_type="application/json",
            headers=_attachment("paincoach-data-dictionary.json"),
        )
    if fmt == "md":
        return Response(
            as_markdown(),
            media_type="text/markdown; charset=utf-8",
            headers=_attachment("paincoach-data-dictionary.md"),
        )
    raise not_found()


@router.get("/export/data", response_class=HTMLResponse)
def export_data(request: Request, user: Researcher, state: ConsoleState) -> Response:
    """One export (transcripts, check-ins, ...) as CSV, JSON Lines or Parquet."""
    params = request.query_params
    form = {
        name: params.get(name, "")[:40].strip()
        for name in ("kind", "format", "since", "until", "arm")
    }
    problems: dict[str, str] = {}
    if form["kind"] not in KINDS:
        problems["kind"] = "Choose what to export from the list."
    if form["format"] not in FORMATS:
        problems["format"] = "Choose CSV, JSON Lines or Parquet."
    window = _window(form, problems)
    if window is None or problems:
        return _export_page(request, state, form, problems, status_code=422)
    spool = _spool()
    try:
        rows = write_export(form["kind"], form["format"], spool, state.settings, window)
    except ExportError as problem:
        spool.close()
        return _export_page(request, state, form, {"kind": str(problem)}, status_code=422)
    record_export(
        state.settings,
        form["kind"],
        form["format"],
        rows,
        window,
        address=audit.client_address(request),
        actor_id=user.id,
        actor_email=user.email,
    )
    return StreamingResponse(
        _stream_file(spool),
        media_type=MEDIA_TYPES[form["format"]],
        headers=_attachment(f"paincoach-{form['kind']}-{_stamp()}.{form['format']}"),
    )


# --- the engagement dashboard -----------------------------------------------------------------


def _dashboard_filters(request: Request) -> tuple[dict[str, str], dict[str, str], Window | None]:
    params = request.query_params
    form = {name: params.get(name, "")[:40].strip() for name in ("arm", "since", "until")}
    problems: dict[str, str] = {}
    return form, problems, _window(form, problems)


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, state: ConsoleState) -> HTMLResponse:
    """Engagement at a glance: six charts, each with its data as CSV."""
    form, problems, window = _dashboard_filters(request)
    charts = []
    if window is not None:
        for chart in dashboard.CHARTS.values():
            svg = dashboard.draw(chart.key, chart.table(state.settings, window))
            source = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
            charts.append((chart, source))
        audit.record_request(
            request,
            "dashboard_view",
            detail=", ".join(f"{k}={v}" for k, v in form.items() if v) or None,
        )
    query = urlencode({k: v for k, v in form.items() if v})
    return render(
        request,
        "research/dashboard.html",
        {
            "charts": charts,
            "form": form,
            "problems": problems,
            "arms": _arms(state),
            "query": query,
        },
        status_code=422 if problems else 200,
    )


@router.get("/dashboard/{chart}.csv")
def dashboard_csv(request: Request, chart: str, user: Researcher, state: ConsoleState) -> Response:
    """The numbers behind one chart, as CSV."""
    found = dashboard.CHARTS.get(chart)
    if found is None:
        raise not_found()
    _, _, window = _dashboard_filters(request)
    if window is None:
        return RedirectResponse(f"/research/dashboard?{request.url.query}", status_code=303)
    table = found.table(state.settings, window)
    record_export(
        state.settings,
        f"dashboard {chart}",
        "csv",
        len(table.rows),
        window,
        address=audit.client_address(request),
        actor_id=user.id,
        actor_email=user.email,
    )
    return Response(
        table.csv(),
        media_type=MEDIA_TYPES["csv"],
        headers=_attachment(f"paincoach-{chart}-{_stamp()}.csv"),
    )
