"""Sync on a real database: raw records, canonical rows, quarantine, idempotency, mapping priorities."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from context.canonical.models import CustomerRecord, Identifier, Order, OrderItem, Subscription
from context.intake.models import QuarantinedValue, RawRecord, SyncRun
from context.intake.service import list_quarantine, sync
from tests.clock import tick
from tests.context.intake.factories import VALUE_MAPS, crm_row, crm_source, write_config, write_csv, write_jsonl


def records(engine: Engine, source: str = "crm") -> dict[str, CustomerRecord]:
    with Session(engine) as session:
        rows = session.scalars(select(CustomerRecord).where(CustomerRecord.source == source)).all()
        return {r.source_record_id: r for r in rows}


def quarantined(engine: Engine) -> list[tuple[str, str, str | None, str]]:
    return [(q.source_record_id, q.field, q.raw_value, q.reason) for q in list_quarantine(engine=engine, limit=1000)]


def test_first_candidate_column_with_a_value_wins(engine: Engine, tmp_path: Path) -> None:
    write_csv(
        tmp_path / "crm.csv",
        [
            crm_row("1", billing_email="bill@example.com", email="jane@example.com", contact_email="c@example.com"),
            crm_row("2", billing_email="N/A", email=" Bob@Example.com ", contact_email="c2@example.com"),
            crm_row("3", billing_email="", email="", contact_email="carol@example.com"),
            # An invalid first candidate is quarantined and the next candidate is used.
            crm_row("4", billing_email="dan@@example.com", email="dan@example.com"),
        ],
    )
    config = write_config(tmp_path, [crm_source()], value_maps=VALUE_MAPS)
    [summary] = sync(clock=tick, engine=engine, config=config)
    assert summary.status == "ok"
    got = {rid: r.email for rid, r in records(engine).items()}
    assert got == {
        "1": "bill@example.com",
        "2": "bob@example.com",
        "3": "carol@example.com",
        "4": "dan@example.com",
    }
    assert records(engine)["2"].email_original == " Bob@Example.com "
    assert [(rid, f) for rid, f, _, _ in quarantined(engine)] == [("4", "email")]


def test_standardized_values_and_originals_are_stored(engine: Engine, tmp_path: Path) -> None:
    write_csv(
        tmp_path / "crm.csv",
        [
            crm_row(
                "7",
                email="JANE.DOE@EXAMPLE.COM",
                first_name="JANE",
                last_name="o'brien",
                phone="(415) 555-2671",
                country="U.S.A.",
                lifecycle="Customer ",
                plan="Pro (annual)",
                modified="2024-03-05 14:22",
            )
        ],
    )
    config = write_config(tmp_path, [crm_source()], value_maps=VALUE_MAPS)
    sync(clock=tick, engine=engine, config=config)
    record = records(engine)["7"]
    assert (record.email, record.phone, record.country) == ("jane.doe@example.com", "+14155552671", "US")
    assert (record.first_name, record.last_name, record.full_name) == ("Jane", "O'Brien", "Jane O'Brien")
    assert record.name_original == "JANE o'brien"
    assert (record.lifecycle_stage, record.plan) == ("customer", "pro")
    assert record.source_updated_at == datetime(2024, 3, 5, 19, 22, tzinfo=UTC)
    with Session(engine) as session:
        kinds = {(i.kind, i.value) for i in session.scalars(select(Identifier)).all()}
    assert kinds == {("email", "jane.doe@example.com"), ("phone", "+14155552671"), ("crm_contact", "crm:contact:7")}


def test_bad_values_are_quarantined_and_the_record_is_kept(engine: Engine, tmp_path: Path) -> None:
    write_csv(
        tmp_path / "crm.csv",
        [
            crm_row("1", email="bob at example.com", phone="12", country="Atlantis", lifecycle="prospect"),
            crm_row("2", email="ok@example.com"),
        ],
    )
    config = write_config(tmp_path, [crm_source()], value_maps=VALUE_MAPS)
    [summary] = sync(clock=tick, engine=engine, config=config)
    assert summary.read == 2 and summary.new == 2
    got = {(rid, field): (raw, reason) for rid, field, raw, reason in quarantined(engine)}
    assert got[("1", "phone")][0] == "12"
    assert "not a valid phone number" in got[("1", "phone")][1]
    assert got[("1", "country")] == ("Atlantis", "country: unknown country 'Atlantis'")
    assert "unmapped value 'prospect'" in got[("1", "lifecycle_stage")][1]
    assert got[("1", "email")][0] == "bob at example.com"
    assert summary.quarantined == len(got) + 1  # + "required field has no valid value"
    # The record itself is kept, raw and canonical, without the rejected values.
    record = records(engine)["1"]
    assert record.email is None and record.phone is None and record.country is None
    with Session(engine) as session:
        raw = session.scalars(select(RawRecord).where(RawRecord.source_record_id == "1")).one()
    assert raw.payload["email"] == "bob at example.com"


def test_placeholders_become_missing_and_blank_fields_are_recorded(engine: Engine, tmp_path: Path) -> None:
    write_csv(tmp_path / "crm.csv", [crm_row("1", email="a@example.com", first_name="N/A", last_name="-", plan="null")])
    config = write_config(tmp_path, [crm_source()], value_maps=VALUE_MAPS)
    sync(clock=tick, engine=engine, config=config)
    record = records(engine)["1"]
    assert (record.first_name, record.last_name, record.plan) == (None, None, None)
    assert {"first_name", "last_name", "plan"} <= set(record.blank_fields)
    assert quarantined(engine) == []


def test_a_placeholder_name_such_as_guest_is_no_name(engine: Engine, tmp_path: Path) -> None:
    rows = [
        crm_row("1", email="a@example.com", first_name="Guest"),
        crm_row("2", email="b@example.com", first_name="GUEST", last_name="Ray"),
    ]
    write_csv(tmp_path / "crm.csv", rows)
    config = write_config(tmp_path, [crm_source()], value_maps=VALUE_MAPS)
    sync(clock=tick, engine=engine, config=config)
    guest, ray = records(engine)["1"], records(engine)["2"]
    assert (guest.first_name, guest.full_name, guest.name_original) == (None, None, "Guest")
    assert (ray.first_name, ray.last_name, ray.full_name) == (None, "Ray", "Ray")
    assert quarantined(engine) == []


def test_missing_required_field_is_quarantined_not_dropped(engine: Engine, tmp_path: Path) -> None:
    write_csv(tmp_path / "crm.csv", [crm_row("1", first_name="Nadia")])
    config = write_config(tmp_path, [crm_source()], value_maps=VALUE_MAPS)
    sync(clock=tick, engine=engine, config=config)
    assert records(engine)["1"].first_name == "Nadia"
    assert quarantined(engine) == [("1", "email", None, "required field is missing")]


def test_resync_of_unchanged_sources_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    write_csv(tmp_path / "crm.csv", [crm_row(str(i), email=f"p{i}@example.com") for i in range(5)])
    config = write_config(tmp_path, [crm_source()], value_maps=VALUE_MAPS)
    sync(clock=tick, engine=engine, config=config)
    before = {rid: (r.id, r.synced_at) for rid, r in records(engine).items()}
    [summary] = sync(clock=tick, engine=engine, config=config)
    assert (summary.read, summary.new, summary.changed, summary.unchanged) == (5, 0, 0, 5)
    assert {rid: (r.id, r.synced_at) for rid, r in records(engine).items()} == before
    with Session(engine) as session:
        assert len(session.scalars(select(RawRecord)).all()) == 5
        assert len(session.scalars(select(SyncRun)).all()) == 2


def test_a_changed_row_updates_only_that_record(engine: Engine, tmp_path: Path) -> None:
    rows = [crm_row(str(i), email=f"p{i}@example.com", plan="Basic") for i in range(3)]
    write_csv(tmp_path / "crm.csv", rows)
    config = write_config(tmp_path, [crm_source()], value_maps=VALUE_MAPS)
    sync(clock=tick, engine=engine, config=config)
    before = records(engine)
    rows[1]["plan"] = "Pro (annual)"
    rows[1]["email"] = "new1@example.com"
    write_csv(tmp_path / "crm.csv", rows)
    [summary] = sync(clock=tick, engine=engine, config=config)
    assert (summary.new, summary.changed, summary.unchanged) == (0, 1, 2)
    after = records(engine)
    assert after["1"].id == before["1"].id  # identity resolution points at this id: it must not change
    assert (after["1"].plan, after["1"].email) == ("pro", "new1@example.com")
    assert after["0"].synced_at == before["0"].synced_at
    assert after["1"].synced_at > before["1"].synced_at
    with Session(engine) as session:
        versions = session.scalars(
            select(RawRecord.version).where(RawRecord.source_record_id == "1").order_by(RawRecord.version)
        ).all()
        emails = session.scalars(select(Identifier.value).where(Identifier.record_id == after["1"].id)).all()
    assert versions == [1, 2]  # raw is append-only per version
    assert "p1@example.com" not in emails and "new1@example.com" in emails


def test_fixing_a_record_clears_its_quarantine(engine: Engine, tmp_path: Path) -> None:
    rows = [crm_row("1", email="bad@@example.com")]
    write_csv(tmp_path / "crm.csv", rows)
    config = write_config(tmp_path, [crm_source()], value_maps=VALUE_MAPS)
    sync(clock=tick, engine=engine, config=config)
    assert quarantined(engine)
    rows[0]["email"] = "good@example.com"
    write_csv(tmp_path / "crm.csv", rows)
    sync(clock=tick, engine=engine, config=config)
    assert quarantined(engine) == []


def test_a_changed_mapping_restandardizes_unchanged_records(engine: Engine, tmp_path: Path) -> None:
    write_csv(tmp_path / "crm.csv", [crm_row("1", email="a@example.com", plan="plus")])
    maps: dict[str, Any] = {"plan": {"pro": "pro"}, "lifecycle": VALUE_MAPS["lifecycle"]}
    config = write_config(tmp_path, [crm_source()], value_maps=maps)
    sync(clock=tick, engine=engine, config=config)
    assert records(engine)["1"].plan is None
    config = write_config(tmp_path, [crm_source()], value_maps=VALUE_MAPS)
    [summary] = sync(clock=tick, engine=engine, config=config)
    assert (summary.changed, summary.remapped) == (0, 1)
    assert records(engine)["1"].plan == "plus"
    assert quarantined(engine) == []


def test_nested_json_orders_with_items_and_money(engine: Engine, tmp_path: Path) -> None:
    write_jsonl(
        tmp_path / "orders.jsonl",
        [
            {
                "id": 5001,
                "name": "#1042",
                "customer": {"id": 77, "email": "Jane@Example.com", "first_name": "Jane"},
                "total_price": "$1,234.50",
                "created_at": "2025-05-01T10:00:00-04:00",
                "fulfillment_status": "Fulfilled",
                "fulfillments": [{"tracking_number": "1Z999AA10123456784", "tracking_company": "UPS"}],
                "line_items": [
                    {"sku": "BL-TEA-EARLGREY-100", "title": "Earl Grey", "quantity": 2, "price": "12.00"},
                    {"sku": "BL-WARE-KETTLE-01", "title": "Kettle", "quantity": "1", "price": "1210.50"},
                ],
            }
        ],
    )
    source = {
        "name": "shop",
        "kind": "jsonl",
        "path": "orders.jsonl",
        "id": "id",
        "updated_at": "created_at",
        "entity": "order",
        "fields": {
            "email": "customer.email",
            "first_name": "customer.first_name",
            "order.number": "name",
            "order.total": "total_price",
            "order.placed_at": "created_at",
            "order.fulfillment_status": "fulfillment_status",
            "order.tracking_numbers": "fulfillments.0.tracking_number",
            "order.carrier": "fulfillments.0.tracking_company",
            "order.items": {
                "from": "line_items",
                "items": {"sku": "sku", "name": "title", "quantity": "quantity", "unit_price": "price"},
            },
        },
        "identifiers": {"shopify_customer": {"from": "customer.id", "format": "shopify:customer:{}"}},
    }
    config = write_config(tmp_path, [source])
    sync(clock=tick, engine=engine, config=config)
    with Session(engine) as session:
        order = session.scalars(select(Order)).one()
        items = session.scalars(select(OrderItem).order_by(OrderItem.id)).all()
        ids = set(session.scalars(select(Identifier.value)).all())
    assert (order.order_number, order.total, order.currency) == ("#1042", Decimal("1234.50"), "USD")
    assert order.placed_at == datetime(2025, 5, 1, 14, 0, tzinfo=UTC)
    assert (order.fulfillment_status, order.tracking_numbers, order.carrier) == (
        "fulfilled",
        ["1Z999AA10123456784"],
        "UPS",
    )
    assert [(i.sku, i.quantity, i.unit_price) for i in items] == [
        ("BL-TEA-EARLGREY-100", 2, Decimal("12.00")),
        ("BL-WARE-KETTLE-01", 1, Decimal("1210.50")),
    ]
    assert all(i.source == "shop" and i.source_record_id == "5001" for i in items)
    assert ids == {"jane@example.com", "shopify:customer:77"}


def test_stripe_style_json_with_minor_units_and_epoch_times(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "subs.json").write_text(
        """{"object": "list", "data": [
        {"id": "sub_1", "customer": {"id": "cus_A", "email": "a@example.com"}, "status": "past_due",
         "items": {"data": [{"price": {"nickname": "Pro (annual)", "unit_amount": 29000, "currency": "usd"}}]},
         "trial_end": null, "current_period_end": 1767225600, "created": 1735689600}
        ]}""",
        encoding="utf-8",
    )
    source = {
        "name": "stripe",
        "kind": "json",
        "path": "subs.json",
        "records": "data",
        "id": "id",
        "updated_at": "created",
        "entity": "subscription",
        "fields": {
            "email": "customer.email",
            "subscription.id": "id",
            "subscription.status": "status",
            "subscription.plan": {"from": "items.data.0.price.nickname", "map": "plan"},
            "subscription.mrr": {"from": "items.data.0.price.unit_amount", "minor_units": True},
            "subscription.currency": "items.data.0.price.currency",
            "subscription.trial_end": "trial_end",
            "subscription.current_period_end": "current_period_end",
        },
        "identifiers": {"stripe_customer": {"from": "customer.id", "format": "stripe:{}"}},
    }
    config = write_config(tmp_path, [source], value_maps=VALUE_MAPS)
    [summary] = sync(clock=tick, engine=engine, config=config)
    assert summary.status == "ok", summary.error
    with Session(engine) as session:
        sub = session.scalars(select(Subscription)).one()
    assert (sub.subscription_ref, sub.status, sub.plan, sub.currency) == ("sub_1", "past_due", "pro", "USD")
    assert sub.mrr == Decimal("290.00")
    assert sub.trial_end is None
    assert sub.current_period_end == datetime(2026, 1, 1, tzinfo=UTC)


def test_a_record_without_an_id_is_kept_under_its_content_hash(engine: Engine, tmp_path: Path) -> None:
    write_csv(tmp_path / "crm.csv", [crm_row("", email="noid@example.com")])
    config = write_config(tmp_path, [crm_source()], value_maps=VALUE_MAPS)
    sync(clock=tick, engine=engine, config=config)
    [(record_id, record)] = records(engine).items()
    assert record_id.startswith("hash:") and record.email == "noid@example.com"
    [(rid, field, _raw, reason)] = quarantined(engine)
    assert (rid, field) == (record_id, "id") and "line 2" in reason
    [again] = sync(clock=tick, engine=engine, config=config)
    assert again.unchanged == 1


@pytest.mark.parametrize("batch_size", [2000, 1])
def test_a_repeated_id_keeps_the_first_row_and_resyncs_idempotently(
    engine: Engine, tmp_path: Path, batch_size: int
) -> None:
    from context.intake.service import sync_source

    rows = [crm_row("1", email="first@example.com"), crm_row("2", email="b@example.com")]
    rows.append(crm_row("1", email="second@example.com"))
    write_csv(tmp_path / "crm.csv", rows)
    config = write_config(tmp_path, [crm_source()], value_maps=VALUE_MAPS)
    summary = sync_source(clock=tick, engine=engine, config=config, source=config.sources[0], batch_size=batch_size)
    assert (summary.read, summary.new, summary.duplicates) == (3, 2, 1)
    assert records(engine)["1"].email == "first@example.com"
    again = sync_source(clock=tick, engine=engine, config=config, source=config.sources[0], batch_size=batch_size)
    assert (again.new, again.changed, again.unchanged, again.duplicates) == (0, 0, 2, 1)


def test_quarantine_entries_name_source_record_field_and_reason(engine: Engine, tmp_path: Path) -> None:
    write_csv(tmp_path / "crm.csv", [crm_row("9", email="x@example.com", phone="call me")])
    config = write_config(tmp_path, [crm_source()], value_maps=VALUE_MAPS)
    sync(clock=tick, engine=engine, config=config)
    with Session(engine) as session:
        [entry] = session.scalars(select(QuarantinedValue)).all()
    assert (entry.source, entry.source_record_id, entry.field, entry.raw_value) == ("crm", "9", "phone", "call me")
    assert entry.reason.startswith("phone: not a phone number")
    assert entry.raw_record_id is not None


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_parallel_standardization_gives_the_same_rows(engine: Engine, tmp_path: Path, workers: int) -> None:
    from context.intake.service import sync_source

    rows = [crm_row(str(i), email=f"p{i}@example.com", phone="bad" if i % 7 == 0 else "") for i in range(20)]
    rows.insert(9, crm_row("3", email="p3-later@example.com"))  # the same id again, in a later batch
    write_csv(tmp_path / "crm.csv", rows)
    config = write_config(tmp_path, [crm_source()], value_maps=VALUE_MAPS)
    summary = sync_source(
        clock=tick, engine=engine, config=config, source=config.sources[0], workers=workers, batch_size=4
    )
    assert (summary.status, summary.read, summary.new) == ("ok", 21, 20)
    got = {rid: r.email for rid, r in records(engine).items()}
    assert got == {str(i): f"p{i}@example.com" for i in range(20)}  # the first row with id 3 wins
    assert sorted(rid for rid, field, _, _ in quarantined(engine)) == ["0", "14", "7"]
    again = sync_source(
        clock=tick, engine=engine, config=config, source=config.sources[0], workers=workers, batch_size=4
    )
    assert (again.new, again.changed, again.unchanged, again.duplicates) == (0, 0, 20, 1)


def test_national_phone_numbers_are_read_in_the_records_country(engine: Engine, tmp_path: Path) -> None:
    write_csv(
        tmp_path / "crm.csv",
        [
            crm_row("1", email="a@example.com", phone="020 7946 0958", country="U.K."),
            crm_row("2", email="b@example.com", phone="(415) 555-2671", country=""),
            crm_row("3", email="c@example.com", phone="020 7946 0958", country=""),
        ],
    )
    config = write_config(tmp_path, [crm_source()], value_maps=VALUE_MAPS)
    sync(clock=tick, engine=engine, config=config)
    phones = {rid: r.phone for rid, r in records(engine).items()}
    assert phones == {"1": "+442079460958", "2": "+14155552671", "3": None}  # 3: a UK number read as US
    assert [(rid, field) for rid, field, _, _ in quarantined(engine)] == [("3", "phone")]


@pytest.mark.parametrize("workers", [0, 1])
def test_records_before_a_malformed_line_are_all_stored(engine: Engine, tmp_path: Path, workers: int) -> None:
    from context.intake.service import sync_source

    lines = ["contact_id,email"] + [f"{i},p{i}@example.com" for i in range(10)] + ['10,"unterminated']
    (tmp_path / "crm.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = write_config(tmp_path, [crm_source(fields={"email": "email"}, required=[], identifiers={})])
    summary = sync_source(
        clock=tick, engine=engine, config=config, source=config.sources[0], workers=workers, batch_size=4
    )
    assert summary.status == "failed" and "line 12" in (summary.error or "")
    assert (summary.read, summary.new) == (10, 10)
    assert len(records(engine)) == 10
