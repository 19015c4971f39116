"""encrypted notification URLs and the named-volume allow-list

`global_settings.notification_urls` now holds each URL sealed (`v1:` ciphertext). A migration
has no encryption key, so URLs stored in plain stay as they are here: `SettingsStore` seals
every plain URL it finds the first time it loads the row (at start-up, when the notifier is
built), so none outlives the first start. The column keeps its name and JSON type.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("global_settings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("named_volumes", sa.JSON(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    # Sealed URLs cannot be opened without the key: drop them rather than leave ciphertext
    # where the older code expects URLs.
    with op.batch_alter_table("global_settings", schema=None) as batch_op:
        batch_op.drop_column("named_volumes")
    op.execute("UPDATE global_settings SET notification_urls = '[]'")
