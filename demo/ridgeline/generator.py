"""Deterministic generator of Ridgeline Outfitters' sources: an order export, a help-desk CSV, a loyalty sheet.

`generate(out_dir)` writes `orders.json`, `helpdesk_tickets.csv`, `ridge_rewards.csv` and `contextdesk.yaml`
(the source mapping and Ridgeline's agent settings). The named customers (PERSONAS) are written by hand, so
the scenario suite (demo/suites/ridgeline.yaml) can be written from their records; `customers` more people
with random orders come from a seeded generator, so privacy checks have other customers' orders to leak.
The same arguments give the same bytes (`python -m demo.ridgeline.generator` rewrites demo/ridgeline/data).

Shapes that differ from the Brightleaf demo on purpose: order ids `W` + 7 digits and `RO-` + 5 letters and
digits, Title-Case status words (stored as labels: "In Transit" → `in_transit`), line items with options,
phone and store orders without a date, CAD, naive Vancouver times in the help desk, day-first dates in the
loyalty sheet, and no subscriptions at all.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ORDERS_FILE = "orders.json"
TICKETS_FILE = "helpdesk_tickets.csv"
REWARDS_FILE = "ridge_rewards.csv"
CONFIG_FILE = "contextdesk.yaml"


@dataclass(frozen=True)
class Line:
    """One line of an order: product, SKU, quantity, unit price (CAD) and options such as size and colour."""

    product: str
    sku: str
    price: str
    qty: int = 1
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Order:
    """One order as the store's export writes it (status is the store's own word)."""

    number: str
    status: str
    lines: tuple[Line, ...]
    created: str | None  # ISO with the Vancouver offset; store and phone orders may have none
    payment: str = "Captured"
    carrier: str | None = None
    tracking: str | None = None
    channel: str = "web"
    pickup_store: str | None = None

    def total(self) -> str:
        """The order total in CAD (sum of the lines; shipping is free over 99 CAD in the story)."""
        cents = sum(round(float(line.price) * 100) * line.qty for line in self.lines)
        return f"{cents / 100:.2f}"


@dataclass(frozen=True)
class Person:
    """A Ridgeline customer: contact details, an online account id, orders, tickets and a loyalty row."""

    account: str
    first: str
    last: str
    email: str
    phone: str
    city: str
    province: str
    postal: str
    orders: tuple[Order, ...] = ()
    tickets: tuple[tuple[str, str, str, str, str], ...] = ()  # id, subject, status, updated, last reply
    rewards: tuple[str, str, str] | None = None  # member no, tier, points
    member_since: str = "14/03/2023"  # day-first, as the loyalty sheet writes dates
    extra: dict[str, Any] = field(default_factory=dict)


def _l(product: str, sku: str, price: str, qty: int = 1, **options: str) -> Line:
    return Line(product, sku, price, qty, tuple((k.replace("_", " ").title(), v) for k, v in options.items()))


PERSONAS: tuple[Person, ...] = (
    Person(
        "RA-10042",
        "Élodie",
        "Tremblay",
        "elodie.tremblay@example.ca",
        "+1 604 555 0142",
        "Vancouver",
        "BC",
        "V5K 0A1",
        orders=(
            Order(
                "W2378156",
                "Backordered",
                (
                    _l("Alpine Trek 45L Pack", "RO-PK-4512", "219.00", colour="Slate Blue"),
                    _l("Merino Hiking Socks", "RO-SK-0331", "24.00", 2, size="L"),
                ),
                "2026-10-27T09:14:00-07:00",
                payment="Authorized",
            ),
            Order(
                "W2351190",
                "Delivered",
                (_l("Summit Down Jacket", "RO-JK-7710", "349.00", size="M", colour="Black"),),
                "2026-09-14T18:02:00-07:00",
                carrier="Canada Post",
                tracking="7023210039414604",
            ),
        ),
        tickets=(("47950", "Backorder date for the Alpine Trek pack", "Resolved", "2026-10-29 11:20", "yes"),),
        rewards=("RR-55012", "Trailhead", "640"),
    ),
    Person(
        "RA-10057",
        "Marcus",
        "Okafor",
        "marcus.okafor@example.com",
        "+1 403 555 0188",
        "Calgary",
        "AB",
        "T2P 1J9",
        orders=(
            Order(
                "W2380042",
                "In Transit",
                (
                    _l("Trailhead Hiking Boots", "RO-BT-2290", "229.00", size="10.5", colour="Brown"),
                    _l("Storm Gaiters", "RO-GT-0490", "49.00", size="M/L"),
                ),
                "2026-10-29T12:40:00-07:00",
                carrier="Purolator",
                tracking="329012345678",
            ),
        ),
        rewards=("RR-55230", "Summit", "2140"),
    ),
    Person(
        "RA-10063",
        "Priya",
        "Sandhu",
        "priya.sandhu@example.ca",
        "+1 403 555 0119",
        "Calgary",
        "AB",
        "T3A 2E4",
        orders=(
            Order(
                "W2369874",
                "Processed",
                (_l("Packable Rain Shell", "RO-JK-3304", "189.00", size="S", colour="Teal"),),
                "2026-10-31T16:25:00-07:00",
            ),
            Order(
                "RO-4K7Q2",
                "Awaiting Pickup",
                (_l("Carbon Trekking Poles", "RO-TP-1180", "139.00", colour="Graphite"),),
                "2026-10-30T10:05:00-06:00",
                channel="store",
                pickup_store="Calgary",
            ),
        ),
    ),
    Person(
        "RA-10071",
        "Jonah",
        "Whitfield",
        "jonah.whitfield@example.com",
        "+1 416 555 0173",
        "Toronto",
        "ON",
        "M5V 2T6",
        orders=(
            Order(
                "W2374410",
                "On Hold",
                (_l("Ultralight Tent 2P", "RO-TN-2002", "499.00", colour="Sage"),),
                "2026-10-30T20:11:00-07:00",
                payment="Authorized",
            ),
        ),
    ),
    Person(
        "RA-10088",
        "Sofia",
        "Marchetti",
        "sofia.marchetti@example.com",
        "+1 514 555 0126",
        "Montréal",
        "QC",
        "H2X 1Y4",
        orders=(
            Order(
                "W2365530",
                "Out for Delivery",
                (_l("Roll-Top Dry Bag 20L", "RO-DB-0020", "34.00", 2, colour="Yellow"),),
                "2026-10-28T08:30:00-07:00",
                carrier="Canada Post",
                tracking="7023210039418822",
            ),
            Order(
                "W2362215",
                "Cancelled",
                (_l("Touring Kayak Paddle", "RO-KP-2300", "179.00", length="230 cm"),),
                "2026-10-12T14:45:00-07:00",
                payment="Voided",
            ),
        ),
    ),
    Person(
        "RA-10094",
        "Liam",
        "Chen",
        "liam.chen@example.ca",
        "+1 250 555 0160",
        "Victoria",
        "BC",
        "V8W 1P6",
        orders=(
            Order(
                "W2377001",
                "Delivered",
                (_l("Insulated Camp Mug", "RO-MG-0350", "28.00", colour="Forest"),),
                "2026-10-20T11:00:00-07:00",
                carrier="Canada Post",
                tracking="7023210039410019",
            ),
            Order(
                "W2340011",
                "Delivered",
                (_l("Trail Running Vest", "RO-VS-0812", "129.00", size="M"),),
                "2026-08-02T09:40:00-07:00",
                carrier="Purolator",
                tracking="329012341187",
            ),
            Order(
                "W2321876",
                "Delivered",
                (_l("Camp Hammock", "RO-HM-0101", "79.00", colour="Orange"),),
                "2026-06-11T15:05:00-07:00",
                carrier="Canada Post",
                tracking="7023210039407765",
            ),
            Order(
                "RO-8M3TX",
                "Picked Up",
                (_l("Climbing Chalk Bag", "RO-CB-0044", "22.00", colour="Red"),),
                None,
                channel="store",
                pickup_store="Victoria",
            ),
            Order(
                "RO-2D9KF",
                "Picked Up",
                (_l("Bike Repair Kit", "RO-BK-0910", "36.00"),),
                None,
                channel="phone",
                pickup_store="Victoria",
            ),
            Order(
                "RO-5H6WQ",
                "Picking",
                (_l("Snowshoe Poles", "RO-SP-1212", "64.00", colour="Blue"),),
                None,
                channel="phone",
                pickup_store="Victoria",
            ),
        ),
        rewards=("RR-54877", "Summit", "3380"),
    ),
    Person(
        "RA-10102",
        "Amara",
        "Nwosu",
        "amara.nwosu@example.com",
        "+1 780 555 0135",
        "Edmonton",
        "AB",
        "T5J 0N3",
        orders=(
            Order(
                "W2379315",
                "Picking",
                (
                    _l("Merino Base Layer Bottoms", "RO-BL-0288", "89.00", size="M", colour="Charcoal"),
                    _l("Wool Beanie", "RO-BN-0033", "32.00", colour="Rust"),
                ),
                "2026-10-31T07:55:00-07:00",
            ),
        ),
        tickets=(
            (
                "48213",
                "Change the shipping address on W2379315",
                "Open",
                "2026-10-31 09:12",
                "We have asked the warehouse to update the address.",
            ),
        ),
    ),
    Person(
        "RA-10119",
        "Noah",
        "Gagnon",
        "noah.gagnon@example.ca",
        "+1 613 555 0151",
        "Ottawa",
        "ON",
        "K1P 5G4",
        orders=(
            Order(
                "W2376620",
                "Received",
                (_l("Headlamp 400", "RO-HL-0400", "59.00", colour="Black"),),
                "2026-11-01T08:20:00-07:00",
                payment="Authorized",
            ),
        ),
        rewards=("RR-55301", "Base Camp", "180"),
    ),
    Person(
        "RA-10125",
        "Hannah",
        "Berg",
        "hannah.berg@example.com",
        "+1 306 555 0147",
        "Saskatoon",
        "SK",
        "S7K 1J5",
        orders=(
            Order(
                "W2359807",
                "Returned",
                (_l("Fleece Hoodie", "RO-FH-0610", "119.00", size="L", colour="Forest"),),
                "2026-09-30T13:10:00-07:00",
                payment="Refunded",
                carrier="Canada Post",
                tracking="7023210039412290",
            ),
        ),
    ),
    Person(
        "RA-10131",
        "Rafael",
        "Costa",
        "rafael.costa@example.com",
        "+1 902 555 0164",
        "Halifax",
        "NS",
        "B3J 1S9",
        orders=(
            Order(
                "W2373358",
                "Delivered",
                (_l("Synthetic Sleeping Bag -7C", "RO-SB-0707", "279.00", length="Regular"),),
                "2026-10-24T10:30:00-07:00",
                carrier="Purolator",
                tracking="329012349901",
            ),
            Order(
                "W2378840",
                "Exception",
                (_l("Compact Camp Chair", "RO-CC-0150", "89.00", colour="Grey"),),
                "2026-10-26T17:45:00-07:00",
                carrier="Purolator",
                tracking="329012350466",
            ),
        ),
        tickets=(
            (
                "48177",
                "Parcel marked delivered but not received",
                "Pending",
                "2026-10-27 15:40",
                "We opened a trace with Purolator.",
            ),
        ),
    ),
    Person(
        "RA-10146",
        "Yuki",
        "Tanaka",
        "yuki.tanaka@example.com",
        "+1 604 555 0177",
        "Burnaby",
        "BC",
        "V5H 4M1",
        rewards=("RR-55418", "Base Camp", "50"),
        member_since="02/10/2026",
    ),
)

_FIRST = [
    "Olivia", "Ethan", "Chloe", "Lucas", "Maya", "Owen", "Ava", "Nathan", "Zoe", "Caleb", "Isla", "Felix",
    "Leah", "Mateo", "Grace", "Adrian", "Nora", "Samuel", "Ruby", "Theo", "Clara", "Julian", "Mila", "Henry",
]  # fmt: skip
_LAST = [
    "Roy", "Singh", "MacDonald", "Leblanc", "Wong", "Campbell", "Bouchard", "Patel", "Stewart", "Kim",
    "Fraser", "Lavoie", "Anderson", "Nguyen", "Morin", "Reid", "Ahmed", "Bergeron", "Hughes", "Park",
]  # fmt: skip
_CITIES = [
    ("Vancouver", "BC", "V6B", "604"), ("Kelowna", "BC", "V1Y", "250"), ("Calgary", "AB", "T2G", "403"),
    ("Winnipeg", "MB", "R3C", "204"), ("Toronto", "ON", "M4C", "416"), ("Québec", "QC", "G1R", "418"),
]  # fmt: skip
_PRODUCTS = [
    ("Trail Runner Shoes", "RO-TR-1100", "159.00", {"size": ["8", "9", "10", "11"], "colour": ["Blue", "Black"]}),
    ("Softshell Pants", "RO-SP-0520", "119.00", {"size": ["S", "M", "L"], "colour": ["Olive", "Black"]}),
    ("Water Filter Bottle", "RO-WF-0075", "54.00", {}),
    ("Hardshell Jacket", "RO-JK-9020", "399.00", {"size": ["S", "M", "L", "XL"], "colour": ["Red", "Navy"]}),
    ("Sleeping Pad", "RO-PD-0210", "139.00", {"length": ["Regular", "Long"]}),
    ("Camp Stove", "RO-ST-0330", "99.00", {}),
    ("Daypack 22L", "RO-PK-2201", "89.00", {"colour": ["Teal", "Black", "Plum"]}),
    ("Fleece Gloves", "RO-GL-0140", "29.00", {"size": ["S", "M", "L"]}),
]
_STATUSES = ["Delivered", "Delivered", "Delivered", "In Transit", "Received", "Picking", "Backordered", "Cancelled"]


def _background(rng: random.Random, count: int, taken: set[str]) -> list[Person]:
    """`count` other customers with one to three random orders each (privacy checks need their order ids)."""
    people: list[Person] = []
    for i in range(count):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        city, prov, fsa, area = rng.choice(_CITIES)
        orders: list[Order] = []
        for _ in range(rng.randint(1, 3)):
            number = f"W2{rng.randint(300000, 399999)}"
            while number in taken:
                number = f"W2{rng.randint(300000, 399999)}"
            taken.add(number)
            product, sku, price, options = rng.choice(_PRODUCTS)
            chosen = {k: rng.choice(v) for k, v in options.items()}
            status = rng.choice(_STATUSES)
            shipped = status in {"Delivered", "In Transit"}
            carrier = rng.choice(["Canada Post", "Purolator"]) if shipped else None
            tracking = None
            if carrier == "Canada Post":
                tracking = f"70232100{rng.randint(10000000, 99999999)}"
            elif carrier == "Purolator":
                tracking = f"3290{rng.randint(10000000, 99999999)}"
            day = rng.randint(1, 30)
            month = rng.choice([8, 9, 10])
            orders.append(
                Order(
                    number,
                    status,
                    (_l(product, sku, price, rng.randint(1, 2), **chosen),),
                    f"2026-{month:02d}-{day:02d}T{rng.randint(8, 20):02d}:{rng.randint(0, 59):02d}:00-07:00",
                    payment="Voided" if status == "Cancelled" else "Captured",
                    carrier=carrier,
                    tracking=tracking,
                )
            )
        handle = f"{first}.{last}{i + 1}".lower().replace(" ", "")
        people.append(
            Person(
                f"RA-2{i + 1:04d}",
                first,
                last,
                f"{handle}@example.net",
                f"+1 {area} 555 {rng.randint(1000, 9999)}",
                city,
                prov,
                f"{fsa} {rng.randint(1, 9)}{rng.choice('ABCEGHJ')}{rng.randint(1, 9)}",
                orders=tuple(orders),
                rewards=(f"RR-6{i + 1:04d}", rng.choice(["Base Camp", "Trailhead"]), str(rng.randint(0, 900)))
                if rng.random() < 0.4
                else None,
            )
        )
    return people


def _order_record(person: Person, order: Order) -> dict[str, Any]:
    updated = order.created or "2026-10-30T12:00:00-07:00"
    return {
        "order_id": order.number,
        "channel": order.channel,
        "created": order.created,
        "last_modified": updated,
        "status": order.status,
        "payment": order.payment,
        "currency": "CAD",
        "total": order.total(),
        "pickup_store": order.pickup_store,
        "customer": {
            "account_id": person.account,
            "first": person.first,
            "last": person.last,
            "email": person.email,
            "phone": person.phone,
        },
        "ship_to": {
            "city": person.city,
            "province": person.province,
            "postal": person.postal,
            "country": "CA",
        },
        "shipments": [{"carrier": order.carrier, "tracking": order.tracking}] if order.tracking else [],
        "lines": [
            {
                "sku": line.sku,
                "product": line.product,
                "qty": line.qty,
                "price": line.price,
                "options": [{"name": k, "value": v} for k, v in line.options],
            }
            for line in order.lines
        ],
    }


def _csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def people(*, customers: int = 30, seed: int = 11) -> list[Person]:
    """The personas and `customers` generated others (same arguments, same people)."""
    taken = {o.number for p in PERSONAS for o in p.orders}
    return [*PERSONAS, *_background(random.Random(seed), customers, taken)]


def generate(out_dir: Path, *, customers: int = 30, seed: int = 11) -> Path:
    """Write Ridgeline's sources and contextdesk.yaml into `out_dir`; returns the contextdesk.yaml path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    everyone = people(customers=customers, seed=seed)
    orders = [_order_record(p, o) for p in everyone for o in p.orders]
    (out_dir / ORDERS_FILE).write_text(
        json.dumps({"export": "ridgeline-orders", "currency": "CAD", "orders": orders}, indent=1, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    tickets = [["Ticket ID", "Subject", "Status", "Priority", "Requester Email", "Requester", "Last Updated", "Reply"]]
    for p in everyone:
        for ticket_id, subject, status, updated, reply in p.tickets:
            tickets.append([ticket_id, subject, status, "Medium", p.email, f"{p.first} {p.last}", updated, reply])
    (out_dir / TICKETS_FILE).write_text(_csv(tickets), encoding="utf-8")
    rewards = [["Member #", "Member Name", "Email", "Phone", "Tier", "Points", "Member Since"]]
    for p in everyone:
        if p.rewards is not None:
            number, tier, points = p.rewards
            rewards.append([number, f"{p.first} {p.last}".upper(), p.email, p.phone, tier, points, p.member_since])
    (out_dir / REWARDS_FILE).write_text(_csv(rewards), encoding="utf-8")
    config = out_dir / CONFIG_FILE
    config.write_text(CONFIG_YAML, encoding="utf-8")
    return config


CONFIG_YAML = """\
# Ridgeline Outfitters test business, written by demo/ridgeline/generator.py (do not edit by hand).
# Paths are relative to this file. No subscriptions; CAD; the business is on Vancouver time.
default_region: CA
timezone: America/Vancouver

business:
  name: Ridgeline Outfitters
  timezone: America/Vancouver
  hours: {days: [mon, tue, wed, thu, fri, sat], open: "08:00", close: "18:00"}

sources:
  # The web store's order export (web orders W + 7 digits; store and phone orders RO- + 5 characters, some
  # without a date). Status words are the store's own: they are stored as labels ("In Transit" -> in_transit)
  # and agent.order_statuses below says what each means.
  - name: orders
    kind: json
    path: orders.json
    records: orders
    id: order_id
    updated_at: last_modified
    entity: order
    fields:
      email: customer.email
      phone: customer.phone
      first_name: customer.first
      last_name: customer.last
      city: ship_to.city
      region: ship_to.province
      postcode: ship_to.postal
      country: ship_to.country
      order.number: order_id
      order.placed_at: created
      order.currency: currency
      order.total: total
      order.financial_status: payment
      order.fulfillment_status: status
      order.tracking_numbers: shipments.0.tracking
      order.carrier: shipments.0.carrier
      order.items:
        from: lines
        items: {sku: sku, name: product, quantity: qty, unit_price: price, options: options}
    identifiers:
      site_user: {from: customer.account_id}

  # The help desk's ticket export: naive Vancouver wall-clock times.
  - name: helpdesk
    kind: csv
    path: helpdesk_tickets.csv
    id: Ticket ID
    updated_at: Last Updated
    entity: ticket
    fields:
      email: Requester Email
      full_name: Requester
      ticket.id: Ticket ID
      ticket.subject: Subject
      ticket.status: Status
      ticket.priority: Priority
      ticket.updated_at: Last Updated
      ticket.last_public_message: Reply

  # The Ridge Rewards loyalty sheet: ALL CAPS names, day-first dates.
  - name: rewards
    kind: csv
    path: ridge_rewards.csv
    id: "Member #"
    entity: contact
    fields:
      full_name: Member Name
      email: Email
      phone: Phone
      signed_up_at: {from: Member Since, dayfirst: true}
      notes: Tier

agent:
  # Ridgeline sells gear only: no "you don't have a subscription", and "cancel" / "payment" are about orders.
  sells_subscriptions: false
  # The shapes of Ridgeline's order numbers, so "is RO-4K7Q2 ready?" is an order question even from a visitor.
  order_number_examples: [W2378156, RO-4K7Q2]
  # Ridgeline's status words and what they mean. `processed` and `exception` are left out on purpose: the
  # assistant then shows the store's own word with the time of the data, and never guesses.
  order_statuses:
    received: placed
    on_hold: on_hold
    backordered: backordered
    picking: preparing
    in_transit: shipped
    out_for_delivery: out_for_delivery
    delivered: delivered
    awaiting_pickup: ready_for_pickup
    picked_up: picked_up
    cancelled: cancelled
    returned: returned
  routes:
    customer:
      goal: Support for a Ridgeline customer; orders, pickups, returns and warranty first.
      offers: []
    visitor:
      goal: Answer public questions from the help center.
      offers: []
      qualify_lead: false
"""


def main() -> None:
    """Rewrite the bundled Ridgeline data (demo/ridgeline/data)."""
    from demo.ridgeline import DATA_DIR

    print(generate(DATA_DIR))


if __name__ == "__main__":
    main()
