"""Backups taken while reminders go out restore whole, on SQLite and on PostgreSQL; the
`backup` and `restore` commands explain every problem in one line."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import select
from typer.testing import CliRunner

from paincoach.cli import app
from paincoach.db import backup as backups
from paincoach.db.backup import BackupError, backup, find_pg_tool, restore, table_counts
from paincoach.db.engine import session_scope
from paincoach.db.models import CheckIn, Participant
from paincoach.db.store import CoachStore, Consent
from paincoach.research.synthetic import Conversation, write
from paincoach.research.tracker import create_events_table
from paincoach.scheduler.clock import FakeClock
from paincoach.scheduler.jobs import JobStore
from paincoach.scheduler.runner import Scheduler
from paincoach.settings import Settings, get_settings
from tests.conftest import ON_CI, _postgres_database

OSLO = "Europe/Oslo"
PATIENTS = 200
EVENTS_PER_TURN = 3  # the reminder, the coach's question, listening
KEPT = {"pain_average": 6, "pain_enjoyment": 5, "pain_activity": 7, "mood": 4,
        "sleep_quality": 3, "note": "walked to the shop, then rested"}  # fmt: skip


def pg_tools_or_skip() -> None:
    """PostgreSQL's client tools: absent on a laptop skips, absent on CI fails."""
    try:
        find_pg_tool("pg_dump"), find_pg_tool("pg_restore")
    except BackupError as error:
        if ON_CI:
            pytest.fail(f"pg_dump and pg_restore must be installed under CI=true: {error}")
        pytest.skip(str(error))


@pytest.fixture
def new_database(tmp_path: Path) -> Iterator[Callable[[str, str], str]]:
    """Empty databases of the kind asked for: SQLite files in a fresh folder, or new
    PostgreSQL databases dropped afterwards."""
    made: list[Iterator[str]] = []

    def make(kind: str, name: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / 'fresh' / f'{name}.db'}"
        databases = _postgres_database()
        made.append(databases)
        return next(databases)

    yield make
    for databases in made:
        next(databases, None)


@pytest.fixture
def tracker_url(database_url: str, new_database: Callable[[str, str], str]) -> str:
    """Rasa's tracker store, of the same kind as the app database."""
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    if kind == "postgresql":
        pg_tools_or_skip()
    url = new_database(kind, "tracker")
    create_events_table(url)
    return url


class SimulatedRasa:
    """Stands in for the gateway and Rasa during a fan-out: each reminder writes its turn's
    events in one transaction, as Rasa's tracker store does, and the patient answers the
    first question, which saves a partial check-in."""

    def __init__(self, database_url: str, tracker_url: str) -> None:
        self.store = CoachStore(database_url)
        self.tracker_url = tracker_url
        self.sent = 0
        self.under_way = asyncio.Event()

    async def trigger(self, pseudonym: str, intent: str, entities: dict[str, Any]) -> bool:
        await asyncio.sleep(0.03)  # Telegram's rate limit spreads a fan-out over time
        await asyncio.to_thread(self._turn, pseudonym, intent)
        self.sent += 1
        if self.sent == 20:
            self.under_way.set()
        return True

    def _turn(self, pseudonym: str, intent: str) -> None:
        turn = Conversation(pseudonym, datetime.now(UTC))
        write(self.tracker_url, turn.trigger(intent).bot("How is your pain today?").listen())
        self.store.save_checkin(pseudonym, {"pain_average": 4})


def kept_checkin(url: str) -> dict[str, Any]:
    with session_scope(url) as session:
        checkin = session.scalars(
            select(CheckIn).join(Participant).where(Participant.pseudonym == "p-kept")
        ).one()
        return {item: getattr(checkin, item) for item in KEPT} | {
            "completed": checkin.completed_at is not None
        }


