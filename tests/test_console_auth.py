"""Console accounts: logging in and out, sessions on the server, rate limits, the users CLI."""

from __future__ import annotations

import fcntl
import os
import pty
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from datetime import timedelta
from select import select as wait_readable

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from paincoach.cli import app as cli
from paincoach.console.accounts import DEMO_PROVIDER_EMAIL, Accounts
from paincoach.console.demo import prepare_demo
from paincoach.db.engine import session_scope
from paincoach.db.models import ConsoleSession, ConsoleUser, Participant, TelegramChat, utcnow
from paincoach.db.store import CoachStore
from paincoach.settings import PROJECT_ROOT, get_settings
from tests.console_client import (
    PASSWORD,
    Browser,
    accounts,
    add_user,
    console_app,
    console_settings,
    logged_in,
)
from tests.providers import add_patient

EMAIL = "physio@clinic.example"


def session_cookie(response) -> str:  # type: ignore[no-untyped-def]
    return next(h for h in response.headers.get_list("set-cookie") if "paincoach_session=" in h)


def sessions(url: str) -> list[ConsoleSession]:
    with session_scope(url) as session:
        return list(session.scalars(select(ConsoleSession).order_by(ConsoleSession.id)))


def test_login_starts_a_server_side_session_with_a_signed_httponly_cookie(
    database_url: str,
) -> None:
    app = console_app(database_url)
    add_user(app, EMAIL)
    browser = Browser(app)
    response = browser.login(EMAIL)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = session_cookie(response)
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Secure" not in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    [row] = sessions(database_url)
    assert row.ended_at is None and row.token_hash not in value  # only a hash is stored
    assert browser.get("/").headers["location"] == "/patients"
    page = browser.get("/patients")
    assert page.status_code == 200 and EMAIL in page.text
    # A forged or altered cookie is no session.
    forged = Browser(app)
    forged.client.cookies.set("paincoach_session", value[:-2] + "xx")
    assert forged.get("/patients").status_code == 303


def test_password_is_stored_as_an_argon2_hash(database_url: str) -> None:
    app = console_app(database_url)
    add_user(app, EMAIL)
    with session_scope(database_url) as session:
        stored = session.scalar(select(ConsoleUser.password_hash))
    assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored


@pytest.mark.parametrize(
    ("email", "password"),
    [
        (EMAIL, "wrong password!"),
        ("nobody@clinic.example", PASSWORD),
        (" PHYSIO@clinic.example ", "x"),
    ],
)
def test_a_wrong_email_or_password_gets_one_plain_answer_and_keeps_the_email(
    database_url: str, email: str, password: str
) -> None:
    app = console_app(database_url)
    add_user(app, EMAIL)
    browser = Browser(app)
    browser.get("/login")
    response = browser.post("/login", {"email": email, "password": password})
    assert response.status_code == 422
    assert "That email and password do not match an account." in response.text
    assert f'value="{email}"' in response.text
    assert "paincoach_session=" not in response.headers.get("set-cookie", "")
    assert sessions(database_url) == []


def test_the_email_is_not_case_sensitive(database_url: str) -> None:
    app = console_app(database_url)
    add_user(app, EMAIL)
    assert Browser(app).login(" Physio@Clinic.Example ").status_code == 303


def test_empty_fields_are_named_and_what_was_typed_is_kept(database_url: str) -> None:
    app = console_app(database_url)
    browser = Browser(app)
    browser.get("/login")
    response = browser.post("/login", {"email": "typed@clinic.example", "password": ""})
    assert response.status_code == 422
    assert "Please enter your email and your password." in response.text
    assert 'value="typed@clinic.example"' in response.text
    assert browser.post("/login", {}).status_code == 422


def test_failed_logins_are_limited_per_account(database_url: str) -> None:
    app = console_app(database_url, login_attempts_per_account=3, login_attempts_per_address=50)
    add_user(app, EMAIL)
    add_user(app, "colleague@clinic.example")
    browser = Browser(app)
    browser.get("/login")
    for _ in range(3):
        assert (
            browser.post("/login", {"email": EMAIL, "password": "guess-guess"}).status_code == 422
        )
    refused = browser.post("/login", {"email": EMAIL, "password": PASSWORD})
    assert refused.status_code == 429 and "Too many failed attempts" in refused.text
    assert sessions(database_url) == []
    # Another account from the same address is not locked out by it.
    assert browser.login("colleague@clinic.example").status_code == 303


