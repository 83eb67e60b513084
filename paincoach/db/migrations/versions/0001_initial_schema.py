"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 15:19:05.468513
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent_refusals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("refused_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "erasure_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tracker_erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("erasure_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_erasure_requests_pseudonym"), ["pseudonym"], unique=False
        )

    op.create_table(
        "participants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("consented_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("research_consent", sa.Boolean(), nullable=False),
        sa.Column("nickname", sa.String(length=40), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("checkin_time", sa.Time(), nullable=True),
        sa.Column("reminders_paused", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("enrolment_code", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_participants_pseudonym"), ["pseudonym"], unique=True)

    op.create_table(
        "care_team_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_patient", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("care_team_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_care_team_messages_participant_id"), ["participant_id"], unique=False
        )

    op.create_table(
        "checkins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pain_average", sa.Integer(), nullable=True),
        sa.Column("pain_enjoyment", sa.Integer(), nullable=True),
        sa.Column("pain_activity", sa.Integer(), nullable=True),
        sa.Column("mood", sa.Integer(), nullable=True),
        sa.Column("sleep_quality", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_checkins_participant_id"), ["participant_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_checkins_started_at"), ["started_at"], unique=False)

    op.create_table(
        "coping_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("exercise", sa.String(length=40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tension_before", sa.Integer(), nullable=True),
        sa.Column("tension_after", sa.Integer(), nullable=True),
        sa.Column("steps_completed", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("coping_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coping_sessions_participant_id"), ["participant_id"], unique=False
        )

    op.create_table(
        "flare_up_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("warning_signs", sa.Text(), nullable=False),
        sa.Column("what_helps", sa.Text(), nullable=False),
        sa.Column("what_to_ease_off", sa.Text(), nullable=False),
        sa.Column("who_can_help", sa.Text(), nullable=False),
        sa.Column("note_to_self", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("flare_up_plans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_flare_up_plans_participant_id"), ["participant_id"], unique=False
        )

    op.create_table(
        "goals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("activity", sa.String(length=200), nullable=False),
        sa.Column("times_per_week", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("goals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_goals_participant_id"), ["participant_id"], unique=False
        )

    op.create_table(
        "safety_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("detected_by", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("safe_now", sa.Boolean(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("safety_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_safety_events_participant_id"), ["participant_id"], unique=False
        )

    op.create_table(
        "goal_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("goal_id", sa.Integer(), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("times_done", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["goal_id"], ["goals.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("goal_reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_goal_reviews_goal_id"), ["goal_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("goal_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_goal_reviews_goal_id"))

    op.drop_table("goal_reviews")
    with op.batch_alter_table("safety_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_safety_events_participant_id"))

    op.drop_table("safety_events")
    with op.batch_alter_table("goals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_goals_participant_id"))

    op.drop_table("goals")
    with op.batch_alter_table("flare_up_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flare_up_plans_participant_id"))

    op.drop_table("flare_up_plans")
    with op.batch_alter_table("coping_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coping_sessions_participant_id"))

    op.drop_table("coping_sessions")
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkins_started_at"))
        batch_op.drop_index(batch_op.f("ix_checkins_participant_id"))

    op.drop_table("checkins")
    with op.batch_alter_table("care_team_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_care_team_messages_participant_id"))

    op.drop_table("care_team_messages")
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_participants_pseudonym"))

    op.drop_table("participants")
    with op.batch_alter_table("erasure_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erasure_requests_pseudonym"))

    op.drop_table("erasure_requests")
    op.drop_table("consent_refusals")
