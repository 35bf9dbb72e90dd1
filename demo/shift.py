"""Move a demo dataset's dates by whole days, so the Brightleaf story happens today, on any day.

The story is set on STORY_NOW (Monday 2026-11-02, 10:00 in New York; the data's REFERENCE_DATE is 2026-11-01):
Maya's order shipped last week, Emma renews on Wednesday, Liam's trial ends on Sunday. `shift_dataset` rewrites
a demo folder (the bundled demo/data, or one written by `demo.generate`) into another
folder with every timestamp moved by the same number of days, each in its source's own format
(demo/source_exports.py): naive New York CRM times, Shopify ISO times with the store's offset, Zendesk UTC
`Z` times, US 12-hour web-form times, spreadsheet dates and Stripe epoch seconds. The fields come from the
demo's render code (TIMESTAMPS below; a test checks it covers every time field of the demo's mapping).

The story's Monday moves to today when today is a business day (Saturday: to Friday, Sunday: to Monday), so
the live day is the story's day (on a weekend within a day and a half of it) and the story's moment, 10:00 in
New York, is always within business hours: an eval of the moved data runs on a business morning exactly like
the unmoved one. The days are added to the New York wall-clock time (then converted back), so a 09:00
renewal stays 09:00 across a DST change. ground_truth.csv and
contextdesk.yaml (whose paths are relative) are copied unchanged; a manifest, demo_shift.json, says what was
done so an eval can shift its expectations and its clock by the same days (evals/shift.py).

Free text is not rewritten: ticket bodies, notes and form messages keep the dates and weekdays they were
written with ("I started the trial on the 25th" names the unshifted day).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from context.errors import MalformedSourceError
from demo.mapping import CONFIG_FILE, GROUND_TRUTH_FILE, SOURCE_FILES
from demo.models import DemoShift
from demo.reference import REFERENCE_DATE, STORY_NOW
from demo.source_exports import NEW_YORK, form_time, ny_naive, ny_offset, utc_z

Format = Literal["ny_naive", "ny_offset", "utc_z", "form_time", "day", "epoch"]
MANIFEST_FILE = "demo_shift.json"

# Every timestamp each source's render code writes (a `*` part walks a list), in the format it writes it.
TIMESTAMPS: dict[str, dict[str, Format]] = {
    "crm": {"createdate": "ny_naive", "lastmodifieddate": "ny_naive"},
    "webforms": {"submitted": "form_time"},
    "vip": {"VIP Since": "day", "Last Updated": "day"},
    "shopify": {"created_at": "ny_offset", "updated_at": "ny_offset", "fulfillments.*.created_at": "ny_offset"},
    "stripe": {
        name: "epoch"
        for name in (
            "created",
            "start_date",
            "trial_start",
            "trial_end",
            "current_period_start",
            "current_period_end",
            "cancel_at",
            "canceled_at",
            "ended_at",
            "customer.created",
        )
    },
    "zendesk": {
        "created_at": "utc_z",
        "updated_at": "utc_z",
        "metric_set.solved_at": "utc_z",
        "last_public_comment.created_at": "utc_z",
    },
}
_FORM = "%m/%d/%Y %I:%M %p"
_RENDER: dict[str, Callable[[int], str]] = {
    "ny_naive": ny_naive,
    "ny_offset": ny_offset,
    "utc_z": utc_z,
    "form_time": form_time,
}


def shift_days(now: datetime) -> int:
    """Days from the story's day to the business day of `now` in New York (Saturday → Friday, Sunday → Monday)."""
    today = now.astimezone(NEW_YORK).date()
    weekday = today.weekday()
    if weekday == 5:
        today -= timedelta(days=1)
    elif weekday == 6:
        today += timedelta(days=1)
    return (today - STORY_NOW.astimezone(NEW_YORK).date()).days


def shift_instant(value: datetime, days: int) -> datetime:
    """`value` moved by `days` on the New York wall clock (a naive value is UTC); aware, in New York."""
    local = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(NEW_YORK)
    if days == 0:
        return local
    # The fold says which of a repeated (DST fall-back) hour the time was; it picks the same one after the move.
    return (local.replace(tzinfo=None) + timedelta(days=days)).replace(tzinfo=NEW_YORK, fold=local.fold)


_ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


def shift_headline(text: str, days: int) -> str:
    """A persona's headline (demo/personas.yaml `summary`) with each of its New York days moved by `days`.

    The headlines write their days as YYYY-MM-DD (a test keeps it so), the days the data's times fall on in New
    York; the data moves on the New York wall clock, so each day moves by exactly `days`.
    """
    if days == 0:
        return text
    return _ISO_DAY.sub(lambda m: (date.fromisoformat(m.group(0)) + timedelta(days=days)).isoformat(), text)


def _epoch(ts: int, days: int) -> int:
    return int(shift_instant(datetime.fromtimestamp(ts, UTC), days).timestamp())


def _parse(value: str, fmt: Format) -> datetime:
    if fmt == "ny_naive":
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=NEW_YORK)
    if fmt == "form_time":
        return datetime.strptime(value, _FORM).replace(tzinfo=NEW_YORK)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("no UTC offset")
    return parsed


