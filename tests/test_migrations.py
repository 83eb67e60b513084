"""Alembic migrations: up, down and up again, and in step with the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from paincoach.db import migrate
from paincoach.db.engine import make_engine
from paincoach.db.models import Base

TABLES = {
    "participants", "consent_refusals", "checkins", "coping_sessions", "goals", "goal_reviews",
    "flare_up_plans", "care_team_messages", "safety_events", "erasure_requests",
    "care_team_alerts", "telegram_chats", "sent_keyboards", "pending_messages", "scheduled_jobs",
    "console_users", "console_sessions", "enrolment_codes", "module_progress", "module_answers",
    "audit_log", "codes", "codings", "password_resets", "telegram_updates",
}  # fmt: skip


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    assert tables(database_url) == TABLES
    migrate.downgrade(database_url, "base")
    assert tables(database_url) == set()
    migrate.upgrade(database_url)
    assert tables(database_url) == TABLES


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
