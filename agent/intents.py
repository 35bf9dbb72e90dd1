"""Reading a customer message: intent, signals for escalation (frustration, legal, security), facts it names
(order numbers, amounts), text that tries to give the assistant orders, and lead details.

Plain regular expressions: fast, predictable, and testable; the LLM (when configured) does the nuanced work,
these decide routing, privacy topics and escalation whatever the model says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from difflib import SequenceMatcher

from agent.facts import OrderShapes, extract_facts


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


# Checked in order; the first match wins (a human request beats everything, cancellation beats billing).
_INTENTS: list[tuple[str, re.Pattern[str]]] = [
    (
        "human_request",
        _rx(
            r"\b(talk|speak|chat)\s+(to|with)\s+(a\s+|an\s+|some\s*one|somebody|your\s+)?(human|person|people|agent|"
            r"representative|rep|someone|somebody|real|manager|staff|team)",
            r"\b(real|actual|live)\s+(person|human|agent)\b",
            r"\bhuman\s+(agent|being|please)\b",
            r"\b(want|need|get)\s+(me\s+)?(a|an)\s+(human|person|agent|representative)\b",
            r"\btransfer me\b",
            r"\bcall me\b",
        ),
    ),
    # A message about "my ticket" asks for the ticket's status, whatever the ticket is about ("my ticket about
    # the trial charge", "my cancellation ticket").
    ("ticket_status", _rx(r"\btickets?\b", r"\bmy (support )?(request|case)\b")),
    ("cancellation", _rx(r"\bcancel", r"\bunsubscribe\b", r"\bstop (my|the) (subscription|plan|membership)\b")),
    (
        "returns_refunds",
        _rx(
            r"\brefund",
            r"\breturn(s|ing)?\b",
            r"\bmoney back\b",
            r"\bdamaged\b",
            r"\bdented\b",
            r"\bbroken\b",
            r"\bwrong item",
            r"\bexchange\b",
        ),
    ),
    (
        "order_status",
        _rx(
            r"\bwhere(?:'s| is| are)\b.*\b(order|package|parcel|delivery|tea|kettle|stuff)",
            r"\btrack(ing)?\b",
            r"\bshipp?(ed|ing|ment)\b",
            r"\bdeliver(y|ed)?\b",
            r"\barriv(e|ed|al)\b",
            r"\border\s*#?\s*\d{3,}",
            # "status of order #W2378156", "order RO-4K7Q2": order ids of letters and digits
            r"\border\s*(number|no\.?|id)?\s*#?\s*[a-z]{1,4}-?[a-z0-9]*\d[a-z0-9]*\b",
            r"\bstatus\b[^.?!]{0,40}\b(order|purchase)s?\b",
            r"\bmy order\b",
            # "when did I place my last order", "my most recent order", "what did I order"
            r"\b(last|latest|recent|previous|newest|first)\s+(orders?|purchases?)\b",
            r"\b(placed|made)\s+(my|an|the|that|this|a)?\s*(\w+\s+)?(orders?|purchases?)\b",
            r"\bdid i (place|make)\b.*\b(orders?|purchases?)\b",
            r"\bdid i (order|buy|purchase)\b",
            # "my box is late again", "the order still hasn't arrived"
            r"\b(box|order|package|parcel|delivery|shipment)\b[^.?!]{0,30}\b(late|delayed|missing|lost|"
            r"(hasn'?t|has not|didn'?t|did not|never) (come|came|arrived?|shown up|turned up))\b",
            r"\bpackage\b",
            r"\bparcel\b",
        ),
    ),
    (
        "billing",
        _rx(
            r"\bpayment",
            r"\bcard\b",
            r"\bcharge[ds]?\b",
            r"\binvoice",
            r"\bbill(ing|ed)?\b",
            r"\bpast due\b",
            r"\breceipt",
            r"\bpay\b",
        ),
    ),
    (
        "account_access",
        _rx(
            r"\blog ?in\b",
            r"\bsign ?in\b",
            r"\bpassword\b",
            r"\blocked\b",
            r"\bmagic link\b",
            r"\baccess my\b",
            r"\bauth-\d+",
            r"\bcan'?t (get|log) in",
        ),
    ),
    ("ticket_status", _rx(r"#?\b200\d\d\b")),
    (
        "plan_renewal",
        _rx(
            r"\brenew",
            r"\bplan\b",
            r"\bupgrade",
            r"\bdowngrade",
            r"\btrial\b",
            r"\bsubscription\b",
            r"\bmembership\b",
            # "am I still a Plus member?", "am I subscribed?"
            r"\b(member|subscriber)\b",
            r"\bsubscribed\b",
        ),
    ),
    (
        "sales",
        _rx(
            r"\bwholesale\b",
            r"\bbulk\b",
            r"\bquote\b",
            r"\bpricing\b",
            r"\bfor (my|our) (cafe|café|shop|"
            r"business|restaurant|office|tea room)",
            r"\bbusiness account\b",
            r"\bdemo\b",
        ),
    ),
]

# Small talk: a message made only of greetings, thanks, sign-offs and filler words ("hi there", "thanks,
# that's all") gets a short friendly reply, not a search and an escalation. Anything else in the message
# ("hi, where is my order?") makes it a real question.
SMALL_TALK_INTENTS = frozenset({"greeting", "thanks"})
_HELLO = _rx(
    r"\b(hi|hii+|hello|hey|heya|hiya|howdy|greetings|yo)\b",
    r"\bgood (morning|afternoon|evening|day)\b",
)
_THANKS = _rx(
    r"\bthanks?\b",
    r"\bthank you\b",
    r"\bthx\b",
    r"\bty\b",
    r"\bcheers\b",
    r"\b(much )?appreciated?\b",
    r"\bappreciate (it|that|the help|your help)\b",
    r"\b(good)?bye\b",
    r"\bsee you\b",
    r"\bthat'?s (all|it|everything|great|perfect|helpful)\b",
    r"\bthat is (all|it|everything)\b",
    r"\b(that|this) help(s|ed)\b",
    r"\b(nothing|no) (else|more|further( questions)?)\b",
    r"\b(all|sounds) good\b",
    r"\bgot it\b",
    r"\bhave a (good|great|nice) (day|one|evening|weekend)\b",
    r"\byou too\b",
)
_FILLER = frozenset(
    [
        "there",
        "all",
        "everyone",
        "folks",
        "team",
        "so",
        "much",
        "very",
        "a",
        "lot",
        "again",
        "for",
        "your",
        "the",
        "help",
        "ok",
        "okay",
        "great",
        "perfect",
        "awesome",
        "cool",
        "nice",
        "lovely",
        "wonderful",
        "brilliant",
        "yes",
        "yep",
        "no",
        "nope",
        "just",
        "and",
        "oh",
        "well",
        "then",
        "bot",
        "assistant",
        "you",
        "guys",
        "friend",
        "today",
        "now",
        "is",
        "it",
    ]
)


def small_talk(text: str) -> str | None:
    """`greeting` or `thanks` when the message is only small talk, else None."""
    plain = text.lower().replace("\u2019", "'")
    if not (_HELLO.search(plain) or _THANKS.search(plain)):
        return None
    rest = _THANKS.sub(" ", _HELLO.sub(" ", plain))
    if any(w not in _FILLER for w in re.findall(r"[a-z0-9']+", rest)):
        return None
    return "thanks" if _THANKS.search(plain) else "greeting"


# Topic of an intent for the privacy policy (e.g. "delivery" unlocks shipping addresses for the prompt).
TOPIC_OF_INTENT = {"order_status": "delivery", "returns_refunds": "delivery", "billing": "billing"}

_LEGAL = _rx(
    r"\blawyer",
    r"\battorney",
    r"\bsu(e|ing)\b",
    r"\blawsuit",
    r"\bcourt\b",
    r"\blegal action",
    r"\bsmall claims",
    r"\bconsumer protection",
    r"\bregulator",
)
_SECURITY = _rx(
    r"\bhack(ed|er)?\b",
    r"\baccount takeover",
    r"\bsomeone (else )?(logged|got) in",
    r"\bunauthori[sz]ed",
    r"\bfraud",
    r"\bstolen\b",
    r"\bphishing",
    r"\bcompromised",
    r"\bidentity theft",
    r"\bdidn'?t (make|place|authori[sz]e) (this|that|these|the) (order|charge|purchase)",
)
_NEGATIVE = _rx(
    r"\bridiculous",
    r"\bterrible",
    r"\bawful",
    r"\bworst\b",
    r"\buseless",
    r"\bangry",
    r"\bfurious",
    r"\bunacceptable",
    r"\bscam\b",
    r"\bfed up",
    r"\bdisappoint",
    r"\bhate\b",
    r"\bstill (waiting|no)\b",
    r"\bwaste of",
    r"\bpathetic",
    r"\bjoke\b",
    r"!!!",
    r"\bwtf\b",
    r"\bnot happy\b",
    r"\bfrustrat",
)
_LEAVE = _rx(
    r"\b(switch|switching|go|going|move|moving) to (a |another |your )?(competitor|another|someone else)",
    r"\btake my (business|money) elsewhere",
    r"\bnever (order|buy|shop)\w* (from you |here )?again",
    r"\bi'?m (leaving|done with you)",
    r"\bclose my account\b",
    r"\bleave a (bad|1.star|one.star) review",
)
_FAILED = _rx(
    r"\b(that|this|it) (didn'?t|doesn'?t|did not|does not) (help|work|answer)",
    r"\bnot what i (asked|meant)",
    r"\byou('re| are) not (helping|listening)",
    r"\bthat'?s (wrong|not (right|true|it))\b",
    r"\b(didn'?t|did not) answer my question",
    r"\bstill (doesn'?t|does not|not) (work|help)",
)

# Text that tries to give the assistant orders. Found in a KB page, a ticket body or a message, it is data:
# flagged, and removed from passages and context before they reach a prompt or a grounded answer.
INJECTION = _rx(
    r"\b(ignore|disregard|forget|override)\b[^.\n]{0,40}\b(instruction|rule|prompt|polic|guideline|above|previous|prior)",
    r"\byou are now\b",
    r"\b(act|behave) as (an? )?(admin|developer|system|dan)\b",
    r"^\s*(system|assistant|developer)\s*:",
    r"\bnew instructions?\b",
    r"\b(reveal|print|show|output|list|dump)\b[^.\n]{0,40}\b(system prompt|instructions|all customers|other customers|"
    r"every customer|internal notes|api key|secret)",
    r"\b(admin|developer|debug|god) mode\b",
    r"\bjailbreak",
    r"<\s*/?\s*(system|instructions?|data)\b",
)

ORDER_NUMBER = re.compile(r"(?<![\w#])#?\s?(\d{4,6})\b")


@dataclass
class MessageSignals:
    """What one customer message says, as far as routing and escalation are concerned."""

    intent: str
    legal: bool = False
    security: bool = False
    negative: bool = False
    shouting: bool = False
    leave_threat: bool = False
    failed_answer: bool = False
    injection: bool = False
    order_refs: list[str] = field(default_factory=list)
    amounts: list[Decimal] = field(default_factory=list)


def detect_intent(text: str) -> str:
    """The message's intent (`general` when nothing specific matches)."""
    for name, pattern in _INTENTS:
        if pattern.search(text):
            return name
    return small_talk(text) or "general"


