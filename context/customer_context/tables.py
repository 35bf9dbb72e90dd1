"""Core tables the customer context reads (short aliases keep the queries legible)."""

from __future__ import annotations

from context.canonical.models import (
    Customer,
    CustomerRecord,
    Identifier,
    Interaction,
    Order,
    OrderItem,
    Subscription,
    Ticket,
)
from context.dbtypes import table_of
from context.intake.runs import SyncRun
from context.profiles.models import CustomerProfile, ProfileConflict

R, IDN, O, OI, S, TK, IA = (  # noqa: E741
    table_of(CustomerRecord),
    table_of(Identifier),
    table_of(Order),
    table_of(OrderItem),
    table_of(Subscription),
    table_of(Ticket),
    table_of(Interaction),
)
P, PC, SR, CU = table_of(CustomerProfile), table_of(ProfileConflict), table_of(SyncRun), table_of(Customer)
