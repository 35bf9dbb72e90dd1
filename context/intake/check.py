"""Mapping checks: fields whose columns never appear, fill rates, unknown status words, unused identifiers.

Used by `sync` (on the records it standardized) and by `contextdesk sources check` (on a sample, writing
nothing), so a typo in a column name is a message naming the source, the field and the column instead of a
silently empty field.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from context.errors import ContextError
from context.intake.config import FILE_KINDS, IntakeConfig, SourceConfig
from context.intake.fields import KNOWN_LABELS
from context.intake.mapping import MapStats, describe_path_miss
from context.intake.standardize import label_slug


def field_paths(source: SourceConfig) -> dict[str, list[str]]:
    """Every mapped field (item sub-fields and identifiers included) with the paths it reads, in order."""
    paths: dict[str, list[str]] = {}
    for name, spec in source.fields.items():
        if spec.from_ or spec.join:
            paths[name] = list(spec.join or spec.from_)
        for key, value in (spec.items or {}).items():
            if isinstance(value, dict):
                paths[f"{name}.{key}"] = list(value.values())
            else:
                paths[f"{name}.{key}"] = [value] if isinstance(value, str) else list(value)
    for kind, identifier in source.identifiers.items():
        paths[f"identifiers.{kind}"] = list(identifier.from_)
    return paths


def configured_statuses(config: IntakeConfig) -> frozenset[str]:
    """The order status words the same contextdesk.yaml gives a meaning in `agent.order_statuses` (as stored)."""
    agent = (config.model_extra or {}).get("agent")
    statuses = agent.get("order_statuses") if isinstance(agent, dict) else None
    return frozenset(label_slug(k) for k in statuses) if isinstance(statuses, dict) else frozenset()


def mapping_warnings(source: SourceConfig, stats: MapStats, *, known_statuses: Iterable[str] = ()) -> list[str]:
    """Problems a user must hear about: mapped columns found in no record, status words the responder ignores.

    `known_statuses`: order status words the business's `agent.order_statuses` maps (they are not warned about).
    """
    if stats.mapped == 0:
        return []
    warnings: list[str] = []
    noun = "column" if source.kind == "csv" else "path"
    for name, paths in field_paths(source).items():
        if any(stats.present[(name, path)] for path in paths):
            continue
        where = "line items" if name.startswith("order.items.") else "records"
        of = f"{stats.mapped:,} {where}" if where == "records" else "line items of the records"
        quoted = ", ".join(f"'{p}'" for p in paths)
        hint = next((h for p in paths for s in stats.samples[:1] if (h := _hint(name, p, s))), None)
        warnings.append(
            f"source {source.name!r} field {name!r}: {noun}{'s' if len(paths) > 1 else ''} {quoted} found in none of "
            f"the {of}" + (f" ({hint})" if hint else "")
        )
    for name, builtin in KNOWN_LABELS.items():
        if name not in source.fields:
            continue
        extra = set(known_statuses) if name == "order.fulfillment_status" else set()
        known = [*builtin, *sorted(extra - set(builtin))]
        unknown = {v: n for (f, v), n in stats.labels.items() if f == name and v not in known}
        if unknown:
            shown = ", ".join(f"'{v}' ({n:,})" for v, n in sorted(unknown.items(), key=lambda x: -x[1])[:5])
            warnings.append(
                f"source {source.name!r} field {name!r}: {shown} not among the statuses the responder knows "
                f"({', '.join(known)}); map them with `map:` or give them a meaning under agent.order_statuses "
                "(docs/agent.md, Order statuses); unmapped ones are shown to customers as they are"
            )
    return warnings


def _hint(name: str, path: str, sample: dict[str, object]) -> str | None:
    if name.startswith("order.items."):
        return None  # sub-paths are read inside each line item, not the record
    return describe_path_miss(path, sample)


def fill_rates(source: SourceConfig, stats: MapStats) -> list[tuple[str, int, int]]:
    """(field, records with a value, records standardized) for every mapped field and identifier."""
    names = [n for n, spec in source.fields.items() if spec.from_ or spec.join or spec.const is not None]
    names += [f"identifiers.{kind}" for kind in source.identifiers]
    return [(name, stats.filled[name], stats.mapped) for name in names]


def unlisted_identifiers(config: IntakeConfig, rule_kinds: Iterable[str], *, has_identity_section: bool) -> list[str]:
    """Identifiers mapped in a source but absent from the identity rules: stored, never used for matching."""
    kinds = set(rule_kinds)
    warnings = []
    for source in config.sources:
        for kind in source.identifiers:
            if kind in kinds:
                continue
            fix = (
                "add it under `identity: identifiers:`"
                if has_identity_section
                else "add an `identity:` section listing it (an `identity:` section replaces the default rules, so "
                "copy them from docs/onboarding.md)"
            )
            warnings.append(
                f"source {source.name!r} identifier {kind!r} is not in the identity rules, so it never links "
                f"records into one customer: {fix}"
            )
    return warnings


# Fields a source of each entity needs for the support answers built on it, and why.
ESSENTIAL_FIELDS: dict[str, list[tuple[tuple[str, ...], str]]] = {
    "contact": [(("email", "phone"), "an email or a phone links the record to a customer")],
    "order": [
        (("order.number",), "customers ask about orders by number"),
        (("order.placed_at",), "without a date, orders cannot be listed newest first"),
        (("email", "phone"), "an email or a phone links the order to a customer"),
    ],
    "subscription": [
        (("subscription.status",), "the account status is derived from it"),
        (("email", "phone"), "an email or a phone links the subscription to a customer"),
    ],
    "ticket": [
        (("ticket.status",), "open tickets are told apart by it"),
        (("email", "phone"), "an email or a phone links the ticket to a customer"),
    ],
    "interaction": [(("email", "phone"), "an email or a phone links the interaction to a customer")],
}


@dataclass(slots=True)
class SourceCheck:
    """What `contextdesk sources check` found for one source, without writing anything."""

    source: str
    kind: str
    entity: str
    records: int = 0
    columns: list[str] = field(default_factory=list)
    error: str | None = None
    fill: list[tuple[str, int, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # (field, raw value, standardized value) from the first records
    samples: list[tuple[str, str, str]] = field(default_factory=list)
    # (field, reason) -> count
    quarantine: Counter[tuple[str, str]] = field(default_factory=Counter)
    # A vendor, HTTP or push source: its mapping is checked, its records are not read (no credentials here).
    connector: bool = False

    @property
    def ok(self) -> bool:
        """No error and no warning."""
        return self.error is None and not self.warnings


def check_source(config: IntakeConfig, source: SourceConfig, *, limit: int | None = 1000) -> SourceCheck:
    """Read (up to `limit` records of) a source and standardize them in memory: nothing is written."""
    from context.intake.mapping import RecordMapper
    from context.intake.sources import open_source

    result = SourceCheck(source=source.name, kind=source.kind, entity=source.entity)
    if source.kind not in FILE_KINDS:
        # Reading it needs credentials and the network, which only `sync` uses: check that the mapping compiles.
        result.connector = True
        try:
            RecordMapper(config, source)
        except ContextError as exc:
            result.error = str(exc)
        return result
    columns: dict[str, None] = {}
    try:
        mapper = RecordMapper(config, source)
        reader = open_source(config, source)
        for item in reader.read():
            if limit is not None and result.records >= limit:
                break
            result.records += 1
            if len(columns) < 500:
                columns.update(dict.fromkeys(item.payload))
            record_id = mapper.record_id(item.payload) or f"line {item.line}"
            mapped = mapper.map(item.payload, record_id)
            for q in mapped.quarantine:
                result.quarantine[(q.field, _reason_kind(q.reason))] += 1
            if result.records == 1:
                result.samples += _samples(source, item.payload, mapped)
    except ContextError as exc:
        result.error = str(exc)
    result.columns = list(columns)
    stats = mapper.take_stats() if result.error is None else MapStats()
    result.fill = fill_rates(source, stats)
    result.warnings = (
        mapping_warnings(source, stats, known_statuses=configured_statuses(config)) if result.records else []
    )
    if result.error is None and result.records == 0:
        result.warnings.append(f"source {source.name!r}: no records read")
    for names, why in ESSENTIAL_FIELDS.get(source.entity, []):
        if not any(n in source.fields for n in names):
            result.notes.append(f"{' or '.join(names)} is not mapped: {why}")
    for name in source.required:
        filled = stats.filled[name]
        if result.records and filled < stats.mapped:
            result.notes.append(
                f"required field {name!r} has no valid value in {stats.mapped - filled:,} of {stats.mapped:,} records "
                "(they are stored, with a quarantine entry)"
            )
    return result


def _reason_kind(reason: str) -> str:
    # "email: invalid email address 'x'" -> the part before the value, so counts group by kind of problem.
    return reason.split("'", 1)[0].strip().rstrip(":") or reason


def _samples(source: SourceConfig, payload: dict[str, Any], mapped: Any) -> list[tuple[str, str, str]]:
    from context.intake.mapping import _ABSENT, compile_path

    out = []
    values = {**mapped.person, **{f"{source.entity}.{k}": v for k, v in mapped.entity.items()}}
    for name, spec in source.fields.items():
        raw: Any = None
        for path in spec.join or spec.from_:
            got = compile_path(path)(payload)
            if got is not _ABSENT and got is not None:
                raw = (
                    got
                    if not spec.join
                    else " + ".join(str(v) for p in spec.join if (v := compile_path(p)(payload)) is not _ABSENT and v)
                )
                break
        key = name if "." not in name else f"{source.entity}.{_column(name)}"
        value = mapped.items if name == "order.items" else values.get(key)
        if isinstance(value, list) and name == "order.items":
            value = "; ".join(f"{i.get('quantity', 1)}× {i.get('name') or i.get('sku')}" for i in value)
        out.append((name, _short(raw), _short(value)))
    return out


def _column(name: str) -> str:
    from context.intake.mapping import _ENTITY_COLUMN

    return _ENTITY_COLUMN.get(name, name.split(".", 1)[1])


def _short(value: Any) -> str:
    if value is None:
        return "—"
    text = value if isinstance(value, str) else str(value)
    if isinstance(value, list | dict):
        import json

        text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:59] + "…"
