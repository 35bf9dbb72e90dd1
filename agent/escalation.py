"""Escalation decisions: when a person should take over, with a reason code from a fixed list and free text.

Every rule lives here: checked before the responder runs (`decide_before`: the customer asked for a person,
frustration, loops, sensitive topics, route rules), after it (`decide_after`: no grounded answer, conflicting
records, the model asked for a person), then the lead rules of a sales route (`qualify_lead`: ask for the
details sales needs, hand off once they are all there) and the words the customer is told (`handoff_text`).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.config import EscalationConfig, RouteConfig
from agent.intents import SMALL_TALK_INTENTS, read_message, similar
from agent.models import REASON_CODES, EscalationTrigger
from agent.turn import TurnInput


@dataclass(frozen=True)
class Decision:
    """Escalate or not, why (a reason code of REASON_CODES, the exact trigger) and in words."""

    escalate: bool
    reason_code: str | None = None
    reason: str | None = None
    trigger: EscalationTrigger | None = None


NO = Decision(False)


def _high_value(turn: TurnInput, config: EscalationConfig) -> bool:
    ctx = turn.context
    if ctx is None or ctx.status.status != "active":
        return False
    ltv = ctx.status.lifetime_value
    plan = (ctx.status.plan or "").lower()
    return (ltv is not None and ltv >= config.high_value.lifetime_value_at_least) or plan in {
        p.lower() for p in config.high_value.plans
    }


def _refund_amount(turn: TurnInput) -> tuple[float, str] | None:
    """The amount a refund request is about: one the customer wrote, or the total of the order they named."""
    if turn.signals.amounts:
        return float(max(turn.signals.amounts)), "amount in the message"
    if turn.context is not None:
        for ref in turn.signals.order_refs:
            for order in turn.context.orders.recent:
                same = order.number and order.number.lstrip("#").upper() == ref.lstrip("#").upper()
                if same and order.total is not None:
                    return float(order.total), f"total of order {order.number}"
    return None


def decide_before(turn: TurnInput, config: EscalationConfig) -> Decision:
    """Triggers that need no answer attempt: a request for a person, frustration, loops, sensitive topics, rules."""
    s = turn.signals
    if s.intent == "human_request":
        return Decision(True, "customer_request", "the customer asked to talk to a person", "customer_asked")
    if s.legal:
        return Decision(True, "sensitive_topic", "legal threat or legal question", "legal")
    if s.security:
        return Decision(True, "sensitive_topic", "possible security issue or account takeover", "security")
    if s.intent == "returns_refunds":
        refund = _refund_amount(turn)
        if refund is not None and refund[0] > float(config.refund_amount_over):
            return Decision(
                True,
                "sensitive_topic",
                f"refund of {refund[0]:.2f} ({refund[1]}) is over the {config.refund_amount_over} limit",
                "refund_over_limit",
            )
    if s.intent == "cancellation" and _high_value(turn, config):
        return Decision(
            True,
            "sensitive_topic",
            "cancellation request from a high-value active customer",
            "high_value_cancellation",
        )
    if s.shouting:
        return Decision(True, "frustration", "the customer is shouting (mostly capital letters)", "shouting")
    if s.leave_threat:
        return Decision(True, "frustration", "the customer threatens to leave", "leave_threat")
    previous = [h.content for h in turn.history if h.role == "customer"]
    if s.negative:
        negatives = 1 + sum(read_message(p).negative for p in previous)
        if negatives >= config.negative_messages:
            return Decision(
                True, "frustration", f"{negatives} negative messages in this conversation", "negative_messages"
            )
    if s.failed_answer:
        failed = 1 + sum(read_message(p).failed_answer for p in previous)
        if failed >= config.failed_answers:
            return Decision(
                True, "loop", f"the customer said {failed} times that the answers did not help", "failed_answers"
            )
    for earlier in previous:
        # "thanks" said twice is politeness, not a question asked again.
        if s.intent in SMALL_TALK_INTENTS or len(turn.message) < 8:
            continue
        if similar(earlier, turn.message, at_least=config.repeat_similarity):
            return Decision(True, "loop", "the customer asked the same question again", "repeated_question")
    if s.intent in turn.route.escalate_intents:
        return Decision(
            True, "policy", f"route {turn.route_name} hands {s.intent} questions to a person", "route_policy"
        )
    return NO


def decide_after(
    turn: TurnInput,
    *,
    answered: bool,
    model_escalate: bool = False,
    model_reason: str | None = None,
    conflict: str | None = None,
) -> Decision:
    """Triggers that depend on the answer attempt: no grounded answer, conflicting records, or the model asking."""
    if conflict:
        # The records disagree, so there is no grounded answer to give: a data problem a person must sort out.
        return Decision(True, "no_answer", conflict, "records_conflict")
    if model_escalate:
        code = model_reason if model_reason in REASON_CODES else "policy"
        return Decision(
            True, code, f"the model asked for a person ({model_reason or 'no reason given'})", "model_asked"
        )
    if not answered:
        why = "weak retrieval" if turn.low_confidence or not turn.passages else "no usable passage"
        facts = "nothing in the customer context" if turn.context is not None else "no customer context (visitor)"
        trigger: EscalationTrigger = (
            "low_confidence" if turn.low_confidence or not turn.passages else "no_grounded_answer"
        )
        return Decision(True, "no_answer", f"no grounded answer: {why} and {facts}", trigger)
    return NO


def lead_question(route: RouteConfig, lead: dict[str, str]) -> str | None:
    """The question asking for the lead details the route still lacks (None when all are there)."""
    missing = [f for f in route.lead_fields if not lead.get(f)]
    if not missing:
        return None
    words = {"name": "your name", "company": "your company", "need": "what you're looking for"}
    asked = [words.get(f, f) for f in missing]
    listed = asked[0] if len(asked) == 1 else ", ".join(asked[:-1]) + " and " + asked[-1]
    return f"So I can connect you with our {route.handoff_team} team, could you tell me {listed}?"


def qualify_lead(turn: TurnInput, decision: Decision) -> tuple[Decision, str | None]:
    """Lead rules after an answer attempt: the decision, and a question to append to the reply (or None).

    A public question answered, then the details sales needs, then the handoff; a prospect's question we
    cannot answer is still a sales conversation (qualify, then hand off) rather than a `no_answer` escalation.
    """
    route = turn.route
    qualifying = route.qualify_lead and (turn.signals.intent == "sales" or "need" in turn.lead)
    if not qualifying:
        return decision, None
    if decision.reason_code == "no_answer":
        decision = NO
    if decision.escalate:
        return decision, None
    question = lead_question(route, turn.lead)
    if question is None:
        reason = f"qualified lead for {route.handoff_team}: name, company and need collected"
        return Decision(True, "sales_lead", reason, "qualified_lead"), None
    return decision, question


def handoff_text(decision: Decision, team: str, eta: str) -> str:
    """What the customer is told when the conversation goes to a person."""
    if decision.reason_code == "sales_lead":
        return f"Thanks! I'm passing your details to our {team} team. {eta}"
    return f"I'm passing this conversation to our {team} team. {eta}"
