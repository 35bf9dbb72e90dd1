"""The grounded responder: answers without a language model, from the customer context and the best passage.

Used when no LLM is configured, when the LLM fails, and when an LLM reply fails the grounding check. It
detects the common intents (agent/intents.py), states only facts it read from the context or a passage,
cites the passage, says plainly that it is an automated assistant, and reports `answered=False` when it has
nothing grounded to say (the service then escalates with `no_answer`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

from agent.intents import SMALL_TALK_INTENTS
from agent.llm.base import AgentAnswer
from agent.turn import Passage, TurnInput
from context.customer_context.models import CustomerContext, OrderInfo, RecordConflict, SubscriptionInfo
from knowledge.retrieval import STOPWORDS

NAME = "grounded"
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[a-z0-9]+")
# Intents whose answer needs the person's account; a visitor is asked to sign in for those.
_PRIVATE = {"order_status", "billing", "plan_renewal", "cancellation", "ticket_status"}


@dataclass
class GroundedReply:
    """A grounded answer and whether it actually answered the question."""

    answer: AgentAnswer
    answered: bool
    # Set when the records the answer needs disagree: what disagrees, for the person who takes over.
    conflict: str | None = None


def _d(value: datetime | None, zone: tzinfo) -> str:
    # The customer's calendar date is the business's (a trial ending 01:00 UTC on the 9th ends on the 8th in
    # New York); a naive value is UTC, as the store keeps it.
    if value is None:
        return "an unknown date"
    local = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(zone)
    return local.strftime("%B %d, %Y").replace(" 0", " ")


def _money(amount: Decimal | None, currency: str | None) -> str:
    if amount is None:
        return "an unknown amount"
    symbol = {"USD": "$", "GBP": "£", "EUR": "€"}.get((currency or "").upper())
    return f"{symbol}{amount:.2f}" if symbol else f"{amount:.2f} {currency or ''}".strip()


def disclosure(verified_with_context: bool) -> str:
    """The line that says what is answering."""
    source = "your account records and our help center" if verified_with_context else "our public help center"
    return f"(I'm an automated assistant answering from {source}.)"


def best_sentences(passage: Passage, query: str, *, limit: int = 2, max_chars: int = 360) -> str:
    """The passage's sentences that share the most words with the question, in their original order."""
    terms = {w for w in _WORD.findall(query.lower()) if w not in STOPWORDS}
    sentences = [s.strip() for s in _SENTENCE.split(" ".join(passage.text.split())) if len(s.strip()) > 20]
    if not sentences:
        return passage.text[:max_chars]
    scored = sorted(
        range(len(sentences)),
        key=lambda i: (-len(terms & set(_WORD.findall(sentences[i].lower()))), i),
    )[:limit]
    text = " ".join(sentences[i] for i in sorted(scored))
    return text if len(text) <= max_chars else text[: max_chars - 1].rsplit(" ", 1)[0] + "…"


def _usable_passage(turn: TurnInput) -> Passage | None:
    facing = [p for p in turn.passages if p.customer_facing]  # a staff page is never quoted to a customer
    return facing[0] if facing and not turn.low_confidence else None


def _order_status(order: OrderInfo, zone: tzinfo) -> str:
    status = (order.fulfillment_status or "").lower()
    placed = f"placed {_d(order.placed_at, zone)}, total {_money(order.total, order.currency)}"
    head = f"Your order {order.number} ({placed})"
    if status in {"fulfilled", "shipped", "delivered", "in_transit"}:
        if order.tracking_numbers:
            carrier = f" with {order.carrier}" if order.carrier else ""
            return f"{head} has shipped{carrier}; tracking number {', '.join(order.tracking_numbers)}."
        return f"{head} has shipped; I don't see a tracking number for it."
    if status == "partial":
        return f"{head} has partly shipped" + (
            f"; tracking number {', '.join(order.tracking_numbers)}." if order.tracking_numbers else "."
        )
    if status in {"restocked", "cancelled", "canceled"}:
        return f"{head} was cancelled and its items restocked."
    return f"{head} hasn't shipped yet (payment {order.financial_status or 'status unknown'})."


