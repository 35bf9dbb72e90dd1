"""`contextdesk init`: propose a contextdesk.yaml from sample files, for the user to read and edit.

Each file's format is detected (CSV with its delimiter, JSON with the path of its list of records, JSON
Lines), its entity guessed from the file name and the columns, and likely columns for email, phone, names,
ids, amounts, dates and statuses found by name and by the values in a sample. Every guess is written with a
comment saying what it was based on, so the user checks it instead of trusting it.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from context.errors import ConfigError

SAMPLE = 200

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?[\d\s().\-]{7,20}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}|^\d{1,2}[/.]\d{1,2}[/.]\d{2,4}")
_MONEY = re.compile(r"^[$€£]?\s*-?\d{1,9}([.,]\d{1,2})?(\s*[A-Z]{3})?$")

# canonical field -> name patterns (matched against the column's last path part, lower-cased, "_" for " -.")
_NAME_RULES: dict[str, list[str]] = {
    "email": [r"e_?mail", r"email_address", r"contact_email", r"customer_email"],
    "phone": [r"phone", r"mobile", r"tel", r"telephone", r"phone_number"],
    "first_name": [r"first_?name", r"given_name", r"forename", r"first"],
    "last_name": [r"last_?name", r"surname", r"family_name", r"last"],
    "full_name": [r"full_?name", r"name", r"customer_name", r"contact_name", r"customer"],
    "company": [r"company", r"company_name", r"organi[sz]ation", r"business"],
    "country": [r"country", r"country_code"],
    "city": [r"city", r"town"],
    "postcode": [r"post_?code", r"zip", r"zip_?code", r"postal_code"],
    "region": [r"state", r"province", r"region", r"county"],
    "address": [r"address", r"address_?1", r"street", r"address_line_?1"],
    "signed_up_at": [r"created_at", r"signed_up", r"signup_date", r"joined", r"created"],
    "order.number": [
        r"order_?number",
        r"order_?no",
        r"order_?name",
        r"number",
        r"order_id",
        r"name",
        r"receipt(_no|_number)?",
        r"invoice(_no|_number)?",
        r"ref(erence)?",
    ],
    "order.placed_at": [
        r"placed_at",
        r"order_date",
        r"created_at",
        r"date",
        r"processed_at",
        r"created",
        r"booked(_in|_at|_on)?",
        r"booking_date",
    ],
    "order.total": [r"total", r"total_price", r"amount", r"grand_total", r"order_total"],
    "order.subtotal": [r"subtotal", r"subtotal_price"],
    "order.currency": [r"currency"],
    "order.financial_status": [r"financial_status", r"payment_status", r"paid"],
    "order.fulfillment_status": [
        r"fulfillment_status",
        r"shipping_status",
        r"status",
        r"fulfilment_status",
        r"state",
        r"job_status",
    ],
    "order.tracking_numbers": [r"tracking_?(number|id|code)s?", r"tracking"],
    "order.carrier": [r"carrier", r"tracking_company", r"shipping_carrier"],
    "subscription.id": [r"subscription_id", r"id"],
    "subscription.plan": [r"plan", r"plan_name", r"product", r"tier"],
    "subscription.status": [r"status", r"subscription_status"],
    "subscription.interval": [r"interval", r"billing_interval", r"period"],
    "subscription.started_at": [r"start(ed)?_(at|date)", r"created"],
    "subscription.current_period_end": [r"current_period_end", r"renew(s|al)?_(at|date)", r"next_billing"],
    "subscription.canceled_at": [r"cancel(l)?ed_at", r"cancel(l)?ation_date"],
    "ticket.id": [r"ticket_id", r"id"],
    "ticket.subject": [r"subject", r"title"],
    "ticket.status": [r"status"],
    "ticket.priority": [r"priority"],
    "ticket.channel": [r"channel", r"via"],
    "ticket.created_at": [r"created_at", r"opened_at", r"created"],
    "ticket.updated_at": [r"updated_at", r"modified"],
    "interaction.kind": [r"event", r"type", r"kind", r"action"],
    "interaction.occurred_at": [r"occurred_at", r"timestamp", r"time", r"date"],
    "interaction.url": [r"url", r"page"],
}
_ID_NAMES = [r"id", r"record_id", r"uuid", r"key", r"order_id", r"customer_id", r"contact_id", r"ticket_id"]
_UPDATED_NAMES = [r"updated_at", r"modified(_at)?", r"last_modified", r"updated", r"date_modified"]
_ITEM_NAMES = {
    "sku": [r"sku", r"product_id", r"variant_sku", r"part(_no|_number|_code)?", r"item_code", r"code"],
    "name": [r"name", r"title", r"product", r"product_name", r"description", r"desc"],
    "quantity": [r"quantity", r"qty", r"count"],
    "unit_price": [r"price", r"unit_price", r"amount"],
}
_CUSTOM_ID = re.compile(r".*(loyalty|member(ship)?|card|account|customer)_?(no|number|id|card|code)?$")
_ADDRESS2 = [r"address_?2", r"address_line_?2", r"line_?2", r"apartment", r"flat", r"suite"]
_DAYFIRST = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.]\d{2,4}")

_ENTITY_WORDS = {
    "order": ("order", "purchase", "sale", "job", "booking", "invoice", "receipt", "repair"),
    "subscription": ("subscri", "billing", "plan", "membership"),
    "ticket": ("ticket", "support", "helpdesk", "case"),
    "interaction": ("event", "interaction", "activity", "visit", "form"),
    "contact": ("customer", "contact", "crm", "people", "member", "user", "client"),
}


@dataclass(slots=True)
class Proposal:
    """The proposed source for one file, with the reasons for each guess (written as YAML comments)."""

    name: str
    kind: str
    path: str
    entity: str
    records: str | None = None
    delimiter: str = ","
    id: str | None = None
    updated_at: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    identifiers: dict[str, str] = field(default_factory=dict)
    dayfirst: bool = False
    countries: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)


def detect_kind(path: Path) -> tuple[str, str | None, str]:
    """(kind, JSON records path, CSV delimiter) of a sample file, from its extension and first bytes."""
    suffix = path.suffix.lower()
    head = path.read_bytes()[:65536].decode("utf-8", errors="replace").lstrip("\ufeff").lstrip()
    if suffix in (".jsonl", ".ndjson") or (head.startswith("{") and "\n{" in head and suffix != ".json"):
        return "jsonl", None, ","
    if suffix == ".json" or head[:1] in ("[", "{"):
        try:
            doc = json.loads(path.read_text(encoding="utf-8-sig"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if head.startswith("{") and "\n{" in head:
                return "jsonl", None, ","
            raise ConfigError(f"{path}: looks like JSON but does not parse: {exc}") from None
        try:
            return "json", _records_path(doc), ","
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    try:
        dialect = csv.Sniffer().sniff(head.split("\n", 5)[0] if head else ",", delimiters=",;\t|")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    return "csv", None, delimiter


def _records_path(doc: Any) -> str | None:
    if isinstance(doc, list):
        return None
    if isinstance(doc, dict):
        for key, value in doc.items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                return str(key)
            if isinstance(value, dict):
                inner = _records_path(value)
                if inner is not None:
                    return f"{key}.{inner}"
    raise ConfigError("no list of records found in the JSON document")


def read_sample(path: Path, kind: str, records: str | None, delimiter: str) -> list[dict[str, Any]]:
    """Up to SAMPLE records of a file."""
    if kind == "csv":
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
            reader = csv.DictReader(handle, delimiter=delimiter)
            return [
                {(k or "").strip(): v for k, v in row.items()} for _, row in zip(range(SAMPLE), reader, strict=False)
            ]
    if kind == "jsonl":
        out = []
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            for line in handle:
                if line.strip():
                    try:
                        value = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if isinstance(value, dict):
                        out.append(value)
                if len(out) >= SAMPLE:
                    break
        return out
    node: Any = json.loads(path.read_text(encoding="utf-8-sig"))
    for part in records.split(".") if records else []:
        node = node[part]
    return [r for r in node[:SAMPLE] if isinstance(r, dict)]


def flatten(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Every path in the sample (nested objects dotted, arrays of objects as `*`) with its values."""
    paths: dict[str, list[Any]] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}.{key}" if prefix else str(key))
        elif isinstance(node, list) and node and all(isinstance(v, dict) for v in node):
            paths.setdefault(prefix, []).append(node)  # the array itself (line items)
            for element in node:
                walk(element, f"{prefix}.*")
        else:
            paths.setdefault(prefix, []).append(node)

    for record in records:
        walk(record, "")
    return paths


