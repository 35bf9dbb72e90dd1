"""The chat service: start conversations, answer customer messages, store everything, escalate.

One turn: limits → conversation state → identity (fixed at the start) → customer context (verified only;
never built for a visitor) → route by account status → retrieval (visitor or customer audience) → escalation
triggers → responder (LLM with a grounding check, or the grounded responder) → lead qualification → persist
messages, turn metadata and any handoff request in one transaction.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent import escalation, grounded_responder
from agent.config import AgentConfig, RouteConfig
from agent.errors import ConversationNotFound, LLMError
from agent.grounding_check import check_answer
from agent.hours import human_eta
from agent.intents import TOPIC_OF_INTENT, lead_details, read_message, strip_injections
from agent.limits import RateLimiter, check_message
from agent.llm.base import AgentAnswer, ChatModel
from agent.models import (
    Citation,
    Conversation,
    ConversationCreate,
    ConversationMessage,
    ConversationPublic,
    ConversationState,
    EscalationPublic,
    HandoffRequest,
    HandoffRequestPublic,
    MessagePublic,
    Route,
    TranscriptPublic,
    Turn,
    TurnPublic,
    TurnReply,
)
from agent.prompt import assemble_prompt
from agent.turn import HistoryMessage, Passage, TurnInput
from agent.visitor_identity import verify_identity
from context.customer_context import ContextConfig, LiveLookup, build_customer_context, render_context
from context.customer_context.models import (
    CONTEXT_SECTIONS,
    CrmInfo,
    CustomerContext,
    Identity,
    Interactions,
    Orders,
    Subscriptions,
    Tickets,
)
from context.errors import CustomerNotFoundError
from knowledge.models import SearchFilters
from knowledge.retrieval import search
from knowledge.store import KnowledgeStore

log = logging.getLogger(__name__)

#: Account status → route (`unknown` has no account facts worth a customer route).
ROUTE_OF_STATUS: dict[str, Route] = {
    "trial": "trial",
    "active": "active",
    "past_due": "past_due",
    "former": "former",
    "customer": "customer",
    "lead": "lead",
}
HISTORY_LIMIT = 40


@dataclass
class AgentDeps:
    """What the service needs, built once by the composition root."""

    engine: Engine
    config: AgentConfig
    # The clock (UTC-aware); the composition root passes the wall clock, evals and tests their own.
    now: Callable[[], datetime]
    context_config: ContextConfig = field(default_factory=ContextConfig)
    store: KnowledgeStore | None = None
    model: ChatModel | None = None
    identity_secret: SecretStr | None = None
    # Keys of signed identity tokens by key id (several during a rotation).
    identity_token_keys: dict[str, SecretStr] = field(default_factory=dict)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    llm_deadline_s: float = 30.0
    # Called with the new agent_handoff_requests id after an escalation is committed (the handoff worker's wake-up).
    on_handoff: Callable[[int], None] | None = None
    live_lookup: LiveLookup | None = None  # chat-time vendor lookups, passed through to the context (docs/sources.md)


# --- conversations -------------------------------------------------------------------------------------------


def _public(conv: Conversation, greeting: str | None = None) -> ConversationPublic:
    return ConversationPublic(
        id=conv.id,
        created_at=conv.created_at,
        verified=conv.verified,
        route=conv.route,
        state=conv.state,
        greeting=greeting,
    )


def start_conversation(
    *, deps: AgentDeps, request: ConversationCreate, client_ip: str = "unknown"
) -> ConversationPublic:
    """Open a conversation; a valid signed identity makes it a verified customer's, anything else a visitor's."""
    deps.limiter.hit("conversations per address", client_ip, deps.config.limits.conversations_per_minute_per_ip)
    ident = verify_identity(
        engine=deps.engine,
        secret=deps.identity_secret,
        now=deps.now(),
        binding=deps.config.identity,
        token_keys=deps.identity_token_keys,
        user_id=request.user_id,
        email=request.email,
        user_hash=request.user_hash,
        identity_token=request.identity_token,
    )
    route, reason = "visitor", ident.note
    name = None
    if ident.customer_id:
        ctx = build_customer_context(
            engine=deps.engine,
            customer_id=ident.customer_id,
            purpose="widget",
            config=deps.context_config,
            now=deps.now(),
        )
        route, reason = _route_for(ctx)
        name = (ctx.identity.name or "").split()[0] if ctx.identity.name else None
    started_at = deps.now()
    conv = Conversation(
        id=uuid.uuid4().hex,
        verified=ident.verified,
        identity_kind=ident.kind,
        customer_id=ident.customer_id,
        route=route,
        route_reason=reason,
        created_at=started_at,
        updated_at=started_at,
    )
    with Session(deps.engine) as session:
        session.add(conv)
        session.commit()
        session.refresh(conv)
    log.info("conversation %s started: verified=%s route=%s", conv.id, conv.verified, route)
    hello = f"Hi{' ' + name if name else ''}! I'm the automated assistant. How can I help?"
    return _public(conv, hello)


def _route_for(ctx: CustomerContext) -> tuple[str, str]:
    route = ROUTE_OF_STATUS.get(ctx.status.status, "visitor")
    return route, f"verified customer, status {ctx.status.status}: {ctx.status.cause}"


def _load(session: Session, conversation_id: str) -> Conversation:
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        raise ConversationNotFound(conversation_id)
    return conv


# --- one turn ------------------------------------------------------------------------------------------------

_EMPTY_SECTIONS: dict[str, Callable[[], Any]] = {
    "subscriptions": Subscriptions,
    "orders": Orders,
    "tickets": Tickets,
    "interactions": Interactions,
    "crm": CrmInfo,
}


def _route_view(ctx: CustomerContext, route: RouteConfig) -> tuple[CustomerContext, list[str], int]:
    """The context as the route may show it, with instruction-like text removed from free-text fields."""
    hidden = [
        s for s in ("subscriptions", "orders", "tickets", "interactions", "crm") if s not in route.context_sections
    ]
    update: dict[str, Any] = {s: _EMPTY_SECTIONS[s]() for s in hidden}
    if "identity" not in route.context_sections:
        update["identity"] = Identity(name=ctx.identity.name)
        hidden.append("identity")
    view = ctx.model_copy(update=update, deep=True)
    removed = 0
    for t in [*view.tickets.open, *view.tickets.recent_resolved]:
        if t.last_public_message:
            t.last_public_message, n = strip_injections(t.last_public_message)
            removed += n
        if t.subject:
            t.subject, n = strip_injections(t.subject)
            removed += n
    for it in view.interactions.recent:
        if it.message:
            it.message, n = strip_injections(it.message)
            removed += n
    if view.crm.notes:
        view.crm.notes, n = strip_injections(view.crm.notes)
        removed += n
    return view, hidden, removed


def _snapshot(ctx: CustomerContext) -> dict[str, Any]:
    digest = hashlib.sha256(ctx.model_dump_json().encode()).hexdigest()[:16]
    as_of = {}
    for name in CONTEXT_SECTIONS:
        meta = getattr(ctx, name).meta
        as_of[name] = meta.as_of.isoformat() if meta.as_of else None
    return {
        "id": digest,
        "customer_id": ctx.customer_id,
        "generated_at": ctx.generated_at.isoformat(),
        "as_of": as_of,
    }


def _passages(
    deps: AgentDeps, query: str, *, viewer: str, plan: str | None
) -> tuple[list[Passage], bool, float | None]:
    if deps.store is None:
        return [], True, None
    filters = SearchFilters.for_viewer("customer" if viewer == "customer" else "visitor", plan=plan)
    resp = search(query, store=deps.store, filters=filters, k=deps.config.retrieval.k)
    out = []
    for i, r in enumerate(resp.results[: deps.config.prompt.passages], start=1):
        text, removed = strip_injections(r.text)
        out.append(
            Passage(
                label=f"P{i}",
                chunk_id=r.chunk_id,
                title=r.title,
                heading=r.heading,
                url=r.citation_url,
                text=text,
                score=r.score,
                audience=r.audience,
                injections_removed=removed,
            )
        )
    return out, resp.low_confidence, resp.confidence


@dataclass
class _Outcome:
    reply: str | None
    answer: AgentAnswer | None
    decision: escalation.Decision
    responder: str
    answered: bool = True
    model: str | None = None
    fallback_reason: str | None = None
    attempts: int = 0
    llm_latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    grounding_issues: list[str] = field(default_factory=list)


def _lead_question(route: RouteConfig, lead: dict[str, str]) -> str | None:
    missing = [f for f in route.lead_fields if not lead.get(f)]
    if not missing:
        return None
    words = {"name": "your name", "company": "your company", "need": "what you're looking for"}
    asked = [words.get(f, f) for f in missing]
    listed = asked[0] if len(asked) == 1 else ", ".join(asked[:-1]) + " and " + asked[-1]
    return f"So I can connect you with our {route.handoff_team} team, could you tell me {listed}?"


def _answer(deps: AgentDeps, turn: TurnInput, explain: dict[str, Any]) -> tuple[_Outcome, dict[str, Any]]:
    """Run the responder chain: LLM (grounding-checked) when configured, else or on failure the grounded one."""
    prompt = assemble_prompt(turn, budget=deps.config.prompt, explain=explain)
    prompt_record: dict[str, Any] = {
        "messages": [m.model_dump() for m in prompt.messages],
        "tokens": prompt.tokens,
        **prompt.explain,
    }
    fallback_reason = None
    issues: list[str] = []
    if deps.model is not None:
        try:
            result = deps.model.complete(prompt.messages, deadline_s=deps.llm_deadline_s)
        except LLMError as exc:
            fallback_reason = f"{type(exc).__name__}: {exc}"
            log.warning("LLM failed, grounded responder answers: %s", type(exc).__name__)
        else:
            issues = check_answer(result.answer, turn, today=_today(deps, turn))
            if not issues:
                ans = result.answer
                decision = escalation.decide_after(
                    turn, answered=True, model_escalate=ans.escalate, model_reason=ans.escalation_reason
                )
                outcome = _Outcome(
                    ans.answer,
                    ans,
                    decision,
                    "llm",
                    answered=True,
                    model=result.model,
                    attempts=result.attempts,
                    llm_latency_ms=result.latency_ms,
                    prompt_tokens=result.prompt_tokens,
                    completion_tokens=result.completion_tokens,
                )
                return outcome, prompt_record
            fallback_reason = "grounding check failed: " + "; ".join(issues)
            log.warning("LLM reply failed the grounding check (%d issues); grounded responder answers", len(issues))
            out, _ = _grounded(turn, _today(deps, turn))
            out.fallback_reason = fallback_reason
            out.grounding_issues = issues
            out.model = result.model
            out.attempts = result.attempts
            out.llm_latency_ms = result.latency_ms
            out.prompt_tokens = result.prompt_tokens
            out.completion_tokens = result.completion_tokens
            return out, prompt_record
    out, _ = _grounded(turn, _today(deps, turn))
    out.fallback_reason = fallback_reason
    return out, prompt_record


def _today(deps: AgentDeps, turn: TurnInput) -> date:
    """The calendar date where the business is, from the injected clock (the grounding check's "today")."""
    return deps.now().astimezone(ZoneInfo(turn.timezone)).date()


def _grounded(turn: TurnInput, today: date) -> tuple[_Outcome, None]:
    reply = grounded_responder.respond(turn)
    # The grounded responder is checked too: a bug there must not send an invented fact either.
    issues = check_answer(reply.answer, turn, today=today)
    if issues:
        log.error("grounded reply failed its own grounding check (%d issues)", len(issues))  # no values: PII
        text = "I'm sorry — I couldn't put together a reliable answer. " + grounded_responder.disclosure(
            turn.context is not None
        )
        reply = grounded_responder.GroundedReply(AgentAnswer(answer=text, confidence=0.0), False)
    decision = escalation.decide_after(turn, answered=reply.answered, conflict=reply.conflict)
    return (
        _Outcome(
            reply.answer.answer,
            reply.answer,
            decision,
            "grounded",
            answered=reply.answered,
            grounding_issues=issues,
        ),
        None,
    )


def _citations(answer: AgentAnswer | None, turn: TurnInput) -> list[Citation]:
    if answer is None:
        return []
    out = []
    for i, ref in enumerate(dict.fromkeys(answer.cited_passage_ids), start=1):
        p = turn.passage(ref)
        if p is not None:
            out.append(Citation(passage_id=p.chunk_id, marker=i, title=p.title, heading=p.heading, url=p.url))
    return out


def _history(session: Session, conversation_id: str) -> list[HistoryMessage]:
    rows = session.exec(
        select(ConversationMessage.role, ConversationMessage.content)
        .where(ConversationMessage.conversation_id == conversation_id)
        .order_by(col(ConversationMessage.id).desc())
        .limit(HISTORY_LIMIT)
    ).all()
    return [HistoryMessage(role, content) for role, content in reversed(rows)]


def handle_message(*, deps: AgentDeps, conversation_id: str, content: str, client_ip: str = "unknown") -> TurnReply:
    """Answer one customer message (or, while a person has the conversation, just record it)."""
    started = time.perf_counter()
    limits = deps.config.limits
    check_message(content, limits)
    with Session(deps.engine) as session:
        conv = _load(session, conversation_id)
        deps.limiter.hit("messages per conversation", conversation_id, limits.messages_per_minute_per_conversation)
        deps.limiter.hit("messages per address", client_ip, limits.messages_per_minute_per_ip)
        if conv.state == "handoff":  # a resolved ("closed") conversation reopens with the bot
            return _record_while_handed_off(session, conv, content, started, deps.now())
        history = _history(session, conversation_id)
    signals = read_message(content)
    topic = TOPIC_OF_INTENT.get(signals.intent)
    explain: dict[str, Any] = {"identity": "verified" if conv.verified else "visitor", "topic": topic}
    ctx_view: CustomerContext | None = None
    context_text = ""
    snapshot = None
    route_name, route_reason = conv.route, conv.route_reason
    # SECURITY: the customer context is built only for a verified identity resolved to a customer. A visitor's
    # claims ("I'm maya@…") never reach build_customer_context.
    if conv.verified and conv.customer_id:
        try:
            ctx = build_customer_context(
                engine=deps.engine,
                customer_id=conv.customer_id,
                purpose="llm_prompt",
                topic=topic,
                config=deps.context_config,
                now=deps.now(),
                live=deps.live_lookup,
            )
        except CustomerNotFoundError:
            ctx = None
            route_name, route_reason = "visitor", "verified customer no longer exists in our records"
        if ctx is not None:
            route_name, route_reason = _route_for(ctx)
            route = deps.config.routes[route_name]
            ctx_view, hidden, removed = _route_view(ctx, route)
            rendered = render_context(
                ctx_view,
                max_tokens=deps.config.prompt.context_max_tokens,
                timezone=ZoneInfo(deps.config.customer_timezone),
            )
            context_text = rendered.text
            snapshot = _snapshot(ctx)
            explain.update(
                {
                    "context_tokens": rendered.tokens,
                    "context_max_tokens": rendered.max_tokens,
                    "context_dropped": rendered.dropped,
                    "privacy_withheld": ctx.withheld,
                    "sections_hidden_by_route": hidden,
                    "context_injections_removed": removed,
                }
            )
    route = deps.config.routes[route_name]
    viewer = "customer" if ctx_view is not None else "visitor"
    plan = ctx_view.status.plan if ctx_view is not None else None
    passages, low, confidence = _passages(deps, content, viewer=viewer, plan=plan)
    explain.update(
        {
            "retrieval_viewer": viewer,
            "passage_injections_removed": sum(p.injections_removed for p in passages),
            "message_looks_like_injection": signals.injection,
        }
    )
    lead = dict(conv.lead or {})
    if route.qualify_lead:
        if ctx_view is not None:  # never ask a known lead for what we already know
            if ctx_view.identity.name:
                lead.setdefault("name", ctx_view.identity.name)
            if ctx_view.identity.company:
                lead.setdefault("company", ctx_view.identity.company)
        for key, value in lead_details(content).items():
            lead.setdefault(key, value)
    turn = TurnInput(
        message=content,
        signals=signals,
        route_name=route_name,
        route=route,
        verified=conv.verified,
        context=ctx_view,
        context_text=context_text,
        passages=passages,
        low_confidence=low,
        now=deps.now(),
        history=history,
        lead=lead if route.qualify_lead else {},
        timezone=deps.config.customer_timezone,
        config=deps.config,
    )
    decision = escalation.decide_before(turn, deps.config.escalation)
    prompt_record: dict[str, Any] = {**explain}
    if decision.escalate:
        outcome = _Outcome(None, None, decision, "none", answered=True)
    else:
        outcome, prompt_record = _answer(deps, turn, explain)
        decision = outcome.decision
        # Lead qualification: a public question answered, then the details sales needs, then the handoff.
        qualifying = route.qualify_lead and (signals.intent == "sales" or "need" in lead)
        if qualifying and decision.reason_code == "no_answer":
            # A prospect's question we cannot answer is still a sales conversation: qualify, then hand off.
            decision = escalation.NO
        if qualifying and not decision.escalate:
            question = _lead_question(route, lead)
            if question is None:
                decision = escalation.Decision(
                    True,
                    "sales_lead",
                    f"qualified lead for {route.handoff_team}: name, company and need collected",
                    "qualified_lead",
                )
            elif outcome.reply is not None:
                outcome.reply += "\n\n" + question
    within, eta = (True, "")
    if decision.escalate:
        within, eta = human_eta(deps.config.business_hours, deps.now())
        team = route.handoff_team
        hand = (
            f"I'm passing this conversation to our {team} team."
            if decision.reason_code != "sales_lead"
            else (f"Thanks! I'm passing your details to our {team} team.")
        )
        base = outcome.reply + "\n\n" if outcome.reply and outcome.responder != "none" else ""
        outcome.reply = f"{base}{hand} {eta}"
    return _persist_turn(
        deps,
        conv.id,
        content,
        turn,
        outcome,
        decision,
        prompt_record,
        snapshot,
        confidence,
        lead,
        route_reason,
        topic,
        within,
        eta,
        started,
    )


def _persist_turn(
    deps: AgentDeps,
    conversation_id: str,
    content: str,
    turn: TurnInput,
    outcome: _Outcome,
    decision: escalation.Decision,
    prompt_record: dict[str, Any],
    snapshot: dict[str, Any] | None,
    retrieval_confidence: float | None,
    lead: dict[str, str],
    route_reason: str,
    topic: str | None,
    within: bool,
    eta: str,
    started: float,
) -> TurnReply:
    citations = _citations(outcome.answer, turn)
    with Session(deps.engine) as session:
        conv = _load(session, conversation_id)
        now = deps.now()
        customer_msg = ConversationMessage(conversation_id=conv.id, role="customer", content=content, created_at=now)
        session.add(customer_msg)
        session.flush()
        reply_msg = None
        if outcome.reply is not None:
            reply_msg = ConversationMessage(
                conversation_id=conv.id,
                role="assistant",
                content=outcome.reply,
                created_at=now,
                citations=[c.model_dump() for c in citations],
            )
            session.add(reply_msg)
            session.flush()
        answer = outcome.answer
        record = Turn(
            conversation_id=conv.id,
            customer_message_id=customer_msg.id,
            reply_message_id=reply_msg.id if reply_msg else None,
            created_at=now,
            route=turn.route_name,
            route_reason=route_reason,
            intent=turn.signals.intent,
            topic=topic,
            verified=conv.verified,
            customer_id=conv.customer_id if turn.context is not None else None,
            context_snapshot=snapshot,
            passages=[
                {
                    "label": p.label,
                    "chunk_id": p.chunk_id,
                    "title": p.title,
                    "heading": p.heading,
                    "url": p.url,
                    "score": round(p.score, 4),
                    "audience": p.audience,
                }
                for p in turn.passages
            ],
            retrieval_confidence=retrieval_confidence,
            low_confidence=turn.low_confidence,
            responder=outcome.responder,
            model=outcome.model,
            fallback_reason=outcome.fallback_reason,
            attempts=outcome.attempts,
            llm_latency_ms=outcome.llm_latency_ms,
            prompt_tokens=outcome.prompt_tokens,
            completion_tokens=outcome.completion_tokens,
            answered=outcome.answered,
            confidence=answer.confidence if answer else None,
            cited_passage_ids=[c.passage_id for c in citations],
            context_fields_used=answer.context_fields_used if answer else [],
            escalated=decision.escalate,
            escalation_reason_code=decision.reason_code,
            escalation_reason=decision.reason,
            grounding_issues=outcome.grounding_issues,
            prompt=prompt_record,
        )
        session.add(record)
        session.flush()
        customer_msg.turn_id = record.id
        if reply_msg is not None:
            reply_msg.turn_id = record.id
        handoff_id = None
        if decision.escalate:
            handoff = HandoffRequest(
                conversation_id=conv.id,
                turn_id=record.id,
                created_at=now,
                reason_code=decision.reason_code or "policy",
                reason=decision.reason or "",
                trigger=decision.trigger,
                team=turn.route.handoff_team,
                customer_id=record.customer_id,
                verified=conv.verified,
                route=turn.route_name,
                within_business_hours=within,
                human_eta=eta,
            )
            session.add(handoff)
            session.flush()
            handoff_id = handoff.id
            conv.state = "handoff"
        elif conv.state == "closed":
            conv.state = "bot"
        conv.route, conv.route_reason = turn.route_name, route_reason
        conv.lead = dict(lead) if turn.route.qualify_lead else conv.lead
        conv.message_count += 1 + (reply_msg is not None)
        conv.updated_at = now
        latency = (time.perf_counter() - started) * 1000
        record.latency_ms = round(latency, 2)
        session.add(conv)
        session.commit()
        if handoff_id is not None and deps.on_handoff is not None:
            try:
                deps.on_handoff(handoff_id)
            except Exception:  # the request row is stored; the handoff worker also polls for it
                log.exception("on_handoff hook failed for handoff request %s", handoff_id)
        return TurnReply(
            conversation_id=conv.id,
            message_id=int(customer_msg.id or 0),
            reply=outcome.reply,
            reply_message_id=reply_msg.id if reply_msg else None,
            citations=citations,
            route=turn.route_name,
            route_reason=route_reason,
            intent=turn.signals.intent,
            escalation=EscalationPublic(
                escalate=decision.escalate,
                reason_code=decision.reason_code,
                reason=decision.reason,
                handoff_id=handoff_id,
                within_business_hours=within if decision.escalate else None,
                human_eta=eta or None,
            ),
            state=conv.state,
            responder=outcome.responder,
            model=outcome.model,
            turn_id=record.id,
            latency_ms=round(latency, 2),
        )


def _record_while_handed_off(
    session: Session, conv: Conversation, content: str, started: float, now: datetime
) -> TurnReply:
    """While a person has the conversation the bot stays silent; the message is stored for them."""
    msg = ConversationMessage(conversation_id=conv.id, role="customer", content=content, created_at=now)
    session.add(msg)
    conv.message_count += 1
    conv.updated_at = now
    session.add(conv)
    open_request = session.exec(  # the escalation that handed it over: the newest
        select(HandoffRequest).where(HandoffRequest.conversation_id == conv.id).order_by(col(HandoffRequest.id).desc())
    ).first()
    session.commit()
    return TurnReply(
        conversation_id=conv.id,
        message_id=int(msg.id or 0),
        reply=None,
        route=conv.route,
        route_reason=conv.route_reason,
        intent=read_message(content).intent,
        escalation=EscalationPublic(
            escalate=True,
            reason_code=open_request.reason_code if open_request else None,
            reason="a person has this conversation; the bot does not answer until it is handed back",
            handoff_id=open_request.id if open_request else None,
            within_business_hours=open_request.within_business_hours if open_request else None,
            human_eta=open_request.human_eta if open_request else None,
        ),
        state=conv.state,
        responder="none",
        latency_ms=round((time.perf_counter() - started) * 1000, 2),
    )


# --- streaming ---------------------------------------------------------------------------------------------------


def stream_message(
    *, deps: AgentDeps, conversation_id: str, content: str, client_ip: str = "unknown", chunk_words: int = 3
) -> Iterator[tuple[str, Any]]:
    """("token", text) events then one ("final", TurnReply).

    The reply is released only after the grounding check passed (a failed LLM reply is never half-shown), so
    the tokens come from the checked text, a few words at a time.
    """
    reply = handle_message(deps=deps, conversation_id=conversation_id, content=content, client_ip=client_ip)
    if reply.reply:
        words = reply.reply.split(" ")
        for i in range(0, len(words), chunk_words):
            piece = " ".join(words[i : i + chunk_words])
            yield "token", piece + (" " if i + chunk_words < len(words) else "")
    yield "final", reply


# --- reading and human actions -----------------------------------------------------------------------------------


def get_transcript(*, engine: Engine, conversation_id: str) -> TranscriptPublic:
    """The conversation and all its messages, oldest first."""
    with Session(engine) as session:
        conv = _load(session, conversation_id)
        rows = session.exec(
            select(ConversationMessage)
            .where(ConversationMessage.conversation_id == conversation_id)
            .order_by(col(ConversationMessage.id))
        ).all()
        return TranscriptPublic(
            conversation=_public(conv),
            messages=[
                MessagePublic(
                    id=int(m.id or 0),
                    role=m.role,
                    content=m.content,
                    created_at=m.created_at,
                    citations=[Citation.model_validate(c) for c in m.citations],
                    author=m.author,
                )
                for m in rows
            ],
        )


def list_turns(*, engine: Engine, conversation_id: str) -> list[TurnPublic]:
    """Stored metadata of every turn of a conversation, oldest first."""
    with Session(engine) as session:
        _load(session, conversation_id)
        rows = session.exec(select(Turn).where(Turn.conversation_id == conversation_id).order_by(col(Turn.id))).all()
        return [TurnPublic.model_validate(r, from_attributes=True) for r in rows]


def list_handoff_requests(*, engine: Engine, limit: int = 100) -> list[HandoffRequestPublic]:
    """Escalations as the turns recorded them, newest first (their handling: the handoff inbox)."""
    with Session(engine) as session:
        query = select(HandoffRequest).order_by(col(HandoffRequest.id).desc()).limit(limit)
        return [HandoffRequestPublic.model_validate(r, from_attributes=True) for r in session.exec(query).all()]


# --- the human side: the handoff package drives the conversation through these two ------------------------------


def set_conversation_state(
    session: Session, *, conversation_id: str, state: ConversationState, now: datetime
) -> Conversation:
    """Move a conversation to `state` inside the caller's transaction (the handoff lifecycle calls this)."""
    conv = _load(session, conversation_id)
    conv.state, conv.updated_at = state, now
    session.add(conv)
    return conv


def post_human_message(
    session: Session, *, conversation_id: str, content: str, author: str, now: datetime
) -> ConversationMessage:
    """Add a person's message to the conversation inside the caller's transaction; the customer sees it."""
    conv = _load(session, conversation_id)
    msg = ConversationMessage(conversation_id=conv.id, role="human", content=content, created_at=now, author=author)
    session.add(msg)
    conv.message_count += 1
    conv.updated_at = now
    session.add(conv)
    session.flush()
    return msg
