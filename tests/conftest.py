"""Shared fixtures: real SQLite and PostgreSQL databases, migrated with Alembic."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from actions import common
from paincoach.db import migrate
from paincoach.db.store import CoachStore
from paincoach.settings import get_settings
from tests.postgres_server import PostgresServer, unavailable

POSTGRES_ADMIN = os.environ.get(
    "PAINCOACH_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
ON_CI = os.environ.get("CI", "").lower() == "true"


def postgres_or_skip() -> None:
    """Skip when PostgreSQL is absent on a laptop; on CI its absence is a failure."""
    try:
        create_engine(POSTGRES_ADMIN).connect().close()
    except OperationalError as error:
        if ON_CI:
            pytest.fail(f"PostgreSQL must be running under CI=true: {error.orig}")
        pytest.skip(f"PostgreSQL is not running at {POSTGRES_ADMIN}")


def _postgres_database(template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database (a copy of `template` when given), dropped afterwards."""
    postgres_or_skip()
    name = f"paincoach_test_{secrets.token_hex(4)}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    from paincoach.db.engine import get_engine

    get_engine.cache_clear()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    yield from _postgres_database()


# Migrating takes a second or more; each test gets a copy of a database migrated once.
@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "paincoach.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    for url in _postgres_database():
        migrate.upgrade(url)
        yield url.rsplit("/", 1)[1]


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """The app database on SQLite only, for tests whose subject does not depend on the
    database engine (access rules): the engine itself is tested on both elsewhere."""
    path = tmp_path / "paincoach.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The app database, migrated to head, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "paincoach.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        yield from _postgres_database(request.getfixturevalue("postgres_template"))


@pytest.fixture
def store(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CoachStore]:
    """The store the actions use, pointed at the test database."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    common.store.cache_clear()
    yield common.store()
    get_settings.cache_clear()
    common.store.cache_clear()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def stack_postgres() -> Iterator[PostgresServer | None]:
    """The full stack's own PostgreSQL server, which a chaos test restarts; None where one
    cannot be started here (the stack then runs on SQLite files)."""
    if unavailable() is not None:
        yield None
        return
    server = PostgresServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def full_stack(tmp_path_factory: pytest.TempPathFactory, stack_postgres: PostgresServer | None):  # type: ignore[no-untyped-def]
    """Everything `make up` runs (Rasa, actions, gateway with its scheduler, console), under
    its supervisor, with the Bot API stand-in as Telegram, on free ports; started once for
    the whole run. Its databases are on a PostgreSQL server of its own when there can be one
    (SQLite files otherwise). The scheduler ticks every second and kept messages are retried
    every second, so pushes, replies, alerts and recoveries come quickly."""
    from paincoach.settings import Settings
    from paincoach.stack import MODEL, Stack

    if not MODEL.exists():
        if ON_CI:
            pytest.fail(f"No trained model at {MODEL}: `make test` trains it before pytest")
        pytest.skip(f"No trained model at {MODEL}; run `make train` first")
    folder = tmp_path_factory.mktemp("full")
    if stack_postgres is not None:
        server = f"postgresql://postgres@127.0.0.1:{stack_postgres.port}"
        databases = {"paincoach": f"{server}/paincoach", "tracker": f"{server}/tracker"}
    else:
        databases = {
            "paincoach": f"sqlite:///{folder / 'paincoach.db'}",
            "tracker": f"sqlite:///{folder / 'tracker.db'}",
        }
    settings = Settings(
        database_url=databases["paincoach"],
        tracker_store_url=databases["tracker"],
        rasa_token="full-stack-token",
        rasa_port=free_port(),
        action_server_port=free_port(),
        console_port=free_port(),
        console_secret_key=secrets.token_urlsafe(32),
    )
    # The children read their settings from the environment.
    tick = {"SCHEDULER_TICK_SECONDS": "1", "RASA_RETRY_SECONDS": "1"}
    saved = {name: os.environ.get(name) for name in tick}
    os.environ.update(tick)
    services = Stack(settings, log_dir=folder / "logs", telegram=True, standin_port=free_port())
    try:
        services.start()
        yield services
    finally:
        services.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
