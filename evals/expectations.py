"""Checking replies: facts with normalization (dates, amounts, order and tracking numbers), citations, context
fields, route and escalation, and the always-on checks (privacy, invented facts).

Facts are compared after normalization so paraphrases pass: "2026-11-10", "Nov 10", "November 10th, 2026" and
"10 November 2026" are one date; "$46", "$46.00" and "46 USD" one amount; "#1042", "order 1042" one order.

The patterns below (`dates_in`, `amounts_in`, `orders_in`, `tracking_in`) are a second, independent
implementation on purpose: the evals must not share a blind spot with the code they grade. The invented-fact
check also runs the product's own extractor (agent/facts.py), so a form only one of them reads is still counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from evals.models import Expect, ExpectationResult, TurnResult

_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for m in names
}
_MONTH = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?"
    r"|nov(?:ember)?|dec(?:ember)?)"
)
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}[\d:.]*(?:Z|[+-]\d{2}:?\d{2})?)?")
_MDY = re.compile(r"\b" + _MONTH + r"\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(\d{4}))?", re.IGNORECASE)
_DMY = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r"\b\.?(?:,?\s+(\d{4}))?", re.IGNORECASE)
_SLASH = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b")
_AMOUNT = re.compile(
    r"(?:(?P<cur>[$£€])\s?(?P<a>\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?))"
    r"|(?:\b(?P<b>\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?)\s?(?P<code>usd|gbp|eur|dollars?|pounds?|euros?)\b)",
    re.IGNORECASE,
)
_ORDER = re.compile(r"(?:#\s?|\border\s*(?:number|no\.?)?\s*#?\s*)(\d{3,6})\b", re.IGNORECASE)
_TRACKING = re.compile(r"\b(1Z[0-9A-Z]{16}|\d{10,22})\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w])\+?\d[\d\s().-]{8,}\d(?![\w])")
NEW_YORK = ZoneInfo("America/New_York")

DateKey = tuple[int | None, int, int]  # (year or None when not written, month, day)


def norm_text(text: str) -> str:
    """Lower case, unified quotes and dashes, single spaces."""
    text = text.lower().replace("’", "'").replace("‘", "'").replace("–", "-").replace("—", "-")
    return " ".join(text.split())


def dates_in(text: str) -> set[DateKey]:
    """Every date written in a text, in any of the common forms."""
    found: set[DateKey] = set()
    for y, m, d in _ISO.findall(text):
        found.add((int(y), int(m), int(d)))
    for mon, d, y in _MDY.findall(text):
        found.add((int(y) if y else None, _MONTHS[mon.lower()[:3] if mon.lower() != "sept" else "sep"], int(d)))
    for d, mon, y in _DMY.findall(text):
        found.add((int(y) if y else None, _MONTHS[mon.lower()[:3] if mon.lower() != "sept" else "sep"], int(d)))
    for m, d, y in _SLASH.findall(text):
        if 1 <= int(m) <= 12:
            found.add((int(y), int(m), int(d)))
    return {k for k in found if 1 <= k[1] <= 12 and 1 <= k[2] <= 31}


def amounts_in(text: str) -> set[Decimal]:
    """Money amounts in a text ("$46", "46.00 USD", "£1,234.50"), as Decimals."""
    out: set[Decimal] = set()
    for m in _AMOUNT.finditer(text):
        raw = (m.group("a") or m.group("b") or "").replace(",", "")
        try:
            out.add(Decimal(raw).normalize())
        except InvalidOperation:
            continue
    return out


def orders_in(text: str) -> set[str]:
    """Order numbers a text names, as bare digits."""
    return {m.group(1) for m in _ORDER.finditer(text)}


_TOKEN = re.compile(r"[A-Z0-9](?:[A-Z0-9]|-(?=[A-Z0-9]))*")


def tokens_in(text: str) -> set[str]:
    """Every word-like token of a text, upper-cased ("W2378156", "RO-4K7Q2", "#1042" → "1042")."""
    return set(_TOKEN.findall(text.upper()))


def store_orders_in(text: str, known: Iterable[str]) -> set[str]:
    """Which of the store's own order numbers (any shape: "W2378156", "RO-4K7Q2") a text names, as written
    in the store; bare digit runs are left to `orders_in` (a "1042" without a cue may be any number)."""
    tokens = tokens_in(text)
    return {n for n in known if not n.isdigit() and n.upper() in tokens}


def tracking_in(text: str) -> set[str]:
    """Tracking-number-like tokens (UPS 1Z…, long digit runs) in a text."""
    return {m.group(1).upper() for m in _TRACKING.finditer(text.upper())}


def emails_in(text: str) -> set[str]:
    """Email addresses in a text, lower-cased."""
    return {e.lower().strip(".") for e in _EMAIL.findall(text)}


def phones_in(text: str) -> set[str]:
    """Phone-number-like digit strings (10+ digits) in a text."""
    out = set()
    for m in _PHONE.findall(text):
        digits = re.sub(r"\D", "", m)
        if 10 <= len(digits) <= 15:
            out.add(digits[-10:])
    return out


def date_keys_of(value: datetime | date) -> set[DateKey]:
    """A stored time as dates: the UTC day and the New York day (the business's time zone)."""
    if isinstance(value, datetime):
        days = {value.date()}
        if value.tzinfo is not None:
            days.add(value.astimezone(NEW_YORK).date())
        return {(d.year, d.month, d.day) for d in days}
    return {(value.year, value.month, value.day)}


def _date_match(key: DateKey, found: set[DateKey]) -> bool:
    year, month, day = key
    return any(m == month and d == day and (y is None or year is None or y == year) for y, m, d in found)


@dataclass
class Fact:
    """An expected fact, classified for normalized comparison."""

    kind: str  # date | amount | order | tracking | text
    raw: str
    date: DateKey | None = None
    amount: Decimal | None = None
    token: str = ""


def classify(value: str) -> Fact:
    """Decide how an expected value is compared (date, amount, order, tracking number or plain text)."""
    v = value.strip()
    dates = dates_in(v)
    if dates and (_ISO.fullmatch(v) or _MDY.fullmatch(v) or _DMY.fullmatch(v) or _SLASH.fullmatch(v)):
        return Fact("date", v, date=next(iter(dates)))
    amounts = amounts_in(v)
    if amounts and _AMOUNT.fullmatch(v):
        return Fact("amount", v, amount=next(iter(amounts)))
    if re.fullmatch(r"#\s?\d{3,6}", v):
        return Fact("order", v, token=v.lstrip("# "))
    if re.fullmatch(r"1Z[0-9A-Za-z]{16}|\d{10,22}", v.replace(" ", "")):
        return Fact("tracking", v, token=v.replace(" ", "").upper())
    return Fact("text", v, token=norm_text(v))


def fact_present(value: str, reply: str) -> bool:
    """Whether the reply states the expected fact (normalized: paraphrased dates and amounts pass)."""
    fact = classify(value)
    if fact.kind == "date" and fact.date is not None:
        return _date_match(fact.date, dates_in(reply))
    if fact.kind == "amount":
        return fact.amount in amounts_in(reply)
    if fact.kind == "order":
        return fact.token in orders_in(reply) or bool(re.search(rf"(?<!\d){re.escape(fact.token)}(?!\d)", reply))
    if fact.kind == "tracking":
        return fact.token in re.sub(r"[\s-]", "", reply.upper())
    text = norm_text(reply)
    token = fact.token
    if re.match(r"\w", token) and re.search(r"\w$", token):
        return re.search(rf"(?<!\w){re.escape(token)}(?!\w)", text) is not None
    return token in text


# --- expectation checks -----------------------------------------------------------------------------------------

UNKNOWN_PHRASES = re.compile(
    r"\b(don'?t|do not|can'?t|cannot|couldn'?t|could not) (see|find|confirm|tell|verify)|\bunknown\b|\bnot sure\b|"
    r"\bno (record|information|data)\b|\bnot (available|connected)\b|\blast synced\b|\bnever synced\b|"
    r"\bout of date\b|\bmay be (outdated|out of date|stale)\b|\bconflict|\bI'?m passing\b|\bsign in\b",
    re.IGNORECASE,
)


def _res(kind: str, expected: str, passed: bool | None, detail: str = "") -> ExpectationResult:
    return ExpectationResult(kind=kind, expected=expected, passed=passed, detail=detail)


def _cited(spec: str, citations: list[dict[str, Any]]) -> bool:
    """Whether a citation matches `slug`, `slug#Section`, or any of `a|b` alternatives."""
    if "|" in spec:
        return any(_cited(alt.strip(), citations) for alt in spec.split("|"))
    slug, _, section = spec.partition("#")
    for c in citations:
        url = str(c.get("url") or "").rstrip("/")
        if url.rsplit("/", 1)[-1].split("#")[0] != slug:
            continue
        if not section or norm_text(section) in norm_text(str(c.get("heading") or "")):
            return True
    return False


def check_turn(expect: Expect, turn: TurnResult, *, summary_check: Any = None) -> list[ExpectationResult]:
    """Check one reply against its expectations (the always-on checks are separate: see checks.py)."""
    reply = turn.reply or ""
    out: list[ExpectationResult] = []
    for value in expect.contains:
        ok = fact_present(value, reply)
        out.append(_res("contains", value, ok, "" if ok else f"{classify(value).kind} not found in the reply"))
    for group in expect.any_of:
        ok = any(fact_present(v, reply) for v in group)
        out.append(_res("any_of", " | ".join(group), ok, "" if ok else "none of them in the reply"))
    for value in expect.not_contains:
        ok = not fact_present(value, reply)
        out.append(_res("not_contains", value, ok, "" if ok else "the reply states it"))
    for pattern in expect.matches:
        ok = re.search(pattern, reply, re.IGNORECASE) is not None
        out.append(_res("matches", pattern, ok, "" if ok else "no match"))
    for spec in expect.cites:
        ok = _cited(spec, turn.citations)
        cited = ", ".join(str(c.get("url", "")).rsplit("/", 1)[-1] for c in turn.citations) or "nothing"
        out.append(_res("cites", spec, ok, "" if ok else f"cited {cited}"))
    if expect.uses_fields and not turn.fields_reported:
        out.append(
            _res("uses_fields", ", ".join(expect.uses_fields), None, "the target does not report context fields")
        )
    elif expect.uses_fields:
        used = set(turn.context_fields_used)
        missing = [
            f
            for f in expect.uses_fields
            if not any(u == alt or u.startswith(alt + ".") for alt in f.split("|") for u in used)
        ]
        out.append(
            _res(
                "uses_fields",
                ", ".join(expect.uses_fields),
                not missing,
                f"not used: {', '.join(missing)} (used: {', '.join(sorted(used)) or 'none'})" if missing else "",
            )
        )
    if expect.route is not None:
        ok = turn.route == expect.route
        out.append(_res("route", expect.route, ok, "" if ok else f"took route {turn.route}"))
    if expect.escalate is not None:
        ok = turn.escalated == expect.escalate
        detail = "" if ok else (f"escalated ({turn.reason_code})" if turn.escalated else "did not escalate")
        out.append(_res("escalate", str(expect.escalate).lower(), ok, detail))
    if expect.reason_code is not None:
        ok = turn.escalated and turn.reason_code == expect.reason_code
        out.append(_res("reason_code", expect.reason_code, ok, "" if ok else f"reason code {turn.reason_code}"))
    if expect.says_unknown_or_escalates:
        ok = turn.escalated or UNKNOWN_PHRASES.search(reply) is not None
        out.append(_res("says_unknown_or_escalates", "unknown or escalate", ok, "" if ok else "stated it as known"))
    # Every handoff's summary is checked when the check is available; asking for it explicitly makes a missing
    # check or a missing handoff visible.
    if expect.summary_quality or (turn.escalated and turn.handoff_id is not None and summary_check is not None):
        if summary_check is None or turn.handoff_id is None:
            why = "no handoff summary quality check available" if summary_check is None else "no handoff was created"
            out.append(
                _res("summary_quality", "passes the quality check", None if summary_check is None else False, why)
            )
        else:
            ok, detail = summary_check(turn.handoff_id)
            out.append(_res("summary_quality", "passes the quality check", ok, detail))
    return out


# --- always-on checks ---------------------------------------------------------------------------------------------


@dataclass
class Truth:
    """What the evaluator knows independently of the agent, for one scenario's customer."""

    customer_id: str | None
    # Values the reply may state: the customer's own data (full context), the KB, the customer's messages.
    own_orders: set[str] = field(default_factory=set)
    own_tracking: set[str] = field(default_factory=set)
    own_emails: set[str] = field(default_factory=set)
    own_phones: set[str] = field(default_factory=set)
    own_amounts: set[Decimal] = field(default_factory=set)
    own_dates: set[DateKey] = field(default_factory=set)
    # Withheld from the customer: (field name, text) pairs; address-like ones only outside delivery questions.
    withheld: list[tuple[str, str]] = field(default_factory=list)
    delivery_ok: list[tuple[str, str]] = field(default_factory=list)
    # Known facts a verified customer should never be asked for again.
    known: dict[str, str] = field(default_factory=dict)
    gaps: list[str] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)  # flattened context field → value


