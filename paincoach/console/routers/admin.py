"""Console accounts, for administrators: add, list, disable and enable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paincoach.console.accounts import MIN_PASSWORD_LENGTH, ROLES, AccountError
from paincoach.console.dependencies import Admin, ConsoleState, admin, not_found, render

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(admin)])

DONE = {
    "added": "The account was added.",
    "disabled": "The account was disabled; its sessions have ended.",
    "enabled": "The account can log in again.",
    "self": "You cannot disable your own account.",
}


def _page(
    request: Request,
    state: ConsoleState,
    form: dict[str, str],
    *,
    error: str | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "admin/users.html",
        {"users": state.accounts.users(), "form": form, "error": error, "done": done,
         "roles": ROLES, "min_password": MIN_PASSWORD_LENGTH},
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
    return RedirectResponse(f"/admin/users?done=added&id={user.id}", status_code=303)


@router.post("/users/{user_id}/disable")
def disable_user(user_id: int, current: Admin, state: ConsoleState) -> Response:
    """Disable an account: it cannot log in, and its sessions end now."""
    user = state.accounts.user(user_id)
    if user is None:
        raise not_found()
    if user.id == current.id:
        return RedirectResponse("/admin/users?done=self", status_code=303)
    state.accounts.disable_user(user.email)
    return RedirectResponse(f"/admin/users?done=disabled&id={user.id}", status_code=303)


@router.post("/users/{user_id}/enable")
def enable_user(user_id: int, state: ConsoleState) -> RedirectResponse:
    """Let a disabled account log in again."""
    user = state.accounts.user(user_id)
    if user is None:
        raise not_found()
    state.accounts.enable_user(user.email)
    return RedirectResponse(f"/admin/users?done=enabled&id={user.id}", status_code=303)
