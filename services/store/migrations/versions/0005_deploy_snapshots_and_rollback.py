"""deploy config snapshots, rollbacks and the number of rollback images kept

`deploy.config_snapshot` holds what a deploy's container was built from (env with secret values
as the ciphertext stored, mounts, port, health settings), so a rollback runs that config and not
today's; `deploy.rollback_of` names the deploy a rollback returns to. The new trigger value
`ROLLBACK` needs no change: SQLite keeps the enum as plain text without a CHECK constraint.
`global_settings.rollback_keep` is how many successful digests per stage image clean-up keeps.

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-07 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deploy", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("config_snapshot", sa.JSON(), nullable=False, server_default="{}")
        )
        batch_op.add_column(sa.Column("rollback_of", sa.Integer(), nullable=True))
    with op.batch_alter_table("global_settings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rollback_keep", sa.Integer(), nullable=False, server_default="3")
        )


def downgrade() -> None:
    with op.batch_alter_table("global_settings", schema=None) as batch_op:
        batch_op.drop_column("rollback_keep")
    with op.batch_alter_table("deploy", schema=None) as batch_op:
        batch_op.drop_column("rollback_of")
        batch_op.drop_column("config_snapshot")
    op.execute("UPDATE deploy SET \"trigger\" = 'MANUAL' WHERE \"trigger\" = 'ROLLBACK'")