def _pick_order(turn: TurnInput, ctx: CustomerContext) -> tuple[OrderInfo | None, str | None]:
    orders = ctx.orders.recent
    for ref in turn.signals.order_refs:
        match = next((o for o in orders if o.number and o.number.lstrip("#").upper() == ref.lstrip("#").upper()), None)
        if match is not None:
            return match, None
        known = ", ".join(o.number or "?" for o in orders) or "none"
        return None, f"I can't find order {ref} on your account (the orders I can see: {known})."
    return (orders[0] if orders else None), None


def _current_sub(ctx: CustomerContext) -> SubscriptionInfo | None:
    return ctx.subscriptions.items[0] if ctx.subscriptions.items else None


def _gap_note(ctx: CustomerContext, word: str) -> str:
    notes = [g for g in ctx.gaps if word in g]
    return (" Note: " + "; ".join(notes) + ".") if notes else ""


def _past_due(plan: str, due: datetime | None, zone: tzinfo) -> str:
    return (
        f"I'm sorry — the renewal payment for your {plan} failed (it was due {_d(due, zone)}), so "
        "the subscription is past due rather than fully active. Updating your payment method lets billing retry "
        "the payment."
    )


STALE = "so this subscription information may be out of date"


def _passed(ctx: CustomerContext, sub: SubscriptionInfo, *names: str) -> bool:
    """Whether the context marks one of these dates as already passed (a date the record still calls upcoming)."""
    return any(n in sub.passed or n in ctx.status.passed for n in names)


_FIELD_WORDS = {
    "fulfillment_status": "fulfillment status",
    "financial_status": "payment status",
    "tracking_numbers": "tracking number",
    "carrier": "carrier",
    "total": "total",
    "status": "status",
    "plan": "plan",
    "current_period_end": "renewal date",
}


def _conflict_of(turn: TurnInput, ctx: CustomerContext) -> tuple[str, list[RecordConflict], str] | None:
    """The record the intent's answer relies on, when its records disagree: (what it is, conflicts, field)."""
    intent = turn.signals.intent
    if intent in {"order_status", "returns_refunds"}:
        order, problem = _pick_order(turn, ctx)
        if order is not None and problem is None and order.conflicts:
            return f"your order {order.number}", order.conflicts, "orders.conflicts"
    elif intent in {"billing", "plan_renewal", "cancellation"}:
        sub = _current_sub(ctx)
        if sub is not None and sub.conflicts:
            return "your subscription", sub.conflicts, "subscriptions.conflicts"
    return None


def _conflict_reply(what: str, conflicts: list[RecordConflict]) -> tuple[str, str]:
    """The reply (which fields disagree and where, no value picked) and the handoff reason (with the values)."""
    fields = [_FIELD_WORDS.get(c.field, c.field.replace("_", " ")) for c in conflicts]
    listed = fields[0] if len(fields) == 1 else ", ".join(fields[:-1]) + " and " + fields[-1]
    sources = sorted({v.source for c in conflicts for v in c.values})
    count = len({(v.source, v.record) for c in conflicts for v in c.values})
    reply = (
        f"I'm sorry — our records conflict about {what}: {count} records from {', '.join(sources)} give a different "
        f"{listed}, and I can't tell which one is right, so I won't guess. I'm passing this to a colleague who can "
        "check it and get back to you."
    )
    reason = "; ".join(
        f"{c.field}: " + " vs ".join(f"{v.value} ({v.source} {v.record})" for v in c.values) for c in conflicts
    )
    return reply, f"records disagree about {what.removeprefix('your ')}: {reason}"


def _cancel_passed(plan: str, when: str) -> str:
    return (
        f"Your {plan} was set to cancel on {when}. That date has already passed and our records still show it "
        f"as running, {STALE}: it has most likely ended."
    )


