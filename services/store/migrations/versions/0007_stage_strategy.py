"""a stage's deploy strategy replaces its unused blue_green switch

`stage.blue_green` was stored, edited and exported but no deploy ever read it: every deploy
started the new instance beside the old one and switched once it was healthy. So every existing
stage gets the strategy it always ran, `blue_green`, whatever the old switch said. SQLAlchemy
stores an enum by its member name (`BLUE_GREEN`), as the other enum columns.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STRATEGY = sa.Enum("BLUE_GREEN", "STOP_FIRST", name="deploystrategy")


def upgrade() -> None:
    with op.batch_alter_table("stage", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("strategy", STRATEGY, nullable=False, server_default="BLUE_GREEN")
        )
        batch_op.drop_column("blue_green")


def downgrade() -> None:
    # The older code never read blue_green: false is as good as any value.
    with op.batch_alter_table("stage", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("blue_green", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.drop_column("strategy")
