"""The bundled demo business syncs cleanly, idempotently, and lands the personas' facts."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from context.canonical.models import CustomerRecord, Order, OrderItem, Subscription
from context.intake.config import load_intake_config
from context.intake.service import list_quarantine, sync
from demo import bundled_config_path
from tests.clock import tick


def test_demo_business_syncs_idempotently_with_explained_quarantine(engine: Engine) -> None:
    config = load_intake_config(bundled_config_path())
    first = sync(clock=tick, engine=engine, config=config, workers=0)
    assert all(s.status == "ok" for s in first), [s.error for s in first]
    assert sum(s.read for s in first) > 5000
    quarantined = list_quarantine(engine=engine, limit=10_000)
    assert 0 < len(quarantined) < 0.05 * sum(s.read for s in first)
    assert all(q.reason and q.field for q in quarantined)

    second = sync(clock=tick, engine=engine, config=config, workers=0)
    assert [(s.new, s.changed, s.remapped) for s in second] == [(0, 0, 0)] * len(second)
    assert sum(s.unchanged for s in second) == sum(s.new for s in first)

    with Session(engine) as session:
        order = session.scalars(select(Order).where(Order.order_number == "#1042")).one()
        items = session.scalars(select(OrderItem).where(OrderItem.order_id == order.id)).all()
        maya_sub = session.scalars(
            select(Subscription).where(Subscription.subscription_ref == "sub_BLmaya0000001")
        ).one()
        maya_crm = session.scalars(
            select(CustomerRecord).where(CustomerRecord.source == "crm", CustomerRecord.source_record_id == "100002")
        ).one()
    assert order.tracking_numbers == ["1Z999AA10123456784"]
    assert order.total == Decimal("46.00") and order.currency == "USD"
    assert len(items) == 2
    assert (maya_sub.status, maya_sub.plan) == ("active", "pro")
    assert maya_sub.current_period_end is not None and maya_sub.current_period_end.date().isoformat() == "2026-11-10"
    # " Maya.Chen@Example.com " in the CRM: standardized, the original kept.
    assert maya_crm.email == "maya.chen@example.com"
    assert maya_crm.email_original == " Maya.Chen@Example.com "
