"""Check a contextdesk.yaml against the files it maps: every mapped column or path must exist.

Catches mapping typos (a renamed column, `customer.emial`) before a sync would silently map nothing.
Path rules match the intake engine's (context.intake.mapping.compile_path).
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from context.intake.config import IntakeConfig, SourceConfig, load_intake_config


def resolve_path(record: Any, path: str) -> Any:
    """The value at dotted `path` in `record`, or `MISSING` when any key on the way is absent.

    Same rules as the intake engine (context.intake.mapping.compile_path): an exact key wins, numeric
    parts index lists. A present key holding null resolves to None (the column exists, the value is blank).
    """
    if isinstance(record, dict) and path in record:
        return record[path]
    node = record
    for part in path.split("."):
        if part.isdigit():
            if not isinstance(node, list) or int(part) >= len(node):
                return MISSING
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return MISSING
    return node


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


def sample_records(config: IntakeConfig, source: SourceConfig, *, limit: int) -> Iterator[dict[str, Any]]:
    """The first `limit` records of a source file (CSV rows as dicts, JSON objects as parsed)."""
    path = config.resolve_path(source)
    if source.kind == "csv":
        with path.open(encoding=source.encoding, newline="") as f:
            yield from itertools.islice(csv.DictReader(f, delimiter=source.delimiter), limit)
    elif source.kind == "jsonl":
        with path.open(encoding=source.encoding) as f:
            for line in itertools.islice((ln for ln in f if ln.strip()), limit):
                yield json.loads(line)
    else:
        with path.open(encoding=source.encoding) as f:
            data = json.load(f)
        records = resolve_path(data, source.records) if source.records else data
        if not isinstance(records, list):
            raise ValueError(f"{path}: `records: {source.records}` does not point at a list")
        yield from records[:limit]


def _mapped_paths(source: SourceConfig) -> Iterator[tuple[str, str]]:
    """(where in the config, path) for every column/path the source config reads."""
    for i, path in enumerate([source.id] if isinstance(source.id, str) else source.id):
        yield f"id[{i}]", path
    if source.updated_at:
        for path in [source.updated_at] if isinstance(source.updated_at, str) else source.updated_at:
            yield "updated_at", path
    for name, spec in source.fields.items():
        for path in spec.from_:
            yield f"fields.{name}", path
    for name, ident in source.identifiers.items():
        for path in ident.from_:
            yield f"identifiers.{name}", path


def check_mapping(config_path: Path, *, sample: int = 200) -> list[str]:
    """Problems found: mapped paths that resolve in none of the first `sample` records of their file."""
    config = load_intake_config(config_path)
    problems: list[str] = []
    for source in config.sources:
        file = config.resolve_path(source)
        if not file.exists():
            problems.append(f"source {source.name!r}: file {file} does not exist")
            continue
        records = list(sample_records(config, source, limit=sample))
        if not records:
            problems.append(f"source {source.name!r}: {file} has no records")
            continue
        for where, path in _mapped_paths(source):
            if all(resolve_path(r, path) is MISSING for r in records):
                problems.append(f"source {source.name!r} {where}: {path!r} not found in {file.name}")
        for name, spec in source.fields.items():
            if not spec.items:
                continue
            elements = [
                e for r in records for path in spec.from_ for e in (resolve_path(r, path) or []) if isinstance(e, dict)
            ]
            for item_field, item_paths in spec.items.items():
                for path in [item_paths] if isinstance(item_paths, str) else item_paths:
                    if all(resolve_path(e, path) is MISSING for e in elements):
                        problems.append(f"source {source.name!r} fields.{name}.items.{item_field}: {path!r} not found")
    return problems
