"""research and data protection: free-text consent and withdrawal, the audit log, the
codebook and codings for qualitative coding, one-time password resets

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 04:35:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)


def _user(name: str, ondelete: str = "SET NULL", nullable: bool = True) -> sa.Column:
    return sa.Column(
        name, sa.Integer(), sa.ForeignKey("console_users.id", ondelete=ondelete), nullable=nullable
    )


def upgrade() -> None:
    with op.batch_alter_table("participants") as batch_op:
        batch_op.add_column(
            sa.Column("free_text_consent", sa.Boolean(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("research_withdrawn_at", WHEN, nullable=True))
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", WHEN, nullable=False),
        _user("actor_id"),
        sa.Column("actor_email", sa.String(length=254), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.String(length=400), nullable=True),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_actor_id", "audit_log", ["actor_id"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])
    op.create_table(
        "codes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("colour", sa.String(length=7), nullable=False),
        sa.Column(
            "parent_id", sa.Integer(), sa.ForeignKey("codes.id", ondelete="SET NULL"), nullable=True
        ),
        _user("created_by"),
        sa.Column("created_at", WHEN, nullable=False),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "codings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "code_id", sa.Integer(), sa.ForeignKey("codes.id", ondelete="CASCADE"), nullable=False
        ),
        _user("coder_id"),
        sa.Column(
            "participant_id",
            sa.Integer(),
            sa.ForeignKey("participants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.Column("end", sa.Integer(), nullable=False),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
    )
    op.create_index("ix_codings_code_id", "codings", ["code_id"])
    op.create_index("ix_codings_participant_id", "codings", ["participant_id"])
    op.create_index("ix_codings_event_id", "codings", ["event_id"])
    op.create_table(
        "password_resets",
        sa.Column("id", sa.Integer(), primary_key=True),
        _user("user_id", ondelete="CASCADE", nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("used_at", WHEN, nullable=True),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_password_resets_user_id", "password_resets", ["user_id"])


def downgrade() -> None:
    for table in ("password_resets", "codings", "codes", "audit_log"):
        op.drop_table(table)
    with op.batch_alter_table("participants") as batch_op:
        batch_op.drop_column("research_withdrawn_at")
        batch_op.drop_column("free_text_consent")
