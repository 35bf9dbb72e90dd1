"""Exceptions of the `context` package.

ContextError                      root: anything raised on purpose by context/
├── ConfigError                   contextdesk.yaml is invalid (names the source and key)
├── SourceError                   a source could not be read
│   ├── MalformedSourceError      bad CSV quoting, invalid JSON, wrong encoding (names file and line)
│   └── ConnectorError            a vendor API refused or failed (names the source, the call and the status)
│       └── ConnectorAuthError    credentials missing or refused (401/403): says which setting to fix
├── WebhookRejected               a webhook's signature or timestamp did not verify (forged or replayed)
├── SourceKindError               a source exists but is not of the kind an operation needs (a push to a pull source)
├── StandardizationError          one value failed standardization (record, field, raw value, reason)
└── NotFoundError                 a customer, record or identifier does not exist
    └── CustomerNotFoundError     no customer with that id (neither a customer nor an alias left by a merge)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class ContextError(Exception):
    """Root of every error raised on purpose by the context package."""


class ConfigError(ContextError):
    """The configuration is invalid."""


class SourceError(ContextError):
    """A source could not be read."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"source {source!r}: {message}")
        self.source = source


class MalformedSourceError(SourceError):
    """A source file is malformed at a known place."""

    def __init__(self, source: str, path: str, line: int | None, problem: str) -> None:
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(source, f"{where}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


class StandardizationError(ContextError):
    """A value could not be standardized; carries the reason shown in the quarantine."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotFoundError(ContextError):
    """Something looked up does not exist."""


class CustomerNotFoundError(NotFoundError):
    """No customer with that id (neither a customer nor an alias): the one "not found" of every context package."""

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"no customer {customer_id!r}")
        self.customer_id = customer_id


def _dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc)


def validation_problems(
    exc: ValidationError, *, prefix: str = "", where: Callable[[tuple[int | str, ...]], str] | None = None
) -> str:
    """Every invalid field of a pydantic error as `where: message`, joined by "; " — the one wording of all configs.

    `where` names a location (default: the dotted path, after `prefix`, e.g. "agent." → "agent.limits.max"). The
    "Value error, " pydantic puts before a validator's own message is dropped: the message says it all.
    """
    name = where or (lambda loc: prefix + _dotted(loc))
    return "; ".join(
        f"{name(tuple(err['loc']))}: {str(err['msg']).removeprefix('Value error, ')}"
        for err in exc.errors(include_url=False)
    )


class ConnectorError(SourceError):
    """A vendor API call failed after its retries (or cannot succeed, like a 404 on the whole endpoint)."""

    def __init__(self, source: str, message: str, *, status: int | None = None) -> None:
        super().__init__(source, message)
        self.status = status


class ConnectorAuthError(ConnectorError):
    """The vendor refused the credentials, or none are configured."""


class WebhookRejected(ContextError):
    """A webhook did not verify: bad or missing signature, or a timestamp outside the tolerance."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"webhook for {source!r} rejected: {reason}")
        self.source = source
        self.reason = reason


class SourceKindError(ContextError):
    """A configured source is not of the kind the operation needs (e.g. records pushed to a CSV source)."""

    def __init__(self, source: str, kind: str, needed: str) -> None:
        super().__init__(f"source {source!r} is of kind {kind!r}; this needs a source of kind {needed!r}")
        self.source = source
        self.kind = kind
