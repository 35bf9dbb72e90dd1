"""The `contextdesk.yaml` schema for sources: kinds, locations and field mappings.

Example::

    default_region: US            # phones without a country code
    timezone: UTC                 # naive timestamps
    null_values: ["TBD"]          # added to the built-in placeholders (blank, N/A, null, -, ...)
    value_maps:
      plan: {"Pro (annual)": pro, "pro": pro}
    sources:
      - name: crm
        kind: csv                 # csv | json | jsonl | http_json | push (docs/sources.md)
        path: data/crm.csv        # relative to the YAML file
        id: contact_id            # column or dotted path of the record id
        updated_at: modified      # the source's updated_at
        entity: contact           # contact | order | subscription | ticket | interaction
        timezone: America/Chicago
        required: [email]
        fields:
          email: [billing_email, email, contact_email]   # candidates in priority order
          plan: {from: plan_name, map: plan}              # value map by name (or inline dict)
          lifecycle_stage: {from: stage, map: {cust: customer, customer: customer}}
          order.currency: {const: USD}
          order.items: {from: line_items, items: {sku: sku, name: title, quantity: qty, unit_price: price}}
        identifiers:
          crm_contact: {from: contact_id, format: "crm:contact:{}"}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from context.errors import ConfigError, validation_problems
from context.intake.fields import CANONICAL_FIELDS, ITEM_FIELDS

FileKind = Literal["csv", "json", "jsonl"]
FILE_KINDS: tuple[str, ...] = ("csv", "json", "jsonl")
# Vendor APIs with a default mapping per stream (context/intake/connectors/mappings/KIND.yaml).
VENDOR_KINDS: tuple[str, ...] = ("shopify", "stripe", "hubspot", "zendesk", "intercom")
# A paginated REST endpoint mapped like a file, and records POSTed to /v1/push/{source}.
SourceKind = Literal["csv", "json", "jsonl", "shopify", "stripe", "hubspot", "zendesk", "intercom", "http_json", "push"]
CONNECTOR_KINDS: tuple[str, ...] = (*VENDOR_KINDS, "http_json", "push")
EntityKind = Literal["contact", "order", "subscription", "ticket", "interaction"]

BUILTIN_NULL_VALUES = frozenset(
    {"", "n/a", "na", "null", "none", "nil", "-", "--", "?", "unknown", "#n/a", "undefined", "nan"}
)


def _check_zone(value: str | None) -> str | None:
    from context.intake.standardize import zone_problem

    problem = zone_problem(value) if value is not None else None
    if problem:
        raise ValueError(problem)
    return value


class FieldSpec(BaseModel):
    """How one canonical field is filled from a source record."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: list[str] = Field(default_factory=list, alias="from")
    const: Any = None
    map: str | dict[str, str] | None = None
    # Amounts in minor units (cents), as Stripe sends them.
    minor_units: bool = False
    # Date order for ambiguous numeric dates like 03/04/2024.
    dayfirst: bool = False
    items: dict[str, str | list[str] | dict[str, str]] | None = None
    # Glue several columns into one value, e.g. address1 + address2 or first + last name.
    join: list[str] | None = None
    sep: str = " "

    @field_validator("from_", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _has_a_source(self) -> FieldSpec:
        if not self.from_ and self.const is None and not self.join:
            raise ValueError(
                "needs 'from' (one column/path or a list in priority order), 'join' (columns glued together) or 'const'"
            )
        if self.from_ and self.join:
            raise ValueError("use either 'from' or 'join', not both")
        if self.items is not None:
            unknown = set(self.items) - ITEM_FIELDS
            if unknown:
                raise ValueError(f"unknown item fields {sorted(unknown)}; known: {sorted(ITEM_FIELDS)}")
            wrong = [k for k, v in self.items.items() if isinstance(v, dict) and k != "options"]
            if wrong:
                raise ValueError(f"item fields {wrong} take a column/path (or a list), not a mapping")
        return self


class IdentifierSpec(BaseModel):
    """An external identifier taken from the record, namespaced by `format`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: list[str] = Field(alias="from")
    format: str = "{}"

    @field_validator("from_", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class HttpPagination(BaseModel):
    """How an http_json source pages and resumes: paths into each answer, query parameters of each request."""

    model_config = ConfigDict(extra="forbid")

    #: Dotted path to the next page in the answer: a URL (absolute or relative) or a token; absent/empty: last page.
    next: str | None = None
    #: The query parameter a `next` token is sent in (not needed when `next` holds a URL).
    cursor_param: str | None = None
    #: The query parameter the committed cursor (the largest `updated_at` seen) is sent in on the next sync.
    updated_since_param: str | None = None
    #: Extra query parameters of the first request, e.g. {per_page: 100}.
    params: dict[str, str | int] = Field(default_factory=dict)


class SourceConfig(BaseModel):
    """One configured source."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_\-]{0,63}$")
    kind: SourceKind
    path: Path | None = None  # files only
    records: str | None = None  # JSON and http_json: dotted path to the list of records
    # http_json only: the first page's URL (a path is taken from the credentials' base_url) and its pagination.
    url: str | None = None
    pagination: HttpPagination | None = None
    encoding: str = "utf-8"
    delimiter: str = ","
    id: str | list[str]
    updated_at: str | list[str] | None = None
    entity: EntityKind = "contact"
    timezone: str | None = None
    default_region: str | None = None
    dayfirst: bool = False
    required: list[str] = Field(default_factory=list)
    null_values: list[str] = Field(default_factory=list)
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    identifiers: dict[str, IdentifierSpec] = Field(default_factory=dict)
    # Connectors (docs/sources.md): one entry of a vendor kind becomes one source per stream, named
    # `{entry}-{stream}`; `connector` is the entry's name (credentials in settings are keyed by it).
    connector: str | None = None
    stream: str | None = None
    interval: float | None = None  # seconds between scheduled syncs (`contextdesk worker`); None: not scheduled
    options: dict[str, Any] = Field(default_factory=dict)  # vendor options (api version, page size, url, cursor)
    live: list[str] = Field(default_factory=list)  # field groups looked up at chat time (live lookups)

    @field_validator("interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return _check_zone(value)

    @field_validator("fields", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {k: ({"from": v} if isinstance(v, str | list) else v) for k, v in value.items()}

    @field_validator("identifiers", mode="before")
    @classmethod
    def _id_shorthand(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {k: ({"from": v} if isinstance(v, str | list) else v) for k, v in value.items()}

    def _check_http_json(self) -> None:
        if self.kind != "http_json":
            if self.url is not None or self.pagination is not None:
                raise ValueError(f"'url' and 'pagination' are for http_json sources, not {self.kind}")
            return
        if not self.url or not (self.url.startswith(("https://", "http://", "/"))):
            raise ValueError(
                "an http_json source needs 'url': the first page's address (https://…, or a /path taken from "
                "the base_url in CONTEXTDESK_SOURCES)"
            )
        paging = self.pagination or HttpPagination()
        if paging.cursor_param and not paging.next:
            raise ValueError("pagination.cursor_param needs pagination.next (where the answer holds the token)")
        if paging.updated_since_param and not self.updated_at:
            raise ValueError("pagination.updated_since_param needs 'updated_at' (the field the cursor is taken from)")

    @property
    def connector_name(self) -> str:
        """The name credentials and webhooks are keyed by: the YAML entry's name."""
        return self.connector or self.name

    @model_validator(mode="after")
    def _known_fields(self) -> SourceConfig:
        if self.kind in FILE_KINDS and self.path is None:
            raise ValueError(f"a {self.kind} source needs 'path'")
        self._check_http_json()
        unknown = [f for f in self.fields if f not in CANONICAL_FIELDS]
        if unknown:
            raise ValueError(f"unknown canonical fields {unknown}; see docs/configuration.md for the list")
        wrong_entity = [
            f for f in self.fields if "." in f and f.split(".", 1)[0] != self.entity and self.entity != "contact"
        ]
        if wrong_entity or (self.entity == "contact" and any("." in f for f in self.fields)):
            bad = wrong_entity or [f for f in self.fields if "." in f]
            raise ValueError(f"fields {bad} do not belong to entity {self.entity!r}")
        missing_required = [f for f in self.required if f not in self.fields]
        if missing_required:
            raise ValueError(f"required fields {missing_required} have no mapping")
        return self


class IntakeConfig(BaseModel):
    """Intake part of contextdesk.yaml."""

    model_config = ConfigDict(extra="allow")

    default_region: str = "US"
    timezone: str = "UTC"
    null_values: list[str] = Field(default_factory=list)
    value_maps: dict[str, dict[str, str]] = Field(default_factory=dict)
    sources: list[SourceConfig] = Field(default_factory=list)
    base_dir: Path = Path(".")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _check_zone(value) or "UTC"

    @model_validator(mode="after")
    def _unique_names_and_maps(self) -> IntakeConfig:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate source names {dupes}")
        for source in self.sources:
            for field_name, spec in source.fields.items():
                if isinstance(spec.map, str) and spec.map not in self.value_maps:
                    raise ValueError(
                        f"source {source.name!r} field {field_name!r}: value map {spec.map!r} is not defined "
                        f"under value_maps (defined: {sorted(self.value_maps)})"
                    )
        return self

    def source(self, name: str) -> SourceConfig:
        """The source called `name`."""
        for source in self.sources:
            if source.name == name:
                return source
        raise ConfigError(f"no source named {name!r}; configured: {[s.name for s in self.sources]}")

    def resolve_path(self, source: SourceConfig) -> Path:
        """The source's file path, relative paths taken from the YAML file's folder."""
        if source.path is None:
            raise ConfigError(f"source {source.name!r} ({source.kind}) has no file path")
        return source.path if source.path.is_absolute() else self.base_dir / source.path


def load_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, with a clear error naming the file."""
    try:
        # libyaml's parser where PyYAML has it (the same safe constructor): the pure-Python one took ~35 ms for
        # the demo's contextdesk.yaml, read twice by every CLI read of a customer.
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def load_intake_config(path: Path) -> IntakeConfig:
    """Load and validate the intake part of a contextdesk.yaml."""
    data = load_yaml(path)
    return parse_intake_config(data, base_dir=path.parent, origin=str(path))


def parse_intake_config(data: dict[str, Any], *, base_dir: Path, origin: str = "config") -> IntakeConfig:
    """Validate an already-parsed config mapping."""
    try:
        sources = expand_sources(data.get("sources") or [], origin=origin)
        return IntakeConfig.model_validate({**data, "sources": sources, "base_dir": base_dir})
    except ValidationError as exc:
        problems = validation_problems(exc)
        raise ConfigError(f"{origin}: {problems}") from exc


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str) -> float:
    """Seconds in `90`, `30s`, `15m`, `1h` or `1d`."""
    text = value.strip().lower()
    try:
        if text and text[-1] in _DURATION_UNITS:
            return float(text[:-1]) * _DURATION_UNITS[text[-1]]
        return float(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a duration like 30s, 15m, 1h or 1d") from None


def default_mapping(kind: str) -> dict[str, Any]:
    """The mapping shipped for a vendor kind: its streams with entity, id, fields and identifiers."""
    from importlib import resources

    path = resources.files("context.intake.connectors").joinpath("mappings", f"{kind}.yaml")
    if not path.is_file():
        raise ConfigError(f"no connector for kind {kind!r} yet (docs/sources.md lists the vendors available)")
    text = path.read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


_CONNECTOR_KEYS = {
    "name",
    "kind",
    "streams",
    "interval",
    "options",
    "live",
    "timezone",
    "default_region",
    "null_values",
}


def expand_sources(entries: list[Any], *, origin: str = "config") -> list[Any]:
    """Sources with each vendor entry replaced by one source per stream, from the shipped default mapping.

    A vendor entry needs only `name` and `kind`; `streams:` selects streams (a list) or adds to their
    mapping (a mapping of stream name to `fields`/`identifiers`/`updated_at` overrides).
    """
    out: list[Any] = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kind") not in VENDOR_KINDS:
            out.append(entry)
            continue
        name, kind = entry.get("name"), entry["kind"]
        unknown = sorted(set(entry) - _CONNECTOR_KEYS)
        if unknown:
            raise ConfigError(
                f"{origin}: source {name!r} ({kind}): unknown keys {unknown}; the mapping comes from the default "
                f"for {kind} (override it under streams: STREAM: fields:), vendor options go under options:"
            )
        defaults = default_mapping(kind)["streams"]
        chosen = entry.get("streams") or list(defaults)
        overrides: dict[str, Any] = chosen if isinstance(chosen, dict) else {s: {} for s in chosen}
        for stream in overrides:
            if stream not in defaults:
                raise ConfigError(
                    f"{origin}: source {name!r}: {kind} has no stream {stream!r} (has {sorted(defaults)})"
                )
        for stream, override in overrides.items():
            base = dict(defaults[stream])
            override = dict(override or {})
            for key in ("fields", "identifiers"):
                base[key] = {**(base.get(key) or {}), **(override.pop(key, None) or {})}
            base.update(override)
            base.update(
                {
                    k: v
                    for k, v in entry.items()
                    if k in {"interval", "options", "live", "timezone", "default_region", "null_values"}
                }
            )
            base.update(name=f"{name}-{stream}", kind=kind, connector=name, stream=stream)
            out.append(base)
    return out