def _account_facts(turn: TurnInput, ctx: CustomerContext) -> tuple[list[str], list[str]]:
    """Sentences answering from the account for the message's intent, and the fields they use."""
    intent = turn.signals.intent
    zone = ZoneInfo(turn.timezone)

    def d(value: datetime | None) -> str:
        return _d(value, zone)

    st = ctx.status
    sub = _current_sub(ctx)
    if intent in {"order_status", "returns_refunds"}:
        order, problem = _pick_order(turn, ctx)
        if problem:
            return [problem], ["orders.recent"]
        if order is None:
            return ["I can't see any orders on your account." + _gap_note(ctx, "order")], ["orders.recent"]
        if intent == "order_status":
            # The reply states the number, placed date, total, status and tracking: report all it used.
            return [_order_status(order, zone) + _gap_note(ctx, "order")], [
                "orders.number",
                "orders.placed_at",
                "orders.total",
                "orders.fulfillment_status",
                "orders.tracking_numbers",
                "orders.carrier",
            ]
        return [
            f"Your order {order.number} was placed {d(order.placed_at)} "
            f"(total {_money(order.total, order.currency)}, {order.fulfillment_status or 'not yet fulfilled'})."
        ], ["orders.number", "orders.placed_at", "orders.total"]
    if intent == "ticket_status":
        tickets = ctx.tickets.open
        if not tickets:
            return ["I don't see any open support tickets on your account."], ["tickets.open"]
        lines = [
            f'Your ticket #{t.ref} "{t.subject}" is {t.status} (last updated {d(t.updated_at)}).' for t in tickets[:3]
        ]
        return lines, ["tickets.open"]
    if sub is None and intent in {"billing", "plan_renewal", "cancellation"}:
        if st.status == "customer":
            return ["You don't have a subscription with us; your account has orders only."], ["status.status"]
        return ["I don't see a subscription on your account." + _gap_note(ctx, "billing")], ["subscriptions"]
    if sub is None:
        return [], []
    plan = f"{(sub.plan or 'your').capitalize()} plan" + (f" ({sub.interval})" if sub.interval else "")
    past_due_fields = ["status.status", "status.cause", "subscriptions.plan", "subscriptions.current_period_end"]
    if intent == "billing":
        if st.status == "past_due":
            return [_past_due(plan, st.renewal_at or sub.current_period_end, zone)], past_due_fields
        if _passed(ctx, sub, "renewal_at", "current_period_end"):
            return [
                f"Your {plan} shows as {sub.status}, but its renewal date, {d(st.renewal_at or sub.current_period_end)}"
                f", has already passed and I can't see the renewal in our records yet, {STALE}."
            ], ["subscriptions.plan", "subscriptions.status", "status.renewal_at"]
        return [f"Your {plan} is {sub.status}; the next renewal is on {d(st.renewal_at)}."], [
            "subscriptions.plan",
            "subscriptions.status",
            "status.renewal_at",
        ]
    if intent == "cancellation":
        if st.status == "former":
            return [f"Your {plan} already ended on {d(st.ends_at or sub.current_period_end)}."], [
                "subscriptions.plan",
                "status.ends_at",
            ]
        if sub.cancel_at and "cancel_at" in sub.passed:
            return [_cancel_passed(plan, d(sub.cancel_at))], ["subscriptions.plan", "subscriptions.cancel_at"]
        if sub.cancel_at:
            return [f"Your {plan} is already set to cancel on {d(sub.cancel_at)}."], [
                "subscriptions.plan",
                "subscriptions.cancel_at",
            ]
        if "current_period_end" in sub.passed:
            return [
                f"You're on the {plan}; it was paid until {d(sub.current_period_end)}, a date that has already "
                f"passed, and I can't see the renewal in our records yet, {STALE}."
            ], ["subscriptions.plan", "subscriptions.current_period_end"]
        return [f"You're on the {plan}, paid until {d(sub.current_period_end)}."], [
            "subscriptions.plan",
            "subscriptions.current_period_end",
        ]
    # plan_renewal ("is my subscription still active?", "am I still a Plus member?")
    if st.status == "past_due":
        # Not "it renews on…": the renewal failed, and that is what the customer needs to hear, gently.
        return [_past_due(plan, st.renewal_at or sub.current_period_end, zone)], past_due_fields
    if st.status == "trial" and _passed(ctx, sub, "trial_end", "renewal_at"):
        return [
            f"Your {plan} trial was due to end on {d(sub.trial_end or st.renewal_at)}. That date has already "
            f"passed and our records still show the trial, {STALE}: it has probably converted to the paid plan "
            "or ended."
        ], ["subscriptions.trial_end", "subscriptions.plan", "status.status"]
    if st.status == "trial":
        return [
            f"Your {plan} trial ends on {d(sub.trial_end or st.renewal_at)}; it converts to a paid plan then "
            "unless you cancel before."
        ], ["subscriptions.trial_end", "subscriptions.plan", "status.status"]
    if st.status == "former":
        return [f"Your {plan} ended on {d(st.ends_at)}."], ["status.ends_at"]
    if sub.cancel_at and "cancel_at" in sub.passed:
        return [_cancel_passed(plan, d(sub.cancel_at))], ["subscriptions.cancel_at"]
    if sub.cancel_at:
        return [f"You're on the {plan}; it is set to cancel on {d(sub.cancel_at)}."], ["subscriptions.cancel_at"]
    if _passed(ctx, sub, "renewal_at", "current_period_end"):
        return [
            f"You're on the {plan}, and our records show it as {sub.status}; it was due to renew on "
            f"{d(st.renewal_at or sub.current_period_end)}, but that date has already passed and I can't see the "
            f"renewal yet, {STALE}."
        ], ["status.plan", "subscriptions.status", "status.renewal_at"]
    return [f"You're on the {plan}, and it is {sub.status}; it renews on {d(st.renewal_at)}."], [
        "status.plan",
        "subscriptions.status",
        "status.renewal_at",
    ]


