"""Render demo facts into each source's native shape: HubSpot-style CSV, Shopify/Stripe/Zendesk JSON, ..."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from demo.reference import PLANS, PRICE_IDS, Product

NEW_YORK = ZoneInfo("America/New_York")

CRM_COLUMNS = (
    "contact_id",
    "firstname",
    "lastname",
    "email",
    "billing_email",
    "contact_email",
    "phone",
    "mobilephone",
    "company",
    "jobtitle",
    "address",
    "city",
    "state",
    "zip",
    "country",
    "lifecyclestage",
    "contact_owner",
    "deal_stage",
    "club_plan",
    "createdate",
    "lastmodifieddate",
    "stripe_customer_id",
    "shopify_customer_id",
    "notes",
)
WEBFORM_COLUMNS = (
    "submission_id",
    "form",
    "name",
    "email",
    "phone",
    "company",
    "postcode",
    "country",
    "message",
    "utm_source",
    "utm_campaign",
    "page_url",
    "submitted",
)
VIP_COLUMNS = (
    "VIP ID",
    "Name",
    "Email",
    "Phone",
    "Company",
    "Country",
    "Postcode",
    "Tier",
    "Lifetime Spend",
    "VIP Since",
    "Last Updated",
    "Notes",
)


def row(columns: tuple[str, ...], values: dict[str, Any]) -> list[str]:
    """A CSV row in column order; absent values are blank cells."""
    return [_cell(values.get(c)) for c in columns]


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


# --- time formats, one per source, as the real exports write them -----------------------------------


def ny_naive(ts: int) -> str:
    """CRM style: naive wall-clock time in America/New_York, '2025-03-14 14:05:00'."""
    return datetime.fromtimestamp(ts, NEW_YORK).strftime("%Y-%m-%d %H:%M:%S")


def ny_offset(ts: int) -> str:
    """Shopify style: ISO 8601 with the store's UTC offset, '2025-03-14T14:05:00-04:00'."""
    return datetime.fromtimestamp(ts, NEW_YORK).isoformat()


def utc_z(ts: int) -> str:
    """Zendesk style: ISO 8601 UTC with a Z, '2025-03-14T18:05:00Z'."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def form_time(ts: int) -> str:
    """Web-form style: US month-first 12-hour naive New York time, '03/14/2025 2:05 PM'."""
    dt = datetime.fromtimestamp(ts, NEW_YORK)
    return f"{dt:%m/%d/%Y} {dt.hour % 12 or 12}:{dt:%M %p}"


def day(ts: int) -> str:
    """Spreadsheet style: a date, '2025-03-14'."""
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def money(cents: int) -> str:
    """Shopify style: a decimal string, '12.50'."""
    return f"{cents // 100}.{cents % 100:02d}"


def spend(cents: int) -> str:
    """Spreadsheet style: '$1,234.50'."""
    return f"${cents // 100:,}.{cents % 100:02d}"


# --- JSON records ------------------------------------------------------------------------------------


def shopify_order(
    *,
    order_id: int,
    number: int,
    created: int,
    updated: int,
    customer: dict[str, Any] | None,
    email: str | None,
    shipping: dict[str, Any],
    items: list[tuple[Product, int]],
    shipping_cents: int,
    currency: str,
    financial_status: str,
    fulfillment_status: str | None,
    fulfillments: list[dict[str, Any]],
    note: str | None = None,
) -> dict[str, Any]:
    """A Shopify REST Admin `order` object (the fields the demo uses)."""
    subtotal = sum(p.price_cents * q for p, q in items)
    return {
        "id": order_id,
        "name": f"#{number}",
        "order_number": number,
        "email": email,
        "created_at": ny_offset(created),
        "updated_at": ny_offset(updated),
        "currency": currency,
        "subtotal_price": money(subtotal),
        "total_shipping_price_set": {"shop_money": {"amount": money(shipping_cents), "currency_code": currency}},
        "total_price": money(subtotal + shipping_cents),
        "financial_status": financial_status,
        "fulfillment_status": fulfillment_status,
        "note": note,
        "customer": customer,
        "shipping_address": shipping,
        "line_items": [
            {
                "id": order_id * 10 + i,
                "sku": p.sku,
                "title": p.title,
                "quantity": q,
                "price": money(p.price_cents),
            }
            for i, (p, q) in enumerate(items)
        ],
        "fulfillments": fulfillments,
    }


def shopify_fulfillment(
    *, fulfillment_id: int, created: int, tracking_number: str, company: str, shipment_status: str
) -> dict[str, Any]:
    """A Shopify fulfillment with one tracking number."""
    return {
        "id": fulfillment_id,
        "created_at": ny_offset(created),
        "status": "success",
        "shipment_status": shipment_status,
        "tracking_company": company,
        "tracking_number": tracking_number,
        "tracking_numbers": [tracking_number],
    }


def stripe_subscription(
    *,
    sub_id: str,
    customer: dict[str, Any],
    plan: tuple[str, str],
    status: str,
    created: int,
    start_date: int,
    trial_start: int | None,
    trial_end: int | None,
    current_period_start: int,
    current_period_end: int,
    cancel_at: int | None,
    canceled_at: int | None,
    currency: str,
    legacy_plan_field: bool = True,
) -> dict[str, Any]:
    """A Stripe `subscription` object with its `customer` expanded."""
    nickname, amount = PLANS[plan]
    price = {
        "id": PRICE_IDS[plan],
        "object": "price",
        "nickname": nickname,
        "unit_amount": amount,
        "currency": currency.lower(),
        "recurring": {"interval": plan[1], "interval_count": 1},
        "product": "prod_BLclub",
    }
    obj: dict[str, Any] = {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "created": created,
        "start_date": start_date,
        "trial_start": trial_start,
        "trial_end": trial_end,
        "current_period_start": current_period_start,
        "current_period_end": current_period_end,
        "cancel_at": cancel_at,
        "cancel_at_period_end": cancel_at is not None and canceled_at is None,
        "canceled_at": canceled_at,
        "ended_at": canceled_at if status == "canceled" else None,
        "currency": currency.lower(),
        "items": {
            "object": "list",
            "data": [{"id": "si_" + sub_id[4:], "object": "subscription_item", "price": price, "quantity": 1}],
        },
    }
    # Older API versions also send the single `plan`; some exports drop it.
    if legacy_plan_field:
        obj["plan"] = {
            "id": PRICE_IDS[plan],
            "nickname": nickname,
            "amount": amount,
            "interval": plan[1],
            "currency": currency.lower(),
        }
    return obj


def zendesk_ticket(
    *,
    ticket_id: int,
    requester: dict[str, Any],
    subject: str,
    description: str,
    status: str,
    priority: str | None,
    channel: str,
    created: int,
    updated: int,
    solved: int | None,
    last_comment: str | None,
    tags: list[str],
) -> dict[str, Any]:
    """A Zendesk `ticket` with the requester and metric set side-loaded into it."""
    return {
        "id": ticket_id,
        "url": f"https://brightleaf.zendesk.example/api/v2/tickets/{ticket_id}.json",
        "subject": subject,
        "description": description,
        "status": status,
        "priority": priority,
        "type": "question" if status in {"new", "open"} else "incident",
        "via": {"channel": channel},
        "requester_id": requester.get("id"),
        "requester": requester,
        "tags": tags,
        "created_at": utc_z(created),
        "updated_at": utc_z(updated),
        "metric_set": {"solved_at": utc_z(solved) if solved else None},
        "last_public_comment": (
            {"body": last_comment, "public": True, "created_at": utc_z(updated)} if last_comment else None
        ),
    }
