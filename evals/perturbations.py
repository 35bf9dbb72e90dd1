"""Counterfactual perturbations and inline customers, applied to a private copy of the store.

- `source_removed:SOURCE` — the source is disconnected: its rows for the customer are gone and it has no sync.
- `field_blanked:FIELD` — one field is empty in the customer's records (e.g. `orders.tracking_numbers`).
- `stale:SOURCE` — the source's last successful sync is made `hours` old (default 96).
- `conflict:subscription|order` — a contradicting record is added (a cancelled subscription; the latest order
  again with another status).

The expected behaviour under a perturbation is to say what is unknown or escalate, never to invent. Only SQLite
stores can be copied; a PostgreSQL store gives a clear error.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.engine import Connection, Engine

from context.canonical.models import Customer, CustomerRecord, Identifier, Order, Subscription
from context.dbtypes import table_of
from context.engine import make_engine
from context.intake.models import SyncRun
from context.profiles import recompute_profiles
from context.profiles.config import ProfilesConfig
from evals.errors import PerturbationError
from evals.models import InlineCustomer, Perturbation

BLANKABLE = {
    "orders.tracking_numbers": ("orders", "tracking_numbers = '[]'", "tracking_numbers"),
    "orders.fulfillment_status": ("orders", "fulfillment_status = NULL", "fulfillment_status"),
    "orders.total": ("orders", "total = NULL, subtotal = NULL", "total"),
    "subscriptions.current_period_end": ("subscriptions", "current_period_end = NULL", "current_period_end"),
    "subscriptions.trial_end": ("subscriptions", "trial_end = NULL", "trial_end"),
    "subscriptions.plan": ("subscriptions", "plan = NULL", "plan"),
    "subscriptions.cancel_at": ("subscriptions", "cancel_at = NULL", "cancel_at"),
}
_ENTITY_TABLES = {"orders", "subscriptions", "tickets", "interactions"}


def parse_perturbation(spec: str) -> Perturbation:
    """`kind:arg` from the command line (e.g. `field_blanked:orders.tracking_numbers`, `stale:shopify`)."""
    kind, _, arg = spec.partition(":")
    key = {"source_removed": "source", "stale": "source", "field_blanked": "field", "conflict": "entity"}.get(kind)
    if key is None:
        raise PerturbationError(
            f"--perturb {spec!r}: unknown kind {kind!r}; use source_removed:SOURCE, field_blanked:FIELD, "
            "stale:SOURCE or conflict:subscription|order"
        )
    if not arg:
        raise PerturbationError(f"--perturb {spec!r}: {kind} needs an argument ({key})")
    if kind == "field_blanked" and arg not in BLANKABLE:
        raise PerturbationError(f"--perturb {spec!r}: cannot blank {arg!r}; blankable: {sorted(BLANKABLE)}")
    try:
        return Perturbation.model_validate({"kind": kind, key: arg})
    except ValueError as exc:
        raise PerturbationError(f"--perturb {spec!r}: {exc}") from exc


def copy_store(engine: Engine, dest: Path) -> Engine:
    """A private copy of a SQLite store (the SQLite backup API: consistent even while it is in use)."""
    if engine.url.get_backend_name() != "sqlite" or not engine.url.database:
        raise PerturbationError(
            "perturbations and inline customers need a SQLite store (they run on a private copy); "
            f"this store is {engine.url.get_backend_name()}"
        )
    src = sqlite3.connect(engine.url.database)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return make_engine(f"sqlite:///{dest}")


def _records(conn: Connection, customer_id: str) -> list[int]:
    return [
        r[0] for r in conn.execute(text("select id from customer_records where customer_id = :c"), {"c": customer_id})
    ]


@dataclass
class Applied:
    """What a perturbation changed: a description and the values that must no longer be stated as facts."""

    description: str
    removed_values: list[str] = field(default_factory=list)
    conflicting_values: list[str] = field(default_factory=list)


def _fmt(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, str) and len(value) >= 10 and value[4] == "-" and value[7] == "-":
        return value[:10]
    if isinstance(value, Decimal | float):
        return f"${Decimal(str(value)):.2f}"
    return str(value)


def apply_perturbation(
    engine: Engine, *, customer_id: str, perturbation: Perturbation, now: datetime, profiles: ProfilesConfig
) -> Applied:
    """Apply one perturbation to one customer in a (copied) store and recompute that customer's profile."""
    p = perturbation
    with engine.begin() as conn:
        recs = _records(conn, customer_id)
        if not recs:
            raise PerturbationError(f"customer {customer_id}: no records to perturb")
        ids = ",".join(str(r) for r in recs)
        if p.kind == "source_removed":
            removed: list[str] = []
            for number, tracking in conn.execute(
                text(f"select order_number, tracking_numbers from orders where source = :s and record_id in ({ids})"),
                {"s": p.source},
            ):
                removed.append(str(number))
                removed += [str(t) for t in (tracking if isinstance(tracking, list) else json.loads(tracking or "[]"))]
            conn.execute(
                text(
                    f"delete from order_items where order_id in (select id from orders where source = :s "
                    f"and record_id in ({ids}))"
                ),
                {"s": p.source},
            )
            for table in sorted(_ENTITY_TABLES):
                conn.execute(text(f"delete from {table} where source = :s and record_id in ({ids})"), {"s": p.source})
            # Raw records keep their sync-run ids, so the runs stay; none counts as successful any more.
            conn.execute(text("update sync_runs set status = 'failed' where source = :s"), {"s": p.source})
            applied = Applied(f"source {p.source} removed", removed)
        elif p.kind == "field_blanked":
            assert p.field is not None
            table, assignment, column = BLANKABLE[p.field]
            values = []
            for (value,) in conn.execute(text(f"select {column} from {table} where record_id in ({ids})")):
                if column == "tracking_numbers":
                    values += [str(t) for t in (value if isinstance(value, list) else json.loads(value or "[]"))]
                elif (shown := _fmt(value)) is not None:
                    values.append(shown)
            conn.execute(text(f"update {table} set {assignment} where record_id in ({ids})"))
            applied = Applied(f"{p.field} blanked", values)
        elif p.kind == "stale":
            when = now - timedelta(hours=p.hours)
            runs = table_of(SyncRun)
            conn.execute(runs.update().where(runs.c.source == p.source).values(finished_at=when, started_at=when))
            applied = Applied(f"source {p.source} last synced {p.hours:g} hours ago")
        else:
            applied = _conflict(conn, customer_id=customer_id, record_ids=recs, entity=p.entity or "", now=now)
    recompute_profiles(engine=engine, config=profiles, now=now, customer_ids=[customer_id])
    return applied


