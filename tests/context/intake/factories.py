"""Small factories for intake tests: write source files and a contextdesk.yaml, load the config."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import yaml

from context.intake.config import IntakeConfig, load_intake_config


def write_csv(path: Path, rows: list[dict[str, Any]], *, encoding: str = "utf-8") -> Path:
    """Write rows (dicts with the same keys) as a CSV with a header."""
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    """Write one JSON object per line."""
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_config(folder: Path, sources: list[dict[str, Any]], **top: Any) -> IntakeConfig:
    """Write contextdesk.yaml into `folder` and load it the way the CLI does."""
    path = folder / "contextdesk.yaml"
    path.write_text(yaml.safe_dump({**top, "sources": sources}, sort_keys=False), encoding="utf-8")
    return load_intake_config(path)


def crm_source(**overrides: Any) -> dict[str, Any]:
    """A CRM CSV source definition with candidate email columns and value maps."""
    source: dict[str, Any] = {
        "name": "crm",
        "kind": "csv",
        "path": "crm.csv",
        "id": "contact_id",
        "updated_at": "modified",
        "timezone": "America/New_York",
        "required": ["email"],
        "fields": {
            "email": ["billing_email", "email", "contact_email"],
            "first_name": "first_name",
            "last_name": "last_name",
            "phone": "phone",
            "country": "country",
            "lifecycle_stage": {"from": "lifecycle", "map": "lifecycle"},
            "plan": {"from": "plan", "map": "plan"},
        },
        "identifiers": {"crm_contact": {"from": "contact_id", "format": "crm:contact:{}"}},
    }
    source.update(overrides)
    return source


VALUE_MAPS = {
    "plan": {"Pro (annual)": "pro", "pro": "pro", "Basic": "basic", "plus": "plus"},
    "lifecycle": {"customer": "customer", "cust": "customer", "lead": "lead"},
}


def crm_row(contact_id: str, **values: str) -> dict[str, str]:
    """One CRM row; unspecified columns are blank."""
    row = dict.fromkeys(
        [
            "contact_id",
            "billing_email",
            "email",
            "contact_email",
            "first_name",
            "last_name",
            "phone",
            "country",
            "lifecycle",
            "plan",
            "modified",
        ],
        "",
    )
    row.update({"contact_id": contact_id, "modified": "2025-01-02 09:00", **values})
    return row
