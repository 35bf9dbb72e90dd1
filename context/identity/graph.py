"""Layer 1: resolve plain records into clusters with evidence (no database).

`resolve()` is a pure function of the record set, the rules, the model and the constraints: the
input order never matters. Edges are decided in one documented, arrival-independent order:

1. manual links (approved reviews, merges), by record rank;
2. deterministic identifier matches, by identifier priority, then by record rank;
3. probabilistic matches at or above the upper threshold, by probability (highest first), then rank.

A record's rank is (source priority, oldest source timestamp, record key). An edge joining two clusters
is refused — and sent to review — when the union would break an identifier limit or join people whose
first names conflict (the chain guard); a do-not-link constraint refuses it silently. So where a limit
forces a choice, the better-ranked match wins whatever the arrival order was.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from context.errors import StandardizationError
from context.gcpause import cyclic_gc_paused
from context.identity.comparisons import dl, first_names_compatible, jw
from context.identity.errors import InputError
from context.identity.rules import IdentifierRule, IdentityRules
from context.identity.scoring import (
    GIVEN_AS_KEY,
    SUFFIX_KEY,
    FSModel,
    clean,
    clean_for,
    established_names,
    fast_probability,
    score_pair,
    split_suffix,
    weight_and_coverage,
)
from context.intake.standardize import standardize_email


def person_names_compatible(
    x: tuple[str | None, str | None], y: tuple[str | None, str | None], established: frozenset[str] = frozenset()
) -> bool:
    """(first, last) of two records: first names compatible, or given and family name exchanged."""
    fx, lx = x
    fy, ly = y
    if not fx or not fy:
        return True
    return first_names_compatible(fx, fy, established) or (ly is not None and fx == ly) or (lx is not None and fy == lx)


@dataclass(frozen=True)
class Record:
    """A plain source record: a source name, its record id and free-form attributes."""

    source: str
    record_id: str
    attributes: Mapping[str, Any]
    updated_at: datetime | str | None = None

    @property
    def key(self) -> str:
        """The record key used everywhere: 'source:record_id'."""
        return f"{self.source}:{self.record_id}"


@dataclass
class Edge:
    """A decided link between two records, with its evidence."""

    a: str
    b: str
    kind: str  # manual | deterministic | probabilistic
    rule: str  # identifier kind, model name or manual action
    score: float  # match probability (1.0 for deterministic and manual links)
    evidence: list[dict[str, Any]]
    approved_by: str = "system"


@dataclass
class ReviewItem:
    """A pair a human should decide: probable match below auto-link, or a link refused by a guard."""

    a: str
    b: str
    reason: str
    score: float
    evidence: list[dict[str, Any]]


@dataclass
class Resolution:
    """Clusters (sorted record keys, sorted by first key) and the evidence behind them."""

    clusters: list[list[str]]
    edges: list[Edge]
    reviews: list[ReviewItem]
    hubs: set[tuple[str, str]] = field(default_factory=set)
    # What the run did: blocks (with at least two records), pairs_scored, candidate_edges.
    stats: dict[str, int] = field(default_factory=dict)

    def cluster_of(self) -> dict[str, int]:
        """Record key -> index into `clusters`."""
        return {key: i for i, cluster in enumerate(self.clusters) for key in cluster}

    def match_probability(self) -> dict[str, float]:
        """Per record, the strongest accepted link touching it (absent for singletons)."""
        best: dict[str, float] = {}
        for edge in self.edges:
            for key in (edge.a, edge.b):
                best[key] = max(best.get(key, 0.0), edge.score)
        return best


@dataclass
class Prepared:
    """A record reduced to what matching needs."""

    key: str
    rank: tuple[int, str, str]
    identifiers: dict[str, list[str]]
    values: dict[str, str | None]
    first_name: str | None
    name_key: str | None
    block_keys: list[str]
    last_name: str | None = None
    suffix: str | None = None

    @property
    def source(self) -> str:
        """The record's source (the key's part before ':')."""
        return self.key.partition(":")[0]


def names_conflict(a: Prepared, b: Prepared, established: frozenset[str] = frozenset()) -> bool:
    """Both records have first names, and they cannot be the same person's."""
    if not (a.first_name and b.first_name):
        return False
    return not first_names_compatible(a.first_name, b.first_name, established)


