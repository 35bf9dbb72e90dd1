"""Zendesk Support: users and tickets from the cursor-based incremental exports.

`/api/v2/incremental/{users,tickets}/cursor.json` starts at `start_time` (0: everything, or
`options.start_time`) and then follows `after_cursor` until `end_of_stream`; the last `after_cursor` is the
stream's cursor, so the next sync asks only for what changed since. Deleted tickets come back with status
`deleted` and deactivated users with `active: false`: both become tombstones. The incremental exports are
limited to 10 requests a minute; Zendesk's 429 carries `Retry-After`, which the throttle obeys.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any, ClassVar

from context.errors import ConnectorAuthError, ConnectorError
from context.intake.config import SourceConfig
from context.intake.connectors.base import Connections, Connector, Page

# stream -> (incremental path, list key, one-object path, object key)
STREAMS = {
    "users": ("/api/v2/incremental/users/cursor.json", "users", "/api/v2/users/{}.json", "user"),
    "tickets": ("/api/v2/incremental/tickets/cursor.json", "tickets", "/api/v2/tickets/{}.json", "ticket"),
}
MAX_PAGE = 1000


def _gone(stream: str, obj: dict[str, Any]) -> bool:
    """A deleted ticket or a deleted (deactivated) user: the export still lists it, as a deletion."""
    if stream == "tickets":
        return obj.get("status") == "deleted"
    return obj.get("active") is False


class ZendeskConnector(Connector):
    """One Zendesk stream (users or tickets) of one account."""

    live_groups: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, source: SourceConfig, connections: Connections) -> None:
        super().__init__(source, connections)
        if source.stream not in STREAMS:
            raise ConnectorError(source.name, f"unknown Zendesk stream {source.stream!r} (has {sorted(STREAMS)})")
        self.path, self.key, self.one_path, self.one_key = STREAMS[source.stream]
        if not self.creds.base_url:
            raise ConnectorError(
                source.name,
                f'no account address: set CONTEXTDESK_SOURCES=\'{{"{source.connector_name}": {{"base_url": '
                '"https://SUBDOMAIN.zendesk.com", "email": "agent@…", "token": "…"}}\'',
            )
        token = self.require_token("an API token (Admin Center → Apps and integrations → Zendesk API)")
        if not self.creds.email:
            raise ConnectorAuthError(
                source.name,
                f'no agent email: the API token authenticates as EMAIL/token (set "email" under '
                f'"{source.connector_name}" in CONTEXTDESK_SOURCES)',
            )
        basic = base64.b64encode(f"{self.creds.email}/token:{token}".encode()).decode()
        self.page_size = min(int(source.options.get("page_size", MAX_PAGE)), MAX_PAGE)
        self.start_time = int(source.options.get("start_time", 0))
        self.http = connections.http(
            source,
            base_url=self.creds.base_url,
            headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
            auth_hint="check the agent email and API token (token access must be enabled in the Admin Center)",
        )

    def close(self) -> None:
        """Release connections."""
        self.http.close()

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        body = self.http.request("GET", path, params=params).json()
        if not isinstance(body, dict):
            raise ConnectorError(self.name, f"GET {path}: expected a JSON object")
        return body

    def pages(self, cursor: dict[str, Any] | None) -> Iterator[Page]:
        """Pages of the incremental export from the saved `after_cursor` (or `start_time`) to `end_of_stream`."""
        after = (cursor or {}).get("cursor")
        params: dict[str, Any] = {"per_page": self.page_size}
        if after:
            params["cursor"] = after
        else:
            params["start_time"] = self.start_time
        while True:
            body = self._get(self.path, params)
            items: list[dict[str, Any]] = [i for i in body.get(self.key) or [] if isinstance(i, dict)]
            self._done += len(items)
            deleted = [str(i["id"]) for i in items if _gone(self.source.stream or "", i) and "id" in i]
            records = [i for i in items if not _gone(self.source.stream or "", i)]
            after = body.get("after_cursor") or after
            yield Page(records=records, cursor={"cursor": after} if after else None, deleted=deleted)
            if body.get("end_of_stream", True) or not body.get("after_cursor"):
                return
            params = {"per_page": self.page_size, "cursor": after}

    def fetch(self, object_id: str) -> dict[str, Any] | None:
        """The user or ticket by id; None if Zendesk no longer has it (404) or it is deleted."""
        try:
            body = self._get(self.one_path.format(object_id), {})
        except ConnectorError as exc:
            if exc.status == 404:
                return None
            raise
        obj = body.get(self.one_key)
        if not isinstance(obj, dict) or _gone(self.source.stream or "", obj):
            return None
        return obj
