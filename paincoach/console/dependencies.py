"""What every console request shares: the logged-in user, the access rules, CSRF, rendering.

Access rules are dependencies declared once on each router (`Depends(provider)`,
`Depends(admin)`); handlers never look at the role themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from fastapi_csrf_protect.exceptions import CsrfProtectError
from fastapi_csrf_protect.flexible import CsrfProtect
from itsdangerous import BadData, URLSafeTimedSerializer

from paincoach.console import caseload
from paincoach.console.accounts import Accounts
from paincoach.db.models import ConsoleUser, Participant
from paincoach.modules.catalogue import MODULES_DIR, PROGRAMMES, Catalogue
from paincoach.modules.catalogue import load as load_catalogue
from paincoach.settings import Settings

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "paincoach_session"
CSRF_COOKIE = "paincoach_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# fastapi-csrf-protect signs its cookie with this salt; reading it back lets every open tab
# share one token instead of each page load invalidating the forms of the others.
CSRF_SALT = "fastapi-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(Exception):
    """No valid session: pages redirect to /login, htmx requests get 401."""


class WrongRole(Exception):
    """Logged in, but this part of the console is not for this role."""


class CsrfRejected(Exception):
    """A state-changing request without the right CSRF token."""


@dataclass
class Console:
    """The app's long-lived parts, kept on app.state.console."""

    settings: Settings
    accounts: Accounts
    templates: Jinja2Templates
    csrf: type[CsrfProtect]
    secret: str

    @property
    def secure_cookies(self) -> bool:
        return self.settings.console_url.startswith("https://")


def csrf_protect_for(settings: Settings, secret: str, secure: bool) -> type[CsrfProtect]:
    """A CsrfProtect of this app's own, so two apps in one process keep their own settings."""
    protect: type[CsrfProtect] = type("ConsoleCsrfProtect", (CsrfProtect,), {})
    max_age = int(settings.console_session_hours * 3600)
    protect.load_config(
        lambda: [
            ("secret_key", secret),
            ("cookie_key", CSRF_COOKIE),
            ("cookie_samesite", "lax"),
            ("cookie_secure", secure),
            ("header_name", CSRF_HEADER),
            ("max_age", max_age),
            ("token_key", CSRF_FIELD),
        ]
    )
    return protect


def console(request: Request) -> Console:
    state: Console = request.app.state.console
    return state


ConsoleState = Annotated[Console, Depends(console)]


# --- who is logged in -------------------------------------------------------------------


def current_user(request: Request, state: ConsoleState) -> ConsoleUser:
    """The user of a live session; LoginRequired otherwise."""
    user = state.accounts.session_user(request.cookies.get(SESSION_COOKIE))
    if user is None:
        raise LoginRequired()
    request.state.user = user
    return user


def require_role(*roles: str) -> Callable[[ConsoleUser], ConsoleUser]:
    def check(user: Annotated[ConsoleUser, Depends(current_user)]) -> ConsoleUser:
        if user.role not in roles:
            raise WrongRole()
        return user

    check.__name__ = f"require_{'_or_'.join(roles)}"
    return check


provider = require_role("provider")
admin = require_role("admin")
researcher = require_role("researcher")

User = Annotated[ConsoleUser, Depends(current_user)]
Provider = Annotated[ConsoleUser, Depends(provider)]
Admin = Annotated[ConsoleUser, Depends(admin)]
Researcher = Annotated[ConsoleUser, Depends(researcher)]


def catalogue() -> Catalogue:
    """The modules and programmes as they are on disk now, so edits show without a restart."""
    files = [*MODULES_DIR.glob("*.yml"), *(MODULES_DIR / PROGRAMMES).glob("*.yml")]
    return _catalogue(tuple(sorted((str(f), f.stat().st_mtime_ns) for f in files)))


@lru_cache(maxsize=2)
def _catalogue(files: tuple[tuple[str, int], ...]) -> Catalogue:
    """Read again only when a file was added, removed or changed (reading takes ~0.2 s)."""
    return load_catalogue()


Modules = Annotated[Catalogue, Depends(catalogue)]


def own_patient(pseudonym: str, user: Provider, state: ConsoleState) -> Participant:
    """The provider's own patient; 404 for anyone else's, exactly as for an unknown one."""
    patient = caseload.own_patient(state.settings.database_url, user.id, pseudonym)
    if patient is None:
        raise not_found()
    return patient


OwnPatient = Annotated[Participant, Depends(own_patient)]


# --- CSRF -------------------------------------------------------------------------------


async def csrf(request: Request, state: ConsoleState) -> None:
    """Every POST carries the token, as a form field or (htmx) a header, checked by the library."""
    if request.method in SAFE_METHODS:
        return
    await request.form()  # parsed once and cached, so the library reads the field from it
    try:
        await state.csrf().validate_csrf(request)
    except (CsrfProtectError, ValueError) as error:
        raise CsrfRejected() from error


def csrf_tokens(request: Request, state: Console) -> tuple[str, str | None]:
    """The token for this page's forms, and a new signed cookie when the browser has none."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if cookie:
        serializer = URLSafeTimedSerializer(state.secret, salt=CSRF_SALT)
        try:
            token = serializer.loads(
                cookie, max_age=int(state.settings.console_session_hours * 3600)
            )
            return str(token), None
        except BadData:
            pass
    token, signed = state.csrf().generate_csrf_tokens()
    return token, signed


# --- pages ------------------------------------------------------------------------------


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    block: str | None = None,
) -> HTMLResponse:
    """A page, or only one block of it for htmx; with the CSRF token its forms need."""
    state: Console = request.app.state.console
    token, new_cookie = csrf_tokens(request, state)
    values = {
        "request": request,
        "user": getattr(request.state, "user", None),
        "csrf_token": token,
        "csrf_field": CSRF_FIELD,
        "csrf_header": CSRF_HEADER,
        "console_url": state.settings.console_url,
        **(context or {}),
    }
    page = state.templates.get_template(template)
    if block is not None:
        html = "".join(page.blocks[block](page.new_context(values)))
    else:
        html = page.render(values)
    response = HTMLResponse(html, status_code=status_code)
    if new_cookie is not None:
        state.csrf().set_csrf_cookie(new_cookie, response)
    return response


def render_or_block(
    request: Request,
    template: str,
    block: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """htmx swaps just the block that changed; without JavaScript the whole page is sent."""
    return render(
        request,
        template,
        context,
        status_code=status_code,
        block=block if is_htmx(request) else None,
    )


def not_found() -> HTTPException:
    return HTTPException(status_code=404)
