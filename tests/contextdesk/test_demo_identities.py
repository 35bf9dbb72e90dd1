"""The demo page's persona picker (`GET /demo/identities`, real HTTP on loopback) says the loaded demo's dates.

`contextdesk demo run` moves the demo's data to the day of the load (demo/shift.py); the personas' headlines in
demo/personas.yaml are written on the story's days, so the route moves them by the same days (the manifest in the
data dir) and the picker agrees with `customers show` and the chat.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import httpx
from sqlalchemy.engine import Engine

from context.customer_context import build_customer_context, lookup_customer
from contextdesk.app import create_app
from contextdesk.pipeline import load_business
from contextdesk.settings import Settings
from demo import context_config as demo_context_config
from demo import generate
from demo.mapping import CONFIG_FILE
from demo.personas import PERSONAS
from demo.shift import shift_dataset
from demo.source_exports import NEW_YORK
from tests.contextdesk.http_helpers import SECRET, serve_in_thread

MAYA = "maya.chen@example.com"
DAYS = 31


def test_a_persona_headline_carries_the_date_of_the_shifted_data(sqlite_engine: Engine, tmp_path: Path) -> None:
    home = tmp_path / "home"
    data = generate(tmp_path / "data", customers=30, seed=7)
    # Where `contextdesk demo run` writes the moved demo (Settings.demo_dir), moved as it would be a month on.
    shift = shift_dataset(data.out_dir, home / "demo", days=DAYS)
    config_file = home / "demo" / CONFIG_FILE
    load_business(engine=sqlite_engine, config_file=config_file, clock=lambda: shift.now)
    settings = Settings(
        home=home,
        database_url=sqlite_engine.url.render_as_string(hide_password=False),
        config_file=config_file,
        identity_secret=SECRET,
        handoff_worker=False,
    )
    with serve_in_thread(create_app(settings, demo=True, clock=lambda: shift.now), settings) as base:
        personas = httpx.get(f"{base}/demo/identities", timeout=30).json()

    summary = next(p["summary"] for p in personas if p["email"] == MAYA)
    story = next(p.summary for p in PERSONAS if p.email == MAYA)
    found = lookup_customer(engine=sqlite_engine, email=MAYA)
    assert found.customer_id is not None
    ctx = build_customer_context(
        engine=sqlite_engine, customer_id=found.customer_id, config=demo_context_config(), now=shift.now
    )
    renewal = ctx.status.renewal_at
    assert renewal is not None
    renews = renewal.astimezone(NEW_YORK).date()  # as `customers show` prints it (the demo's zone is New York)
    assert f"renews {renews.isoformat()}" in summary, summary
    # The story's own day is gone, and the rest of the headline is as written.
    story_day = re.search(r"renews (\d{4}-\d{2}-\d{2})", story)
    assert story_day is not None and renews == date.fromisoformat(story_day.group(1)) + timedelta(days=DAYS)
    assert summary == story.replace(story_day.group(1), renews.isoformat())


def test_without_a_shifted_demo_the_headlines_are_as_written(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", identity_secret=SECRET, handoff_worker=False)
    with serve_in_thread(create_app(settings, demo=True), settings) as base:
        personas = httpx.get(f"{base}/demo/identities", timeout=30).json()
    assert [p["summary"] for p in personas] == [p.summary for p in PERSONAS]
