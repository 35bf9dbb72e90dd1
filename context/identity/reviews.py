"""The review queue's reads: pairs waiting for (or given) a human decision (the table is
context.identity.models.IdentityReview).

Apart from the resolver and the graph's tables: listing the queue (`contextdesk identity review list`) reads the
table's generated Core copy (context/readtables.py), so it builds no table class and loads neither the ORM nor
scoring code. Deciding a review is an action (context/identity/actions.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine

from context.identity.sql import _chunks, _ids_for_keys, _marks, _rows
from context.readtables import identity_reviews as reviews


class ReviewPublic(BaseModel):
    """A review item as the CLI/API shows it."""

    id: int
    record_a: str
    record_b: str
    reason: str
    score: float
    status: str
    evidence: list[dict[str, Any]]
    decided_by: str | None
    name_a: str | None = None
    name_b: str | None = None


def list_reviews(*, engine: Engine, status: str = "pending", limit: int = 50) -> list[ReviewPublic]:
    """Review items with a status, strongest first, with the names on both records."""
    with engine.connect() as conn:
        rows = (
            conn.execute(
                sa_select(*(reviews.c[name] for name in ReviewPublic.model_fields if name in reviews.c))
                .where(reviews.c.status == status)
                .order_by(reviews.c.score.desc(), reviews.c.id)
                .limit(limit)
            )
            .mappings()
            .all()
        )
        items = [ReviewPublic.model_validate(dict(r)) for r in rows]
        ids = _ids_for_keys(conn, {k for i in items for k in (i.record_a, i.record_b)})
        names: dict[int, str | None] = {}
        for batch in _chunks(sorted(set(ids.values()))):
            sql = (
                f"SELECT id, full_name, first_name, last_name FROM customer_records WHERE id IN ({_marks(len(batch))})"
            )
            for rid, full, first, last in _rows(conn, sql, batch):
                names[rid] = full or " ".join(x for x in (first, last) if x) or None
        for item in items:
            item.name_a = names.get(ids.get(item.record_a, -1))
            item.name_b = names.get(ids.get(item.record_b, -1))
        return items


def count_reviews(*, engine: Engine, status: str = "pending") -> int:
    """How many review items have a status (the whole queue, not one page of it)."""
    with engine.connect() as conn:
        return int(
            conn.execute(sa_select(func.count()).select_from(reviews).where(reviews.c.status == status)).scalar_one()
        )