def _conflict(conn: Connection, *, customer_id: str, record_ids: list[int], entity: str, now: datetime) -> Applied:
    ids = ",".join(str(r) for r in record_ids)
    c = conn  # a SQLAlchemy Connection inside the perturbation's transaction
    row = c.execute(
        text(f"select email, full_name from customer_records where id in ({ids}) and email is not null limit 1")
    ).first()
    email, name = (row[0], row[1]) if row else (None, None)
    rec_id = _insert_record(
        c,
        customer_id=customer_id,
        source="stripe" if entity == "subscription" else "shopify",
        record_key=f"evals-conflict-{entity}-{customer_id}",
        email=email,
        name=name,
        now=now,
    )
    if entity == "subscription":
        c.execute(
            table_of(Subscription)
            .insert()
            .values(
                source="stripe",
                source_record_id=f"evals-conflict-sub-{customer_id}",
                record_id=rec_id,
                source_updated_at=now,
                subscription_ref=f"sub_EVALCONFLICT{customer_id[-6:]}",
                plan="basic",
                status="canceled",
                interval="month",
                started_at=now - timedelta(days=400),
                current_period_end=now - timedelta(days=20),
                canceled_at=now - timedelta(days=25),
                currency="USD",
            )
        )
        return Applied("a conflicting cancelled Basic subscription added", conflicting_values=["basic", "canceled"])
    o = table_of(Order)
    latest = c.execute(
        select(o.c.order_number, o.c.placed_at, o.c.currency, o.c.total)
        .where(o.c.record_id.in_(record_ids))
        .order_by(o.c.placed_at.desc())
        .limit(1)
    ).first()
    if latest is None:
        raise PerturbationError(f"customer {customer_id}: no order to contradict")
    c.execute(
        table_of(Order)
        .insert()
        .values(
            source="shopify",
            source_record_id=f"evals-conflict-order-{customer_id}",
            record_id=rec_id,
            source_updated_at=now,
            order_number=latest[0],
            placed_at=latest[1],
            currency=latest[2],
            total=latest[3],
            financial_status="refunded",
            fulfillment_status="restocked",
            tracking_numbers=[],
        )
    )
    return Applied(f"order {latest[0]} added again as refunded and restocked", conflicting_values=["restocked"])