async def test_a_backup_taken_during_a_fan_out_restores_whole(
    database_url: str,
    tracker_url: str,
    new_database: Callable[[str, str], str],
    tmp_path: Path,
) -> None:
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    store = CoachStore(database_url)
    store.register_consent("p-kept", Consent(True, "Kim", time(9), OSLO))
    store.save_checkin("p-kept", KEPT, completed=True)
    for n in range(PATIENTS):
        store.register_consent(f"p-fan-{n:03d}", Consent(False, "Sam", time(20), OSLO))
    rasa = SimulatedRasa(database_url, tracker_url)
    clock = FakeClock(datetime(2026, 1, 10, 18, 58, tzinfo=UTC))  # 19:58 in Oslo
    scheduler = Scheduler(JobStore(database_url), rasa, Settings(), clock, concurrency=4)
    await scheduler.tick()  # plans every reminder for 20:00
    clock.advance(timedelta(minutes=2))

    fan_out = asyncio.create_task(scheduler.tick())
    await asyncio.wait_for(rasa.under_way.wait(), timeout=120)
    folder = tmp_path / "backup"
    manifest = await asyncio.to_thread(backup, folder, database_url, tracker_url)
    assert (await fan_out)["sent"] == PATIENTS

    app_copy, tracker_copy = manifest.copy("app"), manifest.copy("tracker")
    assert app_copy is not None and tracker_copy is not None
    assert app_copy.kind == tracker_copy.kind == kind
    assert app_copy.alembic_revision and tracker_copy.alembic_revision is None
    # Taken in the middle of the fan-out, and every turn in it whole.
    assert 1 + 20 <= app_copy.tables["checkins"] < 1 + PATIENTS
    assert tracker_copy.tables["events"] % EVENTS_PER_TURN == 0
    assert json.loads((folder / "manifest.json").read_text())["databases"][0]["role"] == "app"

    fresh_app, fresh_tracker = new_database(kind, "restored-app"), new_database(kind, "restored-tr")
    restore(folder, fresh_app, fresh_tracker)
    assert table_counts(fresh_app) == app_copy.tables
    assert table_counts(fresh_tracker) == tracker_copy.tables
    assert kept_checkin(fresh_app) == KEPT | {"completed": True}
    assert table_counts(database_url)["checkins"] == 1 + PATIENTS  # the live one went on
    assert CoachStore(fresh_app).participant("p-fan-000") is not None

    with pytest.raises(BackupError, match=r"not empty.*--force"):
        restore(folder, fresh_app, fresh_tracker)
    CoachStore(fresh_app).save_checkin("p-kept", {"mood": 9})  # a change the backup undoes
    restore(folder, fresh_app, fresh_tracker, force=True)
    assert table_counts(fresh_app) == app_copy.tables
    assert kept_checkin(fresh_app) == KEPT | {"completed": True}


# The commands -----------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def live(tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A migrated app database with a check-in and a tracker store, named by the environment."""
    CoachStore(sqlite_url).register_consent("p-kept", Consent(True, "Kim", time(9), OSLO))
    CoachStore(sqlite_url).save_checkin("p-kept", KEPT, completed=True)
    tracker = f"sqlite:///{tmp_path / 'tracker.db'}"
    write(tracker, Conversation("p-kept", datetime.now(UTC)).trigger("greet").listen())
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("TRACKER_STORE_URL", tracker)
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "backups"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
    structlog.reset_defaults()


