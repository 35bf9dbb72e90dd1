"""Comparison levels: one definition evaluated in Python (scoring) and in SQL (Splink on DuckDB or Spark).

Each comparison field has an ordered list of levels, best first; a pair takes the first level whose
condition holds (as Splink's CASE WHEN does), after the null level (either side missing). The kinds:

* `exact`: exact, else.
* `fuzzy`: exact, Jaro-Winkler >= each threshold, else.
* `name`: exact, swapped (the value equals the other record's `swap_with` field: given and family
  name exchanged), nickname (same nickname group: Robert/Bob), with term frequencies a typo level
  (Jaro-Winkler >= the lowest threshold of at least 0.88 and at least one side not a common value: Abgail/Abigail, not
  Julia/Julian), Jaro-Winkler >= each threshold of at least 0.88, initial (one side is a single letter, the
  other starts with it), the lower thresholds, else.
* `dl`: exact, Damerau-Levenshtein distance <= each threshold (typos and adjacent transpositions in ids,
  postcodes, house numbers), else.
* `date`: exact, one typo or adjacent transposition (Damerau-Levenshtein <= 1 on YYYYMMDD), day and month
  swapped, Damerau-Levenshtein <= 2, else.

The same level list produces the Splink `CustomComparison` whose trained m/u are read back per level, so
Python scores exactly what Splink estimated.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from context.identity.rules import ComparisonField

# First names that are the same person although their spellings are far apart.
NICKNAMES = [
    {"robert", "rob", "bob", "bobby", "robbie"},
    {"william", "will", "bill", "billy", "liam", "willy"},
    {"elizabeth", "liz", "beth", "eliza", "betty", "lizzie"},
    {"katherine", "catherine", "kate", "kathy", "cathy", "katie", "kathryn"},
    {"michael", "mike", "mick", "mikey"},
    {"james", "jim", "jimmy", "jamie"},
    {"richard", "rick", "dick", "rich", "ricky"},
    {"margaret", "maggie", "peggy", "meg"},
    {"alexander", "alex", "sasha"},
    {"alexandra", "alex", "sasha", "lexi"},
    {"jennifer", "jen", "jenny"},
    {"thomas", "tom", "tommy"},
    {"christopher", "chris", "kit"},
    {"christine", "chris", "christina", "tina"},
    {"daniel", "dan", "danny"},
    {"joseph", "joe", "joey"},
    {"edward", "ed", "eddie", "ted", "ned"},
    {"susan", "sue", "suzy"},
    {"anthony", "tony"},
    {"patricia", "pat", "patty", "trish"},
    {"patrick", "pat", "paddy"},
    {"samuel", "sam", "sammy"},
    {"samantha", "sam", "sammy"},
    {"benjamin", "ben", "benny"},
    {"nicholas", "nick", "nicky"},
    {"matthew", "matt"},
    {"andrew", "andy", "drew"},
    {"stephen", "steven", "steve"},
    {"rebecca", "becky", "becca"},
    {"deborah", "debbie", "deb"},
    {"jonathan", "jon", "jonny"},
    {"john", "jack", "johnny"},
    {"charles", "charlie", "chuck"},
    {"david", "dave", "davy"},
    {"joshua", "josh"},
    {"jessica", "jess", "jessie"},
    {"victoria", "vicky", "tori"},
    {"timothy", "tim", "timmy"},
    {"zachary", "zach", "zack"},
    {"gregory", "greg"},
    {"jacob", "jake"},
    {"lawrence", "larry"},
    {"abigail", "abby"},
    {"madeline", "maddie", "madeleine"},
    {"isabella", "bella", "izzy", "isabelle"},
    # Spelling variants of one name (both common, so the data alone would call them two names).
    {"sarah", "sara"},
    {"brian", "bryan"},
    {"mohammed", "muhammad", "mohammad", "mohamed"},
    {"geoffrey", "jeffrey", "geoff", "jeff"},
    {"philip", "phillip", "phil"},
    {"alan", "allan", "allen", "al"},
    {"ann", "anne", "anna"},
    {"nicola", "nikola", "nicole", "nikki"},
    {"louis", "lewis", "luis"},
]
_NICK: dict[str, set[str]] = defaultdict(set)
for _group in NICKNAMES:
    for _name in _group:
        _NICK[_name] |= _group


def nicknames_of(name: str) -> set[str]:
    """The names in any nickname group of a cleaned first name (empty when it is in none)."""
    return _NICK.get(name, set())


# Group numbers per name: two names are nicknames of each other only when one group holds both. A name in
# two groups (alex: alexander and alexandra; pat: patricia and patrick) joins neither group to the other —
# Patricia and Patrick are housemates, not one person.
_GROUPS: dict[str, frozenset[int]] = {}
for _i, _group in enumerate(NICKNAMES):
    for _name in _group:
        _GROUPS[_name] = _GROUPS.get(_name, frozenset()) | {_i}


def same_nickname_group(a: str, b: str) -> bool:
    """Whether one nickname group holds both cleaned first names."""
    ga = _GROUPS.get(a)
    return ga is not None and not ga.isdisjoint(_GROUPS.get(b, ()))


@lru_cache(maxsize=1 << 16)
def nickname_key(name: str | None) -> str | None:
    """The nickname groups of a name as text (',3,17,'), for the SQL form of the nickname level (None: none)."""
    if not name:
        return None
    groups = _GROUPS.get(name)
    return "," + ",".join(str(g) for g in sorted(groups)) + "," if groups else None


_DIGITS8 = re.compile(r"^\d{8}$")


@lru_cache(maxsize=1 << 16)
def day_month_swapped(value: str | None) -> str | None:
    """YYYYMMDD with day and month exchanged (YYYYDDMM), None for anything else."""
    if not value or not _DIGITS8.match(value):
        return None
    return value[:4] + value[6:8] + value[4:6]


_DATE_SEP = re.compile(r"^(\d{4})\D(\d{1,2})\D(\d{1,2})")


def clean_date(value: str) -> str | None:
    """A date as YYYYMMDD: from YYYYMMDD or ISO YYYY-MM-DD(THH:MM...); other text keeps only its digits."""
    text = value.strip()
    m = _DATE_SEP.match(text)
    if m:
        return f"{m.group(1)}{int(m.group(2)):02d}{int(m.group(3)):02d}"
    digits = re.sub(r"\D", "", text)
    return digits or None


@lru_cache(maxsize=1 << 18)
def damerau_levenshtein(a: str, b: str) -> int:
    """Unrestricted Damerau-Levenshtein distance (adjacent transpositions cost 1), as DuckDB computes it."""
    if a == b:
        return 0
    la, lb = len(a), len(b)
    if not la or not lb:
        return max(la, lb)
    big = la + lb
    last_row: dict[str, int] = {}
    # d has a sentinel row/column (index 0) holding `big`.
    d = [[big] * (lb + 2) for _ in range(la + 2)]
    for i in range(la + 1):
        d[i + 1][1] = i
    for j in range(lb + 1):
        d[1][j + 1] = j
    for i in range(1, la + 1):
        last_col = 0
        for j in range(1, lb + 1):
            i1 = last_row.get(b[j - 1], 0)
            j1 = last_col
            cost = 0 if a[i - 1] == b[j - 1] else 1
            if cost == 0:
                last_col = j
            d[i + 1][j + 1] = min(
                d[i][j] + cost,
                d[i + 1][j] + 1,
                d[i][j + 1] + 1,
                d[i1][j1] + (i - i1 - 1) + 1 + (j - j1 - 1),
            )
        last_row[a[i - 1]] = i
    return d[la + 1][lb + 1]


@lru_cache(maxsize=1 << 18)
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


def jw(a: str, b: str) -> float:
    """Symmetric Jaro-Winkler (one cache entry per unordered pair)."""
    return jaro_winkler(a, b) if a <= b else jaro_winkler(b, a)


def dl(a: str, b: str) -> int:
    """Symmetric Damerau-Levenshtein (one cache entry per unordered pair)."""
    return damerau_levenshtein(a, b) if a <= b else damerau_levenshtein(b, a)


def first_names_compatible(a: str, b: str, established: frozenset[str] = frozenset(), *, strict: bool = False) -> bool:
    """Whether two cleaned first names may belong to one person: equal, an initial, a nickname or a typo.

    Housemates are often named alike (Patricia/Patrick, Julian/Julia), so a similar-looking name alone
    is not enough. With `established` names (each common in the data, see `scoring.established_names`)
    the data tells the two apart: two established names are two names, while a rare spelling close to a
    name (Jaro-Winkler >= 0.8: jshua, joshhua) is a typo, since a typo rarely makes a name many other people
    carry. Without them (small data, no term frequencies), or `strict` (the scorer deciding whether
    household fields count once), only one edit counts as a typo.
    """
    if a == b:
        return True
    if len(a) == 1 or len(b) == 1:
        return a[0] == b[0]
    if b in nicknames_of(a):
        return True
    if a in established and b in established:
        return False
    if established and not strict:
        return jw(a, b) >= 0.8
    distance = dl(a, b)
    if distance <= 1 and min(len(a), len(b)) >= 3:
        return True
    return distance == 2 and min(len(a), len(b)) >= 5 and jw(a, b) >= 0.95


@dataclass(frozen=True)
class Level:
    """One comparison level: its kind, parameter (threshold) and readable label."""

    kind: str  # exact | swapped | nickname | typo | jw | initial | dl | day_month | else
    param: float = 0.0
    label: str = ""


def levels_of(comp: ComparisonField) -> list[Level]:
    """The non-null levels of a comparison field, best first (the order a pair is tested in)."""
    kind = comp.compare
    out = [Level("exact", label="exact")]
    thresholds = comp.level_thresholds
    if kind == "exact":
        pass
    elif kind == "fuzzy":
        out += [Level("jw", t, f"similar (JW ≥ {t})") for t in thresholds]
    elif kind == "name":
        if comp.swap_with:
            out.append(Level("swapped", label=f"swapped with {comp.swap_with}"))
        if comp.nicknames:
            out.append(Level("nickname", label="nickname"))
        high = [t for t in thresholds if t >= 0.88]
        if comp.tf and high:
            # Two common names alike (Julia/Julian) are usually two people; a rare spelling beside a common
            # one is usually a typo. One level for both would weigh them the same: the data says otherwise.
            out.append(Level("typo", high[-1], f"typo (JW ≥ {high[-1]}, one side uncommon)"))
        out += [Level("jw", t, f"similar (JW ≥ {t})") for t in thresholds if t >= 0.88]
        if comp.initials:
            out.append(Level("initial", label="initial"))
        out += [Level("jw", t, f"similar (JW ≥ {t})") for t in thresholds if t < 0.88]
    elif kind == "dl":
        out += [Level("dl", t, f"{int(t)} edit{'s' if t > 1 else ''}") for t in thresholds]
    elif kind == "date":
        out += [
            Level("dl", 1, "one typo or transposition"),
            Level("day_month", label="day and month swapped"),
            Level("dl", 2, "two edits"),
        ]
    out.append(Level("else", label="different"))
    return out


def level_index(
    comp: ComparisonField,
    levels: list[Level],
    a: str | None,
    b: str | None,
    left: Mapping[str, str | None],
    right: Mapping[str, str | None],
    common: frozenset[str] = frozenset(),
) -> int | None:
    """The level a pair takes (index into `levels`), or None for the null level.

    `common`: the field's common values (`scoring.common_values`), for the typo level; none: every value is
    uncommon, so the typo level takes every pair at its threshold.
    """
    if a is None or b is None:
        return None
    if a == b:
        return 0
    for i, lv in enumerate(levels[1:-1], start=1):
        k = lv.kind
        if k == "jw":
            if jw(a, b) >= lv.param:
                return i
        elif k == "dl":
            if dl(a, b) <= lv.param:
                return i
        elif k == "typo":
            if not (a in common and b in common) and jw(a, b) >= lv.param:
                return i
        elif k == "swapped":
            other = comp.swap_with or ""
            if a == right.get(other) or b == left.get(other):
                return i
        elif k == "nickname":
            if same_nickname_group(a, b):
                return i
        elif k == "initial":
            if (len(a) == 1 or len(b) == 1) and a[0] == b[0]:
                return i
        elif k == "day_month" and a == day_month_swapped(b):
            return i
    return len(levels) - 1


def derived_columns(comp: ComparisonField, common: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Extra columns the Splink rows need for this field's levels: name -> function of the value."""
    kinds = {lv.kind for lv in levels_of(comp)}
    out: dict[str, Any] = {}
    if "typo" in kinds:
        out[f"{comp.name}__common"] = lambda value: int(value in common) if value is not None else None
    if "nickname" in kinds:
        out[f"{comp.name}__nick"] = nickname_key
    if "day_month" in kinds:
        out[f"{comp.name}__dm"] = day_month_swapped
    return out


