"""Identity resolution on the database — the package's service entry points, one import away.

The work lives in three modules: `resolution` (incremental and full resolution, stable ids, the review queue's
input, model training), `actions` (merge, unmerge, review decisions, undo) and `explanations` (why records
are one customer). This module only gathers their public functions for callers.
"""

from __future__ import annotations

from context.identity.actions import (
    approve_review,
    count_reviews,
    list_actions,
    list_reviews,
    merge,
    reject_review,
    undo,
    unmerge,
)
from context.identity.explanations import (
    CustomerExplanation,
    PairExplanation,
    customers_snapshot,
    explain_customer,
    explain_pair,
)
from context.identity.resolution import (
    canonical_customer_id,
    load_model,
    rebuild,
    record_key,
    resolve_pending,
    train,
)

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
