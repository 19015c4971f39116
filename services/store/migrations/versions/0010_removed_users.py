"""Removed users: a session token of a user removed before a restart stays void after it

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "removed_user",
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("removed_at_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade() -> None:
    op.drop_table("removed_user")
