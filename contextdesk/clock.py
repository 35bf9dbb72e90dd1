"""The wall clock: the one place the product reads it. Everything below the composition root takes "now"."""

from __future__ import annotations

from datetime import UTC, datetime


def system_now() -> datetime:
    """The current time, UTC-aware (convert to the business's zone where a person reads it)."""
    return datetime.now(UTC)