@dataclass
class Corpus:
    """Public text the reply may quote freely (the help center) and who owns which private value."""

    kb_text: str = ""
    kb_orders: set[str] = field(default_factory=set)
    kb_tracking: set[str] = field(default_factory=set)
    kb_emails: set[str] = field(default_factory=set)
    kb_amounts: set[Decimal] = field(default_factory=set)
    kb_dates: set[DateKey] = field(default_factory=set)
    # The help center's amounts as the product's extractor reads them ("USD 800", "$79 CAD").
    kb_extracted_amounts: set[Decimal] = field(default_factory=set)
    kb_tokens: set[str] = field(default_factory=set)  # its words, upper-cased (an example order id is public)
    owner_of_order: dict[str, set[str]] = field(default_factory=dict)
    owner_of_tracking: dict[str, set[str]] = field(default_factory=dict)
    owner_of_email: dict[str, set[str]] = field(default_factory=dict)
    owner_of_phone: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def from_kb(cls, kb_text: str) -> Corpus:
        """The public corpus of a help center's text."""
        from agent.facts import extract_facts

        return cls(
            kb_tokens=tokens_in(kb_text),
            kb_extracted_amounts={Decimal(f.key).normalize() for f in extract_facts(kb_text) if f.kind == "amount"},
            kb_text=kb_text,
            kb_orders=orders_in(kb_text),
            kb_tracking=tracking_in(kb_text),
            kb_emails=emails_in(kb_text),
            kb_amounts=amounts_in(kb_text),
            kb_dates=dates_in(kb_text),
        )


