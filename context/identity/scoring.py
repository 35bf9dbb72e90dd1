"""Fellegi–Sunter pair scoring with the levels Splink uses, evaluated in Python.

Splink (DuckDB backend) estimates the parameters — u by random sampling, m by expectation
maximisation — in `context.identity.splink_model`; this module holds those parameters (or the
documented priors when training is unstable or skipped) together with frozen term-frequency tables,
and scores one pair in microseconds so an incremental record never waits for a DuckDB query. The
levels mirror Splink's `ExactMatch` and `JaroWinklerAtThresholds`: null, exact, Jaro-Winkler >= each
threshold, else; a term-frequency field replaces the exact level's u by the value's frequency.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field

from context.identity.rules import ComparisonField, IdentityRules

# Documented priors (m, u per non-null level, best first). Chosen so that a full name agreeing plus one
# place/company field agreeing passes the default upper threshold, and a name alone does not.
PRIOR_M: dict[str, list[float]] = {
    "exact": [0.9, 0.1],
    "name": [0.85, 0.07, 0.04, 0.04],
    "fuzzy": [0.75, 0.12, 0.05, 0.08],
}
PRIOR_U: dict[str, list[float]] = {
    "exact": [0.002, 0.998],
    "name": [0.01, 0.003, 0.01, 0.977],
    "fuzzy": [0.001, 0.001, 0.004, 0.994],
}
# Term frequencies never make u smaller than this: a very rare value is strong evidence, but a unique typo
# must not outweigh every other field.
TF_MIN_U = 0.0005

_COMPANY_SUFFIXES = {"inc", "ltd", "llc", "gmbh", "corp", "co", "plc", "sa", "bv", "ag", "limited", "company"}
_NON_ALNUM = re.compile(r"[^0-9a-z@.+]+")


def clean(value: Any, *, field: str = "") -> str | None:
    """Comparison form of a value: lower-case, accents removed, punctuation collapsed; None if empty."""
    if value is None:
        return None
    return _clean(value if isinstance(value, str) else str(value), field)


# Names, cities, postcodes and companies repeat across records: cleaning each distinct value once is
# most of what makes preparing a million records affordable.
@lru_cache(maxsize=1 << 18)
def _clean(value: str, field: str) -> str | None:
    text = value if value.isascii() else unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    text = text.lower()
    text = _NON_ALNUM.sub(" ", text).strip()
    if field == "company":
        words = [w for w in text.split() if w not in _COMPANY_SUFFIXES]
        text = " ".join(words)
    elif field == "postcode":
        text = text.replace(" ", "")
    return text or None


@lru_cache(maxsize=200_000)
def jaro_winkler(a: str, b: str) -> float:
    """Jaro-Winkler similarity (prefix scale 0.1, prefix up to 4), as Splink's DuckDB backend computes it."""
    if a == b:
        return 1.0
    la, lb = len(a), len(b)
    if not la or not lb:
        return 0.0
    window = max(max(la, lb) // 2 - 1, 0)
    a_flags = [False] * la
    b_flags = [False] * lb
    matches = 0
    for i, ch in enumerate(a):
        lo, hi = max(0, i - window), min(i + window + 1, lb)
        for j in range(lo, hi):
            if not b_flags[j] and b[j] == ch:
                a_flags[i] = b_flags[j] = True
                matches += 1
                break
    if not matches:
        return 0.0
    transpositions = 0
    k = 0
    for i in range(la):
        if a_flags[i]:
            while not b_flags[k]:
                k += 1
            if a[i] != b[k]:
                transpositions += 1
            k += 1
    jaro = (matches / la + matches / lb + (matches - transpositions / 2) / matches) / 3
    prefix = 0
    for x, y in zip(a[:4], b[:4], strict=False):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * 0.1 * (1 - jaro)


class FieldParams(BaseModel):
    """m and u per non-null level of one comparison field, and where they came from."""

    m: list[float]
    u: list[float]
    origin: str = "prior"  # prior | splink


class FSModel(BaseModel):
    """A Fellegi–Sunter model: prior match probability, per-field m/u, frozen term frequencies."""

    prior_match_probability: float
    fields: dict[str, FieldParams]
    tf: dict[str, dict[str, float]] = Field(default_factory=dict)
    origin: str = "prior"
    trained_on: int = 0

    def tf_u(self, field: str, value: str) -> float | None:
        """The term frequency of a value (floored), or None when the field has no table or never saw it."""
        table = self.tf.get(field)
        if table is None:
            return None
        freq = table.get(value)
        return None if freq is None else max(freq, TF_MIN_U)


class Contribution(BaseModel):
    """One field's part of a pair score."""

    field: str
    level: str
    left: str | None
    right: str | None
    bits: float  # log2 Bayes factor; 0 for a null level
    tf_adjusted: bool = False


class PairScore(BaseModel):
    """The score of one record pair."""

    prior_bits: float
    contributions: list[Contribution]
    weight: float
    probability: float


def prior_model(rules: IdentityRules) -> FSModel:
    """The model of documented priors (and rule overrides), without term frequencies."""
    fields = {}
    for comp in rules.probabilistic.fields:
        fields[comp.name] = FieldParams(
            m=list(comp.m or _prior(comp, PRIOR_M)), u=list(comp.u or _prior(comp, PRIOR_U))
        )
    return FSModel(prior_match_probability=rules.probabilistic.prior_match_probability, fields=fields)


def _prior(comp: ComparisonField, table: dict[str, list[float]]) -> list[float]:
    base = table[comp.compare]
    if len(base) == comp.n_levels:
        return base
    # Custom threshold count: exact and else from the table, the middle levels share the rest evenly.
    middle = (1.0 - base[0] - base[-1]) / max(comp.n_levels - 2, 1)
    return [base[0], *([middle] * (comp.n_levels - 2)), base[-1]]


def term_frequencies(rules: IdentityRules, values: Iterable[Mapping[str, str | None]]) -> dict[str, dict[str, float]]:
    """Relative frequency of each cleaned value of each term-frequency field."""
    tf_fields = [c.name for c in rules.probabilistic.fields if c.tf]
    counts: dict[str, Counter[str]] = {f: Counter() for f in tf_fields}
    for row in values:
        for f in tf_fields:
            v = row.get(f)
            if v is not None:
                counts[f][v] += 1
    out: dict[str, dict[str, float]] = {}
    for f, counter in counts.items():
        total = sum(counter.values())
        out[f] = {v: c / total for v, c in counter.items()} if total else {}
    return out


def level_of(comp: ComparisonField, left: str | None, right: str | None) -> int | None:
    """The comparison level index (0 = exact, ..., last = else), or None for the null level."""
    if left is None or right is None:
        return None
    if left == right:
        return 0
    if comp.thresholds:
        sim = jaro_winkler(left, right) if left <= right else jaro_winkler(right, left)
        for i, threshold in enumerate(comp.thresholds):
            if sim >= threshold:
                return i + 1
    return comp.n_levels - 1


def level_label(comp: ComparisonField, level: int | None) -> str:
    """A readable name of a level."""
    if level is None:
        return "missing"
    if level == 0:
        return "exact"
    if level == comp.n_levels - 1:
        return "different"
    return f"similar (JW ≥ {comp.thresholds[level - 1]})"


def score_pair(
    rules: IdentityRules, model: FSModel, left: Mapping[str, str | None], right: Mapping[str, str | None]
) -> PairScore:
    """Score two records given as cleaned comparison values; symmetric in left/right."""
    prior = model.prior_match_probability
    prior_bits = math.log2(prior / (1 - prior))
    total = prior_bits
    contributions = []
    for comp in rules.probabilistic.fields:
        a, b = left.get(comp.name), right.get(comp.name)
        level = level_of(comp, a, b)
        bits = 0.0
        tf_adjusted = False
        if level is not None:
            params = model.fields[comp.name]
            m, u = params.m[level], params.u[level]
            if level == 0 and comp.tf and a is not None:
                tf = model.tf_u(comp.name, a)
                if tf is not None:
                    u, tf_adjusted = tf, True
            bits = math.log2(m / u)
        total += bits
        contributions.append(
            Contribution(
                field=comp.name, level=level_label(comp, level), left=a, right=b, bits=bits, tf_adjusted=tf_adjusted
            )
        )
    probability = 1.0 / (1.0 + 2.0 ** (-total)) if total > -1000 else 0.0
    return PairScore(prior_bits=prior_bits, contributions=contributions, weight=total, probability=probability)


def fast_probability(
    rules: IdentityRules, model: FSModel, left: Mapping[str, str | None], right: Mapping[str, str | None]
) -> float:
    """The match probability only (no evidence objects): the hot path of candidate scoring."""
    return probability_and_coverage(rules, model, left, right)[0]


def probability_and_coverage(
    rules: IdentityRules, model: FSModel, left: Mapping[str, str | None], right: Mapping[str, str | None]
) -> tuple[float, int]:
    """The match probability and how many fields were present on both sides."""
    compared = 0
    prior = model.prior_match_probability
    total = math.log2(prior / (1 - prior))
    for comp in rules.probabilistic.fields:
        a, b = left.get(comp.name), right.get(comp.name)
        level = level_of(comp, a, b)
        if level is None:
            continue
        compared += 1
        params = model.fields[comp.name]
        u = params.u[level]
        if level == 0 and comp.tf and a is not None:
            tf = model.tf_u(comp.name, a)
            if tf is not None:
                u = tf
        total += math.log2(params.m[level] / u)
    return (1.0 / (1.0 + 2.0 ** (-total)) if total > -1000 else 0.0), compared