def invoke(*arguments: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    get_settings.cache_clear()
    result = runner.invoke(app, list(arguments), env=env)
    get_settings.cache_clear()
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def elsewhere(folder: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{folder / 'app.db'}",
        "TRACKER_STORE_URL": f"sqlite:///{folder / 'tracker.db'}",
    }


def test_backup_and_restore_on_the_command_line(live: Path) -> None:
    code, output = invoke("backup", "--out", str(live / "b1"))
    assert code == 0 and "app" in output and "Alembic revision" in output
    assert oct((live / "b1").stat().st_mode & 0o777) == "0o700"  # health data: owner only
    code, output = invoke("backup", "--out", str(live / "b1"))
    assert code == 1 and "already exists" in output

    code, output = invoke("restore", str(live / "b1"))
    assert code == 1 and "not empty" in output and "--force" in output
    code, output = invoke("restore", str(live / "b1"), env=elsewhere(live / "new"))
    assert code == 0 and "every table has its rows" in output
    assert kept_checkin(elsewhere(live / "new")["DATABASE_URL"]) == KEPT | {"completed": True}
    assert invoke("restore", str(live / "b1"), "--force")[0] == 0


def test_restore_explains_a_missing_or_damaged_backup(live: Path) -> None:
    target = elsewhere(live / "new")
    code, output = invoke("restore", str(live / "nowhere"), env=target)
    assert code == 1 and "There is no backup at" in output
    (live / "empty").mkdir()
    code, output = invoke("restore", str(live / "empty"), env=target)
    assert code == 1 and "not a PainCoach backup" in output

    assert invoke("backup", "--out", str(live / "b"))[0] == 0
    damaged = live / "damaged"
    shutil.copytree(live / "b", damaged)
    (damaged / "manifest.json").write_text("{not json")
    code, output = invoke("restore", str(damaged), env=target)
    assert code == 1 and "damaged" in output

    shutil.rmtree(damaged)
    shutil.copytree(live / "b", damaged)
    with (damaged / "app.sqlite3").open("r+b") as copy:
        copy.seek(5000)
        copy.write(b"\x00garbage\x00")
    code, output = invoke("restore", str(damaged), env=target)
    assert code == 1 and "does not match the checksum" in output

    (damaged / "app.sqlite3").unlink()
    code, output = invoke("restore", str(damaged), env=target)
    assert code == 1 and "app.sqlite3 is missing" in output
    assert not (live / "new").exists()  # nothing was touched

    postgres = {**target, "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/x"}
    code, output = invoke("restore", str(live / "b"), env=postgres)
    assert code == 1 and "sqlite copy of the app database" in output


def test_a_failed_backup_leaves_nothing_behind(live: Path) -> None:
    code, output = invoke(
        "backup", "--out", str(live / "b"),
        env={"TRACKER_STORE_URL": f"sqlite:///{live / 'missing.db'}"},
    )  # fmt: skip
    assert code == 1 and "TRACKER_STORE_URL" in output and "does not exist" in output
    assert not (live / "b").exists() and not (live / ".b.partial").exists()


def test_without_pg_dump_the_backup_says_what_to_install(
    live: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(live))
    monkeypatch.setattr(backups, "PG_TOOL_DIRS", ())
    code, output = invoke(
        "backup", "--out", str(live / "b"),
        env={"DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/paincoach"},
    )  # fmt: skip
    assert code == 1 and "pg_dump is not installed" in output and "PG_BIN_DIR" in output
    code, output = invoke("backup", "--out", str(live / "b"), env={"PG_BIN_DIR": str(live)})
    assert code == 0  # SQLite needs no tools
    code, output = invoke(
        "backup", "--out", str(live / "c"),
        env={"PG_BIN_DIR": str(live), "DATABASE_URL": "postgresql://postgres@127.0.0.1/x"},
    )  # fmt: skip
    assert code == 1 and f"PG_BIN_DIR is {live}, but there is no pg_dump" in output


def test_keep_deletes_only_older_backups(live: Path) -> None:
    folder = live / "backups"
    for n in range(3):
        assert invoke("backup", "--out", str(folder / f"old-{n}"))[0] == 0
        manifest = folder / f"old-{n}" / "manifest.json"
        data = json.loads(manifest.read_text())
        data["created_at"] = f"2020-01-0{n + 1}T00:00:00+00:00"
        manifest.write_text(json.dumps(data))
    (folder / "notes").mkdir()  # not a backup: left alone
    code, output = invoke("backup", "--keep", "2")
    assert code == 0 and "Deleted 2 older backup(s)" in output
    left = sorted(p.name for p in folder.iterdir())
    assert left[1:] == ["notes", "old-2"] and left[0].startswith("20")
