"""agent: conversations, messages, turns (route, context snapshot, passages, model, tokens), handoff requests

Revision ID: 0005_agent
Revises: 0004_profiles
Create Date: 2026-11-29 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import context.dbtypes

revision: str = "0005_agent"
down_revision: str | Sequence[str] | None = "0004_profiles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('agent_conversations',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('created_at', context.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', context.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('identity_kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('route', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('route_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('lead', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('message_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_agent_conversations_customer_id'), 'agent_conversations', ['customer_id'], unique=False)
    op.create_index(op.f('ix_agent_conversations_state'), 'agent_conversations', ['state'], unique=False)
    op.create_table('agent_handoff_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('turn_id', sa.Integer(), nullable=True),
    sa.Column('created_at', context.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason_code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('team', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('route', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('within_business_hours', sa.Boolean(), nullable=False),
    sa.Column('human_eta', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('resolved_at', context.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.ForeignKeyConstraint(['conversation_id'], ['agent_conversations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_agent_handoff_requests_conversation_id'), 'agent_handoff_requests', ['conversation_id'], unique=False)
    op.create_index(op.f('ix_agent_handoff_requests_reason_code'), 'agent_handoff_requests', ['reason_code'], unique=False)
    op.create_index(op.f('ix_agent_handoff_requests_status'), 'agent_handoff_requests', ['status'], unique=False)
    op.create_table('agent_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('created_at', context.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('turn_id', sa.Integer(), nullable=True),
    sa.Column('citations', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('author', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.ForeignKeyConstraint(['conversation_id'], ['agent_conversations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_agent_messages_conversation_id'), 'agent_messages', ['conversation_id'], unique=False)
    op.create_table('agent_turns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('customer_message_id', sa.Integer(), nullable=True),
    sa.Column('reply_message_id', sa.Integer(), nullable=True),
    sa.Column('created_at', context.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('route', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('route_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('intent', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('topic', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('context_snapshot', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=True),
    sa.Column('passages', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('retrieval_confidence', sa.Float(), nullable=True),
    sa.Column('low_confidence', sa.Boolean(), nullable=False),
    sa.Column('responder', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('model', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('fallback_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('latency_ms', sa.Float(), nullable=False),
    sa.Column('llm_latency_ms', sa.Float(), nullable=True),
    sa.Column('prompt_tokens', sa.Integer(), nullable=True),
    sa.Column('completion_tokens', sa.Integer(), nullable=True),
    sa.Column('answered', sa.Boolean(), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('cited_passage_ids', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('context_fields_used', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('escalated', sa.Boolean(), nullable=False),
    sa.Column('escalation_reason_code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('escalation_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('grounding_issues', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('prompt', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['agent_conversations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_agent_turns_conversation_id'), 'agent_turns', ['conversation_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_agent_turns_conversation_id'), table_name='agent_turns')
    op.drop_table('agent_turns')
    op.drop_index(op.f('ix_agent_messages_conversation_id'), table_name='agent_messages')
    op.drop_table('agent_messages')
    op.drop_index(op.f('ix_agent_handoff_requests_status'), table_name='agent_handoff_requests')
    op.drop_index(op.f('ix_agent_handoff_requests_reason_code'), table_name='agent_handoff_requests')
    op.drop_index(op.f('ix_agent_handoff_requests_conversation_id'), table_name='agent_handoff_requests')
    op.drop_table('agent_handoff_requests')
    op.drop_index(op.f('ix_agent_conversations_state'), table_name='agent_conversations')
    op.drop_index(op.f('ix_agent_conversations_customer_id'), table_name='agent_conversations')
    op.drop_table('agent_conversations')
