"""Hand-crafted demo personas: fixed people, ids and facts that demos and eval scenarios rely on.

They are written first, identically for every seed and size, and are documented in
docs/demo-business.md ("Demo personas"). Times are fixed relative to the reference date 2026-11-01.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from demo.reference import PRODUCTS, WHOLESALE_PRODUCTS, Product
from demo.sinks import DemoWriter
from demo.source_exports import (
    NEW_YORK,
    day,
    form_time,
    ny_naive,
    shopify_fulfillment,
    shopify_order,
    spend,
    stripe_subscription,
    zendesk_ticket,
)

_SKU = {p.sku: p for p in (*PRODUCTS, *WHOLESALE_PRODUCTS)}


def _et(text: str) -> int:
    """Epoch seconds of a New York wall-clock time 'YYYY-MM-DD HH:MM'."""
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=NEW_YORK).timestamp())


def _items(*pairs: tuple[str, int]) -> list[tuple[Product, int]]:
    return [(_SKU[sku], qty) for sku, qty in pairs]


@dataclass(frozen=True)
class Persona:
    """A persona's headline facts (the full records are written by `write_personas`)."""

    person_id: str
    name: str
    email: str
    phone: str
    summary: str


PERSONAS: tuple[Persona, ...] = (
    Persona(
        "persona-maya-chen",
        "Maya Chen",
        "maya.chen@example.com",
        "+14152010101",
        "active Pro (annual); order #1042 in transit with UPS 1Z999AA10123456784; renews 2026-11-10",
    ),
    Persona(
        "persona-liam-obrien",
        "Liam O'Brien",
        "liam.obrien@mail.example",
        "+16172010102",
        "trial of Plus (monthly), trial ends 2026-11-08; CRM still says Lead",
    ),
    Persona(
        "persona-priya-natarajan",
        "Priya Natarajan",
        "priya.natarajan@example.org",
        "+13122010103",
        "past_due Basic (monthly): renewal on 2026-10-20 failed, dunning until 2026-11-03",
    ),
    Persona(
        "persona-tomas-herrera",
        "Tomás Herrera",
        "tomas.herrera@inbox.example",
        "+15122010104",
        "former customer: Plus cancelled 2026-08-15 (ended 2026-09-01); CRM still says customer",
    ),
    Persona(
        "persona-grace-okafor",
        "Grace Okafor",
        "grace.okafor@example.net",
        "+442079460101",
        "lead: wholesale enquiry for Sunhouse Tea Room (London), never bought",
    ),
    Persona(
        "persona-ben-carter",
        "Ben Carter",
        "ben.carter@example.com",
        "+12062010106",
        "orders only: #1050 delivered (USPS), #1063 unfulfilled; no subscription",
    ),
    Persona(
        "persona-sofia-rossi",
        "Sofia Rossi",
        "sofia.rossi@example.org",
        "+15032010107",
        "owner of Copper Kettle Tea Room; wholesale orders #1020, #1055 placed as info@copperkettle.example",
    ),
    Persona(
        "persona-daniel-kim",
        "Daniel Kim",
        "daniel.kim@mail.example",
        "+15032010108",
        "manager at Copper Kettle Tea Room; also writes from info@copperkettle.example (a different person!)",
    ),
    Persona(
        "persona-oliver-bennett",
        "Oliver Bennett",
        "oliver.bennett@post.example",
        "+442079460958",
        "UK VIP, active Pro (monthly) set to cancel at period end 2026-11-15; order #1025 (DHL)",
    ),
    Persona(
        "persona-emma-fischer",
        "Emma Fischer",
        "emma.fischer@example.com",
        "+13032010110",
        "active Plus (monthly); shares the home phone with Noah Fischer",
    ),
    Persona(
        "persona-noah-fischer",
        "Noah Fischer",
        "noah.fischer@example.net",
        "+13032010110",
        "orders only (#1060); same household phone as Emma Fischer",
    ),
    Persona(
        "persona-hannah-schmidt",
        "Hannah Schmidt",
        "hannah.schmidt@example.org",
        "+493010160111",
        "Berlin; her web form says 'Hannah Schmitt' from a work address: linked only by name + postcode",
    ),
)

PERSONA_IDS = frozenset(p.person_id for p in PERSONAS)
INFO_EMAIL = "info@copperkettle.example"


