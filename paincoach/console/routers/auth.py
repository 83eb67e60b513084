"""Logging in and out, and the landing page that sends each role where it belongs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paincoach.console import audit
from paincoach.console.accounts import MIN_PASSWORD_LENGTH, AccountError, LoginOutcome
from paincoach.console.dependencies import SESSION_COOKIE, ConsoleState, User, render

router = APIRouter(tags=["auth"])

# Where each role starts; a role without a page here is told the console has nothing for it.
HOME = {"provider": "/patients", "admin": "/admin/users", "researcher": "/research/participants"}
LOGIN_MESSAGES = {
    LoginOutcome.INVALID: "That email and password do not match an account.",
    LoginOutcome.DISABLED: "This account has been disabled. Ask your administrator.",
    LoginOutcome.RATE_LIMITED: "Too many failed attempts. Please wait 15 minutes and try again.",
}


def _local_path(target: str | None) -> str:
    """Only a path on this site, so the login form cannot bounce anyone elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: User) -> Response:
    """Send each role to its first page."""
    if user.role in HOME:
        return RedirectResponse(HOME[user.role], status_code=303)
    return render(request, "errors/wrong_role.html", status_code=403)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    """The login form."""
    return render(request, "auth/login.html", {"next": _local_path(next), "email": ""})


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    state: ConsoleState,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the password; start a session, or say why not and keep the email typed."""
    target = _local_path(next)
    if not email.strip() or not password:
        error = "Please enter your email and your password."
        return render(
            request,
            "auth/login.html",
            {"error": error, "email": email[:254], "next": target},
            status_code=422,
        )
    address = audit.client_address(request)
    result = state.accounts.login(email, password, address)
    audit.record(
        state.settings.database_url,
        "login" if result.cookie is not None else "login_failed",
        actor=result.user,
        actor_email=email.strip().lower(),
        address=address,
        detail=None if result.cookie is not None else result.outcome.value,
    )
    if result.cookie is None:
        return render(
            request,
            "auth/login.html",
            {"error": LOGIN_MESSAGES[result.outcome], "email": email[:254], "next": target},
            status_code=429 if result.outcome is LoginOutcome.RATE_LIMITED else 422,
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        result.cookie,
        httponly=True,
        samesite="lax",
        secure=state.secure_cookies,
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, state: ConsoleState) -> RedirectResponse:
    """End the session on the server and forget the cookie."""
    user = state.accounts.session_user(request.cookies.get(SESSION_COOKIE))
    if user is not None:
        audit.record(
            state.settings.database_url, "logout", actor=user, address=audit.client_address(request)
        )
    state.accounts.logout(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=state.secure_cookies
    )
    return response


# --- a one-time link from an administrator to set a new password ---------------------------


def _reset_page(
    request: Request, token: str, email: str | None, *, error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    return render(
        request,
        "auth/reset.html",
        {"token": token, "email": email, "error": error, "min_password": MIN_PASSWORD_LENGTH},
        status_code=status_code,
    )


@router.get("/reset/{token}", response_class=HTMLResponse)
def reset_page(request: Request, token: str, state: ConsoleState) -> HTMLResponse:
    """The form to choose a new password, or why the link no longer works."""
    user = state.accounts.password_reset_user(token)
    return _reset_page(
        request, token, user.email if user else None, status_code=200 if user else 404
    )


@router.post("/reset/{token}", response_class=HTMLResponse)
def reset_password(
    request: Request,
    token: str,
    state: ConsoleState,
    password: Annotated[str, Form()] = "",
    repeat: Annotated[str, Form()] = "",
) -> Response:
    """Set the new password once; then the person logs in with it."""
    user = state.accounts.password_reset_user(token)
    if user is None:
        return _reset_page(request, token, None, status_code=404)
    problem = None
    if not password or not repeat:
        problem = "Type the new password twice."
    elif password != repeat:
        problem = "The two passwords are not the same."
    if problem is None:
        try:
            state.accounts.use_password_reset(token, password)
        except AccountError as error:
            problem = str(error)
    if problem is not None:
        return _reset_page(request, token, user.email, error=problem, status_code=422)
    audit.record(
        state.settings.database_url,
        "password_reset_used",
        actor=user,
        target=user.email,
        address=audit.client_address(request),
    )
    return RedirectResponse("/login?reset=1", status_code=303)
