"""`identity link` on arbitrary CSV files: read records, fit the model, resolve, write clusters."""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from context.identity.errors import InputError
from context.identity.graph import Record, Resolution, prepare, resolve
from context.identity.rules import IdentityRules
from context.identity.scoring import FSModel
from context.identity.splink_model import fit_model


def read_csv_records(path: Path, *, id_column: str | None = None, source: str | None = None) -> list[Record]:
    """Records of one CSV file: source = file stem, record id = `id_column` (default: first column)."""
    return read_csv(path, id_column=id_column, source=source)[0]


def source_name(path: Path) -> str:
    """The source a CSV file's records belong to: its lower-cased stem."""
    return path.stem.lower().replace(":", "_") or "input"


def source_names(inputs: Sequence[Path], *, link_only: bool) -> list[str]:
    """The inputs' source names; InputError when two files share one or `link_only` has fewer than two files."""
    sources = [source_name(p) for p in inputs]
    if len(set(sources)) != len(sources):
        raise InputError(f"input files need distinct names (their stems name the sources): {sources}")
    if link_only and len(inputs) < 2:
        raise InputError("--link-only needs at least two input files")
    return sources


def read_header(path: Path) -> list[str]:
    """A CSV file's header row alone; InputError naming the file when it is missing, not UTF-8 or empty."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), None)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    if not header:
        raise InputError(f"{path}: empty file or no header row")
    return header


def read_csv(path: Path, *, id_column: str | None = None, source: str | None = None) -> tuple[list[Record], list[str]]:
    """Records of one CSV file and its header."""
    name = source or source_name(path)
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
            header = [f for f in reader.fieldnames if f]
    except FileNotFoundError as exc:
        raise InputError(f"{path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except csv.Error as exc:
        raise InputError(f"{path}: malformed CSV: {exc}") from exc
    return records, header


@dataclass
class LinkReport:
    """What `link_csv` did, for the person running it."""

    records: int
    sources: list[str]
    blocks: int
    pairs_scored: int
    links: int
    reviews: int
    clusters: int
    multi_record_clusters: int
    model: FSModel
    seconds: float = 0.0
    stats: dict[str, int] = field(default_factory=dict)


def check_columns(rules: IdentityRules, headers: Mapping[str, Sequence[str]]) -> None:
    """Raise InputError naming every rules key whose column no input has (a typo would link nothing)."""
    present = {c for cols in headers.values() for c in cols}
    files = ", ".join(f"{name} ({', '.join(cols)})" for name, cols in headers.items())
    missing = [
        f"{column!r} (named by {where})"
        for column, where in rules.referenced_columns().items()
        if column not in present
    ]
    name_fields = {
        "given_name_field": rules.given_name_field,
        "family_name_field": rules.family_name_field,
        "full_name_field": rules.full_name_field,
    }
    if not any(v in present for v in name_fields.values() if v):
        named = ", ".join(f"{k}: {v!r}" for k, v in name_fields.items() if v)
        missing.append(
            f"no name column ({named}); set given_name_field / family_name_field / full_name_field to your "
            "column names, or to null when the data names nobody"
        )
    else:
        for key in ("given_name_field", "family_name_field"):
            value = name_fields[key]
            if value and value not in present and (rules.full_name_field or "") not in present:
                missing.append(f"{value!r} (named by {key}; default {key.replace('_field', '')} column)")
    if missing:
        raise InputError("rules name columns the input does not have: " + "; ".join(missing) + f". Inputs: {files}")


def link_csv(
    inputs: Sequence[Path],
    rules: IdentityRules,
    *,
    id_column: str | None = None,
    train: bool = True,
    link_only: bool = False,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[Record], Resolution, LinkReport]:
    """Dedupe one file or link several (`link_only`: across files only): cluster their records."""
    import time

    started = time.perf_counter()
    sources = source_names(inputs, link_only=link_only)
    records: list[Record] = []
    headers: dict[str, list[str]] = {}
    for path in inputs:
        recs, header = read_csv(path, id_column=id_column)
        headers[path.name] = header
        records += recs
    check_columns(rules, headers)
    say = progress or (lambda _msg: None)
    say(f"read {len(records):,} records from {len(inputs)} file(s)")
    prepared = {p.key: p for p in (prepare(r, rules) for r in records)}
    say("fitting the model (term frequencies" + (", Splink m/u)" if train else ")"))
    model = fit_model(list(prepared.values()), rules, train=train, link_only=link_only)
    say(f"model: {model.origin} m/u; scoring candidate pairs")
    resolution = resolve(
        [], rules, model, prepared=prepared, link_only=link_only, progress=lambda n: say(f"{n:,} pairs scored")
    )
    report = LinkReport(
        records=len(records),
        sources=sources,
        blocks=resolution.stats.get("blocks", 0),
        pairs_scored=resolution.stats.get("pairs_scored", 0),
        links=len(resolution.edges),
        reviews=len(resolution.reviews),
        clusters=len(resolution.clusters),
        multi_record_clusters=sum(1 for c in resolution.clusters if len(c) > 1),
        model=model,
        seconds=time.perf_counter() - started,
        stats=resolution.stats,
    )
    return records, resolution, report


def write_reviews(path: Path, records: Sequence[Record], resolution: Resolution) -> None:
    """Write the review pairs: both record ids and names, score, reason, and the per-field evidence."""
    by_key = {r.key: r for r in records}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source_a", "record_id_a", "source_b", "record_id_b", "score", "reason", "evidence"])
        for item in resolution.reviews:
            a, b = by_key.get(item.a), by_key.get(item.b)
            evidence = "; ".join(
                f"{e['field']} {e.get('level', '')} {e.get('left')}|{e.get('right')} {e.get('bits', 0):+.1f}"
                for e in item.evidence
                if e.get("field") != "prior" and e.get("level") not in (None, "missing")
            )
            writer.writerow(
                [
                    a.source if a else "",
                    a.record_id if a else item.a,
                    b.source if b else "",
                    b.record_id if b else item.b,
                    f"{item.score:.4f}",
                    item.reason,
                    evidence,
                ]
            )


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