def _key(path: str) -> str:
    return re.sub(r"[\s.\-]+", "_", path.rsplit(".", 1)[-1].lower())


def _matches(path: str, patterns: list[str]) -> int | None:
    """Rank of the first pattern matching the path's last part (lower = better), or None."""
    key = _key(path)
    for rank, pattern in enumerate(patterns):
        if re.fullmatch(pattern, key):
            return rank
    return None


def _values(values: list[Any]) -> list[str]:
    return [str(v).strip() for v in values if v not in (None, "") and not isinstance(v, dict | list)]


def _share(values: list[str], pattern: re.Pattern[str]) -> float:
    return sum(1 for v in values if pattern.search(v)) / len(values) if values else 0.0


def guess_entity(name: str, columns: list[str]) -> str:
    """The entity a file most likely holds, from its name, then its columns."""
    lowered = name.lower()
    for entity, words in _ENTITY_WORDS.items():
        if any(w in lowered for w in words):
            return entity
    keys = {_key(c) for c in columns}
    if keys & {"order_number", "total_price", "line_items", "order_id", "fulfillment_status"}:
        return "order"
    if keys & {"plan", "interval", "current_period_end", "trial_end"}:
        return "subscription"
    if keys & {"subject", "priority", "ticket_id"}:
        return "ticket"
    return "contact"


