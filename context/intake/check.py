"""Mapping checks: fields whose columns never appear, fill rates, unknown status words, unused identifiers.

Used by `sync` (on the records it standardized) and by `contextdesk sources check` (on a sample, writing
nothing), so a typo in a column name is a message naming the source, the field and the column instead of a
silently empty field.
"""

from __future__ import annotations

from collections.abc import Iterable

from context.intake.config import IntakeConfig, SourceConfig
from context.intake.fields import KNOWN_LABELS
from context.intake.mapping import MapStats, describe_path_miss


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


def mapping_warnings(source: SourceConfig, stats: MapStats) -> list[str]:
    """Problems a user must hear about: mapped columns found in no record, status words the responder ignores."""
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
    for name, known in KNOWN_LABELS.items():
        if name not in source.fields:
            continue
        unknown = {v: n for (f, v), n in stats.labels.items() if f == name and v not in known}
        if unknown:
            shown = ", ".join(f"'{v}' ({n:,})" for v, n in sorted(unknown.items(), key=lambda x: -x[1])[:5])
            warnings.append(
                f"source {source.name!r} field {name!r}: {shown} not among the statuses the responder knows "
                f"({', '.join(known)}); map them with `map:` (docs/configuration.md, Status words)"
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
