"""Who may open what among the research, administration and password-reset routes: logged out,
provider, researcher, admin, a disabled account, and a POST without the CSRF token.

tests/test_console_access.py checks that every route of the app is in its table or in this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI

from paincoach.research.coding import Codebook, CodeForm
from paincoach.research.transcripts import ResearchStore
from tests.console_client import Browser, accounts, add_user, console_app, logged_in
from tests.research_world import FREE, PATIENT_WORDS, build, research_settings

PUBLIC, RESEARCHER, ADMIN = "public", "researcher", "admin"
ROUTES = {
    ("GET", "/research/participants"): RESEARCHER,
    ("GET", "/research/transcripts"): RESEARCHER,
    ("GET", "/research/transcripts/{pseudonym}"): RESEARCHER,
    ("POST", "/research/transcripts/{pseudonym}/codings"): RESEARCHER,
    ("POST", "/research/codings/{coding_id}/delete"): RESEARCHER,
    ("GET", "/research/codebook"): RESEARCHER,
    ("POST", "/research/codebook"): RESEARCHER,
    ("POST", "/research/codebook/{code_id}"): RESEARCHER,
    ("GET", "/research/codebook.css"): RESEARCHER,
    ("GET", "/research/export"): RESEARCHER,
    ("GET", "/research/export/data"): RESEARCHER,
    ("GET", "/research/export/qdpx"): RESEARCHER,
    ("GET", "/research/export/codings.csv"): RESEARCHER,
    ("GET", "/research/export/dictionary.{fmt}"): RESEARCHER,
    ("GET", "/research/dashboard"): RESEARCHER,
    ("GET", "/research/dashboard/{chart}.csv"): RESEARCHER,
    ("GET", "/reset/{token}"): PUBLIC,
    ("POST", "/reset/{token}"): PUBLIC,
    ("POST", "/admin/users/{user_id}/role"): ADMIN,
    ("POST", "/admin/users/{user_id}/reset"): ADMIN,
    ("GET", "/admin/audit"): ADMIN,
    ("GET", "/admin/audit.csv"): ADMIN,
}
PROTECTED = sorted(route for route, rule in ROUTES.items() if rule != PUBLIC)
FORMS = {
    "/research/transcripts/{pseudonym}/codings": {"new_code": "Body", "new_colour": "#aa0000"},
    "/research/codebook": {"name": "Sleep", "colour": "#00aa00"},
    "/research/codebook/{code_id}": {"name": "Where it hurts", "colour": "#0000aa"},
    "/admin/users/{user_id}/role": {"role": "researcher"},
    "/reset/{token}": {"password": "a brand new passphrase", "repeat": "a brand new passphrase"},
}
QUERIES = {"/research/export/data": {"kind": "checkins", "format": "csv"}}
EMAILS = {
    "provider": "physio@clinic.example",
    "researcher": "researcher@uni.example",
    "admin": "admin@clinic.example",
}


@dataclass
class Lab:
    app: FastAPI
    url: str
    values: dict[str, str]  # path parameters naming real things


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Access rules do not depend on the database engine; SQLite keeps this table fast."""
    return sqlite_url


@pytest.fixture
def lab(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Lab:
    """The small study of tests/research_world.py, a coded message, and one account a role."""
    settings = research_settings(database_url, request, tmp_path)
    build(settings)
    app = console_app(database_url, tracker_store_url=settings.tracker_store_url)
    add_user(app, EMAILS["provider"])
    add_user(app, EMAILS["admin"], "admin")
    coder = add_user(app, EMAILS["researcher"], "researcher")
    target = add_user(app, "colleague@clinic.example")
    token = accounts(app).new_password_reset(target)
    book = Codebook(settings)
    code = book.add_code(CodeForm("Body"), coder).id
    words = next(t for t in ResearchStore(settings).transcript(FREE.pseudonym) or []
                 if t.text == PATIENT_WORDS)  # fmt: skip
    [coding] = book.apply(FREE.pseudonym, words.event_id, 3, 13, [code], "", coder)
    return Lab(app, database_url, {
        "user_id": str(target), "token": token, "pseudonym": FREE.pseudonym,
        "code_id": str(code), "coding_id": str(coding.id), "chart": "peg", "fmt": "json",
        "event_id": str(words.event_id),
    })  # fmt: skip


def call(browser: Browser, method: str, template: str, lab: Lab, **kwargs):  # type: ignore[no-untyped-def]
    address = template.format(**lab.values)
    if method == "GET":
        return browser.get(address, params=QUERIES.get(template), **kwargs)
    form = dict(FORMS.get(template, {}))
    if template.endswith("/codings"):
        form.update(event_id=lab.values["event_id"], start="3", end="13")
    return browser.post(address, form, **kwargs)


@pytest.mark.parametrize(("method", "template"), PROTECTED)
def test_logged_out_is_sent_to_login(lab: Lab, method: str, template: str) -> None:
    response = call(Browser(lab.app), method, template, lab)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def _cases(allowed: str) -> list[tuple[str, str, str]]:
    return [
        (method, template, role)
        for method, template in PROTECTED
        if ROUTES[(method, template)] == allowed
        for role in EMAILS
    ]


@pytest.mark.parametrize(("method", "template", "role"), _cases(ADMIN) + _cases(RESEARCHER))
def test_only_the_right_role_gets_in(lab: Lab, method: str, template: str, role: str) -> None:
    browser = logged_in(lab.app, EMAILS[role])
    response = call(browser, method, template, lab)
    if role == ROUTES[(method, template)]:
        assert response.status_code in (200, 303), response.text[:500]
        if response.status_code == 303:
            assert not response.headers["location"].startswith("/login")
    else:
        assert response.status_code == 403 and "Nothing here for your role" in response.text
        assert FREE.pseudonym not in response.text and "lower back" not in response.text


@pytest.mark.parametrize(("method", "template"), PROTECTED)
def test_a_disabled_account_gets_nothing(lab: Lab, method: str, template: str) -> None:
    email = EMAILS[ROUTES[(method, template)]]
    browser = logged_in(lab.app, email)
    if email == EMAILS["admin"]:
        add_user(lab.app, "other-admin@clinic.example", "admin")  # so this one may be disabled
    accounts(lab.app).disable_user(email)
    response = call(browser, method, template, lab)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert FREE.pseudonym not in response.text


POSTS = [route for route in sorted(ROUTES) if route[0] == "POST"]


@pytest.mark.parametrize(("method", "template"), POSTS)
def test_a_post_without_the_csrf_token_is_refused(lab: Lab, method: str, template: str) -> None:
    rule = ROUTES[(method, template)]
    browser = logged_in(lab.app, EMAILS[rule]) if rule != PUBLIC else Browser(lab.app)
    missing = call(browser, method, template, lab, csrf=None)
    assert missing.status_code == 403 and "This form has expired" in missing.text
    wrong = call(browser, method, template, lab, csrf="0" * 40)
    assert wrong.status_code == 403


def test_refused_posts_change_nothing(lab: Lab) -> None:
    for email in (EMAILS["admin"], EMAILS["researcher"]):
        browser = logged_in(lab.app, email)
        for method, template in POSTS:
            call(browser, method, template, lab, csrf=None)
    user = accounts(lab.app).user(int(lab.values["user_id"]))
    assert user is not None and user.role == "provider"
    assert accounts(lab.app).password_reset_user(lab.values["token"]) is not None
    book = Codebook(lab.app.state.console.settings)
    assert [n.name for n in book.codes()] == ["Body"]
    assert [c.id for c in book.codings()] == [int(lab.values["coding_id"])]
