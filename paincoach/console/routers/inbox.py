"""The inbox: patients' messages to the care team, newest first, answered from here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paincoach.console import caseload
from paincoach.console.dependencies import ConsoleState, Provider, provider, render
from paincoach.console.routers.patients import reply_problem

router = APIRouter(prefix="/inbox", tags=["inbox"], dependencies=[Depends(provider)])


def _page(
    request: Request,
    state: ConsoleState,
    user_id: int,
    *,
    replying: str = "",
    reply: str = "",
    error: str | None = None,
    sent: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    messages = caseload.inbox(state.settings.database_url, user_id)
    newest: dict[str, int] = {}  # the reply box sits under each patient's newest message
    for message in messages:
        newest.setdefault(message.pseudonym, message.id)
    return render(
        request,
        "inbox/page.html",
        {
            "messages": messages,
            "unread": sum(m.unread for m in messages),
            "reply_form_ids": set(newest.values()),
            "target_id": newest.get(replying),
            "reply": reply,
            "reply_error": error,
            "sent": sent,
            "reply_max": caseload.REPLY_MAX,
        },
        status_code=status_code,
    )


@router.get("", response_class=HTMLResponse)
def inbox_page(request: Request, user: Provider, state: ConsoleState) -> HTMLResponse:
    """Every message from this provider's patients, newest first, unread marked."""
    return _page(request, state, user.id, sent=request.query_params.get("sent"))


@router.post("/reply", response_class=HTMLResponse)
def reply(
    request: Request,
    user: Provider,
    state: ConsoleState,
    pseudonym: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
) -> Response:
    """Answer a patient from the inbox; the gateway delivers the reply to their chat."""
    url = state.settings.database_url
    patient = caseload.own_patient(url, user.id, pseudonym) if pseudonym else None
    problem = "This is not one of your patients." if patient is None else reply_problem(body)
    if problem is not None or patient is None:
        return _page(
            request, state, user.id, replying=pseudonym[:64], reply=body, error=problem,
            status_code=422,
        )  # fmt: skip
    caseload.add_reply(url, patient.id, user.id, body.strip())
    return RedirectResponse(f"/inbox?sent={patient.pseudonym}", status_code=303)
