"""The `contextdesk.yaml` schema for sources: kinds, locations and field mappings.

Example::

    default_region: US            # phones without a country code
    timezone: UTC                 # naive timestamps
    null_values: ["TBD"]          # added to the built-in placeholders (blank, N/A, null, -, ...)
    value_maps:
      plan: {"Pro (annual)": pro, "pro": pro}
    sources:
      - name: crm
        kind: csv                 # csv | json | jsonl
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

SourceKind = Literal["csv", "json", "jsonl"]
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


class SourceConfig(BaseModel):
    """One configured source."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_\-]{0,63}$")
    kind: SourceKind
    path: Path
    records: str | None = None  # JSON only: dotted path to the list of records
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

    @model_validator(mode="after")
    def _known_fields(self) -> SourceConfig:
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
        return source.path if source.path.is_absolute() else self.base_dir / source.path


def load_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, with a clear error naming the file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
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
        return IntakeConfig.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        problems = validation_problems(exc)
        raise ConfigError(f"{origin}: {problems}") from exc
