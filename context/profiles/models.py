"""Golden profile tables (one row per resolved customer), their conflicts and status history."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, get_args

from pydantic import BaseModel
from sqlalchemy import Column, Index, Numeric
from sqlmodel import Field, SQLModel

from context.dbtypes import JSONType, UTCDateTime

#: A customer's account status, as context/profiles/status.py decides it: the one list (agent routes, evals and
#: the CLI read it with `get_args`).
AccountStatusName = Literal["trial", "active", "past_due", "former", "lead", "customer", "unknown"]
ACCOUNT_STATUSES: tuple[str, ...] = get_args(AccountStatusName)


def _ts(*, nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


class FieldValue(BaseModel):
    """A surviving value with its provenance: where it came from and which rule chose it."""

    value: Any
    source: str
    source_record_id: str
    source_updated_at: datetime | None = None
    rule: str


class CustomerProfile(SQLModel, table=True):
    """The golden profile of one customer: surviving fields with provenance, derived status and figures."""

    __tablename__ = "customer_profiles"
    __table_args__ = (Index("ix_customer_profiles_name_postcode", "name_key", "postcode_key"),)

    customer_id: str = Field(primary_key=True, max_length=40)
    # count:sum(record id):max(synced_at) of the member records: a change means "recompute me".
    signature: str = Field(max_length=128)
    computed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # A fresh random token on every (re)computation: the customer context cache keys on it (whatever the clock).
    revision: str | None = Field(default=None, max_length=32)
    record_count: int = 0
    display_name: str | None = None
    email: str | None = Field(default=None, max_length=320, index=True)
    phone: str | None = Field(default=None, max_length=32)
    name_key: str | None = Field(default=None, max_length=255)  # folded full name, for lookups
    postcode_key: str | None = Field(default=None, max_length=32)
    fields: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    status: str = Field(default="unknown", max_length=16, index=True)
    status_cause: str = ""
    status_source: str | None = Field(default=None, max_length=64)
    status_source_record_id: str | None = Field(default=None, max_length=255)
    status_since: datetime | None = _ts()
    plan: str | None = Field(default=None, max_length=64)
    renewal_at: datetime | None = _ts()
    ends_at: datetime | None = _ts()
    lifetime_value: Decimal | None = Field(default=None, sa_column=Column(Numeric(18, 4)))
    currency: str | None = Field(default=None, max_length=3)
    order_count: int = 0
    first_order_at: datetime | None = _ts()
    last_order_at: datetime | None = _ts()
    open_ticket_count: int = 0
    conflict_count: int = 0


class ProfileConflict(SQLModel, table=True):
    """Two sources disagree on a field: the values, who said what, and what survived."""

    __tablename__ = "profile_conflicts"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(max_length=40, index=True)
    field: str = Field(max_length=64, index=True)
    chosen: str | None = None
    chosen_source: str | None = Field(default=None, max_length=64)
    values: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    detected_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class StatusChange(SQLModel, table=True):
    """A change of a customer's derived status, with its cause."""

    __tablename__ = "profile_status_history"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(max_length=40, index=True)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    cause: str
    source: str | None = Field(default=None, max_length=64)
    source_record_id: str | None = Field(default=None, max_length=255)
    changed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ConflictPublic(BaseModel):
    """A recorded conflict as people see it."""

    customer_id: str
    field: str
    chosen: str | None
    chosen_source: str | None
    values: list[dict[str, Any]]
    detected_at: datetime


class StatusChangePublic(BaseModel):
    """One status change."""

    from_status: str | None
    to_status: str
    cause: str
    source: str | None
    source_record_id: str | None
    changed_at: datetime


class ProfilePublic(BaseModel):
    """A golden profile as the API/CLI shows it."""

    customer_id: str
    computed_at: datetime
    record_count: int
    display_name: str | None
    email: str | None
    phone: str | None
    fields: dict[str, FieldValue]
    status: str
    status_cause: str
    status_source: str | None
    status_source_record_id: str | None
    status_since: datetime | None
    plan: str | None
    renewal_at: datetime | None
    ends_at: datetime | None
    lifetime_value: Decimal | None
    currency: str | None
    order_count: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    open_ticket_count: int
    conflict_count: int


class RecomputeSummary(BaseModel):
    """What one recomputation did."""

    customers: int
    records: int
    removed: int
    status_changes: int
    conflicts: int
    seconds: float
