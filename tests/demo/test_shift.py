"""Moving the demo's dates by whole days: every timestamp, in its own format, nothing else; the story holds."""

from __future__ import annotations

import filecmp
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import Engine

from context.customer_context import build_customer_context, lookup_customer
from context.errors import MalformedSourceError
from context.identity import service as identity
from context.identity.rules import load_rules
from context.intake.config import load_intake_config
from context.intake.service import sync
from context.profiles import recompute_profiles
from demo import DATA_DIR, generate
from demo import context_config as demo_context_config
from demo.mapping import CONFIG_FILE, GROUND_TRUTH_FILE, SOURCE_FILES
from demo.reference import STORY_NOW
from demo.shift import MANIFEST_FILE, TIMESTAMPS, read_shift, shift_dataset, shift_days, shift_instant
from demo.source_exports import NEW_YORK
from tests.demo.helpers import read_source


def _local(value: Any, fmt: str) -> datetime | date:
    """A demo timestamp as New York wall-clock time (a date for the spreadsheet's dates)."""
    if fmt == "epoch":
        return datetime.fromtimestamp(value, NEW_YORK).replace(tzinfo=None)
    if fmt == "day":
        return date.fromisoformat(value)
    if fmt == "ny_naive":
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    if fmt == "form_time":
        return datetime.strptime(value, "%m/%d/%Y %I:%M %p")
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(NEW_YORK).replace(tzinfo=None)


def _values(record: dict[str, Any], path: str) -> list[tuple[str, Any]]:
    """(concrete path, value) of a TIMESTAMPS path in one record."""
    found: list[tuple[str, Any]] = [("", record)]
    for part in path.split("."):
        nxt: list[tuple[str, Any]] = []
        for where, obj in found:
            if part == "*" and isinstance(obj, list):
                nxt += [(f"{where}.{i}", item) for i, item in enumerate(obj)]
            elif isinstance(obj, dict) and part in obj:
                nxt.append((f"{where}.{part}", obj[part]))
        found = nxt
    return [(w, v) for w, v in found if v not in (None, "")]


def _without_times(record: dict[str, Any], source: str) -> dict[str, Any]:
    out = yaml.safe_load(yaml.safe_dump(record))  # a deep copy
    for path in TIMESTAMPS[source]:
        for where, _ in _values(out, path):
            obj: Any = out
            parts = where.strip(".").split(".")
            for p in parts[:-1]:
                obj = obj[int(p)] if isinstance(obj, list) else obj[p]
            obj[parts[-1]] = None
    return out


def test_the_story_moves_to_the_business_day_of_the_load() -> None:
    assert shift_days(STORY_NOW) == 0  # Monday 2026-11-02 10:00 New York
    assert shift_days(datetime(2026, 11, 3, 4, 30, tzinfo=UTC)) == 0  # still Monday night in New York
    assert shift_days(datetime(2026, 11, 5, 20, 0, tzinfo=UTC)) == 3  # Thursday
    assert shift_days(datetime(2026, 11, 7, 20, 0, tzinfo=UTC)) == 4  # Saturday: Friday's story
    assert shift_days(datetime(2026, 11, 8, 20, 0, tzinfo=UTC)) == 7  # Sunday: Monday's story
    assert shift_days(datetime(2026, 12, 1, 21, 0, tzinfo=UTC)) == 29  # a Tuesday
    for days in range(0, 400, 13):
        moved = shift_instant(STORY_NOW, shift_days(STORY_NOW + timedelta(days=days)))
        assert moved.weekday() < 5 and moved.hour == 10  # the eval's moment is always a business morning


def test_no_shift_rewrites_the_bundled_files_byte_for_byte(tmp_path: Path) -> None:
    shift = shift_dataset(DATA_DIR, tmp_path, days=0)
    for name in [*SOURCE_FILES.values(), GROUND_TRUTH_FILE, CONFIG_FILE]:
        assert filecmp.cmp(DATA_DIR / name, tmp_path / name, shallow=False), name
    assert read_shift(tmp_path) == shift and shift.now == STORY_NOW
    assert shift.records["stripe"] == len(read_source(DATA_DIR, "stripe"))


def test_every_time_field_of_the_demo_mapping_is_shifted() -> None:
    config = yaml.safe_load((DATA_DIR / CONFIG_FILE).read_text(encoding="utf-8"))
    times = {"signed_up_at", "subscription.trial_end", "subscription.current_period_end"}
    for source in config["sources"]:
        mapped = source["updated_at"] if isinstance(source["updated_at"], list) else [source["updated_at"]]
        for canonical, spec in source["fields"].items():
            if canonical.endswith("_at") or canonical in times:
                origin = spec["from"] if isinstance(spec, dict) else spec
                mapped += origin if isinstance(origin, list) else [origin]
        assert set(mapped) <= set(TIMESTAMPS[source["name"]]), source["name"]