def respond(turn: TurnInput) -> GroundedReply:
    """A grounded reply for the turn (never invents: every fact comes from the context or a passage)."""
    intent = turn.signals.intent
    ctx = turn.context
    passage = _usable_passage(turn)
    parts: list[str] = []
    fields: list[str] = []
    cited: list[str] = []
    answered = False
    conflict: str | None = None

    if intent in SMALL_TALK_INTENTS:
        # Small talk gets a short friendly reply: no search, no account facts, nothing to escalate.
        name = ((ctx.identity.name or "").split() or [""])[0] if ctx is not None else ""
        if intent == "thanks":
            parts.append("You're welcome! If anything else comes up, just ask here.")
        else:
            parts.append(f"Hi{' ' + name if name else ''}! How can I help you today?")
        answered = True
    elif ctx is not None and intent in _PRIVATE | {"returns_refunds"} and (clash := _conflict_of(turn, ctx)):
        # The records the answer needs disagree: say so and hand over rather than pick one of them.
        what, clashes, used_field = clash
        text, conflict = _conflict_reply(what, clashes)
        parts.append(text)
        fields.append(used_field)
    elif ctx is not None and intent in _PRIVATE | {"returns_refunds"}:
        facts, used = _account_facts(turn, ctx)
        parts += facts
        fields += used
        answered = bool(facts)
    elif ctx is None and intent in _PRIVATE and turn.verified:
        # Signed in, but the signed identity matches no customer record (or several): never someone else's data,
        # and not "you're not signed in" either.
        parts.append(
            "You're signed in, but I can't find account records that match your sign-in, so I can't see order "
            "or account details in this chat. Ask for a person and our team can look into it."
        )
        answered = False
    elif ctx is None and intent in _PRIVATE:
        parts.append(
            "I can't see account or order details in this chat because you're not signed in. Please sign in to "
            "your account and open the chat from there, and I can look it up for you."
        )
        answered = True

    if passage is not None and intent not in SMALL_TALK_INTENTS and conflict is None:
        marker = len(cited) + 1
        lead_in = "From our help center" if parts else "Here's what our help center says"
        parts.append(f"{lead_in}: {best_sentences(passage, turn.message)} [{marker}]")
        cited.append(passage.label)
        answered = True
    if turn.route.offers and intent in {"plan_renewal", "cancellation"} and ctx is not None and conflict is None:
        # Only the customer-facing wording: staff notes of an offer never reach a customer.
        parts.append("I can also help with: " + "; ".join(o.say for o in turn.route.offers) + ".")
    if not answered and turn.signals.failed_answer:
        # A first "that didn't help" gets a clarifying question; a second one escalates as a loop.
        parts = [
            "I'm sorry that didn't help. Could you tell me a little more about what you need, or what you "
            "expected? For example the order number or the step where you got stuck."
        ]
        answered = True
    if not parts:
        parts.append("I'm sorry — I couldn't find a reliable answer to that in our records or help center.")
    parts.append(disclosure(ctx is not None))
    confidence = 0.9 if answered and (fields or cited) else (0.6 if answered else 0.1)
    return GroundedReply(
        AgentAnswer(
            answer="\n\n".join(parts),
            cited_passage_ids=cited,
            context_fields_used=list(dict.fromkeys(fields)),
            confidence=confidence,
        ),
        answered,
        conflict,
    )
