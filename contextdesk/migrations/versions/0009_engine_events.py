"""engine: the numbered event log of each conversation, its counter, the turn lease and the stop flag

Revision ID: 0009_engine_events
Revises: 0008_handoff_one_lifecycle
Create Date: 2026-12-02 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import context.dbtypes

revision: str = "0009_engine_events"
down_revision: str | Sequence[str] | None = "0008_handoff_one_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agent_conversations") as batch:
        batch.add_column(sa.Column("last_event_seq", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("turn_owner", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch.add_column(sa.Column("turn_until", context.dbtypes.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("stop_turn", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
    op.create_table(
        "conversation_events",
        sa.Column("conversation_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("data", sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql"), nullable=False),
        sa.Column("at", context.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["agent_conversations.id"]),
        sa.PrimaryKeyConstraint("conversation_id", "seq"),
    )


def downgrade() -> None:
    op.drop_table("conversation_events")
    with op.batch_alter_table("agent_conversations") as batch:
        batch.drop_column("stop_turn")
        batch.drop_column("turn_until")
        batch.drop_column("turn_owner")
        batch.drop_column("last_event_seq")
