"""Exceptions of the `context.identity` package.

IdentityError                     root (a ContextError): anything identity resolution raises on purpose
├── RulesError                    identity rules are invalid (names the file and key)
├── InputError                    a record or CSV row is unusable (names the file/record and field)
├── UnknownRecordError            a record key does not exist
├── ReviewStateError              a review item is missing or already decided
├── ActionError                   an action cannot be applied or undone in the current state
└── EngineError                   the engine asked for cannot run here (an optional dependency is missing)
"""

from __future__ import annotations

from context.errors import ContextError


class IdentityError(ContextError):
    """Root of every error raised on purpose by identity resolution."""


class RulesError(IdentityError):
    """The identity rules are invalid."""


class InputError(IdentityError):
    """A record or input row cannot be used."""


class UnknownRecordError(IdentityError):
    """A record key does not exist."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no customer record {key!r} (expected 'source:source_record_id')")
        self.key = key


class ReviewStateError(IdentityError):
    """A review item does not exist or was already decided."""


class ActionError(IdentityError):
    """An action cannot be applied or undone."""


class EngineError(IdentityError):
    """The linking engine asked for cannot run (its optional dependency is not installed)."""
