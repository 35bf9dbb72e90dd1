"""Merge aliases: the table of customer ids absorbed by a merge, and the lookup that follows them.

Its own module, apart from the resolver and the other identity tables: every read of one customer (the context
builder, `contextdesk customers show`) follows an alias, and should not build the identity graph's tables and
load the resolver to do it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, select
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

from context.canonical.models import Customer
from context.dbtypes import UTCDateTime, table_of
from context.errors import CustomerNotFoundError


class CustomerAlias(SQLModel, table=True):
    """A customer id absorbed by a merge, pointing at the id that survived."""

    __tablename__ = "customer_aliases"

    alias_id: str = Field(primary_key=True, max_length=40)
    customer_id: str = Field(max_length=40, index=True)
    reason: str = Field(default="merge", max_length=64)
    # No default: the caller passes the injected "now" (nothing below the composition root reads the clock).
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


def canonical_customer_id(*, engine: Engine, customer_id: str) -> str:
    """The current id of a customer, following aliases left by merges."""
    # Core, not a Session: the same two lookups as resolution's `_canonical` without configuring every ORM
    # mapper (~0.1 s of a CLI read's start-up).
    customers, aliases = table_of(Customer), table_of(CustomerAlias)
    with engine.connect() as conn:
        if conn.execute(select(customers.c.id).where(customers.c.id == customer_id)).first() is not None:
            return customer_id
        survivor = conn.execute(
            select(customers.c.id)
            .join(aliases, aliases.c.customer_id == customers.c.id)
            .where(aliases.c.alias_id == customer_id)
        ).scalar()
    if survivor is not None:
        return str(survivor)
    raise CustomerNotFoundError(customer_id)
