"""Records POSTed by another system (a booking tool, a form) to a source of kind `push`.

They take the path webhooks take outside a sync: the source's mapping, the raw store, quarantine and the
idempotent content hash (`context.intake.service.RecordWriter`), then identity and the profiles of the customers
they touched (`context.live.propagate.propagate_writes`). The same record pushed twice is `unchanged`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from context.errors import NotFoundError, SourceKindError
from context.live.propagate import PropagationDeps, propagate_writes

#: Records one push may carry (a bigger batch is split by the sender; docs/sources.md).
MAX_PUSH_RECORDS = 1000


class PushProblem(BaseModel):
    """One value of a pushed record that was quarantined (the rest of the record is stored)."""

    record: str = Field(description="The record's id in the source (or `hash:…` when it had none).")
    field: str = Field(description="The canonical field, or `id` when the record had no id.")
    reason: str = Field(description="Why the value was not accepted.")


class PushResult(BaseModel):
    """What a push did to each record it carried."""

    source: str
    received: int = Field(description="Records in the request.")
    stored: int = Field(description="Records new or changed since the last push (stored as a new version).")
    unchanged: int = Field(description="Records identical to the stored version (nothing written).")
    duplicates: int = Field(description="Records whose id appeared again later in the same request (the last wins).")
    quarantined: int = Field(description="Stored records with at least one value quarantined (listed in `problems`).")
    problems: list[PushProblem] = Field(default_factory=list)


def push_records(*, deps: PropagationDeps, source: str, records: list[dict[str, Any]]) -> PushResult:
    """Store records pushed to a `kind: push` source, then resolve and recompute the customers they touched."""
    target = next((s for s in deps.intake.sources if s.name == source), None)
    if target is None:
        raise NotFoundError(f"no source named {source!r} is configured")
    if target.kind != "push":
        raise SourceKindError(source, target.kind, "push")
    with deps.lock:
        applied = deps.writer(target).apply(engine=deps.engine, payloads=records, at=deps.clock())
        propagate_writes(deps=deps, record_ids=applied.record_ids, previous_customers=applied.previous_customers)
    counts = applied.counts
    problems = [PushProblem(record=r, field=f, reason=why) for r, f, why in applied.quarantined]
    return PushResult(
        source=source,
        received=len(records),
        stored=counts.new + counts.changed + counts.remapped,
        unchanged=counts.unchanged,
        duplicates=len(records) - counts.read,
        quarantined=len({p.record for p in problems}),
        problems=problems,
    )