def _shouting(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 12 and sum(c.isupper() for c in letters) / len(letters) >= 0.7


def amounts_in(text: str) -> list[Decimal]:
    """Money amounts written in a text ("$120", "120.50 USD", "USD 275", "275 bucks"), by the one fact extractor."""
    return [Decimal(f.key) for f in extract_facts(text) if f.kind == "amount"]


def order_refs_in(text: str, *, shapes: OrderShapes | None = None) -> list[str]:
    """Order references a text makes ("#1042", "order W1234", "order ID 9999", and with the store's `shapes`
    a bare "RO-4K7Q2"), normalized as '#KEY'."""
    return list(dict.fromkeys(f"#{f.key}" for f in extract_facts(text, shapes=shapes) if f.kind == "order"))


def read_message(text: str) -> MessageSignals:
    """All signals of one customer message."""
    refs = order_refs_in(text)
    intent = detect_intent(text)
    if intent == "general" and refs:
        intent = "order_status"  # "W2378156 — any news?" names an order: it is an order question
    return MessageSignals(
        intent=intent,
        legal=bool(_LEGAL.search(text)),
        security=bool(_SECURITY.search(text)),
        negative=bool(_NEGATIVE.search(text)),
        shouting=_shouting(text),
        leave_threat=bool(_LEAVE.search(text)),
        failed_answer=bool(_FAILED.search(text)),
        injection=bool(INJECTION.search(text)),
        order_refs=refs,
        amounts=amounts_in(text),
    )


def similar(a: str, b: str, *, at_least: float) -> bool:
    """Whether two messages are at least `at_least` alike (0..1), ignoring case, punctuation and spacing."""
    na, nb = (" ".join(re.findall(r"[a-z0-9]+", s.lower())) for s in (a, b))
    if not na or not nb:
        return False
    matcher = SequenceMatcher(None, na, nb)
    # Both quick ratios are upper bounds of ratio(): most pairs of different questions stop there, without
    # the matching-block search that is most of a turn's escalation cost.
    return matcher.real_quick_ratio() >= at_least and matcher.quick_ratio() >= at_least and matcher.ratio() >= at_least


_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def strip_injections(text: str) -> tuple[str, int]:
    """The text without its sentences that try to instruct the assistant, and how many were removed."""
    if not INJECTION.search(text):
        return text, 0
    kept, removed = [], 0
    for sentence in _SENTENCE.split(text):
        if INJECTION.search(sentence):
            removed += 1
        else:
            kept.append(sentence)
    return " ".join(kept).strip(), removed


# --- lead qualification -------------------------------------------------------------------------------------

_NAME = re.compile(r"\b(?i:my name is|this is|i am|i'm|im)\s+([A-Z][a-zA-Z'\-]+(?:\s+[A-Z][a-zA-Z'\-]+)?)(?=$|[\s,.!])")
_COMPANY = re.compile(
    r"\b(?:(?i:i work (?:at|for))|(?:from|at|with|for|own|run|manage)\s+(?:the\s+)?(?=[A-Z])|"
    r"(?i:company is|company:|business is|we are|we're))\s*([A-Z][\w&'\-]*(?:\s+[A-Z][\w&'\-]*){0,4})"
)
_NOT_NAMES = {"Looking", "Interested", "Trying", "Just", "Not", "Here", "Wondering", "Hoping", "A", "The", "Fine"}


def lead_details(text: str) -> dict[str, str]:
    """Name, company and need a prospective customer typed (only what is clearly stated)."""
    found: dict[str, str] = {}
    name = _NAME.search(text)
    if name and name.group(1).split()[0] not in _NOT_NAMES:
        found["name"] = name.group(1).strip()
    company = _COMPANY.search(text)
    if company and company.group(1) != found.get("name"):
        value = company.group(1).strip()
        if value.split()[0] not in _NOT_NAMES and "@" not in value:
            found["company"] = value
    if detect_intent(text) == "sales" or re.search(r"\b(need|looking for|interested in|want)\b", text, re.I):
        found["need"] = " ".join(text.split())[:200]
    return found
