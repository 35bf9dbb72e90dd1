"""Scheduled syncs: each source on its `interval`, one worker at a time per source, every run recorded.

A worker takes a source's lock row (or one whose holder let it expire) before syncing it and extends it while
the sync makes progress, so two `contextdesk worker` processes — or a worker and a manual `contextdesk sync` run
through the same function — never pull the same source at once. After the due sources are synced, identity
resolution and the profile recompute run once for everything that changed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from context.dbtypes import table_of
from context.identity.service import resolve_pending
from context.intake.config import SourceConfig
from context.intake.models import SourceLock, SourceSummary, SyncRun, SyncRunPublic, WebhookEvent
from context.intake.service import sync_source
from context.live.propagate import PropagationDeps
from context.profiles.service import recompute_profiles

LOCKS, RUNS, INBOX = table_of(SourceLock), table_of(SyncRun), table_of(WebhookEvent)
LOCK_TTL = timedelta(minutes=10)
# Extend a held lock at most this often (each extension is one write).
HEARTBEAT_S = 30.0


def acquire_lock(*, engine: Engine, source: str, holder: str, now: datetime, ttl: timedelta = LOCK_TTL) -> bool:
    """Take the source's lock if it is free or expired; True if `holder` now holds it."""
    try:
        with engine.begin() as conn:
            conn.execute(insert(LOCKS).values(source=source, holder=holder, expires_at=now + ttl))
        return True
    except IntegrityError:
        pass
    with engine.begin() as conn:
        taken = conn.execute(
            update(LOCKS)
            .where(LOCKS.c.source == source, (LOCKS.c.expires_at < now) | (LOCKS.c.holder == holder))
            .values(holder=holder, expires_at=now + ttl)
        ).rowcount
    return bool(taken)


def release_lock(*, engine: Engine, source: str, holder: str) -> None:
    """Give the lock back (only if `holder` still holds it)."""
    with engine.begin() as conn:
        conn.execute(delete(LOCKS).where(LOCKS.c.source == source, LOCKS.c.holder == holder))


def last_runs(*, engine: Engine) -> dict[str, Any]:
    """The latest run of each source (any status)."""
    with engine.connect() as conn:
        latest = select(RUNS.c.source, func.max(RUNS.c.id).label("id")).group_by(RUNS.c.source).subquery()
        rows = conn.execute(select(RUNS).join(latest, RUNS.c.id == latest.c.id)).all()
    return {row.source: row for row in rows}


def due_sources(*, engine: Engine, sources: Sequence[SourceConfig], now: datetime) -> list[SourceConfig]:
    """Sources with an interval whose last run started at least that long ago (or never ran)."""
    runs = last_runs(engine=engine)
    due = []
    for source in sources:
        if source.interval is None or source.kind == "push":
            continue
        run = runs.get(source.name)
        if run is None or run.started_at + timedelta(seconds=source.interval) <= now:
            due.append(source)
    return due


@dataclass
class TickResult:
    """What one scheduler pass did."""

    synced: list[SourceSummary] = field(default_factory=list)
    skipped_locked: list[str] = field(default_factory=list)
    customers_recomputed: int = 0


def run_sources(*, deps: PropagationDeps, sources: Sequence[SourceConfig], holder: str, workers: int = 0) -> TickResult:
    """Sync these sources under their locks, then resolve identities and recompute changed profiles once."""
    result = TickResult()
    for source in sources:
        if not acquire_lock(engine=deps.engine, source=source.name, holder=holder, now=deps.clock()):
            result.skipped_locked.append(source.name)
            continue
        beat = [time.monotonic()]

        def heartbeat(
            _name: str,
            _done: int,
            _total: int | None,
            _records: int,
            source: str = source.name,
            beat: list[float] = beat,
        ) -> None:
            if time.monotonic() - beat[0] > HEARTBEAT_S:
                beat[0] = time.monotonic()
                acquire_lock(engine=deps.engine, source=source, holder=holder, now=deps.clock())

        try:
            result.synced.append(
                sync_source(
                    engine=deps.engine,
                    config=deps.intake,
                    source=source,
                    clock=deps.clock,
                    connections=deps.connections,
                    on_progress=heartbeat,
                    workers=workers,
                )
            )
        finally:
            release_lock(engine=deps.engine, source=source.name, holder=holder)
    if any(s.new or s.changed or s.remapped or s.deleted for s in result.synced):
        now = deps.clock()
        resolve_pending(engine=deps.engine, rules=deps.rules, now=now)
        summary = recompute_profiles(engine=deps.engine, config=deps.profiles, now=now)
        result.customers_recomputed = summary.customers
        for callback in deps.on_change:
            callback(set())  # a sync may change anyone: caches drop everything
    return result


def run_due(*, deps: PropagationDeps, holder: str) -> TickResult:
    """One scheduler pass: sync every source that is due."""
    return run_sources(
        deps=deps, sources=due_sources(engine=deps.engine, sources=deps.intake.sources, now=deps.clock()), holder=holder
    )


def sync_history(*, engine: Engine, source: str | None = None, limit: int = 50) -> list[SyncRunPublic]:
    """Sync runs, newest first (a connector's name selects all its streams)."""
    query = select(RUNS).order_by(RUNS.c.id.desc()).limit(limit)
    if source is not None:
        query = query.where((RUNS.c.source == source) | RUNS.c.source.like(f"{source}-%"))
    with engine.connect() as conn:
        return [SyncRunPublic.model_validate(row, from_attributes=True) for row in conn.execute(query)]


class SourceHealth(BaseModel):
    """Freshness and state of one source."""

    source: str
    kind: str
    interval_s: float | None
    last_success: datetime | None
    last_status: str | None
    last_error: str | None
    overdue: bool
    webhooks_pending: int
    webhooks_failed: int


def source_health(*, engine: Engine, sources: Sequence[SourceConfig], now: datetime) -> list[SourceHealth]:
    """Per source: when it last synced successfully, its last run's state, whether it is overdue, its inbox."""
    runs = last_runs(engine=engine)
    with engine.connect() as conn:
        ok = dict(
            conn.execute(
                select(RUNS.c.source, func.max(RUNS.c.finished_at)).where(RUNS.c.status == "ok").group_by(RUNS.c.source)
            ).all()
        )
        inbox = conn.execute(
            select(INBOX.c.source, INBOX.c.status, func.count()).group_by(INBOX.c.source, INBOX.c.status)
        ).all()
    counts: dict[tuple[str, str], int] = {(s, st): n for s, st, n in inbox}
    out = []
    for source in sources:
        run = runs.get(source.name)
        last_ok = ok.get(source.name)
        overdue = source.interval is not None and (
            last_ok is None or now - last_ok > timedelta(seconds=2 * source.interval)
        )
        out.append(
            SourceHealth(
                source=source.name,
                kind=source.kind,
                interval_s=source.interval,
                last_success=last_ok,
                last_status=run.status if run else None,
                last_error=run.error if run else None,
                overdue=overdue,
                webhooks_pending=counts.get((source.connector_name, "pending"), 0),
                webhooks_failed=counts.get((source.connector_name, "failed"), 0),
            )
        )
    return out
