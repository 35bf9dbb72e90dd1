"""Streaming writers for the six demo sources and the ground truth: flat memory at any size."""

from __future__ import annotations

import csv
import heapq
import json
from pathlib import Path
from typing import Any, TextIO

from demo.mapping import GROUND_TRUTH_FILE, SOURCE_FILES
from demo.source_exports import CRM_COLUMNS, VIP_COLUMNS, WEBFORM_COLUMNS, row

_BUFFER = 1 << 20


class _JsonArray:
    """Writes `{"<key>":[ rec, rec, ... ], <tail>}` one record per line, never holding the list."""

    def __init__(self, path: Path, head: str, tail: str) -> None:
        self.file: TextIO = path.open("w", encoding="utf-8", buffering=_BUFFER)
        self.file.write(head)
        self.tail = tail
        self.count = 0

    def write(self, obj: dict[str, Any]) -> None:
        self.file.write(("\n" if self.count == 0 else ",\n") + json.dumps(obj, ensure_ascii=False))
        self.count += 1

    def close(self) -> None:
        self.file.write("\n" + self.tail.replace("{count}", str(self.count)) + "\n")
        self.file.close()


class DemoWriter:
    """Open writers for every demo source plus ground_truth.csv; each record lands with its person id."""

    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir = out_dir
        self._files: list[TextIO] = []
        self._csv = {
            "crm": self._csv_writer("crm", CRM_COLUMNS),
            "webforms": self._csv_writer("webforms", WEBFORM_COLUMNS),
            "vip": self._csv_writer("vip", VIP_COLUMNS),
        }
        self._jsonl = (out_dir / SOURCE_FILES["shopify"]).open("w", encoding="utf-8", buffering=_BUFFER)
        self._stripe = _JsonArray(
            out_dir / SOURCE_FILES["stripe"],
            '{"object":"list","url":"/v1/subscriptions","data":[',
            '],"has_more":false}',
        )
        self._zendesk = _JsonArray(
            out_dir / SOURCE_FILES["zendesk"], '{"tickets":[', '],"next_page":null,"count":{count}}'
        )
        gt = (out_dir / GROUND_TRUTH_FILE).open("w", encoding="utf-8", newline="", buffering=_BUFFER)
        self._files.append(gt)
        self._truth = csv.writer(gt)
        self._truth.writerow(["source", "record_id", "person_id"])
        self.counts = dict.fromkeys(SOURCE_FILES, 0)
        # Within-source duplicates are written a little later, as real re-entries are.
        self._deferred: list[tuple[int, int, str, str, Any]] = []
        self._seq = 0

    def _csv_writer(self, source: str, columns: tuple[str, ...]) -> Any:
        f = (self.out_dir / SOURCE_FILES[source]).open("w", encoding="utf-8", newline="", buffering=_BUFFER)
        self._files.append(f)
        writer = csv.writer(f)
        writer.writerow(columns)
        return writer

    def _truth_row(self, source: str, record_id: Any, person_id: str) -> None:
        self._truth.writerow((source, record_id, person_id))
        self.counts[source] += 1

    def crm(self, person_id: str, values: dict[str, Any]) -> None:
        """One CRM contact row."""
        self._csv["crm"].writerow(row(CRM_COLUMNS, values))
        self._truth_row("crm", values["contact_id"], person_id)

    def form(self, person_id: str, values: dict[str, Any]) -> None:
        """One web-form submission row."""
        self._csv["webforms"].writerow(row(WEBFORM_COLUMNS, values))
        self._truth_row("webforms", values["submission_id"], person_id)

    def vip(self, person_id: str, values: dict[str, Any]) -> None:
        """One VIP spreadsheet row."""
        self._csv["vip"].writerow(row(VIP_COLUMNS, values))
        self._truth_row("vip", values["VIP ID"], person_id)

    def order(self, person_id: str, obj: dict[str, Any]) -> None:
        """One Shopify order (a JSONL line)."""
        self._jsonl.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self._truth_row("shopify", obj["id"], person_id)

    def subscription(self, person_id: str, obj: dict[str, Any]) -> None:
        """One Stripe subscription."""
        self._stripe.write(obj)
        self._truth_row("stripe", obj["id"], person_id)

    def ticket(self, person_id: str, obj: dict[str, Any]) -> None:
        """One Zendesk ticket."""
        self._zendesk.write(obj)
        self._truth_row("zendesk", obj["id"], person_id)

    def defer(self, due: int, source: str, person_id: str, payload: Any) -> None:
        """Write this record once `flush_due(due)` is reached (bounded: `due` is a few steps ahead)."""
        self._seq += 1
        heapq.heappush(self._deferred, (due, self._seq, source, person_id, payload))

    def flush_due(self, now: int) -> None:
        """Write every deferred record whose time has come."""
        while self._deferred and self._deferred[0][0] <= now:
            _, _, source, person_id, payload = heapq.heappop(self._deferred)
            self._write(source, person_id, payload)

    def _write(self, source: str, person_id: str, payload: Any) -> None:
        {
            "crm": self.crm,
            "webforms": self.form,
            "vip": self.vip,
            "shopify": self.order,
            "stripe": self.subscription,
            "zendesk": self.ticket,
        }[source](person_id, payload)

    def close(self) -> dict[str, int]:
        """Write pending duplicates, close every file and return record counts per source."""
        self.flush_due(1 << 62)
        self._jsonl.close()
        self._stripe.close()
        self._zendesk.close()
        for f in self._files:
            f.close()
        return dict(self.counts)