def test_five_weeks_later_every_timestamp_moves_35_days_on_the_new_york_clock_and_nothing_else(
    tmp_path: Path,
) -> None:
    data = generate(tmp_path / "data", customers=40, seed=3)
    shift = shift_dataset(data.out_dir, tmp_path / "moved", days=35)
    assert shift.days == 35 and shift.now == datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    assert (tmp_path / "moved" / MANIFEST_FILE).is_file()
    assert filecmp.cmp(data.ground_truth_path, tmp_path / "moved" / GROUND_TRUTH_FILE, shallow=False)
    moved_count = 0
    for source, fields in TIMESTAMPS.items():
        before, after = read_source(data.out_dir, source), read_source(tmp_path / "moved", source)
        assert len(before) == len(after)
        for old, new in zip(before, after, strict=True):
            assert _without_times(old, source) == _without_times(new, source)
            for path, fmt in fields.items():
                for (where, was), (_, now) in zip(_values(old, path), _values(new, path), strict=True):
                    a, b = _local(was, fmt), _local(now, fmt)
                    assert b - a == timedelta(days=35) or (
                        # a wall-clock time a DST change skips is written as the hour after it
                        isinstance(a, datetime) and b - a == timedelta(days=35, hours=1)
                    ), (source, where, was, now)
                    moved_count += 1
    assert moved_count > 300


def test_a_timestamp_that_is_not_in_its_format_is_named(tmp_path: Path) -> None:
    data = generate(tmp_path / "data", customers=20, seed=1)
    crm = data.out_dir / SOURCE_FILES["crm"]
    lines = crm.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = lines[2].replace(lines[2].split(",")[19], "yesterday", 1)
    crm.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(MalformedSourceError) as err:
        shift_dataset(data.out_dir, tmp_path / "moved", days=1)
    message = str(err.value)
    assert "crm_contacts.csv, line 3" in message and "'createdate'" in message and "'yesterday'" in message


def test_shifted_demo_syncs_with_the_story_intact_and_a_same_day_reload_changes_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    data = generate(tmp_path / "data", customers=30, seed=7)
    shift = shift_dataset(data.out_dir, tmp_path / "moved", days=-59)
    config_path = tmp_path / "moved" / CONFIG_FILE
    sync(clock=lambda: shift.now, engine=engine, config=load_intake_config(config_path), workers=0)
    identity.resolve_pending(now=shift.now, engine=engine, rules=load_rules(config_path))
    recompute_profiles(now=shift.now, engine=engine, config=demo_context_config().profiles)
    found = lookup_customer(engine=engine, email="maya.chen@example.com")
    assert found.customer_id is not None
    ctx = build_customer_context(
        config=demo_context_config(), engine=engine, customer_id=found.customer_id, now=shift.now
    )
    # The story: Maya's annual plan renews next week and her last order was placed last Tuesday.
    renewal = ctx.status.renewal_at
    assert renewal is not None and renewal.astimezone(NEW_YORK).date() == date(2026, 11, 10) - timedelta(days=59)
    assert ctx.status.passed == [] and not any("has passed" in g for g in ctx.gaps)
    newest = ctx.orders.recent[0]
    assert newest.number == "#1042" and newest.placed_at is not None
    assert newest.placed_at.astimezone(NEW_YORK).date() == date(2026, 10, 27) - timedelta(days=59)
    assert newest.placed_at < shift.now < renewal

    again = shift_dataset(data.out_dir, tmp_path / "moved", days=-59)
    assert again == shift
    summaries = sync(clock=lambda: shift.now, engine=engine, config=load_intake_config(config_path), workers=0)
    assert all(s.new == 0 and s.changed == 0 and s.unchanged > 0 for s in summaries), summaries


def test_the_persona_headlines_write_their_days_so_the_demo_page_can_move_them() -> None:
    # The demo page moves a headline's YYYY-MM-DD days by the load's days (demo.shift.shift_headline); a day
    # written another way ("November 10") would keep the story's day while the data moved.
    from demo.personas import PERSONAS
    from demo.shift import shift_headline

    months = r"\b(January|February|March|April|May|June|July|August|September|October|November|December)\b"
    for persona in PERSONAS:
        assert not re.search(months, persona.summary), persona.summary
    assert shift_headline("renews 2026-11-10; ended 2026-12-31", 35) == "renews 2026-12-15; ended 2027-02-04"
    assert shift_headline("order #1042, 2026-11-10", 0) == "order #1042, 2026-11-10"
