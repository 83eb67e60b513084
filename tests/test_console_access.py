"""Who may open what in the console, for every route: logged out, wrong role, another
provider's patient, a POST without the right CSRF token, a disabled account, after logout."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import select

from paincoach import enrolment
from paincoach.db.engine import session_scope
from paincoach.db.models import CareTeamAlert, CareTeamMessage, ConsoleUser, ScheduledJob
from paincoach.db.store import CoachStore
from paincoach.modules.catalogue import Catalogue, load
from paincoach.modules.push import PushStore
from tests.console_client import Browser, accounts, add_user, console_app, logged_in
from tests.providers import add_patient
from tests.test_research_access import ROUTES as RESEARCH_ROUTES


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Access rules do not depend on the database engine; SQLite keeps this table fast."""
    return sqlite_url


PUBLIC, ANYONE, PROVIDER, ADMIN = "public", "anyone logged in", "provider", "admin"
# Every route of the console and who may use it. A new route must be added here, so that it
# is tested below (test_the_route_table_is_complete fails otherwise).
ROUTES = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/"): ANYONE,
    ("GET", "/patients"): PROVIDER,
    ("GET", "/patients/{pseudonym}"): PROVIDER,
    ("POST", "/patients/{pseudonym}/reply"): PROVIDER,
    ("GET", "/enrolment"): PROVIDER,
    ("POST", "/enrolment"): PROVIDER,
    ("POST", "/enrolment/{code_id}/revoke"): PROVIDER,
    ("GET", "/modules"): PROVIDER,
    ("GET", "/push"): PROVIDER,
    ("POST", "/push"): PROVIDER,
    ("POST", "/push/{job_id}/cancel"): PROVIDER,
    ("GET", "/inbox"): PROVIDER,
    ("POST", "/inbox/reply"): PROVIDER,
    ("GET", "/alerts"): PROVIDER,
    ("POST", "/alerts/{alert_id}/acknowledge"): PROVIDER,
    ("GET", "/account"): PROVIDER,
    ("POST", "/account/telegram-link"): PROVIDER,
    ("POST", "/account/telegram-unlink"): PROVIDER,
    ("GET", "/admin/users"): ADMIN,
    ("POST", "/admin/users"): ADMIN,
    ("POST", "/admin/users/{user_id}/disable"): ADMIN,
    ("POST", "/admin/users/{user_id}/enable"): ADMIN,
}
PROTECTED = sorted(route for route, rule in ROUTES.items() if rule != PUBLIC)
FORMS = {  # what each POST sends when it is allowed (the answer may still be a form error)
    "/patients/{pseudonym}/reply": {"body": "See you on Tuesday."},
    "/enrolment": {"uses": "1", "expires_days": "7", "arm": ""},
    "/push": {"target": "understanding-pain", "pseudonyms": "own-patient", "when": "now"},
    "/inbox/reply": {"pseudonym": "own-patient", "body": "Thanks for letting us know."},
    "/admin/users": {"email": "new@clinic.example", "role": "provider", "password": "x" * 12},
}


@dataclass
class Clinic:
    """Two providers with a patient, an alert, a code and a push each; an admin; a researcher."""

    app: FastAPI
    url: str
    own: dict[str, str]  # path parameters naming provider A's things
    others: dict[str, str]  # the same for provider B's things
    unknown: dict[str, str]  # things that do not exist


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    return load()


def _things(url: str, provider_id: int, pseudonym: str, user_id: int) -> dict[str, str]:
    add_patient(url, pseudonym, provider_id)
    store = CoachStore(url)
    store.record_safety_event(pseudonym, "crisis", "safety_net")
    store.add_care_team_message(pseudonym, "Can I talk to my physio?")
    code = enrolment.create_code(provider_id, url=url)
    [push] = PushStore(url, catalogue()).push("understanding-pain", [pseudonym], provider_id)
    with session_scope(url) as session:
        alert_id = session.scalar(
            select(CareTeamAlert.id).order_by(CareTeamAlert.id.desc()).limit(1)
        )
    return {
        "pseudonym": pseudonym,
        "code_id": str(code.id),
        "job_id": str(push.job_id),
        "alert_id": str(alert_id),
        "user_id": str(user_id),
    }


