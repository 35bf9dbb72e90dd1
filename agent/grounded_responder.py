"""The grounded responder: answers without a language model, from the customer context and the best passage.

Used when no LLM is configured, when the LLM fails, and when an LLM reply fails the grounding check. It
detects the common intents (agent/intents.py), states only facts it read from the context or a passage,
cites the passage, says plainly that it is an automated assistant, and reports `answered=False` when it has
nothing grounded to say (the service then escalates with `no_answer`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from agent.config import AgentConfig, parse_agent_config
from agent.facts import OrderShapes
from agent.intents import SMALL_TALK_INTENTS, order_refs_in
from agent.llm.base import AgentAnswer
from agent.turn import Passage, TurnInput
from context.customer_context.models import CustomerContext, OrderInfo, RecordConflict, SubscriptionInfo
from knowledge.language import LANGUAGE_NAMES, language_name
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


def language_notice(turn: TurnInput, used: Sequence[Passage], *, lead_in: bool = True) -> str | None:
    """The sentence telling the customer the passages used are not in their language (None: no fallback).

    `lead_in` ends it with a colon, to introduce the quoted passage; otherwise it stands as a sentence of its own.
    It states no customer fact, so it passes the grounding check.
    """
    if not turn.language_fallback or not used:
        return None
    asked = language_name(turn.query_language) or "your language"
    names = [language_name(p.language) for p in used if p.language and p.language != turn.query_language]
    known = list(dict.fromkeys(n for n in names if n))
    pages = (" and ".join(known) + " pages") if known else "pages in another language"
    if lead_in:
        return f"I couldn't find this in {asked} in our help center; here is what our {pages} say:"
    return f"I couldn't find this in {asked} in our help center, so this answer comes from our {pages}."


def names_language(reply: str, code: str | None) -> bool:
    """Whether a reply names the language `code` (in English or in its own name): it told the customer."""
    names = LANGUAGE_NAMES.get((code or "").lower(), ("your language",))
    lower = reply.casefold()
    return any(name.casefold() in lower for name in names)


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


def _config(turn: TurnInput) -> AgentConfig:
    """The store's agent settings for this turn (the shipped defaults when the caller passed none)."""
    return turn.config if turn.config is not None else _default_config()


@lru_cache(maxsize=1)
def _default_config() -> AgentConfig:
    return parse_agent_config(None, origin="defaults")


def _word(status: str) -> str:
    """A stored status label as the store writes it, for a customer ("awaiting_pickup" → "awaiting pickup")."""
    return status.replace("_", " ").strip()


def _as_of(ctx: CustomerContext, zone: tzinfo) -> str:
    """When the order data was last read, in the business's zone (in UTC when that would change the date)."""
    when = ctx.orders.meta.as_of
    if when is None:
        return "the time of our last update is unknown"
    utc = when if when.tzinfo else when.replace(tzinfo=UTC)
    local = utc.astimezone(zone)
    if local.date() != utc.astimezone(UTC).date():  # the context states the UTC date: keep to what it says
        local = utc.astimezone(UTC)
    clock = local.strftime("%I:%M %p").lstrip("0")
    return f"as of {clock} {local.tzname() or ''} on {_d(local, zone if local.tzinfo != UTC else UTC)}".replace(
        "  ", " "
    )


def _items(order: OrderInfo) -> str:
    """The order's lines with their options ("2 × Merino Hiking Socks (Size: L)"), or '' when none are known."""
    lines = [(f"{i.quantity} × " if i.quantity != 1 else "") + (i.name or i.sku or "an item") for i in order.items]
    return ("Items: " + "; ".join(lines) + ".") if lines else ""


def _tracking(order: OrderInfo) -> str:
    return f"tracking number {', '.join(order.tracking_numbers)}" if order.tracking_numbers else ""


# What each meaning says after "Your order W123 (placed …, total …)"; {carrier} and {tracking} are filled in.
_MEANING_TEXT = {
    "placed": "has been received and hasn't shipped yet",
    "on_hold": "is on hold, so it hasn't shipped yet",
    "backordered": "is backordered: it hasn't shipped yet",
    "preparing": "is being prepared in our warehouse and hasn't shipped yet",
    "out_for_delivery": "is out for delivery",
    "delivered": "was delivered",
    "ready_for_pickup": "is ready for pickup",
    "picked_up": "was picked up",
    "cancelled": "was cancelled",
    "restocked": "was cancelled and its items restocked",
    "returned": "was returned",
}


def _order_status(order: OrderInfo, zone: tzinfo, config: AgentConfig, ctx: CustomerContext) -> str:
    """The status sentence of one order: its meaning when the store's config maps the word, else the word as is."""
    status = (order.fulfillment_status or "").strip()
    meaning = config.order_meaning(status)
    when = f"placed {_d(order.placed_at, zone)}" if order.placed_at is not None else "no order date on record"
    head = f"Your order {order.number} ({when}, total {_money(order.total, order.currency)})"
    carrier = f" with {order.carrier}" if order.carrier else ""
    if meaning is None:
        # A word this store's config does not map: shown as the store wrote it, never translated into a guess.
        text = f'{head} has the status "{_word(status) or "unknown"}" in our records ({_as_of(ctx, zone)})'
        tracking = _tracking(order)
        return text + (f"; {tracking}{carrier}." if tracking else ".")
    if meaning == "shipped":
        if order.tracking_numbers:
            text = f"{head} has shipped{carrier}; {_tracking(order)}."
        else:
            text = f"{head} has shipped; I don't see a tracking number for it."
    elif meaning == "partly_shipped":
        text = f"{head} has partly shipped" + (f"; {_tracking(order)}." if order.tracking_numbers else ".")
    elif meaning == "not_shipped":
        text = f"{head} hasn't shipped yet (payment {order.financial_status or 'status unknown'})."
    else:
        text = f"{head} {_MEANING_TEXT[meaning]}"
        if meaning in {"out_for_delivery", "delivered"} and order.tracking_numbers:
            text += f"{carrier}; {_tracking(order)}"
        text += "."
    word = _word(status)
    if word and word.lower() not in text.lower():
        # The store's own word too, so the customer can match it with what their account page shows.
        text = text.replace(f"{head} ", f'{head[:-1]}, status "{word}") ', 1)
    return text


