"""The HubSpot connector against the fake CRM API over real HTTP: search windowing past the result cap,
incremental by lastmodifieddate, 429s, auth failures, and v3-signed webhooks into the customer's CRM facts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from context.customer_context import build_customer_context, lookup_customer
from context.customer_context.config import load_context_config
from context.dbtypes import table_of
from context.identity.rules import default_rules
from context.identity.service import resolve_pending
from context.intake.models import RejectedWebhook
from context.intake.service import load_cursor, sync
from context.live.propagate import process_pending
from context.profiles.service import recompute_profiles
from tests.clock import NOW
from tests.context.connectors.fakes import hubspot as fh
from tests.context.connectors.fakes.server import Failure, VirtualTime
from tests.context.connectors.helpers import config, connections, live_app, records
from tests.context.connectors.test_webhooks import post, sqlite_url
from tests.contextdesk.http_helpers import serve_in_thread

HUBSPOT = {"name": "hubspot", "kind": "hubspot"}


def test_search_windows_past_the_result_cap_and_resumes_from_lastmodifieddate(engine: Engine, tmp_path: Path) -> None:
    vtime = VirtualTime()
    with fh.FakeHubSpot(cap=100) as fake:
        for n in range(1, 251):
            fake.put(fh.contact(n, updated=NOW - timedelta(minutes=300 - n)))
        cfg = config(tmp_path, {**HUBSPOT, "options": {"page_size": 30, "search_cap": 100}})
        conns = connections(vtime, hubspot=(fake.url, fh.TOKEN))
        fake.script(Failure(status=429, path_prefix="/crm/v3/objects/contacts/search"))  # no Retry-After
        [first] = sync(engine=engine, config=cfg, clock=vtime.now, connections=conns)
        searches = [r for r in fake.requests if r.path.endswith("/search")]
        windows = [r.body for r in searches if r.body and "after" not in r.body]
        assert (first.status, first.new) == ("ok", 250)
        assert fake.refused_past_cap == 0
        assert len(windows) >= 4  # the 429's retry, then a new window every 90 records
        assert 0.25 in vtime.sleeps  # backoff with jitter when HubSpot gave no Retry-After
        cursor = load_cursor(engine=engine, source="hubspot-contacts")
        assert cursor == {"lastmodifieddate": fh.hs_time(NOW - timedelta(minutes=50))}

        fake.requests.clear()
        fake.put(fh.contact(7, updated=NOW, lifecyclestage="opportunity"))
        [second] = sync(engine=engine, config=cfg, clock=vtime.now, connections=conns)
        asked = fake.requests[0].body or {}
        deal_reads = [r.path for r in fake.requests if "deals" in r.path]

    assert (second.new, second.changed) == (0, 1)
    assert asked["filterGroups"][0]["filters"][0]["value"] == str(fh.ms(NOW - timedelta(minutes=50)))
    assert records(engine, "hubspot-contacts")["507"].lifecycle_stage == "opportunity"
    assert deal_reads == ["/crm/v4/associations/contacts/deals/batch/read"]  # one a page; no deals, no deal read


def test_a_contacts_newest_open_deal_stage_lands_in_the_context_a_contact_without_deals_has_none(
    engine: Engine, tmp_path: Path
) -> None:
    vtime = VirtualTime()
    with fh.FakeHubSpot(association_page=1) as fake:  # one association a page: the connector follows `after`
        fake.put(fh.contact(1, email="ann@example.com"))
        fake.put(fh.contact(2, email="bob@example.com"))
        fake.put_deal(fh.deal(1, stage="appointmentscheduled", updated=NOW - timedelta(days=20)), "501")
        fake.put_deal(fh.deal(2, stage="contractsent", updated=NOW - timedelta(days=2)), "501")
        fake.put_deal(fh.deal(3, stage="closedlost", updated=NOW - timedelta(hours=1), closed=True), "501")
        cfg = config(tmp_path, HUBSPOT)
        conns = connections(vtime, hubspot=(fake.url, fh.TOKEN))
        fake.script(Failure(status=429, path_prefix="/crm/v3/objects/deals/batch/read", headers={"Retry-After": "2"}))
        [synced] = sync(engine=engine, config=cfg, clock=vtime.now, connections=conns)
        batch_reads = [r.path for r in fake.requests if r.path.endswith("/batch/read")]
    resolve_pending(engine=engine, rules=default_rules(), now=vtime.now())
    ctx_config = load_context_config(tmp_path / "contextdesk.yaml")
    recompute_profiles(engine=engine, config=ctx_config.profiles, now=vtime.now())

    def deal_stage(email: str) -> str | None:
        found = lookup_customer(engine=engine, email=email)
        assert found.customer_id
        ctx = build_customer_context(engine=engine, customer_id=found.customer_id, now=vtime.now(), config=ctx_config)
        return ctx.crm.deal_stage

    assert synced.status == "ok"
    assert deal_stage("ann@example.com") == "contractsent"  # the newer open deal, not the lost one modified since
    assert deal_stage("bob@example.com") is None
    assert 2.0 in vtime.sleeps  # the deal read's 429 waited its Retry-After on the connector's throttle
    assert batch_reads.count("/crm/v4/associations/contacts/deals/batch/read") == 3  # both contacts, then `after`


def test_the_burst_window_in_hubspots_headers_is_waited_for_before_a_429(engine: Engine, tmp_path: Path) -> None:
    vtime = VirtualTime()
    with fh.FakeHubSpot(burst=2, monotonic=vtime.monotonic) as fake:
        for n in (1, 2):
            fake.put(fh.contact(n, updated=NOW - timedelta(minutes=10 - n)))
            fake.put_deal(fh.deal(n, stage="contractsent"), str(500 + n))
        cfg = config(tmp_path, {**HUBSPOT, "options": {"page_size": 1}})
        [synced] = sync(
            engine=engine, config=cfg, clock=vtime.now, connections=connections(vtime, hubspot=(fake.url, fh.TOKEN))
        )
    # Each page is a search (limited apart) and two batch reads, the window's budget: the second reads
    # leave `Remaining: 0`, so the next page waits out the 10 s window instead of running into 429s.
    assert (synced.status, synced.new) == ("ok", 2)
    assert fake.rate_limited == 0
    assert vtime.sleeps == [10.0]


def test_a_refused_token_names_the_scope(engine: Engine, tmp_path: Path) -> None:
    vtime = VirtualTime()
    with fh.FakeHubSpot() as fake:
        [failed] = sync(
            engine=engine,
            config=config(tmp_path, HUBSPOT),
            clock=vtime.now,
            connections=connections(vtime, hubspot=(fake.url, "pat-wrong")),
        )
    assert failed.status == "failed"
    assert "refused the credentials (401)" in (failed.error or "") and "crm.objects.contacts.read" in (
        failed.error or ""
    )


def test_a_signed_hubspot_webhook_updates_the_crm_facts_a_stale_one_is_refused(
    tmp_path: Path, sqlite_template: Path
) -> None:
    vtime = VirtualTime()
    with fh.FakeHubSpot() as fake:
        fake.put(fh.contact(1, email="ann@example.com", lifecyclestage="lead"))
        fake.put(fh.contact(2, email="bob@example.com"))
        live = live_app(
            tmp_path,
            vtime,
            source=HUBSPOT,
            database_url=sqlite_url(tmp_path, sqlite_template),
            base_url=fake.url,
            token=fh.TOKEN,
            webhook_secret=fh.CLIENT_SECRET,
        )
        app, settings, engine, ctx_config = live.app, live.settings, live.engine, live.context_config
        with serve_in_thread(app, settings) as base:
            url = f"{base}/v1/webhooks/hubspot"
            fake.put(fh.contact(1, email="ann@example.com", lifecyclestage="customer"))
            fake.archive("502")
            batch = [fake.event("501"), fake.event("502", kind="contact.deletion")]
            accepted = post(base, "hubspot", fake.webhook(url, batch, at=vtime.now()))
            again = post(base, "hubspot", fake.webhook(url, batch, at=vtime.now()))
            stale = post(base, "hubspot", fake.webhook(url, [fake.event("501")], at=vtime.now() - timedelta(minutes=6)))
            wrong_url = post(base, "hubspot", fake.webhook(url + "x", [fake.event("501")], at=vtime.now()))
            summary = process_pending(deps=app.state.live.propagation)
        ann = lookup_customer(engine=engine, email="ann@example.com")
        assert ann.customer_id
        ctx = build_customer_context(engine=engine, customer_id=ann.customer_id, now=vtime.now(), config=ctx_config)
        with engine.connect() as conn:
            reasons = sorted(r.reason for r in conn.execute(table_of(RejectedWebhook).select()))

    assert accepted.status_code == 200 and accepted.json()["duplicate"] is False
    assert again.json()["duplicate"] is True  # both events had arrived: nothing is applied twice
    assert (stale.status_code, wrong_url.status_code) == (401, 401)
    assert reasons == [
        "signature does not match (X-HubSpot-Signature-v3)",
        "timestamp outside the 5-minute window (replayed or clock skew)",
    ]
    assert (summary.refetched, summary.applied) == (1, 1)  # the change re-fetched, the deletion a tombstone
    assert ctx.crm.lifecycle_stage == "customer"
    assert "502" not in records(engine, "hubspot-contacts")


def test_a_deal_stage_change_alone_reaches_its_contacts_contexts_by_webhook(
    tmp_path: Path, sqlite_template: Path
) -> None:
    vtime = VirtualTime()
    with fh.FakeHubSpot() as fake:
        fake.put(fh.contact(1, email="ann@example.com"))
        fake.put(fh.contact(2, email="bob@example.com"))
        fake.put(fh.contact(3, email="cat@example.com"))
        fake.put_deal(fh.deal(1, stage="appointmentscheduled", updated=NOW - timedelta(days=3)), "501", "502")
        fake.put_deal(fh.deal(2, stage="qualifiedtobuy"))  # on nobody yet
        live = live_app(
            tmp_path,
            vtime,
            source=HUBSPOT,
            database_url=sqlite_url(tmp_path, sqlite_template),
            base_url=fake.url,
            token=fh.TOKEN,
            webhook_secret=fh.CLIENT_SECRET,
        )
        app, settings, engine, ctx_config = live.app, live.settings, live.engine, live.context_config

        def deal_stage(email: str) -> str | None:
            found = lookup_customer(engine=engine, email=email)
            assert found.customer_id
            ctx = build_customer_context(
                engine=engine, customer_id=found.customer_id, now=vtime.now(), config=ctx_config
            )
            return ctx.crm.deal_stage

        before = [deal_stage(e) for e in ("ann@example.com", "bob@example.com", "cat@example.com")]
        with serve_in_thread(app, settings) as base:
            url = f"{base}/v1/webhooks/hubspot"
            # The deal moves on; its contacts do not change (a contact search would not see it).
            fake.put_deal(fh.deal(1, stage="contractsent"))
            lonely = fh.deal(3, stage="closedwon", closed=True)
            fake.put_deal(lonely)
            moved = post(
                base,
                "hubspot",
                fake.webhook(
                    url,
                    [fake.event("9001", kind="deal.propertyChange"), fake.event("9003", kind="deal.propertyChange")],
                    at=vtime.now(),
                ),
            )
            first = process_pending(deps=app.state.live.propagation)
            # Deal 2 is associated with Cat: the contact side of the association change is re-fetched.
            fake.put_deal(fh.deal(2, stage="qualifiedtobuy"), "503")
            linked = post(base, "hubspot", fake.webhook(url, [fake.association_event("503", "9002")], at=vtime.now()))
            second = process_pending(deps=app.state.live.propagation)
        reverse_reads = [r.body for r in fake.requests if r.path == "/crm/v4/associations/deals/contacts/batch/read"]
        after = [deal_stage(e) for e in ("ann@example.com", "bob@example.com", "cat@example.com")]

    assert (moved.status_code, linked.status_code) == (200, 200)
    assert before == ["appointmentscheduled", "appointmentscheduled", None]
    assert after == ["contractsent", "contractsent", "qualifiedtobuy"]
    # One reverse association read for both deals; the deal on no contact is ignored, its contacts re-fetched.
    assert reverse_reads == [{"inputs": [{"id": "9001"}, {"id": "9003"}]}]
    assert (first.refetched, first.ignored, first.failed) == (2, 1, 0)
    assert (second.refetched, second.failed) == (1, 0)
