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
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field

from context.identity.comparisons import (
    Level,
    clean_date,
    first_names_compatible,
    jaro_winkler,
    level_index,
    levels_of,
    prior_levels,
)
from context.identity.rules import ComparisonField, IdentityRules

__all__ = ["jaro_winkler"]  # re-exported: callers import the similarity from here

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
    elif field == "date":
        return clean_date(value)
    return text or None


def clean_for(comp: ComparisonField, value: Any) -> str | None:
    """Comparison form of a value for one comparison field (dates as YYYYMMDD, ids without spaces)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if comp.compare == "date":
        return _clean(text, "date")
    if comp.compare == "dl":
        cleaned = _clean(text, comp.name)
        return None if cleaned is None else cleaned.replace(" ", "")
    return _clean(text, comp.name)


# Generational suffixes: a father and son share every household field and often the first name too.
SUFFIXES = {"jr", "junior", "sr", "senior", "ii", "iii", "iv", "2nd", "3rd"}
_SUFFIX_CANON = {"junior": "jr", "senior": "sr", "2nd": "ii", "3rd": "iii"}


# A "jr" damaged by a typo: a doubled or dropped letter ('smith jjr', 'smith r') or a lost space ('smithjr').
_DAMAGED_JR = {"jjr", "jnr", "r"}


def split_suffix(name: str | None) -> tuple[str | None, str | None]:
    """A cleaned name without its trailing generational suffix, and the suffix ('smith jr' -> smith, jr)."""
    if not name:
        return name, None
    words = name.split()
    if len(words) > 1 and words[-1] in SUFFIXES:
        return " ".join(words[:-1]), _SUFFIX_CANON.get(words[-1], words[-1])
    if len(words) > 1 and words[-1] in _DAMAGED_JR:
        return " ".join(words[:-1]), "jr"
    if len(words) == 1 and len(name) >= 6 and name.endswith("jr"):
        return name[:-2], "jr"
    return name, None


class FieldParams(BaseModel):
    """m and u per non-null level of one comparison field, and where they came from."""

    m: list[float]
    u: list[float]
    origin: str = "prior"  # prior | splink | degenerate
    note: str = ""


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
        m, u = _prior(comp)
        fields[comp.name] = FieldParams(m=list(comp.m or m), u=list(comp.u or u))
    return FSModel(prior_match_probability=rules.probabilistic.prior_match_probability, fields=fields)


def _prior(comp: ComparisonField) -> tuple[list[float], list[float]]:
    if comp.compare in PRIOR_M and comp.compare != "name" and len(PRIOR_M[comp.compare]) == comp.n_levels:
        return PRIOR_M[comp.compare], PRIOR_U[comp.compare]
    return prior_levels(comp)


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


# Levels per comparison field object, and household fields per rules object: both are asked for on every
# scored pair. The objects are kept in the values so their ids stay unique while cached.
_LEVELS: dict[int, tuple[ComparisonField, list[Level]]] = {}
_HOUSEHOLD: dict[int, tuple[IdentityRules, frozenset[str]]] = {}


def _levels(comp: ComparisonField) -> list[Level]:
    hit = _LEVELS.get(id(comp))
    if hit is None or hit[0] is not comp:
        if len(_LEVELS) > 4096:
            _LEVELS.clear()
        hit = _LEVELS[id(comp)] = (comp, levels_of(comp))
    return hit[1]


def _household(rules: IdentityRules) -> frozenset[str]:
    hit = _HOUSEHOLD.get(id(rules))
    if hit is None or hit[0] is not rules:
        if len(_HOUSEHOLD) > 256:
            _HOUSEHOLD.clear()
        hit = _HOUSEHOLD[id(rules)] = (rules, frozenset(rules.household if rules.given_name_field else ()))
    return hit[1]


def level_of(
    comp: ComparisonField,
    left: str | None,
    right: str | None,
    left_values: Mapping[str, str | None] | None = None,
    right_values: Mapping[str, str | None] | None = None,
) -> int | None:
    """The comparison level index (0 = exact, ..., last = else), or None for the null level."""
    return level_index(comp, _levels(comp), left, right, left_values or {}, right_values or {})


def level_label(comp: ComparisonField, level: int | None) -> str:
    """A readable name of a level."""
    if level is None:
        return "missing"
    return _levels(comp)[level].label


# Given-name levels that say "the same first name" (with one typo, see `first_names_compatible`): anything
# else (a merely similar name such as Patricia/Patrick, an initial, a different or missing name), or a
# different family name, lets household fields count only once.
_SAME_GIVEN = {"exact", "nickname", "swapped"}
# Family-name levels that say "the same family": those, a typo, a close spelling (and JW >= 0.88, below).
_SAME_FAMILY = _SAME_GIVEN | {"typo", "dl"}


# Per (rules, model): each field's levels, the bits of each level and its term-frequency table (None when
# the field has none or is degenerate). `_score` runs for every candidate pair; looking these up and taking
# the logarithm once per pair and field was a third of its time. Objects kept in the value (ids stay unique);
# like `established_names`, this takes a model as final once it scores (fit_model finishes it first).
_Compiled = list[tuple[ComparisonField, list[Level], list[float], dict[str, float] | None]]
_COMPILED: dict[tuple[int, int], tuple[IdentityRules, FSModel, _Compiled]] = {}


def _compiled(rules: IdentityRules, model: FSModel) -> _Compiled:
    hit = _COMPILED.get((id(rules), id(model)))
    if hit is None or hit[0] is not rules or hit[1] is not model:
        table: _Compiled = []
        for comp in rules.probabilistic.fields:
            params = model.fields[comp.name]
            bits = [math.log2(m / u) for m, u in zip(params.m, params.u, strict=False)]
            tf = model.tf.get(comp.name) if comp.tf and params.origin != "degenerate" else None
            table.append((comp, _levels(comp), bits, tf))
        if len(_COMPILED) > 64:
            _COMPILED.clear()
        hit = _COMPILED[(id(rules), id(model))] = (rules, model, table)
    return hit[2]


@dataclass
class _Scored:
    total: float
    compared: int
    parts: list[tuple[ComparisonField, int | None, float, bool]]
    household_collapsed: bool


def _score(
    rules: IdentityRules, model: FSModel, left: Mapping[str, str | None], right: Mapping[str, str | None]
) -> _Scored:
    prior = model.prior_match_probability
    total = math.log2(prior / (1 - prior))
    compared = 0
    parts: list[tuple[ComparisonField, int | None, float, bool]] = []
    given_field, family_field = rules.given_name_field, rules.family_name_field
    given_same = family_same = True
    commons = _commons(rules, model)
    for f, (comp, levels, level_bits, tf_table) in enumerate(_compiled(rules, model)):
        a, b = left.get(comp.name), right.get(comp.name)
        # Missing and equal values (most fields of most pairs) answered here, as `level_index` would.
        if a is None or b is None:
            level = None
        elif a == b:
            level = 0
        else:
            level = level_index(comp, levels, a, b, left, right, commons[f])
        bits = 0.0
        tf_adjusted = False
        if level is not None:
            compared += 1
            bits = level_bits[level]
            if level == 0 and tf_table is not None and a is not None:
                freq = tf_table.get(a)
                if freq is not None:
                    # The same expression `FSModel.tf_u` and the m/u table give, so the bits are identical.
                    bits, tf_adjusted = math.log2(model.fields[comp.name].m[0] / max(freq, TF_MIN_U)), True
        if comp.name == given_field:
            given_same = level is not None and (
                levels[level].kind in _SAME_GIVEN
                or (
                    a is not None
                    and b is not None
                    and min(len(a), len(b)) > 1
                    and first_names_compatible(a, b, established_names(rules, model), strict=True)
                )
            )
        elif comp.name == family_field and level is not None:
            lv = levels[level]
            # Colleagues share a company and its address: a different family name splits the group too.
            family_same = lv.kind in _SAME_FAMILY or (lv.kind == "jw" and lv.param >= 0.88)
        parts.append((comp, level, bits, tf_adjusted))
    given_same = given_same and family_same
    if given_same and (GIVEN_AS_KEY in left or GIVEN_AS_KEY in right):
        # A typo of a name two housemates carry (eria: Eric or Erica?) says nothing about which of them it is;
        # a typo closest to one housemate's name stands for that name (see `graph.household_given_names`).
        ga, gb = (
            left.get(GIVEN_AS_KEY, left.get(given_field or "")),
            right.get(GIVEN_AS_KEY, right.get(given_field or "")),
        )
        given_same = bool(ga and gb) and (
            ga == gb or first_names_compatible(ga or "", gb or "", established_names(rules, model), strict=True)
        )
    if left.get(SUFFIX_KEY) != right.get(SUFFIX_KEY):
        # John Smith and John Smith Jr: two generations of one household, whose shared first name says
        # nothing about being one person.
        given_same = False
        parts = [(c, lv, min(bits, 0.0) if c.name == given_field else bits, tf) for c, lv, bits, tf in parts]
    elif not given_same and rules.date_of_birth_field:
        # The same date of birth is evidence about the person, not the household: with it, a different
        # first name is a data error to weigh, not a sign of a housemate.
        born_l, born_r = left.get(rules.date_of_birth_field), right.get(rules.date_of_birth_field)
        given_same = born_l is not None and born_l == born_r
    household = _household(rules)
    collapsed = False
    if household and not given_same:
        # Household fields are one piece of evidence here: keep the strongest positive one, drop the rest.
        best = max((bits for comp, _, bits, _ in parts if comp.name in household and bits > 0), default=0.0)
        kept = False
        new_parts = []
        for comp, level, bits, tf_adjusted in parts:
            if comp.name in household and bits > 0:
                if bits == best and not kept:
                    kept = True
                else:
                    collapsed = True
                    bits = 0.0
            new_parts.append((comp, level, bits, tf_adjusted))
        parts = new_parts
    total += sum(bits for _, _, bits, _ in parts)
    return _Scored(total, compared, parts, collapsed)


# A value carried by at least this share of records, and by at least ESTABLISHED_NAME_COUNT of them, is a
# common value of its field (for the given name: an established name, see `comparisons.first_names_compatible`):
# in small data every value seen once would otherwise pass the share.
ESTABLISHED_NAME_SHARE = 0.0005
ESTABLISHED_NAME_COUNT = 5
_COMMON: dict[tuple[int, str], tuple[FSModel, frozenset[str]]] = {}


def common_values(model: FSModel, field: str) -> frozenset[str]:
    """Values of a field common in the data the model was fitted on (none without a term-frequency table)."""
    hit = _COMMON.get((id(model), field))
    if hit is None or hit[0] is not model:
        table = model.tf.get(field, {})
        floor = max(ESTABLISHED_NAME_SHARE, ESTABLISHED_NAME_COUNT / max(model.trained_on, 1))
        names = frozenset(v for v, share in table.items() if share >= floor)
        if len(_COMMON) > 256:
            _COMMON.clear()
        hit = _COMMON[(id(model), field)] = (model, names)
    return hit[1]


_COMMONS: dict[tuple[int, int], tuple[IdentityRules, FSModel, list[frozenset[str]]]] = {}


def _commons(rules: IdentityRules, model: FSModel) -> list[frozenset[str]]:
    """Each comparison field's common values, in the rules' field order (looked up once per pair scored)."""
    hit = _COMMONS.get((id(rules), id(model)))
    if hit is None or hit[0] is not rules or hit[1] is not model:
        if len(_COMMONS) > 64:
            _COMMONS.clear()
        table = [common_values(model, comp.name) for comp in rules.probabilistic.fields]
        hit = _COMMONS[(id(rules), id(model))] = (rules, model, table)
    return hit[2]


def established_names(rules: IdentityRules, model: FSModel) -> frozenset[str]:
    """Given names common in the data the model was fitted on (none without a term-frequency table)."""
    return common_values(model, rules.given_name_field or "")


# Key of the generational suffix in a record's comparison values (set by `graph.prepare`).
SUFFIX_KEY = "__suffix"
# Key of the given name a record stands for in its household ('' when it could be either of two housemates),
# set by `graph.resolve` only where that differs from the written name.
GIVEN_AS_KEY = "__given_as"


def score_pair(
    rules: IdentityRules, model: FSModel, left: Mapping[str, str | None], right: Mapping[str, str | None]
) -> PairScore:
    """Score two records given as cleaned comparison values; symmetric in left/right."""
    prior = model.prior_match_probability
    prior_bits = math.log2(prior / (1 - prior))
    scored = _score(rules, model, left, right)
    contributions = [
        Contribution(
            field=comp.name,
            level=level_label(comp, level)
            + (
                " (household: counted once)"
                if level is not None and bits == 0 and scored.household_collapsed and comp.name in _household(rules)
                else ""
            ),
            left=left.get(comp.name),
            right=right.get(comp.name),
            bits=bits,
            tf_adjusted=tf_adjusted,
        )
        for comp, level, bits, tf_adjusted in scored.parts
    ]
    total = scored.total
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
    total, compared = weight_and_coverage(rules, model, left, right)
    return (1.0 / (1.0 + 2.0 ** (-total)) if total > -1000 else 0.0), compared


def weight_and_coverage(
    rules: IdentityRules, model: FSModel, left: Mapping[str, str | None], right: Mapping[str, str | None]
) -> tuple[float, int]:
    """The match weight (log2 odds, prior included) and how many fields were present on both sides."""
    scored = _score(rules, model, left, right)
    return scored.total, scored.compared


# A field whose most common value is on at least this share of records cannot tell people apart.
DEGENERATE_SHARE = 0.9


def model_warnings(rules: IdentityRules, model: FSModel) -> list[str]:
    """Readable warnings about a model: fields with no evidence, fields left on priors, no training."""
    out = []
    if model.origin != "splink":
        out.append(
            f"m/u not trained ({model.trained_on:,} records; Splink training needs at least 1,000 and is "
            "on unless --no-train): every field uses the documented priors"
        )
    for comp in rules.probabilistic.fields:
        params = model.fields.get(comp.name)
        if params is None:
            continue
        if params.origin == "degenerate":
            out.append(f"{comp.name}: {params.note}; it counts as no evidence")
        elif model.origin == "splink" and params.origin == "prior":
            out.append(f"{comp.name}: Splink's estimates were missing or implausible; documented priors used")
    return out
