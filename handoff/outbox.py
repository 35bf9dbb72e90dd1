"""The outbox: deliveries are stored with the handoff (one transaction), then delivered — at least once.

A delivery row is `pending` → `delivering` (claimed with a lease, one attempt) → `delivered`; a failed attempt
puts it back to `pending` with the time of its next attempt (exponential backoff) — retries are scheduled, never
slept through — and the last one, or a value that can never be sent, makes it `dead` (a dead-letter row says why).
Claiming is a conditional UPDATE, so two workers never deliver the same row at once; a row left `delivering` by
a crashed process is claimed again once its lease has passed, and `pending` rows are picked up whenever a worker
starts. Every attempt is recorded.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

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


def _waiting(status: Any, locked: Any, now: datetime) -> ColumnElement[bool]:
    """SQL condition of a delivery that may be taken now: pending and due, or abandoned mid-attempt (a crash)."""
    return or_(
        and_(status == "pending", or_(locked.is_(None), locked <= now)),
        and_(status == "delivering", locked < now),
    )


def claim(engine: Engine, delivery_id: int, *, lease_s: float, now: datetime) -> bool:
    """Take a due (or abandoned) delivery for this worker; False when someone else has it or it is not due."""
    table = table_of(HandoffDelivery)
    with engine.begin() as conn:
        result = conn.execute(
            update(table)
            .where(table.c.id == delivery_id, _waiting(table.c.status, table.c.locked_until, now))
            .values(status="delivering", locked_until=now + timedelta(seconds=lease_s), updated_at=now)
        )
        return result.rowcount == 1


def due(engine: Engine, *, now: datetime, limit: int = 100) -> list[int]:
    """Ids of deliveries to attempt now: pending ones whose next attempt is due, and abandoned ones (a crash).

    A pending row's `locked_until` is the time of its next attempt (its backoff); while `delivering` it is the
    lease of the worker attempting it.
    """
    with Session(engine) as session:
        rows = session.exec(
            select(HandoffDelivery.id)
            .where(_waiting(col(HandoffDelivery.status), col(HandoffDelivery.locked_until), now))
            .order_by(col(HandoffDelivery.id))
            .limit(limit)
        ).all()
        return [int(r) for r in rows if r is not None]


def next_due_in(engine: Engine, *, now: datetime) -> float | None:
    """Seconds until the earliest scheduled retry (None when no delivery waits for one)."""
    with Session(engine) as session:
        soonest = session.exec(
            select(HandoffDelivery.locked_until)
            .where(HandoffDelivery.status == "pending", col(HandoffDelivery.locked_until).is_not(None))
            .order_by(col(HandoffDelivery.locked_until))
            .limit(1)
        ).first()
    return None if soonest is None else max(0.0, (soonest - now).total_seconds())


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


def backoff_s(failures: int, retry: RetryConfig, *, rng: Callable[[], float] = random.random) -> float:
    """Seconds before the next attempt after `failures` failed ones: exponential, capped, with jitter."""
    return min(retry.max_s, retry.initial_s * 2 ** max(0, failures - 1)) + retry.jitter_s * rng()


def _finish_attempt(
    engine: Engine,
    delivery_id: int,
    *,
    ok: bool,
    status: int | None,
    error: str | None,
    duration_ms: float,
    retry: RetryConfig,
    now: datetime,
    final: bool = False,
) -> tuple[str, int]:
    """Record one attempt and move the row: delivered, pending with its next attempt time, or dead."""
    with Session(engine) as session:
        row = session.get(HandoffDelivery, delivery_id)
        assert row is not None
        row.attempts += 1
        row.last_status, row.last_error, row.updated_at = status, error, now
        session.add(
            HandoffDeliveryAttempt(
                delivery_id=delivery_id,
                number=row.attempts,
                at=now,
                ok=ok,
                status=status,
                error=error,
                duration_ms=duration_ms,
            )
        )
        # Attempts since the last dead letter: a manual retry gives a delivery a fresh set of tries.
        spent = session.exec(
            select(HandoffDeadLetter.attempts)
            .where(HandoffDeadLetter.delivery_id == delivery_id)
            .order_by(col(HandoffDeadLetter.id).desc())
        ).first()
        failures = row.attempts - (spent or 0)
        if ok:
            row.status, row.delivered_at, row.locked_until = "delivered", now, None
        elif final or failures >= retry.attempts:
            row.status, row.locked_until = "dead", None
            session.add(
                HandoffDeadLetter(delivery_id=delivery_id, created_at=now, attempts=row.attempts, last_error=error)
            )
            log.warning("handoff delivery %d dead-lettered: %s", delivery_id, error)
        else:
            # The retry is scheduled, not waited for: this worker moves on to other deliveries meanwhile.
            row.status, row.locked_until = "pending", now + timedelta(seconds=backoff_s(failures, retry))
        session.add(row)
        session.commit()
        return row.status, row.attempts


def _dead(engine: Engine, delivery_id: int, error: str, now: datetime) -> None:
    with Session(engine) as session:
        row = session.get(HandoffDelivery, delivery_id)
        assert row is not None
        row.status, row.locked_until, row.updated_at, row.last_error = "dead", None, now, error
        session.add(row)
        session.add(HandoffDeadLetter(delivery_id=delivery_id, created_at=now, attempts=row.attempts, last_error=error))
        session.commit()
    log.warning("handoff delivery %d dead-lettered: %s", delivery_id, error)


def _why(exc: Exception) -> str:
    # The exception's type and first line only: a message may quote the value (a name: PII) at length.
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass
class DeliveryOutcome:
    """What one delivery attempt ended with."""

    delivery_id: int
    status: str  # delivered | pending (a retry is scheduled) | dead | skipped (another worker has it)
    attempts: int = 0


def deliver_one(
    engine: Engine, delivery_id: int, *, targets: dict[str, Target], retry: RetryConfig, clock: Clock
) -> DeliveryOutcome:
    """Claim one due delivery and make ONE attempt; a failure schedules the next (backoff), the last dead-letters.

    The attempt itself is bounded by the target's timeout (`retry.timeout_s`); nothing here sleeps, so a slow
    or failing target never holds up another delivery or the creation of other handoffs.
    """
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
    try:
        envelope = _envelope(engine, delivery)
    except Exception as exc:  # a stored summary that no longer validates can never be sent: say so, do not hang
        _dead(engine, delivery_id, f"undeliverable: {_why(exc)}", clock())
        return DeliveryOutcome(delivery_id, "dead", delivery.attempts)
    started = time.perf_counter()
    ok, status, error, final = False, None, None, False
    try:
        result = target.deliver(envelope)
        ok, status = True, result.status
    except DeliveryError as exc:
        status, error = exc.status, str(exc)
    except Exception as exc:
        # Not a failed attempt but a value the target can never send (e.g. a CR/LF that breaks an email header):
        # retrying cannot help, so it is dead-lettered at once with its reason.
        error, final = f"undeliverable: {_why(exc)}", True
    moved, attempts = _finish_attempt(
        engine,
        delivery_id,
        ok=ok,
        status=status,
        error=error,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
        retry=retry,
        now=clock(),
        final=final,
    )
    if moved == "pending":
        log.info(
            "handoff delivery %d to %s failed (attempt %d); retry scheduled", delivery_id, delivery.target, attempts
        )
    return DeliveryOutcome(delivery_id, moved, attempts)


def deliver_due(
    engine: Engine,
    *,
    targets: dict[str, Target],
    retry: RetryConfig,
    clock: Clock,
    workers: int = 4,
) -> list[DeliveryOutcome]:
    """One attempt at everything due, a few in parallel (retries are scheduled for later passes)."""
    ids = due(engine, now=clock())
    if not ids:
        return []
    if workers <= 1 or len(ids) == 1:
        return [deliver_one(engine, i, targets=targets, retry=retry, clock=clock) for i in ids]
    with ThreadPoolExecutor(max_workers=min(workers, len(ids)), thread_name_prefix="handoff-delivery") as pool:
        return list(pool.map(lambda i: deliver_one(engine, i, targets=targets, retry=retry, clock=clock), ids))


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
