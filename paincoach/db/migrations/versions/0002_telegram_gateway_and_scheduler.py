"""telegram gateway and scheduler

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 15:52:41.180960
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("pending_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pending_messages_pseudonym"), ["pseudonym"], unique=False
        )

    op.create_table(
        "sent_keyboards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("payloads", sa.JSON(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pressed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pseudonym", "message_id"),
    )
    with op.batch_alter_table("sent_keyboards", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sent_keyboards_pseudonym"), ["pseudonym"], unique=False
        )

    op.create_table(
        "telegram_chats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chat_id"),
        sa.UniqueConstraint("pseudonym"),
    )
    op.create_table(
        "care_team_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("care_team_alerts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_care_team_alerts_participant_id"), ["participant_id"], unique=False
        )

    op.create_table(
        "scheduled_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("intent", sa.String(length=60), nullable=False),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("participant_id", "kind", "due_at"),
    )
    with op.batch_alter_table("scheduled_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scheduled_jobs_due_at"), ["due_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_scheduled_jobs_participant_id"), ["participant_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_scheduled_jobs_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("scheduled_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scheduled_jobs_status"))
        batch_op.drop_index(batch_op.f("ix_scheduled_jobs_participant_id"))
        batch_op.drop_index(batch_op.f("ix_scheduled_jobs_due_at"))

    op.drop_table("scheduled_jobs")
    with op.batch_alter_table("care_team_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_care_team_alerts_participant_id"))

    op.drop_table("care_team_alerts")
    op.drop_table("telegram_chats")
    with op.batch_alter_table("sent_keyboards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sent_keyboards_pseudonym"))

    op.drop_table("sent_keyboards")
    with op.batch_alter_table("pending_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_messages_pseudonym"))

    op.drop_table("pending_messages")