def names_agree(
    a: Prepared, b: Prepared, established: frozenset[str] = frozenset(), given_as: Mapping[str, str] | None = None
) -> bool:
    """Both records name the person: compatible first names, and similar last names where both have one.

    `given_as` (from `household_given_names`) says which housemate's name a typo stands for, or that it
    could be either.
    """
    fa, fb = a.first_name, b.first_name
    if not (fa and fb):
        return False
    if given_as:
        fa, fb = given_as.get(a.key, fa), given_as.get(b.key, fb)
        if not (fa and fb):
            return False  # could be either of two housemates
    if not first_names_compatible(fa, fb, established):
        return False
    if a.suffix != b.suffix:
        return False  # John Smith and John Smith Jr are father and son
    la, lb = a.last_name, b.last_name
    if not (la and lb) or la == lb:
        return True
    return jw(la, lb) >= 0.9


def full_names_agree(
    a: Prepared, b: Prepared, established: frozenset[str] = frozenset(), given_as: Mapping[str, str] | None = None
) -> bool:
    """Both records carry first and last names, first names compatible and last names similar."""
    return bool(a.last_name and b.last_name) and names_agree(a, b, established, given_as)


# Pair scores remembered per resolve (by the two records' value sets) before the table is emptied.
SCORE_MEMO_MAX = 500_000

# Blocks of at least this many records are scored through `pairbound` (below it, numpy costs more than it saves).
BOUND_MIN_BLOCK = 8

# Households larger than this are not households (a building, a placeholder address): no context from them.
HOUSEHOLD_MAX = 12


def household_given_names(
    prep: Mapping[str, Prepared], rules: IdentityRules, established: frozenset[str]
) -> dict[str, str]:
    """Record key -> the given name the record stands for in its household, where that is not its own.

    A household is the records sharing a family name and an address value, or a shared identifier that
    requires names (a landline). A first name that is no established name (a typo: 'eria') and is
    compatible with two established names the household carries (Eric and Erica) stands for the closer of
    them (fewest edits), or for either ('' — which then agrees with no other name) when they are equally
    close. A record without a family name whose first name two members of different generations carry
    (John Smith and John Smith Jr) could be either of them too.
    """
    if not established or not rules.given_name_field:
        return {}
    groups: dict[tuple[str, ...], list[Prepared]] = defaultdict(list)
    shared_kinds = {r.kind for r in rules.identifiers if r.require_name}
    address = [f for f in rules.address_fields if any(c.name == f for c in rules.probabilistic.fields)]
    for p in prep.values():
        if not p.first_name:
            continue
        if p.last_name:
            for f in address:
                v = p.values.get(f)
                if v:
                    groups[("a", f, p.last_name, v)].append(p)
        for kind in shared_kinds:
            for v in p.identifiers.get(kind, ()):
                groups[("i", kind, v)].append(p)
    options: dict[str, set[str]] = defaultdict(set)
    ambiguous: set[str] = set()
    for members in groups.values():
        if len(members) < 2 or len(members) > HOUSEHOLD_MAX:
            continue
        names = {p.first_name for p in members if p.first_name in established}
        if len(names) >= 2:
            for p in members:
                first = p.first_name or ""
                if first not in established and len(first) > 1:
                    options[p.key] |= {n for n in names if first_names_compatible(first, n, established)}
        generations: dict[str, set[str | None]] = defaultdict(set)
        for p in members:
            if p.last_name and p.first_name:
                generations[p.first_name].add(p.suffix)
        for p in members:
            if not p.last_name and len(generations.get(p.first_name or "", ())) >= 2:
                ambiguous.add(p.key)
    out: dict[str, str] = {key: "" for key in ambiguous}
    for key, names in options.items():
        if len(names) < 2 or key in out:
            continue
        first = prep[key].first_name or ""
        ranked = sorted((dl(first, n), -jw(first, n), n) for n in names)
        out[key] = ranked[0][2] if ranked[0][0] < ranked[1][0] else ""
    return out