@pytest.fixture
def clinic(database_url: str) -> Clinic:
    app = console_app(database_url)
    own = add_user(app, "a@clinic.example")
    other = add_user(app, "b@clinic.example")
    add_user(app, "admin@clinic.example", "admin")
    add_user(app, "deputy@clinic.example", "admin")  # so the first may be disabled (not the last)
    researcher = add_user(app, "researcher@clinic.example", "researcher")
    return Clinic(
        app,
        database_url,
        own=_things(database_url, own, "own-patient", researcher),
        others=_things(database_url, other, "other-patient", other),
        unknown={"pseudonym": "no-such-patient", "code_id": "999999", "job_id": "999999",
                 "alert_id": "999999", "user_id": "999999"},
    )  # fmt: skip


def path(template: str, values: dict[str, str]) -> str:
    return template.format(**values)


def call(browser: Browser, method: str, template: str, values: dict[str, str], **kwargs):  # type: ignore[no-untyped-def]
    if method == "GET":
        return browser.get(path(template, values), **kwargs)
    return browser.post(path(template, values), FORMS.get(template, {}), **kwargs)


def test_the_route_table_is_complete(clinic: Clinic) -> None:
    routes = []
    for route in clinic.app.routes:  # FastAPI keeps each included router as one entry
        included = getattr(route, "original_router", None)
        routes += included.routes if included is not None else [route]
    served = {
        (method, route.path)
        for route in routes
        if isinstance(route, APIRoute)
        for method in route.methods
        if method != "HEAD"
    }
    assert served == set(ROUTES) | set(RESEARCH_ROUTES)  # the research routes: that file


@pytest.mark.parametrize(("method", "template"), PROTECTED)
def test_logged_out_is_sent_to_login(clinic: Clinic, method: str, template: str) -> None:
    browser = Browser(clinic.app)
    response = call(browser, method, template, clinic.own)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    if method == "GET":
        assert response.headers["location"] == f"/login?next={path(template, clinic.own)}"
        # htmx cannot follow a redirect into its target: it is told to load the login page.
        partial = browser.get(path(template, clinic.own), headers={"HX-Request": "true"})
        assert partial.status_code == 401 and partial.headers["HX-Redirect"] == "/login"


def _role_case(template: str, method: str) -> list[tuple[str, str, str]]:
    rule = ROUTES[(method, template)]
    wrong = {PROVIDER: ["admin@clinic.example", "researcher@clinic.example"],
             ADMIN: ["a@clinic.example", "researcher@clinic.example"],
             ANYONE: []}[rule]  # every role has a start page now  # fmt: skip
    return [(method, template, email) for email in wrong]


@pytest.mark.parametrize(
    ("method", "template", "email"),
    [case for method, template in PROTECTED for case in _role_case(template, method)],
)
def test_a_wrong_role_is_refused(clinic: Clinic, method: str, template: str, email: str) -> None:
    browser = logged_in(clinic.app, email)
    response = call(browser, method, template, clinic.own)
    assert response.status_code == 403
    assert "Nothing here for your role" in response.text


def test_a_researcher_is_sent_to_the_research_views_and_sees_no_patient_page(
    clinic: Clinic,
) -> None:
    browser = logged_in(clinic.app, "researcher@clinic.example")
    assert browser.get("/").headers["location"] == "/research/participants"
    page = browser.get("/patients")
    assert page.status_code == 403 and "research views" in page.text
    assert "own-patient" not in page.text


PATIENT_ROUTES = [
    (method, template)
    for method, template in PROTECTED
    if "{" in template and ROUTES[(method, template)] == PROVIDER
]


@pytest.mark.parametrize(("method", "template"), PATIENT_ROUTES)
def test_another_providers_things_are_not_found_exactly_like_unknown_ones(
    clinic: Clinic, method: str, template: str
) -> None:
    browser = logged_in(clinic.app, "a@clinic.example")
    theirs = call(browser, method, template, clinic.others)
    unknown = call(browser, method, template, clinic.unknown)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.text == unknown.text
    assert "other-patient" not in theirs.text and "Can I talk" not in theirs.text
    mine = call(browser, method, template, clinic.own)
    assert mine.status_code in (200, 303)


def test_nothing_of_another_provider_changes_through_their_ids(clinic: Clinic) -> None:
    browser = logged_in(clinic.app, "a@clinic.example")
    for method, template in PATIENT_ROUTES:
        call(browser, method, template, clinic.others)
    with session_scope(clinic.url) as session:
        job = session.get(ScheduledJob, int(clinic.others["job_id"]))
        alert = session.get(CareTeamAlert, int(clinic.others["alert_id"]))
        replies = session.scalars(
            select(CareTeamMessage).where(CareTeamMessage.from_patient.is_(False))
        ).all()
        assert job is not None and job.status == "pending"
        assert alert is not None and alert.acknowledged_at is None
    assert all(r.participant_id != alert.participant_id for r in replies)
    [code] = enrolment.codes_for(int(clinic.others["user_id"]), url=clinic.url)
    assert code.revoked_at is None


