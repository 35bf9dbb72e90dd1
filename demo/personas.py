"""Hand-crafted demo personas: fixed people, ids and facts that demos and eval scenarios rely on.

The facts live in demo/personas.yaml (one entry per persona: its headline and its source records); this module
validates that file and renders the records in each source's native shape (demo.source_exports). They are written
first, identically for every seed and size, and are documented in docs/demo-business.md ("Demo personas").
Times in the file are New York wall-clock times, fixed relative to the reference date 2026-11-01.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from context.errors import validation_problems
from demo.reference import PLANS, PRODUCTS, WHOLESALE_PRODUCTS, Product
from demo.sinks import DemoWriter
from demo.source_exports import (
    NEW_YORK,
    form_time,
    ny_naive,
    shopify_fulfillment,
    shopify_order,
    spend,
    stripe_subscription,
    zendesk_ticket,
)

PERSONAS_FILE = Path(__file__).with_name("personas.yaml")
INFO_EMAIL = "info@copperkettle.example"

_SKU = {p.sku: p for p in (*PRODUCTS, *WHOLESALE_PRODUCTS)}
_WALL_CLOCK = "%Y-%m-%d %H:%M"


class PersonaFileError(ValueError):
    """The personas file cannot be read or is invalid; the message names the file, the persona and the field."""


# --- value types -------------------------------------------------------------------------------------------


def _epoch(value: object) -> int:
    """Epoch seconds of a New York wall-clock time 'YYYY-MM-DD HH:MM' (the file's one way to write a time)."""
    if not isinstance(value, str):
        raise ValueError(f"expected a New York wall-clock time 'YYYY-MM-DD HH:MM', got {value!r}")
    try:
        local = datetime.strptime(value, _WALL_CLOCK)
    except ValueError:
        raise ValueError(f"{value!r} is not a New York wall-clock time 'YYYY-MM-DD HH:MM'") from None
    ts = int(local.replace(tzinfo=NEW_YORK).timestamp())
    # A time in the spring-forward gap would silently move by an hour: refuse it instead.
    if datetime.fromtimestamp(ts, NEW_YORK).replace(tzinfo=None) != local:
        raise ValueError(f"{value!r} does not exist in New York (the clocks skip it at the DST change)")
    return ts


def _day(value: object) -> str:
    """A date as 'YYYY-MM-DD' (YAML reads an unquoted date as a date)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        date.fromisoformat(value)  # a ValueError names an impossible day
        return value
    raise ValueError(f"expected a date 'YYYY-MM-DD', got {value!r}")


def _text(value: object) -> object:
    """Text stays text: YAML reads an unquoted 02139, +1415..., 2026-06-15 or NO as a number, date or boolean."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise ValueError(f"YAML read this as {str(value).lower()}: put the text in quotes")
    if isinstance(value, int | float | date):
        what = "a date" if isinstance(value, date) else "a number"
        raise ValueError(f"YAML read {value} as {what}: put the text in quotes")
    return value  # anything else gets pydantic's own "valid string" error


def _reserved(low: int, high: int, what: str) -> AfterValidator:
    """Ids in the range docs/demo-business.md reserves for personas (generated people start after it)."""

    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"{value} is outside the personas' reserved {what} {low}-{high}")
        return value

    return AfterValidator(check)


def _reserved_label(pattern: str, low: int, high: int, what: str) -> AfterValidator:
    """String ids like 'wf-0000001' whose number is in the personas' reserved range."""

    def check(value: str) -> str:
        m = re.fullmatch(pattern, value)
        if m is None or not low <= int(m.group(1)) <= high:
            raise ValueError(f"{value!r} is not one of the personas' reserved {what}")
        return value

    return AfterValidator(check)


def _known_sku(value: str) -> str:
    if value not in _SKU:
        raise ValueError(f"unknown SKU {value!r} (the catalogue is demo/reference.py PRODUCTS, WHOLESALE_PRODUCTS)")
    return value


