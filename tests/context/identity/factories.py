"""Small factories: canonical customer records and identifiers inserted directly (until intake's sync lands)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from context.canonical.models import CustomerRecord, Identifier
from tests.clock import tick

BASE = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class Person:
    """One source record of a person, as a test describes it."""

    source: str
    record_id: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    postcode: str | None = None
    city: str | None = None
    external: dict[str, str] = field(default_factory=dict)  # identifier kind -> value
    updated_days: int = 0

    @property
    def key(self) -> str:
        return f"{self.source}:{self.record_id}"


def add_records(engine: Engine, people: list[Person]) -> None:
    """Insert (or update) canonical rows the way intake would: record + identifiers, synced_at = now."""
    with Session(engine) as session:
        for p in people:
            existing = session.exec(
                select(CustomerRecord).where(
                    CustomerRecord.source == p.source, CustomerRecord.source_record_id == p.record_id
                )
            ).first()
            rec = existing or CustomerRecord(source=p.source, source_record_id=p.record_id)
            rec.first_name, rec.last_name = p.first_name, p.last_name
            rec.full_name = " ".join(x for x in (p.first_name, p.last_name) if x) or None
            rec.email, rec.phone, rec.company, rec.postcode, rec.city = p.email, p.phone, p.company, p.postcode, p.city
            rec.source_updated_at = BASE + timedelta(days=p.updated_days)
            rec.synced_at = tick()
            session.add(rec)
            session.flush()
            assert rec.id is not None
            session.exec(delete(Identifier).where(col(Identifier.record_id) == rec.id))
            idents: dict[str, str] = dict(p.external)
            if p.email:
                idents["email"] = p.email
            if p.phone:
                idents["phone"] = p.phone
            for kind, value in idents.items():
                session.add(
                    Identifier(source=p.source, source_record_id=p.record_id, record_id=rec.id, kind=kind, value=value)
                )
        session.commit()


FIRST = ["james", "mary", "wei", "amara", "olga", "diego", "priya", "tom", "fatima", "lars", "chidi", "yuki"]
LAST = ["smith", "okonkwo", "nguyen", "garcia", "kowalski", "haddad", "lindqvist", "tanaka", "brown", "osei"]


def synthetic_people(n_people: int, *, seed: int) -> tuple[list[Person], dict[str, int]]:
    """Records of `n_people` people across sources with typos and missing fields; returns (records, truth)."""
    rng = random.Random(seed)
    people: list[Person] = []
    truth: dict[str, int] = {}
    for i in range(n_people):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first}.{last}{i}@mail.test"
        phone = f"+1415{i:07d}"
        postcode = f"{10000 + rng.randrange(400)}"
        company = rng.choice(["Acme", "Globex", "Initech", "Umbrella", None])
        crm = Person("crm", f"c{i}", first.title(), last.title(), email, phone, company, postcode, updated_days=i % 50)
        records = [crm]
        if rng.random() < 0.6:
            records.append(
                Person(
                    "shop",
                    f"s{i}",
                    first.title(),
                    last.title(),
                    email.upper(),
                    None,
                    None,
                    postcode,
                    external={"shopify_customer": f"shopify:{i}"},
                    updated_days=(i * 7) % 50,
                )
            )
        if rng.random() < 0.4:  # no shared identifier: only the probabilistic layer can find it
            typo = first[:-1] + first[-1] * 2
            records.append(
                Person(
                    "vip", f"v{i}", typo.title(), last.title(), None, None, company, postcode, updated_days=(i * 3) % 50
                )
            )
        for r in records:
            truth[r.key] = i
        people.extend(records)
    return people, truth


def as_dicts(people: list[Person]) -> list[dict[str, Any]]:
    """People as plain attribute dicts (for the layer-1 library)."""
    out = []
    for p in people:
        attrs: dict[str, Any] = {
            "first_name": p.first_name,
            "last_name": p.last_name,
            "email": p.email,
            "phone": p.phone,
            "company": p.company,
            "postcode": p.postcode,
            "city": p.city,
            **p.external,
        }
        out.append(attrs)
    return out
