"""The one fact extractor: the checkable facts a text states, and where the evidence for each comes from.

Facts are order (or ticket) references, money amounts, percentages, calendar dates, tracking numbers and
commitments (a refund, discount, credit, replacement or compensation promised or approved). The grounding
check of chat replies (agent/grounding_check.py), the handoff summary's unsupported-fact filter (handoff/facts.py)
and the evals' invented-fact count all use this module, so a phrasing caught in one place is caught in all.

Forms recognised (the tests in tests/agent/chat/test_facts.py list them):

- order references after a cue ("order #1042", "order ID 9999", "Order: 9999", "your order number is 9999"),
  after "#" ("#W1234"), and bare tokens shaped like the store's own order numbers (`OrderShapes`, derived from
  the numbers in the data: "SO-10023" → two letters, "-", 4–6 digits);
- amounts with a currency in any common form: "$94,110.00", "$1,042", "US$10", "€1.234,50", "USD 275",
  "275 USD", "275 bucks", "46 dollars", "£5";
- percentages: "90%", "90 percent", "90 per cent";
- dates: ISO and dotted/slashed year-first ("2026-12-24", "2026.12.24"), day- or month-first numeric dates
  ("24/12/2026", "12/24/2026", "24.12.2026": every valid reading is kept), month names ("December 24th",
  "24 Dec 2026", "the 24th of December") and a bare day of month ("the 24th");
- tracking numbers written whole or in groups ("1Z 999 AA1 0123 4567 84");
- commitments ("the manager approved a 90 percent discount and a full refund", "I've issued a refund",
  "we'll send you a replacement", "you'll get a credit").

Evidence is typed (`Evidence`): text from our systems (the customer context, retrieved passages) may be stated
as fact; text the customer typed may only be echoed as theirs ("you mentioned order #1042").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Literal

FactKind = Literal["order", "amount", "percent", "date", "tracking", "commitment"]
Origin = Literal["system", "customer"]


@dataclass(frozen=True)
class Fact:
    """One checkable fact of a text: its kind, comparable keys (any one may be supported) and where it is."""

    kind: FactKind
    keys: tuple[str, ...]
    text: str
    start: int
    end: int

    @property
    def key(self) -> str:
        """The first (preferred) comparable key."""
        return self.keys[0]

    def describe(self) -> str:
        """The fact in words for an issue list ("order #1042", "the amount 46", "the date 2026-12-24")."""
        words = {
            "order": f"order #{self.key}",
            "amount": f"the amount {self.key}",
            "percent": f"{self.key}%",
            "date": "the date " + " or ".join(self.keys),
            "tracking": f"tracking number {self.key}",
            "commitment": f"a commitment ({self.key}: {self.text.strip()!r})",
        }
        return words[self.kind]


# --- order references ---------------------------------------------------------------------------------------

_REF = r"[A-Z0-9](?:[A-Z0-9]|-(?=[A-Z0-9])){2,30}"  # 3+ characters: "order 10 days ago" is no order
_ORDER_CUE = re.compile(
    r"\border(?:\s+(?:number|num|no\.?|id|ref(?:erence)?))?\s*(?:is|was|=|:)?\s*#?\s*(?P<ref>" + _REF + r")",
    re.IGNORECASE,
)
_HASH_REF = re.compile(r"(?<![\w&#])#\s?(?P<ref>" + _REF + r")", re.IGNORECASE)


def _ref_key(raw: str) -> str:
    return raw.upper().lstrip("#").strip("-")


def _shape_of(number: str) -> str | None:
    """A regex for numbers shaped like this one: letter runs exact length, digit runs ±1, punctuation kept."""
    text = number.strip().upper()
    if not text:
        return None
    parts: list[str] = []
    for run in re.finditer(r"[A-Z]+|\d+|[^A-Z\d]+", text):
        chunk = run.group()
        if chunk.isdigit():
            n = len(chunk)
            parts.append(rf"\d{{{max(1, n - 1)},{n + 1}}}")
        elif chunk.isalpha():
            parts.append(rf"[A-Z]{{{len(chunk)}}}")
        else:
            parts.append(re.escape(chunk))
    return "".join(parts)


@dataclass(frozen=True)
class OrderShapes:
    """The shapes of a store's order numbers, so a bare "A7K-2291" or "SO-10023" is seen as an order reference.

    Built from the numbers in the data (`from_numbers`); only distinctive shapes (with a letter or punctuation)
    are matched without a cue: a bare "1042" is any number, "order 1042" and "#1042" are references.
    """

    patterns: tuple[str, ...] = ()

    @classmethod
    def from_numbers(cls, numbers: Iterable[str | None]) -> OrderShapes:
        """Shapes of these order numbers (deduplicated, at most 20)."""
        shapes: dict[str, None] = {}
        for n in numbers:
            if not n:
                continue
            core = n.strip().lstrip("#")
            if core.isdigit():
                continue
            shape = _shape_of(core)
            if shape:
                shapes[shape] = None
            if len(shapes) >= 20:
                break
        return cls(tuple(shapes))

    def regex(self) -> re.Pattern[str] | None:
        """One pattern matching any of the shapes as a whole token."""
        if not self.patterns:
            return None
        return re.compile(r"(?<![A-Z0-9-])(?:" + "|".join(self.patterns) + r")(?![A-Z0-9-])", re.IGNORECASE)


# --- amounts and percentages ----------------------------------------------------------------------------------

_CODES = "USD|EUR|GBP|CAD|AUD|NZD|CHF|JPY|CNY|SEK|NOK|DKK|PLN|CZK|HUF|INR|BRL|MXN|ZAR|SGD|HKD|KRW|ILS|AED|TRY|RUB"
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d{1,3}(?:\.\d{3})+,\d{2}|\d+(?:[.,]\d{1,2})?"
_AMOUNT = re.compile(
    r"(?:(?<![A-Za-z])(?:US|CA|C|A|AU|NZ)?[$£€¥₹]\s?(?P<a>" + _NUM + r"))"
    r"|(?:(?<![A-Za-z])(?:" + _CODES + r")\s?(?P<b>" + _NUM + r"))"
    r"|(?:(?<![\d.,])(?P<c>" + _NUM + r")\s?(?:" + _CODES + r"|dollars?|bucks?|quid|pounds?|euros?|yen|francs?)\b)",
    re.IGNORECASE,
)
_TWO_DECIMALS = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})*\.\d{2}(?![\d])|(?<![\d.,])\d+\.\d{2}(?![\d])")
_PERCENT = re.compile(r"(?<![\d.])(?P<n>\d{1,3}(?:\.\d+)?)\s?(?:%|percent\b|per\s?cent\b|pct\b)", re.IGNORECASE)


def _decimal(raw: str) -> Decimal | None:
    text = raw.replace(" ", "")
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+,\d{2}", text):  # 1.234,50 (decimal comma)
        text = text.replace(".", "").replace(",", ".")
    elif re.fullmatch(r"\d+,\d{2}", text):  # 12,50 (decimal comma)
        text = text.replace(",", ".")
    else:
        text = text.replace(",", "")
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _amount_key(value: Decimal) -> str:
    # As written ("312.50", "46"): amounts compare as Decimals (46 == 46.00), keys stay readable.
    return format(value, "f")


# --- dates ----------------------------------------------------------------------------------------------------

_MONTHS = {
    name: i + 1
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
    for name in names
}
_MONTH = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?"
    r"|nov(?:ember)?|dec(?:ember)?)"
)
_ORD = r"(?:st|nd|rd|th)?"
_YMD = re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
_NUMERIC = re.compile(r"(?<![\d.])(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?![\d])")
_MDY = re.compile(r"\b" + _MONTH + r"\.?\s+(\d{1,2})" + _ORD + r"\b(?:,?\s+(\d{4}))?", re.IGNORECASE)
_DMY = re.compile(r"\b(\d{1,2})" + _ORD + r"\s+(?:of\s+)?" + _MONTH + r"\b\.?(?:,?\s+(\d{4}))?", re.IGNORECASE)
# A bare day of month after a time preposition ("arrives on the 24th", "by the 3rd"), not "the 2nd time".
_DAY_ONLY = re.compile(
    r"\b(?:on|by|until|till|before|after|from|since|around|for|due)\s+the\s+(\d{1,2})(?:st|nd|rd|th)\b(?!\s+of\b)",
    re.IGNORECASE,
)

DateKey = tuple[int | None, int | None, int]  # (year or None, month or None, day)


def _date_key(key: DateKey) -> str:
    y, m, d = key
    return f"{y if y is not None else '????'}-{m:02d}-{d:02d}" if m is not None else f"day {d}"


def parse_date_key(text: str) -> DateKey:
    """The (year, month, day) of a date key ("2026-12-24", "????-12-24", "day 24")."""
    if text.startswith("day "):
        return None, None, int(text[4:])
    y, m, d = text.split("-")
    return (None if y == "????" else int(y)), int(m), int(d)


def _valid(key: DateKey) -> bool:
    y, m, d = key
    if not 1 <= d <= 31 or (m is not None and not 1 <= m <= 12):
        return False
    if y is not None and m is not None:
        try:
            date(y, m, d)
        except ValueError:
            return False
    return True


def date_matches(key: DateKey, allowed: Iterable[DateKey]) -> bool:
    """Whether a date agrees with one of the allowed dates (an unknown year or month agrees with any)."""
    y, m, d = key
    return any(
        ad == d and (m is None or am is None or am == m) and (y is None or ay is None or ay == y)
        for ay, am, ad in allowed
    )


# --- tracking numbers ---------------------------------------------------------------------------------------

_TRACKING_WHOLE = re.compile(r"(?<![A-Z0-9])(?=[A-Z0-9]*\d{6})[A-Z0-9]{10,34}(?![A-Z0-9])")
# Groups of 2–6 letters/digits, each with a digit, separated by single spaces ("1Z 999 AA1 0123 4567 84").
_GROUP = r"(?=[A-Z]*\d)[A-Z0-9]{2,6}"
_TRACKING_GROUPS = re.compile(r"(?<![A-Z0-9])(?:" + _GROUP + r" ){2,10}" + _GROUP + r"(?![A-Z0-9])")


def _tracking_ok(joined: str) -> bool:
    digits = sum(c.isdigit() for c in joined)
    if not 10 <= len(joined) <= 34 or digits < 8:
        return False
    # All digits in groups is a phone number or a list of numbers unless it is long (USPS: 20–22 digits).
    return not joined.isdigit() or len(joined) >= 15


# --- commitments --------------------------------------------------------------------------------------------

_COMMIT_OBJECT = re.compile(
    r"\b(?P<obj>refund(?:ed|s)?|reimburs\w*|discount(?:ed|s)?|credit(?:ed|s)?|replacement|replace (?:it|them)"
    r"|compensation|voucher|coupon|gift card|store credit|waive[ds]?|free (?:shipping|month|upgrade))\b",
    re.IGNORECASE,
)
_COMMIT_ACTION = re.compile(
    r"\b(?:approved|granted|authori[sz]ed|arranged|issued|processed|applied|credited|refunded|waived|promised"
    r"|guarantee[ds]?"
    r"|(?:I|we|the manager|our team|they)\s*(?:'ll|will|'ve|have|am going to|are going to|shall|can)\s+(?:\w+\s+){0,2}?"
    r"(?:issue|refund|credit|send|give|apply|approve|process|arrange|waive|replace|reimburse|ship|offer|take)"
    r"|you(?:'ll| will) (?:get|receive|be (?:refunded|credited|sent|given|reimbursed))"
    r"|you(?:'re| are) (?:getting|entitled))\b",
    re.IGNORECASE,
)
_PERSONAL = re.compile(r"\b(?:you|your|I|I've|I'll|we|we've|we'll|our manager|the manager|manager)\b", re.IGNORECASE)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")


def commitment_kind(obj: str) -> str:
    """The commitment kind of an object word ("refunded" → refund, "store credit" → credit)."""
    low = obj.lower()
    for kind in ("refund", "discount", "credit", "replace", "reimburs", "compensation", "voucher", "coupon"):
        if kind in low:
            return {"replace": "replacement", "reimburs": "refund", "voucher": "compensation"}.get(kind, kind)
    if "gift card" in low:
        return "compensation"
    if low.startswith("waive") or low.startswith("free"):
        return "compensation"
    return low


def sentences(text: str) -> list[tuple[int, int, str]]:
    """(start, end, sentence) spans of a text."""
    return [(m.start(), m.end(), m.group()) for m in _SENTENCE.finditer(text) if m.group().strip()]


def is_personal(sentence: str) -> bool:
    """Whether a sentence speaks to or about this customer (not a general policy statement)."""
    return bool(_PERSONAL.search(sentence))


# --- extraction ---------------------------------------------------------------------------------------------


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < end and start < e for s, e in spans)


def extract_facts(text: str, *, shapes: OrderShapes | None = None) -> list[Fact]:
    """Every checkable fact of a text, in the forms the module docstring lists (no duplicates per span)."""
    if len(text) > _CACHED_CHARS:
        return list(_extract(text, shapes))
    return list(_extract_cached(text, shapes))


#: Texts up to this length have their facts cached: a chat turn reads the customer's message twice (order
#: references, amounts) and the grounding check reads the reply, and questions and grounded replies repeat.
_CACHED_CHARS = 4000


@functools.lru_cache(maxsize=2048)
def _extract_cached(text: str, shapes: OrderShapes | None) -> tuple[Fact, ...]:
    return _extract(text, shapes)


def _extract(text: str, shapes: OrderShapes | None) -> tuple[Fact, ...]:
    found: list[Fact] = []
    taken: list[tuple[int, int]] = []  # spans already read as one fact (an amount is not also a date)

    def add(kind: FactKind, keys: Iterable[str], m_start: int, m_end: int) -> None:
        ks = tuple(dict.fromkeys(keys))
        if ks:
            found.append(Fact(kind, ks, text[m_start:m_end], m_start, m_end))
            taken.append((m_start, m_end))

    upper = text.upper()
    # Tracking numbers first: their digit runs must not be read as amounts or orders.
    for m in _TRACKING_GROUPS.finditer(upper):
        joined = m.group().replace(" ", "")
        if _tracking_ok(joined):
            add("tracking", [joined], m.start(), m.end())
    for m in _TRACKING_WHOLE.finditer(upper):
        if not _overlaps(taken, m.start(), m.end()) and not re.fullmatch(r"\d{4}-?\d{2}-?\d{2}", m.group()):
            add("tracking", [m.group()], m.start(), m.end())
    for m in _AMOUNT.finditer(text):
        raw = m.group("a") or m.group("b") or m.group("c") or ""
        value = _decimal(raw)
        if value is not None and not _overlaps(taken, m.start(), m.end()):
            add("amount", [_amount_key(value)], m.start(), m.end())
    for m in _PERCENT.finditer(text):
        if not _overlaps(taken, m.start(), m.end()):
            add("percent", [_amount_key(Decimal(m.group("n")))], m.start(), m.end())
    for m in _YMD.finditer(text):
        ymd: DateKey = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if _valid(ymd) and not _overlaps(taken, m.start(), m.end()):
            add("date", [_date_key(ymd)], m.start(), m.end())
    for m in _NUMERIC.finditer(text):
        if _overlaps(taken, m.start(), m.end()):
            continue
        a, b, yy = int(m.group(1)), int(m.group(3)), int(m.group(4))
        year = yy + 2000 if yy < 100 else yy
        both: list[DateKey] = [(year, b, a), (year, a, b)]  # day-first, then month-first
        readings = [k for k in both if _valid(k)]
        if readings:
            add("date", [_date_key(k) for k in readings], m.start(), m.end())
    for pattern, order in ((_MDY, "mdy"), (_DMY, "dmy")):
        for m in pattern.finditer(text):
            if _overlaps(taken, m.start(), m.end()):
                continue
            if order == "mdy":
                mon, day, yr = m.group(1), m.group(2), m.group(3)
            else:
                day, mon, yr = m.group(1), m.group(2), m.group(3)
            named: DateKey = (int(yr) if yr else None, _MONTHS[mon.lower().rstrip(".")], int(day))
            if _valid(named):
                add("date", [_date_key(named)], m.start(), m.end())
    for m in _DAY_ONLY.finditer(text):
        if not _overlaps(taken, m.start(), m.end()) and 1 <= int(m.group(1)) <= 31:
            add("date", [_date_key((None, None, int(m.group(1))))], m.start(), m.end())
    shape_re = shapes.regex() if shapes else None
    order_matches = [*_ORDER_CUE.finditer(text), *_HASH_REF.finditer(text)]
    if shape_re is not None:
        order_matches += list(shape_re.finditer(text))
    for m in sorted(order_matches, key=lambda x: x.start()):
        group = "ref" if "ref" in m.re.groupindex else 0
        raw = m.group(group)
        start, end = m.start(group), m.end(group)
        if not any(c.isdigit() for c in raw) or _overlaps(taken, start, end):
            continue
        add("order", [_ref_key(raw)], start, end)
    for s_start, _s_end, sentence in sentences(text):
        if not _COMMIT_ACTION.search(sentence):
            continue
        for m in _COMMIT_OBJECT.finditer(sentence):
            kind = commitment_kind(m.group("obj"))
            add("commitment", [kind], s_start + m.start(), s_start + m.end())
    return tuple(sorted(found, key=lambda f: f.start))


# --- evidence -----------------------------------------------------------------------------------------------


class Evidence:
    """What a text may take facts from, by origin: our systems (may be stated) or the customer (may be echoed)."""

    def __init__(
        self, *, system: Iterable[str], customer: Iterable[str] = (), shapes: OrderShapes | None = None
    ) -> None:
        self.shapes = shapes
        self._by_origin: dict[Origin, _Index] = {
            "system": _index("\n".join(t for t in system if t), shapes),
            "customer": _index("\n".join(t for t in customer if t), shapes),
        }

    @property
    def system_text(self) -> str:
        """All system evidence as one text."""
        return self._by_origin["system"].text

    def origin(self, fact: Fact) -> Origin | None:
        """Where the fact is supported: our systems first, else the customer's own words, else nowhere."""
        origins: tuple[Origin, ...] = ("system", "customer")
        for origin in origins:
            if self._by_origin[origin].supports(fact):
                return origin
        return None


