"""The chat service: start conversations, answer customer messages, store everything, escalate.

One turn is five named steps over typed values:
receive (limits; the customer's message stored and logged at once) → build turn input (under the conversation's
turn lease: customer context for verified customers only, route, passages, lead details) → decide (escalation
rules, agent/escalation.py) → respond (LLM with a per-sentence grounding check, or the grounded responder; every
released sentence is an event) → store (one transaction that re-checks the conversation's state, stores the
reply, the turn with its typed trace and any handoff request, and frees the lease).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from sqlalchemy import Integer, bindparam, case, insert, or_, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from agent import escalation, grounded_responder
from agent.config import AgentConfig, RouteConfig
from agent.errors import ConversationNotFound, LLMError, MessageInProgress, StoreBusy
from agent.events import append_event, append_message, insert_events, insert_message, message_row_data
from agent.grounding_check import check_answer
from agent.hours import human_eta
from agent.intents import TOPIC_OF_INTENT, lead_details, read_message, strip_injections
from agent.limits import RateLimiter, check_message
from agent.llm.base import AgentAnswer, ChatMessage, ChatModel, LLMResult
from agent.models import (
    HUMAN_STATES,
    Citation,
    Conversation,
    ConversationCreate,
    ConversationEvent,
    ConversationEventKind,
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
from agent.trace import TurnTrace
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
from context.dbtypes import table_of
from context.errors import CustomerNotFoundError
from knowledge.models import SearchFilters, SearchResponse
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
#: SQLite's busy timeout outside the chat's bounded writes (make_engine's 30 s), restored after each one.
SQLITE_BUSY_MS = 30_000
#: Appended to a reply when the help center could not be searched (the answer rests on the context only).
KNOWLEDGE_DOWN = "Our help center is unavailable right now, so this answer is based on your account details only."
R = TypeVar("R")
CONVERSATIONS, MESSAGES, TURNS = table_of(Conversation), table_of(ConversationMessage), table_of(Turn)
EVENTS = table_of(ConversationEvent)


class SearchCache:
    """Recent help-center searches of the chat, keyed by the question, the filters, k and the index's revision.

    A search is a pure function of those (the index's low-confidence threshold changes only with a calibration,
    which is part of the key too): the same question to an unchanged index gets the same passages without the
    embedding, the vector query and BM25 again. A write to the index changes its revision, so it is seen at once
    here, and within the store's `refresh_seconds` when another process wrote it.
    """

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._found: OrderedDict[tuple[Any, ...], SearchResponse] = OrderedDict()

    def search(self, query: str, *, store: KnowledgeStore, filters: SearchFilters, k: int) -> SearchResponse:
        """`knowledge.retrieval.search(query, store=..., filters=..., k=...)`, from the cache when it can."""
        if self.size <= 0:
            return search(query, store=store, filters=filters, k=k)
        key = (
            query,
            filters.audiences,
            filters.plan,
            filters.topic,
            filters.language,
            k,
            store.revision(),
            store.calibrated_threshold(refresh=False),
        )
        with self._lock:
            found = self._found.get(key)
            if found is not None:
                self._found.move_to_end(key)
                return found
        found = search(query, store=store, filters=filters, k=k)
        with self._lock:
            self._found[key] = found
            while len(self._found) > self.size:
                self._found.popitem(last=False)
        return found


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
    # How long a chat write waits for another writer's lock before answering 503 (the message is then not taken).
    write_wait_s: float = 2.0
    # How long a turn waits for the previous turn of its conversation; a lease expires after turn_lease_s.
    turn_wait_s: float = 60.0
    turn_lease_s: float = 90.0
    # Recent help-center searches (per index revision): a repeated question skips the retrieval.
    searches: SearchCache = field(default_factory=SearchCache)
    # How many turns the HTTP routes run at once in threads (agent.api); 0: the thread pool's own limit.
    turn_threads: int = 0
    turn_limiter: Any = field(default=None, init=False, repr=False, compare=False)  # agent.api's, made there


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
    return _public(conv, greeting(first_name=name, business_name=deps.config.business_name))


def greeting(*, first_name: str | None, business_name: str | None) -> str:
    """The first words of a conversation: the person's first name if known, the business's if configured."""
    assistant = f"the {business_name} automated assistant" if business_name else "the automated assistant"
    return f"Hi{' ' + first_name if first_name else ''}! I'm {assistant}. How can I help?"


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
    # A shallow copy: what the route shows is shared with `ctx` (built for this turn alone), and a record whose
    # free text loses an instruction-like sentence is copied before it changes (a deep copy of the whole context
    # cost more than the rest of the route's view).
    view = ctx.model_copy(update=update)
    removed = 0
    tickets: dict[str, list[Any]] = {}
    for name in ("open", "recent_resolved"):
        tickets[name] = []
        for t in getattr(view.tickets, name):
            changes, n = _stripped(t, ("last_public_message", "subject"))
            tickets[name].append(t.model_copy(update=changes) if changes else t)
            removed += n
    if any(a is not b for name in tickets for a, b in zip(tickets[name], getattr(view.tickets, name), strict=True)):
        view.tickets = view.tickets.model_copy(update=tickets)
    recent = []
    for it in view.interactions.recent:
        changes, n = _stripped(it, ("message",))
        recent.append(it.model_copy(update=changes) if changes else it)
        removed += n
    if any(a is not b for a, b in zip(recent, view.interactions.recent, strict=True)):
        view.interactions = view.interactions.model_copy(update={"recent": recent})
    crm_changes, n = _stripped(view.crm, ("notes",))
    if crm_changes:
        view.crm = view.crm.model_copy(update=crm_changes)
    removed += n
    return view, hidden, removed


def _stripped(item: Any, fields: tuple[str, ...]) -> tuple[dict[str, str], int]:
    """The free-text `fields` of `item` that lose instruction-like sentences (new values), and how many went."""
    changes: dict[str, str] = {}
    removed = 0
    for name in fields:
        value = getattr(item, name)
        if value:
            kept, n = strip_injections(value)
            removed += n
            if kept != value:
                changes[name] = kept
    return changes, removed


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
    deps: AgentDeps, query: str, *, viewer: str, plan: str | None, trace: TurnTrace
) -> tuple[list[Passage], bool, float | None]:
    if deps.store is None:
        return [], True, None
    filters = SearchFilters.for_viewer("customer" if viewer == "customer" else "visitor", plan=plan)
    try:
        resp = deps.searches.search(query, store=deps.store, filters=filters, k=deps.config.retrieval.k)
    except Exception as exc:  # KnowledgeError, or chromadb's own (connection, missing collection, sqlite)
        # Like an LLM outage: answer from the context, tell the customer, record why.
        log.warning("help center search failed, answering without passages: %s", type(exc).__name__)
        trace.knowledge_unavailable = f"{type(exc).__name__}: {exc}"
        return [], True, None
    out = []
    # The query's language and whether the passages are in another one ride on the trace to the turn input.
    trace.query_language, trace.language_fallback = resp.query_language, resp.language_fallback
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
                language=r.language,
            )
        )
    return out, resp.low_confidence, resp.confidence


# --- writing: one transaction, a bounded wait for another writer's lock ---------------------------------------


def _is_lock_error(exc: OperationalError) -> bool:
    # SQLite: "database is locked" / "database table is locked"; PostgreSQL: lock_timeout (55P03).
    return "locked" in str(exc.orig).lower() or getattr(exc.orig, "sqlstate", None) == "55P03"


def _write(deps: AgentDeps, step: Callable[[Session], R]) -> R:
    """Run `step` in one transaction and commit; wait at most `deps.write_wait_s` for a lock, then StoreBusy.

    SQLite's busy timeout (30 s from make_engine) and PostgreSQL's lock wait are bounded per transaction, and a
    lock error is retried until the deadline (a WAL reader upgrading to writer fails at once, without waiting).
    """
    give_up = time.monotonic() + deps.write_wait_s
    sqlite = deps.engine.dialect.name == "sqlite"
    while True:
        writer = _sqlite_writer(deps.engine) if sqlite else None
        if writer is not None and not writer.acquire(give_up):
            raise StoreBusy(deps.write_wait_s)
        wait_ms = max(1, int((give_up - time.monotonic()) * 1000))
        try:
            with deps.engine.connect() as conn:
                # On the driver's connection: a PRAGMA through SQLAlchemy would begin a transaction to end again.
                driver = conn.connection.driver_connection if sqlite else None
                if driver is not None:
                    driver.execute(f"PRAGMA busy_timeout = {wait_ms}")
                try:
                    with Session(bind=conn) as session:
                        if not sqlite:
                            session.execute(text(f"SET LOCAL lock_timeout = '{wait_ms}ms'"))
                        out = step(session)
                        session.commit()
                        return out
                finally:
                    if driver is not None:
                        conn.rollback()
                        driver.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")
        except OperationalError as exc:
            if not _is_lock_error(exc):
                raise
            if time.monotonic() >= give_up:
                raise StoreBusy(deps.write_wait_s) from exc
        finally:
            if writer is not None:
                writer.release()
        time.sleep(0.02)


class _SqliteWriter:
    """The chat's queue for writes to one SQLite database: a lock for this process's threads, then a file lock
    (`flock` on `<database>-chatlock`) shared with the other server processes.

    SQLite lets one writer in at a time and makes the others poll with growing sleeps (up to 100 ms each), so
    under load a turn's write waits far longer than the writes before it take. Threads of one process queue on
    the thread lock in turn, and the one waiter of each process polls the file lock every millisecond, so a
    write starts within about a millisecond of the previous one's end whichever process made it. Writers that do
    not take the file lock (a sync, the handoff worker) still meet SQLite's busy timeout.
    """

    POLL_S = 0.001

    def __init__(self, database: str | None) -> None:
        self._lock = threading.RLock()
        self._path = f"{database}-chatlock" if database and database != ":memory:" else None
        self._fd: int | None = None
        self._pid = 0
        self._depth = 0

    def acquire(self, give_up: float) -> bool:
        """Hold the queue (re-entrant in one thread) by the monotonic time `give_up`, else False."""
        if not self._lock.acquire(timeout=max(0.0, give_up - time.monotonic())):
            return False
        if self._depth == 0 and self._path is not None:
            try:
                fd = self._file()
                while fd is not None:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= give_up:
                            self._lock.release()
                            return False
                        time.sleep(self.POLL_S)
            except BaseException:
                self._lock.release()
                raise
        self._depth += 1
        return True

    def release(self) -> None:
        """Let the next writer in."""
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._lock.release()

    def __del__(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)

    def _file(self) -> int | None:
        # Opened per process: a descriptor inherited over fork shares its lock with the parent.
        if self._fd is None or self._pid != os.getpid():
            assert self._path is not None
            try:
                self._fd, self._pid = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
            except OSError as exc:  # e.g. a read-only directory: SQLite's busy timeout alone orders the writers
                log.warning("no chat write lock file %s (%s); writers wait on SQLite's busy timeout", self._path, exc)
                self._path = None
                return None
        return self._fd


_WRITERS_GUARD = threading.Lock()
_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, _SqliteWriter] = weakref.WeakKeyDictionary()


def _sqlite_writer(engine: Engine) -> _SqliteWriter:
    """This process's queue for the chat's writes to one SQLite database."""
    with _WRITERS_GUARD:
        writer = _SQLITE_WRITERS.get(engine)
        if writer is None:
            writer = _SQLITE_WRITERS[engine] = _SqliteWriter(engine.url.database)
        return writer


# --- the turn lease: one turn of a conversation at a time, across processes -----------------------------------


# The turn's hot statements, built once (their compiled form is found by a cache key computed once).
_LEASE = (
    update(CONVERSATIONS)
    .where(
        CONVERSATIONS.c.id == bindparam("cid"),
        or_(
            CONVERSATIONS.c.turn_owner.is_(None),
            CONVERSATIONS.c.turn_owner == bindparam("key"),
            CONVERSATIONS.c.turn_until < bindparam("now", type_=CONVERSATIONS.c.turn_until.type),
        ),
    )
    .values(turn_owner=bindparam("key"), turn_until=bindparam("until"), stop_turn=None)
)
_RELEASE = (
    update(CONVERSATIONS)
    .where(CONVERSATIONS.c.id == bindparam("cid"), CONVERSATIONS.c.turn_owner == bindparam("key"))
    .values(turn_owner=None, turn_until=None, stop_turn=None)
)
# A message's arrival in one UPDATE of the conversation row: count it, number its `message` event (the row's
# event counter, agent/events.py) and, for a turn that runs at once, take the lease if it is free, returning the
# conversation as it then is (SET expressions all read the row as it was, so the three CASEs agree).
_LEASE_FREE = or_(
    CONVERSATIONS.c.turn_owner.is_(None),
    CONVERSATIONS.c.turn_owner == bindparam("key"),
    CONVERSATIONS.c.turn_until < bindparam("now", type_=CONVERSATIONS.c.turn_until.type),
)
_ARRIVAL = update(CONVERSATIONS).where(CONVERSATIONS.c.id == bindparam("cid"))
_ARRIVAL_COUNTS = {
    "message_count": CONVERSATIONS.c.message_count + 1,
    "updated_at": bindparam("now"),
    "last_event_seq": CONVERSATIONS.c.last_event_seq + 1,
}
_ARRIVE = _ARRIVAL.values(**_ARRIVAL_COUNTS).returning(CONVERSATIONS.c.last_event_seq)
_ARRIVE_AND_LEASE = _ARRIVAL.values(
    **_ARRIVAL_COUNTS,
    turn_owner=case((_LEASE_FREE, bindparam("key")), else_=CONVERSATIONS.c.turn_owner),
    turn_until=case((_LEASE_FREE, bindparam("until")), else_=CONVERSATIONS.c.turn_until),
    stop_turn=case((_LEASE_FREE, None), else_=CONVERSATIONS.c.stop_turn),
).returning(
    CONVERSATIONS.c.last_event_seq,
    CONVERSATIONS.c.turn_owner,
    CONVERSATIONS.c.id,
    CONVERSATIONS.c.state,
    CONVERSATIONS.c.verified,
    CONVERSATIONS.c.customer_id,
    CONVERSATIONS.c.route,
    CONVERSATIONS.c.route_reason,
    CONVERSATIONS.c.lead,
)
_EXISTS = select(CONVERSATIONS.c.id).where(CONVERSATIONS.c.id == bindparam("cid"))
_STATE = select(CONVERSATIONS.c.state).where(CONVERSATIONS.c.id == bindparam("cid"))
_CONVERSATION = CONVERSATIONS.select().where(CONVERSATIONS.c.id == bindparam("cid"))
_HISTORY = (
    select(MESSAGES.c.role, MESSAGES.c.content)
    .where(
        MESSAGES.c.conversation_id == bindparam("cid"),
        MESSAGES.c.id != bindparam("mid"),
        # Customer messages that arrived after this one belong to the turns queued behind it.
        or_(MESSAGES.c.id < bindparam("mid"), MESSAGES.c.role != "customer"),
    )
    .order_by(MESSAGES.c.id.desc())
    .limit(HISTORY_LIMIT)
)
_BY_CLIENT_ID = select(MESSAGES.c.id).where(
    MESSAGES.c.conversation_id == bindparam("cid"), MESSAGES.c.client_message_id == bindparam("client_id")
)
_MESSAGE_EVENTS = (
    select(EVENTS.c.seq, EVENTS.c.kind, EVENTS.c.data)
    .where(EVENTS.c.conversation_id == bindparam("cid"), EVENTS.c.kind.in_(["message", "turn_done"]))
    .order_by(EVENTS.c.seq)
)
_INSERT_TURN = insert(TURNS).returning(TURNS.c.id)
_SET_TURN_OF_MESSAGE = update(MESSAGES).where(MESSAGES.c.id == bindparam("mid")).values(turn_id=bindparam("tid"))
# The turn's end in one UPDATE of the conversation row: route and state, the reply counted, the turn's events
# numbered (the row's event counter) and the lease freed if this turn still holds it.
_OWNED = CONVERSATIONS.c.turn_owner == bindparam("key")
_TURN_DONE = (
    update(CONVERSATIONS)
    .where(CONVERSATIONS.c.id == bindparam("cid"))
    .values(
        route=bindparam("route"),
        route_reason=bindparam("reason"),
        state=bindparam("state"),
        message_count=CONVERSATIONS.c.message_count + bindparam("replies", type_=Integer),
        updated_at=bindparam("now"),
        last_event_seq=CONVERSATIONS.c.last_event_seq + bindparam("events", type_=Integer),
        turn_owner=case((_OWNED, None), else_=CONVERSATIONS.c.turn_owner),
        turn_until=case((_OWNED, None), else_=CONVERSATIONS.c.turn_until),
        stop_turn=case((_OWNED, None), else_=CONVERSATIONS.c.stop_turn),
    )
    .returning(CONVERSATIONS.c.last_event_seq)
)
_TURN_DONE_WITH_LEAD = _TURN_DONE.values(lead=bindparam("lead"))
_FINISH_TURN = (
    update(TURNS)
    .where(TURNS.c.id == bindparam("tid"))
    .values(latency_ms=bindparam("latency"), reply_message_id=bindparam("reply_id"))
)


def _try_lease(deps: AgentDeps, session: Session, conversation_id: str, key: str) -> bool:
    """Hold the conversation for this turn if no other turn runs (in the caller's transaction)."""
    now = deps.now()
    until = now + timedelta(seconds=deps.turn_lease_s)
    done = session.execute(_LEASE, {"cid": conversation_id, "key": key, "now": now, "until": until})
    return bool(done.rowcount)  # type: ignore[attr-defined]


def _take_lease(deps: AgentDeps, arrival: Arrival) -> Conv:
    """Wait (bounded) until no other turn of this conversation runs, then hold the conversation for this one;
    the conversation as read in the transaction that took the lease."""
    give_up = time.monotonic() + deps.turn_wait_s

    def take(session: Session) -> Conv | None:
        if not _try_lease(deps, session, arrival.conversation_id, arrival.key):
            return None
        return _conv_of(session, arrival.conversation_id, arrival.message_id)

    while (conv := _write(deps, take)) is None:
        if time.monotonic() >= give_up:
            raise StoreBusy(deps.turn_wait_s, what="another turn of this conversation is still running")
        time.sleep(0.02)
    return conv


def _release_lease(session: Session, conversation_id: str, key: str) -> None:
    session.execute(_RELEASE, {"cid": conversation_id, "key": key})


def request_stop(*, engine: Engine, conversation_id: str) -> str | None:
    """Ask the running bot turn to stop after the sentence it is on; its key, or None when no turn runs."""
    table = table_of(Conversation)
    with Session(engine) as session:
        conv = _load(session, conversation_id)
        if conv.turn_owner is None:
            return None
        session.execute(
            update(table)
            .where(table.c.id == conversation_id, table.c.turn_owner == conv.turn_owner)
            .values(stop_turn=conv.turn_owner)
        )
        session.commit()
        return conv.turn_owner


def _stop_asked(deps: AgentDeps, conversation_id: str, key: str) -> bool:
    with Session(deps.engine) as session:
        conv = session.get(Conversation, conversation_id)
        return conv is not None and conv.stop_turn == key


# --- one turn: receive → build turn input → decide → respond → store -------------------------------------------


@dataclass(frozen=True)
class Arrival:
    """The customer's message, stored and logged before anything else happens."""

    conversation_id: str
    key: str  # the turn's key: the lease owner and the `turn_id` of its events
    content: str
    message_id: int
    message_seq: int
    started: float  # perf_counter at arrival
    # The conversation read under the turn's lease when the lease was free and taken with the message.
    conv: Conv | None = None
    # Set when the message repeats one already stored under the same client message id (nothing was stored).
    repeat: Repeat | None = None


@dataclass(frozen=True)
class Repeat:
    """A retried message: the stored one with the same client message id, and its turn's reply once it is done."""

    message_id: int
    message_seq: int  # the seq of its `message` event
    reply: TurnReply | None  # the turn_done of its turn; None while that turn has not finished


@dataclass(frozen=True)
class Conv:
    """The conversation as the turn reads it under its lease."""

    id: str
    state: str
    verified: bool
    customer_id: str | None
    route: str
    route_reason: str
    lead: dict[str, str]
    history: list[HistoryMessage]


@dataclass(frozen=True)
class Framing:
    """What the turn input was built from, stored with the turn."""

    route_reason: str
    topic: str | None
    snapshot: dict[str, Any] | None
    retrieval_confidence: float | None


@dataclass
class Outcome:
    """The reply of a turn and how it came about."""

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
    prompt: dict[str, Any] = field(default_factory=dict)
    within_hours: bool = True
    eta: str = ""
    stopped: bool = False


#: Called with each checked piece of the reply as it is released (it ends with its own separator).
Emit = Callable[[str], None]


def receive(
    *,
    deps: AgentDeps,
    conversation_id: str,
    content: str,
    client_ip: str = "unknown",
    lease: bool = False,
    client_message_id: str | None = None,
) -> Arrival:
    """Step 1: check limits, then store and log the customer's message (before any model call).

    With `lease`, the same transaction takes the turn's lease if it is free (the caller runs the turn at once).
    With a `client_message_id` already stored in this conversation nothing is stored: the arrival's `repeat`
    names the stored message and its turn's reply (the unique index settles two retries racing each other).
    """
    started = time.perf_counter()
    limits = deps.config.limits
    check_message(content, limits)
    with deps.engine.connect() as connection:  # an unknown conversation answers 404 before any limit counts it
        if connection.execute(_EXISTS, {"cid": conversation_id}).first() is None:
            raise ConversationNotFound(conversation_id)
    deps.limiter.hit_all(
        [
            ("messages per conversation", conversation_id, limits.messages_per_minute_per_conversation),
            ("messages per address", client_ip, limits.messages_per_minute_per_ip),
        ]
    )

    key = uuid.uuid4().hex

    def store(session: Session) -> tuple[int, int, Conv | None] | Repeat:
        if client_message_id is not None and (repeat := _repeat_of(session, conversation_id, client_message_id)):
            return repeat
        now = deps.now()
        params = {"cid": conversation_id, "now": now}
        if lease:
            params |= {"key": key, "until": now + timedelta(seconds=deps.turn_lease_s)}
        row = session.execute(_ARRIVE_AND_LEASE if lease else _ARRIVE, params).first()
        if row is None:
            raise ConversationNotFound(conversation_id)
        seq = int(row.last_event_seq)
        message_id = insert_message(
            session,
            conversation_id=conversation_id,
            role="customer",
            content=content,
            created_at=now,
            client_message_id=client_message_id,
        )
        data = message_row_data(message_id, "customer", content, None, (), now)
        insert_events(session, conversation_id, seq, [("message", data)], now)
        if not lease or row.turn_owner != key:
            return message_id, seq, None
        return message_id, seq, _conv_of_row(session, row, message_id)

    try:
        stored = _write(deps, store)
    except IntegrityError:
        if client_message_id is None:
            raise
        # The same id stored by a retry racing this one between our look-up and our insert.
        raced = _write(deps, lambda s: _repeat_of(s, conversation_id, client_message_id))
        if raced is None:
            raise
        stored = raced
    if isinstance(stored, Repeat):
        done = stored.reply
        return Arrival(
            conversation_id,
            (done.turn_key or "") if done else "",
            content,
            stored.message_id,
            stored.message_seq,
            started,
            repeat=stored,
        )
    message_id, seq, conv = stored
    return Arrival(conversation_id, key, content, message_id, seq, started, conv)


def _repeat_of(session: Session, conversation_id: str, client_message_id: str) -> Repeat | None:
    """The stored message with this client id in the conversation, with its `message` seq and its turn's reply."""
    message_id = session.execute(
        _BY_CLIENT_ID, {"cid": conversation_id, "client_id": client_message_id}
    ).scalar_one_or_none()
    if message_id is None:
        return None
    seq, reply = 0, None
    for event_seq, kind, data in session.execute(_MESSAGE_EVENTS, {"cid": conversation_id}):
        if kind == "message" and data.get("id") == message_id:
            seq = int(event_seq)
        elif kind == "turn_done" and data.get("message_id") == message_id:
            reply = TurnReply.model_validate(data)
    return Repeat(int(message_id), seq, reply)


def _conv_of(session: Session, conversation_id: str, message_id: int) -> Conv:
    """The conversation and its history before the message `message_id`, read in the caller's transaction."""
    row = session.execute(_CONVERSATION, {"cid": conversation_id}).first()
    if row is None:
        raise ConversationNotFound(conversation_id)
    return _conv_of_row(session, row, message_id)


def _conv_of_row(session: Session, row: Any, message_id: int) -> Conv:
    """The conversation from its row (read or returned in the caller's transaction) and its history before the
    message `message_id`."""
    conversation_id = row.id
    rows = session.execute(_HISTORY, {"cid": conversation_id, "mid": message_id}).all()
    history = [HistoryMessage(role, content) for role, content in reversed(rows)]
    return Conv(
        row.id,
        row.state,
        bool(row.verified),
        row.customer_id,
        row.route,
        row.route_reason,
        dict(row.lead or {}),
        history,
    )


def build_turn_input(deps: AgentDeps, conv: Conv, content: str, trace: TurnTrace) -> tuple[TurnInput, Framing]:
    """Step 2: signals, the route-filtered customer context (verified customers only), passages, lead details."""
    signals = read_message(content)
    topic = TOPIC_OF_INTENT.get(signals.intent)
    trace.topic = topic
    ctx_view: CustomerContext | None = None
    context_text = ""
    snapshot = None
    route_name, route_reason = conv.route, conv.route_reason
    # SECURITY: the customer context is built only for a verified identity resolved to a customer. A visitor's
    # claims ("I'm maya@…") never reach build_customer_context.
    if conv.verified and conv.customer_id:
        try:
            ctx: CustomerContext | None = build_customer_context(
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
            snapshot = _snapshot(ctx)  # before the route's view, which shares the records it leaves unchanged
            ctx_view, hidden, removed = _route_view(ctx, deps.config.routes[route_name])
            rendered = render_context(
                ctx_view,
                max_tokens=deps.config.prompt.context_max_tokens,
                timezone=ZoneInfo(deps.config.customer_timezone),
            )
            context_text = rendered.text
            trace.context_tokens, trace.context_max_tokens = rendered.tokens, rendered.max_tokens
            trace.context_dropped, trace.privacy_withheld = list(rendered.dropped), list(ctx.withheld)
            trace.sections_hidden_by_route, trace.context_injections_removed = hidden, removed
    route = deps.config.routes[route_name]
    viewer = "customer" if ctx_view is not None else "visitor"
    plan = ctx_view.status.plan if ctx_view is not None else None
    passages, low, confidence = _passages(deps, content, viewer=viewer, plan=plan, trace=trace)
    trace.retrieval_viewer = viewer
    trace.passage_injections_removed = sum(p.injections_removed for p in passages)
    trace.message_looks_like_injection = signals.injection
    lead = dict(conv.lead)
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
        history=conv.history,
        lead=lead if route.qualify_lead else {},
        timezone=deps.config.customer_timezone,
        config=deps.config,
        query_language=trace.query_language,
        language_fallback=trace.language_fallback and bool(passages),
    )
    return turn, Framing(route_reason, topic, snapshot, confidence)


def decide(deps: AgentDeps, turn: TurnInput) -> escalation.Decision:
    """Step 3: the escalation rules that need no answer attempt."""
    return escalation.decide_before(turn, deps.config.escalation)


def respond(
    deps: AgentDeps,
    turn: TurnInput,
    decision: escalation.Decision,
    trace: TurnTrace,
    *,
    emit: Emit,
    stream: bool = False,
    stopped: Callable[[], bool] = lambda: False,
) -> Outcome:
    """Step 4: the reply (LLM, grounding-checked, or the grounded responder), lead rules, the handoff words.

    Every piece of the reply goes through `emit` only once it passed the grounding check.
    """
    if decision.escalate:
        outcome = Outcome(None, None, decision, "none")
    else:
        prompt = assemble_prompt(turn, budget=deps.config.prompt, explain={})
        record = {"messages": [m.model_dump() for m in prompt.messages], "tokens": prompt.tokens, **prompt.explain}
        if deps.model is not None and stream:
            outcome = _stream_llm(deps, deps.model, turn, prompt.messages, trace, emit, stopped)
            _tell_language(turn, outcome, trace, emit, released=True)
        elif deps.model is not None:
            outcome = _complete_llm(deps, deps.model, turn, prompt.messages)
            _tell_language(turn, outcome, trace, emit, released=False)
            _emit_text(emit, outcome.reply)
        else:
            outcome = _grounded(turn, _today(deps, turn))
            _tell_language(turn, outcome, trace, emit, released=False)
            _emit_text(emit, outcome.reply)
        outcome.prompt = record
        if outcome.stopped:
            outcome.decision = escalation.NO
            return outcome
        decision, question = escalation.qualify_lead(turn, outcome.decision)
        outcome.decision = decision
        if question is not None and outcome.reply is not None:
            outcome.reply += _emit_text(emit, "\n\n" + question)
    if trace.knowledge_unavailable and outcome.reply is not None and outcome.responder != "none":
        outcome.reply += _emit_text(emit, "\n\n" + KNOWLEDGE_DOWN)
    if outcome.decision.escalate:
        outcome.within_hours, outcome.eta = human_eta(deps.config.business_hours, deps.now())
        hand = escalation.handoff_text(outcome.decision, turn.route.handoff_team, outcome.eta)
        base = "\n\n" if outcome.reply else ""
        outcome.reply = (outcome.reply or "") + _emit_text(emit, base + hand)
    return outcome


def store(
    deps: AgentDeps,
    arrival: Arrival,
    conv: Conv,
    turn: TurnInput,
    framing: Framing,
    outcome: Outcome,
    trace: TurnTrace,
    *,
    sentences: Sequence[str] = (),
) -> TurnReply:
    """Step 5: one transaction: re-check the state, store the reply, the turn, any handoff; log; free the lease.

    `sentences`: the released pieces of a reply that was not streamed, logged first (as if sent one by one).
    """

    def write(session: Session) -> TurnReply:
        now = deps.now()
        # The turn's events in log order, numbered by the conversation row's update below and inserted last.
        events: list[tuple[ConversationEventKind, dict[str, Any]]] = [
            ("sentence", {"turn_id": arrival.key, "text": p}) for p in sentences
        ]
        state = session.execute(_STATE, {"cid": conv.id}).scalar_one_or_none()
        if state is None:
            raise ConversationNotFound(conv.id)
        if state in HUMAN_STATES:
            # A person took the conversation while this turn ran: their word wins, the bot's reply is dropped.
            trace.state_changed_to = state
            outcome.reply, outcome.decision = None, escalation.NO
        citations = _citations(outcome.answer, turn) if outcome.reply else []
        # Core statements throughout: this transaction holds the database's write lock on SQLite.
        values = _turn_values(conv, arrival, turn, framing, outcome, citations, trace, now)
        turn_id = int(session.execute(_INSERT_TURN, values).scalar_one())
        reply_id = None
        if outcome.reply is not None:
            cited = [c.model_dump() for c in citations]
            reply_id = insert_message(
                session,
                conversation_id=conv.id,
                role="assistant",
                content=outcome.reply,
                created_at=now,
                turn_id=turn_id,
                citations=cited,
            )
            events.append(("message", message_row_data(reply_id, "assistant", outcome.reply, None, cited, now)))
        if arrival.message_id:
            session.execute(_SET_TURN_OF_MESSAGE, {"mid": arrival.message_id, "tid": turn_id})
        handoff_id, state = _record_escalation(
            session, conv, state, turn_id, values["customer_id"], turn, outcome, now, events
        )
        if outcome.stopped:
            events.append(("turn_stopped", {"turn_id": arrival.key}))
        changes: dict[str, Any] = {
            "cid": conv.id,
            "route": turn.route_name,
            "reason": framing.route_reason,
            "state": state,
            "replies": int(reply_id is not None),
            "now": now,
            "events": len(events) + 1,  # and the turn_done below
            "key": arrival.key,
        }
        if turn.route.qualify_lead:
            last = session.execute(_TURN_DONE_WITH_LEAD, changes | {"lead": dict(turn.lead)}).scalar_one_or_none()
        else:
            last = session.execute(_TURN_DONE, changes).scalar_one_or_none()
        if last is None:
            raise ConversationNotFound(conv.id)
        latency = round((time.perf_counter() - arrival.started) * 1000, 2)
        session.execute(_FINISH_TURN, {"tid": turn_id, "latency": latency, "reply_id": reply_id})
        reply = TurnReply(
            conversation_id=conv.id,
            message_id=arrival.message_id,
            reply=outcome.reply,
            reply_message_id=reply_id,
            citations=citations,
            route=turn.route_name,
            route_reason=framing.route_reason,
            intent=turn.signals.intent,
            escalation=EscalationPublic(
                escalate=outcome.decision.escalate,
                reason_code=outcome.decision.reason_code,
                reason=outcome.decision.reason,
                handoff_id=handoff_id,
                within_business_hours=outcome.within_hours if outcome.decision.escalate else None,
                human_eta=outcome.eta or None,
            ),
            state=state,
            responder=outcome.responder,
            model=outcome.model,
            turn_id=turn_id,
            turn_key=arrival.key,
            latency_ms=latency,
        )
        events.append(("turn_done", reply.model_dump(mode="json")))
        insert_events(session, conv.id, int(last) - len(events) + 1, events, now)
        return reply

    reply = _write(deps, write)
    if reply.escalation.handoff_id is not None and deps.on_handoff is not None:
        try:
            deps.on_handoff(reply.escalation.handoff_id)
        except Exception:  # the request row is stored; the handoff worker also polls for it
            log.exception("on_handoff hook failed for handoff request %s", reply.escalation.handoff_id)
    return reply


def _turn_values(
    conv: Conv,
    arrival: Arrival,
    turn: TurnInput,
    framing: Framing,
    outcome: Outcome,
    citations: list[Citation],
    trace: TurnTrace,
    now: datetime,
) -> dict[str, Any]:
    """The `agent_turns` row of this turn (its latency and reply message id are set at the end of the store)."""
    answer = outcome.answer
    return {
        "conversation_id": conv.id,
        "customer_message_id": arrival.message_id,
        "reply_message_id": None,
        "created_at": now,
        "route": turn.route_name,
        "route_reason": framing.route_reason,
        "intent": turn.signals.intent,
        "topic": framing.topic,
        "verified": conv.verified,
        "customer_id": conv.customer_id if turn.context is not None else None,
        "context_snapshot": framing.snapshot,
        "passages": [
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
        "retrieval_confidence": framing.retrieval_confidence,
        "low_confidence": turn.low_confidence,
        "responder": outcome.responder,
        "model": outcome.model,
        "fallback_reason": outcome.fallback_reason,
        "attempts": outcome.attempts,
        "latency_ms": 0.0,
        "llm_latency_ms": outcome.llm_latency_ms,
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
        "answered": outcome.answered,
        "confidence": answer.confidence if answer else None,
        "cited_passage_ids": [c.passage_id for c in citations],
        "context_fields_used": answer.context_fields_used if answer else [],
        "escalated": outcome.decision.escalate,
        "escalation_reason_code": outcome.decision.reason_code,
        "escalation_reason": outcome.decision.reason,
        "grounding_issues": outcome.grounding_issues,
        "prompt": trace.record(outcome.prompt),
    }


def _record_escalation(
    session: Session,
    conv: Conv,
    state: str,
    turn_id: int,
    customer_id: str | None,
    turn: TurnInput,
    outcome: Outcome,
    now: datetime,
    events: list[tuple[ConversationEventKind, dict[str, Any]]],
) -> tuple[int | None, str]:
    """The handoff request of an escalation, in the turn's transaction, and its `state` event added to `events`:
    (its id, new state)."""
    if not outcome.decision.escalate:
        return None, "bot" if state == "closed" else state
    handoff = HandoffRequest(
        conversation_id=conv.id,
        turn_id=turn_id,
        created_at=now,
        reason_code=outcome.decision.reason_code or "policy",
        reason=outcome.decision.reason or "",
        trigger=outcome.decision.trigger,
        team=turn.route.handoff_team,
        customer_id=customer_id,
        verified=conv.verified,
        route=turn.route_name,
        within_business_hours=outcome.within_hours,
        human_eta=outcome.eta,
    )
    session.add(handoff)
    session.flush()
    events.append(("state", {"state": "handoff", "handoff_id": handoff.id, "expected_reply": outcome.eta}))
    return handoff.id, "handoff"


def _reply_while_handed_off(deps: AgentDeps, arrival: Arrival, conv: Conv) -> TurnReply:
    """While a person has the conversation the bot stays silent; the message is already stored for them."""

    def write(session: Session) -> TurnReply:
        open_request = session.exec(  # the escalation that handed it over: the newest
            select(HandoffRequest)
            .where(HandoffRequest.conversation_id == conv.id)
            .order_by(col(HandoffRequest.id).desc())
        ).first()
        reply = TurnReply(
            conversation_id=conv.id,
            message_id=arrival.message_id,
            reply=None,
            route=conv.route,
            route_reason=conv.route_reason,
            intent=read_message(arrival.content).intent,
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
            turn_key=arrival.key,
            latency_ms=round((time.perf_counter() - arrival.started) * 1000, 2),
        )
        append_event(session, conv.id, "turn_done", reply.model_dump(mode="json"), deps.now())
        _release_lease(session, conv.id, arrival.key)
        return reply

    return _write(deps, write)


def run_turn(deps: AgentDeps, arrival: Arrival, *, stream: bool = False) -> TurnReply:
    """Steps 2-5 for a stored message, one turn of the conversation at a time (the lease)."""
    steps: dict[str, float] = {}
    mark = time.perf_counter()

    def step(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        steps[name] = round((now - mark) * 1000, 2)
        mark = now

    steps["receive"] = round((mark - arrival.started) * 1000, 2)
    # The lease taken with the message (handle_message) saves a transaction; else wait for it here.
    conv = arrival.conv if arrival.conv is not None else _take_lease(deps, arrival)
    step("lease")
    try:
        if conv.state in HUMAN_STATES:
            return _reply_while_handed_off(deps, arrival, conv)
        trace = TurnTrace(identity="verified" if conv.verified else "visitor", streamed=stream)
        turn, framing = build_turn_input(deps, conv, arrival.content, trace)
        step("build_turn_input")
        decision = decide(deps, turn)
        step("decide")

        # Without a stream the whole reply is known before anyone could watch it sentence by sentence: its
        # sentence events go into the store step's transaction (one commit per turn instead of one per sentence).
        held: list[str] = []

        def emit(piece: str) -> None:
            trace.sentences_sent += 1
            if not stream:
                held.append(piece)
                return
            _write(
                deps,
                lambda s: append_event(s, conv.id, "sentence", {"turn_id": arrival.key, "text": piece}, deps.now()),
            )

        outcome = respond(
            deps,
            turn,
            decision,
            trace,
            emit=emit,
            stream=stream,
            stopped=lambda: _stop_asked(deps, conv.id, arrival.key),
        )
        trace.stopped = outcome.stopped
        step("respond")
        trace.step_ms = dict(steps)
        return store(deps, arrival, conv, turn, framing, outcome, trace, sentences=held)
    except BaseException:
        # The message stays stored; free the conversation for the next turn at once, not at the lease's end.
        with contextlib.suppress(Exception):
            _write(deps, lambda s: _release_lease(s, arrival.conversation_id, arrival.key))
        raise


def handle_message(
    *,
    deps: AgentDeps,
    conversation_id: str,
    content: str,
    client_ip: str = "unknown",
    client_message_id: str | None = None,
) -> TurnReply:
    """Answer one customer message (or, while a person has the conversation, just record it).

    A retry with the `client_message_id` of a stored message gets that message's reply as it was first sent,
    or MessageInProgress (409) while its turn has not finished; it is never stored twice.
    """
    arrival = receive(
        deps=deps,
        conversation_id=conversation_id,
        content=content,
        client_ip=client_ip,
        lease=True,
        client_message_id=client_message_id,
    )
    if arrival.repeat is not None:
        return _repeated_reply(arrival.repeat)
    return run_turn(deps, arrival)


def _repeated_reply(repeat: Repeat) -> TurnReply:
    if repeat.reply is None:
        raise MessageInProgress(repeat.message_id)
    return repeat.reply


# --- the responders ------------------------------------------------------------------------------------------


def _emit_text(emit: Emit, text: str | None) -> str:
    """Release a text already checked as a whole, sentence by sentence; returns it (for chaining)."""
    if text:
        for piece in split_sentences(text):
            emit(piece)
    return text or ""


def _complete_llm(deps: AgentDeps, model: ChatModel, turn: TurnInput, messages: list[ChatMessage]) -> Outcome:
    """The whole reply in one request, checked as a whole; the grounded responder if it fails or is ungrounded."""
    today = _today(deps, turn)
    try:
        result = model.complete(messages, deadline_s=deps.llm_deadline_s)
    except LLMError as exc:
        log.warning("LLM failed, grounded responder answers: %s", type(exc).__name__)
        out = _grounded(turn, today)
        out.fallback_reason = f"{type(exc).__name__}: {exc}"
        return out
    issues = check_answer(result.answer, turn, today=today)
    if not issues:
        ans = result.answer
        decision = escalation.decide_after(
            turn, answered=True, model_escalate=ans.escalate, model_reason=ans.escalation_reason
        )
        return _with_cost(Outcome(ans.answer, ans, decision, "llm"), result)
    log.warning("LLM reply failed the grounding check (%d issues); grounded responder answers", len(issues))
    out = _with_cost(_grounded(turn, today), result)
    out.fallback_reason = "grounding check failed: " + "; ".join(issues)
    out.grounding_issues = issues
    return out


def _with_cost(out: Outcome, result: LLMResult) -> Outcome:
    out.model, out.attempts, out.llm_latency_ms = result.model, result.attempts, result.latency_ms
    out.prompt_tokens, out.completion_tokens = result.prompt_tokens, result.completion_tokens
    return out


def _stream_llm(
    deps: AgentDeps,
    model: ChatModel,
    turn: TurnInput,
    messages: list[ChatMessage],
    trace: TurnTrace,
    emit: Emit,
    stopped: Callable[[], bool],
) -> Outcome:
    """The model's reply streamed: each sentence is grounding-checked as it completes and released only then.

    The first failing sentence ends the model's part: the grounded responder's text replaces the rest, so what
    was shown is only checked text. A stop request ends the turn after the current sentence.
    """
    today = _today(deps, turn)
    splitter = SentenceSplitter()
    sent: list[str] = []
    result: LLMResult | None = None
    problem: str | None = None
    error: LLMError | None = None

    def release(piece: str) -> bool:
        nonlocal problem
        issues = check_answer(AgentAnswer(answer=piece, confidence=1.0), turn, today=today)
        if issues:
            problem = "; ".join(issues)
            return False
        emit(piece)
        sent.append(piece)
        return not stopped()

    gen = model.stream(messages, deadline_s=deps.llm_deadline_s)
    close = getattr(gen, "close", None)  # a generator: closing it closes the model's HTTP stream
    going = True
    try:
        for item in gen:
            if isinstance(item, LLMResult):
                result = item
                break
            for piece in splitter.feed(item):
                going = release(piece)
                if not going:
                    break
            if not going:
                break
        if going and result is not None:
            tail = splitter.flush()
            if tail:
                going = release(tail)
    except LLMError as exc:
        error = exc
    finally:
        if close is not None:
            close()
    streamed = "".join(sent)
    if problem is None and error is None and result is not None and going:
        ans = result.answer
        if ans.answer.strip() != streamed.strip():  # a repaired reply: check and send what the deltas missed
            rest = ans.answer[len(streamed) :] if ans.answer.startswith(streamed) else ""
            if rest and check_answer(AgentAnswer(answer=rest, confidence=1.0), turn, today=today):
                problem = "the repaired reply failed the grounding check"
            else:
                _emit_text(emit, rest)
                streamed += rest
        if problem is None:
            issues = check_answer(ans, turn, today=today)  # the citations, now that they arrived
            decision = escalation.decide_after(
                turn, answered=True, model_escalate=ans.escalate, model_reason=ans.escalation_reason
            )
            answer = ans.model_copy(update={"answer": streamed})
            return _with_cost(Outcome(streamed, answer, decision, "llm", grounding_issues=issues), result)
    if problem is None and error is None:  # stopped by the customer
        out = Outcome(streamed or None, None, escalation.NO, "llm", stopped=True)
        out.fallback_reason = "stopped by the customer"
        return _with_cost(out, result) if result is not None else out
    # The model failed or said something ungrounded: the grounded responder's text replaces the rest.
    out = _grounded(turn, today)
    if problem is not None:
        trace.sentence_replaced = problem
        out.grounding_issues = [problem]
        out.fallback_reason = "grounding check failed: " + problem
        log.warning("a streamed sentence failed the grounding check; grounded responder answers")
    else:
        assert error is not None
        out.fallback_reason = f"{type(error).__name__}: {error}"
        log.warning("LLM stream failed, grounded responder answers: %s", type(error).__name__)
    text = out.reply or ""
    out.reply = streamed + _emit_text(emit, ("\n\n" if streamed else "") + text) if text else (streamed or None)
    return _with_cost(out, result) if result is not None else out


def _tell_language(turn: TurnInput, outcome: Outcome, trace: TurnTrace, emit: Emit, *, released: bool) -> None:
    """The customer learns once that the help-center passages the reply uses are not in their language.

    The grounded responder writes its notice itself and the model is asked to; a model reply that names no
    language gets the notice added (before it, or after it when it was already `released` to the customer).
    """
    answer = outcome.answer
    if not turn.language_fallback or outcome.reply is None or answer is None:
        return
    used = [p for ref in dict.fromkeys(answer.cited_passage_ids) if (p := turn.passage(ref)) and p.customer_facing]
    notice = grounded_responder.language_notice(turn, used, lead_in=False)
    if notice is None:  # the reply rests on no passage: nothing to say about their language
        return
    if grounded_responder.names_language(outcome.reply, turn.query_language):
        trace.language_notice = "grounded" if outcome.responder == "grounded" else "llm"
        return
    trace.language_notice = "added"
    if released:
        outcome.reply += _emit_text(emit, "\n\n" + notice)
    else:
        outcome.reply = notice + "\n\n" + outcome.reply


def _today(deps: AgentDeps, turn: TurnInput) -> date:
    """The calendar date where the business is, from the injected clock (the grounding check's "today")."""
    return deps.now().astimezone(ZoneInfo(turn.timezone)).date()


def _grounded(turn: TurnInput, today: date) -> Outcome:
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
    return Outcome(
        reply.answer.answer, reply.answer, decision, "grounded", answered=reply.answered, grounding_issues=issues
    )


def _citations(answer: AgentAnswer | None, turn: TurnInput) -> list[Citation]:
    if answer is None:
        return []
    out = []
    for i, ref in enumerate(dict.fromkeys(answer.cited_passage_ids), start=1):
        p = turn.passage(ref)
        if p is not None and p.customer_facing:
            out.append(Citation(passage_id=p.chunk_id, marker=i, title=p.title, heading=p.heading, url=p.url))
    return out


_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s+|\n+")


def split_sentences(text: str) -> list[str]:
    """A text cut after each sentence end; each piece keeps its separator, so the pieces join back to the text."""
    splitter = SentenceSplitter()
    return [*splitter.feed(text), *([tail] if (tail := splitter.flush()) else [])]


class SentenceSplitter:
    """Cuts streamed text into complete sentences (each with its trailing whitespace) as they complete."""

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, delta: str) -> list[str]:
        """Add text; return the sentences it completed."""
        self._buffer += delta
        out: list[str] = []
        start = 0
        for m in _SENTENCE_END.finditer(self._buffer):
            if m.end() == len(self._buffer) and not m.group().endswith("\n"):
                break  # more whitespace (or a closing quote) may follow in the next delta
            out.append(self._buffer[start : m.end()])
            start = m.end()
        self._buffer = self._buffer[start:]
        return out

    def flush(self) -> str:
        """The text left when the stream ended."""
        rest, self._buffer = self._buffer, ""
        return rest


# --- streaming -------------------------------------------------------------------------------------------------


def start_turn(
    *,
    deps: AgentDeps,
    conversation_id: str,
    content: str,
    client_ip: str = "unknown",
    client_message_id: str | None = None,
) -> tuple[Arrival, threading.Thread | None]:
    """Store the message now and run its turn in the background (streamed); follow it on the event log.

    The turn does not depend on any client connection: a dropped stream does not stop it. A retry of a stored
    message (`client_message_id`) starts nothing: its arrival names the stored message and its finished turn
    (MessageInProgress while that turn runs).
    """
    arrival = receive(
        deps=deps,
        conversation_id=conversation_id,
        content=content,
        client_ip=client_ip,
        client_message_id=client_message_id,
    )
    if arrival.repeat is not None:
        _repeated_reply(arrival.repeat)
        return arrival, None

    def run() -> None:
        try:
            run_turn(deps, arrival, stream=True)
        except Exception:
            log.exception("background turn %s failed; its message is stored", arrival.key)

    worker = threading.Thread(target=run, name=f"turn-{arrival.key[:8]}", daemon=True)
    worker.start()
    return arrival, worker


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
        return TranscriptPublic(conversation=_public(conv), messages=[_message_public(m) for m in rows])


def _message_public(m: ConversationMessage) -> MessagePublic:
    return MessagePublic(
        id=int(m.id or 0),
        role=m.role,
        content=m.content,
        created_at=m.created_at,
        citations=[Citation.model_validate(c) for c in m.citations],
        author=m.author,
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
    session: Session,
    *,
    conversation_id: str,
    state: ConversationState,
    now: datetime,
    handoff_id: int | None = None,
    expected_reply: str | None = None,
) -> Conversation:
    """Move a conversation to `state` and log a `state` event, inside the caller's transaction (the handoff
    lifecycle calls this)."""
    conv = _load(session, conversation_id)
    conv.state, conv.updated_at = state, now
    session.add(conv)
    session.flush()
    append_event(
        session,
        conversation_id,
        "state",
        {"state": state, "handoff_id": handoff_id, "expected_reply": expected_reply},
        now,
    )
    return conv


def post_human_message(
    session: Session, *, conversation_id: str, content: str, author: str, now: datetime
) -> ConversationMessage:
    """Add a person's message and log its `message` event, inside the caller's transaction; the customer sees it."""
    conv = _load(session, conversation_id)
    msg = ConversationMessage(conversation_id=conv.id, role="human", content=content, created_at=now, author=author)
    conv.message_count += 1
    conv.updated_at = now
    session.add(conv)
    append_message(session, msg)
    return msg