def _customer(cid: int, email: str, first: str, last: str, phone: str | None) -> dict[str, Any]:
    return {"id": cid, "email": email, "first_name": first, "last_name": last, "phone": phone}


def _ship(
    first: str,
    last: str,
    address1: str,
    city: str,
    zip_: str,
    province: str,
    cc: str,
    country: str,
    phone: str | None = None,
    company: str | None = None,
) -> dict[str, Any]:
    return {
        "first_name": first,
        "last_name": last,
        "company": company,
        "address1": address1,
        "city": city,
        "zip": zip_,
        "province_code": province,
        "country_code": cc,
        "country": country,
        "phone": phone,
    }


def _order(
    w: DemoWriter,
    person_id: str,
    *,
    number: int,
    placed: str,
    customer: dict[str, Any] | None,
    email: str,
    ship: dict[str, Any],
    items: list[tuple[Product, int]],
    currency: str = "USD",
    fulfilled: str | None = None,
    carrier: str | None = None,
    tracking: str | None = None,
    shipment_status: str = "delivered",
    fulfillment_status: str | None = None,
) -> None:
    created = _et(placed)
    fulfillments = []
    updated = created + 600
    if fulfilled and carrier and tracking:
        updated = _et(fulfilled)
        fulfillments.append(
            shopify_fulfillment(
                fulfillment_id=number * 100,
                created=updated,
                tracking_number=tracking,
                company=carrier,
                shipment_status=shipment_status,
            )
        )
    subtotal = sum(p.price_cents * q for p, q in items)
    w.order(
        person_id,
        shopify_order(
            order_id=5_000_000_000_000 + number,
            number=number,
            created=created,
            updated=updated,
            customer=customer,
            email=email,
            shipping=ship,
            items=items,
            shipping_cents=0 if subtotal >= 4000 else 595,
            currency=currency,
            financial_status="paid",
            fulfillment_status=fulfillment_status or ("fulfilled" if fulfillments else None),
            fulfillments=fulfillments,
        ),
    )


