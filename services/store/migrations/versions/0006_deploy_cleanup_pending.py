"""deploy.cleanup_pending: a failed deploy whose undo could not finish

A rollback step that fails (engine or NPM unreachable) no longer counts as done: the deploy is
marked, its instance rows stay, and the reconciler finishes the clean-up when the engine or NPM
answers again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deploy", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cleanup_pending", sa.Boolean(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("deploy", schema=None) as batch_op:
        batch_op.drop_column("cleanup_pending")
