"""The provider console: one FastAPI app, one router per area, pages rendered on the server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from paincoach import alerts
from paincoach.charts import patient_zone
from paincoach.console.accounts import Accounts, console_secret
from paincoach.console.dependencies import (
    STATIC,
    TEMPLATES,
    Console,
    CsrfRejected,
    LoginRequired,
    WrongRole,
    csrf,
    csrf_protect_for,
    is_htmx,
    render,
)
from paincoach.console.routers import (
    account,
    admin,
    auth,
    enrolment,
    inbox,
    modules,
    patients,
    research,
)
from paincoach.console.routers import alerts as alert_pages
from paincoach.db.engine import session_scope
from paincoach.settings import Settings, get_settings

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # URLs name patients by pseudonym
}
ERROR_TITLES = {
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
}


def _local_time(moment: datetime | None, timezone: str | None = None) -> str:
    """A stored UTC time as the reader should see it: the patient's zone when given."""
    if moment is None:
        return "—"
    zone = patient_zone(timezone or "UTC")
    return moment.astimezone(zone).strftime("%d %b %Y, %H:%M")


def _day(moment: datetime | None, timezone: str | None = None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(patient_zone(timezone or "UTC")).strftime("%d %b %Y")


def _one_decimal(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=TEMPLATES)
    templates.env.filters.update(when=_local_time, day=_day, one_decimal=_one_decimal)
    templates.env.globals.update(alert_labels=alerts.LABELS, urgent_alerts=alerts.URGENT)
    templates.env.trim_blocks = True
    templates.env.lstrip_blocks = True
    return templates


def create_app(settings: Settings | None = None) -> FastAPI:
    """The console for these settings (the environment's when none are given)."""
    settings = settings or get_settings()
    secret = console_secret(settings)
    state = Console(
        settings=settings,
        accounts=Accounts(settings, secret),
        templates=_templates(),
        csrf=csrf_protect_for(settings, secret, settings.console_url.startswith("https://")),
        secret=secret,
    )
    app = FastAPI(
        title="PainCoach console",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(csrf)],
    )
    app.state.console = state
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for area in (auth, patients, enrolment, modules, inbox, alert_pages, account, admin, research):
        app.include_router(area.router)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Pages hold health data: not framed, not cached, no address leaked to other sites."""
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.api_route("/healthz", methods=["GET", "HEAD"], include_in_schema=False)
    def healthz() -> PlainTextResponse:
        """For load balancers and `paincoach status`: no login, no data; 503 when the
        database does not answer."""
        try:
            with session_scope(settings.database_url) as session:
                session.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return PlainTextResponse("database unavailable", status_code=503)
        return PlainTextResponse("ok")

    @app.exception_handler(LoginRequired)
    def login_required(request: Request, _: LoginRequired) -> Response:
        if is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        target = request.url.path if request.method == "GET" else "/"
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(WrongRole)
    def wrong_role(request: Request, _: WrongRole) -> HTMLResponse:
        return render(request, "errors/wrong_role.html", status_code=403)

    @app.exception_handler(CsrfRejected)
    def csrf_rejected(request: Request, _: CsrfRejected) -> HTMLResponse:
        return render(request, "errors/csrf.html", status_code=403)

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, error: StarletteHTTPException) -> HTMLResponse:
        return render(
            request,
            "errors/error.html",
            {"title": ERROR_TITLES.get(error.status_code, "Something went wrong")},
            status_code=error.status_code,
        )

    @app.exception_handler(RequestValidationError)
    def bad_request(request: Request, _: RequestValidationError) -> HTMLResponse:
        # Forms are checked by the handlers; this is a URL or field nobody's page sends.
        return render(request, "errors/error.html", {"title": "Not understood"}, status_code=400)

    return app
