"""golden profiles, profile conflicts, status history; lookup index on customer_records.postcode

Revision ID: 0004_profiles
Revises: 0003_identity
Create Date: 2026-11-29 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import context.dbtypes

revision: str = "0004_profiles"
down_revision: str | Sequence[str] | None = "0003_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_profiles",
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("signature", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("computed_at", context.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("name_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("postcode_key", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("fields", sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql"), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status_cause", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status_source", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("status_source_record_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("status_since", context.dbtypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("plan", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("renewal_at", context.dbtypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ends_at", context.dbtypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lifetime_value", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
        sa.Column("order_count", sa.Integer(), nullable=False),
        sa.Column("first_order_at", context.dbtypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_order_at", context.dbtypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("open_ticket_count", sa.Integer(), nullable=False),
        sa.Column("conflict_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    with op.batch_alter_table("customer_profiles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_profiles_email"), ["email"], unique=False)
        batch_op.create_index("ix_customer_profiles_name_postcode", ["name_key", "postcode_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_customer_profiles_status"), ["status"], unique=False)

    op.create_table(
        "profile_conflicts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("field", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("chosen", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("chosen_source", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("values", sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql"), nullable=False),
        sa.Column("detected_at", context.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("profile_conflicts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_profile_conflicts_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_profile_conflicts_field"), ["field"], unique=False)

    op.create_table(
        "profile_status_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("from_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("to_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("cause", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("source_record_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("changed_at", context.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("profile_status_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_profile_status_history_customer_id"), ["customer_id"], unique=False)
    # Name + postcode lookups start from the postcode.
    with op.batch_alter_table("customer_records", schema=None) as batch_op:
        batch_op.create_index("ix_customer_records_postcode", ["postcode"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("customer_records", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_records_postcode")
    with op.batch_alter_table("profile_status_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profile_status_history_customer_id"))

    op.drop_table("profile_status_history")
    with op.batch_alter_table("profile_conflicts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profile_conflicts_field"))
        batch_op.drop_index(batch_op.f("ix_profile_conflicts_customer_id"))

    op.drop_table("profile_conflicts")
    with op.batch_alter_table("customer_profiles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_profiles_status"))
        batch_op.drop_index("ix_customer_profiles_name_postcode")
        batch_op.drop_index(batch_op.f("ix_customer_profiles_email"))

    op.drop_table("customer_profiles")
