"""Readers for generated demo data, shared by the demo tests."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from demo.mapping import GROUND_TRUTH_FILE, SOURCE_FILES


def read_source(folder: Path, source: str) -> list[dict[str, Any]]:
    """Every record of one demo source, parsed."""
    path = folder / SOURCE_FILES[source]
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    data = json.loads(path.read_text(encoding="utf-8"))
    return data["data"] if source == "stripe" else data["tickets"]


RECORD_ID = {
    "crm": "contact_id",
    "shopify": "id",
    "stripe": "id",
    "zendesk": "id",
    "webforms": "submission_id",
    "vip": "VIP ID",
}


def truth(folder: Path) -> dict[tuple[str, str], str]:
    """(source, record id) -> person id from ground_truth.csv."""
    with (folder / GROUND_TRUTH_FILE).open(encoding="utf-8", newline="") as f:
        return {(r["source"], r["record_id"]): r["person_id"] for r in csv.DictReader(f)}


def by_person(folder: Path) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """person id -> [(source, record)] for the whole dataset."""
    gt = truth(folder)
    people: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for source in SOURCE_FILES:
        for rec in read_source(folder, source):
            people[gt[(source, str(rec[RECORD_ID[source]]))]].append((source, rec))
    return people


def emails_of(source: str, rec: dict[str, Any]) -> list[str]:
    """Raw email values a record carries (any candidate column)."""
    if source == "crm":
        values = [rec["billing_email"], rec["email"], rec["contact_email"]]
    elif source == "shopify":
        values = [(rec["customer"] or {}).get("email"), rec["email"]]
    elif source == "stripe":
        values = [rec["customer"]["email"]]
    elif source == "zendesk":
        values = [rec["requester"]["email"]]
    elif source == "webforms":
        values = [rec["email"]]
    else:
        values = [rec["Email"]]
    return [v for v in values if v]


def phones_of(source: str, rec: dict[str, Any]) -> list[str]:
    """Raw phone values a record carries."""
    if source == "crm":
        values = [rec["phone"], rec["mobilephone"]]
    elif source == "shopify":
        values = [(rec["customer"] or {}).get("phone"), rec["shipping_address"]["phone"]]
    elif source == "stripe":
        values = [rec["customer"]["phone"]]
    elif source == "zendesk":
        values = [rec["requester"]["phone"]]
    elif source == "webforms":
        values = [rec["phone"]]
    else:
        values = [rec["Phone"]]
    return [v for v in values if v and v != "-"]
