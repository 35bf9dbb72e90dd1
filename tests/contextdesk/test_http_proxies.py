"""Trusted proxies (CONTEXTDESK_TRUSTED_PROXIES): X-Forwarded-For names the client only when the connection
comes from a listed proxy, and then the address the proxy saw (the rightmost entry it did not add itself) is the
rate-limit key. Real uvicorn on loopback, configured as `contextdesk serve` configures it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from contextdesk.app import create_app
from contextdesk.settings import Settings
from tests.contextdesk.http_helpers import limits_yaml, serve_in_thread

PER_MINUTE = 2


@contextmanager
def _server(tmp_path: Path, trusted: list[str]) -> Iterator[httpx.Client]:
    settings = Settings(
        home=tmp_path,
        config_file=limits_yaml(tmp_path / "contextdesk.yaml", conversations_per_minute=PER_MINUTE),
        trusted_proxies=trusted,
        handoff_worker=False,
    )
    with serve_in_thread(create_app(settings), settings) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client


def _create(client: httpx.Client, forwarded_for: str | None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post("/v1/conversations", json={}, headers=headers).status_code


def test_forwarded_for_from_a_trusted_proxy_gives_each_client_its_own_budget(tmp_path: Path) -> None:
    with _server(tmp_path, ["127.0.0.1"]) as client:  # the test client plays the proxy
        first = [_create(client, "203.0.113.7") for _ in range(PER_MINUTE + 1)]
        other = [_create(client, "203.0.113.8") for _ in range(PER_MINUTE)]
    assert first == [201] * PER_MINUTE + [429]
    assert other == [201] * PER_MINUTE  # another customer behind the same proxy is not throttled


def test_a_client_cannot_escape_its_budget_by_prepending_addresses(tmp_path: Path) -> None:
    with _server(tmp_path, ["127.0.0.1"]) as client:
        # The proxy appends the address it saw; whatever the client wrote before it is not believed.
        statuses = [_create(client, f"10.0.0.{i}, 203.0.113.9") for i in range(PER_MINUTE + 1)]
    assert statuses == [201] * PER_MINUTE + [429]


def test_forwarded_for_from_an_address_that_is_not_a_listed_proxy_is_ignored(tmp_path: Path) -> None:
    with _server(tmp_path, ["10.9.9.9"]) as client:  # a proxy is configured, but we are not it
        statuses = [_create(client, f"203.0.113.{i}") for i in range(1, PER_MINUTE + 2)]
    assert statuses == [201] * PER_MINUTE + [429]


def test_without_trusted_proxies_forwarded_for_is_ignored(tmp_path: Path) -> None:
    with _server(tmp_path, []) as client:
        statuses = [_create(client, f"203.0.113.{i}") for i in range(1, PER_MINUTE + 2)]
    assert statuses == [201] * PER_MINUTE + [429]


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    with pytest.raises(ValidationError, match=r"'proxy\.internal' is not an IP address or network"):
        Settings(trusted_proxies=["10.0.0.0/8", "proxy.internal"])
