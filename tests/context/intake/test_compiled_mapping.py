"""The compiled mapping (`RecordMapper.map`) equals the rules as written (`map_interpreted`) on a tricky mapping.

Each record below hits one rule: candidates in priority order, a quarantined value falling through to the next
candidate, nested and indexed paths, an exact dotted key winning over the path, `const` defaults, placeholders,
`*` lists, joins, value maps, required fields and a phone read in the record's own country.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from context.intake.mapping import MappedRecord, MapStats, RecordMapper
from tests.context.intake.factories import write_config

SOURCE: dict[str, Any] = {
    "name": "shop",
    "kind": "jsonl",
    "path": "orders.jsonl",
    "id": ["id", "legacy.id"],
    "updated_at": ["updated", "meta.changed"],
    "entity": "order",
    "timezone": "Europe/London",
    "required": ["email", "order.number"],
    "null_values": ["nope"],
    "fields": {
        "email": ["customer.email", "contact.0.email", "email"],
        "phone": ["customer.phone", "addresses.-1.phone"],
        "first_name": ["customer.first", "billing.first"],
        "last_name": "customer.last",
        "full_name": {"join": ["billing.first", "billing.last"]},
        "company": {"from": "customer.company", "const": "Retail"},
        "country": ["addresses.-1.country", "country"],
        "city": "addresses.0.city",
        "postcode": "addresses.*.zip",
        "lifecycle_stage": {"from": "stage", "map": {"cust": "customer", "Lead": "lead"}},
        "signed_up_at": {"from": "since", "dayfirst": True},
        "order.number": ["name", "order_number"],
        "order.total": {"from": "total", "minor_units": True},
        "order.currency": {"from": "currency", "const": "GBP"},
        "order.tracking_numbers": ["fulfillments.*.tracking", "tracking"],
        "order.placed_at": "created",
        "order.items": {"from": "lines", "items": {"sku": "sku", "quantity": ["qty", "n"], "unit_price": "price"}},
    },
    "identifiers": {"shop_customer": {"from": ["customer.id", "cid"], "format": "shop:{}"}},
}

RECORDS: list[dict[str, Any]] = [
    {  # everything in its first candidate
        "id": "1",
        "updated": "2026-03-01T10:00:00Z",
        "customer": {"email": " Ann@Wick.example ", "phone": "020 7946 0958", "first": "ANN", "last": "smith", "id": 7},
        "addresses": [{"city": "Leeds", "zip": "LS1"}, {"country": "UK", "zip": "LS2"}],
        "stage": "CUST",
        "since": "03/04/2025",
        "name": "#1",
        "total": 1250,
        "currency": "eur",
        "fulfillments": [{"tracking": "T1"}, {"tracking": ""}, {"tracking": "T3"}],
        "created": 1767225600,
        "lines": [{"sku": "A", "qty": "2", "price": "4.50"}, {"sku": "B", "n": 3}],
    },
    {  # first candidates bad or blank: quarantined or skipped, the next one used; const defaults
        "legacy": {"id": 2.0},
        "meta": {"changed": "not a date"},
        "customer": {"email": "not-an-email", "phone": "N/A", "first": "  "},
        "contact": [{"email": "bob@wick.example"}],
        "billing": {"first": "bob", "last": "JONES"},
        "addresses": [{"phone": "+1 415 201 0101", "country": "Narnia"}],
        "country": "us",
        "stage": "prospect",
        "order_number": 2,
        "total": "12,50 €",
        "tracking": "T9; T10",
        "lines": "not a list",
        "cid": "c-2",
    },
    {  # placeholders and missing required fields; an exact dotted key wins over the nested path
        "id": "nope",
        "customer.email": "carol@wick.example",
        "customer": {"email": "ignored@wick.example", "phone": "12"},
        "email": "",
        "name": "none",
        "since": "31/12/2024 23:30",
        "lines": [{"sku": "C", "qty": "1.5"}],
    },
    {"id": "4"},  # nothing at all
]


def _snapshot(record: MappedRecord) -> tuple[Any, ...]:
    return (
        record.record_id,
        record.updated_at,
        record.person,
        record.entity,
        record.items,
        record.identifiers,
        record.blank_fields,
        [(q.field, q.raw_value, q.reason) for q in record.quarantine],
    )


def _stats(stats: MapStats) -> tuple[Any, ...]:
    return (stats.mapped, dict(stats.present), dict(stats.filled), dict(stats.labels), stats.samples)


def test_compiled_mapping_equals_the_interpreted_rules(tmp_path: Path) -> None:
    config = write_config(tmp_path, [SOURCE], default_region="US")
    compiled, interpreted = RecordMapper(config, config.sources[0]), RecordMapper(config, config.sources[0])
    for index, payload in enumerate(RECORDS):
        record_id = compiled.record_id(payload) or f"r{index}"
        assert _snapshot(compiled.map(payload, record_id)) == _snapshot(interpreted.map_interpreted(payload, record_id))
    assert _stats(compiled.take_stats()) == _stats(interpreted.take_stats())


def test_the_tricky_records_map_as_documented(tmp_path: Path) -> None:
    # Pins the rules themselves, so that both paths changing the same way is caught too.
    config = write_config(tmp_path, [SOURCE], default_region="US")
    mapper = RecordMapper(config, config.sources[0])
    first, second, third, fourth = (mapper.map(p, f"r{i}") for i, p in enumerate(RECORDS))
    assert (first.person["email"], first.person["phone"], first.person["country"]) == (
        "ann@wick.example",
        "+442079460958",  # national number read in the record's own country (UK), not the source's US
        "GB",
    )
    assert (first.person["first_name"], first.person["last_name"], first.person["company"]) == (
        "Ann",
        "Smith",
        "Retail",
    )
    assert (first.person["city"], first.person["postcode"], first.person["lifecycle_stage"]) == (
        "Leeds",
        "LS1",
        "customer",
    )
    # Day first (3 April, not 4 March), in London summer time: 23:00 UTC the day before.
    assert first.person["signed_up_at"].isoformat() == "2025-04-02T23:00:00+00:00"
    assert first.entity["tracking_numbers"] == ["T1", "T3"] and first.entity["currency"] == "EUR"
    assert [(i["sku"], i["quantity"]) for i in first.items] == [("A", 2), ("B", 3)]
    assert first.identifiers[-1] == ("shop_customer", "shop:7")

    assert second.person["email"] == "bob@wick.example" and second.person["phone"] == "+14152010101"
    assert (second.person["first_name"], second.person["full_name"], second.person["country"]) == (
        "Bob",
        "Bob Jones",
        "US",
    )
    assert second.entity["tracking_numbers"] == ["T9", "T10"] and second.entity["currency"] == "GBP"
    assert {(q.field, q.reason.split(":")[0]) for q in second.quarantine} >= {
        ("updated_at", "meta.changed"),
        ("email", "customer.email"),
        ("country", "addresses.-1.country"),
        ("lifecycle_stage", "stage"),
        ("order.items", "lines"),
    }
    assert "phone" not in second.blank_fields  # a placeholder in one candidate, a value in the next

    assert third.person["email"] == "carol@wick.example"
    assert [(q.field, q.reason) for q in third.quarantine if q.field == "order.number"] == [
        ("order.number", "required field is missing")
    ]
    assert any(q.field == "phone" and q.reason.startswith("customer.phone: ") for q in third.quarantine)
    assert any(q.field == "order.items" and "item 1 quantity" in q.reason for q in third.quarantine)
    assert [q.reason for q in fourth.quarantine] == ["required field is missing", "required field is missing"]
    assert fourth.person["company"] == "Retail" and fourth.entity["currency"] == "GBP"
