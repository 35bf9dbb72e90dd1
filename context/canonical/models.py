"""Canonical customer schema: what every source record is standardized into.

Each source record yields one `CustomerRecord` (the person as that record sees them) with its
`Identifier`s, plus at most one entity row (order, subscription, ticket or interaction) tied to it.
Identity resolution (context.identity) links customer records into `Customer`s. Every row carries
its source, source record id and the source's updated_at.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Index, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel

from context.dbtypes import JSONType, UTCDateTime

MONEY = Numeric(18, 4)


def _ts(*, index: bool = False, nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), index=index, nullable=nullable))


class SourceRowMixin(SQLModel):
    """Where a canonical row came from."""

    source: str = Field(max_length=64)
    source_record_id: str = Field(max_length=255)


class Customer(SQLModel, table=True):
    """A resolved customer: a connected component of the identity graph, with a stable id."""

    __tablename__ = "customers"

    id: str = Field(primary_key=True, max_length=40)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Company(SourceRowMixin, table=True):
    """A company or account as one source knows it."""

    __tablename__ = "companies"
    __table_args__ = (UniqueConstraint("source", "source_record_id"),)

    id: int | None = Field(default=None, primary_key=True)
    source_updated_at: datetime | None = _ts()
    name: str = Field(max_length=255)
    normalized_name: str = Field(max_length=255, index=True)
    domain: str | None = Field(default=None, max_length=255)


class CustomerRecordBase(SQLModel):
    """Standardized person fields of one source record."""

    email: str | None = Field(default=None, max_length=320)
    email_original: str | None = None
    phone: str | None = Field(default=None, max_length=32)
    phone_original: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    name_original: str | None = None
    company: str | None = None
    job_title: str | None = None
    country: str | None = Field(default=None, max_length=2)
    region: str | None = None
    city: str | None = None
    postcode: str | None = Field(default=None, max_length=32)
    address: str | None = None
    lifecycle_stage: str | None = Field(default=None, max_length=64)
    crm_owner: str | None = None
    deal_stage: str | None = Field(default=None, max_length=64)
    plan: str | None = Field(default=None, max_length=64)
    notes: str | None = None


#: What a source says about the account rather than about who the person is (CRM stage, owner, plan, notes).
ACCOUNT_FIELDS: tuple[str, ...] = ("lifecycle_stage", "crm_owner", "deal_stage", "plan", "notes")
#: Every standardized field of a record (the `*_original` copies of the raw text left out), in column order.
RECORD_FIELDS: tuple[str, ...] = tuple(f for f in CustomerRecordBase.model_fields if not f.endswith("_original"))
#: Who the person is — what identity resolution compares: the record fields less the account facts.
PERSON_FIELDS: tuple[str, ...] = tuple(f for f in RECORD_FIELDS if f not in ACCOUNT_FIELDS)


class CustomerRecord(SourceRowMixin, CustomerRecordBase, table=True):
    """The person as one source record sees them (a node of the identity graph)."""

    __tablename__ = "customer_records"
    # Name + postcode lookups start from the postcode (the index migration 0004 creates).
    __table_args__ = (UniqueConstraint("source", "source_record_id"), Index("ix_customer_records_postcode", "postcode"))

    id: int | None = Field(default=None, primary_key=True)
    source_updated_at: datetime | None = _ts()
    signed_up_at: datetime | None = _ts()
    company_id: int | None = Field(default=None, foreign_key="companies.id")
    # Canonical fields the source sent explicitly blank (as opposed to not having the column):
    # survivorship uses this to tell "cleared" from "unknown".
    blank_fields: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    customer_id: str | None = Field(default=None, foreign_key="customers.id", index=True, max_length=40)
    synced_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class CustomerRecordPublic(CustomerRecordBase):
    """A customer record as the API shows it."""

    id: int
    source: str
    source_record_id: str
    source_updated_at: datetime | None
    customer_id: str | None


class Identifier(SourceRowMixin, table=True):
    """A normalized identifier of a customer record: email, E.164 phone or a namespaced external id."""

    __tablename__ = "identifiers"
    __table_args__ = (
        UniqueConstraint("record_id", "kind", "value"),
        Index("ix_identifiers_kind_value", "kind", "value"),
    )

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="customer_records.id", index=True)
    kind: str = Field(max_length=64)
    value: str = Field(max_length=320)
    source_updated_at: datetime | None = _ts()


class Order(SourceRowMixin, table=True):
    """An order, with totals, fulfillment and tracking."""

    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("source", "source_record_id"),)

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="customer_records.id", index=True)
    source_updated_at: datetime | None = _ts()
    order_number: str | None = Field(default=None, max_length=64, index=True)
    placed_at: datetime | None = _ts()
    currency: str | None = Field(default=None, max_length=3)
    subtotal: Decimal | None = Field(default=None, sa_column=Column(MONEY))
    total: Decimal | None = Field(default=None, sa_column=Column(MONEY))
    financial_status: str | None = Field(default=None, max_length=64)
    fulfillment_status: str | None = Field(default=None, max_length=64)
    tracking_numbers: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    carrier: str | None = None
    shipping_address: str | None = None


class OrderItem(SourceRowMixin, table=True):
    """One line of an order."""

    __tablename__ = "order_items"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    source_updated_at: datetime | None = _ts()
    sku: str | None = Field(default=None, max_length=128)
    name: str | None = None
    quantity: int = 1
    unit_price: Decimal | None = Field(default=None, sa_column=Column(MONEY))


class Subscription(SourceRowMixin, table=True):
    """A subscription: plan, status, trial and billing period, MRR."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("source", "source_record_id"),)

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="customer_records.id", index=True)
    source_updated_at: datetime | None = _ts()
    subscription_ref: str | None = Field(default=None, max_length=128, index=True)
    plan: str | None = Field(default=None, max_length=64)
    status: str | None = Field(default=None, max_length=32)
    interval: str | None = Field(default=None, max_length=16)
    started_at: datetime | None = _ts()
    trial_end: datetime | None = _ts()
    current_period_end: datetime | None = _ts()
    cancel_at: datetime | None = _ts()
    canceled_at: datetime | None = _ts()
    mrr: Decimal | None = Field(default=None, sa_column=Column(MONEY))
    currency: str | None = Field(default=None, max_length=3)


class Ticket(SourceRowMixin, table=True):
    """A support ticket."""

    __tablename__ = "tickets"
    __table_args__ = (UniqueConstraint("source", "source_record_id"),)

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="customer_records.id", index=True)
    source_updated_at: datetime | None = _ts()
    ticket_ref: str | None = Field(default=None, max_length=128)
    subject: str | None = None
    status: str | None = Field(default=None, max_length=32)
    priority: str | None = Field(default=None, max_length=32)
    channel: str | None = Field(default=None, max_length=32)
    opened_at: datetime | None = _ts()
    updated_at: datetime | None = _ts()
    resolved_at: datetime | None = _ts()
    last_public_message: str | None = None


class Interaction(SourceRowMixin, table=True):
    """A form fill, campaign click or page visit."""

    __tablename__ = "interactions"
    __table_args__ = (UniqueConstraint("source", "source_record_id"),)

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="customer_records.id", index=True)
    source_updated_at: datetime | None = _ts()
    kind: str | None = Field(default=None, max_length=32)
    occurred_at: datetime | None = _ts()
    url: str | None = None
    campaign: str | None = None
    message: str | None = None