def test_lists_show_only_the_providers_own_patients(clinic: Clinic) -> None:
    browser = logged_in(clinic.app, "a@clinic.example")
    for page in ("/patients", "/inbox", "/alerts", "/push", "/enrolment"):
        text = browser.get(page).text
        assert "other-patient" not in text, page
    assert "own-patient" in browser.get("/patients").text


POSTS = [(method, template) for method, template in PROTECTED if method == "POST"]


def _allowed_email(method: str, template: str) -> str:
    return "admin@clinic.example" if ROUTES[(method, template)] == ADMIN else "a@clinic.example"


@pytest.mark.parametrize(("method", "template"), [*POSTS, ("POST", "/login"), ("POST", "/logout")])
def test_a_post_without_the_csrf_token_is_refused(
    clinic: Clinic, method: str, template: str
) -> None:
    browser = logged_in(clinic.app, _allowed_email(method, template))
    missing = call(browser, method, template, clinic.own, csrf=None)
    assert missing.status_code == 403 and "This form has expired" in missing.text
    wrong = call(browser, method, template, clinic.own, csrf="0" * 40)
    assert wrong.status_code == 403
    # A real token of someone else's browser does not match this browser's cookie.
    stranger = Browser(clinic.app)
    stranger.get("/login")
    borrowed = call(browser, method, template, clinic.own, csrf=stranger.csrf())
    assert borrowed.status_code == 403


def test_refused_posts_change_nothing(clinic: Clinic) -> None:
    browser = logged_in(clinic.app, "a@clinic.example")
    for method, template in POSTS:
        call(browser, method, template, clinic.own, csrf=None)
    with session_scope(clinic.url) as session:
        alert = session.get(CareTeamAlert, int(clinic.own["alert_id"]))
        job = session.get(ScheduledJob, int(clinic.own["job_id"]))
        assert alert is not None and alert.acknowledged_at is None
        assert job is not None and job.status == "pending"
        assert session.scalar(select(CareTeamMessage).where(~CareTeamMessage.from_patient)) is None
        user = session.scalar(select(ConsoleUser).where(ConsoleUser.email == "a@clinic.example"))
        assert user is not None and user.telegram_link_code is None
    assert browser.get("/patients").status_code == 200  # still logged in


def test_the_csrf_token_is_accepted_from_the_htmx_header(clinic: Clinic) -> None:
    browser = logged_in(clinic.app, "a@clinic.example")
    token = browser.csrf()
    url = f"/alerts/{clinic.own['alert_id']}/acknowledge"
    response = browser.client.post(url, headers={"X-CSRF-Token": token, "HX-Request": "true"})
    assert response.status_code == 200 and 'id="alert-list"' in response.text
    refused = browser.client.post(url, headers={"X-CSRF-Token": "forged", "HX-Request": "true"})
    assert refused.status_code == 403


@pytest.mark.parametrize(("method", "template"), PROTECTED)
def test_a_disabled_account_is_logged_out_everywhere(
    clinic: Clinic, method: str, template: str
) -> None:
    email = _allowed_email(method, template)
    browser = logged_in(clinic.app, email)
    accounts(clinic.app).disable_user(email)
    response = call(browser, method, template, clinic.own)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


@pytest.mark.parametrize(("method", "template"), PROTECTED)
def test_a_session_after_logout_opens_nothing(clinic: Clinic, method: str, template: str) -> None:
    browser = logged_in(clinic.app, _allowed_email(method, template))
    kept = browser.client.cookies.get("paincoach_session")
    assert browser.logout().status_code == 303
    browser.client.cookies.set("paincoach_session", kept)
    response = call(browser, method, template, clinic.own)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_assets_come_from_the_package(clinic: Clinic) -> None:
    browser = Browser(clinic.app)
    page = browser.get("/login").text
    assert "/static/console.css" in page and "/static/htmx-2.0.11.min.js" in page
    assert "http://" not in page.replace("http://testserver", "")
    assert "https://" not in page
    for asset in ("/static/console.css", "/static/htmx-2.0.11.min.js"):
        assert browser.get(asset).status_code == 200


def test_pages_are_not_framed_cached_or_referred(clinic: Clinic) -> None:
    browser = logged_in(clinic.app, "a@clinic.example")
    page = browser.get("/patients/own-patient")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert 'style="' not in page.text and "<script>" not in page.text  # nothing inline
