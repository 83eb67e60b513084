"""safety tiers: each safety event's tier, what raised it, and the answer to a check question

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 02:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("safety_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tier", sa.String(length=10), server_default="certain", nullable=False)
        )
        batch_op.add_column(sa.Column("reason", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("check_answer", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("safety_events", schema=None) as batch_op:
        batch_op.drop_column("check_answer")
        batch_op.drop_column("reason")
        batch_op.drop_column("tier")