_NON_DIGIT = re.compile(r"\D+")


def normalize_identifier(rule: IdentifierRule, raw: Any) -> str | None:
    """The normalized form of one identifier value (None when empty)."""
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    if rule.normalize == "email":
        return _normalized_email(text, rule.strip_plus_tag)
    if rule.normalize == "phone":
        digits = _NON_DIGIT.sub("", text)
        return ("+" if text.startswith("+") else "") + digits if len(digits) >= 6 else None
    if rule.normalize == "text":
        return clean(text)
    return text


# A batch normalizes every record's addresses and most people's appear on several records; the email rule's
# own cache (sized for intake) holds fewer addresses than a large batch has, so it would miss on nearly all.
@lru_cache(maxsize=1 << 18)
def _normalized_email(text: str, strip_plus_tag: bool) -> str | None:
    # The one email rule (look-alike and control characters refused), shared with intake and the widget.
    try:
        text = standardize_email(text, check_syntax=False)
    except StandardizationError:
        return None
    local, at, domain = text.partition("@")
    if not at or not local or not domain:
        return None
    if strip_plus_tag and "+" in local:
        local = local.split("+", 1)[0] or local
    return f"{local}@{domain}"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    return [value]


def prepare(record: Record, rules: IdentityRules) -> Prepared:
    """Normalize a record's identifiers, comparison values, name key and blocking keys."""
    source, record_id = record.source, record.record_id
    if not source or ":" in source:
        raise InputError(f"record {record.key!r}: source must be non-empty and contain no ':'")
    if not record_id:
        raise InputError(f"record from source {source!r}: empty record id")
    key = f"{source}:{record_id}"
    attrs = record.attributes
    identifiers: dict[str, list[str]] = {}
    for rule in rules.identifiers:
        raw = attrs.get(rule.attribute)
        if raw is None:
            continue
        if isinstance(raw, list | tuple | set | frozenset):
            found = sorted({v for item in raw if (v := normalize_identifier(rule, item))})
        else:
            one = normalize_identifier(rule, raw)
            found = [one] if one else []
        if found:
            identifiers[rule.kind] = found
    values: dict[str, str | None] = {}
    for comp in rules.probabilistic.fields:
        raw = attrs.get(comp.name)
        if isinstance(raw, list | tuple | set | frozenset):
            raw = next(iter(raw), None)
        values[comp.name] = None if raw is None else clean_for(comp, raw)
    given_field, family_field, full_field = rules.given_name_field, rules.family_name_field, rules.full_name_field
    first = clean(attrs.get(given_field)) if given_field else None
    last, suffix = split_suffix(clean(attrs.get(family_field)) if family_field else None)
    if (first is None or last is None) and full_field and attrs.get(full_field):
        full, full_suffix = split_suffix(clean(attrs.get(full_field)))
        suffix = suffix or full_suffix
        parts = (full or "").split()
        if parts:
            first = first or parts[0]
            last = last or (parts[-1] if len(parts) > 1 else None)
    if first and " " in first:
        first = first.split()[0]
    if family_field in values and values[family_field] is not None:
        values[family_field] = split_suffix(values[family_field])[0]
    for name, val in ((given_field, first), (family_field, last)):
        if name in values and values[name] is None and val is not None:
            values[name] = val
    if suffix is not None:
        values[SUFFIX_KEY] = suffix
    name_key = f"{(first or '?')[0]}|{last}" if last else None
    blocks = []
    for i, fields in enumerate(rules.probabilistic.blocking):
        parts_ = [values.get(f) or clean(_first(attrs.get(f)), field=f) for f in fields]
        if all(parts_):
            blocks.append(f"{i}:" + "|".join(p or "" for p in parts_))
    updated = record.updated_at
    updated_text = updated.isoformat() if isinstance(updated, datetime) else (updated or "~")
    rank = (rules.source_rank(source), updated_text, key)
    return Prepared(key, rank, identifiers, values, first, name_key, blocks, last, suffix)


def _first(value: Any) -> Any:
    items = _as_list(value)
    return items[0] if items else None


