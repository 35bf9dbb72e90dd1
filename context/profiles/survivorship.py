"""Survivorship: pick each field's surviving value among a customer's records, with provenance and conflicts.

Pure functions on plain values (no database), so the rules are easy to test and fast to run in bulk.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from context.profiles.config import FieldRule, SurvivorshipConfig
from context.profiles.models import FieldValue

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Candidate:
    """One record's say on one field: a value, or an explicit blank (value None, blank True)."""

    value: Any
    source: str
    source_record_id: str
    updated_at: datetime | None
    blank: bool = False


@dataclass
class FieldConflict:
    """Distinct values for one field from at least two sources."""

    field: str
    chosen: FieldValue | None
    values: list[Candidate]


@dataclass
class Survivors:
    """The result of survivorship for one customer."""

    fields: dict[str, FieldValue] = field(default_factory=dict)
    conflicts: list[FieldConflict] = field(default_factory=list)


@lru_cache(maxsize=65536)
def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.casefold().split())


def fold(value: Any) -> str:
    """Comparison form of a value: accents stripped, case-folded, spaces collapsed ("Tomás " == "tomas")."""
    return _fold(str(value))


def postcode_key(value: str) -> str:
    """Comparison form of a postcode: upper-case, no spaces ('n1 9gu' == 'N19GU')."""
    return "".join(value.split()).upper()[:32]


def _recency(c: Candidate) -> tuple[float, str, str]:
    # Most recent first; ties broken by source and record id so the result never depends on load order.
    ts = (c.updated_at or _EPOCH).timestamp()
    return (-ts, c.source, c.source_record_id)


def _present(cands: Sequence[Candidate]) -> list[Candidate]:
    return [c for c in cands if not c.blank]


def _pick(cands: Sequence[Candidate], rule: FieldRule) -> tuple[Candidate | None, str]:
    """The winning candidate (may be a blank when clearable) and the rule label for provenance."""
    pool = list(cands) if rule.clearable else _present(cands)
    if not pool:
        return None, rule.rule
    if rule.rule == "source_priority":
        rank = {s: i for i, s in enumerate(rule.sources)}
        best = min(pool, key=lambda c: (rank.get(c.source, len(rank)), *_recency(c)))
        label = f"source_priority({', '.join(rule.sources)})"
        if best.source not in rank:
            label += " → most_recent among other sources"
        return best, label
    if rule.rule == "most_frequent":
        present = _present(pool)
        if not present:
            return min(pool, key=_recency), "most_frequent"
        counts = Counter(fold(c.value) for c in present)
        top = max(counts.values())
        best = min((c for c in present if counts[fold(c.value)] == top), key=_recency)
        return best, f"most_frequent ({top} of {len(present)} records)"
    if rule.rule == "earliest":
        present = _present(pool)
        if not present:
            return None, "earliest"
        return min(present, key=lambda c: (c.value, c.source, c.source_record_id)), "earliest"
    # most_recent (also the fallback of same_source_as)
    return min(pool, key=_recency), "most_recent"


def _as_value(c: Candidate, label: str) -> FieldValue:
    return FieldValue(
        value=None if c.blank else c.value,
        source=c.source,
        source_record_id=c.source_record_id,
        source_updated_at=c.updated_at,
        rule=label if not c.blank else f"{label}; cleared by the source",
    )


def survive(
    candidates: dict[str, list[Candidate]],
    config: SurvivorshipConfig,
) -> Survivors:
    """Apply each field's rule; record conflicts where two sources hold different values."""
    out = Survivors()
    winners: dict[str, Candidate] = {}
    ignore = set(config.ignore_conflicts)
    # Fields with their own rule first, so same_source_as can follow them.
    for name, rule in config.ordered_rules():
        cands = candidates.get(name, [])
        if not cands:
            continue
        if rule.rule == "same_source_as":
            lead = winners.get(rule.field or "")
            match = [
                c for c in cands if lead and (c.source, c.source_record_id) == (lead.source, lead.source_record_id)
            ]
            usable = [c for c in match if not c.blank or rule.clearable]
            if lead is not None and usable:
                best: Candidate | None = usable[0]
                label = f"same_source_as({rule.field})"
            else:
                best, label = _pick(cands, FieldRule(rule="most_recent", clearable=rule.clearable))
                label = f"most_recent (the record that won {rule.field} has no {name})"
        else:
            best, label = _pick(cands, rule)
        if best is None:
            continue
        winners[name] = best
        chosen = _as_value(best, label)
        if chosen.value is not None or best.blank:
            out.fields[name] = chosen
        if name not in ignore and len(cands) > 1:
            present = _present(cands)
            if len({c.value for c in present}) < 2 or len({c.source for c in present}) < 2:
                continue
            if len({fold(c.value) for c in present}) > 1:
                out.conflicts.append(FieldConflict(field=name, chosen=chosen, values=present))
    return out
