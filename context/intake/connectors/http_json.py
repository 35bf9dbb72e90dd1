"""A generic paginated REST endpoint that answers JSON, mapped like a file (`kind: http_json`, docs/sources.md).

The first request goes to `url` (with `pagination.params`, and on later syncs the committed cursor in
`pagination.updated_since_param`); the records are the list at `records` in each answer. `pagination.next`
points at the next page in the answer: a URL (followed as is, on the same origin only, so the token never
leaves it) or a token sent back in `pagination.cursor_param`. An empty or missing `next`, or a page without
records, ends the pull. The cursor is the largest `updated_at` seen, committed with the last page only: the
API's order is unknown, so a pull that stops half-way starts again from the previous cursor (idempotent).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from context.errors import ConnectorError, StandardizationError
from context.intake.config import HttpPagination, SourceConfig
from context.intake.connectors.base import Connections, Connector, Page
from context.intake.mapping import compile_path
from context.intake.standardize import standardize_timestamp, zone

#: Pages one pull may follow: a `next` that never ends is a misconfigured path, not a big source.
MAX_PAGES = 100_000


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class HttpJsonConnector(Connector):
    """One configured JSON endpoint: pages followed by their next link or token, incremental by `updated_at`."""

    def __init__(self, source: SourceConfig, connections: Connections) -> None:
        super().__init__(source, connections)
        url = source.url or ""
        if url.startswith("/"):
            if not self.creds.base_url:
                raise ConnectorError(
                    source.name,
                    f"url {url!r} is a path: set its base_url with CONTEXTDESK_SOURCES="
                    f'\'{{"{source.connector_name}": {{"base_url": "https://…"}}}}\', or give an absolute url',
                )
            base, self.first = self.creds.base_url.rstrip("/"), url
        else:
            parts = urlsplit(url)
            base = _origin(url)
            self.first = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.origin = _origin(base)
        self.paging = source.pagination or HttpPagination()
        self.records_at = compile_path(source.records) if source.records else None
        self.next_at = compile_path(self.paging.next) if self.paging.next else None
        updated = source.updated_at or []
        self.updated_at = [compile_path(p) for p in ([updated] if isinstance(updated, str) else updated)]
        self.zone = zone(source.timezone or "UTC")
        headers = {"Accept": "application/json"}
        if self.creds.token is not None:
            token = self.creds.token.get_secret_value()
            # A named header carries the token as is (X-Api-Key: …); the default is a bearer token.
            headers[self.creds.header or "Authorization"] = token if self.creds.header else f"Bearer {token}"
        self.http = connections.http(
            source,
            base_url=base,
            headers=headers,
            auth_hint=f'check the token (and "header") of "{source.connector_name}" in CONTEXTDESK_SOURCES',
        )

    def close(self) -> None:
        """Release connections."""
        self.http.close()

    def _records(self, body: Any, path: str) -> list[dict[str, Any]]:
        found = self.records_at(body) if self.records_at is not None else body
        if not isinstance(found, list):
            where = f"under {self.source.records!r}" if self.source.records else "at the top level"
            raise ConnectorError(self.name, f"GET {path}: expected a list of records {where} of the answer")
        bad = [i for i, item in enumerate(found) if not isinstance(item, dict)]
        if bad:
            raise ConnectorError(self.name, f"GET {path}: record {bad[0]} of the page is not a JSON object")
        return found

    def _next(self, body: Any) -> str | None:
        value = self.next_at(body) if self.next_at is not None else None
        if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
            return None
        return str(value)

    def _parse(self, raw: Any) -> tuple[datetime, Any] | None:
        """(instant, the value as the API wrote it) of a timestamp; None if it is not one."""
        if isinstance(raw, str | int | float) and not isinstance(raw, bool):
            try:
                return standardize_timestamp(raw, self.zone), raw
            except StandardizationError:
                return None
        return None

    def _updated(self, record: dict[str, Any]) -> tuple[datetime, Any] | None:
        for getter in self.updated_at:
            found = self._parse(getter(record))
            if found is not None:
                return found
        return None

    def pages(self, cursor: dict[str, Any] | None) -> Iterator[Page]:
        """Pages from the first URL (from the committed `updated_since`, when configured) to the last."""
        since = (cursor or {}).get("updated_since")
        first_params: dict[str, Any] = dict(self.paging.params)
        if since is not None and self.paging.updated_since_param:
            first_params[self.paging.updated_since_param] = since
        newest = self._parse(since) if since is not None else None
        path: str = self.first
        params: dict[str, Any] | None = first_params
        asked: set[tuple[str, str]] = set()
        for _ in range(MAX_PAGES):
            key = (path, repr(sorted((params or {}).items())))
            if key in asked:
                raise ConnectorError(self.name, f"the next page repeats an earlier one ({path}): check pagination.next")
            asked.add(key)
            body = self.http.request("GET", path, params=params or None).json()
            records = self._records(body, path)
            self._done += len(records)
            for record in records:
                seen = self._updated(record)
                if seen is not None and (newest is None or seen[0] > newest[0]):
                    newest = seen
            following = self._next(body) if records else None
            if following is None:
                value = newest[1] if newest is not None else None
                yield Page(records=records, cursor={"updated_since": value} if value is not None else None)
                return
            yield Page(records=records, cursor=None)
            path, params = self._follow(following, first_params)
        raise ConnectorError(self.name, f"more than {MAX_PAGES} pages: check pagination.next")

    def _follow(self, following: str, first_params: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        """The next request: a URL as is (same origin only), or the first URL with the token in `cursor_param`."""
        if following.startswith(("http://", "https://")):
            if _origin(following) != self.origin:
                raise ConnectorError(
                    self.name, f"the next page is on another host ({_origin(following)}); not followed"
                )
            return following, None
        if following.startswith("/"):
            return following, None
        if not self.paging.cursor_param:
            raise ConnectorError(
                self.name, "the answer's next page is a token, not a URL: set pagination.cursor_param to send it"
            )
        return self.first, {**first_params, self.paging.cursor_param: following}

    def fetch(self, object_id: str) -> dict[str, Any] | None:
        """Not available: a generic endpoint has no known one-record address (no webhooks or live lookups)."""
        raise ConnectorError(self.name, "an http_json source cannot fetch one record by id")