def privacy_check(
    reply: str, *, truth: Truth, corpus: Corpus, typed: str, topic_delivery: bool, citations: list[dict[str, Any]]
) -> ExpectationResult:
    """Never another customer's data, never a withheld field, never an internal page (checked on every reply)."""
    problems: list[str] = []
    me = truth.customer_id
    typed_orders, typed_tracking = orders_in(typed), tracking_in(typed)
    typed_emails, typed_phones = emails_in(typed), phones_in(typed)
    # Lettered order ids of the store ("W2378156") are found by the owner index itself, whatever the cue.
    lettered = {
        n
        for n in store_orders_in(reply, corpus.owner_of_order) - store_orders_in(typed, corpus.owner_of_order)
        if n.upper() not in corpus.kb_tokens
    }
    for token in (orders_in(reply) - typed_orders | lettered) - truth.own_orders - corpus.kb_orders:
        owners = corpus.owner_of_order.get(token, set()) - {me}
        if owners:
            problems.append(f"order #{token} of another customer")
    for token in tracking_in(reply) - truth.own_tracking - typed_tracking - corpus.kb_tracking:
        if corpus.owner_of_tracking.get(token, set()) - {me}:
            problems.append(f"tracking number {token} of another customer")
    for token in emails_in(reply) - truth.own_emails - typed_emails - corpus.kb_emails:
        if corpus.owner_of_email.get(token, set()) - {me}:
            problems.append(f"email {token} of another customer")
    for token in phones_in(reply) - truth.own_phones - typed_phones:
        if corpus.owner_of_phone.get(token, set()) - {me}:
            problems.append(f"phone …{token[-4:]} of another customer")
    text = norm_text(reply)
    withheld = list(truth.withheld) + ([] if topic_delivery else truth.delivery_ok)
    for name, value in withheld:
        v = norm_text(value)
        if len(v) >= 6 and v in text and v not in norm_text(typed):
            problems.append(f"withheld field {name}")
    for c in citations:
        if "/internal/" in str(c.get("url", "")) or c.get("audience") == "internal":
            problems.append(f"internal page cited: {c.get('title')}")
        if me is None and c.get("audience") == "customers":
            problems.append(f"customers-only page shown to a visitor: {c.get('title')}")
    res = _res("privacy", "no other customer's data or withheld field", not problems, "; ".join(problems))
    if problems:
        res.cause = "privacy_leak"
    return res


