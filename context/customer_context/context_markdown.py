"""Compact markdown rendering of a customer context for prompts, within a token budget.

The rendering is a list of blocks with a usefulness rank. When the text is over budget, the least useful
blocks go first — interactions, then resolved tickets, then older orders' line items, then older orders,
then ended subscriptions, conflicts — while the header (who, status and why, gaps), the newest order
and the open tickets stay. A final line says what was dropped, so the model knows it is not seeing
everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any

from context.customer_context.models import CustomerContext, OrderInfo, RecordConflict, RenderedContext, TicketInfo
from context.tokens import count_tokens


def local_date(value: datetime, zone: tzinfo | None) -> datetime:
    """The moment in `zone` (a naive value is UTC, as the store keeps it); unchanged when zone is None."""
    if zone is None:
        return value
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(zone)


def _d(value: datetime | None, zone: tzinfo | None = None) -> str:
    # The calendar date where the business is: 02:00 UTC on Nov 9 is still Nov 8 in New York.
    return local_date(value, zone).strftime("%Y-%m-%d") if value else "?"


PASSED = " (PASSED: not upcoming; the data may be stale)"


def _was(passed: bool) -> str:
    # A date the record still presents as upcoming but that is already behind us must not read as future.
    return PASSED if passed else ""


def _money(amount: Decimal | None, currency: str | None) -> str:
    if amount is None:
        return "?"
    return f"{amount:.2f} {currency or ''}".strip()


@dataclass
class _Block:
    keep: int  # higher = more useful; 100 = never dropped
    group: str  # what the dropped-line says ("older orders")
    text: str


def _order_text(o: OrderInfo, *, with_items: bool, zone: tzinfo | None = None) -> str:
    line = f"- Order {o.number or '?'} ({o.source}) placed {_d(o.placed_at, zone)}, total {_money(o.total, o.currency)}"
    line += f", {o.fulfillment_status or 'fulfillment unknown'}"
    if o.financial_status:
        line += f", payment {o.financial_status}"
    if o.tracking_numbers:
        line += f", tracking {', '.join(o.tracking_numbers)}" + (f" ({o.carrier})" if o.carrier else "")
    elif o.carrier:
        line += f", carrier {o.carrier}"
    if o.shipping_address:
        line += f", ships to {o.shipping_address}"
    if o.live:
        line += f" (status checked live with {o.source} just now)"
    line += _conflict_text(o.conflicts)
    if with_items and o.items:
        line += "\n  items: " + "; ".join(
            f"{i.quantity}× {i.name or i.sku or '?'}" + (f" @ {i.unit_price:.2f}" if i.unit_price is not None else "")
            for i in o.items
        )
    return line


def _conflict_text(conflicts: list[RecordConflict]) -> str:
    """Records that disagree, spelled out so the model says so instead of picking one."""
    if not conflicts:
        return ""
    parts = [f"{c.field}: " + " vs ".join(f"{v.source} {v.record} says {v.value}" for v in c.values) for c in conflicts]
    return "\n  RECORDS DISAGREE: " + "; ".join(parts)


def _ticket_text(t: TicketInfo, zone: tzinfo | None = None) -> str:
    line = f'- Ticket {t.ref} ({t.source}, {t.channel or "?"}): "{t.subject or ""}" — {t.status}'
    if t.priority:
        line += f", priority {t.priority}"
    line += f", opened {_d(t.opened_at, zone)}, updated {_d(t.updated_at, zone)}"
    if t.resolved_at:
        line += f", resolved {_d(t.resolved_at, zone)}"
    if t.last_public_message:
        msg = " ".join(t.last_public_message.split())
        line += f"\n  last message: {msg[:300]}"
    return line


def _as_of(meta: Any) -> str:
    parts = []
    if meta.sources:
        parts.append(", ".join(meta.sources))
    if meta.as_of:
        parts.append(f"as of {meta.as_of:%Y-%m-%d %H:%M} UTC")
    return f" _({'; '.join(parts)})_" if parts else ""


def _blocks(ctx: CustomerContext, zone: tzinfo | None) -> list[_Block]:
    idn, st = ctx.identity, ctx.status
    head = [f"## Customer {ctx.customer_id}: {idn.name or 'name unknown'}"]
    contact = [x for x in (idn.email, idn.phone) if x]
    if contact:
        head.append("Contact: " + " · ".join(contact))
    place = ", ".join(x for x in (idn.address, idn.city, idn.region, idn.postcode, idn.country) if x)
    if place:
        head.append(f"Location: {place}")
    if idn.company:
        head.append(f"Company: {idn.company}")
    stale = " — its date has PASSED: the data may be stale" if st.passed else ""
    head.append(f"**Status: {st.status}** — {st.cause}{stale}{_as_of(st.meta)}")
    facts = []
    if st.plan:
        facts.append(f"plan {st.plan}")
    if st.renewal_at:
        facts.append(f"renews {_d(st.renewal_at, zone)}{_was('renewal_at' in st.passed)}")
    if st.ends_at:
        facts.append(f"ends {_d(st.ends_at, zone)}{_was('ends_at' in st.passed)}")
    facts.append(f"{st.order_count} orders")
    if st.lifetime_value is not None:
        facts.append(f"lifetime value {_money(st.lifetime_value, st.currency)}")
    facts.append(f"{st.open_ticket_count} open tickets")
    head.append("Account: " + ", ".join(facts))
    crm = ctx.crm
    crm_bits = [
        f"{k} {v}" for k, v in (("owner", crm.owner), ("lifecycle", crm.lifecycle_stage), ("deal", crm.deal_stage)) if v
    ]
    if crm_bits:
        head.append("CRM: " + ", ".join(crm_bits) + _as_of(crm.meta))
    if crm.notes:
        head.append(f"Internal notes: {crm.notes}")
    if ctx.gaps:
        head.append("Unknown / stale: " + "; ".join(ctx.gaps))
    if ctx.withheld:
        head.append("Withheld by privacy policy: " + ", ".join(ctx.withheld))
    blocks = [_Block(100, "", "\n".join(head))]

    if ctx.tickets.open:
        blocks.append(_Block(100, "", "### Open tickets" + _as_of(ctx.tickets.meta)))
        blocks += [_Block(95, "open tickets", _ticket_text(t, zone)) for t in ctx.tickets.open]
    orders = ctx.orders.recent
    if orders:
        more = f" — {ctx.orders.total_count} in total" if ctx.orders.total_count > len(orders) else ""
        # A source without order dates gives no order in time: say so instead of claiming "newest first".
        undated = sum(1 for o in orders if o.placed_at is None)
        order_note = "newest first" if not undated else f"{undated} without a date, so their order in time is unknown"
        blocks.append(_Block(100, "", f"### Recent orders ({order_note}{more}){_as_of(ctx.orders.meta)}"))
        for i, o in enumerate(orders):
            if i == 0:
                blocks.append(_Block(100, "", _order_text(o, with_items=True, zone=zone)))
                continue
            # Older orders first lose their items, then go entirely; the oldest goes first.
            keep = 60 - i
            blocks.append(_Block(keep, "older orders", _order_text(o, with_items=False, zone=zone)))
            if o.items:
                items = _order_text(o, with_items=True, zone=zone).split("\n", 1)[1]
                blocks.append(_Block(keep - 20, "line items of older orders", items))
    subs = ctx.subscriptions.items
    if subs:
        blocks.append(_Block(90, "", "### Subscriptions" + _as_of(ctx.subscriptions.meta)))
        for i, s in enumerate(subs):
            text = (
                f"- {s.ref} ({s.source}): {s.plan or '?'} {s.interval or ''}, {s.status}; "
                f"started {_d(s.started_at, zone)}"
                + (f", trial ends {_d(s.trial_end, zone)}{_was('trial_end' in s.passed)}" if s.trial_end else "")
                + (
                    f", period ends {_d(s.current_period_end, zone)}{_was('current_period_end' in s.passed)}"
                    if s.current_period_end
                    else ""
                )
                + (f", cancels {_d(s.cancel_at, zone)}{_was('cancel_at' in s.passed)}" if s.cancel_at else "")
                + (f", canceled {_d(s.canceled_at, zone)}" if s.canceled_at else "")
                + _conflict_text(s.conflicts)
            )
            blocks.append(
                _Block(90, "current subscription", text) if i == 0 else _Block(30, "other subscriptions", text)
            )
    if ctx.tickets.recent_resolved:
        blocks.append(_Block(20, "resolved tickets", "### Recently resolved tickets"))
        blocks += [
            _Block(20 - i, "resolved tickets", _ticket_text(t, zone)) for i, t in enumerate(ctx.tickets.recent_resolved)
        ]
    if ctx.conflicts:
        lines = [f"- {c.field}: using {c.chosen!r}; sources say {', '.join(c.values)}" for c in ctx.conflicts]
        blocks.append(_Block(25, "data conflicts", "### Sources disagree\n" + "\n".join(lines)))
    if ctx.interactions.recent:
        blocks.append(_Block(10, "interactions", "### Recent interactions"))
        for i, it in enumerate(ctx.interactions.recent):
            text = f"- {_d(it.occurred_at, zone)} {it.kind or 'interaction'} ({it.source})"
            if it.campaign:
                text += f", campaign {it.campaign}"
            if it.message:
                text += f": {' '.join(it.message.split())[:200]}"
            blocks.append(_Block(9 - i, "interactions", text))
    return blocks


def render_context(ctx: CustomerContext, *, max_tokens: int = 800, timezone: tzinfo | None = None) -> RenderedContext:
    """Markdown for a prompt, at most `max_tokens` tokens (cl100k_base), least useful detail dropped first.

    Dates are calendar dates in `timezone` (the business's, so the model tells customers the date they
    know); None keeps them as stored (UTC).

    The essentials (header, newest order, open tickets, current subscription) are never dropped, so a
    budget smaller than they need yields `tokens > max_tokens`; callers can check that.
    """
    blocks = _blocks(ctx, timezone)
    costs = [count_tokens(b.text) + 1 for b in blocks]
    alive = [True] * len(blocks)
    dropped: dict[str, int] = {}

    def text() -> str:
        body = "\n".join(b.text for b, a in zip(blocks, alive, strict=True) if a)
        if dropped:
            body += "\n_Left out to fit: " + ", ".join(f"{n} {g}" for g, n in dropped.items()) + "_"
        return body

    # Drop by usefulness (lowest keep first, later blocks first on ties) using per-block costs, then verify.
    order = sorted((i for i, b in enumerate(blocks) if b.keep < 100), key=lambda i: (blocks[i].keep, -i))
    total = sum(costs)
    reserve = 30  # room for the "left out" line
    for i in order:
        if total + (reserve if dropped else 0) <= max_tokens:
            break
        alive[i] = False
        total -= costs[i]
        group = blocks[i].group
        # Section headings go silently with their last entry; entries are counted.
        if not blocks[i].text.startswith("###"):
            dropped[group] = dropped.get(group, 0) + 1
    out = text()
    tokens = count_tokens(out)
    for i in order:
        if tokens <= max_tokens:
            break
        if alive[i]:
            alive[i] = False
            if not blocks[i].text.startswith("###"):
                dropped[blocks[i].group] = dropped.get(blocks[i].group, 0) + 1
            out = text()
            tokens = count_tokens(out)
    return RenderedContext(
        text=out, tokens=tokens, max_tokens=max_tokens, dropped=[f"{n} {g}" for g, n in dropped.items()]
    )
