"""Seeded, streaming generator of the Brightleaf Tea Co. demo sources, with ground truth.

`generate(out_dir, customers=N, seed=S)` writes six sources (CRM CSV, Shopify JSONL, Stripe JSON,
Zendesk JSON, web-form CSV, VIP CSV) for N people, `ground_truth.csv` (source, record_id, person_id for
every record) and a `contextdesk.yaml` mapping them. People are generated one small "unit" at a time
(a single person, a household sharing a phone, or colleagues sharing an info@ address) and their
records are written straight to disk, so memory stays flat at any size. The same seed gives the same
bytes. The hand-crafted personas (demo.personas) come first and never change.

The mess is deliberate and rate-controlled: case/spacing variants, phone formats, within- and
cross-source duplicates, stale CRM statuses, placeholders, name typos, invalid emails and phones, shared
info@ addresses and household phones, and records linkable only by name + postcode or name + company.
"""

from __future__ import annotations

import random
import string
import time
from bisect import bisect
from collections.abc import Callable
from datetime import datetime
from itertools import accumulate
from pathlib import Path
from typing import Any

from demo.mapping import CONFIG_FILE, CONFIG_YAML, GROUND_TRUTH_FILE, SOURCE_FILES
from demo.models import GeneratedDataset
from demo.people import (
    Person,
    email_variant,
    invalid_email,
    invalid_phone,
    name_variant,
    national_phone,
    phone_text,
    typo,
)
from demo.personas import PERSONAS, write_personas
from demo.reference import (
    COMPANY_WORDS_A,
    COMPANY_WORDS_B,
    COUNTRY_NAMES,
    COUNTRY_WORDS,
    CRM_OWNERS,
    CURRENCY,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    JOB_TITLES,
    LAST_NAMES,
    NANP_EXCHANGES,
    PLACES,
    PRODUCTS,
    REFERENCE_DATE,
    STREETS,
    WHOLESALE_PRODUCTS,
    Place,
    Product,
)
from demo.sinks import DemoWriter
from demo.source_exports import (
    day,
    form_time,
    ny_naive,
    shopify_fulfillment,
    shopify_order,
    spend,
    stripe_subscription,
    zendesk_ticket,
)

REF = int(datetime.fromisoformat(REFERENCE_DATE).timestamp())
HOUR = 3600
DAY = 86_400
YEAR = 365 * DAY
PERIOD = {"month": 30 * DAY, "year": YEAR}

ProgressFn = Callable[[int], None]

# --- rates: what share of people / values get each kind of mess ------------------------------------
STATUSES = ("active", "trialing", "past_due", "canceled", "unpaid", "customer", "lead")
STATUS_WEIGHTS = (22, 5, 3, 10, 1, 27, 32)
SUBSCRIBED = frozenset({"active", "trialing", "past_due", "canceled", "unpaid"})
CLEAN_RATE = 0.15  # people never mis-written anywhere
COMPANY_GROUP_RATE = 0.035  # units that are 3-4 colleagues sharing info@<company>
HOUSEHOLD_RATE = 0.025  # units that are 2 people sharing a home phone
# Household stress set (only with `households=True`): units of 2-4 people under one roof with the same last
# name, address and phone and first names that look alike, twins, or a parent and a child of the same name
# with a suffix. Off by default so the demo's bytes for a seed never change.
STRESS_HOUSEHOLD_RATE = 0.12
SIMILAR_FIRST_NAMES = [
    ("Patricia", "Patrick"),
    ("Brandon", "Bradley"),
    ("Daniel", "Danielle"),
    ("Christian", "Christina"),
    ("Julian", "Julia"),
    ("Marian", "Marion"),
    ("Adrian", "Adriana"),
    ("Caroline", "Carolina"),
    ("Eric", "Erica"),
    ("Gabriel", "Gabriella"),
    ("Jayden", "Jaylen"),
    ("Aiden", "Aidan"),
]
WEAK_LINK_RATE = 0.04  # people with one record linkable only by name + postcode / company
INVALID_EMAIL_RATE = 0.01
EMAIL_VARIANT_RATE = 0.08
BLANK_EMAIL_RATE = 0.03
INVALID_PHONE_RATE = 0.012
TYPO_RATE = 0.025
NAME_VARIANT_RATE = 0.05
CRM_DUP_RATE = 0.05
FORM_DUP_RATE = 0.06
VIP_DUP_RATE = 0.05
STALE_CRM_PLAN_RATE = 0.15

CRM_P = {"active": 0.8, "trialing": 0.6, "past_due": 0.8, "canceled": 0.8, "unpaid": 0.8, "customer": 0.55, "lead": 0.8}
ORDERS = {
    "active": (0, 1, 1, 2, 3),
    "trialing": (0, 0, 0, 1),
    "past_due": (0, 1, 1, 2),
    "canceled": (0, 1, 1, 2, 3),
    "unpaid": (0, 1),
    "customer": (1, 1, 1, 2, 2, 3, 4, 5),
    "lead": (0,),
}
TICKET_P = {
    "active": 0.2,
    "trialing": 0.15,
    "past_due": 0.55,
    "canceled": 0.25,
    "unpaid": 0.5,
    "customer": 0.18,
    "lead": 0.07,
}
FORM_P = {"lead": 0.6}
OTHER_FORM_P = 0.08