class _Clusters:
    """Union-find whose roots carry what the guards check."""

    def __init__(
        self,
        prepared: Mapping[str, Prepared],
        rules: IdentityRules,
        dnl: Mapping[str, set[str]],
        established: frozenset[str] = frozenset(),
    ):
        self.established = established
        self.prepared = prepared
        self.parent = {k: k for k in prepared}
        self.members = {k: [k] for k in prepared}
        # Identifier values and first names per root, built on first use (most records never need them).
        self.values: dict[str, dict[str, set[str]]] = {}
        self.firsts: dict[str, set[tuple[str | None, str | None]]] = {}
        self.limits = {r.kind: r.limit for r in rules.identifiers if r.limit}
        self.typo_tolerant = {r.kind for r in rules.identifiers if r.limit_ignores_typos}
        self.dnl = dnl

    def _values(self, root: str) -> dict[str, set[str]]:
        vals = self.values.get(root)
        if vals is None:
            vals = self.values[root] = {kind: set(v) for kind, v in self.prepared[root].identifiers.items()}
        return vals

    def _firsts(self, root: str) -> set[tuple[str | None, str | None]]:
        names = self.firsts.get(root)
        if names is None:
            p = self.prepared[root]
            names = self.firsts[root] = {(p.first_name, p.last_name)} if p.first_name else set()
        return names

    def find(self, k: str) -> str:
        root = k
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[k] != root:
            self.parent[k], k = root, self.parent[k]
        return root

    def refusal(self, ra: str, rb: str, *, manual: bool, guard_names: bool) -> str | None:
        """Why the two clusters may not merge (None if they may)."""
        small, other = (ra, rb) if len(self.members[ra]) <= len(self.members[rb]) else (rb, ra)
        for key in self.members[small]:
            for partner in self.dnl.get(key, ()):
                if partner in self.parent and self.find(partner) == other:
                    return "do-not-link"
        if manual:
            return None
        values_a, values_b = self._values(ra), self._values(rb)
        for kind, limit in self.limits.items():
            va, vb = values_a.get(kind), values_b.get(kind)
            if not va or not vb:
                continue  # one side has none: the union holds no more values than the other side
            if len(va) + len(vb) <= limit:
                continue
            new = vb - va
            if kind in self.typo_tolerant:
                # A value one edit away from a value the other side holds is that value mistyped.
                new = {v for v in new if not any(dl(v, w) <= 1 for w in va)}
            merged = len(va) + len(new)
            if merged > limit and merged > max(len(va), len(vb)):
                return f"limit: the customers would hold more than {limit} distinct {kind} values"
        if guard_names:
            for x in self._firsts(ra):
                for y in self._firsts(rb):
                    if not person_names_compatible(x, y, self.established):
                        return f"name conflict: first names {x[0]!r} and {y[0]!r}"
        return None

    def union(self, ra: str, rb: str) -> None:
        if len(self.members[ra]) < len(self.members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra].extend(self.members.pop(rb))
        values_a = self._values(ra)
        for kind, vals in self._values(rb).items():
            values_a.setdefault(kind, set()).update(vals)
        del self.values[rb]
        self._firsts(ra).update(self._firsts(rb))
        del self.firsts[rb]


def hub_values(prepared: Iterable[Prepared], rules: IdentityRules) -> set[tuple[str, str]]:
    """Identifier values shared by more distinct names than their rule allows."""
    holders: dict[tuple[str, str], list[Prepared]] = defaultdict(list)
    for p in prepared:
        if p.name_key is None:
            continue
        for kind, vals in p.identifiers.items():
            for v in vals:
                holders[(kind, v)].append(p)
    return _hubs_of(holders, rules)


def _hubs_of(holders: Mapping[tuple[str, str], Sequence[Prepared]], rules: IdentityRules) -> set[tuple[str, str]]:
    max_names = {r.kind: r.hub_max_names for r in rules.identifiers if r.hub_max_names is not None}
    out = set()
    for (kind, v), group in holders.items():
        limit = max_names.get(kind)
        # Fewer holders than the limit cannot carry more distinct names: most values stop here.
        if (
            limit is not None
            and len(group) > limit
            and len({p.name_key for p in group if p.name_key is not None}) > limit
        ):
            out.add((kind, v))
    return out


