"""a stage may name the NPM certificate for its hosts

`stage.certificate_id` (nullable): the NPM certificate attached to the stage's new proxy hosts.
Null keeps the earlier behaviour for existing stages: the NPM settings' certificate, else a
valid one NPM holds for the host's name.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stage", schema=None) as batch_op:
        batch_op.add_column(sa.Column("certificate_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stage", schema=None) as batch_op:
        batch_op.drop_column("certificate_id")