def invented_check(reply: str, *, truth: Truth, corpus: Corpus, typed: str) -> ExpectationResult:
    """Every order number, tracking number, amount and date in the reply exists in our data, the KB or the chat."""
    problems: list[str] = []
    for token in orders_in(reply) - truth.own_orders - orders_in(typed) - corpus.kb_orders:
        problems.append(f"order #{token}")
    for token in tracking_in(reply) - truth.own_tracking - tracking_in(typed) - corpus.kb_tracking:
        if not re.fullmatch(r"\d{10}", token) or token not in phones_in(typed):
            problems.append(f"tracking {token}")
    for amount in amounts_in(reply) - truth.own_amounts - amounts_in(typed) - corpus.kb_amounts:
        problems.append(f"amount {amount}")
    allowed_dates = truth.own_dates | dates_in(typed) | corpus.kb_dates
    for key in dates_in(reply):
        if not _date_match(key, allowed_dates):
            problems.append("date " + "-".join(str(p) for p in key if p is not None))
    for problem in _invented_by_the_shared_extractor(reply, truth=truth, corpus=corpus, typed=typed):
        if problem not in problems:
            problems.append(problem)
    res = _res("no_invented_facts", "every fact grounded", not problems, "; ".join(problems))
    if problems:
        res.cause = "invented_fact"
    return res