def shift_value(value: Any, fmt: Format, days: int) -> Any:
    """One timestamp moved by `days`, written back in its format; blanks and nulls stay as they are."""
    if value is None or value == "":
        return value
    if fmt == "epoch":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{value!r} is not epoch seconds")
        return _epoch(value, days)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a {fmt} time")
    if fmt == "day":
        return (date.fromisoformat(value) + timedelta(days=days)).isoformat()
    try:
        moved = shift_instant(_parse(value, fmt), days)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a {fmt} time ({exc})") from None
    return _RENDER[fmt](int(moved.timestamp()))


def _walk(obj: Any, parts: list[str], fmt: Format, days: int) -> None:
    head, rest = parts[0], parts[1:]
    if head == "*":
        for item in obj if isinstance(obj, list) else []:
            if rest:
                _walk(item, rest, fmt, days)
        return
    if not isinstance(obj, dict) or head not in obj:
        return
    if rest:
        _walk(obj[head], rest, fmt, days)
    else:
        obj[head] = shift_value(obj[head], fmt, days)


def _shift_record(obj: dict[str, Any], fields: dict[str, Format], days: int) -> dict[str, Any]:
    for path, fmt in fields.items():
        _walk(obj, path.split("."), fmt, days)
    return obj


def _atomic(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def _shift_csv(source: str, src: Path, dest: Path, days: int) -> int:
    fields = TIMESTAMPS[source]
    count = 0
    tmp = _atomic(dest)
    with (
        src.open(encoding="utf-8", newline="") as fin,
        tmp.open("w", encoding="utf-8", newline="") as fout,
    ):
        reader = csv.reader(fin)
        writer = csv.writer(fout)
        header = next(reader, None)
        if header is None:
            raise MalformedSourceError(source, str(src), 1, "no header row")
        writer.writerow(header)
        columns = {header.index(name): (name, fmt) for name, fmt in fields.items() if name in header}
        for row in reader:
            for i, (name, fmt) in columns.items():
                if i < len(row):
                    try:
                        row[i] = shift_value(row[i], fmt, days)
                    except ValueError as exc:
                        raise MalformedSourceError(
                            source, str(src), reader.line_num, f"record {row[0]!r}, field {name!r}: {exc}"
                        ) from None
            writer.writerow(row)
            count += 1
    os.replace(tmp, dest)
    return count


def _shift_json_lines(source: str, src: Path, dest: Path, days: int) -> int:
    """JSONL, and the demo's JSON lists (written one record per line between a head and a tail line)."""
    fields = TIMESTAMPS[source]
    count = 0
    tmp = _atomic(dest)
    with src.open(encoding="utf-8") as fin, tmp.open("w", encoding="utf-8") as fout:
        for number, line in enumerate(fin, start=1):
            body = line.rstrip("\n")
            comma = body.endswith(",")
            text = body[:-1] if comma else body
            if not (text.startswith("{") and text.endswith("}")):
                fout.write(line)  # the list's head and tail lines
                continue
            try:
                record = json.loads(text)
                shifted = _shift_record(record, fields, days)
            except ValueError as exc:
                raise MalformedSourceError(source, str(src), number, str(exc)) from None
            fout.write(json.dumps(shifted, ensure_ascii=False) + ("," if comma else "") + line[len(body) :])
            count += 1
    os.replace(tmp, dest)
    return count


def shift_of(days: int) -> DemoShift:
    """The shift of the demo story by `days` whole days (what demo_shift.json records)."""
    return DemoShift(
        reference_date=datetime.fromisoformat(REFERENCE_DATE).date(),
        story_now=STORY_NOW,
        days=days,
        now=shift_instant(STORY_NOW, days),
    )


def read_shift(folder: Path) -> DemoShift | None:
    """The shift manifest of a demo folder, or None when it holds unshifted (or no) demo data."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        return DemoShift.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise MalformedSourceError("demo", str(path), None, f"not a demo shift manifest: {exc}") from None


def shift_dataset(src_dir: Path, out_dir: Path, *, days: int) -> DemoShift:
    """Write the demo folder `src_dir` into `out_dir` with every timestamp `days` days later (or earlier).

    Writes each file atomically, then demo_shift.json; the same input and days give identical files, so a
    re-sync of an unchanged week skips every record. `src_dir` must hold unshifted data.
    """
    if read_shift(src_dir) is not None:
        raise MalformedSourceError("demo", str(src_dir / MANIFEST_FILE), None, "the source folder is already shifted")
    if src_dir.resolve() == out_dir.resolve():
        raise MalformedSourceError("demo", str(out_dir), None, "shift into another folder than the source")
    out_dir.mkdir(parents=True, exist_ok=True)
    records: dict[str, int] = {}
    for source, name in SOURCE_FILES.items():
        src = src_dir / name
        if not src.is_file():
            raise MalformedSourceError(source, str(src), None, "missing from the demo folder")
        shift = _shift_csv if name.endswith(".csv") else _shift_json_lines
        records[source] = shift(source, src, out_dir / name, days)
    for name in (CONFIG_FILE, GROUND_TRUTH_FILE):
        shutil.copyfile(src_dir / name, out_dir / name)
    manifest = shift_of(days).model_copy(update={"records": records})
    tmp = _atomic(out_dir / MANIFEST_FILE)
    tmp.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out_dir / MANIFEST_FILE)
    return manifest
