"""Field mapping: turns a source payload into standardized canonical values, quarantining what fails.

A `RecordMapper` is compiled once per source from its `SourceConfig`. For each canonical field it tries
the candidate columns/paths in priority order: the first one holding a value wins; if that value fails
standardization it is quarantined and the next candidate is tried.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

import orjson

from context.errors import StandardizationError
from context.intake import standardize as std
from context.intake.config import BUILTIN_NULL_VALUES, FieldSpec, IntakeConfig, SourceConfig
from context.intake.fields import CANONICAL_FIELDS, KNOWN_LABELS

Getter = Callable[[Any], Any]
# One field's compiled mapping: (payload, values, originals, record, region) -> None
Step = Callable[[dict[str, Any], dict[str, Any], dict[str, str], "MappedRecord", str | None], None]
_ABSENT = object()


class Many(list[Any]):
    """The values a path with `*` found, one per array element (empty ones left out)."""


def compile_path(path: str) -> Getter:
    """A getter for a column name or a dotted path.

    Path syntax (docs/configuration.md, "Paths"):

    - `customer.email`: a key inside an object;
    - `line_items.0.sku` / `fulfillments.-1.tracking_id`: an array element by position (0 = first, -1 = last);
    - `fulfillments.*.tracking_id`: every element of an array. The getter returns a `Many` list of the values
      found; a list field (tracking numbers) keeps them all, a single-value field takes the first usable one.

    An exact key match wins over a dotted path, so CSV headers containing dots still work.
    """
    if "." not in path:

        def get_key(payload: Any) -> Any:
            return payload.get(path, _ABSENT) if type(payload) is dict else _ABSENT

        return get_key
    parts: list[str | int] = [int(p) if _is_index(p) else p for p in path.split(".")]
    if "*" in parts:
        return _star_getter(path, parts)

    def get(payload: Any) -> Any:
        if isinstance(payload, dict) and path in payload:
            return payload[path]
        node = payload
        for part in parts:
            if isinstance(part, int):
                if not isinstance(node, list) or not -len(node) <= part < len(node):
                    return _ABSENT
                node = node[part]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                return _ABSENT
        return node

    return get


def _has_star(path: str) -> bool:
    """Whether a path has a `*` step (its getter may return a `Many`)."""
    return "." in path and "*" in path.split(".")


def _is_index(part: str) -> bool:
    return part.isdigit() or (part.startswith("-") and part[1:].isdigit())


def _star_getter(path: str, parts: list[str | int]) -> Getter:
    def walk(node: Any, index: int, out: Many) -> None:
        if index == len(parts):
            if node is not None and node != "" and node != [] and node != {}:
                out.extend(node) if isinstance(node, list) else out.append(node)
            return
        part = parts[index]
        if part == "*":
            if isinstance(node, list):
                for element in node:
                    walk(element, index + 1, out)
            elif isinstance(node, dict):  # `*` over an object: each of its values
                for element in node.values():
                    walk(element, index + 1, out)
        elif isinstance(part, int):
            if isinstance(node, list) and -len(node) <= part < len(node):
                walk(node[part], index + 1, out)
        elif isinstance(node, dict) and part in node:
            walk(node[part], index + 1, out)

    def get(payload: Any) -> Any:
        if isinstance(payload, dict) and path in payload:
            return payload[path]
        out = Many()
        walk(payload, 0, out)
        return out if out else _ABSENT

    return get


def describe_path_miss(path: str, payload: Any) -> str | None:
    """Where a path stops matching a sample record, with the fix when it runs into an array; None if it matches."""
    if compile_path(path)(payload) is not _ABSENT:
        return None
    node: Any = payload
    walked: list[str] = []
    for part in path.split("."):
        if isinstance(node, list) and not _is_index(part) and part != "*":
            here = ".".join(walked)
            rest = path[len(here) + 1 :]
            return f"'{here}' is an array: write '{here}.*.{rest}' (every element) or '{here}.0.{rest}' (the first)"
        if part == "*" and isinstance(node, list | dict):
            return None
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and _is_index(part) and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            where = f"'{'.'.join(walked)}'" if walked else "the record"
            keys = sorted(node) if isinstance(node, dict) else []
            import difflib

            close = difflib.get_close_matches(part, keys, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else (f" (it has {', '.join(keys[:12])})" if keys else "")
            return f"{where} has no '{part}'{hint}"
        walked.append(part)
    return None


def content_hash(payload: dict[str, Any]) -> str:
    """A stable hash of a payload (keys sorted), to detect changed records."""
    return hashlib.blake2b(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


@dataclass(slots=True)
class Quarantined:
    """A value that could not be used, and why."""

    field: str
    raw_value: str | None
    reason: str


@dataclass(slots=True)
class MappedRecord:
    """A source record standardized into canonical values."""

    record_id: str
    updated_at: datetime | None
    person: dict[str, Any] = field(default_factory=dict)
    entity: dict[str, Any] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)
    identifiers: list[tuple[str, str]] = field(default_factory=list)
    blank_fields: list[str] = field(default_factory=list)
    quarantine: list[Quarantined] = field(default_factory=list)


@dataclass(slots=True)
class MapStats:
    """What mapping a batch of records found: which paths held values and which fields were filled.

    Merged across batches (and worker processes) into a source's fill rates and its mapping warnings.
    """

    mapped: int = 0
    # (field, path) -> records where the path held something (even a placeholder such as "N/A")
    present: Counter[tuple[str, str]] = field(default_factory=Counter)
    # field -> records that got a usable value
    filled: Counter[str] = field(default_factory=Counter)
    # (field, standardized value) -> count, for label fields with a known vocabulary
    labels: Counter[tuple[str, str]] = field(default_factory=Counter)
    # a few records as read, to explain a path that never matched
    samples: list[dict[str, Any]] = field(default_factory=list)

    def merge(self, other: MapStats) -> None:
        """Add another batch's counts."""
        self.mapped += other.mapped
        self.present.update(other.present)
        self.filled.update(other.filled)
        self.labels.update(other.labels)
        self.samples.extend(other.samples[: max(0, 3 - len(self.samples))])


