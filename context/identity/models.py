"""Identity tables: the graph's edges, review queue, do-not-link constraints, aliases, action log, state.

Graph nodes are customer records, named by their record key 'source:source_record_id' (stable across
rebuilds and readable in the audit trail). A resolved customer is a connected component of accepted
edges; `customer_records.customer_id` holds the result.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from pydantic import Field as ModelField
from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from context.canonical.models import CustomerRecord
from context.dbtypes import JSONType, UTCDateTime, table_of
from context.identity.reviews import ReviewPublic as ReviewPublic
from context.identity.sql import KEY_LEN

# Incremental resolution reads the records synced since its watermark; without this index each call scans
# every record (tens of milliseconds at 100k customers). Identity is the only reader, so it owns the index.
SYNCED_AT_INDEX = Index("ix_customer_records_synced_at", table_of(CustomerRecord).c.synced_at)


def _now_column() -> Any:
    # No default: the caller passes the injected "now" (nothing below the composition root reads the clock).
    return Field(sa_column=Column(UTCDateTime(), nullable=False))


class IdentityReview(SQLModel, table=True):
    """A pair waiting for (or given) a human decision (listed by identity.reviews, decided by identity.actions)."""

    __tablename__ = "identity_reviews"
    __table_args__ = (
        Index("ix_identity_reviews_pair", "record_a", "record_b"),
        Index("ix_identity_reviews_b", "record_b"),
    )

    id: int | None = Field(default=None, primary_key=True)
    record_a: str = Field(max_length=KEY_LEN)
    record_b: str = Field(max_length=KEY_LEN)
    reason: str
    score: float
    evidence: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    status: str = Field(default="pending", max_length=16, index=True)  # pending | approved | rejected
    decided_by: str | None = Field(default=None, max_length=128)
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = _now_column()


class CustomerAlias(SQLModel, table=True):
    """A customer id absorbed by a merge, pointing at the id that survived (followed by identity.aliases)."""

    __tablename__ = "customer_aliases"

    alias_id: str = Field(primary_key=True, max_length=40)
    customer_id: str = Field(max_length=40, index=True)
    reason: str = Field(default="merge", max_length=64)
    created_at: datetime = _now_column()


class IdentityEdge(SQLModel, table=True):
    """A link decision: the rule or model that made it, the evidence, the score, who approved it."""

    __tablename__ = "identity_edges"
    __table_args__ = (Index("ix_identity_edges_a", "record_a"), Index("ix_identity_edges_b", "record_b"))

    id: int | None = Field(default=None, primary_key=True)
    record_a: str = Field(max_length=KEY_LEN)
    record_b: str = Field(max_length=KEY_LEN)
    kind: str = Field(max_length=16)  # manual | deterministic | probabilistic
    rule: str = Field(max_length=64)
    score: float
    evidence: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    approved_by: str = Field(default="system", max_length=128)
    action_id: int | None = Field(default=None, foreign_key="identity_actions.id")
    created_at: datetime = _now_column()


class DoNotLink(SQLModel, table=True):
    """Two records that must never be in one customer (from a rejected review or an unmerge)."""

    __tablename__ = "identity_do_not_link"
    __table_args__ = (UniqueConstraint("record_a", "record_b"), Index("ix_identity_dnl_b", "record_b"))

    id: int | None = Field(default=None, primary_key=True)
    record_a: str = Field(max_length=KEY_LEN)
    record_b: str = Field(max_length=KEY_LEN)
    reason: str
    created_by: str = Field(max_length=128)
    action_id: int | None = Field(default=None, foreign_key="identity_actions.id")
    created_at: datetime = _now_column()


class IdentityAction(SQLModel, table=True):
    """One logged action (merge, unmerge, review decision, resolve run) and how to undo it."""

    __tablename__ = "identity_actions"

    id: int | None = Field(default=None, primary_key=True)
    action: str = Field(max_length=32)
    actor: str = Field(max_length=128)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    created_at: datetime = _now_column()
    undone_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    undone_by: str | None = Field(default=None, max_length=128)


class BlockKey(SQLModel, table=True):
    """A probabilistic blocking key of a record: records sharing one are scored against each other."""

    __tablename__ = "identity_block_keys"

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="customer_records.id", index=True)
    key: str = Field(max_length=512, index=True)


class IdentityState(SQLModel, table=True):
    """Small persistent state: the resolution watermark and the fitted model."""

    __tablename__ = "identity_state"

    key: str = Field(primary_key=True, max_length=64)
    value: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    updated_at: datetime = _now_column()


class ResolveSummary(BaseModel):
    """What one resolution run did."""

    records: int
    affected: int
    customers_created: int
    customers_merged: int
    customers_split: int
    edges: int
    reviews: int
    seconds: float
    #: Customers an incremental run changed: those its records left and those they now belong to (created,
    #: merged away, split or kept). Whoever recomputes profiles next needs only these; not serialized.
    customers: frozenset[str] = ModelField(default=frozenset(), exclude=True)


class EdgePublic(BaseModel):
    """An edge as the CLI/API shows it."""

    record_a: str
    record_b: str
    kind: str
    rule: str
    score: float
    evidence: list[dict[str, Any]]
    approved_by: str
    created_at: datetime


class ActionPublic(BaseModel):
    """A logged action."""

    id: int
    action: str
    actor: str
    payload: dict[str, Any]
    created_at: datetime
    undone_at: datetime | None