def propose_source(path: Path, *, base_dir: Path) -> Proposal:
    """A proposed source definition for one sample file."""
    kind, records, delimiter = detect_kind(path)
    sample = read_sample(path, kind, records, delimiter)
    if not sample:
        raise ConfigError(f"{path}: no records found")
    paths = flatten(sample)
    columns = [p for p in paths if "*" not in p]
    entity = guess_entity(path.stem, columns)
    rel = path.resolve().relative_to(base_dir.resolve()) if path.resolve().is_relative_to(base_dir.resolve()) else path
    name = re.sub(r"[^a-z0-9_\-]+", "_", path.stem.lower()).strip("_-")[:60] or "source"
    if not name[0].isalpha():
        name = f"s_{name}"
    proposal = Proposal(name=name, kind=kind, path=str(rel), entity=entity, records=records, delimiter=delimiter)
    used: set[str] = set()

    def pick(patterns: list[str], *, check: re.Pattern[str] | None = None, pool: list[str] | None = None) -> str | None:
        best: tuple[int, int, str] | None = None
        for index, candidate in enumerate(pool if pool is not None else columns):
            if candidate in used:
                continue
            rank = _matches(candidate, patterns)
            if rank is None:
                continue
            values = _values(paths[candidate])
            if check is not None and values and _share(values, check) < 0.5:
                continue
            if best is None or (rank, index) < best[:2]:
                best = (rank, index, candidate)
        return best[2] if best else None

    # The record's own id is a top-level column: `client.id` in an order is its customer's id, not the order's.
    top = [c for c in columns if "." not in c]
    id_column = (
        pick(_ID_NAMES, pool=top)
        or (pick(_NAME_RULES["order.number"], pool=top) if entity == "order" else None)
        or pick(_ID_NAMES)
        or columns[0]
    )
    proposal.id = id_column
    proposal.reasons["id"] = f"column {id_column!r}: check its values are unique per record"
    used.add(id_column)
    updated = pick(_UPDATED_NAMES)
    if updated:
        proposal.updated_at = updated
        used.add(updated)
    # Email and phone by their values too: a column full of addresses is an email whatever its name.
    email = pick(_NAME_RULES["email"], check=_EMAIL) or next(
        (c for c in columns if c not in used and _share(_values(paths[c]), _EMAIL) > 0.8), None
    )
    if entity == "order":
        # A shipping address belongs to the order (a gift, the office), not to the person's own address.
        for prefix in ("shipping_address.", "shipping.", "ship_to.", "delivery_address."):
            parts = [c for c in columns if c.startswith(prefix) and c.count(".") == 1 and c not in used]
            parts = [c for c in parts if not re.search(r"(phone|name|email|company|country_code)$", _key(c))]
            if parts:
                proposal.fields["order.shipping_address"] = {"join": parts, "sep": ", "}
                proposal.reasons["order.shipping_address"] = f"the {prefix.rstrip('.')!r} object, joined"
                used.update(c for c in columns if c.startswith(prefix))
                break
    # The entity's own fields first: in an order export `name` is the order number ("#1001"), not a person.
    wanted = [f for f in _NAME_RULES if f.startswith(f"{entity}.")] + [f for f in _NAME_RULES if "." not in f]
    for canonical in wanted:
        if canonical == "email":
            column = email
        elif canonical == "phone":
            column = pick(_NAME_RULES["phone"], check=_PHONE)
        elif canonical.endswith(("_at", "placed_at")):
            column = pick(_NAME_RULES[canonical], check=_DATE)
        elif canonical.endswith(("total", "subtotal")):
            column = pick(_NAME_RULES[canonical], check=_MONEY)
        elif canonical in ("order.tracking_numbers", "order.carrier"):
            column = pick(_NAME_RULES[canonical], pool=list(paths))
        else:
            column = pick(_NAME_RULES[canonical])
        if column is None:
            continue
        if canonical == "full_name" and {"first_name", "last_name"} <= set(proposal.fields):
            continue
        used.add(column)
        proposal.fields[canonical] = column
        example = next(iter(_values(paths[column])), "")
        proposal.reasons[canonical] = f"column {column!r}" + (f", e.g. {example[:40]!r}" if example else "")
    if "order.number" not in proposal.fields and entity == "order" and _matches(id_column, _NAME_RULES["order.number"]):
        proposal.fields["order.number"] = id_column  # a receipt or invoice number is both id and order number
        proposal.reasons["order.number"] = f"the id column {id_column!r} looks like an order reference"
    address = proposal.fields.get("address")
    if isinstance(address, str):
        parent = address.rsplit(".", 1)[0] + "." if "." in address else ""
        second = pick(
            _ADDRESS2, pool=[c for c in columns if c.startswith(parent) and c.count(".") == address.count(".")]
        )
        if second:
            used.add(second)
            proposal.fields["address"] = {"join": [address, second], "sep": ", "}
            proposal.reasons["address"] = f"columns {address!r} + {second!r}, joined"
    if entity == "order":
        best_items: tuple[int, str, dict[str, str]] | None = None
        for candidate in (p for p in paths if "*" not in p and any(isinstance(v, list) for v in paths[p])):
            inner = [p.removeprefix(f"{candidate}.*.") for p in paths if p.startswith(f"{candidate}.*.")]
            spec: dict[str, str] = {}
            for key, patterns in _ITEM_NAMES.items():
                got = next((c for c in inner if _matches(c, patterns) is not None and c not in spec.values()), None)
                if got:
                    spec[key] = got
            # An object of options ({"spec": {"size": …}}) appears only as its inner paths: take their parent.
            parents = [c for c in inner if "." not in c] + [c.split(".", 1)[0] for c in inner if "." in c]
            options = next(
                (
                    c
                    for c in parents
                    if _key(c) in ("properties", "options", "variant_options", "attributes", "spec", "specs")
                ),
                None,
            )
            if options:
                spec["options"] = options
            if spec and (best_items is None or len(spec) > best_items[0]):
                best_items = (len(spec), candidate, spec)
        if best_items is not None and best_items[0] >= 2:
            _, items, spec = best_items
            proposal.fields["order.items"] = {"from": items, "items": spec}
            proposal.reasons["order.items"] = f"array {items!r} of objects"
            used.add(items)
    for column in columns:
        if column not in used and _CUSTOM_ID.fullmatch(_key(column)):
            values = _values(paths[column])
            if values and len(set(values)) >= 0.9 * len(values):
                proposal.identifiers[_key(column)] = column
                used.add(column)
    dates = [
        v
        for c, spec in proposal.fields.items()
        if c.endswith("_at") and isinstance(spec, str)
        for v in _values(paths[spec])
    ]
    proposal.dayfirst = any((m := _DAYFIRST.match(v)) and int(m.group(1)) > 12 for v in dates)
    country = proposal.fields.get("country")
    if isinstance(country, str):
        proposal.countries = _values(paths[country])
    phone = proposal.fields.get("phone")
    if isinstance(phone, str):
        proposal.phones = _values(paths[phone])
    proposal.unmapped = [c for c in columns if c not in used and not any(c.startswith(f"{u}.") for u in used)]
    return proposal


