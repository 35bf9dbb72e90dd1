"""`identity link` on arbitrary CSV files: read records, fit the model, resolve, write clusters."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from context.identity.errors import InputError
from context.identity.graph import Record, Resolution, prepare, resolve
from context.identity.rules import IdentityRules
from context.identity.splink_model import fit_model


def read_csv_records(path: Path, *, id_column: str | None = None, source: str | None = None) -> list[Record]:
    """Records of one CSV file: source = file stem, record id = `id_column` (default: first column)."""
    name = source or path.stem.lower().replace(":", "_") or "input"
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames:
                raise InputError(f"{path}: empty file or no header row")
            column = id_column or reader.fieldnames[0]
            if column not in reader.fieldnames:
                raise InputError(f"{path}: id column {column!r} not in header {reader.fieldnames}")
            records, seen = [], set()
            for line, row in enumerate(reader, start=2):
                rid = (row.get(column) or "").strip()
                if not rid:
                    raise InputError(f"{path}, line {line}: empty record id in column {column!r}")
                if rid in seen:
                    raise InputError(f"{path}, line {line}: duplicate record id {rid!r} in column {column!r}")
                seen.add(rid)
                attrs = {k: (v.strip() or None) if isinstance(v, str) else None for k, v in row.items() if k}
                records.append(Record(name, rid, attrs))
    except FileNotFoundError as exc:
        raise InputError(f"{path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except csv.Error as exc:
        raise InputError(f"{path}: malformed CSV: {exc}") from exc
    return records


def link_csv(
    inputs: Sequence[Path], rules: IdentityRules, *, id_column: str | None = None, train: bool = True
) -> tuple[list[Record], Resolution]:
    """Dedupe one file or link several: cluster all their records with the rules."""
    sources = [p.stem.lower() for p in inputs]
    if len(set(sources)) != len(sources):
        raise InputError(f"input files need distinct names (their stems name the sources): {sources}")
    records = [r for p in inputs for r in read_csv_records(p, id_column=id_column)]
    prepared = {p.key: p for p in (prepare(r, rules) for r in records)}
    model = fit_model(list(prepared.values()), rules, train=train)
    return records, resolve([], rules, model, prepared=prepared)


def write_clusters(path: Path, records: Sequence[Record], resolution: Resolution) -> None:
    """Write `source,record_id,cluster_id,match_probability` (cluster id = smallest record key's index)."""
    cluster_of = resolution.cluster_of()
    best = resolution.match_probability()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source", "record_id", "cluster_id", "match_probability"])
        for r in sorted(records, key=lambda r: (cluster_of[r.key], r.key)):
            prob = best.get(r.key)
            writer.writerow([r.source, r.record_id, cluster_of[r.key] + 1, "" if prob is None else f"{prob:.4f}"])