PLAN_CHOICES = (("basic", "month"), ("plus", "month"), ("pro", "month"), ("pro", "year"))
PLAN_WEIGHTS = tuple(accumulate((30, 30, 25, 15)))
CRM_PLAN_WORDS = {
    ("basic", "month"): ("Basic", "basic", "Basic (monthly)"),
    ("plus", "month"): ("Plus", "plus", "Plus (monthly)"),
    ("pro", "month"): ("Pro", "pro", "Pro (monthly)"),
    ("pro", "year"): ("Pro (annual)", "pro annual", "Pro"),
}
LIFECYCLE_WORDS = {
    "customer": ("customer", "customer", "Customer", "Customer ", "cust"),
    "lead": ("lead", "Lead", "subscriber", "marketingqualifiedlead"),
    "trial": ("Lead", "opportunity", "customer"),
    "former": ("former customer", "churned"),
}
TICKET_TOPICS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "order": (
        (
            "Where is my order {order}?",
            "I ordered {order} a while ago and it hasn't arrived.",
            "Any update on {order}?",
        ),
        ("Wrong tea in order {order}", "I got Peppermint instead of Sencha in {order}.", "Replacement is on its way."),
        ("Damaged item in {order}", "The teapot in {order} arrived cracked.", "Could you send a replacement?"),
        ("Change shipping address for {order}", "I moved, can you update the address on {order}?", "Updated, thanks!"),
    ),
    "billing": (
        ("Payment failed", "My card was declined for the Brightleaf Club renewal.", "I've updated my card."),
        ("Charged twice this month?", "I see two Brightleaf charges on my statement.", "One was a pending hold."),
    ),
    "cancel": (
        ("Cancel my subscription", "Please cancel my Brightleaf Club subscription.", "Your plan is cancelled."),
        ("Pause my Club box", "Can I skip next month's box? Travelling.", "Paused for one month."),
    ),
    "trial": (("Question about my free trial", "When does my trial end and what will I pay?", "Thanks, that helps."),),
    "login": (
        ("Login link expired (AUTH-401)", "The magic link says AUTH-401.", "New link worked, thanks."),
        ("Account locked AUTH-423", "I'm locked out after a few tries (AUTH-423).", "Still locked, please help."),
    ),
    "presales": (
        ("Do you ship to {country}?", "Do you ship to {country}, and how long does it take?", "Great, thanks!"),
        ("Caffeine-free options?", "Which of your teas are caffeine-free?", "I'll try the rooibos."),
        ("Gift cards?", "Do you sell gift cards or gift boxes?", "Ordered the sampler, thanks."),
    ),
}
CAMPAIGNS = ("", "", "spring_sampler_2026", "club_launch", "black_friday_2025", "autumn_harvest_2026", "wholesale_q4")
UTM_SOURCES = ("", "google", "instagram", "newsletter", "facebook")
NOTES = (
    "Prefers loose leaf over bags.",
    "Called re: wholesale pricing, send catalogue.",
    "Do not email - prefers phone.",
    "Met at Portland tea fair.",
    "Asked about caffeine-free options.",
    "Birthday in May, send sampler.",
)
VIP_NOTES = (
    "",
    "",
    "N/A",
    "-",
    "loves oolong",
    "call before shipping!!",
    "friend of the founder",
    "Gift box every Dec",
)
PLACEHOLDERS = ("N/A", "-", "", "n/a", "none given")

_ALNUM = string.ascii_letters + string.digits
_PLACE_LIST = tuple(p for p, _ in PLACES)
_PLACE_CUM = tuple(accumulate(w for _, w in PLACES))
_STATUS_CUM = tuple(accumulate(STATUS_WEIGHTS))
# Bijective mixing of a person serial into phone numbers: distinct serials never share a number.
_MIX = 7_654_321  # odd and not a multiple of 5: invertible modulo any 2^a * 5^b


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower().replace("é", "e") if ch.isalnum())