@functools.lru_cache(maxsize=512)
def _index(text: str, shapes: OrderShapes | None) -> _Index:
    # Read-only once built: the same evidence is checked sentence after sentence of a streamed reply, and the
    # context and passages of a customer's consecutive turns repeat.
    return _Index(text, shapes)


class _Index:
    def __init__(self, text: str, shapes: OrderShapes | None) -> None:
        self.text = text
        upper = text.upper()
        self.squeezed = re.sub(r"[\s-]", "", upper)
        self.tokens = {_ref_key(t) for t in re.findall(r"#?[A-Z0-9][A-Z0-9-]*", upper)}
        self.tokens |= {p for t in list(self.tokens) for p in t.split("-")}
        facts = extract_facts(text, shapes=shapes)
        self.amounts = {Decimal(f.key) for f in facts if f.kind == "amount"}
        # Our systems write money as "46.00 USD" or "@ 23.00": any two-decimal number is an amount there.
        for m in _TWO_DECIMALS.finditer(text):
            value = _decimal(m.group())
            if value is not None:
                self.amounts.add(value)
        self.percents = {Decimal(f.key) for f in facts if f.kind == "percent"}
        self.dates = [parse_date_key(k) for f in facts if f.kind == "date" for k in f.keys]
        self.lower = text.lower()

    def supports(self, fact: Fact) -> bool:
        if fact.kind == "order":
            return fact.key in self.tokens
        if fact.kind == "tracking":
            return fact.key in self.squeezed
        if fact.kind == "amount":
            return Decimal(fact.key) in self.amounts
        if fact.kind == "percent":
            return Decimal(fact.key) in self.percents
        if fact.kind == "date":
            return any(date_matches(parse_date_key(k), self.dates) for k in fact.keys)
        if fact.kind == "commitment":
            stem = {"replacement": "replace", "compensation": "compensat"}.get(fact.key, fact.key)
            return stem in self.lower
        return False
