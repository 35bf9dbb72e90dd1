"""Intercom: contacts (users and leads) and conversations from their search APIs.

Both streams are incremental by `updated_at`, whose search is day-granular: each sync searches
`updated_at > cursor - 1 day` sorted ascending (re-reading a day of unchanged objects, which are skipped) and
pages with `pages.next.starting_after`. The cursor is the last committed object's `updated_at` (epoch seconds).
Contacts answer in `data`, conversations in `conversations`. Intercom's 429s carry `X-RateLimit-Reset`, which
the throttle waits for.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from context.errors import ConnectorError
from context.intake.config import SourceConfig
from context.intake.connectors.base import Connections, Connector, Page

DEFAULT_BASE_URL = "https://api.intercom.io"
API_VERSION = "2.11"
#: The date search matches whole days: a day of overlap so nothing changed late on the cursor's day is missed.
OVERLAP_S = 86_400
MAX_PAGE = 150
# stream -> (path, list key of its search answer)
STREAMS = {"contacts": ("/contacts", "data"), "conversations": ("/conversations", "conversations")}


class IntercomConnector(Connector):
    """One Intercom stream (contacts or conversations) of one workspace."""

    live_groups: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, source: SourceConfig, connections: Connections) -> None:
        super().__init__(source, connections)
        if source.stream not in STREAMS:
            raise ConnectorError(source.name, f"unknown Intercom stream {source.stream!r} (has {sorted(STREAMS)})")
        self.path, self.key = STREAMS[source.stream]
        self.page_size = min(int(source.options.get("page_size", MAX_PAGE)), MAX_PAGE)
        self.http = connections.http(
            source,
            base_url=self.creds.base_url or DEFAULT_BASE_URL,
            headers={
                "Authorization": f"Bearer {self.require_token('an access token (Developer Hub → your app)')}",
                "Intercom-Version": str(source.options.get("api_version", API_VERSION)),
                "Accept": "application/json",
            },
            auth_hint="check the access token of your Intercom app (Developer Hub → Authentication)",
        )

    def close(self) -> None:
        """Release connections."""
        self.http.close()

    def pages(self, cursor: dict[str, Any] | None) -> Iterator[Page]:
        """Pages of the stream's objects updated since a day before the cursor, oldest first."""
        since = (cursor or {}).get("updated_at")
        query: dict[str, Any] = (
            {"field": "updated_at", "operator": ">", "value": int(since) - OVERLAP_S}
            if since is not None
            else {"field": "updated_at", "operator": ">", "value": 0}
        )
        after: str | None = None
        while True:
            body: dict[str, Any] = {
                "query": query,
                "sort": {"field": "updated_at", "order": "ascending"},
                "pagination": {"per_page": self.page_size, **({"starting_after": after} if after else {})},
            }
            answer = self.http.request("POST", f"{self.path}/search", json=body).json()
            if not isinstance(answer, dict):
                raise ConnectorError(self.name, "search: expected a JSON object")
            data = [d for d in answer.get(self.key) or [] if isinstance(d, dict)]
            if self._total is None and isinstance(answer.get("total_count"), int):
                self._total = answer["total_count"]
            self._done += len(data)
            last = data[-1].get("updated_at") if data else None
            newest = max(int(last), int(since)) if last is not None and since is not None else (last or since)
            yield Page(records=data, cursor={"updated_at": int(newest)} if newest is not None else None)
            following = ((answer.get("pages") or {}).get("next") or {}).get("starting_after")
            if not data or not following:
                return
            after = str(following)

    def fetch(self, object_id: str) -> dict[str, Any] | None:
        """The contact or conversation now; None if Intercom no longer has it (404) or it was deleted."""
        try:
            answer = self.http.request("GET", f"{self.path}/{object_id}").json()
        except ConnectorError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(answer, dict) or answer.get("deleted"):
            return None
        return answer
