"""deploy config snapshots, rollbacks and the number of rollback images kept

`deploy.config_snapshot` holds what a deploy's container was built from (env with secret values
as the ciphertext stored, mounts, port, health settings), so a rollback runs that config and not
today's; `deploy.rollback_of` names the deploy a rollback returns to, and `deploy.trigger` takes
the new value `ROLLBACK` (SQLite keeps the enum as VARCHAR sized to the longest name).
`global_settings.rollback_keep` is how many successful digests per stage image clean-up keeps.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_TRIGGERS = ("WEBHOOK", "POLL", "MANUAL", "QUICK", "PROMOTE")
NEW_TRIGGERS = (*OLD_TRIGGERS, "ROLLBACK")


def _triggers(names: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*names, name="deploytrigger")


def upgrade() -> None:
    with op.batch_alter_table("deploy", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("config_snapshot", sa.JSON(), nullable=False, server_default="{}")
        )
        batch_op.add_column(sa.Column("rollback_of", sa.Integer(), nullable=True))
        batch_op.alter_column(
            "trigger",
            existing_type=_triggers(OLD_TRIGGERS),
            type_=_triggers(NEW_TRIGGERS),
            existing_nullable=False,
        )
    with op.batch_alter_table("global_settings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rollback_keep", sa.Integer(), nullable=False, server_default="3")
        )


def downgrade() -> None:
    with op.batch_alter_table("global_settings", schema=None) as batch_op:
        batch_op.drop_column("rollback_keep")
    op.execute("UPDATE deploy SET \"trigger\" = 'MANUAL' WHERE \"trigger\" = 'ROLLBACK'")
    with op.batch_alter_table("deploy", schema=None) as batch_op:
        batch_op.alter_column(
            "trigger",
            existing_type=_triggers(NEW_TRIGGERS),
            type_=_triggers(OLD_TRIGGERS),
            existing_nullable=False,
        )
        batch_op.drop_column("rollback_of")
        batch_op.drop_column("config_snapshot")
