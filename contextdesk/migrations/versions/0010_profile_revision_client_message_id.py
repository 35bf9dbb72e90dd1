"""chat engine: a revision token on each golden profile (the customer context cache's key) and the client's
message id of a customer message (idempotent retries), unique per conversation

Revision ID: 0010_profile_revision_client_msg
Revises: 0009_engine_events
Create Date: 2026-12-03 11:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010_profile_revision_client_msg"
down_revision: str | Sequence[str] | None = "0009_engine_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customer_profiles") as batch:
        batch.add_column(sa.Column("revision", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
    with op.batch_alter_table("agent_messages") as batch:
        batch.add_column(sa.Column("client_message_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.create_index(
        "ux_agent_messages_client_message_id",
        "agent_messages",
        ["conversation_id", "client_message_id"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ux_agent_messages_client_message_id", table_name="agent_messages")
    with op.batch_alter_table("agent_messages") as batch:
        batch.drop_column("client_message_id")
    with op.batch_alter_table("customer_profiles") as batch:
        batch.drop_column("revision")
