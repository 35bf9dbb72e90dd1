"""The review queue: pairs waiting for (or given) a human decision; its table and its reads.

Apart from the resolver and the graph's other tables (context/identity/models.py names this one too): listing the
queue (`contextdesk identity review list`) builds one table and loads no scoring code. Deciding a review is an
action (context/identity/actions.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, Index, func
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel

from context.dbtypes import JSONType, UTCDateTime, table_of
from context.identity.sql import KEY_LEN, _chunks, _ids_for_keys, _marks, _rows


class IdentityReview(SQLModel, table=True):
    """A pair waiting for (or given) a human decision."""

    __tablename__ = "identity_reviews"
    __table_args__ = (
        Index("ix_identity_reviews_pair", "record_a", "record_b"),
        Index("ix_identity_reviews_b", "record_b"),
    )

    id: int | None = Field(default=None, primary_key=True)
    record_a: str = Field(max_length=KEY_LEN)
    record_b: str = Field(max_length=KEY_LEN)
    reason: str
    score: float
    evidence: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    status: str = Field(default="pending", max_length=16, index=True)  # pending | approved | rejected
    decided_by: str | None = Field(default=None, max_length=128)
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # No default: the caller passes the injected "now" (nothing below the composition root reads the clock).
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


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
    # Core on the table, not an ORM select: a CLI read then skips configuring every mapper (~0.1 s of start-up).
    reviews = table_of(IdentityReview)
    with Session(engine) as session:
        rows = (
            session.connection()
            .execute(
                sa_select(*(reviews.c[name] for name in ReviewPublic.model_fields if name in reviews.c))
                .where(reviews.c.status == status)
                .order_by(reviews.c.score.desc(), reviews.c.id)
                .limit(limit)
            )
            .mappings()
            .all()
        )
        items = [ReviewPublic.model_validate(dict(r)) for r in rows]
        ids = _ids_for_keys(session, {k for i in items for k in (i.record_a, i.record_b)})
        names: dict[int, str | None] = {}
        for batch in _chunks(sorted(set(ids.values()))):
            sql = (
                f"SELECT id, full_name, first_name, last_name FROM customer_records WHERE id IN ({_marks(len(batch))})"
            )
            for rid, full, first, last in _rows(session, sql, batch):
                names[rid] = full or " ".join(x for x in (first, last) if x) or None
        for item in items:
            item.name_a = names.get(ids.get(item.record_a, -1))
            item.name_b = names.get(ids.get(item.record_b, -1))
        return items


def count_reviews(*, engine: Engine, status: str = "pending") -> int:
    """How many review items have a status (the whole queue, not one page of it)."""
    reviews = table_of(IdentityReview)
    with engine.connect() as conn:
        return int(
            conn.execute(sa_select(func.count()).select_from(reviews).where(reviews.c.status == status)).scalar_one()
        )
