"""Build the resolved customer context of one customer as a purpose may see it.

The pipeline: resolve the id (an alias left by a merge is followed) → read the stored profile → assemble the
sections (assemble.py) → apply the privacy policy (privacy.py). Lookups by identifier live in lookup.py.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from context.customer_context.assemble import assemble_context
from context.customer_context.config import ContextConfig
from context.customer_context.errors import ProfileNotReadyError
from context.customer_context.live import LiveLookup
from context.customer_context.models import (
    CustomerContext,
    Purpose,
)
from context.customer_context.privacy import apply_policy
from context.customer_context.tables import CU, P
from context.identity.aliases import canonical_customer_id


def _resolve_id(conn: Connection, engine: Engine, customer_id: str) -> str:
    if conn.execute(select(CU.c.id).where(CU.c.id == customer_id)).first() is not None:
        return customer_id
    return canonical_customer_id(engine=engine, customer_id=customer_id)  # an alias, or CustomerNotFoundError


def build_customer_context(
    *,
    engine: Engine,
    customer_id: str,
    purpose: Purpose = "llm_prompt",
    topic: str | None = None,
    now: datetime,
    config: ContextConfig | None = None,
    live: LiveLookup | None = None,
) -> CustomerContext:
    """The context of one customer as `purpose` may see it (privacy policy applied), with gaps and freshness.

    `customer_id` may be an alias left by a merge. `topic` (e.g. "delivery") can unlock fields the policy
    allows only for that topic. Reads only: raises CustomerNotFoundError, or ProfileNotReadyError for a
    customer whose profile was never computed (the load pipeline recomputes profiles after resolving).
    `live` (context/live/lookup.py) re-reads the status of shown orders and subscriptions from sources with live
    lookups on; a failed lookup leaves the stored value with its as-of time and a known gap.
    """
    config = config or ContextConfig()
    with engine.connect() as conn:
        profile = conn.execute(select(P).where(P.c.customer_id == customer_id)).first()
        if profile is None:
            resolved = _resolve_id(conn, engine, customer_id)
            profile = conn.execute(select(P).where(P.c.customer_id == resolved)).first()
            if profile is None:
                raise ProfileNotReadyError(resolved)
        ctx = assemble_context(conn, profile, config, now, live)
    return apply_policy(ctx, policy=config.privacy, purpose=purpose, topic=topic)