def test_failed_logins_are_limited_per_address(database_url: str) -> None:
    app = console_app(database_url, login_attempts_per_account=50, login_attempts_per_address=4)
    add_user(app, EMAIL)
    attacker = Browser(app)
    attacker.get("/login")
    for n in range(4):
        attempt = {"email": f"guess{n}@clinic.example", "password": "guess-guess"}
        assert attacker.post("/login", attempt).status_code == 422
    refused = attacker.post("/login", {"email": EMAIL, "password": PASSWORD})
    assert refused.status_code == 429
    # The provider at another address still gets in.
    elsewhere = Browser(app)
    elsewhere.client = type(elsewhere.client)(
        app, follow_redirects=False, client=("192.0.2.10", 40000)
    )
    assert elsewhere.login(EMAIL).status_code == 303


def test_a_success_clears_the_accounts_failures(database_url: str) -> None:
    app = console_app(database_url, login_attempts_per_account=3)
    add_user(app, EMAIL)
    browser = Browser(app)
    browser.get("/login")
    for _ in range(2):
        browser.post("/login", {"email": EMAIL, "password": "typo-typo-typo"})
    assert browser.login(EMAIL).status_code == 303
    for _ in range(2):
        browser.post("/login", {"email": EMAIL, "password": "typo-typo-typo"})
    assert browser.login(EMAIL).status_code == 303


def test_logout_ends_the_session_on_the_server(database_url: str) -> None:
    app = console_app(database_url)
    add_user(app, EMAIL)
    browser = logged_in(app, EMAIL)
    kept = browser.client.cookies.get("paincoach_session")
    response = browser.logout()
    assert response.status_code == 303 and response.headers["location"] == "/login"
    [row] = sessions(database_url)
    assert row.ended_at is not None
    # Even someone who kept the cookie is logged out.
    replay = Browser(app)
    replay.client.cookies.set("paincoach_session", kept)
    answer = replay.get("/patients")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_an_idle_session_expires(database_url: str) -> None:
    app = console_app(database_url, console_session_hours=2)
    add_user(app, EMAIL)
    browser = logged_in(app, EMAIL)
    with session_scope(database_url) as session:
        session.execute(update(ConsoleSession).values(last_seen_at=utcnow() - timedelta(hours=3)))
    assert browser.get("/patients").status_code == 303
    [row] = sessions(database_url)
    assert row.ended_at is not None


def test_a_session_in_use_stays_alive(database_url: str) -> None:
    app = console_app(database_url, console_session_hours=2)
    add_user(app, EMAIL)
    browser = logged_in(app, EMAIL)
    with session_scope(database_url) as session:
        session.execute(update(ConsoleSession).values(last_seen_at=utcnow() - timedelta(hours=1)))
    assert browser.get("/patients").status_code == 200
    [row] = sessions(database_url)
    assert utcnow() - row.last_seen_at < timedelta(minutes=1)


def test_a_disabled_account_cannot_log_in_and_its_sessions_stop(database_url: str) -> None:
    app = console_app(database_url)
    add_user(app, EMAIL)
    browser = logged_in(app, EMAIL)
    accounts(app).disable_user(EMAIL)
    assert browser.get("/patients").status_code == 303
    assert all(row.ended_at is not None for row in sessions(database_url))
    again = Browser(app).login(EMAIL)
    assert again.status_code == 422 and "disabled" in again.text
    wrong = Browser(app)
    wrong.get("/login")
    answer = wrong.post("/login", {"email": EMAIL, "password": "not the password"})
    assert "disabled" not in answer.text  # only the right password learns it is disabled


def test_a_session_of_an_account_disabled_in_the_database_stops_at_once(
    database_url: str,
) -> None:
    app = console_app(database_url)
    add_user(app, EMAIL)
    browser = logged_in(app, EMAIL)
    with session_scope(database_url) as session:
        session.execute(update(ConsoleUser).values(disabled_at=utcnow()))
    assert browser.get("/patients").status_code == 303


