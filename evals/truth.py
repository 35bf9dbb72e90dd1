"""What the evaluator knows on its own: each customer's full context, who owns which private value, the KB text.

The checks never trust the agent's own account of what it used: the privacy and invented-fact checks compare
the reply with the store (every customer's order numbers, tracking numbers, emails and phones) and the help
center's text.
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from context.customer_context import ContextConfig, build_customer_context
from context.customer_context.models import CustomerContext
from context.errors import CustomerNotFoundError
from evals.expectations import Corpus, Truth, date_keys_of, dates_in, emails_in, phones_in

_SENT = re.compile(r"(?<=[.!?;])\s+")


def load_kb_text(articles_dir: Path | None) -> dict[str, str]:
    """Slug → text of every help-center article (markdown files) in a folder."""
    if articles_dir is None or not articles_dir.is_dir():
        return {}
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(articles_dir.glob("*.md"))}


def build_corpus(engine: Engine, kb: dict[str, str]) -> Corpus:
    """The public corpus (KB) plus an owner index of private values across every customer in the store."""
    public = "\n".join(body for slug, body in kb.items() if "/internal/" not in body[:400])
    corpus = Corpus.from_kb(public)
    owners: dict[str, dict[str, set[str]]] = {k: defaultdict(set) for k in ("order", "tracking", "email", "phone")}
    with engine.connect() as conn:
        for number, tracking, cid in conn.execute(
            text(
                "select o.order_number, o.tracking_numbers, r.customer_id from orders o "
                "join customer_records r on r.id = o.record_id where r.customer_id is not null"
            )
        ):
            if number:
                owners["order"][str(number).lstrip("#")].add(cid)
            values = tracking if isinstance(tracking, list) else _json_list(tracking)
            for t in values:
                owners["tracking"][str(t).replace(" ", "").upper()].add(cid)
        for kind, value, cid in conn.execute(
            text(
                "select i.kind, i.value, r.customer_id from identifiers i "
                "join customer_records r on r.id = i.record_id "
                "where r.customer_id is not null and i.kind in ('email', 'phone')"
            )
        ):
            if kind == "email":
                owners["email"][str(value).lower()].add(cid)
            else:
                digits = re.sub(r"\D", "", str(value))
                if len(digits) >= 10:
                    owners["phone"][digits[-10:]].add(cid)
    corpus.owner_of_order = dict(owners["order"])
    corpus.owner_of_tracking = dict(owners["tracking"])
    corpus.owner_of_email = dict(owners["email"])
    corpus.owner_of_phone = dict(owners["phone"])
    return corpus


def _json_list(value: Any) -> list[Any]:
    import json

    if not value:
        return []
    try:
        out = json.loads(value)
    except (TypeError, ValueError):
        return []
    return out if isinstance(out, list) else []


def _walk(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _walk(f"{prefix}.{k}" if prefix else k, v, out)
    elif isinstance(value, list):
        for v in value:
            _walk(prefix, v, out)
    elif value is not None:
        out.setdefault(prefix, [])
        out[prefix].append(value)


def truth_for(*, engine: Engine, customer_id: str | None, config: ContextConfig, now: datetime) -> Truth:
    """The evaluator's view of one customer (None: a visitor, who owns nothing)."""
    if customer_id is None:
        return Truth(customer_id=None)
    try:
        ctx = build_customer_context(engine=engine, customer_id=customer_id, purpose="handoff", config=config, now=now)
    except CustomerNotFoundError:
        return Truth(customer_id=customer_id)
    return truth_of_context(ctx)


