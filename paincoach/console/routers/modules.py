"""Modules as the patient will see them, and pushing them to patients through the scheduler."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paincoach.console import caseload
from paincoach.console.dependencies import (
    ConsoleState,
    Modules,
    Provider,
    not_found,
    provider,
    render,
)
from paincoach.modules import push as pushes
from paincoach.modules.preview import step_lines

router = APIRouter(tags=["modules"], dependencies=[Depends(provider)])

LOCAL_TIME_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends


@router.get("/modules", response_class=HTMLResponse)
def module_page(request: Request, modules: Modules) -> HTMLResponse:
    """Every module step by step as the patient sees it, and the programmes."""
    previews = {
        module.id: [(step, step_lines(step)) for step in module.steps]
        for module in modules.modules.values()
    }
    return render(
        request,
        "modules/catalogue.html",
        {"catalogue": modules, "previews": previews},
    )


def _push_page(
    request: Request,
    state: ConsoleState,
    user_id: int,
    modules: Modules,
    form: dict[str, object],
    *,
    errors: dict[str, str] | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    url = state.settings.database_url
    return render(
        request,
        "modules/push.html",
        {
            "catalogue": modules,
            "patients": caseload.own_pseudonyms(url, user_id),
            "scheduled": pushes.PushStore(url, modules).scheduled(user_id),
            "form": form,
            "errors": errors or {},
            "done": done,
        },
        status_code=status_code,
    )


def _blank() -> dict[str, object]:
    return {"target": "", "pseudonyms": [], "when": "now", "at": ""}


@router.get("/push", response_class=HTMLResponse)
def push_page(
    request: Request, user: Provider, state: ConsoleState, modules: Modules, to: str = ""
) -> HTMLResponse:
    """The push form (optionally with one patient ticked) and what is scheduled."""
    form = _blank()
    if to:
        form["pseudonyms"] = [to]
    done, cancelled = request.query_params.get("done", ""), request.query_params.get("cancelled")
    notice = (f"Scheduled {done} module release(s)." if done.isdigit() else None) or (
        "The push was cancelled." if cancelled else None
    )
    return _push_page(request, state, user.id, modules, form, done=notice)


@router.post("/push", response_class=HTMLResponse)
def push(
    request: Request,
    user: Provider,
    state: ConsoleState,
    modules: Modules,
    target: Annotated[str, Form()] = "",
    pseudonyms: Annotated[list[str] | None, Form()] = None,
    when: Annotated[str, Form()] = "now",
    at: Annotated[str, Form()] = "",
) -> Response:
    """Schedule a module or programme for the chosen patients, now or at their local time."""
    chosen = [p for p in (pseudonyms or []) if p.strip()]
    form: dict[str, object] = {"target": target, "pseudonyms": chosen, "when": when, "at": at}
    errors: dict[str, str] = {}
    at_local: datetime | None = None
    if when == "at":
        if not at.strip():
            errors["at"] = "Choose the date and time, or choose 'now'."
        else:
            try:
                at_local = datetime.strptime(at.strip(), LOCAL_TIME_FORMAT)
            except ValueError:
                errors["at"] = f"'{at.strip()[:30]}' is not a date and time like 2026-03-01T09:30."
    if not errors:
        try:
            scheduled = pushes.PushStore(state.settings.database_url, modules).push(
                target, chosen, user.id, at_local
            )
        except pushes.PushError as error:
            errors["form"] = str(error)
        else:
            return RedirectResponse(f"/push?done={len(scheduled)}", status_code=303)
    return _push_page(request, state, user.id, modules, form, errors=errors, status_code=422)


@router.post("/push/{job_id}/cancel")
def cancel(job_id: int, user: Provider, state: ConsoleState) -> RedirectResponse:
    """Cancel a scheduled push; another provider's push is not found."""
    if not pushes.PushStore(state.settings.database_url).cancel(job_id, user.id):
        raise not_found()
    return RedirectResponse("/push?cancelled=1", status_code=303)