@cyclic_gc_paused()
def resolve(
    records: Iterable[Record],
    rules: IdentityRules,
    model: FSModel,
    *,
    manual_links: Sequence[tuple[str, str, str]] = (),
    do_not_link: Iterable[tuple[str, str]] = (),
    known_hubs: set[tuple[str, str]] | None = None,
    oversized_blocks: set[str] | None = None,
    prepared: Mapping[str, Prepared] | None = None,
    link_only: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Resolution:
    """Cluster records; `manual_links` are (a, b, approver) links a human made.

    `link_only`: compare records of different sources only (several inputs, each already deduplicated).
    `progress` is called with the number of pairs scored so far, every 50,000 pairs.
    `known_hubs` and `oversized_blocks` let a caller that resolves part of a larger record set pass
    facts about the whole set (the database layer does this).
    """
    if prepared is None:
        prep: dict[str, Prepared] = {}
        for record in records:
            p = prepare(record, rules)
            if p.key in prep:
                raise InputError(f"record {p.key!r} appears twice")
            prep[p.key] = p
    else:
        prep = dict(prepared)
    dnl: dict[str, set[str]] = defaultdict(set)
    for a, b in do_not_link:
        dnl[a].add(b)
        dnl[b].add(a)
    holders: dict[tuple[str, str], list[str]] = defaultdict(list)
    for p in prep.values():
        for kind, vals in p.identifiers.items():
            for v in vals:
                holders[(kind, v)].append(p.key)
    hubs = _hubs_of({kv: [prep[k] for k in keys] for kv, keys in holders.items() if len(keys) > 1}, rules)
    hubs |= known_hubs or set()
    # Integer positions in rank order: they sort exactly like the rank tuples, far faster.
    rank = {k: i for i, k in enumerate(sorted(prep, key=lambda k: prep[k].rank))}
    by_kind = {r.kind: r for r in rules.identifiers}
    established = established_names(rules, model)
    given_as = household_given_names(prep, rules, established)

    # Candidate edges, each with a sort key that depends only on record content.
    ordered: list[tuple[tuple[Any, ...], Edge]] = []
    for a, b, approver in manual_links:
        if a in prep and b in prep and a != b:
            a, b = sorted((a, b), key=rank.__getitem__)
            edge = Edge(a, b, "manual", "manual", 1.0, [{"field": "manual", "approved_by": approver}], approver)
            ordered.append(((0, 0, rank[a], rank[b]), edge))
    for (kind, value), keys in holders.items():
        if len(keys) < 2:
            continue
        rule = by_kind[kind]
        if rule.is_blocked(value) or (kind, value) in hubs:
            shared_edges(rule, value, keys, prep, rank, ordered, established, given_as)
            continue
        keys.sort(key=rank.__getitem__)
        if rule.require_name:
            # All pairs for small groups; large ones (one person's many orders) as a name-checked chain.
            candidates = (
                itertools.combinations(keys, 2)
                if len(keys) <= 30
                else itertools.chain(((keys[0], k) for k in keys[1:]), itertools.pairwise(keys[1:]))
            )
            pairs = [(a, b) for a, b in candidates if names_agree(prep[a], prep[b], established, given_as)]
        elif len(keys) <= 10:
            pairs = [(keys[i], keys[j]) for i in range(len(keys)) for j in range(i + 1, len(keys))]
        else:
            pairs = [(keys[0], k) for k in keys[1:]] + list(itertools.pairwise(keys[1:]))
        if link_only:
            pairs = [(a, b) for a, b in pairs if prep[a].source != prep[b].source]
        # Every pair of the group has the same evidence: one list shared by all (never mutated).
        evidence = [{"field": kind, "left": value, "right": value, "level": "exact identifier"}]
        ordered.extend(
            ((1, rule.priority, rank[a], rank[b], kind), Edge(a, b, "deterministic", kind, 1.0, evidence))
            for a, b in pairs
        )

    # Pre-clusters from identifiers only: pairs inside one need no probabilistic score.
    # (Shared-value links count too: they are as certain as the names they require.)
    pre = {k: k for k in prep}

    def pfind(k: str) -> str:
        while pre[k] != k:
            pre[k] = pre[pre[k]]
            k = pre[k]
        return k

    for _, edge in ordered:
        ra, rb = pfind(edge.a), pfind(edge.b)
        if ra != rb:
            pre[ra] = rb

    review_candidates: list[tuple[float, str, str, str]] = []
    stats: dict[str, int] = defaultdict(int)
    prob = rules.probabilistic
    if prob.enabled and prob.fields:
        blocks: dict[str, list[str]] = defaultdict(list)
        for p in prep.values():
            for bk in p.block_keys:
                blocks[bk].append(p.key)
        seen: set[tuple[str, str]] = set()
        skip = oversized_blocks or set()
        guarded_cache: dict[str, dict[str, str | None]] = {}

        def guarded(k: str) -> dict[str, str | None]:
            g = guarded_cache.get(k)
            if g is None:
                g = guarded_cache[k] = _guarded(prep[k], hubs, by_kind, given_as)
            return g

        # A score depends only on the two records' comparison values, and blocks repeat value sets (one
        # person's orders, a household at one address): at 290k records under half of the scored pairs
        # have a pair of value sets not scored before. Value sets are numbered; scores are kept per pair of
        # numbers, in order (a, b) as scored, and the table is emptied when full so memory stays bounded.
        value_set_ids: dict[tuple[tuple[str, str | None], ...], int] = {}
        value_set_of: dict[str, int] = {}
        scores: dict[tuple[int, int], float] = {}

        def value_set(k: str) -> int:
            vid = value_set_of.get(k)
            if vid is None:
                vid = value_set_of[k] = value_set_ids.setdefault(tuple(guarded(k).items()), len(value_set_ids))
            return vid

        def probability(a: str, b: str) -> float:
            pair = (value_set(a), value_set(b))
            pr = scores.get(pair)
            if pr is None:
                if len(scores) >= SCORE_MEMO_MAX:
                    scores.clear()
                pr = scores[pair] = fast_probability(rules, model, guarded(a), guarded(b))
            return pr

        # Pre-clusters do not change while blocks are scanned: look each record's root up once, and skip
        # whole blocks (one person's records sharing a name and postcode) that sit inside one.
        root = {k: pfind(k) for k in prep}
        # numpy loads only when a batch is scored: a CLI read that imports identity must not pay for it.
        import numpy as np

        from context.identity.pairbound import BlockBound, bits_of

        bound = BlockBound(rules, model)
        floor = bits_of(prob.lower)
        for bk, keys in blocks.items():
            n = len(keys)
            if n < 2 or n > prob.max_block_size or bk in skip:
                stats["oversized_blocks"] += n > prob.max_block_size
                continue
            stats["blocks"] += 1
            roots = [root[k] for k in keys]
            if n == 2 and roots[0] == roots[1]:
                continue
            if n >= BOUND_MIN_BLOCK:
                # A large block: only the pairs whose weight can reach the review threshold are scored.
                weights = bound.weights(keys, [guarded(k) for k in keys])
                stats["pairs_in_large_blocks"] += n * (n - 1) // 2
                rows, cols = np.nonzero(np.triu(weights >= floor, 1))
                block_pairs: Iterable[tuple[int, int]] = zip(rows.tolist(), cols.tolist(), strict=True)
            else:
                block_pairs = ((i, j) for i in range(n) for j in range(i + 1, n))
            for i, j in block_pairs:
                ki, kj = keys[i], keys[j]
                if roots[i] == roots[j]:
                    continue
                if link_only and prep[ki].source == prep[kj].source:
                    continue
                a, b = (ki, kj) if rank[ki] <= rank[kj] else (kj, ki)
                if (a, b) in seen:
                    continue
                seen.add((a, b))
                stats["pairs_scored"] += 1
                if progress is not None and stats["pairs_scored"] % 50_000 == 0:
                    progress(stats["pairs_scored"])
                pr = probability(a, b)
                if pr >= prob.upper and prob.require_name and not names_agree(prep[a], prep[b], established, given_as):
                    # require_name: a human decides every probable match without agreeing names.
                    held = (
                        "held for review: first names differ (require_name)"
                        if names_conflict(prep[a], prep[b], established)
                        else "held for review: a name is missing (require_name)"
                    )
                    review_candidates.append((pr, a, b, held))
                elif pr >= prob.upper:
                    ordered.append(((3, -pr, rank[a], rank[b]), Edge(a, b, "probabilistic", "fellegi-sunter", pr, [])))
                elif pr >= prob.lower:
                    review_candidates.append((pr, a, b, "probable match below the auto-link threshold"))

    ordered.sort(key=lambda item: item[0])
    clusters = _Clusters(prep, rules, dnl, established)
    accepted: list[Edge] = []
    reviews: list[ReviewItem] = []
    for _, edge in ordered:
        ra, rb = clusters.find(edge.a), clusters.find(edge.b)
        if ra != rb:
            guard = (
                prob.name_guard is not None
                if edge.kind == "probabilistic"
                else edge.kind == "deterministic" and by_kind[edge.rule.split("+")[0]].name_guard
            )
            why = clusters.refusal(ra, rb, manual=edge.kind == "manual", guard_names=guard)
            if why is None and edge.kind == "probabilistic":
                why = _weakest_link(clusters, ra, rb, rules, model, prep, hubs, by_kind, given_as)
            if why is not None:
                if why != "do-not-link":
                    reviews.append(
                        ReviewItem(edge.a, edge.b, why, edge.score, _evidence(rules, model, prep, edge, hubs, given_as))
                    )
                continue
            clusters.union(ra, rb)
        elif edge.kind != "manual":
            continue  # already connected: the edge decides nothing (the graph keeps a spanning forest)
        if edge.kind == "probabilistic":
            edge.evidence = _evidence(rules, model, prep, edge, hubs, given_as)
        accepted.append(edge)
    for pr, a, b, reason in sorted(review_candidates, key=lambda t: (-t[0], rank[t[1]], rank[t[2]])):
        if clusters.find(a) != clusters.find(b) and b not in dnl.get(a, ()):
            edge = Edge(a, b, "probabilistic", "fellegi-sunter", pr, [])
            reviews.append(ReviewItem(a, b, reason, pr, _evidence(rules, model, prep, edge, hubs, given_as)))

    groups: dict[str, list[str]] = defaultdict(list)
    for k in prep:
        groups[clusters.find(k)].append(k)
    ordered_clusters = sorted((sorted(g) for g in groups.values()), key=lambda g: g[0])
    stats["records"] = len(prep)
    stats["candidate_edges"] = len(ordered)
    return Resolution(
        clusters=ordered_clusters,
        edges=accepted,
        reviews=_dedupe_reviews(reviews, clusters.find),
        hubs=hubs,
        stats=dict(stats),
    )


def shared_edges(
    rule: IdentifierRule,
    value: str,
    keys: list[str],
    prep: Mapping[str, Prepared],
    rank: Mapping[str, int],
    ordered: list[tuple[tuple[Any, ...], Edge]],
    established: frozenset[str] = frozenset(),
    given_as: Mapping[str, str] | None = None,
) -> None:
    """Edges through a blocklisted or hub value held by a small group: only between agreeing full names.

    A company's info@ address or a front-desk phone says "someone at this company"; the same full name
    on both records makes it the same person. Their sort key puts them after the trusted identifiers.
    """
    if rule.shared_max_names is None:
        return
    names = {prep[k].name_key for k in keys if prep[k].name_key}
    if len(names) > rule.shared_max_names or len(keys) > 20 * rule.shared_max_names:
        return  # a placeholder used across the data set, not a group's shared value
    named = sorted((k for k in keys if prep[k].last_name and prep[k].first_name), key=rank.__getitem__)
    for i, a in enumerate(named):
        for b in named[i + 1 :]:
            if full_names_agree(prep[a], prep[b], established, given_as):
                evidence = [
                    {
                        "field": rule.kind,
                        "left": value,
                        "right": value,
                        "level": "shared value (blocklisted or hub), full names agree",
                        "names": [
                            f"{prep[a].first_name} {prep[a].last_name}",
                            f"{prep[b].first_name} {prep[b].last_name}",
                        ],
                    }
                ]
                edge = Edge(a, b, "deterministic", f"{rule.kind}+name", 1.0, evidence)
                ordered.append(((2, rule.priority, rank[a], rank[b], rule.kind), edge))


def _weakest_link(
    clusters: _Clusters,
    ra: str,
    rb: str,
    rules: IdentityRules,
    model: FSModel,
    prep: Mapping[str, Prepared],
    hubs: set[tuple[str, str]],
    by_kind: Mapping[str, IdentifierRule],
    given_as: Mapping[str, str] | None = None,
) -> str | None:
    """Chain guard for probable matches: a record of one side that clearly contradicts a record of the other
    (score below `conflict_below` on at least two compared fields) refuses the join, or one good pair would
    weld two people together — unless the cross pairs taken together reach the auto-link weight (average
    linkage: their weights, in log odds, sum to at least that of `upper`). One badly damaged record (another
    given name, another date of birth) then does not keep apart records that every other pair says are one
    person, while a look-alike joining two people who each have clean records is outweighed by those
    records' disagreements. Weak agreement is not a contradiction: a help-desk ticket with only a name and an
    email says little either way about an order under a shared company address."""
    below = rules.probabilistic.conflict_below
    # The weight at which a pair's probability falls below `conflict_below` (0: nothing is a conflict).
    floor = math.log2(below / (1 - below)) if below > 0 else -math.inf
    conflict: str | None = None
    total = 0.0
    for x in clusters.members[ra]:
        gx = _guarded(prep[x], hubs, by_kind, given_as)
        for y in clusters.members[rb]:
            weight, compared = weight_and_coverage(rules, model, gx, _guarded(prep[y], hubs, by_kind, given_as))
            if compared < 2:
                continue
            total += weight
            if conflict is None and weight < floor:
                conflict = f"conflicts with another record of the customer ({x} vs {y})"
    upper = rules.probabilistic.upper
    return conflict if conflict is not None and total < math.log2(upper / (1 - upper)) else None


def _guarded(
    p: Prepared,
    hubs: set[tuple[str, str]],
    by_kind: Mapping[str, IdentifierRule],
    given_as: Mapping[str, str] | None = None,
) -> dict[str, str | None]:
    """Comparison values with blocked and hub identifier values hidden (a shared info@ is no evidence),
    plus the given name the record stands for in its household where that is not its own."""
    out = p.values
    if given_as and p.key in given_as:
        out = {**out, GIVEN_AS_KEY: given_as[p.key]}
    for name, value in p.values.items():
        rule = by_kind.get(name)
        if value is None or rule is None:
            continue
        norm = normalize_identifier(rule, value) or value
        if rule.is_blocked(norm) or (name, norm) in hubs:
            out = dict(out) if out is p.values else out
            out[name] = None
    return out


def _evidence(
    rules: IdentityRules,
    model: FSModel,
    prep: Mapping[str, Prepared],
    edge: Edge,
    hubs: set[tuple[str, str]],
    given_as: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    if edge.kind != "probabilistic":
        return edge.evidence
    by_kind = {r.kind: r for r in rules.identifiers}
    score = score_pair(
        rules,
        model,
        _guarded(prep[edge.a], hubs, by_kind, given_as),
        _guarded(prep[edge.b], hubs, by_kind, given_as),
    )
    return [{"field": "prior", "bits": round(score.prior_bits, 3)}] + [
        {
            "field": c.field,
            "level": c.level,
            "left": c.left,
            "right": c.right,
            "bits": round(c.bits, 3),
            "tf": c.tf_adjusted,
        }
        for c in score.contributions
    ]


def _dedupe_reviews(reviews: list[ReviewItem], find: Any) -> list[ReviewItem]:
    """One review item per pair of resulting customers (the first raised, i.e. the strongest reason)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for item in reviews:
        ra, rb = find(item.a), find(item.b)
        if ra == rb:
            continue
        pair = (ra, rb) if ra <= rb else (rb, ra)
        if pair not in seen:
            seen.add(pair)
            out.append(item)
    return out
