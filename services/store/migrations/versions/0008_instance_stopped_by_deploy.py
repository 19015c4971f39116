"""instance.stopped_by_deploy: the stop_first deploy that stopped an instance

A stop_first deploy stops the instances it replaces before it starts the new one. When that
deploy fails and its undo cannot finish (an outage), or the process dies mid-deploy, the
reconciler's clean-up starts these instances again, so the stage does not stay down.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("instance", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stopped_by_deploy", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instance", schema=None) as batch_op:
        batch_op.drop_column("stopped_by_deploy")
