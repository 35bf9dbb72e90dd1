"""Benchmark: customer context build latency and profile recomputation throughput, on SQLite and PostgreSQL.

Fills a store of N customers, M orders (each its own Shopify record, with a line item), T tickets and
Stripe subscriptions with plain executemany (context.bulkwrite), recomputes every golden profile
(records/s), then builds the context of random customers (p50/p99, plus lookup and rendering).

    python bench/customer_context.py                                   # 100k customers, 1M orders, 200k tickets
    python bench/customer_context.py --customers 10000 --orders 100000 --tickets 20000 --backend sqlite

PostgreSQL runs in a scratch database created on --postgres-url's server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from context.bulkwrite import bulk_insert
from context.canonical.models import (
    Customer,
    CustomerRecord,
    Identifier,
    Order,
    OrderItem,
    Subscription,
    Ticket,
)
from context.customer_context import build_customer_context, lookup_customer, render_context
from context.intake.models import SyncRun
from context.profiles import recompute_profiles
from contextdesk.db import make_engine, upgrade
from demo import context_config as demo_context_config

NOW = datetime(2026, 11, 1, tzinfo=UTC)
CHUNK = 20_000
FIRST = ["Maya", "Liam", "Priya", "Tomas", "Grace", "Ben", "Sofia", "Daniel", "Oliver", "Emma", "Noah", "Hannah"]
LAST = ["Chen", "OBrien", "Natarajan", "Herrera", "Okafor", "Carter", "Rossi", "Kim", "Bennett", "Fischer", "Schmidt"]
SUB_STATUS = ["active"] * 5 + ["trialing", "past_due", "canceled", "canceled"]
TICKET_STATUS = ["solved"] * 6 + ["open", "pending", "closed"]


def _table(model: Any) -> Any:
    return model.__table__


def _batched(rows: Iterator[dict[str, Any]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def fill(engine: Engine, *, customers: int, orders: int, tickets: int, seed: int = 7) -> dict[str, int]:
    """Write the synthetic store; returns row counts."""
    rng = random.Random(seed)
    t0 = NOW - timedelta(days=730)
    counts: dict[str, int] = {}
    rec_id = 0
    now = datetime.now(UTC)

    def cid(i: int) -> str:
        return f"cus_{i:012d}"

    def pick_customer() -> int:
        # Skewed: a few customers have hundreds of orders/tickets, most have a handful.
        return int(customers * rng.random() ** 1.5)

    def record(i: int, source: str, srid: str, **fields: Any) -> dict[str, Any]:
        nonlocal rec_id
        rec_id += 1
        row = {
            "id": rec_id,
            "source": source,
            "source_record_id": srid,
            "source_updated_at": fields.pop("updated", t0),
            "customer_id": cid(i),
            "blank_fields": [],
            "extra": {},
            "synced_at": now,
            "email": f"person{i}@example.com",
        }
        for name in (
            "full_name",
            "first_name",
            "last_name",
            "postcode",
            "city",
            "crm_owner",
            "lifecycle_stage",
            "notes",
        ):
            row[name] = fields.get(name)
        return row

    with engine.begin() as conn:
        for batch in _batched({"id": cid(i), "created_at": now} for i in range(customers)):
            bulk_insert(conn, _table(Customer), batch)
    counts["customers"] = customers

    def write(
        records: list[dict[str, Any]],
        entity_table: Any | None,
        entities: list[dict[str, Any]],
        items: list[dict[str, Any]] | None = None,
    ) -> None:
        idents = [
            {
                "source": r["source"],
                "source_record_id": r["source_record_id"],
                "record_id": r["id"],
                "kind": "email",
                "value": r["email"],
                "source_updated_at": r["source_updated_at"],
            }
            for r in records
        ]
        with engine.begin() as conn:
            bulk_insert(conn, _table(CustomerRecord), records)
            bulk_insert(conn, _table(Identifier), idents)
            if entity_table is not None:
                bulk_insert(conn, entity_table, entities)
            if items:
                bulk_insert(conn, _table(OrderItem), items)

    # CRM contacts: one per customer.
    for start in range(0, customers, CHUNK):
        recs = []
        for i in range(start, min(start + CHUNK, customers)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            recs.append(
                record(
                    i,
                    "crm",
                    f"{100000 + i}",
                    full_name=f"{first} {last}",
                    first_name=first,
                    last_name=last,
                    postcode=f"{rng.randrange(10000, 99999)}",
                    city="Springfield",
                    crm_owner="Jordan Blake",
                    lifecycle_stage="customer",
                    notes="internal note",
                    updated=t0 + timedelta(days=rng.randrange(700)),
                )
            )
        write(recs, None, [])
    # Stripe subscriptions for 40% of customers.
    subs = 0
    for start in range(0, customers, CHUNK):
        recs, rows = [], []
        for i in range(start, min(start + CHUNK, customers)):
            if rng.random() >= 0.4:
                continue
            ref = f"sub_{i:010d}"
            started = t0 + timedelta(days=rng.randrange(700))
            recs.append(record(i, "stripe", ref, full_name=None, updated=started))
            status = rng.choice(SUB_STATUS)
            rows.append(
                {
                    "source": "stripe",
                    "source_record_id": ref,
                    "record_id": rec_id,
                    "source_updated_at": started,
                    "subscription_ref": ref,
                    "plan": rng.choice(["basic", "plus", "pro"]),
                    "status": status,
                    "interval": "monthly",
                    "started_at": started,
                    "current_period_end": started + timedelta(days=30),
                    "canceled_at": started + timedelta(days=20) if status == "canceled" else None,
                    "mrr": Decimal("19.00"),
                    "currency": "USD",
                }
            )
        subs += len(rows)
        write(recs, _table(Subscription), rows)
    counts["subscriptions"] = subs
    # Orders, each its own Shopify record with one line item.
    order_id = 0
    for start in range(0, orders, CHUNK):
        recs, rows, items = [], [], []
        for n in range(start, min(start + CHUNK, orders)):
            i = pick_customer()
            placed = t0 + timedelta(minutes=rng.randrange(730 * 24 * 60))
            srid = f"{5000000000000 + n}"
            recs.append(record(i, "shopify", srid, updated=placed))
            order_id += 1
            rows.append(
                {
                    "id": order_id,
                    "source": "shopify",
                    "source_record_id": srid,
                    "record_id": rec_id,
                    "source_updated_at": placed,
                    "order_number": f"#{10000 + n}",
                    "placed_at": placed,
                    "currency": "USD",
                    "subtotal": Decimal("40.00"),
                    "total": Decimal("46.00"),
                    "financial_status": "paid",
                    "fulfillment_status": rng.choice(["fulfilled", "unfulfilled", "delivered"]),
                    "tracking_numbers": [f"1Z{n:016d}"],
                    "carrier": "UPS",
                    "shipping_address": "1 Main St",
                }
            )
            items.append(
                {
                    "source": "shopify",
                    "source_record_id": f"{srid}-1",
                    "order_id": order_id,
                    "source_updated_at": placed,
                    "sku": "BL-TEA-EARLGREY-100",
                    "name": "Earl Grey",
                    "quantity": 2,
                    "unit_price": Decimal("20.00"),
                }
            )
        write(recs, _table(Order), rows, items)
    counts["orders"] = orders
    for start in range(0, tickets, CHUNK):
        recs, rows = [], []
        for n in range(start, min(start + CHUNK, tickets)):
            i = pick_customer()
            opened = t0 + timedelta(minutes=rng.randrange(730 * 24 * 60))
            srid = f"{20000 + n}"
            recs.append(record(i, "zendesk", srid, updated=opened))
            status = rng.choice(TICKET_STATUS)
            rows.append(
                {
                    "source": "zendesk",
                    "source_record_id": srid,
                    "record_id": rec_id,
                    "source_updated_at": opened,
                    "ticket_ref": srid,
                    "subject": "Where is my order?",
                    "status": status,
                    "priority": "normal",
                    "channel": "email",
                    "opened_at": opened,
                    "updated_at": opened + timedelta(hours=5),
                    "resolved_at": opened + timedelta(days=1) if status in ("solved", "closed") else None,
                    "last_public_message": "Thanks, we are looking into it.",
                }
            )
        write(recs, _table(Ticket), rows)
    counts["tickets"] = tickets
    counts["records"] = rec_id
    with Session(engine) as session:
        for source in ("crm", "shopify", "stripe", "zendesk"):
            session.add(SyncRun(source=source, started_at=now, finished_at=now, status="ok"))
        session.commit()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
        else:
            conn.exec_driver_sql("ANALYZE")
    return counts


def percentiles(samples: list[float]) -> str:
    """p50 / p99 / max in milliseconds."""
    qs = statistics.quantiles(samples, n=100)
    return f"p50 {qs[49] * 1000:6.2f} ms   p99 {qs[98] * 1000:6.2f} ms   max {max(samples) * 1000:6.2f} ms"


def timed(fn: Callable[[], Any], n: int) -> list[float]:
    """Durations of n calls."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def run(label: str, engine: Engine, args: argparse.Namespace) -> None:
    """Fill, recompute and measure one backend."""
    upgrade(engine)
    t = time.perf_counter()
    counts = fill(engine, customers=args.customers, orders=args.orders, tickets=args.tickets)
    fill_s = time.perf_counter() - t
    print(
        f"[{label}] store: {counts['customers']:,} customers, {counts['orders']:,} orders, "
        f"{counts['tickets']:,} tickets, "
        f"{counts['subscriptions']:,} subscriptions, {counts['records']:,} source records (filled in {fill_s:.0f}s)"
    )
    config = demo_context_config()
    summary = recompute_profiles(now=NOW, engine=engine, config=config.profiles, full=True)
    print(
        f"[{label}] profile recomputation: {summary.customers:,} profiles from {summary.records:,} records in "
        f"{summary.seconds:.1f}s = {summary.records / summary.seconds:,.0f} records/s"
    )
    rng = random.Random(11)
    ids = [f"cus_{rng.randrange(args.customers):012d}" for _ in range(args.samples)]
    whales = [f"cus_{i:012d}" for i in range(5)]
    for cid in ids[:20]:  # warm caches and statement compilation
        build_customer_context(now=NOW, engine=engine, customer_id=cid, config=config)
    it = iter(ids)
    build = timed(lambda: build_customer_context(now=NOW, engine=engine, customer_id=next(it), config=config), len(ids))
    print(f"[{label}] context build, random customers (n={len(ids)}):  {percentiles(build)}")
    heavy = timed(
        lambda: build_customer_context(now=NOW, engine=engine, customer_id=rng.choice(whales), config=config), 100
    )
    with engine.connect() as conn:
        biggest = conn.execute(
            text("select count(*) from customer_records where customer_id = :c"), {"c": whales[0]}
        ).scalar()
    print(f"[{label}] context build, heaviest customers ({biggest:,} records):  {percentiles(heavy)}")
    ctxs = [build_customer_context(now=NOW, engine=engine, customer_id=c, config=config) for c in ids[:200]]
    it2 = iter(ctxs * 5)
    rendered = timed(lambda: render_context(next(it2), max_tokens=600), 1000)
    print(f"[{label}] render (600-token budget):                 {percentiles(rendered)}")
    emails = iter([f"person{rng.randrange(args.customers)}@example.com" for _ in range(args.samples)])
    lookups = timed(lambda: lookup_customer(engine=engine, email=next(emails)), args.samples)
    print(f"[{label}] lookup by email:                           {percentiles(lookups)}")


def main() -> None:
    """Parse arguments and run the selected backends."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CONTEXTDESK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{tmp}/bench.db")
            try:
                run("sqlite", engine, args)
            finally:
                engine.dispose()
    if args.backend in ("postgres", "both"):
        name = f"contextdesk_bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(args.postgres_url).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = make_engine(args.postgres_url.rsplit("/", 1)[0] + f"/{name}")
        try:
            run("postgres", engine, args)
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
