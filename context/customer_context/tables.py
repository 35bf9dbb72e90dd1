"""Core tables the customer context reads (short aliases keep the queries legible).

From context.readtables, the Core copies generated from the SQLModel classes: a read of one customer builds no
table class and imports neither sqlmodel nor the ORM (`contextdesk customers show`: 2.9 -> 2.3 G instructions).
"""

from __future__ import annotations

from context import readtables as t

R, IDN, O, OI, S, TK, IA = (  # noqa: E741
    t.customer_records,
    t.identifiers,
    t.orders,
    t.order_items,
    t.subscriptions,
    t.tickets,
    t.interactions,
)
P, PC, SR, CU = t.customer_profiles, t.profile_conflicts, t.sync_runs, t.customers
