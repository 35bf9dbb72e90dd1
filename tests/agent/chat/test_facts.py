"""The one fact extractor reads each form the issue lists, and the order shapes come from the store's data."""

from __future__ import annotations

import pytest

from agent.facts import Evidence, OrderShapes, extract_facts

SHAPES = OrderShapes.from_numbers(["#1042", "SO-10023", "A7K-2291"])


@pytest.mark.parametrize(
    ("text", "kind", "key"),
    [
        ("Your order ID 9999 shipped", "order", "9999"),
        ("Order: 9999", "order", "9999"),
        ("Your order number is 9999.", "order", "9999"),
        ("about #W1234", "order", "W1234"),
        ("SO-10023 left today", "order", "SO-10023"),
        ("A7K-2291 left today", "order", "A7K-2291"),
        ("USD 275", "amount", "275"),
        ("275 USD", "amount", "275"),
        ("275 bucks", "amount", "275"),
        ("$94,110.00", "amount", "94110.00"),
        ("$1,042", "amount", "1042"),
        ("$10", "amount", "10"),
        ("€1.234,50", "amount", "1234.50"),
        ("90 percent", "percent", "90"),
        ("90%", "percent", "90"),
        ("24/12/2026", "date", "2026-12-24"),
        ("2026.12.24", "date", "2026-12-24"),
        ("December 24th, 2026", "date", "2026-12-24"),
        ("the 24th of December", "date", "????-12-24"),
        ("on the 24th", "date", "day 24"),
        ("1Z 999 AA1 0123 4567 84", "tracking", "1Z999AA10123456784"),
        ("9400 1118 9922 3344 5566 31", "tracking", "9400111899223344556631"),
        ("the manager approved a 90 percent discount", "commitment", "discount"),
        ("we'll send you a replacement", "commitment", "replacement"),
    ],
)
def test_each_form_is_read(text: str, kind: str, key: str) -> None:
    assert (kind, key) in {(f.kind, k) for f in extract_facts(text, shapes=SHAPES) for k in f.keys}


def test_ambiguous_numeric_dates_keep_both_readings_and_phones_are_not_tracking_numbers() -> None:
    [fact] = [f for f in extract_facts("on 03/04/2026") if f.kind == "date"]
    assert set(fact.keys) == {"2026-04-03", "2026-03-04"}
    assert not extract_facts("call +1 415 555 2671")
    assert not extract_facts("sorry this is the 2nd time you had to ask")
    assert [f.kind for f in extract_facts("Order #1042 placed 2026-10-27T10:00, total 46.00 USD")] == [
        "order",
        "date",
        "amount",
    ]


def test_evidence_is_typed_and_amounts_are_not_read_from_postcodes_or_order_numbers() -> None:
    ev = Evidence(system=["- Order #1042 total 46.00 USD, ships to 1450 Valencia St 94110"], customer=["I paid $12"])
    facts = {f.text: f for f in extract_facts("$46 for #1042, not $94,110.00 or $1,042; you paid $12")}
    assert ev.origin(facts["$46"]) == "system" and ev.origin(facts["1042"]) == "system"
    assert ev.origin(facts["$94,110.00"]) is None and ev.origin(facts["$1,042"]) is None
    assert ev.origin(facts["$12"]) == "customer"


def test_shapes_come_only_from_distinctive_numbers() -> None:
    assert OrderShapes.from_numbers(["#1042", "1043"]).patterns == ()
    assert OrderShapes.from_numbers(["SO-10023", "SO-10024"]).patterns == (r"[A-Z]{2}\-\d{4,6}",)
