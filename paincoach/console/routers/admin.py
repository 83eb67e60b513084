"""For administrators: console accounts (add, disable, enable, change role, reset a password by
a one-time link) and the audit log. Admins see accounts and the log, nothing of patients."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from paincoach.console import audit
from paincoach.console.accounts import (
    MIN_PASSWORD_LENGTH,
    PASSWORD_RESET_HOURS,
    ROLES,
    AccountError,
)
from paincoach.console.dependencies import Admin, ConsoleState, admin, not_found, render
from paincoach.db.models import AuditEntry

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(admin)])

DONE = {
    "added": "The account was added.",
    "disabled": "The account was disabled; its sessions have ended.",
    "enabled": "The account can log in again.",
    "self": "You cannot disable your own account.",
    "role": "The role was changed; the account's open sessions have ended.",
}
AUDIT_PAGE = 100


def _page(
    request: Request,
    state: ConsoleState,
    form: dict[str, str],
    *,
    error: str | None = None,
    done: str | None = None,
    status_code: int = 200,
    row_error: tuple[int, str] | None = None,
    reset_link: tuple[int, str] | None = None,
) -> HTMLResponse:
    return render(
        request,
        "admin/users.html",
        {"users": state.accounts.users(), "form": form, "error": error, "done": done,
         "roles": ROLES, "min_password": MIN_PASSWORD_LENGTH, "row_error": row_error,
         "reset_link": reset_link, "reset_hours": PASSWORD_RESET_HOURS},
        status_code=status_code,
    )  # fmt: skip


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, state: ConsoleState) -> HTMLResponse:
    """Every account with its role and state, and a form to add one."""
    done = DONE.get(request.query_params.get("done", ""))
    return _page(request, state, {"email": "", "role": "provider"}, done=done)


@router.post("/users", response_class=HTMLResponse)
def add_user(
    request: Request,
    state: ConsoleState,
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    """Add an account; bad input is explained and the email and role stay filled in."""
    form = {"email": email[:254], "role": role}
    if not email.strip() or not role or not password:
        error = "Enter an email, a role and a first password."
        return _page(request, state, form, error=error, status_code=422)
    try:
        user = state.accounts.add_user(email, role, password)
    except AccountError as problem:
        return _page(request, state, form, error=str(problem), status_code=422)
    audit.record_request(request, "account_add", target=user.email, detail=f"role {user.role}")
    return RedirectResponse(f"/admin/users?done=added&id={user.id}", status_code=303)


@router.post("/users/{user_id}/disable", response_class=HTMLResponse)
def disable_user(request: Request, user_id: int, current: Admin, state: ConsoleState) -> Response:
    """Disable an account: it cannot log in, and its sessions end now."""
    user = state.accounts.user(user_id)
    if user is None:
        raise not_found()
    if user.id == current.id:
        return RedirectResponse("/admin/users?done=self", status_code=303)
    try:
        state.accounts.disable_user(user.email)
    except AccountError as problem:
        return _page(request, state, _empty_form(), row_error=(user.id, str(problem)),
                     status_code=422)  # fmt: skip
    audit.record_request(request, "account_disable", target=user.email)
    return RedirectResponse(f"/admin/users?done=disabled&id={user.id}", status_code=303)


@router.post("/users/{user_id}/enable")
def enable_user(request: Request, user_id: int, state: ConsoleState) -> RedirectResponse:
    """Let a disabled account log in again."""
    user = state.accounts.user(user_id)
    if user is None:
        raise not_found()
    state.accounts.enable_user(user.email)
    audit.record_request(request, "account_enable", target=user.email)
    return RedirectResponse(f"/admin/users?done=enabled&id={user.id}", status_code=303)


def _empty_form() -> dict[str, str]:
    return {"email": "", "role": "provider"}


@router.post("/users/{user_id}/role", response_class=HTMLResponse)
def change_role(
    request: Request,
    user_id: int,
    state: ConsoleState,
    role: Annotated[str, Form()] = "",
) -> Response:
    """Give an account another role; the last active admin stays an admin."""
    user = state.accounts.user(user_id)
    if user is None:
        raise not_found()
    before = user.role
    try:
        changed = state.accounts.change_role(user.id, role)
    except AccountError as problem:
        return _page(request, state, _empty_form(), row_error=(user.id, str(problem)),
                     status_code=422)  # fmt: skip
    if changed.role != before:
        audit.record_request(
            request, "account_role", target=user.email, detail=f"{before} -> {changed.role}"
        )
    return RedirectResponse(f"/admin/users?done=role&id={user.id}", status_code=303)


@router.post("/users/{user_id}/reset", response_class=HTMLResponse)
def password_reset_link(request: Request, user_id: int, state: ConsoleState) -> Response:
    """A one-time link to set a new password, shown once on this page for the admin to pass on."""
    user = state.accounts.user(user_id)
    if user is None:
        raise not_found()
    try:
        token = state.accounts.new_password_reset(user.id)
    except AccountError as problem:
        return _page(request, state, _empty_form(), row_error=(user.id, str(problem)),
                     status_code=422)  # fmt: skip
    audit.record_request(request, "password_reset_link", target=user.email)
    link = f"{state.settings.console_url}/reset/{token}"
    return _page(request, state, _empty_form(), reset_link=(user.id, link))


# --- the audit log ----------------------------------------------------------------------


def _date(value: str, name: str, problems: dict[str, str]) -> datetime | None:
    if not value.strip():
        return None
    try:
        day = datetime.strptime(value.strip(), "%Y-%m-%d")
    except ValueError:
        problems[name] = f"'{value.strip()[:40]}' is not a date like 2026-03-31."
        return None
    return day.replace(tzinfo=UTC)


def _audit_filter(request: Request) -> tuple[dict[str, str], audit.AuditFilter, dict[str, str]]:
    """The filters as typed, as a query, and what could not be read (kept on the page)."""
    params = request.query_params
    form = {key: params.get(key, "")[:200] for key in ("actor", "action", "target", "since",
                                                       "until")}  # fmt: skip
    problems: dict[str, str] = {}
    if form["action"] and form["action"] not in audit.ACTIONS:
        problems["action"] = "Choose an action from the list."
    since = _date(form["since"], "since", problems)
    until = _date(form["until"], "until", problems)
    if since and until and until < since:
        problems["until"] = "The end date is before the start date."
    where = audit.AuditFilter(
        actor=form["actor"].strip(),
        action=form["action"] if "action" not in problems else "",
        target=form["target"].strip(),
        since=since,
        until=until + timedelta(days=1) if until else None,  # the whole last day
    )
    return form, where, problems


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, state: ConsoleState, page: int = 1) -> HTMLResponse:
    """Who did what, when and from where; newest first, filtered by actor, action, target, dates."""
    form, where, problems = _audit_filter(request)
    page = max(page, 1)
    rows: list[AuditEntry] = []
    total = 0
    if not problems:
        rows, total = audit.entries(
            state.settings.database_url, where, limit=AUDIT_PAGE, offset=(page - 1) * AUDIT_PAGE
        )
    query = urlencode({k: v for k, v in form.items() if v})
    return render(
        request,
        "admin/audit.html",
        {"rows": rows, "total": total, "form": form, "problems": problems,
         "actions": audit.ACTIONS, "page": page, "pages": max(1, -(-total // AUDIT_PAGE)),
         "query": query},
        status_code=422 if problems else 200,
    )  # fmt: skip


@router.get("/audit.csv")
def audit_csv(request: Request, state: ConsoleState) -> Response:
    """The filtered log as CSV, streamed; the export itself is logged too."""
    _, where, problems = _audit_filter(request)
    if problems:
        return RedirectResponse(f"/admin/audit?{request.url.query}", status_code=303)
    audit.record_request(request, "export", target="audit_log", detail="csv")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        audit.csv_lines(state.settings.database_url, where),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="paincoach-audit-{stamp}.csv"'},
    )
