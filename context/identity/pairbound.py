"""The pairs of a large block that can reach a score: every pair's Fellegi–Sunter weight at once, in numpy.

A block of n records holds n(n-1)/2 pairs, and the big blocks (everyone at one address, one common name)
are where scoring time goes: at 290k records the `[address]` and `[first_name, last_name]` blocks alone
give about two million candidate pairs, of which a few thousand reach the review threshold. Scoring each
pair in Python costs microseconds; here each field's level is looked up once per pair of distinct values
(a block repeats values: one address, a few surnames, a company) and the weights of all pairs are summed
as matrices.

The weight computed here is an upper bound of `scoring._score`'s, equal to it except where a rule can
only lower the score (a generational suffix, a household given name) and up to rounding: the caller scores
the pairs that pass exactly as before, so which pairs link or go to review never depends on this module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from context.identity.comparisons import first_names_compatible, level_index
from context.identity.rules import IdentityRules
from context.identity.scoring import (
    _SAME_FAMILY,
    _SAME_GIVEN,
    TF_MIN_U,
    FSModel,
    _compiled,
    _household,
    common_values,
    established_names,
)

# Rounding slack (bits): the matrix sums fields in another order than the scorer does.
_SLACK = 1e-6


def bits_of(probability: float) -> float:
    """The weight (log2 odds) at which a pair's match probability reaches `probability`."""
    return math.log2(probability / (1 - probability))


