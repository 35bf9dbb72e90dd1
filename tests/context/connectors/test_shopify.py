"""The Shopify connector against the fake GraphQL Admin API over real HTTP: paging, cursors, throttles, auth."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from context.canonical.models import Order
from context.intake.models import RawRecord
from context.intake.service import load_cursor, sync, sync_source
from tests.clock import NOW
from tests.context.connectors.fakes.server import Failure, VirtualTime
from tests.context.connectors.fakes.shopify import TOKEN, FakeShopify, customer, order
from tests.context.connectors.helpers import config, connections, records

SHOPIFY = {"name": "shopify", "kind": "shopify"}


def orders(engine: Engine) -> dict[str, Order]:
    with engine.connect() as conn:
        return {r.source_record_id: r for r in conn.execute(select(Order.__table__))}


def test_a_store_is_pulled_page_by_page_into_customers_and_orders_with_tracking(engine: Engine, tmp_path: Path) -> None:
    vtime = VirtualTime()
    with FakeShopify(monotonic=vtime.monotonic) as fake:
        for n in range(1, 8):
            fake.put("customers", customer(n, updated=NOW - timedelta(hours=n)))
        fake.put("orders", order(1, customer_n=1, tracking=["1Z999"], shipment="IN_TRANSIT"))
        fake.put("orders", order(2, customer_n=2, status="UNFULFILLED"))
        cfg = config(tmp_path, {**SHOPIFY, "options": {"page_size": 3}})
        summaries = sync(
            engine=engine, config=cfg, clock=vtime.now, connections=connections(vtime, shopify=(fake.url, TOKEN))
        )

    assert [(s.source, s.status, s.new) for s in summaries] == [
        ("shopify-customers", "ok", 7),
        ("shopify-orders", "ok", 2),
    ]
    assert records(engine, "shopify-customers")["3"].email == "customer3@example.com"
    got = orders(engine)
    assert (got["1"].fulfillment_status, got["1"].tracking_numbers, got["1"].carrier) == (
        "in_transit",
        ["1Z999"],
        "UPS",
    )
    assert got["2"].fulfillment_status == "unfulfilled"
    # 7 customers in pages of 3: three pages, the cursor is the newest updatedAt committed.
    listings = [r for r in fake.requests if "customers(first:" in (r.body or {}).get("query", "")]
    assert len(listings) == 3
    assert load_cursor(engine=engine, source="shopify-customers") == {
        "updated_at": customer(1, updated=NOW - timedelta(hours=1))["updatedAt"]
    }


def test_the_next_sync_asks_only_for_what_changed_since_the_cursor(engine: Engine, tmp_path: Path) -> None:
    vtime = VirtualTime()
    with FakeShopify() as fake:
        fake.put("orders", order(1, customer_n=1, updated=NOW - timedelta(days=1)))
        cfg = config(tmp_path, {**SHOPIFY, "streams": ["orders"]})
        conns = connections(vtime, shopify=(fake.url, TOKEN))
        sync(engine=engine, config=cfg, clock=vtime.now, connections=conns)
        fake.put("orders", order(1, customer_n=1, updated=NOW, tracking=["1Z1"], shipment="DELIVERED"))
        [again] = sync(engine=engine, config=cfg, clock=vtime.now, connections=conns)
        last_query = fake.requests[-1].body["variables"]["query"]

    assert last_query == f"updated_at:>='{order(1, customer_n=1, updated=NOW - timedelta(days=1))['updatedAt']}'"
    assert (again.changed, again.new) == (1, 0)
    assert orders(engine)["1"].fulfillment_status == "delivered"
    with engine.connect() as conn:
        versions = (
            conn.execute(select(RawRecord.__table__.c.version).where(RawRecord.__table__.c.source_record_id == "1"))
            .scalars()
            .all()
        )
    assert sorted(versions) == [1, 2]  # the raw history keeps both versions


def test_a_stream_bigger_than_a_batch_is_standardized_in_a_worker_and_committed_in_order(
    engine: Engine, tmp_path: Path
) -> None:
    vtime = VirtualTime()
    with FakeShopify() as fake:
        for n in range(1, 12):
            fake.put("orders", order(n, customer_n=n, updated=NOW - timedelta(hours=20 - n), tracking=[f"T{n}"]))
        cfg = config(tmp_path, {**SHOPIFY, "streams": ["orders"], "options": {"page_size": 2}})
        conns = connections(vtime, shopify=(fake.url, TOKEN))
        # Batches of 3 records: four batches, the last three mapped in a worker process while earlier ones write.
        first = sync_source(
            engine=engine, config=cfg, source=cfg.sources[0], clock=vtime.now, connections=conns, batch_size=3
        )
        for n in (2, 9):
            fake.put("orders", order(n, customer_n=n, updated=NOW, tracking=[f"T{n}-new"], shipment="DELIVERED"))
        again = sync_source(
            engine=engine, config=cfg, source=cfg.sources[0], clock=vtime.now, connections=conns, batch_size=3
        )

    assert (first.status, first.new, first.read) == ("ok", 11, 11)
    # The second pull re-reads the boundary record (unchanged) and the two changed ones.
    assert (again.status, again.changed, again.new, again.unchanged) == ("ok", 2, 0, 1)
    got = orders(engine)
    assert {k: v.tracking_numbers for k, v in got.items()} == {
        str(n): [f"T{n}-new" if n in (2, 9) else f"T{n}"] for n in range(1, 12)
    }
    assert got["9"].fulfillment_status == "delivered"
    assert load_cursor(engine=engine, source="shopify-orders") == {"updated_at": order(9, customer_n=9)["updatedAt"]}


def test_shopify_throttle_waits_for_the_bucket_and_rate_limits_are_obeyed(engine: Engine, tmp_path: Path) -> None:
    vtime = VirtualTime()
    # A small bucket: each page of 50 orders costs 602 points, the bucket holds 700 and refills 100/s.
    with FakeShopify(monotonic=vtime.monotonic, bucket=700, restore_rate=100) as fake:
        for n in range(1, 121):
            fake.put("orders", order(n, customer_n=n, updated=NOW - timedelta(minutes=n)))
        fake.script(Failure(status=429, headers={"Retry-After": "2"}), Failure(status=503))
        cfg = config(tmp_path, {**SHOPIFY, "streams": ["orders"]})
        [summary] = sync(
            engine=engine, config=cfg, clock=vtime.now, connections=connections(vtime, shopify=(fake.url, TOKEN))
        )

    assert summary.status == "ok" and summary.new == 120
    assert 2.0 in vtime.sleeps  # Retry-After: 2 was obeyed
    # The connector waited for the bucket from throttleStatus instead of being throttled over and over.
    assert fake.throttled <= 1
    assert sum(vtime.sleeps) >= 2 * (602 - 98) / 100


def test_a_refused_token_fails_the_source_with_the_fix_and_the_others_still_sync(
    engine: Engine, tmp_path: Path
) -> None:
    vtime = VirtualTime()
    with FakeShopify() as fake:
        fake.put("customers", customer(1))
        cfg = config(
            tmp_path,
            {"name": "shop-a", "kind": "shopify", "streams": ["customers"]},
            {"name": "shop-b", "kind": "shopify", "streams": ["customers"]},
        )
        conns = connections(vtime, **{"shop-a": (fake.url, "shpat_wrong"), "shop-b": (fake.url, TOKEN)})
        bad, good = sync(engine=engine, config=cfg, clock=vtime.now, connections=conns)

    assert bad.status == "failed"
    assert "refused the credentials (401)" in (bad.error or "") and "read_customers" in (bad.error or "")
    assert (good.status, good.new) == ("ok", 1)
    # Nothing was committed for the refused source, so its next pull starts from the beginning.
    assert load_cursor(engine=engine, source="shop-a-customers") is None


def test_a_missing_token_names_the_setting(engine: Engine, tmp_path: Path) -> None:
    vtime = VirtualTime()
    cfg = config(tmp_path, {**SHOPIFY, "streams": ["customers"]})
    [summary] = sync(
        engine=engine, config=cfg, clock=vtime.now, connections=connections(vtime, shopify=("http://127.0.0.1:9", None))
    )
    assert summary.status == "failed"
    assert "CONTEXTDESK_SOURCES" in (summary.error or "")
