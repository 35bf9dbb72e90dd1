"""Checkable facts in text (order numbers, amounts, dates, tracking numbers) and the unsupported-fact filter.

A summary may state such a fact only if it appears in the evidence: the transcript or the customer context
the summary was built from. The filter removes every sentence (or list item) carrying an invented one and
records what it removed, so a person never acts on a number the model made up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from agent.grounding import dates_in
from agent.intents import amounts_in, order_refs_in

# Tracking numbers: long runs of letters and digits with many digits (UPS 1Z…, USPS 94…, FedEx 12 digits).
TRACKING = re.compile(r"\b(?=[A-Z0-9]*\d{6})[A-Z0-9]{10,34}\b")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_ISO_T = re.compile(r"(\d{4}-\d{2}-\d{2})T")  # "2026-10-27T10:00" → a date the ISO pattern can see
_SENTENCE = re.compile(r"(?<=[.!?;])\s+")

DateKey = tuple[int | None, int, int]


@dataclass(frozen=True)
class Fact:
    """One checkable fact found in a text."""

    kind: str  # order_number | amount | date | tracking_number
    value: str


class Evidence:
    """What a summary may take facts from, pre-indexed for fast checks."""

    def __init__(self, *texts: str) -> None:
        text = _ISO_T.sub(r"\1 T", "\n".join(t for t in texts if t))
        self.text = text
        self.upper = text.upper()
        self.order_numbers = set(re.findall(r"(?<![\d.])\d{3,6}(?![\d.])", text))
        self.numbers = _numbers(text)
        self.dates = dates_in(text)

    def supports(self, fact: Fact) -> bool:
        """Whether the fact appears in the evidence (dates compare by day, "Oct 27" = "2026-10-27")."""
        if fact.kind == "order_number":
            return fact.value.lstrip("#") in self.order_numbers
        if fact.kind == "tracking_number":
            return fact.value.upper() in self.upper
        if fact.kind == "amount":
            try:
                return Decimal(fact.value) in self.numbers
            except InvalidOperation:
                return False
        if fact.kind == "date":
            year, month, day = (int(x) if x != "?" else None for x in fact.value.split("-"))
            assert month is not None and day is not None
            return any(m == month and d == day and (year is None or y is None or y == year) for y, m, d in self.dates)
        return False


def _numbers(text: str) -> set[Decimal]:
    out = set()
    for raw in _NUMBER.findall(text):
        try:
            out.add(Decimal(raw.replace(",", "")))
        except InvalidOperation:
            continue
    return out


def facts_in(text: str) -> list[Fact]:
    """The order numbers, tracking numbers, amounts and dates a text states."""
    found: list[Fact] = [Fact("order_number", ref) for ref in order_refs_in(text)]
    for tracking in dict.fromkeys(TRACKING.findall(text.upper())):
        found.append(Fact("tracking_number", tracking))
    for amount in dict.fromkeys(amounts_in(text)):
        found.append(Fact("amount", format(amount, "f")))
    for y, m, d in sorted(dates_in(text), key=lambda k: (k[0] or 0, k[1], k[2])):
        found.append(Fact("date", f"{y if y is not None else '?'}-{m:02d}-{d:02d}"))
    return found


def unsupported(text: str, evidence: Evidence) -> list[Fact]:
    """The facts of `text` the evidence does not contain."""
    return [f for f in facts_in(text) if not evidence.supports(f)]


def strip_unsupported(text: str, evidence: Evidence) -> tuple[str, list[Fact]]:
    """`text` without its sentences that state an unsupported fact, and the facts removed."""
    bad = unsupported(text, evidence)
    if not bad:
        return text, []
    kept = [s for s in _SENTENCE.split(text) if not unsupported(s, evidence)]
    return " ".join(kept).strip(), bad
