"""Small factories: a resolved customer with records, orders, subscriptions, tickets — inserted directly."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session

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
from context.intake.models import SyncRun
from tests.clock import tick

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
_ids = itertools.count(1)


def day(n: float) -> datetime:
    """T0 plus n days."""
    return T0 + timedelta(days=n)


def customer(engine: Engine, customer_id: str | None = None) -> str:
    """A new customer id."""
    cid = customer_id or f"cus_test{next(_ids):06d}"
    with Session(engine) as session:
        session.add(Customer(id=cid, created_at=T0))
        session.commit()
    return cid


def record(
    engine: Engine,
    cid: str | None,
    source: str,
    rid: str | None = None,
    *,
    updated: datetime | None = None,
    blank: list[str] | None = None,
    identifiers: dict[str, str] | None = None,
    **fields: Any,
) -> int:
    """A customer record of `cid` with person fields; its email/phone become identifiers too."""
    rid = rid or f"r{next(_ids)}"
    with Session(engine) as session:
        rec = CustomerRecord(
            source=source,
            source_record_id=rid,
            source_updated_at=updated or T0,
            synced_at=tick(),
            customer_id=cid,
            blank_fields=blank or [],
            **fields,
        )
        session.add(rec)
        session.flush()
        assert rec.id is not None
        idents = dict(identifiers or {})
        if rec.email:
            idents.setdefault("email", rec.email)
        if rec.phone:
            idents.setdefault("phone", rec.phone)
        for kind, value in idents.items():
            session.add(Identifier(source=source, source_record_id=rid, record_id=rec.id, kind=kind, value=value))
        session.commit()
        return rec.id


def order(
    engine: Engine, cid: str, number: str, placed: datetime, total: str = "20.00", items: int = 1, **fields: Any
) -> int:
    """An order (its own shopify record, as intake makes it) with `items` line items."""
    rid = record(engine, cid, "shopify", f"o-{number}", updated=placed, email=fields.pop("email", None))
    with Session(engine) as session:
        o = Order(
            source="shopify",
            source_record_id=f"o-{number}",
            record_id=rid,
            source_updated_at=placed,
            order_number=number,
            placed_at=placed,
            currency=fields.pop("currency", "USD"),
            total=Decimal(total),
            financial_status=fields.pop("financial_status", "paid"),
            fulfillment_status=fields.pop("fulfillment_status", "fulfilled"),
            **fields,
        )
        session.add(o)
        session.flush()
        assert o.id is not None
        for i in range(items):
            session.add(
                OrderItem(
                    source="shopify",
                    source_record_id=f"o-{number}-{i}",
                    order_id=o.id,
                    sku=f"BL-TEA-{i}",
                    name=f"Tea {number}-{i}",
                    quantity=1,
                    unit_price=Decimal("10.00"),
                )
            )
        session.commit()
        return o.id


def subscription(
    engine: Engine, cid: str, ref: str, status: str, *, updated: datetime | None = None, **fields: Any
) -> int:
    """A Stripe subscription of `cid`."""
    rid = record(engine, cid, "stripe", ref, updated=updated)
    with Session(engine) as session:
        s = Subscription(
            source="stripe",
            source_record_id=ref,
            record_id=rid,
            source_updated_at=updated or T0,
            subscription_ref=ref,
            status=status,
            **fields,
        )
        session.add(s)
        session.commit()
        return rid


def set_subscription_status(engine: Engine, ref: str, status: str, **fields: Any) -> None:
    """Change a subscription the way a re-sync would (the record's synced_at moves too)."""
    with Session(engine) as session:
        session.exec(update(Subscription).where(Subscription.source_record_id == ref).values(status=status, **fields))  # type: ignore[arg-type]
        session.exec(
            update(CustomerRecord)
            .where(CustomerRecord.source_record_id == ref)  # type: ignore[arg-type]
            .values(synced_at=tick())
        )
        session.commit()


def ticket(engine: Engine, cid: str, ref: str, status: str, updated: datetime, **fields: Any) -> None:
    """A Zendesk ticket of `cid`."""
    rid = record(engine, cid, "zendesk", ref, updated=updated)
    with Session(engine) as session:
        session.add(
            Ticket(
                source="zendesk",
                source_record_id=ref,
                record_id=rid,
                ticket_ref=ref,
                status=status,
                opened_at=updated - timedelta(days=1),
                updated_at=updated,
                **fields,
            )
        )
        session.commit()


def interaction(engine: Engine, cid: str, ref: str, occurred: datetime, **fields: Any) -> None:
    """A web-form interaction of `cid`."""
    rid = record(engine, cid, "webforms", ref, updated=occurred)
    with Session(engine) as session:
        session.add(Interaction(source="webforms", source_record_id=ref, record_id=rid, occurred_at=occurred, **fields))
        session.commit()


def sync_run(engine: Engine, source: str, finished: datetime) -> None:
    """A successful sync run of `source` that finished at `finished`."""
    with Session(engine) as session:
        session.add(
            SyncRun(source=source, started_at=finished - timedelta(minutes=1), finished_at=finished, status="ok")
        )
        session.commit()