# The SQL each backend needs for the custom levels: identifier quoting, the similarity functions (Splink
# registers `jaro_winkler` and `damerau_levenshtein` from its Scala jar on Spark) and the nickname-key overlap.
SqlDialect = Literal["duckdb", "spark"]
_JW = {"duckdb": "jaro_winkler_similarity", "spark": "jaro_winkler"}


def _q(column: str, dialect: SqlDialect = "duckdb") -> str:
    if dialect == "spark":
        return "`" + column.replace("`", "``") + "`"
    return '"' + column.replace('"', '""') + '"'


def _keys_overlap(left: str, right: str, dialect: SqlDialect) -> str:
    """SQL: two ',3,17,' nickname keys share a group number."""
    if dialect == "spark":
        return f"arrays_overlap(split(trim(BOTH ',' FROM {left}), ','), split(trim(BOTH ',' FROM {right}), ','))"
    return f"list_has_any(string_split(trim({left}, ','), ','), string_split(trim({right}, ','), ','))"


def splink_comparison(comp: ComparisonField, dialect: SqlDialect = "duckdb") -> Any:
    """The Splink `CustomComparison` with exactly these levels (same order), in DuckDB or Spark SQL."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    c = comp.name

    def q(column: str) -> str:
        return _q(column, dialect)

    lq, rq = q(f"{c}_l"), q(f"{c}_r")
    levels: list[Any] = [cll.NullLevel(c)]
    for lv in levels_of(comp):
        k = lv.kind
        if k == "exact":
            exact = cll.ExactMatchLevel(c)
            levels.append(exact.configure(tf_adjustment_column=c) if comp.tf else exact)
            continue
        if k == "else":
            levels.append(cll.ElseLevel())
            continue
        if k == "jw":
            sql = f"{_JW[dialect]}({lq}, {rq}) >= {lv.param}"
        elif k == "dl":
            sql = f"damerau_levenshtein({lq}, {rq}) <= {int(lv.param)}"
        elif k == "typo":
            cl_, cr_ = q(c + "__common_l"), q(c + "__common_r")
            sql = f"NOT ({cl_} = 1 AND {cr_} = 1) AND {_JW[dialect]}({lq}, {rq}) >= {lv.param}"
        elif k == "swapped":
            o = comp.swap_with or ""
            sql = f"({lq} = {q(o + '_r')} OR {rq} = {q(o + '_l')})"
        elif k == "nickname":
            sql = _keys_overlap(q(c + "__nick_l"), q(c + "__nick_r"), dialect)
        elif k == "initial":
            sql = f"(length({lq}) = 1 OR length({rq}) = 1) AND substr({lq}, 1, 1) = substr({rq}, 1, 1)"
        else:  # day_month
            sql = f"{lq} = {q(c + '__dm_r')}"
        levels.append(cll.CustomLevel(sql, label_for_charts=lv.label))
    return cl.CustomComparison(comparison_levels=levels, output_column_name=c)


# Priors per level kind: (m, u). The else level takes what is left so each side sums to one.
_LEVEL_PRIOR: dict[str, tuple[float, float]] = {
    "exact": (0.85, 0.005),
    "swapped": (0.01, 0.0005),
    "nickname": (0.01, 0.001),
    "initial": (0.01, 0.005),
    "day_month": (0.01, 0.0003),
}


def prior_levels(comp: ComparisonField) -> tuple[list[float], list[float]]:
    """Documented prior m and u per non-null level (used until Splink training replaces them)."""
    m: list[float] = []
    u: list[float] = []
    typo = False
    for lv in levels_of(comp)[:-1]:
        if lv.kind == "jw" and typo and lv.param >= 0.88:
            # Behind a typo level, these hold two common values alike (Julia/Julian): two people unless the
            # data says otherwise (EM on a block that never shows the level leaves this prior in place).
            pm, pu = 0.001, 0.003
        elif lv.kind in ("jw", "typo"):
            typo = typo or lv.kind == "typo"
            pm, pu = (0.05, 0.003) if lv.param >= 0.88 else (0.03, 0.02)
        elif lv.kind == "dl":
            pm, pu = (0.06, 0.001) if lv.param <= 1 else (0.02, 0.003)
        else:
            pm, pu = _LEVEL_PRIOR[lv.kind]
        m.append(pm)
        u.append(pu)
    m.append(max(1.0 - sum(m), 0.02))
    u.append(max(1.0 - sum(u), 0.5))
    return m, u
