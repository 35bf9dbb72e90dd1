"""handoff: one lifecycle — escalations lose their own status (the handoffs row is the state) and gain a trigger

Revision ID: 0008_handoff_one_lifecycle
Revises: 0007_connectors
Create Date: 2026-12-02 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import context.dbtypes

revision: str = "0008_handoff_one_lifecycle"
down_revision: str | Sequence[str] | None = "0007_connectors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agent_handoff_requests") as batch:
        batch.add_column(sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch.drop_index("ix_agent_handoff_requests_status")
        batch.drop_column("status")
        batch.drop_column("resolved_at")
        batch.drop_column("resolved_by")


def downgrade() -> None:
    with op.batch_alter_table("agent_handoff_requests") as batch:
        batch.add_column(sa.Column("resolved_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        batch.add_column(sa.Column("resolved_at", context.dbtypes.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), server_default="open", nullable=False)
        )
        batch.create_index("ix_agent_handoff_requests_status", ["status"], unique=False)
        batch.drop_column("trigger")
