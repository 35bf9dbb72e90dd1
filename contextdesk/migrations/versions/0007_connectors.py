"""connectors: stream cursors, source locks, the webhook inbox and rejections; tombstones on raw records

Revision ID: 0007_connectors
Revises: 0006_handoff
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import context.dbtypes

revision: str = "0007_connectors"
down_revision: str | Sequence[str] | None = "0006_handoff"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("raw_records") as batch:
        batch.add_column(sa.Column("deleted", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("deleted", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "source_cursors",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("cursor", context.dbtypes.JSONType, nullable=False),
        sa.Column("updated_at", context.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )
    op.create_table(
        "source_locks",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("expires_at", context.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )
    op.create_table(
        "webhook_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("object_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("occurred_at", context.dbtypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("headers", context.dbtypes.JSONType, nullable=False),
        sa.Column("received_at", context.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("processed_at", context.dbtypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "event_id"),
    )
    op.create_index("ix_webhook_inbox_pending", "webhook_inbox", ["status", "id"])
    op.create_index("ix_webhook_inbox_object", "webhook_inbox", ["source", "object_id"])
    op.create_table(
        "webhook_rejections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("remote", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("received_at", context.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("webhook_rejections")
    op.drop_index("ix_webhook_inbox_object", table_name="webhook_inbox")
    op.drop_index("ix_webhook_inbox_pending", table_name="webhook_inbox")
    op.drop_table("webhook_inbox")
    op.drop_table("source_locks")
    op.drop_table("source_cursors")
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("deleted")
    with op.batch_alter_table("raw_records") as batch:
        batch.drop_column("deleted")
