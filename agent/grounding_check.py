"""The grounding check: a reply may only cite passages that were retrieved, and may only state facts it was given.

Facts (order references, amounts, percentages, dates, tracking numbers, commitments) are read by the one
extractor, agent/facts.py. Evidence is typed:

- a value from our systems (the customer context, the retrieved passages) may be stated as a fact;
- a value only the customer typed (this message or earlier ones) may be echoed as theirs ("you mentioned order
  #1042", "I can't find order #1042 on your account"), never confirmed ("your order #1042 shipped");
- a commitment (a refund approved, a discount, a credit, a replacement, compensation) needs the customer's
  records (the context) to carry it, a passage quoted as written, or the route's explicit permission
  (`routes.<route>.commitments`); a general policy sentence ("refunds are issued within 5 days") may rest on a
  passage.

Today's date is always known; the caller passes it (the service's clock in the business time zone). A reply
that fails is not sent as is (service.py falls back).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

from agent.facts import Evidence, Fact, OrderShapes, extract_facts, is_personal, parse_date_key, sentences
from agent.llm.base import AgentAnswer
from agent.turn import TurnInput

# A sentence that attributes a value to the customer, or says we could not find it, does not confirm it.
_ECHO = re.compile(
    r"\byou(?:'ve| have)?\s+(?:just\s+)?(?:mentioned|said|wrote|gave|quoted|told me|referred to|asked about|"
    r"provided|shared|typed|described|noted)\b|\baccording to you\b|\byour message\b|\bcan(?:'t|not) (?:find|see)\b"
    r"|\bcouldn't (?:find|see)\b|\bdon't see\b|\bdo not see\b|\bno record of\b|\bnot (?:in|on) (?:your account|our "
    r"records)\b|\bunable to (?:find|see|confirm|verify)\b|\bcan(?:'t|not) confirm\b",
    re.IGNORECASE,
)
_MARKER = re.compile(r"\[\d+\]|\[P\d+\]")


def _squash(text: str) -> str:
    return " ".join(_MARKER.sub(" ", text).lower().split())


def system_texts(turn: TurnInput, extra: Iterable[str] = ()) -> list[str]:
    """What our systems gave the responder: the context and the passages (with titles and headings)."""
    parts = [turn.context_text]
    parts += [p.text for p in turn.passages]
    parts += [p.title + " " + p.heading for p in turn.passages]
    parts += list(extra)
    return parts


def customer_texts(turn: TurnInput) -> list[str]:
    """What the customer typed in this conversation (may be echoed as theirs, never confirmed)."""
    return [turn.message, *(h.content for h in turn.history if h.role == "customer")]


def order_shapes(turn: TurnInput) -> OrderShapes:
    """The shapes of the order numbers this customer's context holds."""
    if turn.context is None:
        return OrderShapes()
    return OrderShapes.from_numbers(o.number for o in turn.context.orders.recent)


def check_answer(
    answer: AgentAnswer,
    turn: TurnInput,
    *,
    today: date | None = None,
    extra_evidence: Iterable[str] = (),
    shapes: OrderShapes | None = None,
) -> list[str]:
    """Problems that make a reply unsafe to send as is (empty when it is grounded).

    `today` (the business's calendar date, from the caller's clock) is a date every reply may state.
    """
    issues: list[str] = []
    for ref in answer.cited_passage_ids:
        cited = turn.passage(ref)
        if cited is None:
            issues.append(f"cites passage {ref!r}, which was not retrieved for this turn")
        elif not cited.customer_facing:
            issues.append(f"cites passage {ref!r}, which is for staff only (audience {cited.audience})")
    lowered = " ".join(answer.answer.lower().split())
    for offer in turn.route.offers:
        if offer.note and _quotes(lowered, offer.note):
            issues.append("quotes a staff note of a route offer")
    shapes = shapes or order_shapes(turn)
    evidence = Evidence(system=system_texts(turn, extra_evidence), customer=customer_texts(turn), shapes=shapes)
    context_lower = turn.context_text.lower()
    passages_squashed = _squash("\n".join(p.text for p in turn.passages))
    text = answer.answer
    spans = sentences(text)
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for fact in extract_facts(text, shapes=shapes):
        if (fact.kind, fact.keys) in seen:
            continue
        seen.add((fact.kind, fact.keys))
        sentence = next((s for a, b, s in spans if a <= fact.start < b), text)
        if fact.kind == "date" and today is not None and _is_today(fact, today):
            continue
        if fact.kind == "commitment":
            problem = _commitment_problem(fact, sentence, turn, context_lower, passages_squashed)
            if problem:
                issues.append(problem)
            continue
        origin = evidence.origin(fact)
        if origin == "system":
            continue
        if origin == "customer":
            if _ECHO.search(sentence):
                continue
            issues.append(f"confirms {fact.describe()}, which only the customer wrote (not in our records)")
            continue
        issues.append(f"states {fact.describe()}, which is not in the context")
    return issues


def _quotes(reply_lower: str, note: str) -> bool:
    """Whether the reply repeats a staff note (or a run of six of its words)."""
    words = " ".join(note.lower().split()).split(" ")
    if len(words) < 6:
        return " ".join(words) in reply_lower
    return any(" ".join(words[i : i + 6]) in reply_lower for i in range(len(words) - 5))


def _is_today(fact: Fact, today: date) -> bool:
    for key in fact.keys:
        y, m, d = parse_date_key(key)
        if d == today.day and (m is None or m == today.month) and (y is None or y == today.year):
            return True
    return False


def _commitment_problem(
    fact: Fact, sentence: str, turn: TurnInput, context_lower: str, passages_squashed: str
) -> str | None:
    """Why a commitment may not be sent, or None: route permission, the customer's records, or a quoted passage."""
    if fact.key in turn.route.commitments:
        return None
    stem = {"replacement": "replace", "compensation": "compensat"}.get(fact.key, fact.key)
    if stem in context_lower:
        return None
    squashed = _squash(sentence).rstrip("…").strip()  # the grounded responder may shorten a quote with "…"
    if squashed and squashed in passages_squashed:
        return None  # a passage quoted as written (the help center's own words)
    if not is_personal(sentence) and any(stem in p.text.lower() for p in turn.passages):
        return None  # a general policy statement resting on a retrieved passage
    return f"makes {fact.describe()} that neither the customer's records nor the route allow"