class _Generator:
    """The state of one generation run: RNG, id counters and the writer."""

    def __init__(self, writer: DemoWriter, rng: random.Random, *, households: bool = False) -> None:
        self.w = writer
        self.rng = rng
        self.households = households
        self.serial = 0
        self.unit = 0
        self.groups = 0
        self.crm_id = 100_100
        self.order_no = 1_100
        self.ticket_id = 20_100
        self.form_id = 100
        self.vip_no = 100

    # --- people -----------------------------------------------------------------------------------
    def _pick_place(self) -> Place:
        return _PLACE_LIST[bisect(_PLACE_CUM, self.rng.random() * _PLACE_CUM[-1])]

    def _phone(self, place: Place, serial: int) -> str:
        if not place.sub_first:  # North America: exchange x line
            space = len(NANP_EXCHANGES) * 10_000
            pos = (serial * _MIX) % space
            return f"+1{place.ndc}{NANP_EXCHANGES[pos // 10_000]}{pos % 10_000:04d}"
        rest = place.sub_len - 1
        pos = (serial * _MIX) % (10**rest)
        return f"+{place.cc}{place.ndc}{place.sub_first[serial % len(place.sub_first)]}{pos:0{rest}d}"

    def _postcode(self, pattern: str) -> str:
        rng = self.rng
        return "".join(
            str(rng.randrange(10)) if ch == "#" else ("ABDEFGHJLNPRSTUWXYZ"[rng.randrange(19)] if ch == "A" else ch)
            for ch in pattern
        )

    def person(
        self,
        *,
        place: Place | None = None,
        last: str | None = None,
        status: str | None = None,
        share_home_with: Person | None = None,
    ) -> Person:
        """A new generated person (their records are written by `emit`)."""
        rng = self.rng
        self.serial += 1
        k = self.serial
        if share_home_with is not None:
            place = share_home_with.place
        place = place or self._pick_place()
        first = FIRST_NAMES[rng.randrange(len(FIRST_NAMES))]
        last = last or LAST_NAMES[rng.randrange(len(LAST_NAMES))]
        f, lst = _slug(first), _slug(last)
        local = (f"{f}.{lst}{k}", f"{f[0]}{lst}{k}", f"{f}{k}", f"{lst}.{f}{k}", f"{f}_{lst}{k}")[rng.randrange(5)]
        domain = EMAIL_DOMAINS[rng.randrange(len(EMAIL_DOMAINS))]
        status = status or STATUSES[bisect(_STATUS_CUM, rng.random() * _STATUS_CUM[-1])]
        signup = (
            REF - rng.randint(1, 120) * DAY - rng.randrange(DAY)
            if status == "trialing"
            else REF - rng.randint(20, 3 * 365) * DAY - rng.randrange(DAY)
        )
        p = Person(
            person_id=f"P{k:07d}",
            first=first,
            last=last,
            email=f"{local}@{domain}",
            phone=share_home_with.phone if share_home_with else self._phone(place, k),
            place=place,
            postcode=share_home_with.postcode if share_home_with else self._postcode(place.postcode),
            street=share_home_with.street if share_home_with else f"{rng.randint(1, 999)} {rng.choice(STREETS)}",
            status=status,
            signup=signup,
            clean=rng.random() < CLEAN_RATE,
        )
        if rng.random() < 0.15:
            p.alt_email = f"{f}{lst[:1]}.{k}@{EMAIL_DOMAINS[rng.randrange(len(EMAIL_DOMAINS))]}"
        if rng.random() < 0.08:
            p.company = f"{rng.choice(COMPANY_WORDS_A)} {rng.choice(COMPANY_WORDS_B)}"
            p.job_title = rng.choice(JOB_TITLES)
        return p

    def run(self, count: int, progress: ProgressFn | None) -> None:
        """Generate `count` people, unit by unit."""
        rng = self.rng
        target = self.serial + count
        next_report = self.serial + 2_000
        while self.serial < target:
            self.unit += 1
            self.w.flush_due(self.unit)
            left = target - self.serial
            r = rng.random()
            if self.households and r >= 1 - STRESS_HOUSEHOLD_RATE and left >= 4:
                self._stress_household()
            elif r < COMPANY_GROUP_RATE and left >= 3:
                self._company_group(4 if left >= 4 and rng.random() < 0.3 else 3)
            elif r < COMPANY_GROUP_RATE + HOUSEHOLD_RATE and left >= 2:
                first = self.person()
                second = self.person(last=first.last if rng.random() < 0.7 else None, share_home_with=first)
                first.clean = second.clean = False
                self.emit(first)
                self.emit(second)
            else:
                self.emit(self.person())
            if progress is not None and self.serial >= next_report:
                progress(self.serial)
                next_report = self.serial + 2_000

    def _stress_household(self) -> None:
        """Two to four people under one roof who look alike on paper (see STRESS_HOUSEHOLD_RATE)."""
        rng = self.rng
        head = self.person()
        members = [head]
        kind = rng.randrange(3)
        if kind == 0:  # housemates with similar first names (Patricia and Patrick)
            pair = SIMILAR_FIRST_NAMES[rng.randrange(len(SIMILAR_FIRST_NAMES))]
            other = self.person(last=head.last, share_home_with=head)
            head.first, other.first = pair if rng.random() < 0.5 else pair[::-1]
            members.append(other)
        elif kind == 1:  # twins: similar first names, same surname and home, plus a parent
            pair = SIMILAR_FIRST_NAMES[rng.randrange(len(SIMILAR_FIRST_NAMES))]
            twins = [self.person(last=head.last, share_home_with=head) for _ in range(2)]
            twins[0].first, twins[1].first = pair
            members += twins
        else:  # a parent and a child of the same name, the child with a suffix, plus a sibling
            child = self.person(last=f"{head.last} Jr", share_home_with=head)
            child.first = head.first
            members += [child, self.person(last=head.last, share_home_with=head)]
        for p in members:
            p.clean = False
            self.emit(p)

    def _company_group(self, size: int) -> None:
        rng = self.rng
        self.groups += 1
        a, b = rng.choice(COMPANY_WORDS_A), rng.choice(COMPANY_WORDS_B)
        company, domain = f"{a} {b}", f"{_slug(a)}{_slug(b)}{self.groups}.example"
        place = self._pick_place()
        address = (self._postcode(place.postcode), f"{rng.randint(1, 400)} {rng.choice(STREETS)}")
        titles = ["Owner", *rng.sample(JOB_TITLES[1:], size - 1)]
        for i in range(size):
            p = self.person(place=place, status="customer" if i == 0 else None)
            p.postcode, p.street = address
            p.company, p.company_domain, p.job_title = company, domain, titles[i]
            p.shared_email = f"info@{domain}"
            p.clean = False
            self.emit(p)

    # --- how one record shows the person --------------------------------------------------------------
    def look(self, p: Person, phone_p: float, shared_p: float = 0.0) -> tuple[str, str, str | None, str | None]:
        """(first, last, email, phone) as one record writes them, mess applied."""
        rng = self.rng
        email: str | None = p.email
        if p.alt_email and rng.random() < 0.25:
            email = p.alt_email
        if p.shared_email and rng.random() < shared_p:
            email = p.shared_email
        phone = phone_text(p, rng.randrange(9)) if rng.random() < phone_p else None
        first, last = p.first, p.last
        if p.clean:
            return first, last, email, phone
        r = rng.random()
        if r < INVALID_EMAIL_RATE:
            email = invalid_email(p.email, rng)
        elif r < INVALID_EMAIL_RATE + EMAIL_VARIANT_RATE and email:
            email = email_variant(email, rng)
        elif r < INVALID_EMAIL_RATE + EMAIL_VARIANT_RATE + BLANK_EMAIL_RATE:
            email = None
        if phone is not None and rng.random() < INVALID_PHONE_RATE:
            phone = invalid_phone(rng)
        r = rng.random()
        if r < TYPO_RATE:
            first = typo(first, rng)
        elif r < TYPO_RATE + NAME_VARIANT_RATE:
            first = name_variant(first, rng)
        elif r < TYPO_RATE + 2 * NAME_VARIANT_RATE:
            last = name_variant(last, rng)
        return first, last, email, phone

    def _country_word(self, p: Person) -> str:
        words = COUNTRY_WORDS[p.place.country]
        return words[self.rng.randrange(len(words))]

    def _placeholder(self) -> str:
        return PLACEHOLDERS[self.rng.randrange(len(PLACEHOLDERS))]

    def _stripe_id(self, prefix: str) -> str:
        return prefix + "".join(self.rng.choices(_ALNUM, k=14))

    # --- all records of one person -----------------------------------------------------------------
    def emit(self, p: Person) -> None:
        """Write every record of `p` (deferring within-source duplicates a little)."""
        rng = self.rng
        status = p.status
        options = ORDERS[status]
        n_orders = options[rng.randrange(len(options))]
        if p.company_domain and p.job_title == "Owner":
            n_orders = max(n_orders, 2)
        in_crm = rng.random() < CRM_P[status]
        n_forms = 1 if rng.random() < FORM_P.get(status, OTHER_FORM_P) else 0
        if status == "lead" and not in_crm and not n_forms:
            n_forms = 1
        n_tickets = (1 if rng.random() < 0.8 else 2) if rng.random() < TICKET_P[status] else 0
        weak = not p.clean and rng.random() < WEAK_LINK_RATE and bool(in_crm or n_orders or status in SUBSCRIBED)
        if weak:
            n_forms = max(n_forms, 1)
        if n_orders:
            p.shopify_id = 7_100_000_000_000 + int(p.person_id[1:])  # the person's own number, not the counter
        if status in SUBSCRIBED:
            p.stripe_id = self._stripe_id("cus_")
        if n_tickets:
            p.zendesk_id = 380_000_000_000 + int(p.person_id[1:])

        if in_crm:
            self.w.crm(p.person_id, self.crm_values(p))
            if not p.clean and rng.random() < CRM_DUP_RATE:
                self._defer("crm", p, self.crm_duplicate(p))
        lifetime = 0
        order_numbers: list[int] = []
        for placed in sorted(rng.randint(p.signup, REF - HOUR) for _ in range(n_orders)):
            order = self.order(p, placed)
            lifetime += int(order["total_price"].replace(".", ""))
            order_numbers.append(order["order_number"])
            self.w.order(p.person_id, order)
        if status in SUBSCRIBED:
            self.w.subscription(p.person_id, self.subscription(p, status))
            if status in {"active", "canceled"} and not p.clean and rng.random() < 0.07:
                self._defer("stripe", p, self.subscription(p, "canceled", earlier=True))
        for i in range(n_forms):
            self.w.form(p.person_id, self.form(p, weak=weak and i == 0))
            if not p.clean and rng.random() < FORM_DUP_RATE:
                self._defer("webforms", p, self.form(p))
        for _ in range(n_tickets):
            self.w.ticket(p.person_id, self.ticket(p, order_numbers))
        if lifetime >= 5_000 and len(order_numbers) >= 2 and rng.random() < 0.12:
            self.w.vip(p.person_id, self.vip(p, lifetime))
            if not p.clean and rng.random() < VIP_DUP_RATE:
                self._defer("vip", p, self.vip(p, lifetime))

    def _defer(self, source: str, p: Person, payload: dict[str, Any]) -> None:
        self.w.defer(self.unit + self.rng.randint(1, 60), source, p.person_id, payload)

    # --- CRM ---------------------------------------------------------------------------------------
    def crm_values(self, p: Person) -> dict[str, Any]:
        """A HubSpot-style contact row for `p`."""
        rng = self.rng
        first, last, email, phone = self.look(p, 0.75, shared_p=0.4)
        self.crm_id += 1
        created = min(p.signup + rng.randrange(2 * DAY), REF - 2 * HOUR)
        v: dict[str, Any] = {
            "contact_id": self.crm_id,
            "firstname": first,
            "lastname": last,
            "city": p.place.city,
            "state": p.place.region,
            "zip": p.postcode,
            "createdate": ny_naive(created),
            "lastmodifieddate": ny_naive(rng.randint(created, REF - HOUR)),
            "contact_owner": CRM_OWNERS[rng.randrange(len(CRM_OWNERS))] if rng.random() < 0.85 else "",
        }
        r = rng.random()
        if r < 0.72:
            v["email"] = email
        elif r < 0.86:  # billing contact set: usually the same address, sometimes the other one
            v["email"] = email
            v["billing_email"] = p.alt_email if p.alt_email and rng.random() < 0.4 else email
        elif r < 0.96:
            v["contact_email"] = email
        if phone:
            v["phone" if rng.random() < 0.7 else "mobilephone"] = phone
        if p.company:
            v["company"] = p.company
            v["jobtitle"] = p.job_title
        if rng.random() < 0.4:
            v["address"] = p.street
        if rng.random() < 0.8:
            v["country"] = self._country_word(p)
        if not p.clean and rng.random() < 0.03:
            v["zip"] = self._placeholder()
        v["lifecyclestage"] = self._lifecycle(p.status)
        if p.company:
            deal = (
                "closedwon"
                if p.status != "lead"
                else rng.choice(("appointmentscheduled", "qualifiedtobuy", "closedlost"))
            )
            v["deal_stage"] = "Closed Won" if deal == "closedwon" and rng.random() < 0.2 else deal
        if p.stripe_id and rng.random() < 0.4:
            v["stripe_customer_id"] = p.stripe_id
        if p.shopify_id and rng.random() < 0.4:
            v["shopify_customer_id"] = p.shopify_id
        if rng.random() < 0.12:
            v["notes"] = NOTES[rng.randrange(len(NOTES))]
        return v

    def _lifecycle(self, status: str) -> str:
        rng = self.rng
        if status == "lead":
            key = "lead"
        elif status == "trialing":
            key = "trial"
        elif status == "canceled":
            key = "customer" if rng.random() < 0.55 else "former"  # stale CRM: conflicts with Stripe
        else:
            key = "customer"
        words = LIFECYCLE_WORDS[key]
        return words[rng.randrange(len(words))]

    def crm_duplicate(self, p: Person) -> dict[str, Any]:
        """The same person entered a second time, under an email variant."""
        rng = self.rng
        v = self.crm_values(p)
        local, _, domain = p.email.partition("@")
        variant = (email_variant(p.email, rng), p.alt_email or f"{local}+tea@{domain}", f"{local}+tea@{domain}")[
            rng.randrange(3)
        ]
        v["email"], v["billing_email"], v["contact_email"] = variant, None, None
        v.pop("stripe_customer_id", None)
        return v

    # --- Shopify ---------------------------------------------------------------------------------------
    def order(self, p: Person, placed: int) -> dict[str, Any]:
        """A Shopify order placed by `p` at `placed`."""
        rng = self.rng
        first, last, email, phone = self.look(p, 0.4, shared_p=0.7)
        self.order_no += 1
        number = self.order_no
        guest = rng.random() < 0.05
        cc = p.place.country
        wholesale = p.company_domain is not None and rng.random() < 0.7
        catalogue: tuple[Product, ...] = WHOLESALE_PRODUCTS if wholesale else PRODUCTS
        items = [
            (catalogue[rng.randrange(len(catalogue))], rng.randint(1, 4 if wholesale else 2))
            for _ in range(rng.randint(1, 3))
        ]
        subtotal = sum(prod.price_cents * q for prod, q in items)
        age = REF - placed
        fulfillments: list[dict[str, Any]] = []
        updated = placed + rng.randrange(60, 3 * HOUR)
        fulfillment_status: str | None = None
        if age > 3 * DAY or (age > DAY and rng.random() < 0.5):
            shipped = placed + rng.randint(2 * HOUR, min(age, 2 * DAY))
            roll = rng.random()
            fulfillment_status = "restocked" if roll < 0.03 else ("partial" if roll < 0.05 else "fulfilled")
            carrier, tracking = self._tracking(cc)
            fulfillments.append(
                shopify_fulfillment(
                    fulfillment_id=number * 10,
                    created=shipped,
                    tracking_number=tracking,
                    company=carrier,
                    shipment_status="delivered" if age > 10 * DAY else "in_transit",
                )
            )
            updated = shipped
        financial = "paid"
        roll = rng.random()
        if fulfillment_status == "restocked" or roll < 0.03:
            financial = "refunded"
        elif roll < 0.05:
            financial = "partially_refunded"
        elif roll < 0.08 and age < 3 * DAY:
            financial = "pending"
        country_code: str | None = cc
        country = COUNTRY_NAMES[cc]
        if not p.clean and rng.random() < 0.08:  # some exports lose the code and keep a free-text country
            country_code, country = None, self._country_word(p)
        return shopify_order(
            order_id=5_100_000_000_000 + number,
            number=number,
            created=placed,
            updated=updated,
            customer=None
            if guest
            else {"id": p.shopify_id, "email": email, "first_name": first, "last_name": last, "phone": phone},
            email=email,
            shipping={
                "first_name": p.first if rng.random() < 0.9 else first,
                "last_name": p.last,
                "company": p.company if wholesale else None,
                "address1": p.street,
                "city": p.place.city,
                "zip": p.postcode,
                "province_code": p.place.region or None,
                "country_code": country_code,
                "country": country,
                "phone": phone if guest else None,
            },
            items=items,
            shipping_cents=0 if subtotal >= 4000 else 595,
            currency=CURRENCY[cc],
            financial_status=financial,
            fulfillment_status=fulfillment_status,
            fulfillments=fulfillments,
        )

    def _tracking(self, country: str) -> tuple[str, str]:
        rng = self.rng
        roll = rng.random()
        digits = string.digits
        if country != "US" and roll < 0.7:
            return "DHL", "".join(rng.choices(digits, k=10))
        if roll < 0.45 or country != "US":
            return "UPS", "1Z" + "".join(rng.choices(string.ascii_uppercase + digits, k=6)) + "03" + "".join(
                rng.choices(digits, k=8)
            )
        if roll < 0.85:
            return "USPS", "9400" + "".join(rng.choices(digits, k=18))
        return "FedEx", "".join(rng.choices(digits, k=12))

    # --- Stripe ------------------------------------------------------------------------------------------
    def subscription(self, p: Person, status: str, *, earlier: bool = False) -> dict[str, Any]:
        """A Stripe subscription of `p` in `status` (an `earlier`, already-ended one for re-subscribers)."""
        rng = self.rng
        plan = PLAN_CHOICES[bisect(PLAN_WEIGHTS, rng.random() * PLAN_WEIGHTS[-1])]
        per = PERIOD[plan[1]]
        trial_start = trial_end = cancel_at = canceled_at = None
        if status == "trialing":
            start = max(p.signup, REF - rng.randint(0, 13 * DAY) - HOUR)
            trial_start, trial_end = start, start + 14 * DAY
            cps, cpe = start, trial_end
        elif status == "active":
            start = rng.randint(p.signup, REF - 15 * DAY)
            cps = start + (REF - start) // per * per
            cpe = cps + per
            if rng.random() < 0.08:
                cancel_at = cpe
        elif status in {"past_due", "unpaid"}:
            overdue = rng.randint(1, 13) if status == "past_due" else rng.randint(15, 40)
            cpe = REF - overdue * DAY - rng.randrange(DAY)
            cps = cpe - per
            start = max(p.signup, cps - per * rng.randint(0, 6))
            cps = max(cps, start)
            status = status if status == "past_due" or rng.random() < 0.7 else "incomplete"
        else:  # canceled
            latest = p.signup - 30 * DAY if earlier else REF - 15 * DAY
            earliest = p.signup - 2 * YEAR if earlier else p.signup + 30 * DAY
            canceled_at = rng.randint(min(earliest, latest - DAY), latest)
            start = canceled_at - per * rng.randint(1, 12) - rng.randrange(per // 2)
            cps = canceled_at - rng.randrange(per)
            cpe = cps + per
            if rng.random() < 0.5:
                cancel_at = cpe
        if status == "active" and rng.random() < 0.5:  # started with a 14-day trial
            trial_start, trial_end = start - 14 * DAY, start
            start = trial_start
        first, last, email, phone = self.look(p, 0.5)
        name = f"{first} {last}" if rng.random() < 0.95 else self._placeholder()
        cc = p.place.country
        metadata: dict[str, Any] = {}
        if p.shopify_id and rng.random() < 0.3:
            metadata["shopify_customer_id"] = str(p.shopify_id)
        customer = {
            "id": self._stripe_id("cus_") if earlier else p.stripe_id,
            "object": "customer",
            "email": email,
            "name": name,
            "phone": phone,
            "address": {
                "line1": p.street if rng.random() < 0.6 else None,
                "city": p.place.city,
                "state": p.place.region or None,
                "postal_code": p.postcode,
                "country": cc,
            },
            "created": start - rng.randrange(HOUR),
            "metadata": metadata,
        }
        return stripe_subscription(
            sub_id=self._stripe_id("sub_"),
            customer=customer,
            plan=plan,
            status=status,
            created=start,
            start_date=start,
            trial_start=trial_start,
            trial_end=trial_end,
            current_period_start=cps,
            current_period_end=cpe,
            cancel_at=cancel_at,
            canceled_at=canceled_at,
            currency=CURRENCY[cc],
            legacy_plan_field=rng.random() < 0.8,
        )

    # --- Zendesk --------------------------------------------------------------------------------------------
    def ticket(self, p: Person, order_numbers: list[int]) -> dict[str, Any]:
        """A Zendesk ticket from `p`, on a topic that fits their account."""
        rng = self.rng
        topic = self._topic(p.status, bool(order_numbers))
        templates = TICKET_TOPICS[topic]
        subject, description, comment = templates[rng.randrange(len(templates))]
        order = f"#{order_numbers[rng.randrange(len(order_numbers))]}" if order_numbers else "my order"
        fill = {"order": order, "country": COUNTRY_NAMES[p.place.country]}
        created = rng.randint(max(p.signup, REF - 2 * YEAR), REF - HOUR)
        age = REF - created
        solved = None
        if age > 7 * DAY or rng.random() < 0.3:
            status = "closed" if age > 30 * DAY and rng.random() < 0.7 else "solved"
            solved = created + rng.randint(HOUR, min(age, 5 * DAY))
            updated = solved
        else:
            status = ("new", "open", "open", "pending", "hold")[rng.randrange(5)]
            updated = created + rng.randrange(max(1, min(age, 2 * DAY)))
        first, last, email, phone = self.look(p, 0.1, shared_p=0.4)
        self.ticket_id += 1
        return zendesk_ticket(
            ticket_id=self.ticket_id,
            requester={"id": p.zendesk_id, "name": f"{first} {last}", "email": email, "phone": phone},
            subject=subject.format(**fill),
            description=description.format(**fill),
            status=status,
            priority=(None, "low", "normal", "normal", "high", "urgent")[rng.randrange(6)]
            if topic != "billing"
            else "high",
            channel=("email", "email", "web", "chat", "api")[rng.randrange(5)],
            created=created,
            updated=updated,
            solved=solved,
            last_comment=comment.format(**fill) if rng.random() < 0.9 else None,
            tags=[topic],
        )

    def _topic(self, status: str, has_orders: bool) -> str:
        roll = self.rng.random()
        if status in {"past_due", "unpaid"} and roll < 0.7:
            return "billing"
        if status == "canceled" and roll < 0.5:
            return "cancel"
        if status == "trialing" and roll < 0.6:
            return "trial"
        if status == "lead":
            return "presales"
        if has_orders and roll < 0.75:
            return "order"
        return "login" if roll < 0.9 else "cancel" if status in SUBSCRIBED else "presales"

    # --- web forms --------------------------------------------------------------------------------------------
    def form(self, p: Person, *, weak: bool = False) -> dict[str, Any]:
        """A contact / wholesale / newsletter form submission by `p`."""
        rng = self.rng
        first, last, email, phone = self.look(p, 0.55, shared_p=0.5)
        if weak:  # a work address seen nowhere else and no phone: only name + postcode/company link it
            email = f"{_slug(p.first)[:1]}.{_slug(p.last)}.{p.person_id[1:]}@{_slug(p.company or 'work')}.example"
            phone = None
            first, last = (typo(p.first, rng), p.last) if rng.random() < 0.5 else (p.first, p.last)
        style = rng.randrange(10)
        name = (
            f"{first} {last}",
            f"{first} {last}",
            f"{first} {last}",
            f"{first} {last}".lower(),
            f"{first} {last}".upper(),
            f"{last}, {first}",
            f" {first}  {last} ",
            f"{first} {last}",
            first if not weak else f"{first} {last}",
            f"{first} {last}",
        )[style]
        kind = "wholesale" if p.company and rng.random() < 0.6 else ("newsletter" if rng.random() < 0.2 else "contact")
        self.form_id += 1
        submitted = rng.randint(max(p.signup - 30 * DAY, REF - 3 * YEAR), REF - HOUR)
        campaign = CAMPAIGNS[rng.randrange(len(CAMPAIGNS))]
        source = UTM_SOURCES[rng.randrange(len(UTM_SOURCES))] if campaign else ""
        page = {"contact": "pages/contact", "wholesale": "pages/wholesale", "newsletter": ""}[kind]
        url = f"https://brightleaf.example/{page}" + (
            f"?utm_source={source}&utm_campaign={campaign}" if campaign else ""
        )
        message = {
            "contact": "Do you ship to {c}? Interested in the Brightleaf Club.",
            "wholesale": "We'd like wholesale pricing for our {b}.",
            "newsletter": "",
        }[kind].format(c=p.place.city, b=(p.company or "shop"))
        return {
            "submission_id": f"wf-{self.form_id:07d}",
            "form": kind,
            "name": name,
            "email": email or "",
            "phone": phone or "",
            "company": p.company or (self._placeholder() if rng.random() < 0.1 else ""),
            "postcode": p.postcode if weak or rng.random() < 0.75 else "",
            "country": self._country_word(p) if rng.random() < 0.8 else "",
            "message": message,
            "utm_source": source,
            "utm_campaign": campaign,
            "page_url": url,
            "submitted": form_time(submitted),
        }

    # --- VIP spreadsheet ------------------------------------------------------------------------------------------
    def vip(self, p: Person, lifetime_cents: int) -> dict[str, Any]:
        """A row of the hand-kept VIP sheet: inconsistent case, placeholders, free-form phones."""
        rng = self.rng
        self.vip_no += 1
        name_style = rng.randrange(10)
        name = (
            (
                p.full_name.upper(),
                p.full_name.upper(),
                p.full_name.upper(),
                p.full_name.lower(),
                p.full_name.lower(),
                f"{p.last}, {p.first}",
            )[name_style]
            if name_style < 6
            else p.full_name
        )
        roll = rng.random()
        email = p.email
        if roll < 0.25:
            email = f" {p.email.upper()} " if rng.random() < 0.5 else p.email.title()
        elif roll < 0.29:
            email = "N/A"
        elif roll < 0.33:
            email = ""
        elif roll < 0.36:
            email = invalid_email(p.email, rng)
        roll = rng.random()
        if roll < 0.05:
            phone = "-"
        elif roll < 0.15 and p.place.cc == "1":
            phone = phone_text(p, 2) + f" ext {rng.randint(1, 99)}"
        elif roll < 0.25 and p.place.cc != "1":
            phone = national_phone(p)  # no country code: unparseable with default region US
        elif roll < 0.28:
            phone = invalid_phone(rng)
        else:
            phone = phone_text(p, rng.randrange(9))
        postcode = p.postcode
        if p.place.country == "US" and postcode.startswith("0") and rng.random() < 0.5:
            postcode = postcode.lstrip("0")  # the spreadsheet ate the leading zero
        since = rng.randint(p.signup, REF - DAY)
        return {
            "VIP ID": f"VIP-{self.vip_no:04d}",
            "Name": name,
            "Email": email,
            "Phone": phone,
            "Company": p.company or self._placeholder(),
            "Country": self._country_word(p) if rng.random() < 0.85 else "N/A",
            "Postcode": postcode,
            "Tier": ("Gold", "Gold", "Silver", "Platinum")[rng.randrange(4)],
            "Lifetime Spend": spend(lifetime_cents),
            "VIP Since": day(since),
            "Last Updated": day(rng.randint(since, REF - HOUR)),
            "Notes": VIP_NOTES[rng.randrange(len(VIP_NOTES))],
        }


def generate(
    out_dir: Path, *, customers: int, seed: int = 7, progress: ProgressFn | None = None, households: bool = False
) -> GeneratedDataset:
    """Write the demo sources for `customers` people (personas included), ground truth and contextdesk.yaml.

    `households=True` adds the household stress set (STRESS_HOUSEHOLD_RATE): look-alike housemates, twins,
    parents and children of one name; without it the output for a seed is unchanged.
    """
    if customers < len(PERSONAS):
        raise ValueError(f"customers must be at least {len(PERSONAS)} (the hand-crafted personas)")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    writer = DemoWriter(out_dir)
    try:
        personas = write_personas(writer)
        gen = _Generator(writer, random.Random(seed), households=households)
        gen.run(customers - personas, progress)
    finally:
        counts = writer.close()
    if progress is not None:
        progress(customers - personas)
    config_path = out_dir / CONFIG_FILE
    config_path.write_text(CONFIG_YAML, encoding="utf-8")
    return GeneratedDataset(
        out_dir=out_dir,
        config_path=config_path,
        ground_truth_path=out_dir / GROUND_TRUTH_FILE,
        files={name: out_dir / file for name, file in SOURCE_FILES.items()},
        records=counts,
        persons=customers,
        personas=personas,
        seed=seed,
        seconds=round(time.perf_counter() - started, 3),
    )
