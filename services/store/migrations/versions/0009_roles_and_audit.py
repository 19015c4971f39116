"""Roles, disabled users, OIDC sign-in settings, the deploy's actor and the audit log

- user.role replaces user.is_admin (admins stay admins; anyone else becomes a viewer),
  user.disabled, user.oidc_issuer.
- auth_settings: the provider's display name, the claims read, who may enter (emails by
  domain, verified emails), the group -> role map with its default.
- global_settings.audit_retention_days.
- deploy.actor: who asked for each deploy (earlier webhook and poll deploys get "webhook" and
  "poller"; others, whose person is unknown, "unknown").
- audit_event: the append-only audit log.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 23:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = sa.Enum("ADMIN", "DEPLOYER", "VIEWER", name="role")
ACTOR_KIND = sa.Enum("USER", "WEBHOOK", "POLLER", "SYSTEM", name="actorkind")
OUTCOME = sa.Enum("OK", "FAILED", "REFUSED", name="auditoutcome")


def upgrade() -> None:
    _users()
    _auth_settings()
    with op.batch_alter_table("global_settings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("audit_retention_days", sa.Integer(), nullable=False, server_default="365")
        )
    with op.batch_alter_table("deploy", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("actor", sa.String(length=150), nullable=False, server_default="")
        )
    op.execute(
        "UPDATE deploy SET actor = CASE trigger WHEN 'WEBHOOK' THEN 'webhook' "
        "WHEN 'POLL' THEN 'poller' ELSE 'unknown' END"
    )
    _audit_event()


def _users() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("oidc_issuer", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("role", ROLE, nullable=False, server_default="VIEWER"))
        batch_op.add_column(
            sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute("UPDATE user SET role = CASE WHEN is_admin THEN 'ADMIN' ELSE 'VIEWER' END")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("is_admin")


def _auth_settings() -> None:
    text = [
        ("oidc_display_name", "OIDC"),
        ("oidc_username_claim", "preferred_username"),
        ("oidc_groups_claim", "groups"),
        ("oidc_default_role", ""),
    ]
    with op.batch_alter_table("auth_settings", schema=None) as batch_op:
        for name, default in text:
            batch_op.add_column(sa.Column(name, sa.String(), nullable=False, server_default=default))
        batch_op.add_column(
            sa.Column("allowed_email_domains", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(
            sa.Column(
                "require_verified_email", sa.Boolean(), nullable=False, server_default=sa.true()
            )
        )
        batch_op.add_column(
            sa.Column("oidc_role_map", sa.JSON(), nullable=False, server_default="{}")
        )


def _audit_event() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=150), nullable=False),
        sa.Column("actor_kind", ACTOR_KIND, nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("outcome", OUTCOME, nullable=False),
        sa.Column("project_name", sa.String(), nullable=True),
        sa.Column("stage_name", sa.String(), nullable=True),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("message", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_ts"), ["ts"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_actor"), ["actor"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_action"), ["action"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_event_project_name"), ["project_name"], unique=False
        )


def downgrade() -> None:
    op.drop_table("audit_event")
    with op.batch_alter_table("deploy", schema=None) as batch_op:
        batch_op.drop_column("actor")
    with op.batch_alter_table("global_settings", schema=None) as batch_op:
        batch_op.drop_column("audit_retention_days")
    with op.batch_alter_table("auth_settings", schema=None) as batch_op:
        for name in (
            "oidc_role_map",
            "require_verified_email",
            "allowed_email_domains",
            "oidc_default_role",
            "oidc_groups_claim",
            "oidc_username_claim",
            "oidc_display_name",
        ):
            batch_op.drop_column(name)
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute("UPDATE user SET is_admin = (role = 'ADMIN')")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("disabled")
        batch_op.drop_column("role")
        batch_op.drop_column("oidc_issuer")
