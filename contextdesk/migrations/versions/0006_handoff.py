"""handoff: handoffs with summaries, state history, notes, the delivery outbox, attempts, dead letters

Revision ID: 0006_handoff
Revises: 0005_agent
Create Date: 2026-11-29 17:57:04.698743
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import context.dbtypes

revision: str = "0006_handoff"
down_revision: str | Sequence[str] | None = "0005_agent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('handoffs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('created_at', context.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', context.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('priority', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('priority_rank', sa.Integer(), nullable=False),
    sa.Column('reason_code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('team', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('headline', sa.Text(), nullable=False),
    sa.Column('written_by', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('summary', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('claimed_at', context.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('closed_at', context.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['conversation_id'], ['agent_conversations.id'], ),
    sa.ForeignKeyConstraint(['request_id'], ['agent_handoff_requests.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_id')
    )
    op.create_index(op.f('ix_handoffs_conversation_id'), 'handoffs', ['conversation_id'], unique=False)
    op.create_index(op.f('ix_handoffs_created_at'), 'handoffs', ['created_at'], unique=False)
    op.create_index(op.f('ix_handoffs_priority'), 'handoffs', ['priority'], unique=False)
    op.create_index(op.f('ix_handoffs_reason_code'), 'handoffs', ['reason_code'], unique=False)
    op.create_index(op.f('ix_handoffs_status'), 'handoffs', ['status'], unique=False)

    op.create_table('handoff_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('handoff_id', sa.Integer(), nullable=False),
    sa.Column('target', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', context.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', context.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', context.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', context.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('handoff_id', 'target', name='uq_handoff_deliveries_handoff_target'),
    sa.UniqueConstraint('idempotency_key')
    )
    op.create_index(op.f('ix_handoff_deliveries_handoff_id'), 'handoff_deliveries', ['handoff_id'], unique=False)
    op.create_index(op.f('ix_handoff_deliveries_status'), 'handoff_deliveries', ['status'], unique=False)

    op.create_table('handoff_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('handoff_id', sa.Integer(), nullable=False),
    sa.Column('author', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', context.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_handoff_notes_handoff_id'), 'handoff_notes', ['handoff_id'], unique=False)

    op.create_table('handoff_state_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('handoff_id', sa.Integer(), nullable=False),
    sa.Column('from_state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('to_state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('at', context.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_handoff_state_changes_handoff_id'), 'handoff_state_changes', ['handoff_id'], unique=False)

    op.create_table('handoff_dead_letters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=False),
    sa.Column('created_at', context.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('retried_at', context.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('retried_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['handoff_deliveries.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_handoff_dead_letters_delivery_id'), 'handoff_dead_letters', ['delivery_id'], unique=False)

    op.create_table('handoff_delivery_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('at', context.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('status', sa.Integer(), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('duration_ms', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['handoff_deliveries.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_handoff_delivery_attempts_delivery_id'), 'handoff_delivery_attempts', ['delivery_id'], unique=False)



def downgrade() -> None:
    op.drop_index(op.f('ix_handoff_delivery_attempts_delivery_id'), table_name='handoff_delivery_attempts')

    op.drop_table('handoff_delivery_attempts')
    op.drop_index(op.f('ix_handoff_dead_letters_delivery_id'), table_name='handoff_dead_letters')

    op.drop_table('handoff_dead_letters')
    op.drop_index(op.f('ix_handoff_state_changes_handoff_id'), table_name='handoff_state_changes')

    op.drop_table('handoff_state_changes')
    op.drop_index(op.f('ix_handoff_notes_handoff_id'), table_name='handoff_notes')

    op.drop_table('handoff_notes')
    op.drop_index(op.f('ix_handoff_deliveries_status'), table_name='handoff_deliveries')
    op.drop_index(op.f('ix_handoff_deliveries_handoff_id'), table_name='handoff_deliveries')

    op.drop_table('handoff_deliveries')
    op.drop_index(op.f('ix_handoffs_status'), table_name='handoffs')
    op.drop_index(op.f('ix_handoffs_reason_code'), table_name='handoffs')
    op.drop_index(op.f('ix_handoffs_priority'), table_name='handoffs')
    op.drop_index(op.f('ix_handoffs_created_at'), table_name='handoffs')
    op.drop_index(op.f('ix_handoffs_conversation_id'), table_name='handoffs')

    op.drop_table('handoffs')
