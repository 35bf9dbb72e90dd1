"""What every connector shares: credentials, the per-vendor throttles, pages with their cursors.

A connector stream is a `Source` like a file (so `sources check` samples it the same way) that also yields
`Page`s: records as read, ids the vendor deleted (tombstones), and the cursor to commit once the page's records
are committed. It can re-fetch one object by id (webhooks with a thin or stale payload, live lookups).
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from context.dbtypes import Clock
from context.errors import ConnectorAuthError, ConnectorError
from context.intake.config import SourceConfig
from context.intake.credentials import SourceCredentials
from context.intake.sources import SourcePayload

if TYPE_CHECKING:
    # httpx costs ~40 ms at start-up: only a connector that talks to a vendor needs it (not settings, not the CLI).
    from context.intake.connectors.http import Throttle, VendorHTTP


@dataclass
class Page:
    """One page of a stream: records as read, deleted ids, and the cursor that is safe once both are stored."""

    records: list[dict[str, Any]]
    cursor: dict[str, Any] | None
    deleted: list[str] = field(default_factory=list)
    # A full re-list finished: records of this stream not seen since it began may be gone (not acted on yet).
    full: bool = False


@dataclass
class Connections:
    """How connectors reach vendors: credentials by connector name, one throttle per vendor account."""

    credentials: Mapping[str, SourceCredentials]
    clock: Clock
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    random: Callable[[], float] = _random.random
    timeout_s: float = 30.0
    attempts: int = 6
    throttles: dict[str, Throttle] = field(default_factory=dict)

    def throttle(self, connector: str) -> Throttle:
        """The throttle every stream of this connector shares."""
        from context.intake.connectors.http import Throttle

        if connector not in self.throttles:
            self.throttles[connector] = Throttle(clock=self.clock, sleep=self.sleep, monotonic=self.monotonic)
        return self.throttles[connector]

    def creds(self, source: SourceConfig) -> SourceCredentials:
        """The credentials of a source's connector (an empty set if none are configured)."""
        return self.credentials.get(source.connector_name) or SourceCredentials()

    def http(self, source: SourceConfig, *, base_url: str, headers: Mapping[str, str], auth_hint: str) -> VendorHTTP:
        """A client for this source's vendor account, sharing the connector's throttle."""
        from context.intake.connectors.http import RetryPolicy, VendorHTTP

        return VendorHTTP(
            source=source.name,
            base_url=base_url,
            headers=headers,
            throttle=self.throttle(source.connector_name),
            retry=RetryPolicy(attempts=self.attempts, random=self.random),
            timeout_s=self.timeout_s,
            auth_hint=auth_hint,
        )


class Connector:
    """Base of a connector stream; subclasses implement `pages` and `fetch`."""

    #: The field groups a live lookup can refresh, with the canonical fields each covers.
    live_groups: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, source: SourceConfig, connections: Connections) -> None:
        self.name = source.name
        self.source = source
        self.connections = connections
        self.creds = connections.creds(source)
        self._done = 0
        self._total: int | None = None

    def require_token(self, setting: str) -> str:
        """The API token, or a clear error naming the setting to fill."""
        if self.creds.token is None:
            raise ConnectorAuthError(
                self.name,
                f'no API token configured: set CONTEXTDESK_SOURCES=\'{{"{self.source.connector_name}": '
                f'{{"token": "…"}}}}\' ({setting})',
            )
        return self.creds.token.get_secret_value()

    def pages(self, cursor: dict[str, Any] | None) -> Iterator[Page]:
        """Pages from `cursor` (None: from the beginning), oldest change first where the API allows."""
        raise NotImplementedError

    def fetch(self, object_id: str) -> dict[str, Any] | None:
        """The current version of one object as the pull would read it; None if the vendor deleted it."""
        raise NotImplementedError

    def fetch_many(self, object_ids: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """The current version of several objects by id (None: deleted); vendors with a batch read override it."""
        return {object_id: self.fetch(object_id) for object_id in dict.fromkeys(object_ids)}

    def related(self, kind: str, object_ids: Sequence[str]) -> dict[str, list[str]]:
        """The ids of this stream's objects each related object belongs to now (a HubSpot deal: its contacts)."""
        raise ConnectorError(self.name, f"{self.source.kind} {self.source.stream} has no related {kind} objects")

    def read(self) -> Iterator[SourcePayload]:
        """Every record from the beginning (for `sources check`)."""
        for page in self.pages(None):
            for record in page.records:
                yield SourcePayload(record, None)

    def progress(self) -> tuple[int, int | None]:
        """(records read, total if the vendor says)."""
        return self._done, self._total

    def close(self) -> None:
        """Release connections."""
