"""The outbox: deliveries are stored with the handoff (one transaction), then delivered — at least once.

A delivery row is `pending` → `delivering` (claimed with a lease) → `delivered`, or `dead` after its last
retry (a dead-letter row says why). Claiming is a conditional UPDATE, so two workers never deliver the same
row at once; a row left `delivering` by a crashed process is claimed again once its lease has passed, and
`pending` rows are picked up whenever a worker starts. Every attempt is recorded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from context.dbtypes import Clock, table_of
from handoff.config import RetryConfig, TargetConfig
from handoff.delivery import Envelope, Target
from handoff.errors import DeliveryError, HandoffNotFound, InboxStateError
from handoff.models import (
    AttemptPublic,
    DeliveryPublic,
    Handoff,
    HandoffDeadLetter,
    HandoffDelivery,
    HandoffDeliveryAttempt,
    HandoffSummary,
)

log = logging.getLogger(__name__)


def idempotency_key(handoff_id: int, target: str) -> str:
    """The key every attempt of one delivery carries (stable across retries and restarts)."""
    return f"handoff-{handoff_id}-{target}"


def enqueue(session: Session, handoff: Handoff, targets: list[TargetConfig], *, now: datetime) -> list[HandoffDelivery]:
    """Add one pending delivery per target (call in the transaction that stores the handoff)."""
    assert handoff.id is not None
    rows = [
        HandoffDelivery(
            handoff_id=handoff.id,
            target=t.name,
            kind=t.kind,
            idempotency_key=idempotency_key(handoff.id, t.name),
            created_at=now,
            updated_at=now,
        )
        for t in targets
    ]
    session.add_all(rows)
    return rows


def claim(engine: Engine, delivery_id: int, *, lease_s: float, now: datetime) -> bool:
    """Take a pending (or abandoned) delivery for this worker; False when someone else has it."""
    table = table_of(HandoffDelivery)
    with engine.begin() as conn:
        result = conn.execute(
            update(table)
            .where(
                table.c.id == delivery_id,
                or_(
                    table.c.status == "pending",
                    (table.c.status == "delivering") & (table.c.locked_until < now),
                ),
            )
            .values(status="delivering", locked_until=now + timedelta(seconds=lease_s), updated_at=now)
        )
        return result.rowcount == 1


def due(engine: Engine, *, now: datetime, limit: int = 100) -> list[int]:
    """Ids of deliveries waiting to be sent: pending ones and those whose lease expired (a crash)."""
    with Session(engine) as session:
        rows = session.exec(
            select(HandoffDelivery.id)
            .where(
                or_(
                    col(HandoffDelivery.status) == "pending",
                    (col(HandoffDelivery.status) == "delivering") & (col(HandoffDelivery.locked_until) < now),
                )
            )
            .order_by(col(HandoffDelivery.id))
            .limit(limit)
        ).all()
        return [int(r) for r in rows if r is not None]


def _envelope(engine: Engine, delivery: HandoffDelivery) -> Envelope:
    with Session(engine) as session:
        handoff = session.get(Handoff, delivery.handoff_id)
        if handoff is None:
            raise HandoffNotFound("handoff", delivery.handoff_id)
        return Envelope(
            handoff_id=int(handoff.id or 0),
            conversation_id=handoff.conversation_id,
            idempotency_key=delivery.idempotency_key,
            summary=HandoffSummary.model_validate(handoff.summary),
        )


def _record(
    engine: Engine,
    delivery_id: int,
    *,
    ok: bool,
    status: int | None,
    error: str | None,
    started: float,
    lease_s: float,
    now: datetime,
) -> int:
    with Session(engine) as session:
        row = session.get(HandoffDelivery, delivery_id)
        assert row is not None
        row.attempts += 1
        row.last_status, row.last_error, row.updated_at = status, error, now
        row.locked_until = now + timedelta(seconds=lease_s)  # still ours while we retry
        session.add(
            HandoffDeliveryAttempt(
                delivery_id=delivery_id,
                number=row.attempts,
                at=now,
                ok=ok,
                status=status,
                error=error,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
        )
        if ok:
            row.status, row.delivered_at, row.locked_until = "delivered", now, None
        session.add(row)
        session.commit()
        return row.attempts


def _dead(engine: Engine, delivery_id: int, error: str, now: datetime) -> None:
    with Session(engine) as session:
        row = session.get(HandoffDelivery, delivery_id)
        assert row is not None
        row.status, row.locked_until, row.updated_at, row.last_error = "dead", None, now, error
        session.add(row)
        session.add(HandoffDeadLetter(delivery_id=delivery_id, created_at=now, attempts=row.attempts, last_error=error))
        session.commit()
    log.warning("handoff delivery %d dead-lettered after its last retry: %s", delivery_id, error)


@dataclass
class DeliveryOutcome:
    """What one delivery run ended with."""

    delivery_id: int
    status: str  # delivered | dead | skipped (another worker has it)
    attempts: int = 0


def deliver_one(
    engine: Engine,
    delivery_id: int,
    *,
    targets: dict[str, Target],
    retry: RetryConfig,
    clock: Clock,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryOutcome:
    """Claim one delivery and send it, retrying with exponential backoff and jitter; dead-letter after the last."""
    if not claim(engine, delivery_id, lease_s=retry.lease_s, now=clock()):
        return DeliveryOutcome(delivery_id, "skipped")
    with Session(engine) as session:
        delivery = session.get(HandoffDelivery, delivery_id)
        assert delivery is not None
        session.expunge(delivery)
    target = targets.get(delivery.target)
    if target is None:
        _dead(engine, delivery_id, f"target {delivery.target!r} is not configured (any more)", clock())
        return DeliveryOutcome(delivery_id, "dead", delivery.attempts)
    envelope = _envelope(engine, delivery)
    attempts = delivery.attempts

    def attempt() -> None:
        nonlocal attempts
        started = time.perf_counter()
        try:
            result = target.deliver(envelope)
        except DeliveryError as exc:
            attempts = _record(
                engine,
                delivery_id,
                ok=False,
                status=exc.status,
                error=str(exc),
                started=started,
                lease_s=retry.lease_s,
                now=clock(),
            )
            raise
        attempts = _record(
            engine,
            delivery_id,
            ok=True,
            status=result.status,
            error=None,
            started=started,
            lease_s=retry.lease_s,
            now=clock(),
        )

    def before_sleep(state: RetryCallState) -> None:
        log.info(
            "handoff delivery %d to %s failed (attempt %d); retrying in %.2fs",
            delivery_id,
            delivery.target,
            state.attempt_number,
            state.upcoming_sleep,
        )

    try:
        for try_ in Retrying(
            retry=retry_if_exception_type(DeliveryError),
            wait=wait_exponential_jitter(multiplier=retry.initial_s, max=retry.max_s, jitter=retry.jitter_s),
            stop=stop_after_attempt(retry.attempts),
            before_sleep=before_sleep,
            sleep=sleep,
            reraise=True,
        ):
            with try_:
                attempt()
    except DeliveryError as exc:
        _dead(engine, delivery_id, str(exc), clock())
        return DeliveryOutcome(delivery_id, "dead", attempts)
    return DeliveryOutcome(delivery_id, "delivered", attempts)


def deliver_due(
    engine: Engine,
    *,
    targets: dict[str, Target],
    retry: RetryConfig,
    clock: Clock,
    workers: int = 4,
    sleep: Callable[[float], None] = time.sleep,
) -> list[DeliveryOutcome]:
    """Deliver everything due, a few deliveries in parallel (one slow target does not hold up the others)."""
    ids = due(engine, now=clock())
    if not ids:
        return []
    if workers <= 1 or len(ids) == 1:
        return [deliver_one(engine, i, targets=targets, retry=retry, clock=clock, sleep=sleep) for i in ids]
    with ThreadPoolExecutor(max_workers=min(workers, len(ids)), thread_name_prefix="handoff-delivery") as pool:
        return list(
            pool.map(lambda i: deliver_one(engine, i, targets=targets, retry=retry, clock=clock, sleep=sleep), ids)
        )


# --- reading and manual retry ------------------------------------------------------------------------------------


def _public(row: HandoffDelivery, attempts: list[HandoffDeliveryAttempt], dead_id: int | None) -> DeliveryPublic:
    return DeliveryPublic(
        id=int(row.id or 0),
        handoff_id=row.handoff_id,
        target=row.target,
        kind=row.kind,
        idempotency_key=row.idempotency_key,
        status=row.status,
        attempts=row.attempts,
        created_at=row.created_at,
        updated_at=row.updated_at,
        delivered_at=row.delivered_at,
        last_status=row.last_status,
        last_error=row.last_error,
        dead_letter_id=dead_id,
        history=[
            AttemptPublic(number=a.number, at=a.at, ok=a.ok, status=a.status, error=a.error, duration_ms=a.duration_ms)
            for a in attempts
        ],
    )


def list_deliveries(
    engine: Engine, *, status: str | None = None, handoff_id: int | None = None, limit: int = 200
) -> list[DeliveryPublic]:
    """Deliveries, newest first, with their attempts (`status="dead"` is the dead-letter list)."""
    with Session(engine) as session:
        query = select(HandoffDelivery).order_by(col(HandoffDelivery.id).desc()).limit(limit)
        if status:
            query = query.where(HandoffDelivery.status == status)
        if handoff_id is not None:
            query = query.where(HandoffDelivery.handoff_id == handoff_id)
        rows = list(session.exec(query))
        ids = [r.id for r in rows]
        attempts = list(
            session.exec(
                select(HandoffDeliveryAttempt)
                .where(col(HandoffDeliveryAttempt.delivery_id).in_(ids))
                .order_by(col(HandoffDeliveryAttempt.id))
            )
        )
        dead = {
            d.delivery_id: d.id
            for d in session.exec(
                select(HandoffDeadLetter).where(
                    col(HandoffDeadLetter.delivery_id).in_(ids), col(HandoffDeadLetter.retried_at).is_(None)
                )
            )
        }
        return [_public(r, [a for a in attempts if a.delivery_id == r.id], dead.get(int(r.id or 0))) for r in rows]


def retry_dead(engine: Engine, *, now: datetime, delivery_id: int | None = None, actor: str = "cli") -> list[int]:
    """Put dead deliveries (one, or all with None) back to pending; the worker sends them again."""
    with Session(engine) as session:
        query = select(HandoffDelivery).where(HandoffDelivery.status == "dead")
        if delivery_id is not None:
            row = session.get(HandoffDelivery, delivery_id)
            if row is None:
                raise HandoffNotFound("delivery", delivery_id)
            if row.status != "dead":
                raise InboxStateError(f"delivery {delivery_id} is {row.status}, not dead: nothing to retry")
            query = query.where(HandoffDelivery.id == delivery_id)
        rows = list(session.exec(query))
        for row in rows:
            row.status, row.updated_at, row.last_error = "pending", now, None
            session.add(row)
            for letter in session.exec(
                select(HandoffDeadLetter).where(
                    HandoffDeadLetter.delivery_id == row.id, col(HandoffDeadLetter.retried_at).is_(None)
                )
            ):
                letter.retried_at, letter.retried_by = now, actor
                session.add(letter)
        session.commit()
        return [int(r.id or 0) for r in rows]