def _region(proposals: list[Proposal]) -> str:
    """The most common country in the samples (phones without a country code are read there)."""
    from collections import Counter

    from context.errors import StandardizationError
    from context.intake.standardize import phone_country, standardize_country

    found: Counter[str] = Counter()
    for p in proposals:
        for value in p.countries:
            try:
                found[standardize_country(value)] += 1
            except StandardizationError:
                continue
    if not found:
        # No country column: the international numbers say where the business is ("+44 7911…" → GB).
        found.update(c for p in proposals for c in map(phone_country, p.phones) if c)
    return found.most_common(1)[0][0] if found else "US"


def render_yaml(proposals: list[Proposal]) -> str:
    """The proposed contextdesk.yaml, with a comment on every guess."""
    region = _region(proposals)
    lines = [
        "# Proposed by `contextdesk init` from sample files. Every mapping below is a guess: read the comments,",
        "# fix what is wrong, then run `contextdesk sources check` (reads the files, writes nothing).",
        "# Syntax: docs/configuration.md; a walk-through: docs/onboarding.md.",
        f"default_region: {region}          # phones without a country code are read in this country",
        "timezone: UTC               # IANA name (e.g. Europe/London) for timestamps without a zone",
        "sources:",
    ]
    for p in proposals:
        lines += [f"  - name: {p.name}", f"    kind: {p.kind}", f"    path: {json.dumps(p.path)}"]
        if p.records:
            lines.append(f"    records: {p.records}")
        if p.kind == "csv" and p.delimiter != ",":
            lines.append(f"    delimiter: {json.dumps(p.delimiter)}")
        lines.append(f"    entity: {p.entity}")
        lines.append(f"    id: {json.dumps(p.id)}            # {p.reasons.get('id', '')}")
        if p.updated_at:
            lines.append(f"    updated_at: {json.dumps(p.updated_at)}")
        if p.dayfirst:
            lines.append("    dayfirst: true              # dates like 15/06/2023 are day/month/year")
        lines.append("    fields:")
        for name, spec in p.fields.items():
            reason = p.reasons.get(name, "")
            if isinstance(spec, str):
                lines.append(f"      {name}: {json.dumps(spec)}" + (f"   # {reason}" if reason else ""))
            elif "join" in spec:
                joined = ", ".join(json.dumps(c) for c in spec["join"])
                lines.append(f"      {name}: {{join: [{joined}], sep: {json.dumps(spec['sep'])}}}   # {reason}")
            else:
                lines.append(f"      {name}:                  # {reason}")
                lines.append(f"        from: {json.dumps(spec['from'])}")
                lines.append(
                    "        items: {" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in spec["items"].items()) + "}"
                )
        if not p.fields:
            lines.append("      {}")
        if p.identifiers:
            lines.append(
                "    identifiers:                # list these under `identity:` too, or they never link records"
            )
            for kind, column in p.identifiers.items():
                lines.append(f"      {kind}: {json.dumps(column)}")
        if p.unmapped:
            shown = ", ".join(p.unmapped[:25]) + (" …" if len(p.unmapped) > 25 else "")
            lines.append(f"    # not mapped: {shown}")
        if p.entity == "order" and "order.placed_at" not in p.fields:
            lines.append(
                "    # no order date found: map order.placed_at if the file has one (else orders are not dated)"
            )
    return "\n".join(lines) + "\n"
