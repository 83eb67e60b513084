"""`paincoach enrol` and `paincoach modules push|scheduled|cancel`: what they print, and one
clear line (never a traceback) for every bad argument."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import structlog
from sqlalchemy import select
from typer.testing import CliRunner, Result

from paincoach.cli import app
from paincoach.db.engine import session_scope
from paincoach.db.models import EnrolmentCode, ScheduledJob
from paincoach.enrolment import CODE_LENGTH
from paincoach.settings import get_settings
from paincoach.standin import BotApiStandIn
from tests.conftest import free_port
from tests.providers import add_patient, add_provider

runner = CliRunner()
EMAIL = "physio@clinic.example"


@pytest.fixture
def clinic(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The CLI pointed at a migrated database with a provider and two of their patients."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    # No bot answers here unless a test starts one.
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "1:NoBotHere")
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", f"http://127.0.0.1:{free_port()}/bot")
    get_settings.cache_clear()
    provider = add_provider(database_url, EMAIL)
    add_provider(database_url, "other@clinic.example")
    add_provider(database_url, "researcher@uni.example", role="researcher")
    add_patient(database_url, "p-oslo", provider, timezone="Europe/Oslo")
    add_patient(database_url, "p-lima", provider, timezone="America/Lima")
    add_patient(database_url, "p-stranger", None)
    yield database_url
    get_settings.cache_clear()
    structlog.reset_defaults()


def one_line_failure(result: Result, says: str) -> None:
    assert result.exit_code != 0, result.output
    assert says in result.output, result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_enrol_create_prints_the_code_and_says_the_link_needs_the_bot(clinic: str) -> None:
    result = runner.invoke(
        app, ["enrol", "create", "--provider", EMAIL, "--arm", "A", "--uses", "5"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    code = lines[0].removeprefix("Code: ")
    assert len(code) == CODE_LENGTH
    assert "For 5 patient(s), study arm A; valid until" in lines[1]
    assert "Invite link: not available now" in lines[2] and "bot running" in lines[2]
    assert f"?start={code}" in lines[2]
    assert "NoBotHere" not in result.output and "Traceback" not in result.output
    with session_scope(clinic) as session:
        row = session.scalar(select(EnrolmentCode))
        assert row is not None and (row.code, row.max_uses, row.study_arm) == (code, 5, "A")
    listed = runner.invoke(app, ["enrol", "list", "--provider", EMAIL])
    assert listed.exit_code == 0 and f"{code}  0/5 used" in listed.output
    assert "ok  arm A" in listed.output


async def test_enrol_create_prints_the_invite_link_from_get_me(
    clinic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with BotApiStandIn(bot_username="clinic_coach_bot") as standin:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", standin.token)
        monkeypatch.setenv("TELEGRAM_API_BASE_URL", standin.base_url)
        get_settings.cache_clear()
        # The CLI runs its own event loop; the stand-in keeps serving on this one.
        result = await asyncio.to_thread(
            runner.invoke, app, ["enrol", "create", "--provider", EMAIL]
        )
    assert result.exit_code == 0, result.output
    code = result.output.splitlines()[0].removeprefix("Code: ")
    assert f"Invite link: https://t.me/clinic_coach_bot?start={code}" in result.output


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--provider", "nobody@clinic.example"], "no console account for 'nobody@clinic.example'"),
        (["--provider", "researcher@uni.example"], "is a researcher account"),
        (["--provider", EMAIL, "--uses", "0"], "Uses must be a whole number from 1 to"),
        (["--provider", EMAIL, "--expires-days", "999"], "expire after 1 to 365 days"),
        (["--provider", EMAIL, "--arm", "x" * 50], "at most 40 characters"),
    ],
)
def test_enrol_create_refuses_bad_arguments_in_one_line(
    clinic: str, arguments: list[str], says: str
) -> None:
    one_line_failure(runner.invoke(app, ["enrol", "create", *arguments]), says)
    with session_scope(clinic) as session:
        assert session.scalars(select(EnrolmentCode)).all() == []


def test_modules_push_a_programme_at_the_patients_local_time(clinic: str) -> None:
    at = (datetime.now() + timedelta(days=2)).replace(hour=9, minute=30)
    result = runner.invoke(
        app,
        ["modules", "push", "starter", "--to", "p-oslo", "p-lima", "--at", f"{at:%Y-%m-%dT%H:%M}"],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1] == "Scheduled 18 module release(s) for 2 patient(s)."
    assert lines[0].startswith(f"{at:%Y-%m-%d} 09:30 Europe/Oslo")
    assert "p-oslo" in lines[0] and "understanding-pain" in lines[0]
    assert all(" 09:30 " in line for line in lines[:-1])
    waiting = runner.invoke(app, ["modules", "scheduled", "--provider", EMAIL])
    assert waiting.exit_code == 0 and len(waiting.output.strip().splitlines()) == 18
    with session_scope(clinic) as session:
        first = session.scalars(select(ScheduledJob).order_by(ScheduledJob.id)).first()
        assert first is not None
    cancelled = runner.invoke(app, ["modules", "cancel", str(first.id), "--provider", EMAIL])
    assert cancelled.exit_code == 0 and f"Cancelled job {first.id}." in cancelled.output
    one_line_failure(
        runner.invoke(app, ["modules", "cancel", str(first.id), "--provider", EMAIL]),
        f"No waiting push with job number {first.id}",
    )
    one_line_failure(
        runner.invoke(
            app, ["modules", "cancel", str(first.id + 1), "--provider", "other@clinic.example"]
        ),
        "No waiting push",
    )


def test_modules_push_now_with_repeated_and_comma_separated_patients(clinic: str) -> None:
    result = runner.invoke(
        app, ["modules", "push", "sleep", "--to", "p-oslo,p-lima", "--provider", EMAIL]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == (
        "Scheduled 2 module release(s) for 2 patient(s)."
    )


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["no-such-module", "--to", "p-oslo"], "no module or programme called 'no-such-module'"),
        (["sleep", "--to", "p-missing"], "No patient of yours has the pseudonym 'p-missing'"),
        (["sleep", "--to", "p-stranger"], "not enrolled with a provider"),
        (
            ["sleep", "--to", "p-oslo", "--provider", "other@clinic.example"],
            "No patient of yours has the pseudonym 'p-oslo'",
        ),
        (["sleep", "--to", "p-oslo", "--at", "2020-01-01T09:00"], "has already passed"),
        (["sleep", "--to", "p-oslo", "--at", "tomorrow 9am"], "--at must be a date and time"),
        (["sleep", "--to", "p-oslo", "--at", "2026-02-30T09:00"], "--at must be a date and time"),
        (["sleep", "--to", ","], "Choose at least one patient"),
        (["sleep"], "Name the patients with --to PSEUDONYM"),
    ],
)
def test_modules_push_refuses_bad_arguments_in_one_line(
    clinic: str, arguments: list[str], says: str
) -> None:
    one_line_failure(runner.invoke(app, ["modules", "push", *arguments]), says)
    with session_scope(clinic) as session:
        assert session.scalars(select(ScheduledJob)).all() == []


def test_an_unmigrated_database_is_said_plainly(
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    try:
        for command in (
            ["enrol", "create", "--provider", EMAIL],
            ["modules", "push", "sleep", "--to", "p-oslo"],
            ["modules", "scheduled", "--provider", EMAIL],
        ):
            one_line_failure(runner.invoke(app, command), "paincoach db upgrade")
    finally:
        get_settings.cache_clear()
