"""Paths over nested and array data, joined columns, item options, status words: what a mapping reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from context.canonical.models import Order, OrderItem
from context.intake.check import check_source
from context.intake.config import parse_intake_config
from context.intake.mapping import RecordMapper, compile_path, describe_path_miss
from context.intake.service import sync
from tests.clock import tick
from tests.context.intake.factories import write_config, write_jsonl

ORDER = {
    "id": "o1",
    "email": "ann@wickmail.com",
    "fulfillments": [{"tracking": {"id": "T1"}}, {"tracking": {"id": ""}}, {"tracking": {"id": "T3"}}],
    "shipping": {"line1": "12 Wick Lane", "line2": "", "city": "Leeds"},
    "items": [
        {"sku": "S1", "title": "Candle", "qty": "2", "colour": "Red", "size": "L"},
        {"sku": "S2", "title": "Tin", "props": [{"name": "Scent", "value": "Fig"}]},
    ],
}


def mapper(fields: dict[str, Any], **source: Any) -> RecordMapper:
    config = parse_intake_config(
        {
            "sources": [
                {"name": "shop", "kind": "jsonl", "path": "o.jsonl", "id": "id", "entity": "order", "fields": fields}
                | source
            ]
        },
        base_dir=Path("."),
    )
    return RecordMapper(config, config.sources[0])


def test_star_takes_every_element_first_and_last_take_one() -> None:
    assert compile_path("fulfillments.*.tracking.id")(ORDER) == ["T1", "T3"]
    assert compile_path("fulfillments.0.tracking.id")(ORDER) == "T1"
    assert compile_path("fulfillments.-1.tracking.id")(ORDER) == "T3"
    record = mapper(
        {"order.tracking_numbers": "fulfillments.*.tracking.id", "order.carrier": "fulfillments.*.tracking.id"}
    ).map(ORDER, "o1")
    # A list field keeps all values; a single-value field takes the first usable one.
    assert record.entity["tracking_numbers"] == ["T1", "T3"]
    assert record.entity["carrier"] == "T1"


def test_a_path_that_runs_into_an_array_says_how_to_write_it() -> None:
    assert describe_path_miss("fulfillments.tracking.id", ORDER) == (
        "'fulfillments' is an array: write 'fulfillments.*.tracking.id' (every element) "
        "or 'fulfillments.0.tracking.id' (the first)"
    )
    assert describe_path_miss("shiping.city", ORDER) == "the record has no 'shiping'; did you mean 'shipping'?"
    assert describe_path_miss("shipping.town", ORDER) == "'shipping' has no 'town' (it has city, line1, line2)"
    assert describe_path_miss("shipping.city", ORDER) is None


def test_joined_columns_skip_blank_parts() -> None:
    record = mapper(
        {"order.shipping_address": {"join": ["shipping.line1", "shipping.line2", "shipping.city"], "sep": ", "}}
    ).map(ORDER, "o1")
    assert record.entity["shipping_address"] == "12 Wick Lane, Leeds"
    names = mapper({"full_name": {"join": ["first", "last"]}}).map({"id": "x", "first": "ann", "last": "SMITH"}, "x")
    assert (names.person["full_name"], names.person["first_name"], names.person["last_name"]) == (
        "Ann Smith",
        "Ann",
        "Smith",
    )


def test_item_options_from_columns_or_name_value_pairs() -> None:
    record = mapper(
        {
            "order.items": {
                "from": "items",
                "items": {
                    "sku": "sku",
                    "name": "title",
                    "quantity": "qty",
                    "options": {"colour": "colour", "size": "size"},
                },
            }
        }
    ).map(ORDER, "o1")
    assert record.items[0] == {"sku": "S1", "name": "Candle (colour: Red, size: L)", "quantity": 2}
    pairs = mapper({"order.items": {"from": "items", "items": {"name": "title", "options": "props"}}}).map(ORDER, "o1")
    assert pairs.items[1]["name"] == "Tin (scent: Fig)"


def test_sync_reports_fill_rates_and_columns_found_nowhere(engine: Engine, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "orders.jsonl", [ORDER | {"id": f"o{i}", "number": f"#{i}"} for i in range(5)])
    source = {
        "name": "shop",
        "kind": "jsonl",
        "path": "orders.jsonl",
        "id": "id",
        "entity": "order",
        "fields": {
            "email": "email",
            "order.number": "numbr",
            "order.tracking_numbers": "fulfillments.*.tracking.id",
            "order.fulfillment_status": {"const": "Dispatched"},
        },
    }
    config = write_config(tmp_path, [source])
    [summary] = sync(clock=tick, engine=engine, config=config)
    assert summary.status == "ok" and summary.mapped == 5
    assert ("order.number", 0, 5) in summary.fill and ("order.tracking_numbers", 5, 5) in summary.fill
    assert summary.warnings[0] == (
        "source 'shop' field 'order.number': path 'numbr' found in none of the 5 records "
        "(the record has no 'numbr'; did you mean 'number'?)"
    )
    assert "'dispatched' (5) not among the statuses the responder knows" in summary.warnings[1]
    with Session(engine) as session:
        orders = session.scalars(select(Order)).all()
        assert [o.tracking_numbers for o in orders] == [["T1", "T3"]] * 5
        assert session.scalars(select(OrderItem)).all() == []  # items were not mapped
    # Unchanged records are not standardized again, so there is nothing to report.
    [again] = sync(clock=tick, engine=engine, config=config)
    assert again.mapped == 0 and again.warnings == []


def test_check_source_writes_nothing_and_samples_standardized_values(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "orders.jsonl", [ORDER])
    config = write_config(
        tmp_path,
        [
            {
                "name": "shop",
                "kind": "jsonl",
                "path": "orders.jsonl",
                "id": "id",
                "entity": "order",
                "fields": {"email": "email", "order.tracking_numbers": "fulfillments.*.tracking.id"},
            }
        ],
    )
    result = check_source(config, config.sources[0])
    assert result.records == 1 and result.warnings == []
    assert ("email", "ann@wickmail.com", "ann@wickmail.com") in result.samples
    assert "order.number is not mapped: customers ask about orders by number" in result.notes
    assert not (tmp_path / "contextdesk.db").exists()


def test_addresses_from_an_array_of_addresses() -> None:
    customer = {
        "id": "c1",
        "addresses": [
            {"address1": "", "zip": None, "city": "Leeds", "default": False},
            {"address1": "4 Beeswax Close", "address2": "Unit B", "zip": "LS2 8CD", "city": "Leeds", "default": True},
        ],
    }
    config = parse_intake_config(
        {
            "sources": [
                {
                    "name": "shop",
                    "kind": "json",
                    "path": "c.json",
                    "id": "id",
                    "fields": {
                        "address": {"join": ["addresses.*.address1", "addresses.*.address2"], "sep": ", "},
                        "postcode": "addresses.*.zip",  # any: the first address that has one
                        "city": "addresses.-1.city",  # the last
                    },
                }
            ]
        },
        base_dir=Path("."),
    )
    record = RecordMapper(config, config.sources[0]).map(customer, "c1")
    assert (record.person["address"], record.person["postcode"], record.person["city"]) == (
        "4 Beeswax Close, Unit B",
        "LS2 8CD",
        "Leeds",
    )
