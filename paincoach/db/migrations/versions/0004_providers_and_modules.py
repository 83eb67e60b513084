"""providers and modules: console accounts and sessions, enrolment codes, module progress
and answers, care-team replies, alert details and provider pushes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), primary_key=True)


def _user(name: str, ondelete: str = "SET NULL", nullable: bool = True) -> sa.Column:
    return sa.Column(
        name,
        sa.Integer(),
        sa.ForeignKey("console_users.id", name=f"fk_{name}_console_users", ondelete=ondelete),
        nullable=nullable,
    )


def upgrade() -> None:
    op.create_table(
        "console_users",
        _id(),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=12), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("telegram_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("telegram_link_code", sa.String(length=64), nullable=True),
        sa.Column("telegram_link_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("telegram_link_code"),
    )
    op.create_index("ix_console_users_email", "console_users", ["email"], unique=True)
    op.create_table(
        "console_sessions",
        _id(),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        _user("user_id", ondelete="CASCADE", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_console_sessions_user_id", "console_sessions", ["user_id"])
    op.create_table(
        "enrolment_codes",
        _id(),
        sa.Column("code", sa.String(length=32), nullable=False),
        _user("provider_id", ondelete="CASCADE", nullable=False),
        sa.Column("study_arm", sa.String(length=40), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("code"),
    )
    op.create_index("ix_enrolment_codes_provider_id", "enrolment_codes", ["provider_id"])
    participant = sa.ForeignKey("participants.id", ondelete="CASCADE")
    op.create_table(
        "module_progress",
        _id(),
        sa.Column("participant_id", sa.Integer(), participant, nullable=False),
        sa.Column("module_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("participant_id", "module_id"),
    )
    op.create_index("ix_module_progress_participant_id", "module_progress", ["participant_id"])
    op.create_table(
        "module_answers",
        _id(),
        sa.Column(
            "participant_id",
            sa.Integer(),
            sa.ForeignKey("participants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("module_id", sa.String(length=64), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_module_answers_participant_id", "module_answers", ["participant_id"])

    with op.batch_alter_table("participants") as batch_op:
        batch_op.add_column(_user("provider_id"))
        batch_op.add_column(sa.Column("study_arm", sa.String(length=40), nullable=True))
        batch_op.create_index("ix_participants_provider_id", ["provider_id"])
    with op.batch_alter_table("care_team_messages") as batch_op:
        batch_op.add_column(_user("provider_id"))
        batch_op.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("delivery_attempts", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("care_team_alerts") as batch_op:
        batch_op.add_column(sa.Column("detail", sa.String(length=200), nullable=True))
        batch_op.add_column(_user("acknowledged_by"))
        batch_op.add_column(sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("scheduled_jobs") as batch_op:
        batch_op.add_column(_user("created_by"))


def downgrade() -> None:
    with op.batch_alter_table("scheduled_jobs") as batch_op:
        batch_op.drop_constraint("fk_created_by_console_users", type_="foreignkey")
        batch_op.drop_column("created_by")
    with op.batch_alter_table("care_team_alerts") as batch_op:
        batch_op.drop_constraint("fk_acknowledged_by_console_users", type_="foreignkey")
        batch_op.drop_column("notified_at")
        batch_op.drop_column("acknowledged_by")
        batch_op.drop_column("detail")
    with op.batch_alter_table("care_team_messages") as batch_op:
        batch_op.drop_constraint("fk_provider_id_console_users", type_="foreignkey")
        batch_op.drop_column("delivery_attempts")
        batch_op.drop_column("delivered_at")
        batch_op.drop_column("provider_id")
    with op.batch_alter_table("participants") as batch_op:
        batch_op.drop_index("ix_participants_provider_id")
        batch_op.drop_constraint("fk_provider_id_console_users", type_="foreignkey")
        batch_op.drop_column("study_arm")
        batch_op.drop_column("provider_id")
    for table in ("module_answers", "module_progress", "enrolment_codes", "console_sessions"):
        op.drop_table(table)
    op.drop_index("ix_console_users_email", table_name="console_users")
    op.drop_table("console_users")
