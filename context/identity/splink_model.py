"""Fit the probabilistic model: term frequencies, and m/u estimated by Splink 5 on DuckDB.

Training follows Splink's documented recipe: u by random sampling of record pairs, m by expectation
maximisation over each blocking rule (u fixed). It is unstable on small data (few matching pairs per
level), so below `MIN_TRAINING_RECORDS` records, and for any field whose estimates come back missing or
implausible (m not above u on the exact level), the documented priors of `context.identity.scoring` stay.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from context.identity.comparisons import SqlDialect, derived_columns, splink_comparison
from context.identity.graph import Prepared, hub_values
from context.identity.rules import ComparisonField, IdentityRules
from context.identity.scoring import (
    DEGENERATE_SHARE,
    FieldParams,
    FSModel,
    common_values,
    prior_model,
    term_frequencies,
)

MIN_TRAINING_RECORDS = 1000
# The share of true pairs the deterministic rules (identifiers; names + date of birth) are assumed to find,
# as in Splink's documented examples (0.8-0.9).
DETERMINISTIC_RECALL = 0.8
# Term frequencies from a handful of rows are noise (in ten rows, a name seen three times looks "common").
MIN_TF_RECORDS = 200
log = logging.getLogger(__name__)


def splink_settings(
    rules: IdentityRules,
    *,
    link_type: Literal["link_only", "link_and_dedupe", "dedupe_only"] = "dedupe_only",
    prior: float | None = None,
    dialect: SqlDialect = "duckdb",
) -> Any:
    """A Splink `SettingsCreator` with the same comparisons and blocking as the rules."""
    from splink import SettingsCreator, block_on

    comparisons: list[Any] = [splink_comparison(comp, dialect) for comp in rules.probabilistic.fields]
    return SettingsCreator(
        link_type=link_type,
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=[block_on(*b) for b in rules.probabilistic.blocking],
        probability_two_random_records_match=prior or rules.probabilistic.prior_match_probability,
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def splink_rows(
    prepared: Iterable[Prepared], rules: IdentityRules, model: FSModel | None = None
) -> list[dict[str, Any]]:
    """Rows for Splink: unique_id plus each comparison field's cleaned value (and derived level columns).

    `model` gives the common values of the typo level (from its term frequencies); without it none is common.
    """
    names = [c.name for c in rules.probabilistic.fields]
    derived = [
        (c.name, col, fn)
        for c in rules.probabilistic.fields
        for col, fn in derived_columns(c, common_values(model, c.name) if model else frozenset()).items()
    ]
    rows = []
    for p in prepared:
        row: dict[str, Any] = {"unique_id": p.key}
        for n in names:
            row[n] = p.values.get(n)
        for n, col, fn in derived:
            row[col] = fn(p.values.get(n))
        rows.append(row)
    return rows


def estimate_prior(prepared: Sequence[Prepared], rules: IdentityRules) -> float:
    """Probability two random records match, from the identifier-linked groups (a lower bound, floored)."""
    parent: dict[str, str] = {p.key: p.key for p in prepared}

    def find(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    hubs = hub_values(prepared, rules)
    first_holder: dict[tuple[str, str], str] = {}
    blocked = {r.kind: r for r in rules.identifiers}
    dob = rules.date_of_birth_field
    for p in prepared:
        for kind, vals in p.identifiers.items():
            for v in vals:
                if blocked[kind].is_blocked(v) or (kind, v) in hubs:
                    continue
                other = first_holder.setdefault((kind, v), p.key)
                parent[find(p.key)] = find(other)
        # Splink's documented deterministic rule: same given name, family name and date of birth.
        born = p.values.get(dob) if dob else None
        if born and p.first_name and p.last_name:
            other = first_holder.setdefault(("~name+dob", f"{p.first_name}|{p.last_name}|{born}"), p.key)
            parent[find(p.key)] = find(other)
    sizes: dict[str, int] = {}
    for p in prepared:
        r = find(p.key)
        sizes[r] = sizes.get(r, 0) + 1
    n = len(prepared)
    if n < 2:
        return rules.probabilistic.prior_match_probability
    pairs = sum(s * (s - 1) / 2 for s in sizes.values())
    # As Splink's estimate_probability_two_random_records_match: the deterministic rules find about
    # DETERMINISTIC_RECALL of the true pairs.
    pairs /= DETERMINISTIC_RECALL
    return max(pairs / (n * (n - 1) / 2), 1e-7) if pairs else rules.probabilistic.prior_match_probability


def fit_model(
    prepared: Sequence[Prepared], rules: IdentityRules, *, train: bool = True, seed: int = 42, link_only: bool = False
) -> FSModel:
    """Term frequencies from the records, plus Splink-trained m/u when there is enough data.

    `link_only` (several inputs compared across only) trains on their union all the same: u comes from
    random pairs and m from EM within blocks, neither of which depends on which pairs are linked later.
    """
    model = prior_model(rules)
    if len(prepared) >= MIN_TF_RECORDS:
        model.tf = term_frequencies(rules, (p.values for p in prepared))
    model.trained_on = len(prepared)
    if not train or len(prepared) < MIN_TRAINING_RECORDS or not rules.probabilistic.fields:
        if len(prepared) >= MIN_TF_RECORDS:
            _neutralize_degenerate(prepared, rules, model)
        return model
    try:
        trained = _train_with_splink(prepared, rules, model, seed=seed)
    except Exception as exc:  # Splink raises many kinds; any failure means: keep the priors
        log.warning("splink training failed (%s); using prior m/u values", type(exc).__name__)
        return model
    model.prior_match_probability = estimate_prior(prepared, rules)
    for name, params in trained.items():
        model.fields[name] = params
    model.origin = "splink" if trained else "prior"
    _neutralize_degenerate(prepared, rules, model)
    return model


def _neutralize_degenerate(prepared: Sequence[Prepared], rules: IdentityRules, model: FSModel) -> None:
    """A field whose one value is on most records (a postcode on 97%) gets weight 0 at every level."""
    for comp in rules.probabilistic.fields:
        counts: Counter[str] = Counter(v for p in prepared if (v := p.values.get(comp.name)) is not None)
        total = sum(counts.values())
        if total < MIN_TF_RECORDS:
            continue
        value, top = counts.most_common(1)[0]
        share = top / total
        if share >= DEGENERATE_SHARE:
            model.fields[comp.name] = degenerate(model.fields[comp.name], value, share)


def degenerate(params: FieldParams, value: Any, share: float) -> FieldParams:
    """The parameters of a field one value dominates: m = u at every level (weight 0), with the reason."""
    return FieldParams(
        m=list(params.u),
        u=list(params.u),
        origin="degenerate",
        note=f"one value ({value!r}) is on {share:.0%} of the records that have one",
    )


def em_blocks(rules: IdentityRules) -> list[list[str]]:
    """The blocking rules EM runs on: in order, each one that trains a field no earlier one trained.

    EM cannot estimate a field whose comparison reads a blocked column, so every field must lie outside at
    least one chosen rule; running EM on every blocking rule instead costs a pass each and adds nothing.
    A name field with a swapped level reads the other name field too (given = the other's family name):
    Splink skips it in any session blocked on either name, so only a rule on neither trains the names.
    """
    reads = {f.name: _columns_read(f) for f in rules.probabilistic.fields}
    untrained = set(reads)
    chosen = []
    for block in rules.probabilistic.blocking:
        gains = {name for name in untrained if not reads[name] & set(block)}
        if gains:
            chosen.append(block)
            untrained -= gains
        if not untrained:
            break
    return chosen


def _columns_read(comp: ComparisonField) -> set[str]:
    """The input columns a field's Splink comparison reads (its own, and the swapped field's)."""
    return {comp.name} | ({comp.swap_with} if comp.swap_with and comp.compare == "name" else set())


def _train_with_splink(
    prepared: Sequence[Prepared], rules: IdentityRules, model: FSModel, *, seed: int
) -> dict[str, FieldParams]:
    from splink import DuckDBAPI, Linker, block_on

    # Splink warns on stderr for every comparison level a small dataset does not exhibit; those levels keep
    # their prior m values, which is what we want, so the warnings are noise to the person running a sync.
    splink_logger = logging.getLogger("splink")
    previous_level = splink_logger.level
    splink_logger.setLevel(logging.ERROR)
    try:
        return _train(prepared, rules, model, seed=seed, DuckDBAPI=DuckDBAPI, Linker=Linker, block_on=block_on)
    finally:
        splink_logger.setLevel(previous_level)


def _train(
    prepared: Sequence[Prepared],
    rules: IdentityRules,
    model: FSModel,
    *,
    seed: int,
    DuckDBAPI: Any,
    Linker: Any,
    block_on: Any,
) -> dict[str, FieldParams]:
    db = DuckDBAPI()
    # The model holds the term frequencies already: they decide which values the typo level calls common.
    df = db.register(splink_rows(prepared, rules, model))
    linker = Linker(df, splink_settings(rules), log_level=None)
    return read_params(train_linker(linker, rules, seed=seed, block_on=block_on), rules)


def train_linker(linker: Any, rules: IdentityRules, *, seed: int, block_on: Any) -> dict[str, Any]:
    """The training recipe on any Splink backend: u by random sampling, m by EM on `em_blocks`; the settings."""
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=seed)
    for block in em_blocks(rules):
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(*block), fix_u_probabilities=True
            )
        except Exception as exc:  # a rule with too few pairs: the others still train
            log.info("EM on %s skipped: %s", block, type(exc).__name__)
    settings: dict[str, Any] = linker.misc.save_model_to_json()
    return settings


def read_params(settings: Mapping[str, Any], rules: IdentityRules) -> dict[str, FieldParams]:
    """Per field, the m/u Splink trained where they are plausible; other fields are left out (priors stay)."""
    out: dict[str, FieldParams] = {}
    by_name = {c["output_column_name"]: c for c in settings["comparisons"]}
    priors = prior_model(rules)
    for comp in rules.probabilistic.fields:
        if comp.name not in by_name:
            continue
        levels = [lv for lv in by_name[comp.name]["comparison_levels"] if not lv.get("is_null_level")]
        if len(levels) != comp.n_levels:
            continue
        prior = priors.fields[comp.name]
        if not any(_valid(lv.get("m_probability"), 0.0) for lv in levels):
            continue  # no EM session could estimate it (every rule blocks a column it reads): the prior stays
        # A level the data never showed (no swapped names in this data set, say) has no estimate: that level
        # keeps its prior and the others keep what Splink learned.
        m = [_valid(lv.get("m_probability"), prior.m[i]) for i, lv in enumerate(levels)]
        u = [_valid(lv.get("u_probability"), prior.u[i]) for i, lv in enumerate(levels)]
        if m[0] <= u[0] or m[-1] >= 1:
            continue  # unstable: keep the prior for this field
        out[comp.name] = FieldParams(m=m, u=u, origin="splink")
    return out


def _valid(value: Any, fallback: float) -> float:
    return float(value) if isinstance(value, int | float) and 0 < value <= 1 else fallback
