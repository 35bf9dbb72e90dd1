"""Identity resolution on the database — the package's service entry points, one import away.

The work lives in three modules: `resolution` (incremental and full resolution, stable ids, the review queue's
input, model training), `actions` (merge, unmerge, review decisions, undo) and `explanations` (why records
are one customer); two light reads have their own, with their table: `aliases` (the id a merged customer goes by
now) and `reviews` (the queue). This module only gathers their public functions for callers.
"""

from __future__ import annotations

from context.identity.actions import (
    approve_review,
    list_actions,
    merge,
    reject_review,
    undo,
    unmerge,
)
from context.identity.aliases import canonical_customer_id
from context.identity.explanations import (
    CustomerExplanation,
    PairExplanation,
    customers_snapshot,
    explain_customer,
    explain_pair,
)
from context.identity.resolution import (
    load_model,
    rebuild,
    resolve_pending,
    train,
)
from context.identity.reviews import count_reviews, list_reviews
from context.identity.sql import record_key

__all__ = [
    "CustomerExplanation",
    "PairExplanation",
    "approve_review",
    "canonical_customer_id",
    "count_reviews",
    "customers_snapshot",
    "explain_customer",
    "explain_pair",
    "list_actions",
    "list_reviews",
    "load_model",
    "merge",
    "rebuild",
    "record_key",
    "reject_review",
    "resolve_pending",
    "train",
    "undo",
    "unmerge",
]
