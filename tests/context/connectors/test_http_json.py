"""The generic http_json source against a fake JSON API over real HTTP: pages followed by their next link or
token, an incremental second sync from the committed `updated_at` cursor, credentials from settings, and clear
errors for a misconfigured entry."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from context.errors import ConfigError
from context.intake.connectors import Connections, SourceCredentials
from context.intake.service import load_cursor, sync
from tests.clock import NOW
from tests.context.connectors.fakes import json_api as fj
from tests.context.connectors.fakes.server import VirtualTime, iso
from tests.context.connectors.helpers import config, records


def members(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": "members",
        "kind": "http_json",
        "url": "/api/contacts",
        "records": "data",
        "id": "uid",
        "updated_at": "modified",
        "pagination": {"next": "links.next", "updated_since_param": "updated_since"},
        "fields": {"email": "profile.email", "full_name": "profile.name"},
        "identifiers": {"member": {"from": "uid", "format": "members:{}"}},
    }
    entry.update(overrides)
    return entry


def conns(vtime: VirtualTime, url: str, *, header: str | None = None, token: str = fj.TOKEN) -> Connections:
    creds = SourceCredentials(base_url=url, token=SecretStr(token), header=header)
    return Connections(credentials={"members": creds}, clock=vtime.now, sleep=vtime.sleep, monotonic=vtime.monotonic)


def test_two_pages_by_next_link_then_an_incremental_sync_from_the_cursor(engine: Engine, tmp_path: Path) -> None:
    vtime = VirtualTime()
    with fj.FakeJsonApi() as api:
        for n in range(1, 4):
            api.put(fj.contact(n, updated=NOW - timedelta(hours=4 - n)))
        cfg = config(tmp_path, members())
        first = sync(engine=engine, config=cfg, clock=vtime.now, connections=conns(vtime, api.url))
        assert [(s.status, s.new, s.quarantined) for s in first] == [("ok", 3, 0)], first[0].error
        assert [r.query for r in api.requests] == [{}, {"page": ["2"]}]  # page 2 by the answer's next link
        assert load_cursor(engine=engine, source="members") == {"updated_since": iso(NOW - timedelta(hours=1))}
        stored = records(engine, "members")
        assert sorted(stored) == ["c1", "c2", "c3"]
        assert (stored["c1"].email, stored["c1"].first_name) == ("member1@example.com", "Member")

        # Later: c1 changes its email, c4 appears; the next sync asks only for what changed since the cursor.
        api.requests.clear()
        api.put(fj.contact(1, updated=NOW, email="new1@example.com"))
        api.put(fj.contact(4, updated=NOW))
        second = sync(engine=engine, config=cfg, clock=vtime.now, connections=conns(vtime, api.url))
        asked = [r.query.get("updated_since") for r in api.requests]

    # c3 (changed exactly at the cursor) is listed again, and unchanged.
    assert [(s.status, s.new, s.changed, s.unchanged) for s in second] == [("ok", 1, 1, 1)]
    assert asked == [[iso(NOW - timedelta(hours=1))], [iso(NOW - timedelta(hours=1))]]
    assert load_cursor(engine=engine, source="members") == {"updated_since": iso(NOW)}
    assert records(engine, "members")["c1"].email == "new1@example.com"


def test_a_next_token_goes_back_in_cursor_param_and_the_token_in_a_named_header(engine: Engine, tmp_path: Path) -> None:
    vtime = VirtualTime()
    with fj.FakeJsonApi(tokens=True, header="X-Api-Key") as api:
        for n in range(1, 6):
            api.put(fj.contact(n, updated=NOW - timedelta(hours=n)))
        entry = members(
            url=f"{api.url}/api/contacts",
            records="items",
            pagination={"next": "next_token", "cursor_param": "page_token", "params": {"per_page": 2}},
        )
        cfg = config(tmp_path, entry)
        done = sync(engine=engine, config=cfg, clock=vtime.now, connections=conns(vtime, "", header="X-Api-Key"))
        pages = [r.query for r in api.requests]
    assert [(s.status, s.new) for s in done] == [("ok", 5)], done[0].error
    assert pages == [
        {"per_page": ["2"]},
        {"per_page": ["2"], "page_token": ["2"]},
        {"per_page": ["2"], "page_token": ["4"]},
    ]


def test_refused_credentials_and_a_next_link_to_another_host_fail_the_source_clearly(
    engine: Engine, tmp_path: Path
) -> None:
    vtime = VirtualTime()
    with fj.FakeJsonApi() as api:
        for n in range(1, 4):
            api.put(fj.contact(n, updated=NOW - timedelta(hours=n)))
        cfg = config(tmp_path, members())
        refused = sync(engine=engine, config=cfg, clock=vtime.now, connections=conns(vtime, api.url, token="wrong"))
        api.next_override = "https://elsewhere.example/api/contacts?page=2"
        elsewhere = sync(engine=engine, config=cfg, clock=vtime.now, connections=conns(vtime, api.url))
    assert refused[0].status == "failed" and "refused the credentials (401)" in (refused[0].error or "")
    assert "CONTEXTDESK_SOURCES" in (refused[0].error or "")
    assert elsewhere[0].status == "failed" and "another host" in (elsewhere[0].error or "")
    # The first page was stored; its cursor was not committed (the pull did not finish).
    assert len(records(engine, "members")) == 2 and load_cursor(engine=engine, source="members") is None


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"url": None}, "an http_json source needs 'url'"),
        ({"url": "api/contacts"}, "an http_json source needs 'url'"),
        ({"pagination": {"cursor_param": "page"}}, "pagination.cursor_param needs pagination.next"),
        ({"updated_at": None}, "pagination.updated_since_param needs 'updated_at'"),
        ({"pagination": {"nxt": "links.next"}}, "nxt"),
    ],
)
def test_a_misconfigured_entry_names_the_problem(tmp_path: Path, overrides: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        config(tmp_path, members(**overrides))


def test_url_and_pagination_belong_to_http_json_only(tmp_path: Path) -> None:
    entry = {"name": "crm", "kind": "jsonl", "path": "crm.jsonl", "id": "id", "url": "https://x.example/a"}
    with pytest.raises(ConfigError, match="'url' and 'pagination' are for http_json sources, not jsonl"):
        config(tmp_path, entry)