def _insert_record(
    conn: Connection,
    *,
    customer_id: str,
    source: str,
    record_key: str,
    email: str | None,
    name: str | None,
    now: datetime,
) -> int:
    c = conn
    result = c.execute(
        table_of(CustomerRecord)
        .insert()
        .values(
            source=source,
            source_record_id=record_key,
            email=email,
            full_name=name,
            customer_id=customer_id,
            source_updated_at=now,
            synced_at=now,
            blank_fields=[],
            extra={},
        )
    )
    rec_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    if email:
        c.execute(
            table_of(Identifier)
            .insert()
            .values(source=source, source_record_id=record_key, record_id=rec_id, kind="email", value=email.lower())
        )
    return rec_id


def insert_inline_customer(
    engine: Engine, *, scenario_id: str, customer: InlineCustomer, now: datetime, profiles: ProfilesConfig
) -> str:
    """Insert a made-up customer (records, orders, subscription) into a copied store; returns its customer id."""
    cid = f"evals-{scenario_id}"[:40]
    with engine.begin() as conn:
        conn.execute(table_of(Customer).insert().values(id=cid, created_at=now))
        first, _, last = customer.name.partition(" ")
        rec = conn.execute(
            table_of(CustomerRecord)
            .insert()
            .values(
                source="shopify" if customer.orders else "stripe",
                source_record_id=f"{cid}-person",
                email=customer.email.lower(),
                full_name=customer.name,
                first_name=first,
                last_name=last or None,
                customer_id=cid,
                source_updated_at=now,
                synced_at=now,
                blank_fields=[],
                extra={},
            )
        )
        rec_id = int(rec.inserted_primary_key[0])  # type: ignore[index]
        conn.execute(
            table_of(Identifier)
            .insert()
            .values(
                source="shopify",
                source_record_id=f"{cid}-person",
                record_id=rec_id,
                kind="email",
                value=customer.email.lower(),
            )
        )
        for i, o in enumerate(customer.orders):
            conn.execute(
                table_of(Order)
                .insert()
                .values(
                    source="shopify",
                    source_record_id=f"{cid}-order-{i}",
                    record_id=rec_id,
                    source_updated_at=now,
                    order_number=o.number,
                    placed_at=o.placed_at,
                    currency=o.currency,
                    total=Decimal(o.total),
                    subtotal=Decimal(o.total),
                    financial_status=o.financial_status,
                    fulfillment_status=o.fulfillment_status,
                    tracking_numbers=o.tracking_numbers,
                    carrier=o.carrier,
                )
            )
        if customer.subscription is not None:
            s = customer.subscription
            conn.execute(
                table_of(Subscription)
                .insert()
                .values(
                    source="stripe",
                    source_record_id=f"{cid}-sub",
                    record_id=rec_id,
                    source_updated_at=now,
                    subscription_ref=f"sub_{cid[-12:]}",
                    plan=s.plan,
                    status=s.status,
                    interval=s.interval,
                    started_at=s.started_at,
                    trial_end=s.trial_end,
                    current_period_end=s.current_period_end,
                    cancel_at=s.cancel_at,
                    canceled_at=s.canceled_at,
                    currency=s.currency,
                )
            )
    recompute_profiles(engine=engine, config=profiles, now=now, customer_ids=[cid])
    return cid
