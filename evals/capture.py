"""`eval capture`: turn a stored conversation into a scenario to edit, so a bad answer becomes a regression test.

The draft replays the customer's messages with the same identity and records the structural facts of each turn
(route, escalation and reason code) as expectations; what the bot *said* is written as a comment only — the
person editing the scenario writes what the reply *should* contain.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent import service
from agent.models import Conversation
from evals.models import CATEGORIES

_CATEGORY_OF_INTENT = {
    "order_status": "order_status",
    "returns_refunds": "returns_refunds",
    "billing": "billing",
    "plan_renewal": "renewal",
    "cancellation": "cancellation",
    "human_request": "escalation",
    "sales": "visitor_lead",
    "general": "kb_question",
}


def _email_of(engine: Engine, customer_id: str) -> str | None:
    from context.profiles.models import CustomerProfile

    with Session(engine) as session:
        profile = session.get(CustomerProfile, customer_id)
        return profile.email if profile is not None else None


def capture_conversation(*, engine: Engine, conversation_id: str) -> str:
    """A scenario YAML (as text) replaying a stored conversation, with draft expectations to edit."""
    with Session(engine) as session:
        conv = session.get(Conversation, conversation_id)
        if conv is None:
            from agent.errors import ConversationNotFound

            raise ConversationNotFound(conversation_id)
        verified, customer_id, route = conv.verified, conv.customer_id, conv.route
    transcript = service.get_transcript(engine=engine, conversation_id=conversation_id)
    turns = service.list_turns(engine=engine, conversation_id=conversation_id)
    replies = {m.id: m for m in transcript.messages if m.role == "assistant"}
    customer_msgs = [m for m in transcript.messages if m.role == "customer"]
    by_msg: dict[int, Any] = {}
    with Session(engine) as session:
        from agent.models import Turn

        for t in turns:
            row = session.get(Turn, t.id)
            if row is not None and row.customer_message_id is not None:
                by_msg[row.customer_message_id] = row
    out_turns = []
    comments = []
    for i, msg in enumerate(customer_msgs):
        row = by_msg.get(msg.id)
        expect: dict[str, Any] = {}
        if row is not None:
            expect = {"route": row.route, "escalate": bool(row.escalated)}
            if row.escalated and row.escalation_reason_code:
                expect["reason_code"] = row.escalation_reason_code
            reply = replies.get(row.reply_message_id) if row.reply_message_id else None
            if reply is not None:
                comments.append(f"turn {i + 1} — the bot said: " + " ".join(reply.content.split())[:400])
        expect["contains"] = []
        expect["not_contains"] = []
        out_turns.append({"say": msg.content, "expect": expect})
    first_intent = turns[0].intent if turns else "general"
    category = _CATEGORY_OF_INTENT.get(first_intent, "kb_question")
    assert category in CATEGORIES
    slug = re.sub(r"[^a-z0-9]+", "-", f"captured-{conversation_id[:12]}").strip("-")
    # Replayed under the customer's email: a signed site user id binds to one configured identifier kind, which
    # our own customer id is not (unless agent.identity.user_id_kind says so).
    email = _email_of(engine, customer_id) if verified and customer_id else None
    customer: dict[str, Any] = {"email": email} if email else {"visitor": True}
    scenario = {
        "id": slug,
        "category": category,
        "description": f"captured from conversation {conversation_id} (route {route}); edit the expectations",
        "customer": customer,
        "turns": out_turns,
    }
    head = [
        f"# Captured from conversation {conversation_id}. Route, escalation and reason code are what happened;",
        "# check them, then write what each reply SHOULD contain (facts, citations, fields). Do not copy the bot.",
        *[f"# {c}" for c in comments],
    ]
    body = yaml.safe_dump(
        {"name": f"captured {conversation_id[:12]}", "scenarios": [scenario]},
        sort_keys=False,
        allow_unicode=True,
        width=110,
    )
    return "\n".join(head) + "\n" + body
