"""The provider's patients: the caseload list and each patient's record and conversation."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paincoach import content
from paincoach.console import audit, caseload
from paincoach.console.charts import record_charts
from paincoach.console.dependencies import (
    ConsoleState,
    Modules,
    OwnPatient,
    Provider,
    is_htmx,
    provider,
    render,
)
from paincoach.db.models import Participant

router = APIRouter(prefix="/patients", tags=["patients"], dependencies=[Depends(provider)])


def reply_problem(body: str) -> str | None:
    """Why a reply cannot be sent as typed, or None."""
    if not body.strip():
        return "Write a reply before sending."
    if len(body) > caseload.REPLY_MAX:
        return (
            f"Your reply has {len(body):,} characters; the limit is {caseload.REPLY_MAX:,}. "
            "Please shorten it."
        )
    return None


@router.get("", response_class=HTMLResponse)
def patient_list(
    request: Request, user: Provider, state: ConsoleState, modules: Modules
) -> HTMLResponse:
    """Every patient of this provider, those who need attention first."""
    rows = caseload.caseload(
        state.settings.database_url, user.id, modules.modules, state.settings.worse_threshold
    )
    return render(request, "patients/list.html", {"patients": rows})


def _record_page(
    request: Request,
    state: ConsoleState,
    patient: Participant,
    modules: Modules,
    *,
    reply: str = "",
    error: str | None = None,
    sent: bool = False,
    status_code: int = 200,
    block: str | None = None,
) -> HTMLResponse:
    record = caseload.patient_record(state.settings.database_url, patient.id, modules.modules)
    context = {
        "record": record,
        "patient": record.patient,
        "reply": reply,
        "reply_error": error,
        "reply_sent": sent or request.query_params.get("sent") == "1",
        "reply_max": caseload.REPLY_MAX,
        "exercise_titles": {e.id: e.title for e in content.exercises().values()},
    }
    if block is None:
        svg = record_charts(record.checkins, record.patient.timezone)
        context["charts"] = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    return render(request, "patients/detail.html", context, status_code=status_code, block=block)


@router.get("/{pseudonym}", response_class=HTMLResponse)
def patient_page(
    request: Request, patient: OwnPatient, state: ConsoleState, modules: Modules
) -> HTMLResponse:
    """One patient's last 30 days, toolbox, goal, plan, modules, safety and conversation."""
    audit.record_request(request, "patient_view", target=patient.pseudonym)
    caseload.mark_read(state.settings.database_url, patient.id)
    return _record_page(request, state, patient, modules)


@router.post("/{pseudonym}/reply", response_class=HTMLResponse)
def reply(
    request: Request,
    patient: OwnPatient,
    user: Provider,
    state: ConsoleState,
    modules: Modules,
    body: Annotated[str, Form()] = "",
) -> Response:
    """Send a reply to the patient's chat (the gateway delivers it), or keep it and say why."""
    problem = reply_problem(body)
    if problem is not None:
        return _record_page(
            request, state, patient, modules, reply=body, error=problem, status_code=422,
            block="conversation" if is_htmx(request) else None,
        )  # fmt: skip
    caseload.add_reply(state.settings.database_url, patient.id, user.id, body.strip())
    if is_htmx(request):
        return _record_page(request, state, patient, modules, sent=True, block="conversation")
    return RedirectResponse(f"/patients/{patient.pseudonym}?sent=1#conversation", status_code=303)