def _raw_text(value: Any) -> str | None:
    if value is None or value is _ABSENT:
        return None
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


@dataclass(slots=True)
class _CompiledField:
    name: str
    kind: str
    getters: list[tuple[str, Getter]]
    spec: FieldSpec
    value_map: dict[str, str] | None
    item_getters: dict[str, list[tuple[str, Getter, tuple[str, str]]]] | None
    option_getters: list[tuple[str, str, Getter]] | None
    join_getters: list[tuple[str, Getter]] | None
    # The field's standardization with its settings bound (zone, value map, minor units); phones take a region too.
    convert: Callable[..., Any] = std.standardize_text
    # Counters kept on the field (cheaper than keyed counters in this hot loop); see take_stats.
    present: list[int] = field(default_factory=list)  # per getter: records where the path held something
    filled: int = 0
    track_labels: bool = False


class RecordMapper:
    """Maps payloads of one source to `MappedRecord`s, counting what it finds (see `take_stats`)."""

    def __init__(self, config: IntakeConfig, source: SourceConfig) -> None:
        self.source = source
        self.null_values = frozenset(
            v.strip().casefold() for v in [*BUILTIN_NULL_VALUES, *config.null_values, *source.null_values]
        )
        self.zone: tzinfo = std.zone(source.timezone or config.timezone)
        self.region = (source.default_region or config.default_region).upper()
        self.id_getters = [(p, compile_path(p)) for p in _as_list(source.id)]
        self.updated_getters = [(p, compile_path(p)) for p in _as_list(source.updated_at)]
        self.required = set(source.required)
        self.fields: list[_CompiledField] = []
        for name, spec in source.fields.items():
            value_map = None
            if spec.map is not None:
                raw_map = config.value_maps[spec.map] if isinstance(spec.map, str) else spec.map
                value_map = {std.label_key(k): str(v) for k, v in raw_map.items()}
            item_getters = option_getters = None
            if spec.items is not None:
                item_getters = {
                    k: [(p, compile_path(p), (f"{name}.{k}", p)) for p in _as_list(v)]  # type: ignore[arg-type]
                    for k, v in spec.items.items()
                    if k != "options"
                }
                options = spec.items.get("options")
                if isinstance(options, dict):  # {colour: color, size: variant.size}
                    option_getters = [(label, p, compile_path(p)) for label, p in options.items()]
                elif options is not None:  # a path to an object or to [{name:, value:}] pairs
                    option_getters = [("", p, compile_path(p)) for p in _as_list(options)]
            self.fields.append(
                _CompiledField(
                    name=name,
                    kind=CANONICAL_FIELDS[name],
                    getters=[(p, compile_path(p)) for p in spec.from_],
                    spec=spec,
                    value_map=value_map,
                    item_getters=item_getters,
                    option_getters=option_getters,
                    join_getters=[(p, compile_path(p)) for p in spec.join] if spec.join else None,
                    present=[0] * len(spec.from_),
                    track_labels=name in KNOWN_LABELS,
                )
            )
        self.phone_fields = [f for f in self.fields if f.kind == "phone"]
        for compiled in self.fields:
            compiled.convert = self._converter(compiled)
        # Each field's mapping compiled into one closure (see _compile_step), in the order `map` applies them.
        self._plain_steps = [self._compile_step(f) for f in self.fields if f.kind != "phone"]
        self._phone_steps = [self._compile_step(f) for f in self.phone_fields]
        self._required = sorted(self.required)
        self._targets = {
            f.name: (True, _ENTITY_COLUMN.get(f.name, f.name.split(".", 1)[1])) if "." in f.name else (False, f.name)
            for f in self.fields
        }
        self.identifier_getters = [
            (
                kind,
                spec.format,
                f"identifiers.{kind}",
                [(p, compile_path(p), (f"identifiers.{kind}", p)) for p in spec.from_],
            )
            for kind, spec in source.identifiers.items()
        ]
        self.stats = MapStats()

    def _converter(self, compiled: _CompiledField) -> Callable[..., Any]:
        """The field's standardization as one callable of the raw value (and, for a phone, the region)."""
        kind, spec = compiled.kind, compiled.spec
        if kind == "timestamp":
            dayfirst = spec.dayfirst or self.source.dayfirst
            return functools.partial(std.standardize_timestamp, source_zone=self.zone, dayfirst=dayfirst)
        if kind == "label":
            return functools.partial(std.standardize_label, value_map=compiled.value_map)
        if kind == "money":
            return functools.partial(std.standardize_money, minor_units=spec.minor_units)
        if kind == "items":
            return functools.partial(self._items, compiled)
        if kind == "int":
            return std.standardize_int
        if kind == "phone":
            default_region = self.region

            def phone(raw: Any, region: str | None) -> str:
                return std.standardize_phone(str(raw), region or default_region)

            return phone
        as_text: dict[str, Callable[[str], Any]] = {
            "email": std.standardize_email,
            "name": std.standardize_name,
            "country": std.standardize_country,
            "currency": std.standardize_currency,
        }
        if kind in as_text:
            standardize = as_text[kind]

            def of_text(raw: Any) -> Any:
                return standardize(str(raw))

            return of_text
        if kind == "list":

            def of_list(raw: Any) -> list[str]:
                return std.standardize_list(list(raw) if type(raw) is Many else raw)

            return of_list
        return std.standardize_text

    def _compile_step(self, compiled: _CompiledField) -> Step:
        """One field's mapping as a closure over its paths, converter and counters (resolved once, here).

        The same rules as `_map_field`, which still maps what this does not specialize: `join:` fields, `const`
        only, and `*` paths (which yield several values). The closures assume a dict payload (`map` checks).
        """
        if compiled.join_getters is not None or not compiled.getters or any(_has_star(p) for p, _ in compiled.getters):

            def general(
                payload: dict[str, Any],
                values: dict[str, Any],
                originals: dict[str, str],
                out: MappedRecord,
                region: str | None,
            ) -> None:
                self._map_field(compiled, payload, values, originals, out, region=region)

            return general
        name, convert, present = compiled.name, compiled.convert, compiled.present
        const, track, phone = compiled.spec.const, compiled.track_labels, compiled.kind == "phone"
        null_values, mapper = self.null_values, self
        # (getter index, path, key for a plain column or None, getter): a plain key is read without a call.
        paths = [(i, p, None if "." in p else p, get) for i, (p, get) in enumerate(compiled.getters)]

        def step(
            payload: dict[str, Any],
            values: dict[str, Any],
            originals: dict[str, str],
            out: MappedRecord,
            region: str | None,
        ) -> None:
            seen_blank = seen_value = False
            for index, path, key, get in paths:
                raw = payload.get(key, _ABSENT) if key is not None else get(payload)
                if raw is _ABSENT:
                    continue
                present[index] += 1
                # Inlined std.is_missing: this loop runs for every field of every record.
                if raw is None or (
                    (raw.strip().casefold() in null_values if len(raw) < 24 else False)
                    if type(raw) is str
                    else isinstance(raw, list | dict) and not raw
                ):
                    seen_blank = True
                    continue
                seen_value = True
                try:
                    value = convert(raw, region) if phone else convert(raw)
                except StandardizationError as exc:
                    out.quarantine.append(Quarantined(name, _raw_text(raw), f"{path}: {exc.reason}"))
                    continue
                values[name] = value
                compiled.filled += 1
                if track:
                    mapper.stats.labels[(name, value)] += 1
                if type(raw) is str:
                    originals[name] = raw
                return
            if const is not None:
                mapper._set(compiled, values, mapper._standardize(compiled, const, region))
            elif seen_blank and not seen_value:
                out.blank_fields.append(name)

        return step

    def take_stats(self) -> MapStats:
        """What was found since the last call (and start counting afresh)."""
        stats, self.stats = self.stats, MapStats()
        for compiled in self.fields:
            for index, (path, _get) in enumerate(compiled.getters):
                if compiled.present[index]:
                    stats.present[(compiled.name, path)] += compiled.present[index]
                compiled.present[index] = 0
            if compiled.filled:
                stats.filled[compiled.name] += compiled.filled
            compiled.filled = 0
        return stats

    def record_id(self, payload: dict[str, Any]) -> str | None:
        """The record's id in its source, or None if it has none."""
        for _, get in self.id_getters:
            value = get(payload)
            if type(value) is Many:
                value = value[0]
            if value is not _ABSENT and not std.is_missing(value, self.null_values):
                text = str(value).strip()
                if isinstance(value, float) and value.is_integer():
                    text = str(int(value))
                return text
        return None

    def map(self, payload: dict[str, Any], record_id: str) -> MappedRecord:
        """Standardize one payload; problems become quarantine entries, never exceptions."""
        return self._map(payload, record_id, compiled=type(payload) is dict)

    def map_interpreted(self, payload: dict[str, Any], record_id: str) -> MappedRecord:
        """`map` by the rules as written (`_map_field` per field), which `map` runs compiled; tests hold them equal."""
        return self._map(payload, record_id, compiled=False)

    def _map(self, payload: dict[str, Any], record_id: str, *, compiled: bool) -> MappedRecord:
        out = MappedRecord(record_id=record_id, updated_at=None)
        stats = self.stats
        stats.mapped += 1
        if len(stats.samples) < 3:
            stats.samples.append(payload)
        for path, get in self.updated_getters:
            value = get(payload)
            if type(value) is Many:
                value = value[0]
            if value is _ABSENT or std.is_missing(value, self.null_values):
                continue
            try:
                out.updated_at = std.standardize_timestamp(value, self.zone, dayfirst=self.source.dayfirst)
                break
            except StandardizationError as exc:
                out.quarantine.append(Quarantined("updated_at", _raw_text(value), f"{path}: {exc.reason}"))
        values: dict[str, Any] = {}
        originals: dict[str, str] = {}
        if compiled:  # the steps read plain keys with dict.get: only for a dict payload
            for step in self._plain_steps:
                step(payload, values, originals, out, None)
            # Phones last: a national number ("020 7946 0958") is read in the record's own country when known.
            region = values.get("country") or self.region
            for step in self._phone_steps:
                step(payload, values, originals, out, region)
        else:
            for field_ in self.fields:
                if field_.kind != "phone":
                    self._map_field(field_, payload, values, originals, out)
            region = values.get("country") or self.region
            for field_ in self.phone_fields:
                self._map_field(field_, payload, values, originals, out, region=region)
        for name in self._required:
            if name not in values:
                failed = any(q.field == name for q in out.quarantine)
                reason = "required field has no valid value" if failed else "required field is missing"
                out.quarantine.append(Quarantined(name, None, reason))
        filled = stats.filled
        self._assemble(values, originals, out)
        present = stats.present
        for kind, fmt, filled_key, getters in self.identifier_getters:
            for _path, get, stat_key in getters:
                value = get(payload)
                if value is _ABSENT:
                    continue
                present[stat_key] += 1
                if type(value) is Many:
                    value = value[0]
                if std.is_missing(value, self.null_values):
                    continue
                text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value).strip()
                out.identifiers.append((kind, fmt.format(text)))
                filled[filled_key] += 1
                break
        return out

    def _joined(self, compiled: _CompiledField, payload: dict[str, Any]) -> Any:
        """The non-missing parts of a `join:` field glued with its separator (_ABSENT when no part exists)."""
        assert compiled.join_getters is not None
        parts: list[str] = []
        found = False
        for path, get in compiled.join_getters:
            value = get(payload)
            if value is _ABSENT:
                continue
            found = True
            self.stats.present[(compiled.name, path)] += 1
            if type(value) is Many:
                value = next((v for v in value if not std.is_missing(v, self.null_values)), None)
            if not std.is_missing(value, self.null_values):
                part = " ".join(str(value).split())
                if compiled.kind == "name":  # each name's own casing: "ann" + "SMITH" is "Ann Smith"
                    # A bad part is left for the joined value's own standardization (and quarantine).
                    with contextlib.suppress(StandardizationError):
                        part = std.standardize_name(part)
                parts.append(part)
        if not found:
            return _ABSENT
        return compiled.spec.sep.join(parts) if parts else None

    def _map_field(
        self,
        compiled: _CompiledField,
        payload: dict[str, Any],
        values: dict[str, Any],
        originals: dict[str, str],
        out: MappedRecord,
        *,
        region: str | None = None,
    ) -> None:
        if compiled.join_getters is not None:
            self._map_joined(compiled, payload, values, out, region)
            return
        spec = compiled.spec
        if not compiled.getters:
            self._set(compiled, values, self._standardize(compiled, spec.const, region))
            return
        seen_blank = seen_value = False
        null_values = self.null_values
        present = compiled.present
        for index, (path, get) in enumerate(compiled.getters):
            raw = get(payload)
            if raw is _ABSENT:
                continue
            present[index] += 1
            if type(raw) is Many and compiled.kind != "list":
                # A `*` path found several values: try each in turn (a list field keeps them all, below).
                found = self._first_of_many(compiled, path, raw, values, originals, out, region)
                if found:
                    return
                seen_blank, seen_value = seen_blank or found is None, seen_value or found is False
                continue
            if std.is_missing(raw, null_values):
                seen_blank = True
                continue
            seen_value = True
            try:
                value = self._standardize(compiled, raw, region)
            except StandardizationError as exc:
                out.quarantine.append(Quarantined(compiled.name, _raw_text(raw), f"{path}: {exc.reason}"))
                continue
            # Inlined _set (hot loop).
            values[compiled.name] = value
            compiled.filled += 1
            if compiled.track_labels:
                self.stats.labels[(compiled.name, value)] += 1
            if type(raw) is str:
                originals[compiled.name] = raw
            return
        if spec.const is not None:
            self._set(compiled, values, self._standardize(compiled, spec.const, region))
        elif seen_blank and not seen_value:
            out.blank_fields.append(compiled.name)

    def _set(self, compiled: _CompiledField, values: dict[str, Any], value: Any) -> None:
        values[compiled.name] = value
        compiled.filled += 1
        if compiled.track_labels:
            self.stats.labels[(compiled.name, value)] += 1

    def _map_joined(
        self,
        compiled: _CompiledField,
        payload: dict[str, Any],
        values: dict[str, Any],
        out: MappedRecord,
        region: str | None,
    ) -> None:
        spec = compiled.spec
        joined = self._joined(compiled, payload)
        if joined is _ABSENT or joined is None:
            if spec.const is not None:
                self._set(compiled, values, self._standardize(compiled, spec.const, region))
            elif joined is None:
                out.blank_fields.append(compiled.name)
            return
        try:
            self._set(compiled, values, self._standardize(compiled, joined, region))
        except StandardizationError as exc:
            out.quarantine.append(Quarantined(compiled.name, joined, f"{'+'.join(spec.join or [])}: {exc.reason}"))

    def _first_of_many(
        self,
        compiled: _CompiledField,
        path: str,
        many: Many,
        values: dict[str, Any],
        originals: dict[str, str],
        out: MappedRecord,
        region: str | None,
    ) -> bool | None:
        """Set the field from the first usable element: True if set, False if all failed, None if all blank."""
        tried = False
        for raw in many:
            if std.is_missing(raw, self.null_values):
                continue
            tried = True
            try:
                values[compiled.name] = self._standardize(compiled, raw, region)
            except StandardizationError as exc:
                out.quarantine.append(Quarantined(compiled.name, _raw_text(raw), f"{path}: {exc.reason}"))
                continue
            compiled.filled += 1
            if compiled.track_labels:
                self.stats.labels[(compiled.name, values[compiled.name])] += 1
            if isinstance(raw, str):
                originals[compiled.name] = raw
            return True
        return False if tried else None

    def _standardize(self, compiled: _CompiledField, raw: Any, region: str | None = None) -> Any:
        if compiled.kind == "phone":
            return compiled.convert(raw, region)
        return compiled.convert(raw)

    def _items(self, compiled: _CompiledField, raw: Any) -> list[dict[str, Any]]:
        if not isinstance(raw, list):
            raise StandardizationError("expected a list of line items")
        assert compiled.item_getters is not None
        present = self.stats.present
        items: list[dict[str, Any]] = []
        for index, entry in enumerate(raw):
            item: dict[str, Any] = {}
            for key, getters in compiled.item_getters.items():
                for _path, get, stat_key in getters:
                    value = get(entry)
                    if value is _ABSENT:
                        continue
                    present[stat_key] += 1
                    if type(value) is Many:
                        value = value[0]
                    if std.is_missing(value, self.null_values):
                        continue
                    try:
                        if key == "quantity":
                            item[key] = std.standardize_int(value)
                        elif key == "unit_price":
                            item[key] = std.standardize_money(value, minor_units=compiled.spec.minor_units)[0]
                        else:
                            item[key] = std.standardize_text(value)
                    except StandardizationError as exc:
                        raise StandardizationError(f"item {index + 1} {key}: {exc.reason}") from None
                    break
            if compiled.option_getters:
                options = self._options(compiled, entry)
                if options:
                    # Kept in the line's name (no column of their own yet), where people and the bot read it.
                    described = ", ".join(f"{k}: {v}" if k else v for k, v in options)
                    item["name"] = f"{item['name']} ({described})" if item.get("name") else described
            item.setdefault("quantity", 1)
            items.append(item)
        return items

    def _options(self, compiled: _CompiledField, entry: Any) -> list[tuple[str, str]]:
        """A line item's options (colour, size, ...) as (label, value) pairs, missing ones left out."""
        assert compiled.option_getters is not None
        found: list[tuple[str, str]] = []
        for label, path, get in compiled.option_getters:
            value = get(entry)
            if value is _ABSENT:
                continue
            self.stats.present[(f"{compiled.name}.options", path)] += 1
            pairs: list[tuple[str, Any]]
            if isinstance(value, dict):
                pairs = list(value.items())
            elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
                # [{name: Colour, value: Red}, ...] as Shopify and WooCommerce export them
                pairs = [(str(v.get("name") or v.get("key") or ""), v.get("value")) for v in value]
            else:
                pairs = [(label, value[0] if type(value) is Many else value)]
            for key, item_value in pairs:
                if not std.is_missing(item_value, self.null_values) and not isinstance(item_value, dict | list):
                    found.append((std.standardize_text(key).lower() if key else "", std.standardize_text(item_value)))
        return found

    def _assemble(self, values: dict[str, Any], originals: dict[str, str], out: MappedRecord) -> None:
        person, entity = out.person, out.entity
        currency_hint: str | None = None
        targets = self._targets
        for name, value in values.items():
            if isinstance(value, tuple):  # money: (amount, currency found in the text)
                value, found = value
                currency_hint = currency_hint or found
            if name == "order.items":
                out.items = value
                continue
            in_entity, column = targets[name]
            if in_entity:
                entity[column] = value
            else:
                person[column] = value
        if currency_hint and not entity.get("currency") and self.source.entity in ("order", "subscription"):
            entity["currency"] = currency_hint
        if "email" in person:
            person["email_original"] = originals.get("email")
            out.identifiers.append(("email", person["email"]))
        if "phone" in person:
            person["phone_original"] = originals.get("phone")
            out.identifiers.append(("phone", person["phone"]))
        _complete_names(person, originals)


_ENTITY_COLUMN = {
    "order.number": "order_number",
    "subscription.id": "subscription_ref",
    "ticket.id": "ticket_ref",
    "ticket.created_at": "opened_at",
}


def _complete_names(person: dict[str, Any], originals: dict[str, str]) -> None:
    for key in ("full_name", "first_name", "last_name"):
        if key in person and std.is_placeholder_name(person[key]):
            del person[key]  # the raw text stays in name_original below
    full, first, last = person.get("full_name"), person.get("first_name"), person.get("last_name")
    if full and not (first or last):
        person["first_name"], person["last_name"] = std.split_full_name(full)
    elif (first or last) and not full:
        person["full_name"] = " ".join(p for p in (first, last) if p)
    raw_parts = [originals.get(k) for k in ("first_name", "last_name")]
    raw_full = originals.get("full_name") or " ".join(p.strip() for p in raw_parts if p)
    if raw_full:
        person["name_original"] = raw_full


def _as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)