def write_personas(w: DemoWriter) -> int:
    """Write every persona's records; returns the number of personas."""
    ny = _et
    # --- Maya Chen: active Pro (annual), shipped order with UPS tracking, asks where it is. -------------
    pid = "persona-maya-chen"
    maya_ship = _ship("Maya", "Chen", "1450 Valencia St", "San Francisco", "94110", "CA", "US", "United States")
    maya_c = _customer(7_000_000_000_101, "maya.chen@example.com", "Maya", "Chen", "+14152010101")
    w.crm(
        pid,
        {
            "contact_id": 100001,
            "firstname": "Maya",
            "lastname": "Chen",
            "email": "maya.chen@example.com",
            "phone": "(415) 201-0101",
            "address": "1450 Valencia St",
            "city": "San Francisco",
            "state": "CA",
            "zip": "94110",
            "country": "United States",
            "lifecyclestage": "customer",
            "contact_owner": "Renee Castillo",
            "club_plan": "Pro (annual)",
            "createdate": ny_naive(ny("2025-06-02 09:12")),
            "lastmodifieddate": ny_naive(ny("2026-10-30 11:40")),
            "stripe_customer_id": "cus_BLmaya0000001",
            "shopify_customer_id": 7_000_000_000_101,
            "notes": "Prefers oolongs. Annual Pro since Nov 2025.",
        },
    )
    w.crm(  # the same person entered again by hand, email in different case, spaces
        pid,
        {
            "contact_id": 100002,
            "firstname": "maya",
            "lastname": "CHEN",
            "email": " Maya.Chen@Example.com ",
            "mobilephone": "415.201.0101",
            "city": "San Francisco",
            "zip": "94110",
            "country": "USA",
            "lifecyclestage": "Customer ",
            "contact_owner": "Sam Whitaker",
            "createdate": ny_naive(ny("2026-01-15 16:03")),
            "lastmodifieddate": ny_naive(ny("2026-01-15 16:03")),
        },
    )
    _order(
        w,
        pid,
        number=1031,
        placed="2026-06-12 08:41",
        customer=maya_c,
        email="maya.chen@example.com",
        ship=maya_ship,
        items=_items(("BL-WARE-KETTLE-01", 1), ("BL-TEA-EARLGREY-100", 2)),
        fulfilled="2026-06-12 15:10",
        carrier="USPS",
        tracking="9400111899223344556631",
    )
    _order(
        w,
        pid,
        number=1042,
        placed="2026-10-27 10:15",
        customer=maya_c,
        email="maya.chen@example.com",
        ship=maya_ship,
        items=_items(("BL-TEA-OOLONG-100", 2), ("BL-TEA-SENCHA-100", 1)),
        fulfilled="2026-10-28 12:30",
        carrier="UPS",
        tracking="1Z999AA10123456784",
        shipment_status="in_transit",
    )
    w.subscription(
        pid,
        stripe_subscription(
            sub_id="sub_BLmaya0000001",
            customer={
                "id": "cus_BLmaya0000001",
                "object": "customer",
                "email": "maya.chen@example.com",
                "name": "Maya Chen",
                "phone": "+14152010101",
                "address": {
                    "line1": "1450 Valencia St",
                    "city": "San Francisco",
                    "state": "CA",
                    "postal_code": "94110",
                    "country": "US",
                },
                "metadata": {"shopify_customer_id": "7000000000101"},
            },
            plan=("pro", "year"),
            status="active",
            created=ny("2025-11-10 09:00"),
            start_date=ny("2025-11-10 09:00"),
            trial_start=None,
            trial_end=None,
            current_period_start=ny("2025-11-10 09:00"),
            current_period_end=ny("2026-11-10 09:00"),
            cancel_at=None,
            canceled_at=None,
            currency="USD",
        ),
    )
    w.ticket(
        pid,
        zendesk_ticket(
            ticket_id=20001,
            requester={"id": 390_000_000_001, "name": "Maya Chen", "email": "maya.chen@example.com", "phone": None},
            subject="Where is my order #1042?",
            description="Hi, my order #1042 shipped on Tuesday but the UPS tracking hasn't moved. Can you check?",
            status="open",
            priority="normal",
            channel="email",
            created=ny("2026-10-30 10:02"),
            updated=ny("2026-10-31 09:15"),
            solved=None,
            last_comment="Still no movement on 1Z999AA10123456784 — I need it before the weekend.",
            tags=["shipping", "where_is_my_order", "pro"],
        ),
    )
    w.vip(
        pid,
        {
            "VIP ID": "VIP-0001",
            "Name": "MAYA CHEN",
            "Email": "Maya.Chen@example.com ",
            "Phone": "415.201.0101 ext 7",
            "Company": "N/A",
            "Country": "usa",
            "Postcode": "94110",
            "Tier": "Gold",
            "Lifetime Spend": spend(40_900),
            "VIP Since": "2026-06-15",
            "Last Updated": "2026-10-28",
            "Notes": "Annual Pro. Loves oolong; send new-harvest samples.",
        },
    )

    # --- Liam O'Brien: trial of Plus, CRM still calls him a Lead. ----------------------------------------
    pid = "persona-liam-obrien"
    w.form(
        pid,
        {
            "submission_id": "wf-0000001",
            "form": "contact",
            "name": "Liam O'Brien",
            "email": "liam.obrien@mail.example",
            "phone": "617-201-0102",
            "postcode": "02139",
            "country": "USA",
            "message": "What's in the Plus box, and do you ship to Cambridge MA?",
            "utm_source": "instagram",
            "utm_campaign": "club_launch",
            "page_url": "https://brightleaf.example/pages/contact?utm_source=instagram&utm_campaign=club_launch",
            "submitted": form_time(ny("2026-10-20 14:05")),
        },
    )
    w.crm(
        pid,
        {
            "contact_id": 100003,
            "firstname": "Liam",
            "lastname": "O'Brien",
            "email": "liam.obrien@mail.example",
            "phone": "+1 617-201-0102",
            "city": "Cambridge",
            "state": "MA",
            "zip": "02139",
            "country": "US",
            "lifecyclestage": "Lead",
            "contact_owner": "Jordan Blake",
            "createdate": ny_naive(ny("2026-10-20 14:06")),
            "lastmodifieddate": ny_naive(ny("2026-10-21 10:00")),
        },
    )
    w.subscription(
        pid,
        stripe_subscription(
            sub_id="sub_BLliam0000002",
            customer={
                "id": "cus_BLliam0000002",
                "object": "customer",
                "email": "liam.obrien@mail.example",
                "name": "Liam O'Brien",
                "phone": None,
                "address": {
                    "line1": "77 Hampshire St",
                    "city": "Cambridge",
                    "state": "MA",
                    "postal_code": "02139",
                    "country": "US",
                },
                "metadata": {},
            },
            plan=("plus", "month"),
            status="trialing",
            created=ny("2026-10-25 19:30"),
            start_date=ny("2026-10-25 19:30"),
            trial_start=ny("2026-10-25 19:30"),
            trial_end=ny("2026-11-08 19:30"),
            current_period_start=ny("2026-10-25 19:30"),
            current_period_end=ny("2026-11-08 19:30"),
            cancel_at=None,
            canceled_at=None,
            currency="USD",
        ),
    )
    w.ticket(
        pid,
        zendesk_ticket(
            ticket_id=20002,
            requester={
                "id": 390_000_000_002,
                "name": "Liam O'Brien",
                "email": "liam.obrien@mail.example",
                "phone": None,
            },
            subject="Will I be charged when my trial ends?",
            description="I started the Plus trial on the 25th. When will my card be charged, and how much?",
            status="pending",
            priority="low",
            channel="chat",
            created=ny("2026-10-29 18:20"),
            updated=ny("2026-10-29 18:45"),
            solved=None,
            last_comment="OK, and can I switch to Basic before it renews?",
            tags=["trial", "billing"],
        ),
    )

    # --- Priya Natarajan: past_due Basic, card declined at renewal. -----------------------------------
    pid = "persona-priya-natarajan"
    w.crm(
        pid,
        {
            "contact_id": 100004,
            "firstname": "Priya",
            "lastname": "Natarajan",
            "billing_email": "priya.natarajan@example.org",
            "email": "priya.natarajan@example.org",
            "phone": "312.201.0103",
            "city": "Chicago",
            "state": "IL",
            "zip": "60614",
            "country": "United States",
            "lifecyclestage": "cust",
            "contact_owner": "Alex Romero",
            "club_plan": "Basic",
            "createdate": ny_naive(ny("2026-02-18 12:00")),
            "lastmodifieddate": ny_naive(ny("2026-10-21 08:30")),
            "stripe_customer_id": "cus_BLpriya000003",
        },
    )
    _order(
        w,
        pid,
        number=1035,
        placed="2026-03-02 20:11",
        customer=_customer(7_000_000_000_103, "priya.natarajan@example.org", "Priya", "Natarajan", None),
        email="priya.natarajan@example.org",
        ship=_ship("Priya", "Natarajan", "2210 N Clark St", "Chicago", "60614", "IL", "US", "United States"),
        items=_items(("BL-TEA-CHAMOMILE-50", 2), ("BL-WARE-INFUSER-02", 1)),
        fulfilled="2026-03-03 11:00",
        carrier="USPS",
        tracking="9400111899223344556635",
    )
    w.subscription(
        pid,
        stripe_subscription(
            sub_id="sub_BLpriya000003",
            customer={
                "id": "cus_BLpriya000003",
                "object": "customer",
                "email": "priya.natarajan@example.org",
                "name": "Priya Natarajan",
                "phone": "+13122010103",
                "address": {
                    "line1": "2210 N Clark St",
                    "city": "Chicago",
                    "state": "IL",
                    "postal_code": "60614",
                    "country": "US",
                },
                "metadata": {},
            },
            plan=("basic", "month"),
            status="past_due",
            created=ny("2026-02-20 10:00"),
            start_date=ny("2026-02-20 10:00"),
            trial_start=None,
            trial_end=None,
            current_period_start=ny("2026-09-20 10:00"),
            current_period_end=ny("2026-10-20 10:00"),
            cancel_at=None,
            canceled_at=None,
            currency="USD",
        ),
    )
    w.ticket(
        pid,
        zendesk_ticket(
            ticket_id=20003,
            requester={
                "id": 390_000_000_003,
                "name": "Priya Natarajan",
                "email": "priya.natarajan@example.org",
                "phone": None,
            },
            subject="Payment failed - card expired?",
            description="I got an email that my Brightleaf Club payment failed. My card expired last month.",
            status="open",
            priority="high",
            channel="email",
            created=ny("2026-10-21 08:12"),
            updated=ny("2026-10-22 09:00"),
            solved=None,
            last_comment="I updated my card but the account still says past due.",
            tags=["billing", "payment_failed"],
        ),
    )

    # --- Tomás Herrera: former Plus subscriber; CRM never updated. ------------------------------------
    pid = "persona-tomas-herrera"
    w.crm(
        pid,
        {
            "contact_id": 100005,
            "firstname": "Tomás",
            "lastname": "Herrera",
            "email": "tomas.herrera@inbox.example",
            "phone": "512-201-0104",
            "city": "Austin",
            "state": "TX",
            "zip": "78704",
            "country": "US",
            "lifecyclestage": "customer",
            "contact_owner": "Alex Romero",
            "club_plan": "Plus",
            "createdate": ny_naive(ny("2025-08-28 17:45")),
            "lastmodifieddate": ny_naive(ny("2025-09-02 09:00")),
            "stripe_customer_id": "cus_BLtomas000004",
        },
    )
    _order(
        w,
        pid,
        number=1010,
        placed="2025-10-05 13:30",
        customer=_customer(7_000_000_000_104, "tomas.herrera@inbox.example", "Tomas", "Herrera", "+15122010104"),
        email="tomas.herrera@inbox.example",
        ship=_ship("Tomas", "Herrera", "1201 S Congress Ave", "Austin", "78704", "TX", "US", "United States"),
        items=_items(("BL-GIFT-SAMPLER-12", 1)),
        fulfilled="2025-10-06 10:00",
        carrier="FedEx",
        tracking="771234567890",
    )
    w.subscription(
        pid,
        stripe_subscription(
            sub_id="sub_BLtomas000004",
            customer={
                "id": "cus_BLtomas000004",
                "object": "customer",
                "email": "tomas.herrera@inbox.example",
                "name": "Tomas Herrera",
                "phone": None,
                "address": {
                    "line1": "1201 S Congress Ave",
                    "city": "Austin",
                    "state": "TX",
                    "postal_code": "78704",
                    "country": "US",
                },
                "metadata": {"shopify_customer_id": "7000000000104"},
            },
            plan=("plus", "month"),
            status="canceled",
            created=ny("2025-09-01 12:00"),
            start_date=ny("2025-09-01 12:00"),
            trial_start=None,
            trial_end=None,
            current_period_start=ny("2026-08-01 12:00"),
            current_period_end=ny("2026-09-01 12:00"),
            cancel_at=ny("2026-09-01 12:00"),
            canceled_at=ny("2026-08-15 16:20"),
            currency="USD",
        ),
    )
    w.ticket(
        pid,
        zendesk_ticket(
            ticket_id=20004,
            requester={
                "id": 390_000_000_004,
                "name": "Tomás Herrera",
                "email": "tomas.herrera@inbox.example",
                "phone": None,
            },
            subject="Please cancel my subscription",
            description="Moving abroad, please cancel my Brightleaf Club (Plus).",
            status="solved",
            priority="normal",
            channel="web",
            created=ny("2026-08-15 15:50"),
            updated=ny("2026-08-15 16:25"),
            solved=ny("2026-08-15 16:25"),
            last_comment="Done: your Plus plan is cancelled and stays active until 2026-09-01.",
            tags=["cancellation"],
        ),
    )

    # --- Grace Okafor: wholesale lead, never bought. ------------------------------------------------------
    pid = "persona-grace-okafor"
    w.form(
        pid,
        {
            "submission_id": "wf-0000002",
            "form": "wholesale",
            "name": "Grace Okafor",
            "email": "grace.okafor@example.net",
            "phone": "+44 20 7946 0101",
            "company": "Sunhouse Tea Room",
            "postcode": "N1 9GU",
            "country": "U.K.",
            "message": "We'd like wholesale pricing for Earl Grey, about 5 kg a month, delivered to London.",
            "utm_source": "google",
            "utm_campaign": "wholesale_q4",
            "page_url": "https://brightleaf.example/pages/wholesale?utm_source=google&utm_campaign=wholesale_q4",
            "submitted": form_time(ny("2026-10-12 09:41")),
        },
    )
    w.crm(
        pid,
        {
            "contact_id": 100006,
            "firstname": "Grace",
            "lastname": "Okafor",
            "email": "grace.okafor@example.net",
            "phone": "+44 20 7946 0101",
            "company": "Sunhouse Tea Room",
            "jobtitle": "Owner",
            "city": "London",
            "zip": "N1 9GU",
            "country": "United Kingdom",
            "lifecyclestage": "Lead",
            "contact_owner": "Jordan Blake",
            "deal_stage": "qualifiedtobuy",
            "createdate": ny_naive(ny("2026-10-12 09:45")),
            "lastmodifieddate": ny_naive(ny("2026-10-19 15:00")),
            "notes": "Wants samples before committing. Follow up after 1 Nov.",
        },
    )

    # --- Ben Carter: orders only, no subscription, no CRM contact. ---------------------------------------
    pid = "persona-ben-carter"
    ben_c = _customer(7_000_000_000_106, "ben.carter@example.com", "Ben", "Carter", "+12062010106")
    ben_ship = _ship("Ben", "Carter", "4012 Fremont Ave N", "Seattle", "98103", "WA", "US", "United States")
    _order(
        w,
        pid,
        number=1050,
        placed="2026-09-14 19:02",
        customer=ben_c,
        email="ben.carter@example.com",
        ship=ben_ship,
        items=_items(("BL-WARE-KETTLE-01", 1)),
        fulfilled="2026-09-15 11:30",
        carrier="USPS",
        tracking="9400111899223344556650",
    )
    _order(
        w,
        pid,
        number=1063,
        placed="2026-10-31 15:30",
        customer=ben_c,
        email="ben.carter@example.com",
        ship=ben_ship,
        items=_items(("BL-TEA-ASSAM-250", 1), ("BL-BAG-PEPPERMINT-20", 2)),
    )
    w.ticket(
        pid,
        zendesk_ticket(
            ticket_id=20005,
            requester={"id": 390_000_000_005, "name": "ben carter", "email": "Ben.Carter@example.com", "phone": None},
            subject="Return: kettle arrived dented",
            description="The gooseneck kettle from order #1050 arrived with a dent in the lid.",
            status="solved",
            priority="normal",
            channel="web",
            created=ny("2026-09-18 10:00"),
            updated=ny("2026-09-22 14:00"),
            solved=ny("2026-09-22 14:00"),
            last_comment="Replacement kettle shipped; no need to return the dented one.",
            tags=["returns", "damaged"],
        ),
    )

    # --- Copper Kettle Tea Room: two different people behind info@copperkettle.example. -------------------
    pid = "persona-sofia-rossi"
    ck_ship = _ship(
        "Sofia",
        "Rossi",
        "12 Market St",
        "Portland",
        "97205",
        "OR",
        "US",
        "United States",
        company="Copper Kettle Tea Room",
    )
    w.crm(
        pid,
        {
            "contact_id": 100007,
            "firstname": "Sofia",
            "lastname": "Rossi",
            "email": INFO_EMAIL,
            "phone": "503-201-0107",
            "company": "Copper Kettle Tea Room",
            "jobtitle": "Owner",
            "address": "12 Market St",
            "city": "Portland",
            "state": "OR",
            "zip": "97205",
            "country": "US",
            "lifecyclestage": "customer",
            "contact_owner": "Jordan Blake",
            "deal_stage": "closedwon",
            "createdate": ny_naive(ny("2026-03-20 10:00")),
            "lastmodifieddate": ny_naive(ny("2026-10-02 12:00")),
            "shopify_customer_id": 7_000_000_000_107,
        },
    )
    for number, placed, fulfilled, tracking in (
        (1020, "2026-04-03 09:15", "2026-04-03 16:00", "1Z999AA10123456020"),
        (1055, "2026-10-02 11:20", "2026-10-03 10:00", "1Z999AA10123456055"),
    ):
        _order(
            w,
            pid,
            number=number,
            placed=placed,
            customer=_customer(7_000_000_000_107, INFO_EMAIL, "Sofia", "Rossi", "+15032010107"),
            email=INFO_EMAIL,
            ship=ck_ship,
            items=_items(("BL-TEA-EARLGREY-1KG", 3), ("BL-BAG-BREAKFAST-200", 2)),
            fulfilled=fulfilled,
            carrier="UPS",
            tracking=tracking,
        )
    w.form(
        pid,
        {
            "submission_id": "wf-0000004",
            "form": "newsletter",
            "name": "Sofia Rossi",
            "email": "sofia.rossi@example.org",
            "postcode": "97205",
            "country": "United States",
            "utm_source": "newsletter",
            "utm_campaign": "autumn_harvest_2026",
            "page_url": "https://brightleaf.example/?utm_source=newsletter&utm_campaign=autumn_harvest_2026",
            "submitted": form_time(ny("2026-09-01 07:55")),
        },
    )
    pid = "persona-daniel-kim"
    w.crm(
        pid,
        {
            "contact_id": 100008,
            "firstname": "Daniel",
            "lastname": "Kim",
            "email": INFO_EMAIL,
            "mobilephone": "(503) 201-0108",
            "company": "Copper Kettle Tea Room",
            "jobtitle": "Manager",
            "city": "Portland",
            "state": "OR",
            "zip": "97205",
            "country": "US",
            "lifecyclestage": "customer",
            "contact_owner": "Jordan Blake",
            "createdate": ny_naive(ny("2026-10-15 13:00")),
            "lastmodifieddate": ny_naive(ny("2026-10-15 13:00")),
        },
    )
    w.form(
        pid,
        {
            "submission_id": "wf-0000003",
            "form": "wholesale",
            "name": "Daniel Kim",
            "email": INFO_EMAIL,
            "phone": "503.201.0108",
            "company": "Copper Kettle Tea Room",
            "postcode": "97205",
            "country": "USA",
            "message": "Can we add Sencha (1 kg) to our standing wholesale order?",
            "utm_source": "",
            "utm_campaign": "",
            "page_url": "https://brightleaf.example/pages/wholesale",
            "submitted": form_time(ny("2026-10-15 12:48")),
        },
    )
    w.ticket(
        pid,
        zendesk_ticket(
            ticket_id=20006,
            requester={"id": 390_000_000_006, "name": "Daniel Kim", "email": INFO_EMAIL, "phone": None},
            subject="Invoice copy for order #1055",
            description="Could you send a VAT/invoice copy for order #1055 to this address? Thanks, Daniel",
            status="solved",
            priority="low",
            channel="email",
            created=ny("2026-10-06 09:30"),
            updated=ny("2026-10-06 11:00"),
            solved=ny("2026-10-06 11:00"),
            last_comment="Invoice attached. Thanks for your order!",
            tags=["invoice", "wholesale"],
        ),
    )
    w.form(
        pid,
        {
            "submission_id": "wf-0000005",
            "form": "contact",
            "name": "Daniel Kim",
            "email": "daniel.kim@mail.example",
            "phone": "(503) 201-0108",
            "postcode": "97205",
            "country": "US",
            "message": "Do you sell the glass teapot in a larger size?",
            "page_url": "https://brightleaf.example/pages/contact",
            "submitted": form_time(ny("2026-07-09 20:15")),
        },
    )

    # --- Oliver Bennett: UK VIP, Pro monthly cancelling at period end. ---------------------------------
    pid = "persona-oliver-bennett"
    _order(
        w,
        pid,
        number=1025,
        placed="2026-05-20 04:30",
        customer=_customer(7_000_000_000_109, "oliver.bennett@post.example", "Oliver", "Bennett", "+44 20 7946 0958"),
        email="oliver.bennett@post.example",
        ship=_ship("Oliver", "Bennett", "8 Lower Marsh", "London", "SE1 7RJ", "", "GB", "United Kingdom"),
        items=_items(("BL-WARE-TEAPOT-GLASS", 1), ("BL-TEA-MATCHA-30", 2)),
        currency="GBP",
        fulfilled="2026-05-20 15:00",
        carrier="DHL",
        tracking="1234567890",
    )
    w.subscription(
        pid,
        stripe_subscription(
            sub_id="sub_BLoliver00009",
            customer={
                "id": "cus_BLoliver00009",
                "object": "customer",
                "email": "oliver.bennett@post.example",
                "name": "Oliver Bennett",
                "phone": "+442079460958",
                "address": {
                    "line1": "8 Lower Marsh",
                    "city": "London",
                    "state": None,
                    "postal_code": "SE1 7RJ",
                    "country": "GB",
                },
                "metadata": {"shopify_customer_id": "7000000000109"},
            },
            plan=("pro", "month"),
            status="active",
            created=ny("2026-01-15 05:00"),
            start_date=ny("2026-01-15 05:00"),
            trial_start=ny("2026-01-01 05:00"),
            trial_end=ny("2026-01-15 05:00"),
            current_period_start=ny("2026-10-15 05:00"),
            current_period_end=ny("2026-11-15 05:00"),
            cancel_at=ny("2026-11-15 05:00"),
            canceled_at=None,
            currency="GBP",
        ),
    )
    w.vip(
        pid,
        {
            "VIP ID": "VIP-0002",
            "Name": "OLIVER BENNETT",
            "Email": "Oliver.Bennett@Post.Example ",
            "Phone": "+44 20 7946 0958",
            "Company": "-",
            "Country": "UK",
            "Postcode": "SE1 7RJ",
            "Tier": "Platinum",
            "Lifetime Spend": spend(123_450),
            "VIP Since": "2026-02-01",
            "Last Updated": "2026-10-20",
            "Notes": "Said he may cancel (moving). Offer pause for 3 months first.",
        },
    )

    # --- The Fischer household: one landline, two people. -------------------------------------------------
    pid = "persona-emma-fischer"
    w.subscription(
        pid,
        stripe_subscription(
            sub_id="sub_BLemma0000010",
            customer={
                "id": "cus_BLemma0000010",
                "object": "customer",
                "email": "emma.fischer@example.com",
                "name": "Emma Fischer",
                "phone": "+13032010110",
                "address": {
                    "line1": "88 Elm St",
                    "city": "Denver",
                    "state": "CO",
                    "postal_code": "80206",
                    "country": "US",
                },
                "metadata": {},
            },
            plan=("plus", "month"),
            status="active",
            created=ny("2026-04-04 18:00"),
            start_date=ny("2026-04-04 18:00"),
            trial_start=None,
            trial_end=None,
            current_period_start=ny("2026-10-04 18:00"),
            current_period_end=ny("2026-11-04 18:00"),
            cancel_at=None,
            canceled_at=None,
            currency="USD",
        ),
    )
    w.crm(
        pid,
        {
            "contact_id": 100009,
            "firstname": "Emma",
            "lastname": "Fischer",
            "email": "emma.fischer@example.com",
            "phone": "(303) 201-0110",
            "address": "88 Elm St",
            "city": "Denver",
            "state": "CO",
            "zip": "80206",
            "country": "US",
            "lifecyclestage": "customer",
            "contact_owner": "Sam Whitaker",
            "club_plan": "Plus",
            "createdate": ny_naive(ny("2026-04-04 18:05")),
            "lastmodifieddate": ny_naive(ny("2026-04-04 18:05")),
            "stripe_customer_id": "cus_BLemma0000010",
        },
    )
    pid = "persona-noah-fischer"
    _order(
        w,
        pid,
        number=1060,
        placed="2026-10-22 21:10",
        customer=_customer(7_000_000_000_111, "noah.fischer@example.net", "Noah", "Fischer", "303-201-0110"),
        email="noah.fischer@example.net",
        ship=_ship("Noah", "Fischer", "88 Elm St", "Denver", "80206", "CO", "US", "United States"),
        items=_items(("BL-WARE-CUPSET-4", 1), ("BL-TEA-ROOIBOS-100", 1)),
        fulfilled="2026-10-23 10:00",
        carrier="UPS",
        tracking="1Z999AA10123456060",
        shipment_status="delivered",
    )

    # --- Hannah Schmidt: the web form only matches her by (fuzzy) name + postcode. -----------------------
    pid = "persona-hannah-schmidt"
    w.crm(
        pid,
        {
            "contact_id": 100010,
            "firstname": "Hannah",
            "lastname": "Schmidt",
            "email": "hannah.schmidt@example.org",
            "phone": "+49 30 10160111",
            "city": "Berlin",
            "state": "BE",
            "zip": "10115",
            "country": "Germany",
            "lifecyclestage": "lead",
            "contact_owner": "Renee Castillo",
            "createdate": ny_naive(ny("2026-05-04 04:00")),
            "lastmodifieddate": ny_naive(ny("2026-05-04 04:00")),
        },
    )
    w.form(
        pid,
        {
            "submission_id": "wf-0000006",
            "form": "contact",
            "name": "Hannah Schmitt",
            "email": "h.schmidt@atelier-nord.example",
            "postcode": "10115",
            "country": "Deutschland",
            "company": "Atelier Nord",
            "message": "Liefern Sie nach Berlin? Do you ship matcha to Germany?",
            "page_url": "https://brightleaf.example/pages/contact",
            "submitted": form_time(ny("2026-09-30 03:30")),
        },
    )
    return len(PERSONAS)


def persona_vip_count() -> int:
    """VIP rows the personas take (generated VIP ids start after them)."""
    return 2


__all__ = ["INFO_EMAIL", "PERSONAS", "PERSONA_IDS", "Persona", "day", "write_personas"]
