"""Exceptions of the `handoff` package.

HandoffError                      root: anything raised on purpose by handoff/
├── HandoffConfigError            the `handoff:` section of contextdesk.yaml is invalid (names the key)
├── HandoffNotFound               no handoff (or delivery) with that id
├── InboxStateError               the inbox action is not allowed in the handoff's state (HTTP 409)
└── DeliveryError                 one delivery attempt failed (kept on the attempt row; retried, then dead-lettered)
"""

from __future__ import annotations


class HandoffError(Exception):
    """Root of every error raised on purpose by the handoff package."""


class HandoffConfigError(HandoffError):
    """The handoff configuration is invalid."""


class HandoffNotFound(HandoffError):
    """No handoff or delivery with that id."""

    def __init__(self, what: str, ident: int | str) -> None:
        super().__init__(f"no {what} {ident!r}")
        self.what = what
        self.ident = ident


class InboxStateError(HandoffError):
    """An inbox action does not fit the handoff's state (e.g. replying to a resolved handoff)."""


class DeliveryError(HandoffError):
    """A delivery attempt failed: a refused connection, a timeout, or a non-2xx answer."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
