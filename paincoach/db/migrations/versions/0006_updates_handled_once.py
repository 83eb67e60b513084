"""updates handled once: the Telegram updates received (content kept until handled), the turn
key of a kept message, the update that pressed a button

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "telegram_updates",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("received_at", WHEN, nullable=False),
        sa.Column("handled_at", WHEN, nullable=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("body", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("update_id"),
    )
    with op.batch_alter_table("telegram_updates") as batch_op:
        batch_op.create_index(batch_op.f("ix_telegram_updates_received_at"), ["received_at"])
        batch_op.create_index(batch_op.f("ix_telegram_updates_handled_at"), ["handled_at"])
        batch_op.create_index(batch_op.f("ix_telegram_updates_chat_id"), ["chat_id"])
    with op.batch_alter_table("pending_messages") as batch_op:
        batch_op.add_column(sa.Column("turn", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_pending_messages_turn"), ["turn"])
    with op.batch_alter_table("sent_keyboards") as batch_op:
        batch_op.add_column(sa.Column("pressed_update_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sent_keyboards") as batch_op:
        batch_op.drop_column("pressed_update_id")
    with op.batch_alter_table("pending_messages") as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_messages_turn"))
        batch_op.drop_column("turn")
    op.drop_table("telegram_updates")
