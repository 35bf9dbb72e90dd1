"""Why records are one customer: the evidence tree of a customer, the waterfall of a pair, snapshots."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from context.canonical.models import CustomerRecord, Identifier
from context.identity.actions import (
    _representative,
)
from context.identity.graph import (
    hub_values,
)
from context.identity.models import (
    CustomerAlias,
    DoNotLink,
    IdentityEdge,
)
from context.identity.resolution import (
    HOLDER_CAP,
    _canonical,
    _hidden,
    _load_prepared,
    _pair,
    _require_keys,
    load_model,
)
from context.identity.rules import IdentityRules
from context.identity.scoring import PairScore, score_pair
from context.identity.sql import _chunks, record_key

# ------------------------------------------------------------------------------------------ explain


@dataclass
class CustomerExplanation:
    """Why each record is in a customer: its records and the edges among them."""

    customer_id: str
    aliases: list[str]
    records: dict[str, dict[str, Any]]
    edges: list[IdentityEdge]
    root: str


@dataclass
class PairExplanation:
    """The per-field contributions for a pair, and the deterministic facts about it."""

    a: str
    b: str
    score: PairScore
    shared: list[tuple[str, str, str]]  # kind, value, status (links | blocklisted | hub)
    do_not_link: bool
    customer_a: str | None
    customer_b: str | None
    model_origin: str


def explain_customer(*, engine: Engine, rules: IdentityRules, customer_id: str) -> CustomerExplanation:
    """The records of a customer and the edges that put them there."""
    with Session(engine) as session:
        cid = _canonical(session, customer_id)
        recs = session.exec(select(CustomerRecord).where(CustomerRecord.customer_id == cid)).all()
        records = {
            record_key(r.source, r.source_record_id): {
                "name": r.full_name or " ".join(x for x in (r.first_name, r.last_name) if x) or None,
                "email": r.email,
                "phone": r.phone,
                "company": r.company,
                "postcode": r.postcode,
                "source_updated_at": r.source_updated_at,
            }
            for r in recs
        }
        keys = set(records)
        edges = []
        for batch20 in _chunks(sorted(keys)):
            edges += [
                e
                for e in session.exec(select(IdentityEdge).where(col(IdentityEdge.record_a).in_(batch20))).all()
                if e.record_b in keys
            ]
        aliases = sorted(session.exec(select(CustomerAlias.alias_id).where(CustomerAlias.customer_id == cid)))
        prepared = _load_prepared(session, [r.id for r in recs if r.id is not None], rules)
        root = _representative(prepared).key if prepared else ""
        for e in edges:
            session.expunge(e)
        return CustomerExplanation(cid, aliases, records, edges, root)


def explain_pair(*, engine: Engine, rules: IdentityRules, a: str, b: str) -> PairExplanation:
    """Score two records field by field with the current model."""
    with Session(engine) as session:
        ids = _require_keys(session, [a, b])
        prepared = _load_prepared(session, ids.values(), rules)
        pa, pb = prepared[ids[a]], prepared[ids[b]]
        model = load_model(engine=engine, rules=rules)
        score = score_pair(rules, model, _hidden(pa, rules), _hidden(pb, rules))
        hub_pool = list(prepared.values())
        shared = []
        for kind, values in pa.identifiers.items():
            for v in sorted(set(values) & set(pb.identifiers.get(kind, []))):
                holder_ids = session.exec(
                    select(Identifier.record_id).where(Identifier.kind == kind, Identifier.value == v)
                ).all()
                hub_pool += list(_load_prepared(session, list(holder_ids)[:HOLDER_CAP], rules).values())
                rule = rules.identifier(kind)
                status = "links"
                if rule is not None and rule.is_blocked(v):
                    status = "blocklisted"
                elif (kind, v) in hub_values(hub_pool, rules) or len(holder_ids) > HOLDER_CAP:
                    status = "hub (shared by too many different names)"
                shared.append((kind, v, status))
        x, y = _pair(a, b)
        dnl = (
            session.exec(select(DoNotLink).where(DoNotLink.record_a == x, DoNotLink.record_b == y)).first() is not None
        )
        cust = dict(
            session.exec(
                select(CustomerRecord.id, CustomerRecord.customer_id).where(
                    col(CustomerRecord.id).in_(list(ids.values()))
                )
            ).all()
        )
        return PairExplanation(a, b, score, shared, dnl, cust.get(ids[a]), cust.get(ids[b]), model.origin)


def customers_snapshot(*, engine: Engine) -> dict[str, frozenset[str]]:
    """Customer id -> its record keys (for tests, benchmarks and audits)."""
    out: dict[str, set[str]] = defaultdict(set)
    with Session(engine) as session:
        for source, rid, cid in session.exec(
            select(CustomerRecord.source, CustomerRecord.source_record_id, CustomerRecord.customer_id)
        ).all():
            if cid:
                out[cid].add(record_key(source, rid))
    return {k: frozenset(v) for k, v in out.items()}
