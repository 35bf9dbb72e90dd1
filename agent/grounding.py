"""The grounding check: a reply may only cite passages that were retrieved, and may only state order numbers,
amounts, dates and tracking numbers that appear in what the responder was given (the customer context, the
passages, or the customer's own messages). A reply that fails is not sent as is (service.py falls back)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from agent.intents import amounts_in
from agent.llm.base import AgentAnswer
from agent.turn import TurnInput

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for m in names
}
_MONTH = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?"
    r"|nov(?:ember)?|dec(?:ember)?)"
)
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MDY = re.compile(_MONTH + r"\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(\d{4}))?", re.IGNORECASE)
_DMY = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r"\.?(?:,?\s+(\d{4}))?", re.IGNORECASE)
_SLASH = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b")
_ORDER = re.compile(r"(?:#|order\s*(?:number|no\.?)?\s*#?\s*)(\d{3,6})\b", re.IGNORECASE)
# Tracking numbers: long runs of letters and digits with many digits (UPS 1Z…, USPS 94…, FedEx 12 digits).
_TRACKING = re.compile(r"\b(?=[A-Z0-9]*\d{6})[A-Z0-9]{10,34}\b")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")

DateKey = tuple[int | None, int, int]  # (year or None, month, day)


def dates_in(text: str) -> set[DateKey]:
    """Calendar dates written in a text, in the common English and ISO forms."""
    found: set[DateKey] = set()
    for y, m, d in _ISO.findall(text):
        found.add((int(y), int(m), int(d)))
    for mon, d, y in _MDY.findall(text):
        found.add((int(y) if y else None, _MONTHS[mon.lower().rstrip(".")], int(d)))
    for d, mon, y in _DMY.findall(text):
        found.add((int(y) if y else None, _MONTHS[mon.lower().rstrip(".")], int(d)))
    for a, b, y in _SLASH.findall(text):
        found.add((int(y), int(a), int(b)))  # US order: month/day/year
    return {k for k in found if 1 <= k[1] <= 12 and 1 <= k[2] <= 31}


def _numbers(text: str) -> set[Decimal]:
    out = set()
    for raw in _NUMBER.findall(text):
        try:
            out.add(Decimal(raw.replace(",", "")))
        except InvalidOperation:
            continue
    return out


def _date_ok(key: DateKey, allowed: set[DateKey]) -> bool:
    year, month, day = key
    return any(m == month and d == day and (year is None or y is None or y == year) for y, m, d in allowed)


def evidence_text(turn: TurnInput) -> str:
    """Everything a reply may take facts from: context, passages and the customer's own words."""
    parts = [turn.context_text, turn.message]
    parts += [p.text for p in turn.passages]
    parts += [p.title + " " + p.heading for p in turn.passages]
    parts += [h.content for h in turn.history if h.role == "customer"]
    return "\n".join(parts)


def check_answer(answer: AgentAnswer, turn: TurnInput, *, extra_evidence: Iterable[str] = ()) -> list[str]:
    """Problems that make a reply unsafe to send as is (empty when it is grounded)."""
    issues: list[str] = []
    for ref in answer.cited_passage_ids:
        if turn.passage(ref) is None:
            issues.append(f"cites passage {ref!r}, which was not retrieved for this turn")
    evidence = evidence_text(turn) + "\n" + "\n".join(extra_evidence)
    text = answer.answer
    # Any 3–6 digit number of the evidence counts (tickets are written "Ticket 20001", orders "#1042").
    known_orders = set(re.findall(r"(?<![\d.])\d{3,6}(?![\d.])", evidence))
    for number in dict.fromkeys(_ORDER.findall(text)):
        if number not in known_orders:
            issues.append(f"states order #{number}, which is not in the context")
    upper_evidence = evidence.upper()
    for tracking in dict.fromkeys(_TRACKING.findall(text.upper())):
        if tracking.isdigit() and len(tracking) < 10:
            continue
        if tracking not in upper_evidence:
            issues.append(f"states tracking number {tracking}, which is not in the context")
    numbers = _numbers(evidence)
    for amount in dict.fromkeys(amounts_in(text)):
        if amount not in numbers:
            issues.append(f"states the amount {amount}, which is not in the context")
    allowed_dates = dates_in(evidence)
    today = turn.now.astimezone(ZoneInfo(turn.timezone)).date()
    for key in sorted(dates_in(text), key=lambda k: (k[0] or 0, k[1], k[2])):
        if not _date_ok(key, allowed_dates):
            shown = f"{key[0]}-{key[1]:02d}-{key[2]:02d}" if key[0] else f"{key[1]:02d}-{key[2]:02d}"
            if key == (today.year, today.month, today.day):
                continue  # "today" is always known
            issues.append(f"states the date {shown}, which is not in the context")
    return issues
