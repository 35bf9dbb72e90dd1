"""Checkable facts in summary text and the unsupported-fact filter, on the one extractor (agent/facts.py).

A summary may state such a fact only if it appears in the evidence: the transcript or the customer context
the summary was built from (verified facts: the context only). The filter removes every sentence (or list
item) carrying an invented one and records what it removed, so a person never acts on a number the model made
up. Commitments are not filtered here (the summary reports what was asked and promised; promises are checked
against the transcript by the same order/amount/date rules).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent import facts as extractor

# Tracking numbers: long runs of letters and digits with many digits (UPS 1Z…, USPS 94…, FedEx 12 digits).
TRACKING = re.compile(r"\b(?=[A-Z0-9]*\d{6})[A-Z0-9]{10,34}\b")
_SENTENCE = re.compile(r"(?<=[.!?;])\s+")
_KIND = {"order": "order_number", "tracking": "tracking_number", "amount": "amount", "date": "date"}
_KIND |= {"percent": "percent"}


@dataclass(frozen=True)
class Fact:
    """One checkable fact found in a text (kind: order_number | amount | percent | date | tracking_number)."""

    kind: str
    value: str
    found: extractor.Fact | None = field(default=None, compare=False, hash=False, repr=False)


def _value(f: extractor.Fact) -> str:
    if f.kind == "order":
        return "#" + f.key
    if f.kind == "date":
        y, m, d = extractor.parse_date_key(f.key)
        return f"{y if y is not None else '?'}-{f'{m:02d}' if m is not None else '?'}-{d:02d}"
    return f.key


class Evidence:
    """What a summary may take facts from (all of it counts as stated by our systems or the transcript)."""

    def __init__(self, *texts: str) -> None:
        self.text = "\n".join(t for t in texts if t)
        self._evidence = extractor.Evidence(system=[self.text])

    def supports(self, fact: Fact) -> bool:
        """Whether the fact appears in the evidence (dates compare by day, "Oct 27" = "2026-10-27")."""
        found = fact.found
        if found is None:  # a Fact built by hand: read its value as text
            parsed = facts_in(fact.value)
            found = parsed[0].found if parsed else None
        return found is not None and self._evidence.origin(found) is not None


def facts_in(text: str) -> list[Fact]:
    """The order numbers, tracking numbers, amounts, percentages and dates a text states."""
    out: list[Fact] = []
    for f in extractor.extract_facts(text):
        if f.kind in _KIND:
            fact = Fact(_KIND[f.kind], _value(f), f)
            if fact not in out:
                out.append(fact)
    return out


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