class BlockBound:
    """Per resolution: weight matrices of blocks, with level lookups remembered across blocks."""

    def __init__(self, rules: IdentityRules, model: FSModel):
        self.rules = rules
        self.model = model
        self.table = _compiled(rules, model)
        prior = model.prior_match_probability
        self.prior_bits = math.log2(prior / (1 - prior))
        self.established = established_names(rules, model)
        household = _household(rules)
        names = [comp.name for comp, _, _, _ in self.table]
        self.household = np.array([name in household for name in names], dtype=bool)
        self.given = names.index(rules.given_name_field) if rules.given_name_field in names else None
        self.family = names.index(rules.family_name_field) if rules.family_name_field in names else None
        self.born = rules.date_of_birth_field
        # Per field: bits per level, whether a level says "the same name" (given) / "the same family"
        # (family: as `_score` decides it), and the field whose value a swapped-names level compares with.
        self.level_bits = [np.array(bits, dtype=np.float64) for _, _, bits, _ in self.table]
        self.same_given = np.array(
            [lv.kind in _SAME_GIVEN for lv in self.table[self.given][1]] if self.given is not None else []
        )
        self.same_family = np.array(
            [lv.kind in _SAME_FAMILY or (lv.kind == "jw" and lv.param >= 0.88) for lv in self.table[self.family][1]]
            if self.family is not None
            else []
        )
        self.swap: list[tuple[int, int] | None] = []
        for comp, levels, _, _ in self.table:
            other = names.index(comp.swap_with) if comp.swap_with in names else None
            index = next((i for i, lv in enumerate(levels) if lv.kind == "swapped"), None)
            self.swap.append((other, index) if other is not None and index is not None else None)
        # One code space for every value (a given name equals a family name across fields when swapped).
        self.codes: dict[str, int] = {}
        self.rows: dict[str, tuple[list[int], list[float], int]] = {}
        self.levels: dict[tuple[int, int, int], int] = {}
        self.strict: dict[tuple[int, int], bool] = {}
        self.values: list[str] = []

    def _code(self, value: str | None) -> int:
        if value is None:
            return -1
        code = self.codes.get(value)
        if code is None:
            code = self.codes[value] = len(self.values)
            self.values.append(value)
        return code

    def _row(self, key: str, values: Mapping[str, str | None]) -> tuple[list[int], list[float], int]:
        row = self.rows.get(key)
        if row is None:
            codes, exact = [], []
            for comp, _, bits, tf in self.table:
                value = values.get(comp.name)
                codes.append(self._code(value))
                freq = tf.get(value) if tf is not None and value is not None else None
                m0 = self.model.fields[comp.name].m[0]
                exact.append(bits[0] if freq is None else math.log2(m0 / max(freq, TF_MIN_U)))
            born = self._code(values.get(self.born)) if self.born else -1
            row = self.rows[key] = (codes, exact, born)
        return row

    def _level_matrix(self, f: int, unique: np.ndarray) -> np.ndarray:
        """Level index of each pair of distinct values of field f (swapped names aside), diagonal exact."""
        comp, levels, _, _ = self.table[f]
        k = len(unique)
        out = np.zeros((k, k), dtype=np.int64)
        memo, values = self.levels, self.values
        common = common_values(self.model, comp.name)
        items = unique.tolist()
        for i in range(k):
            a = items[i]
            for j in range(i + 1, k):
                b = items[j]
                key = (f, a, b) if a < b else (f, b, a)
                level = memo.get(key)
                if level is None:
                    # Two distinct values are never the null level; `or 0` only satisfies the type.
                    level = memo[key] = level_index(comp, levels, values[a], values[b], {}, {}, common) or 0
                out[i, j] = out[j, i] = level
        return out

    def _strict_matrix(self, unique: np.ndarray) -> np.ndarray:
        """Whether each pair of distinct given names is one name with a typo (`first_names_compatible`, strict)."""
        k = len(unique)
        out = np.ones((k, k), dtype=bool)
        memo, values, established = self.strict, self.values, self.established
        items = unique.tolist()
        for i in range(k):
            a = items[i]
            for j in range(i + 1, k):
                b = items[j]
                key = (a, b) if a < b else (b, a)
                hit = memo.get(key)
                if hit is None:
                    x, y = values[a], values[b]
                    hit = memo[key] = min(len(x), len(y)) > 1 and first_names_compatible(x, y, established, strict=True)
                out[i, j] = out[j, i] = hit
        return out

    def weights(self, keys: Sequence[str], values: Sequence[Mapping[str, str | None]]) -> np.ndarray:
        """n x n matrix of pair weights (log2 odds), each at least the weight `scoring` gives that pair."""
        rows = [self._row(k, v) for k, v in zip(keys, values, strict=True)]
        codes = np.array([r[0] for r in rows], dtype=np.int64)
        exact = np.array([r[1] for r in rows], dtype=np.float64)
        n, nf = codes.shape
        field_bits = np.zeros((nf, n, n), dtype=np.float64)
        # As in `_score`: without a compared given name, the given names never count as different.
        given_same = np.full((n, n), self.given is None, dtype=bool)
        family_same = np.ones((n, n), dtype=bool)
        for f in range(nf):
            c = codes[:, f]
            listed = c.tolist()
            distinct = sorted({x for x in listed if x >= 0})
            if not distinct or (len(distinct) == 1 and listed.count(distinct[0]) < 2):
                continue
            present = c >= 0
            both = present[:, None] & present[None, :]
            if len(distinct) == 1 and f != self.given and self.swap[f] is None:
                # The field that defines the block: every present pair agrees exactly.
                field_bits[f] = np.where(both, exact[:, f][:, None], 0.0)
                if f == self.family:
                    family_same = ~both | bool(self.same_family[0])
                continue
            equal = (c[:, None] == c[None, :]) & both
            unique = np.array(distinct, dtype=np.int64)
            slot = {x: i for i, x in enumerate(distinct)}
            pos = np.array([slot.get(x, 0) for x in listed], dtype=np.int64)
            level = (
                self._level_matrix(f, unique)[pos[:, None], pos[None, :]]
                if len(distinct) > 1
                else np.zeros((n, n), np.int64)
            )
            swap = self.swap[f]
            if swap is not None:
                other, index = swap
                o = codes[:, other]
                swapped = ((c[:, None] == o[None, :]) | (o[:, None] == c[None, :])) & both & ~equal
                level = np.where(swapped, index, level)
            level = np.where(equal, 0, level)
            bits = np.where(equal, exact[:, f][:, None], self.level_bits[f][level])
            field_bits[f] = np.where(both, bits, 0.0)
            if f == self.given:
                same = self.same_given[level]
                if not same.all():
                    unique_strict = self._strict_matrix(unique) if len(unique) > 1 else np.ones((1, 1), bool)
                    same = same | unique_strict[pos[:, None], pos[None, :]]
                given_same = both & same
            elif f == self.family:
                family_same = ~both | self.same_family[level]
        given_same &= family_same
        if self.born:
            born = np.array([r[2] for r in rows], dtype=np.int64)
            given_same |= (born[:, None] == born[None, :]) & (born[:, None] >= 0)
        total = self.prior_bits + field_bits[~self.household].sum(axis=0)
        home = field_bits[self.household]
        if len(home):
            # Household fields count once (the strongest positive one) unless the given names are the same.
            collapsed = np.maximum(home.max(axis=0), 0.0) + np.minimum(home, 0.0).sum(axis=0)
            total = total + np.where(given_same, home.sum(axis=0), collapsed)
        return total + _SLACK