def test_cookies_are_secure_when_the_console_is_served_over_https(database_url: str) -> None:
    app = console_app(database_url, public_console_url="https://console.clinic.example")
    add_user(app, EMAIL)
    browser = Browser(app, base_url="https://testserver")
    page = browser.get("/login")
    csrf_cookie = page.headers["set-cookie"]
    assert "paincoach_csrf=" in csrf_cookie and "Secure" in csrf_cookie
    response = browser.post("/login", {"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 303
    cookie = session_cookie(response)
    assert "Secure" in cookie and "HttpOnly" in cookie
    assert browser.get("/patients").status_code == 200


def test_after_login_the_browser_returns_to_the_page_it_asked_for(database_url: str) -> None:
    app = console_app(database_url)
    add_user(app, EMAIL)
    browser = Browser(app)
    first = browser.get("/inbox")
    assert first.headers["location"] == "/login?next=/inbox"
    form = browser.get(first.headers["location"])
    assert 'name="next" value="/inbox"' in form.text
    done = browser.post("/login", {"email": EMAIL, "password": PASSWORD, "next": "/inbox"})
    assert done.headers["location"] == "/inbox"
    # Never to another site.
    browser.logout()
    browser.get("/login")
    away = browser.post("/login", {"email": EMAIL, "password": PASSWORD, "next": "//evil.example"})
    assert away.headers["location"] == "/"


def test_the_console_secret_is_generated_once_and_private(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from paincoach.console import accounts as module
    from paincoach.settings import Settings

    monkeypatch.setattr(Settings, "console_secret_file", property(lambda _: tmp_path / "secret"))
    settings = Settings(console_secret_key="")
    first = module.console_secret(settings)
    assert len(first) >= 40 and module.console_secret(settings) == first
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600
    assert module.console_secret(Settings(console_secret_key="from-env")) == "from-env"


# --- the demo provider of `make run` ----------------------------------------------------


def test_the_demo_provider_is_made_once_and_the_demo_patient_enrolled_with_them(
    database_url: str,
) -> None:
    settings = console_settings(database_url)
    first = prepare_demo(settings, chat_id=424242)
    assert first.email == DEMO_PROVIDER_EMAIL and first.password and first.start_code
    second = prepare_demo(settings, chat_id=424242)
    assert second.password is None and second.start_code == first.start_code  # same code
    login = Accounts(settings).login(DEMO_PROVIDER_EMAIL, first.password, "127.0.0.1")
    assert login.user is not None and login.user.role == "provider"
    with session_scope(database_url) as session:
        stored = session.scalar(select(ConsoleUser.password_hash))
    assert stored is not None and first.password not in stored
    # The patient consented without the code (an older chat): the next start enrols them.
    with session_scope(database_url) as session:
        session.add(TelegramChat(chat_id=424242, pseudonym="demo-patient"))
    add_patient(database_url, "demo-patient", None)
    third = prepare_demo(settings, chat_id=424242)
    assert third.start_code is None
    with session_scope(database_url) as session:
        patient = session.scalar(select(Participant).where(Participant.pseudonym == "demo-patient"))
        assert patient is not None and patient.provider_id == login.user.id
    assert CoachStore(database_url).participant("demo-patient") is not None


# --- the users CLI ----------------------------------------------------------------------


@pytest.fixture
def cli_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def run_cli(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), input=input)


def test_users_add_reads_the_password_from_standard_input(cli_database: str) -> None:
    result = run_cli("users", "add", "Physio@Clinic.Example", "--role", "provider", input=PASSWORD)
    assert result.exit_code == 0, result.output
    assert "Added physio@clinic.example (provider)." in result.output
    app = console_app(cli_database)
    assert Browser(app).login(EMAIL).status_code == 303


@pytest.mark.parametrize(
    ("args", "typed", "message"),
    [
        (["not-an-email", "--role", "provider"], PASSWORD, "is not an email address"),
        (["a@b", "--role", "provider"], PASSWORD, "is not an email address"),
        ([EMAIL, "--role", "provider"], "short", "at least 10 characters"),
        ([EMAIL, "--role", "provider"], "", "at least 10 characters"),
        (
            [EMAIL, "--role", "boss"],
            PASSWORD,
            "The role must be one of: admin, provider, researcher",
        ),
    ],
)
def test_users_add_refuses_bad_input_plainly(
    cli_database: str, args: list[str], typed: str, message: str
) -> None:
    result = run_cli("users", "add", *args, input=typed)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert Accounts(console_settings(cli_database)).users() == []


def test_users_add_refuses_a_second_account_for_one_email(cli_database: str) -> None:
    assert run_cli("users", "add", EMAIL, "--role", "provider", input=PASSWORD).exit_code == 0
    again = run_cli("users", "add", EMAIL.upper(), "--role", "admin", input=PASSWORD)
    assert again.exit_code == 1 and "already an account" in again.output


def test_users_list_and_disable(cli_database: str) -> None:
    run_cli("users", "add", EMAIL, "--role", "provider", input=PASSWORD)
    run_cli("users", "add", "admin@clinic.example", "--role", "admin", input=PASSWORD)
    app = console_app(cli_database)
    browser = logged_in(app, EMAIL)
    listed = run_cli("users", "list")
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert lines[0].split() == ["admin@clinic.example", "admin", "active"]
    assert lines[1].split() == [EMAIL, "provider", "active"]
    disabled = run_cli("users", "disable", EMAIL)
    assert disabled.exit_code == 0 and "Disabled physio@clinic.example" in disabled.output
    assert "disabled" in run_cli("users", "list").output.splitlines()[1]
    assert browser.get("/patients").status_code == 303
    unknown = run_cli("users", "disable", "nobody@clinic.example")
    assert unknown.exit_code == 1 and "There is no account for nobody@clinic.example" in (
        unknown.output
    )


def test_users_password_sets_a_new_one_and_ends_sessions(cli_database: str) -> None:
    run_cli("users", "add", EMAIL, "--role", "provider", input=PASSWORD)
    app = console_app(cli_database)
    browser = logged_in(app, EMAIL)
    result = run_cli("users", "password", EMAIL, input="a brand new password")
    assert result.exit_code == 0, result.output
    assert browser.get("/patients").status_code == 303
    assert Browser(app).login(EMAIL).status_code == 422
    assert Browser(app).login(EMAIL, "a brand new password").status_code == 303
    assert run_cli("users", "password", EMAIL, input="short").exit_code == 1


def test_users_commands_without_a_migrated_database_say_what_to_do(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    try:
        result = run_cli("users", "list")
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1 and "paincoach db upgrade" in result.output


def _read_until(fd: int, wanted: str, timeout: float = 30) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = wait_readable([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            seen += os.read(fd, 1024).decode(errors="replace")
        except OSError:
            break
    return seen


def _controlling_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_users_add_on_a_terminal_asks_twice_without_echo(cli_database: str) -> None:
    terminal, user_side = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "paincoach.cli", "users", "add", EMAIL, "--role", "provider"],
        cwd=PROJECT_ROOT,
        stdin=user_side, stdout=user_side, stderr=user_side,
        env={**os.environ, "DATABASE_URL": cli_database},
        start_new_session=True, preexec_fn=_controlling_terminal,
    )  # fmt: skip
    os.close(user_side)
    try:
        # click writes the prompt, then getpass turns echo off (dropping anything typed
        # before) and writes the final space: type only once that space is there.
        shown = _read_until(terminal, "Password: ")
        os.write(terminal, f"{PASSWORD}\n".encode())
        shown += _read_until(terminal, "Repeat for confirmation: ")
        os.write(terminal, f"{PASSWORD}\n".encode())
        shown += _read_until(terminal, "Added")
        process.wait(timeout=30)
    finally:
        process.kill()
        os.close(terminal)
    assert process.returncode == 0, shown
    assert "Repeat for confirmation" in shown and PASSWORD not in shown  # nothing echoed
    assert Browser(console_app(cli_database)).login(EMAIL).status_code == 303


# --- serving it -------------------------------------------------------------------------


def test_paincoach_console_serves_the_app_on_the_configured_address(cli_database: str) -> None:
    import httpx

    from tests.conftest import free_port

    port = free_port()
    env = {**os.environ, "DATABASE_URL": cli_database, "CONSOLE_PORT": str(port),
           "CONSOLE_SECRET_KEY": "served-console-secret"}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "paincoach.cli", "console"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).text == "ok":
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        login = httpx.get(f"http://127.0.0.1:{port}/patients")
        assert login.status_code == 303 and login.headers["location"] == "/login?next=/patients"
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert f"Provider console at http://127.0.0.1:{port}" in output
    assert "GET /patients" not in output  # no access log: URLs name patients


def test_the_stack_starts_the_console_with_its_settings() -> None:
    from paincoach.settings import Settings
    from paincoach.stack import STANDIN_TOKEN, Stack

    settings = Settings(console_port=8123, public_console_url="https://c.example",
                        console_secret_key="k" * 32, telegram_bot_token="")  # fmt: skip
    stack = Stack(settings, telegram=True, standin_port=8999)
    env = stack._console_env()
    assert env["CONSOLE_PORT"] == "8123" and env["PUBLIC_CONSOLE_URL"] == "https://c.example"
    assert env["CONSOLE_SECRET_KEY"] == "k" * 32
    assert env["TELEGRAM_BOT_TOKEN"] == STANDIN_TOKEN
    assert env["TELEGRAM_API_BASE_URL"] == "http://127.0.0.1:8999/bot"
    assert stack.console_url == "http://127.0.0.1:8123"
