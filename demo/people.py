"""A demo person (the ground truth) and the ways sources mis-write them: the "mess" toolkit."""

from __future__ import annotations

import random
from dataclasses import dataclass

from demo.reference import NAME_TYPOS, Place


@dataclass(slots=True)
class Person:
    """One real person of the demo business, as the ground truth knows them."""

    person_id: str
    first: str
    last: str
    email: str  # personal address, lower-case
    phone: str  # E.164
    place: Place
    postcode: str
    street: str
    status: str  # active | trialing | past_due | canceled | unpaid | customer | lead
    signup: int  # epoch seconds
    alt_email: str | None = None  # a second address only some records show (work or old address)
    company: str | None = None
    company_domain: str | None = None
    job_title: str | None = None
    shared_email: str | None = None  # info@<company domain>, shared with colleagues
    shopify_id: int | None = None
    stripe_id: str | None = None
    zendesk_id: int | None = None
    clean: bool = False  # never mis-written anywhere

    @property
    def full_name(self) -> str:
        """First and last name."""
        return f"{self.first} {self.last}"

    @property
    def address1(self) -> str:
        """The street line of the postal address."""
        return self.street


def split_phone(person: Person) -> tuple[str, str, str]:
    """(country code, area code, subscriber digits) of the person's E.164 phone."""
    cc, ndc = person.place.cc, person.place.ndc
    return cc, ndc, person.phone[1 + len(cc) + len(ndc) :]


def _grouped(sub: str, groups: tuple[int, ...], sep: str = " ") -> str:
    parts, i = [], 0
    for size in groups:
        parts.append(sub[i : i + size])
        i += size
    return sep.join(parts)


def phone_text(person: Person, style: int) -> str:
    """The person's phone written one of several human ways; every style parses to the same E.164.

    National styles are only used for US/Canada numbers, which parse with the sources' default region US.
    """
    cc, ndc, sub = split_phone(person)
    if cc == "1":
        a, b, c = ndc, sub[:3], sub[3:]
        return (
            f"({a}) {b}-{c}",
            f"{a}-{b}-{c}",
            f"{a}.{b}.{c}",
            f"+1 {a}-{b}-{c}",
            f"+1{a}{b}{c}",
            f"1-{a}-{b}-{c}",
            f"{a}{b}{c}",
            f"{a} {b} {c}",
            f"+1 ({a}) {b}-{c}",
        )[style % 9]
    spaced = _grouped(sub, person.place.groups)
    return (
        f"+{cc} {ndc} {spaced}",
        f"+{cc}{ndc}{sub}",
        f"+{cc} (0){ndc} {spaced}",
        f"+{cc}-{ndc}-{sub}",
    )[style % 4]


def national_phone(person: Person) -> str:
    """The phone as written inside its own country (trunk 0 outside North America)."""
    cc, ndc, sub = split_phone(person)
    if cc == "1":
        return f"({ndc}) {sub[:3]}-{sub[3:]}"
    return f"0{ndc} {_grouped(sub, person.place.groups)}"


INVALID_PHONES = ("555-0199", "12345", "000-000-0000", "call me", "+1 (000) 000-0000", "99", "0")


def invalid_phone(rng: random.Random) -> str:
    """A phone value that no parser accepts as a valid number."""
    return INVALID_PHONES[rng.randrange(len(INVALID_PHONES))]


def invalid_email(email: str, rng: random.Random) -> str:
    """A broken variant of `email` that fails syntax checks (typo'd at-sign, missing dot, space...)."""
    local, _, domain = email.partition("@")
    style = rng.randrange(5)
    if style == 0:
        return f"{local}@{domain.rsplit('.', 1)[0]}"  # jane@example (no TLD)
    if style == 1:
        return f"{local}{domain}"  # at-sign lost
    if style == 2:
        return f"{local}@@{domain}"
    if style == 3:
        return f"{local.replace('.', ' ', 1) if '.' in local else local + ' x'}@{domain}"
    return f"{local}@{domain.replace('.', '..', 1)}"


def email_variant(email: str, rng: random.Random) -> str:
    """The same address written differently: case and spacing that normalization undoes."""
    style = rng.randrange(4)
    if style == 0:
        local, _, domain = email.partition("@")
        return f"{local.title()}@{domain.title()}"
    if style == 1:
        return email.upper()
    if style == 2:
        return f" {email} "
    return f"{email}\t".replace("\t", "  ")


def name_variant(name: str, rng: random.Random) -> str:
    """The name typed differently: ALL CAPS, lower case, stray spaces, or a common misspelling."""
    style = rng.randrange(5)
    if style == 0:
        return name.upper()
    if style == 1:
        return name.lower()
    if style == 2:
        return f" {name}  "
    if style == 3 and name in NAME_TYPOS:
        return NAME_TYPOS[name]
    if len(name) > 4:  # a dropped or doubled letter
        i = rng.randrange(1, len(name) - 1)
        return name[:i] + name[i + 1 :] if rng.random() < 0.5 else name[:i] + name[i] + name[i:]
    return name


def typo(name: str, rng: random.Random) -> str:
    """A misspelling: a known alternative spelling if there is one, else a dropped letter."""
    if name in NAME_TYPOS:
        return NAME_TYPOS[name]
    if len(name) > 4:
        i = rng.randrange(1, len(name) - 1)
        return name[:i] + name[i + 1 :]
    return name