def order_shapes_of(ctx: CustomerContext | None, config: AgentConfig) -> OrderShapes:
    """The shapes of the store's order numbers: the customer's own (W2378156, RO-4K7Q2) and the configured examples."""
    own = [o.number for o in ctx.orders.recent] if ctx is not None else []
    return OrderShapes.from_numbers([*own, *config.order_number_examples])


def asked_orders(turn: TurnInput) -> list[str]:
    """Order references of the message, read with the shapes of this store's order numbers ('#KEY')."""
    shapes = order_shapes_of(turn.context, _config(turn))
    refs = [*turn.signals.order_refs, *order_refs_in(turn.message, shapes=shapes)]
    return list(dict.fromkeys(r.upper() for r in refs))


def _same(order: OrderInfo, ref: str) -> bool:
    return order.number is not None and order.number.lstrip("#").upper() == ref.lstrip("#").upper()


def _pick_order(turn: TurnInput, ctx: CustomerContext) -> tuple[OrderInfo | None, str | None]:
    orders = ctx.orders.recent
    for ref in asked_orders(turn):
        match = next((o for o in orders if _same(o, ref)), None)
        if match is not None:
            return match, None
        known = ", ".join(o.number or "?" for o in orders) or "none"
        shown = ref.lstrip("#")
        if ctx.orders.total_count > len(orders):
            # The context holds only the latest orders: an older one of theirs may exist, so don't say it isn't.
            return None, (
                f"I can't see order {shown} among the {len(orders)} orders I can look at on your account "
                f"({known}); if it is an older order of yours, a colleague can look it up."
            )
        return None, f"I can't find order {shown} on your account (the orders I can see: {known})."
    return (orders[0] if orders else None), None


def _undated_note(ctx: CustomerContext, picked: OrderInfo) -> str:
    """When some orders have no date, which one "the latest" is can't be known: say so and name the others."""
    undated = [o.number or "?" for o in ctx.orders.recent if o.placed_at is None and o is not picked]
    if not undated or len(ctx.orders.recent) < 2:
        return ""
    return (
        f" I also see {len(undated)} order{'s' if len(undated) > 1 else ''} without a date ({', '.join(undated)}), "
        "so I can't tell which order is your most recent: tell me the order number if you meant another one."
    )


_ORDER_WORD = re.compile(r"\b(orders?|purchases?|parcel|package|shipment|pickup)\b", re.IGNORECASE)
_SUBSCRIPTION_INTENTS = {"billing", "plan_renewal", "cancellation"}


def effective_intent(turn: TurnInput) -> str:
    """The intent the answer follows, given the store: a named order makes a question an order question, and
    where the store sells no subscriptions, "cancel" and "payment" are about orders or the help center."""
    intent = turn.signals.intent
    refs = asked_orders(turn)
    if intent == "general" and refs:
        return "order_status"
    if intent in _SUBSCRIPTION_INTENTS and not _config(turn).sells_subscriptions:
        return "order_status" if refs or _ORDER_WORD.search(turn.message) else "general"
    return intent


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
    intent = effective_intent(turn)
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
    intent = effective_intent(turn)
    zone = ZoneInfo(turn.timezone)

    def d(value: datetime | None) -> str:
        return _d(value, zone)

    st = ctx.status
    sub = _current_sub(ctx)
    config = _config(turn)
    if intent in {"order_status", "returns_refunds"}:
        order, problem = _pick_order(turn, ctx)
        if problem:
            return [problem], ["orders.recent"]
        if order is None:
            return ["I can't see any orders on your account." + _gap_note(ctx, "order")], ["orders.recent"]
        if intent == "order_status":
            # The reply states the number, placed date, total, status, items and tracking: report all it used.
            asked = bool(asked_orders(turn))
            text = _order_status(order, zone, config, ctx)
            items = _items(order)
            lines = [text + (" " + items if items else "") + _gap_note(ctx, "order")]
            if not asked:
                lines[0] += _undated_note(ctx, order)
            return lines, [
                "orders.number",
                "orders.placed_at",
                "orders.total",
                "orders.fulfillment_status",
                "orders.tracking_numbers",
                "orders.carrier",
                "orders.items",
            ]
        state = _word(order.fulfillment_status or "") or "not yet fulfilled"
        return [
            f"Your order {order.number} was placed {d(order.placed_at)} "
            f"(total {_money(order.total, order.currency)}, {state})."
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
        if not config.sells_subscriptions:
            return [], []  # a store without subscriptions: the help center answers, never "no subscription"
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
    intent = effective_intent(turn)
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
        # No page in the question's language: the notice introduces the other language's passage.
        notice = language_notice(turn, [passage])
        lead_in = notice or ("From our help center:" if parts else "Here's what our help center says:")
        parts.append(f"{lead_in} {best_sentences(passage, turn.message)} [{marker}]")
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