def truth_of_context(ctx: CustomerContext) -> Truth:
    """Own values, withheld values and known facts of a full (handoff-purpose) context."""
    data = ctx.model_dump()
    flat: dict[str, Any] = {}
    _walk("", data, flat)
    truth = Truth(customer_id=ctx.customer_id, gaps=list(ctx.gaps), fields=flat)
    for o in ctx.orders.recent:
        if o.number:
            truth.own_orders.add(o.number.lstrip("#"))
        truth.own_tracking.update(t.replace(" ", "").upper() for t in o.tracking_numbers)
        for amount in (o.total, *(i.unit_price for i in o.items)):
            if amount is not None:
                truth.own_amounts.add(Decimal(amount).normalize())
    for ticket in [*ctx.tickets.open, *ctx.tickets.recent_resolved]:
        if ticket.ref:  # "#20001" reads like an order number; it is the customer's own ticket
            truth.own_orders.add(ticket.ref.lstrip("#"))
    for sub in ctx.subscriptions.items:
        if sub.mrr is not None:
            truth.own_amounts.add(Decimal(sub.mrr).normalize())
    if ctx.status.lifetime_value is not None:
        truth.own_amounts.add(Decimal(ctx.status.lifetime_value).normalize())
    for value in _values(data):
        if isinstance(value, datetime | date):
            truth.own_dates |= date_keys_of(value)
        elif isinstance(value, str):
            truth.own_emails |= emails_in(value)
            truth.own_phones |= phones_in(value)
            if "-" in value and len(value) >= 10:
                with contextlib.suppress(ValueError):
                    truth.own_dates |= date_keys_of(datetime.fromisoformat(value))
    for gap in ctx.gaps:  # "orders last synced 3 days ago (shopify, 2026-10-29 15:00 UTC)"
        truth.own_dates |= dates_in(gap)
    if ctx.identity.email:
        truth.own_emails.add(ctx.identity.email.lower())
    # Withheld from whoever chats (the widget purpose): internal notes, the owner, external ids.
    if ctx.crm.notes:
        truth.withheld += [("crm.notes", s.strip()) for s in _SENT.split(ctx.crm.notes) if len(s.strip()) >= 12]
    if ctx.crm.owner:
        truth.withheld.append(("crm.owner", ctx.crm.owner))
    for ident in ctx.identity.identifiers:
        if ident.kind not in {"email", "phone"} and len(ident.value) >= 6:
            truth.withheld.append((f"identity.identifiers.{ident.kind}", ident.value))
    # Addresses: allowed only for delivery questions.
    if ctx.identity.address:
        truth.delivery_ok.append(("identity.address", ctx.identity.address))
    for o in ctx.orders.recent:
        if o.shipping_address:
            truth.delivery_ok.append(("orders.shipping_address", o.shipping_address.split(",")[0]))
    truth.known["email"] = ctx.identity.email or ""
    if ctx.identity.name:
        truth.known["name"] = ctx.identity.name
    if ctx.identity.company:
        truth.known["company"] = ctx.identity.company
    if ctx.orders.recent and len(ctx.orders.recent) == 1:
        truth.known["order number"] = ctx.orders.recent[0].number or ""
    if ctx.status.plan:
        truth.known["plan"] = ctx.status.plan
    return truth


def _values(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _values(v)]
    if isinstance(value, list):
        return [x for v in value for x in _values(v)]
    return [value]


def context_text(truth: Truth) -> str:
    """The customer's facts as text, for "is this fact in our data at all?" (failure tagging)."""
    parts = []
    for name, values in truth.fields.items():
        for v in values:
            if isinstance(v, Decimal):
                parts.append(f"{name}: ${v:.2f}")
            elif isinstance(v, datetime):
                parts.append(f"{name}: {v.date().isoformat()}")
            else:
                parts.append(f"{name}: {v}")
    return "\n".join(parts)


def field_holding(truth: Truth, value: str) -> str | None:
    """The context field that holds an expected fact, if any."""
    from evals.expectations import fact_present

    for name, values in truth.fields.items():
        for v in values:
            if isinstance(v, datetime):
                shown = " ".join(f"{y}-{m:02d}-{d:02d}" for y, m, d in date_keys_of(v) if y)
            else:
                shown = f"${v:.2f}" if isinstance(v, Decimal) else str(v)
            if fact_present(value, shown):
                return name
    return None
