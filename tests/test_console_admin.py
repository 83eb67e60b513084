"""Administrators: roles, the last admin, one-time password reset links, and the audit log of
logins, patient views, exports and account changes (append-only, admins only, filters, CSV)."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from paincoach.console import audit
from paincoach.db.engine import session_scope
from paincoach.db.models import AuditEntry, PasswordReset, utcnow
from tests.console_client import PASSWORD, Browser, accounts, add_user, console_app, logged_in
from tests.providers import add_patient

ADMIN = "admin@clinic.example"
PROVIDER = "physio@clinic.example"
NEW_PASSWORD = "a brand new passphrase"


def _actions(url: str) -> list[tuple[str | None, str, str | None]]:
    with session_scope(url) as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        return [(r.actor_email, r.action, r.target) for r in rows]


def _reset_link(page: str) -> str:
    found = re.search(r'<code class="reset-link">[^<]*(/reset/[^<]+)</code>', page)
    assert found, "no reset link on the page"
    return html.unescape(found.group(1))


def test_an_admin_changes_a_role_and_the_account_starts_afresh(database_url: str) -> None:
    app = console_app(database_url)
    add_user(app, ADMIN, "admin")
    provider_id = add_user(app, PROVIDER)
    provider = logged_in(app, PROVIDER)
    admin = logged_in(app, ADMIN)
    admin.get("/admin/users")
    answer = admin.post(f"/admin/users/{provider_id}/role", {"role": "researcher"})
    assert answer.status_code == 303
    assert "The role was changed" in admin.get(answer.headers["location"]).text
    assert accounts(app).user(provider_id).role == "researcher"  # type: ignore[union-attr]
    assert provider.get("/patients").status_code == 303  # the old session ended
    assert (ADMIN, "account_role", PROVIDER) in _actions(database_url)
    refused = admin.post(f"/admin/users/{provider_id}/role", {"role": "boss"})
    assert refused.status_code == 422 and "The role must be one of" in refused.text


def test_the_last_active_admin_can_be_neither_demoted_nor_disabled(database_url: str) -> None:
    app = console_app(database_url)
    me = add_user(app, ADMIN, "admin")
    admin = logged_in(app, ADMIN)
    admin.get("/admin/users")
    refused = admin.post(f"/admin/users/{me}/role", {"role": "provider"})
    assert refused.status_code == 422
    assert "last active administrator" in refused.text
    assert accounts(app).user(me).role == "admin"  # type: ignore[union-attr]
    # Nor from the command line's path, which disables by email.
    try:
        accounts(app).disable_user(ADMIN)
    except ValueError as error:
        assert "last active administrator" in str(error)
    else:
        raise AssertionError("the last admin was disabled")
    # With a second admin, one of them may step down; then the other is the last again.
    other = add_user(app, "second@clinic.example", "admin")
    assert admin.post(f"/admin/users/{other}/role", {"role": "researcher"}).status_code == 303
    assert admin.post(f"/admin/users/{me}/role", {"role": "provider"}).status_code == 422


def test_a_disabled_admin_does_not_count_as_an_active_one(database_url: str) -> None:
    app = console_app(database_url)
    add_user(app, ADMIN, "admin")
    other = add_user(app, "second@clinic.example", "admin")
    accounts(app).disable_user("second@clinic.example")
    admin = logged_in(app, ADMIN)
    admin.get("/admin/users")
    # Demoting the disabled admin is fine; the active one is still the last.
    assert admin.post(f"/admin/users/{other}/role", {"role": "provider"}).status_code == 303


def test_a_reset_link_sets_a_new_password_once(database_url: str) -> None:
    app = console_app(database_url)
    add_user(app, ADMIN, "admin")
    provider_id = add_user(app, PROVIDER)
    provider = logged_in(app, PROVIDER)
    admin = logged_in(app, ADMIN)
    admin.get("/admin/users")
    page = admin.post(f"/admin/users/{provider_id}/reset")
    assert page.status_code == 200
    link = _reset_link(page.text)
    assert "/reset/" not in admin.get("/admin/users").text  # shown once only
    with session_scope(database_url) as session:
        stored = session.scalar(select(PasswordReset.token_hash))
    assert stored is not None and link.rsplit("/", 1)[1] not in stored  # only the hash

    person = Browser(app)
    form = person.get(link)
    assert form.status_code == 200 and PROVIDER in form.text
    short = person.post(link, {"password": "short", "repeat": "short"})
    assert short.status_code == 422 and "at least 10 characters" in short.text
    differ = person.post(link, {"password": NEW_PASSWORD, "repeat": NEW_PASSWORD + "x"})
    assert differ.status_code == 422 and "not the same" in differ.text
    done = person.post(link, {"password": NEW_PASSWORD, "repeat": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == "/login?reset=1"
    assert "Your new password is set" in person.get("/login?reset=1").text
    assert provider.get("/patients").status_code == 303  # sessions ended
    assert Browser(app).login(PROVIDER, PASSWORD).status_code == 422
    assert Browser(app).login(PROVIDER, NEW_PASSWORD).status_code == 303
    again = Browser(app)
    assert again.get(link).status_code == 404
    reused = again.post(link, {"password": "another passphrase", "repeat": "another passphrase"})
    assert reused.status_code == 404 and "expired or was already used" in reused.text
    actions = _actions(database_url)
    assert (ADMIN, "password_reset_link", PROVIDER) in actions
    assert (PROVIDER, "password_reset_used", PROVIDER) in actions


def test_a_newer_link_or_time_ends_an_older_one(database_url: str) -> None:
    app = console_app(database_url)
    provider_id = add_user(app, PROVIDER)
    first = accounts(app).new_password_reset(provider_id)
    second = accounts(app).new_password_reset(provider_id)
    assert accounts(app).password_reset_user(first) is None
    assert accounts(app).password_reset_user(second) is not None
    with session_scope(database_url) as session:
        session.execute(update(PasswordReset).values(expires_at=utcnow() - timedelta(minutes=1)))
    assert Browser(app).get(f"/reset/{second}").status_code == 404
    assert Browser(app).get("/reset/not-a-token").status_code == 404


def test_logins_views_and_account_changes_are_in_the_audit_log(database_url: str) -> None:
    app = console_app(database_url)
    add_user(app, ADMIN, "admin")
    provider_id = add_user(app, PROVIDER)
    add_patient(database_url, "p-audited", provider_id)
    assert Browser(app).login(PROVIDER, "wrong password").status_code == 422
    provider = logged_in(app, PROVIDER)
    provider.get("/patients/p-audited")
    provider.logout()
    admin = logged_in(app, ADMIN)
    admin.get("/admin/users")
    admin.post("/admin/users", {"email": "r@uni.example", "role": "researcher",
                                "password": "a long password"})  # fmt: skip
    researcher_id = accounts(app).by_email("r@uni.example").id  # type: ignore[union-attr]
    admin.post(f"/admin/users/{researcher_id}/disable")
    admin.post(f"/admin/users/{researcher_id}/enable")
    actions = _actions(database_url)
    for expected in [
        (PROVIDER, "login_failed", None),
        (PROVIDER, "login", None),
        (PROVIDER, "patient_view", "p-audited"),
        (PROVIDER, "logout", None),
        (ADMIN, "account_add", "r@uni.example"),
        (ADMIN, "account_disable", "r@uni.example"),
        (ADMIN, "account_enable", "r@uni.example"),
    ]:
        assert expected in actions, expected
    with session_scope(database_url) as session:
        failed = session.scalar(select(AuditEntry).where(AuditEntry.action == "login_failed"))
        assert failed is not None and failed.detail == "invalid" and failed.address
        assert failed.actor_id is None

    page = admin.get("/admin/audit").text
    assert 'class="audit-patient_view"' in page and "p-audited" in page
    assert 'class="audit-login_failed"' in page
    only = admin.get("/admin/audit", params={"action": "patient_view"}).text
    assert "p-audited" in only and 'class="audit-login_failed"' not in only
    by_actor = admin.get("/admin/audit", params={"actor": "ADMIN@"}).text
    assert "r@uni.example" in by_actor and "p-audited" not in by_actor
    today = utcnow().date().isoformat()
    dated = admin.get("/admin/audit", params={"since": today, "until": today}).text
    assert "p-audited" in dated
    future = admin.get("/admin/audit", params={"since": "2999-01-01"}).text
    assert "No entries match" in future


def test_bad_audit_filters_are_explained_and_kept(database_url: str) -> None:
    app = console_app(database_url)
    add_user(app, ADMIN, "admin")
    admin = logged_in(app, ADMIN)
    page = admin.get("/admin/audit", params={"since": "yesterday", "until": "2026-01-01",
                                              "actor": "someone"})  # fmt: skip
    assert page.status_code == 422
    assert "is not a date like 2026-03-31" in html.unescape(page.text)
    assert 'value="yesterday"' in page.text and 'value="someone"' in page.text
    reversed_dates = admin.get(
        "/admin/audit", params={"since": "2026-02-01", "until": "2026-01-01"}
    )
    assert reversed_dates.status_code == 422 and "before the start date" in reversed_dates.text
    unknown = admin.get("/admin/audit", params={"action": "drop_table"})
    assert unknown.status_code == 422 and "Choose an action" in unknown.text


def test_the_audit_log_downloads_as_csv_and_the_download_is_logged(database_url: str) -> None:
    app = console_app(database_url)
    add_user(app, ADMIN, "admin")
    assert Browser(app).login("=HYPERLINK(evil)@x.example", "whatever").status_code == 422
    admin = logged_in(app, ADMIN)
    answer = admin.get("/admin/audit.csv", params={"action": "login_failed"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["action"] for r in rows] == ["login_failed"]
    assert rows[0]["actor"].startswith("'=")  # not a formula in a spreadsheet
    assert ("admin@clinic.example", "export", "audit_log") in _actions(database_url)


def test_the_csv_streams_every_entry_in_batches(database_url: str) -> None:
    url = database_url
    for number in range(audit.BATCH + 5):
        audit.record(url, "login_failed", actor_email=f"x{number}@e.example", address="10.0.0.1")
    lines = "".join(audit.csv_lines(url, audit.AuditFilter(action="login_failed")))
    assert len(list(csv.DictReader(io.StringIO(lines)))) == audit.BATCH + 5


def test_the_app_has_no_way_to_change_or_delete_audit_entries(database_url: str) -> None:
    app = console_app(database_url)
    for route in app.routes:
        path = getattr(route, "path", "")
        if path.startswith("/admin/audit"):
            assert set(getattr(route, "methods", set())) <= {"GET", "HEAD"}, path
    package = Path(audit.__file__).resolve().parent.parent
    for source in package.rglob("*.py"):
        text = source.read_text()
        if "AuditEntry" in text and "migrations" not in source.parts:
            assert not re.search(r"(update|delete)\(\s*AuditEntry", text), source
            assert not re.search(r"(update|delete from)\s+audit_log", text, re.I), source


def test_account_changes_on_the_command_line_are_in_the_audit_log(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paincoach.cli import app
    from paincoach.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        added = runner.invoke(app, ["users", "add", PROVIDER, "--role", "provider"],
                              input="a long password\n")  # fmt: skip
        changed = runner.invoke(app, ["users", "password", PROVIDER], input=NEW_PASSWORD + "\n")
        disabled = runner.invoke(app, ["users", "disable", PROVIDER])
    finally:
        get_settings.cache_clear()
    assert added.exit_code == changed.exit_code == disabled.exit_code == 0, added.output
    entries = [(action, target) for _, action, target in _actions(database_url)]
    assert entries == [("account_add", PROVIDER), ("password_set", PROVIDER),
                       ("account_disable", PROVIDER)]  # fmt: skip
    assert all((email or "").startswith("cli:") for email, _, _ in _actions(database_url))