NyTime = Annotated[int, BeforeValidator(_epoch)]
ShipmentStatus = Literal[
    "label_printed",
    "label_purchased",
    "attempted_delivery",
    "ready_for_pickup",
    "confirmed",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "failure",
]
Day = Annotated[str, BeforeValidator(_day)]
Str = Annotated[str, BeforeValidator(_text)]
Text = Annotated[str | None, BeforeValidator(_text)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- the records, one model per source ---------------------------------------------------------------------


class CrmContact(_Model):
    """A CRM contact row; fields are the export's columns (demo.source_exports.CRM_COLUMNS)."""

    contact_id: Annotated[int, _reserved(100_001, 100_099, "CRM contact ids")]
    firstname: Text = None
    lastname: Text = None
    email: Text = None
    billing_email: Text = None
    contact_email: Text = None
    phone: Text = None
    mobilephone: Text = None
    company: Text = None
    jobtitle: Text = None
    address: Text = None
    city: Text = None
    state: Text = None
    zip: Text = None
    country: Text = None
    lifecyclestage: Text = None
    contact_owner: Text = None
    deal_stage: Text = None
    club_plan: Text = None
    createdate: NyTime
    lastmodifieddate: NyTime
    stripe_customer_id: Text = None
    shopify_customer_id: int | None = None
    notes: Text = None

    def write(self, w: DemoWriter, person_id: str) -> None:
        """Write the CSV row (times in the CRM's naive New York style)."""
        values = self.model_dump()
        values["createdate"] = ny_naive(self.createdate)
        values["lastmodifieddate"] = ny_naive(self.lastmodifieddate)
        w.crm(person_id, values)


class WebForm(_Model):
    """A web-form submission; fields are the export's columns (demo.source_exports.WEBFORM_COLUMNS)."""

    submission_id: Annotated[str, _reserved_label(r"wf-(\d{7})", 1, 99, "web-form ids wf-0000001-wf-0000099")]
    form: Literal["contact", "wholesale", "newsletter"]
    name: Text = None
    email: Text = None
    phone: Text = None
    company: Text = None
    postcode: Text = None
    country: Text = None
    message: Text = None
    utm_source: Text = None
    utm_campaign: Text = None
    page_url: Text = None
    submitted: NyTime

    def write(self, w: DemoWriter, person_id: str) -> None:
        """Write the CSV row (submitted in the form tool's month-first 12-hour style)."""
        values = self.model_dump()
        values["submitted"] = form_time(self.submitted)
        w.form(person_id, values)


class VipRow(_Model):
    """A row of the hand-kept VIP spreadsheet (demo.source_exports.VIP_COLUMNS, in snake case)."""

    vip_id: Annotated[str, _reserved_label(r"VIP-(\d{4})", 1, 99, "VIP ids VIP-0001-VIP-0099")]
    name: Text = None
    email: Text = None
    phone: Text = None
    company: Text = None
    country: Text = None
    postcode: Text = None
    tier: Text = None
    lifetime_spend_cents: int = Field(ge=0)
    vip_since: Day
    last_updated: Day
    notes: Text = None

    def write(self, w: DemoWriter, person_id: str) -> None:
        """Write the spreadsheet row (spend as '$1,234.50')."""
        w.vip(
            person_id,
            {
                "VIP ID": self.vip_id,
                "Name": self.name,
                "Email": self.email,
                "Phone": self.phone,
                "Company": self.company,
                "Country": self.country,
                "Postcode": self.postcode,
                "Tier": self.tier,
                "Lifetime Spend": spend(self.lifetime_spend_cents),
                "VIP Since": self.vip_since,
                "Last Updated": self.last_updated,
                "Notes": self.notes,
            },
        )


class ShopifyCustomer(_Model):
    """The customer an order is attached to in Shopify."""

    id: int
    email: Text
    first_name: Text
    last_name: Text
    phone: Text = None


class ShippingAddress(_Model):
    """A Shopify shipping address (key order is the export's)."""

    first_name: Str
    last_name: Str
    company: Text = None
    address1: Str
    city: Str
    zip: Str
    province_code: Str
    country_code: Str
    country: Str
    phone: Text = None


class Item(_Model):
    """One line of an order: a catalogue SKU and a quantity."""

    sku: Annotated[str, AfterValidator(_known_sku)]
    quantity: int = Field(ge=1)


class Fulfillment(_Model):
    """The order's shipment: when it left, the carrier, its tracking number and where it is now."""

    shipped: NyTime
    carrier: Str
    tracking: Str
    status: ShipmentStatus = "delivered"


class Order(_Model):
    """A Shopify order, paid; unfulfilled unless it has a fulfillment."""

    number: Annotated[int, _reserved(1001, 1099, "order numbers")]
    placed: NyTime
    email: Text
    customer: ShopifyCustomer | None = None
    ship_to: ShippingAddress
    items: list[Item] = Field(min_length=1)
    currency: Str = "USD"
    fulfillment: Fulfillment | None = None

    def write(self, w: DemoWriter, person_id: str) -> None:
        """Write the order (ids, totals and the free-shipping threshold as for generated orders)."""
        items: list[tuple[Product, int]] = [(_SKU[i.sku], i.quantity) for i in self.items]
        updated = self.placed + 600
        fulfillments = []
        if self.fulfillment is not None:
            updated = self.fulfillment.shipped
            fulfillments.append(
                shopify_fulfillment(
                    fulfillment_id=self.number * 100,
                    created=updated,
                    tracking_number=self.fulfillment.tracking,
                    company=self.fulfillment.carrier,
                    shipment_status=self.fulfillment.status,
                )
            )
        subtotal = sum(p.price_cents * q for p, q in items)
        w.order(
            person_id,
            shopify_order(
                order_id=5_000_000_000_000 + self.number,
                number=self.number,
                created=self.placed,
                updated=updated,
                customer=None if self.customer is None else self.customer.model_dump(),
                email=self.email,
                shipping=self.ship_to.model_dump(),
                items=items,
                shipping_cents=0 if subtotal >= 4000 else 595,
                currency=self.currency,
                financial_status="paid",
                fulfillment_status="fulfilled" if fulfillments else None,
                fulfillments=fulfillments,
            ),
        )


class StripeAddress(_Model):
    """A Stripe customer address."""

    line1: Text
    city: Text
    state: Text
    postal_code: Text
    country: Text


class StripeCustomer(_Model):
    """The Stripe customer, expanded into the subscription."""

    id: Str
    email: Text
    name: Text
    phone: Text = None
    address: StripeAddress
    metadata: dict[str, Str] = {}


class Subscription(_Model):
    """A Brightleaf Club subscription in Stripe."""

    id: Annotated[str, Field(pattern=r"^sub_")]
    customer: StripeCustomer
    plan: Literal["basic", "plus", "pro"]
    interval: Literal["month", "year"]
    status: Literal["trialing", "active", "past_due", "canceled", "unpaid", "incomplete"]
    created: NyTime
    start_date: NyTime
    trial_start: NyTime | None = None
    trial_end: NyTime | None = None
    current_period_start: NyTime
    current_period_end: NyTime
    cancel_at: NyTime | None = None
    canceled_at: NyTime | None = None
    currency: Str = "USD"

    @model_validator(mode="after")
    def _plan_exists(self) -> Subscription:
        if (self.plan, self.interval) not in PLANS:
            offered = ", ".join(f"{p}/{i}" for p, i in PLANS)
            raise ValueError(f"no {self.plan} plan billed per {self.interval} (plans: {offered})")
        return self

    def write(self, w: DemoWriter, person_id: str) -> None:
        """Write the subscription (price, items and the legacy plan field from the plan table)."""
        c = self.customer
        customer = {
            "id": c.id,
            "object": "customer",
            "email": c.email,
            "name": c.name,
            "phone": c.phone,
            "address": c.address.model_dump(),
            "metadata": dict(c.metadata),
        }
        w.subscription(
            person_id,
            stripe_subscription(
                sub_id=self.id,
                customer=customer,
                plan=(self.plan, self.interval),
                status=self.status,
                created=self.created,
                start_date=self.start_date,
                trial_start=self.trial_start,
                trial_end=self.trial_end,
                current_period_start=self.current_period_start,
                current_period_end=self.current_period_end,
                cancel_at=self.cancel_at,
                canceled_at=self.canceled_at,
                currency=self.currency,
            ),
        )


class Requester(_Model):
    """Who opened a Zendesk ticket, as Zendesk has them (names and addresses as typed)."""

    id: int
    name: Text
    email: Text
    phone: Text = None


class Ticket(_Model):
    """A Zendesk ticket."""

    id: Annotated[int, _reserved(20_001, 20_099, "ticket ids")]
    requester: Requester
    subject: Str
    description: Str
    status: Literal["new", "open", "pending", "hold", "solved", "closed"]
    priority: Literal["low", "normal", "high", "urgent"] | None
    channel: Literal["email", "web", "chat", "api"]
    created: NyTime
    updated: NyTime
    solved: NyTime | None = None
    last_comment: Text = None
    tags: list[Str] = []

    def write(self, w: DemoWriter, person_id: str) -> None:
        """Write the ticket with its requester and metric set."""
        w.ticket(
            person_id,
            zendesk_ticket(
                ticket_id=self.id,
                requester=self.requester.model_dump(),
                subject=self.subject,
                description=self.description,
                status=self.status,
                priority=self.priority,
                channel=self.channel,
                created=self.created,
                updated=self.updated,
                solved=self.solved,
                last_comment=self.last_comment,
                tags=list(self.tags),
            ),
        )


# Each record kind's id field: ids are unique per kind across the file, and errors name the record by it.
_ID_KEYS = {
    "crm": "contact_id",
    "web_form": "submission_id",
    "vip": "vip_id",
    "order": "number",
    "subscription": "id",
    "ticket": "id",
}


SourceRecord = CrmContact | WebForm | VipRow | Order | Subscription | Ticket


class Record(_Model):
    """One source record of a persona: exactly one of the keys says which source it belongs to."""

    crm: CrmContact | None = None
    web_form: WebForm | None = None
    vip: VipRow | None = None
    order: Order | None = None
    subscription: Subscription | None = None
    ticket: Ticket | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Record:
        kinds = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(kinds) != 1:
            names = ", ".join(type(self).model_fields)
            raise ValueError(f"a record is exactly one of {names}; got {', '.join(kinds) or 'none'}")
        return self

    @property
    def kind(self) -> str:
        """Which source this record belongs to (its key in the file)."""
        return next(name for name in type(self).model_fields if getattr(self, name) is not None)

    @property
    def value(self) -> SourceRecord:
        """The record itself."""
        record: SourceRecord = getattr(self, self.kind)
        return record

    @property
    def record_id(self) -> str:
        """Its id within its source ('#1042' for an order), as errors and the uniqueness check name it."""
        rid = getattr(self.value, _ID_KEYS[self.kind])
        return f"#{rid}" if self.kind == "order" else str(rid)


class PersonaSpec(_Model):
    """One persona of the file: headline facts and source records (written in file order)."""

    person_id: Annotated[str, Field(pattern=r"^persona-[a-z]+(-[a-z]+)*$")]
    name: Str
    email: Str
    phone: Annotated[Str, Field(pattern=r"^\+[1-9]\d{6,14}$")]
    summary: Str
    records: list[Record] = Field(min_length=1)


@dataclass(frozen=True)
class Persona:
    """A persona's headline facts (the full records are written by `write_personas`)."""

    person_id: str
    name: str
    email: str
    phone: str
    summary: str


# --- the file ----------------------------------------------------------------------------------------------


def load_personas(path: Path = PERSONAS_FILE) -> tuple[PersonaSpec, ...]:
    """Read and validate a personas file; every problem is reported, each naming its persona and field."""
    try:
        with path.open(encoding="utf-8") as stream:  # a stream, so YAML errors name the file
            raw = yaml.load(stream, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PersonaFileError(f"{path}: cannot read the personas file: {exc}") from None
    entries = raw.get("personas") if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not entries:
        raise PersonaFileError(f"{path}: expected a top-level `personas:` list with one entry per persona")
    problems: list[str] = []
    specs: list[PersonaSpec] = []
    for number, entry in enumerate(entries, start=1):
        pid = entry.get("person_id") if isinstance(entry, dict) else None
        label = f"persona {pid}" if isinstance(pid, str) else f"persona #{number} (no person_id)"
        try:
            specs.append(PersonaSpec.model_validate(entry))
        except ValidationError as exc:
            problems.append(f"{label}: {validation_problems(exc, where=_where(entry))}")
    problems += _duplicates(specs)
    if problems:
        raise PersonaFileError(f"{path}: invalid personas file:\n  " + "\n  ".join(problems))
    return tuple(specs)


def _where(entry: object) -> Callable[[tuple[int | str, ...]], str]:
    """Name a field by its dotted path, plus the record's own id so it can be found in the file."""

    def where(loc: tuple[int | str, ...]) -> str:
        path = ".".join(str(part) for part in loc)
        if len(loc) < 3 or loc[0] != "records" or not isinstance(loc[1], int) or not isinstance(entry, dict):
            return path
        records, kind = entry.get("records"), str(loc[2])
        record = records[loc[1]] if isinstance(records, list) and loc[1] < len(records) else None
        body = record.get(kind) if isinstance(record, dict) else None
        rid = body.get(_ID_KEYS.get(kind, "")) if isinstance(body, dict) else None
        if not isinstance(rid, str | int):
            return path
        return f"{path} ({kind} {'#' if kind == 'order' else ''}{rid})"

    return where


def _duplicates(specs: list[PersonaSpec]) -> list[str]:
    """Person ids and record ids (per source) used twice: ground truth needs each exactly once."""
    problems = []
    persons: set[str] = set()
    owner: dict[tuple[str, str], str] = {}
    for spec in specs:
        if spec.person_id in persons:
            problems.append(f"persona {spec.person_id}: person_id: used by an earlier persona too")
        persons.add(spec.person_id)
        for i, record in enumerate(spec.records):
            key = (record.kind, record.record_id)
            if key in owner:
                problems.append(
                    f"persona {spec.person_id}: records.{i}.{record.kind}: {record.kind} {record.record_id} "
                    f"is already {owner[key]}'s"
                )
            owner.setdefault(key, spec.person_id)
    return problems


def write_personas(w: DemoWriter, specs: tuple[PersonaSpec, ...] | None = None) -> int:
    """Write every persona's records (the bundled file's unless `specs` is given); returns the number of personas."""
    specs = SPECS if specs is None else specs
    for spec in specs:
        for record in spec.records:
            record.value.write(w, spec.person_id)
    return len(specs)


SPECS: tuple[PersonaSpec, ...] = load_personas()
PERSONAS: tuple[Persona, ...] = tuple(Persona(s.person_id, s.name, s.email, s.phone, s.summary) for s in SPECS)
PERSONA_IDS = frozenset(p.person_id for p in PERSONAS)

__all__ = [
    "INFO_EMAIL",
    "PERSONAS",
    "PERSONAS_FILE",
    "PERSONA_IDS",
    "Persona",
    "PersonaFileError",
    "PersonaSpec",
    "load_personas",
    "write_personas",
]