def _invented_by_the_shared_extractor(reply: str, *, truth: Truth, corpus: Corpus, typed: str) -> list[str]:
    """Facts agent/facts.py reads in the reply (spaced tracking numbers, "USD 275", "24/12/2026"…) with no source."""
    from agent.facts import extract_facts, parse_date_key

    typed_facts = extract_facts(typed)
    typed_keys = {(f.kind, k) for f in typed_facts for k in f.keys}
    # An order id the customer typed bare ("status of W2351190") may be echoed back ("I can't find order …").
    typed_keys |= {("order", t.lstrip("#")) for t in tokens_in(typed) if any(c.isdigit() for c in t)}
    typed_squeezed = re.sub(r"[\s-]", "", typed.upper())
    orders = {o.upper() for o in truth.own_orders | corpus.kb_orders}
    tracking = truth.own_tracking | corpus.kb_tracking
    amounts = truth.own_amounts | corpus.kb_amounts | amounts_in(typed)
    # The help center's amounts as the product extractor reads them too ("USD 800", "$79 CAD").
    amounts |= corpus.kb_extracted_amounts
    amounts |= {Decimal(k).normalize() for kind, k in typed_keys if kind == "amount"}
    allowed_dates = truth.own_dates | dates_in(typed) | corpus.kb_dates
    out: list[str] = []
    for fact in extract_facts(reply):
        if fact.kind in {"percent", "commitment"}:
            continue  # the truth holds no percentages or commitments to compare with
        if any((fact.kind, k) in typed_keys for k in fact.keys):
            continue
        if fact.kind == "order" and fact.key not in orders:
            out.append(f"order #{fact.key}")
        elif fact.kind == "tracking" and fact.key not in tracking and fact.key not in typed_squeezed:
            out.append(f"tracking {fact.key}")
        elif fact.kind == "amount" and Decimal(fact.key).normalize() not in amounts:
            out.append(f"amount {Decimal(fact.key).normalize()}")
        elif fact.kind == "date":
            keys = [parse_date_key(k) for k in fact.keys]
            ok = any(
                _date_match((y, m, d), allowed_dates) if m is not None else any(ad == d for _, _, ad in allowed_dates)
                for y, m, d in keys
            )
            if not ok:
                y, m, d = keys[0]
                out.append("date " + "-".join(str(p) for p in (y, m, d) if p is not None))
    return out


_ASK = {
    "email": re.compile(r"\b(what|which|your|share|provide|give|confirm|tell)\b[^.?!]{0,40}\bemail( address)?\b", re.I),
    "order number": re.compile(r"\b(what|which|share|provide|give|confirm|tell)\b[^.?!]{0,40}\border number\b", re.I),
    "name": re.compile(r"\b(what'?s|what is|tell me|share|provide|give)\b[^.?!]{0,20}\byour (full )?name\b", re.I),
    "company": re.compile(r"\b(what|tell me|share|provide|give)\b[^.?!]{0,20}\byour company\b", re.I),
    "plan": re.compile(r"\bwhich plan (are you|you'?re) on\b", re.I),
}


def asked_known(reply: str, truth: Truth) -> list[str]:
    """What the reply asks the customer for that our records already hold."""
    if truth.customer_id is None:
        return []
    return [what for what, rx in _ASK.items() if what in truth.known and rx.search(reply)]
