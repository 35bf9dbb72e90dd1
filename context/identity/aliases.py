"""Merge aliases: the lookup that follows a customer id absorbed by a merge to the id that survived.

Its own module, apart from the resolver and the identity tables (the `customer_aliases` table is
context.identity.models.CustomerAlias): every read of one customer (the context builder, `contextdesk customers
show`) follows an alias, and should build no table class, load no ORM and no resolver to do it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Engine

from context.errors import CustomerNotFoundError
from context.readtables import customer_aliases, customers


def canonical_customer_id(*, engine: Engine, customer_id: str) -> str:
    """The current id of a customer, following aliases left by merges."""
    # Core on the tables' generated copies (context/readtables.py), not a Session on the SQLModel classes: the
    # same two lookups as resolution's `_canonical` without building a table class or configuring a mapper.
    with engine.connect() as conn:
        if conn.execute(select(customers.c.id).where(customers.c.id == customer_id)).first() is not None:
            return customer_id
        survivor = conn.execute(
            select(customers.c.id)
            .join(customer_aliases, customer_aliases.c.customer_id == customers.c.id)
            .where(customer_aliases.c.alias_id == customer_id)
        ).scalar()
    if survivor is not None:
        return str(survivor)
    raise CustomerNotFoundError(customer_id)
