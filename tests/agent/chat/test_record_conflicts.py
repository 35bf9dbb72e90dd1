"""When the records of the customer's order disagree, the grounded reply says so and escalates, never picks one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from agent.models import ConversationCreate
from agent.service import AgentDeps, handle_message, start_conversation
from context.customer_context import lookup_customer
from demo import context_config as demo_context_config
from evals.models import Perturbation
from evals.perturbations import apply_perturbation, copy_store
from tests.agent.chat.helpers import MAYA, signed

OPEN = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def test_conflicting_order_records_are_named_and_handed_over(
    make_deps: Callable[..., AgentDeps], demo_db: Engine, tmp_path: Path
) -> None:
    store = copy_store(demo_db, tmp_path / "copy.db")
    found = lookup_customer(engine=store, email=MAYA)
    assert found.customer_id is not None
    apply_perturbation(
        store,
        customer_id=found.customer_id,
        perturbation=Perturbation.model_validate({"kind": "conflict", "entity": "order"}),
        now=OPEN,
        profiles=demo_context_config().profiles,
    )
    deps = make_deps(engine=store, now=lambda: OPEN)
    conv = start_conversation(deps=deps, request=ConversationCreate(**signed(MAYA)))
    reply = handle_message(deps=deps, conversation_id=conv.id, content="where is my order?")
    text = reply.reply or ""
    assert "conflict" in text and "fulfillment status" in text
    # Neither side is stated as the status.
    assert "restocked" not in text and "has shipped" not in text
    assert reply.escalation.escalate and reply.escalation.reason_code == "no_answer"
    assert "restocked" in (reply.escalation.reason or "")
