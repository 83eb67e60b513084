"""Enrolment codes: invite links and QR codes that tie a new patient to this provider."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paincoach import enrolment
from paincoach.console.dependencies import ConsoleState, Provider, not_found, provider, render

router = APIRouter(prefix="/enrolment", tags=["enrolment"], dependencies=[Depends(provider)])


@dataclass(frozen=True)
class CodeView:
    """A code as the page lists it: with its link and QR code while it can still be used."""

    code: enrolment.Code
    status: enrolment.Outcome
    link: str | None
    qr_svg: str | None


def _whole_number(value: str, what: str) -> tuple[int | None, str | None]:
    if not value.strip():
        return None, f"Enter {what}."
    try:
        return int(value.strip()), None
    except ValueError:
        return None, f"{what.capitalize()} must be a whole number, not '{value.strip()[:20]}'."


async def _page(
    request: Request,
    state: ConsoleState,
    user_id: int,
    form: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    created: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    bot_error = None
    try:
        username: str | None = await enrolment.bot_username(state.settings)
    except enrolment.BotUnreachable as error:
        username, bot_error = None, str(error)
    views = []
    for code in enrolment.codes_for(user_id, url=state.settings.database_url):
        status = code.status()
        link = enrolment.invite_link(code.code, username) if username else None
        qr = enrolment.qr_svg(link) if link and status is enrolment.Outcome.OK else None
        views.append(CodeView(code, status, link, qr))
    return render(
        request,
        "enrolment/page.html",
        {
            "codes": views,
            "form": form,
            "errors": errors or {},
            "created": created,
            "bot_error": bot_error,
            "max_uses": enrolment.MAX_USES,
            "max_arm": enrolment.MAX_ARM_LENGTH,
        },
        status_code=status_code,
    )


def _blank_form(state: ConsoleState) -> dict[str, str]:
    return {"arm": "", "uses": "1", "expires_days": str(state.settings.enrolment_code_days)}


@router.get("", response_class=HTMLResponse)
async def enrolment_page(request: Request, user: Provider, state: ConsoleState) -> HTMLResponse:
    """The provider's codes, and a form to make a new one."""
    created = request.query_params.get("created")
    return await _page(request, state, user.id, _blank_form(state), created=created)


@router.post("", response_class=HTMLResponse)
async def create_code(
    request: Request,
    user: Provider,
    state: ConsoleState,
    arm: Annotated[str, Form()] = "",
    uses: Annotated[str, Form()] = "",
    expires_days: Annotated[str, Form()] = "",
) -> Response:
    """Make a code; on bad input, say what is wrong and keep what was typed."""
    form = {"arm": arm, "uses": uses, "expires_days": expires_days}
    errors: dict[str, str] = {}
    use_count, problem = _whole_number(uses, "how many patients may use the code")
    if problem:
        errors["uses"] = problem
    days, problem = _whole_number(expires_days, "after how many days the code expires")
    if problem:
        errors["expires_days"] = problem
    if not errors and use_count is not None and days is not None:
        try:
            code = enrolment.create_code(
                user.id, arm=arm, uses=use_count, expires_days=days,
                url=state.settings.database_url,
            )  # fmt: skip
        except enrolment.EnrolmentError as error:
            errors["form"] = str(error)
        else:
            return RedirectResponse(f"/enrolment?created={code.code}", status_code=303)
    return await _page(request, state, user.id, form, errors=errors, status_code=422)


@router.post("/{code_id}/revoke")
def revoke_code(code_id: int, user: Provider, state: ConsoleState) -> RedirectResponse:
    """Stop a code from enrolling anyone else; another provider's code is not found."""
    if not enrolment.revoke(code_id, user.id, url=state.settings.database_url):
        raise not_found()
    return RedirectResponse("/enrolment", status_code=303)
