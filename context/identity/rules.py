"""Identity rules: identifier types, guards, comparison fields and thresholds (pydantic, loadable from YAML).

Example (see docs/identity.md for every key)::

    source_priority: [crm, stripe, shopify]      # tie-breaks: earlier = preferred
    identifiers:
      - kind: email                              # identifier kind (DB) / attribute name (CSV)
        priority: 1                              # lower = decided first
        limit: 5                                 # distinct values one customer may hold
        blocklist: ["info@*", "support@*"]       # glob patterns on the normalized value
        hub_max_names: 2                         # shared by more distinct names => hub, ignored
      - {kind: stripe_customer, priority: 0, limit: 1}
    probabilistic:
      fields:
        - {name: first_name, compare: name, tf: true}
        - {name: last_name, compare: name, tf: true}
        - {name: postcode, compare: exact}
      blocking: [[last_name, postcode], [first_name, last_name]]
      upper: 0.99                                # auto-link at or above
      lower: 0.9                                 # review queue between lower and upper
"""

from __future__ import annotations

import fnmatch
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, model_validator

from context.errors import validation_problems
from context.identity.errors import RulesError

Normalizer = Literal["email", "phone", "text", "id"]
CompareKind = Literal["exact", "name", "fuzzy", "dl", "date"]
# Default thresholds per comparison kind (Jaro-Winkler for name/fuzzy, edit distance for dl), as Splink's
# NameComparison, JaroWinklerAtThresholds and DamerauLevenshteinAtThresholds use them.
DEFAULT_THRESHOLDS: dict[str, list[float]] = {"name": [0.92, 0.88, 0.7], "fuzzy": [0.92, 0.8], "dl": [1, 2]}

# Role and placeholder mailboxes. Whole domains such as example.com are deliberately not listed: demo and
# test data use them for real-looking people, and a blocklist hit silently drops the strongest evidence.
DEFAULT_EMAIL_BLOCKLIST = [
    "info@*",
    "support@*",
    "help@*",
    "hello@*",
    "contact@*",
    "sales@*",
    "admin@*",
    "office@*",
    "noreply@*",
    "no-reply@*",
    "donotreply@*",
    "do-not-reply@*",
    "test@*",
    "example@*",
    "*@mailinator.com",
    "none@*",
    "na@*",
    "null@*",
]
DEFAULT_PHONE_BLOCKLIST = ["*0000000*", "*1111111*", "*1234567*", "*5555555*", "*9999999*"]


class IdentifierRule(BaseModel):
    """One identifier type used for deterministic links."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1, max_length=64)
    # Attribute holding the value on a plain record; defaults to `kind`.
    field: str | None = None
    normalize: Normalizer = "id"
    priority: int = 10
    limit: int | None = Field(default=None, ge=1)
    blocklist: list[str] = Field(default_factory=list)
    # A value held by records with more than this many distinct names is a hub and never links.
    hub_max_names: int | None = Field(default=3, ge=1)
    # Link only records whose names agree (both named; compatible first names, similar last names):
    # for identifiers people share at home or at work, such as a landline.
    require_name: bool = False
    # Email only: 'ann+tea@x.com' is the mailbox 'ann@x.com' (sub-addressing), so both link.
    strip_plus_tag: bool = True
    # A blocklisted or hub value held by at most this many distinct names (a company's info@, a front
    # desk phone) still links records whose full names agree: colleagues are told apart by name, and the
    # same full name behind the same small shared mailbox is one person. Larger groups (placeholders such
    # as test@ or 000-0000 shared across the whole data set) never link. None: never.
    shared_max_names: int | None = Field(default=None, ge=2)
    # First names of the two customers must be compatible (typos, initials, nicknames, swapped given and
    # family names) before this identifier joins them: families share mailboxes and phones. Turn it off
    # for an id issued to one person (a national id, a membership number).
    name_guard: bool = True
    # Values within one edit (Damerau-Levenshtein 1) of a value the other side holds count as the same
    # value for `limit`: a typo in a hand-entered id is not a second id. Off by default because issued ids
    # are often sequential (C-300 and C-301 are two customers).
    limit_ignores_typos: bool = False

    @property
    def attribute(self) -> str:
        """The attribute name on a plain record."""
        return self.field or self.kind

    @cached_property
    def _blocklist_regex(self) -> re.Pattern[str] | None:
        if not self.blocklist:
            return None
        return re.compile("|".join(f"(?:{fnmatch.translate(p.lower())})" for p in self.blocklist))

    def is_blocked(self, value: str) -> bool:
        """Whether a normalized value matches the blocklist."""
        regex = self._blocklist_regex
        return bool(regex and regex.match(value.lower()))


class ComparisonField(BaseModel):
    """One attribute compared by the probabilistic scorer (levels: `context.identity.comparisons`)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    compare: CompareKind = "exact"
    # Jaro-Winkler thresholds (`name`, `fuzzy`) or edit distances (`dl`); defaults per kind in
    # DEFAULT_THRESHOLDS. Exact match is always its own level; `exact` and `date` take none.
    thresholds: list[float] | None = None
    tf: bool = False
    # `name` only: a level for nicknames (Robert/Bob; default on for the given-name field only), one for
    # initials (J/John), and one for a value equal to the other record's `swap_with` field (given and
    # family name exchanged). `swap_with` defaults to the other name field when both are compared.
    nicknames: bool = True
    initials: bool = True
    swap_with: str | None = None
    # Prior m and u per non-null level, best level first (see `levels` in docs/identity.md). Documented
    # defaults apply when omitted.
    m: list[float] | None = None
    u: list[float] | None = None

    @model_validator(mode="after")
    def _levels_consistent(self) -> ComparisonField:
        if self.compare in ("exact", "date") and self.thresholds:
            raise ValueError(f"field {self.name!r}: compare {self.compare!r} takes no thresholds")
        if self.compare == "dl" and self.thresholds and any(t < 1 or t != int(t) for t in self.thresholds):
            raise ValueError(f"field {self.name!r}: dl thresholds are whole edit counts (1, 2, ...)")
        if self.compare in ("name", "fuzzy") and self.thresholds and any(not 0 < t < 1 for t in self.thresholds):
            raise ValueError(f"field {self.name!r}: Jaro-Winkler thresholds lie between 0 and 1")
        if self.swap_with is not None and self.compare != "name":
            raise ValueError(f"field {self.name!r}: swap_with needs compare: name")
        return self

    @property
    def level_thresholds(self) -> list[float]:
        """The thresholds in effect (the kind's defaults when none are given)."""
        if self.compare in ("exact", "date"):
            return []
        return sorted(
            self.thresholds if self.thresholds is not None else DEFAULT_THRESHOLDS[self.compare],
            reverse=self.compare != "dl",
        )

    @property
    def n_levels(self) -> int:
        """Number of non-null levels."""
        from context.identity.comparisons import levels_of

        return len(levels_of(self))

    def check_priors(self) -> None:
        """Raise when m/u overrides do not give one value in (0, 1] per level."""
        n_levels = self.n_levels
        for name in ("m", "u"):
            values = getattr(self, name)
            if values is not None:
                if len(values) != n_levels:
                    raise ValueError(f"field {self.name!r}: {name} needs {n_levels} values (one per level)")
                if any(not 0 < v <= 1 for v in values):
                    raise ValueError(f"field {self.name!r}: {name} values must be in (0, 1]")


class ProbabilisticRules(BaseModel):
    """The probabilistic (Fellegi–Sunter) fallback."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    fields: list[ComparisonField] = Field(default_factory=list)
    blocking: list[list[str]] = Field(default_factory=list)
    max_block_size: int = Field(default=200, ge=2)
    # 0.99: on the demo data (10k customers, with and without the household stress set) every pair scored
    # 0.99-0.995 was a true match (spelling variants such as Sara/Sarah, one-letter typos).
    upper: float = Field(default=0.99, gt=0, lt=1)
    lower: float = Field(default=0.9, gt=0, lt=1)
    prior_match_probability: float = Field(default=1e-4, gt=0, lt=1)
    # Hard chain guard for probable matches (off by default: names are evidence with learned weights, and
    # `conflict_below` is the chain guard): when set (any value, e.g. `given_name`), every first name of
    # one cluster must be compatible with every first name of the other before a probable match joins them.
    name_guard: str | None = None
    # A probable match is refused when some record of one side scores below this against some record of
    # the other (on at least two compared fields): the two sides contradict each other.
    conflict_below: float = Field(default=0.01, ge=0, lt=1)
    # Hold a probable match for review when a given name is missing on either side or the first names are
    # incompatible, however strong the rest (off by default: names are evidence, and `household_fields`
    # keeps housemates apart).
    require_name: bool = False
    # Fields a household shares (family name, address parts, landline). When the given names differ or one
    # is missing, these fields count as one piece of evidence (the strongest of them), not one each: a
    # shared surname, street and postcode say "same household", not "same person". Default: the family
    # name field and `address_fields` that are compared.
    household_fields: list[str] | None = None

    @model_validator(mode="after")
    def _check(self) -> ProbabilisticRules:
        if self.lower > self.upper:
            raise ValueError("lower threshold must not exceed upper")
        known = {f.name for f in self.fields}
        for block in self.blocking:
            if not block:
                raise ValueError("empty blocking rule")
            # Blocking on identifier attributes is allowed: unknown names are checked against the input.
        if len(known) != len(self.fields):
            raise ValueError("duplicate comparison field names")
        for f in self.fields:
            if f.swap_with is not None and f.swap_with not in known:
                raise ValueError(f"field {f.name!r}: swap_with {f.swap_with!r} is not a comparison field")
        unknown = sorted(set(self.household_fields or []) - known)
        if unknown:
            raise ValueError(f"household_fields {unknown} are not comparison fields")
        return self


class IdentityRules(BaseModel):
    """All rules of identity resolution."""

    model_config = ConfigDict(extra="forbid")

    identifiers: list[IdentifierRule] = Field(default_factory=list)
    probabilistic: ProbabilisticRules = Field(default_factory=ProbabilisticRules)
    source_priority: list[str] = Field(default_factory=list)
    # Columns naming the person (hub guard, name guard, swapped names, households). `first_name_field` and
    # `last_name_field` are accepted as older spellings. None: the data has no such column.
    given_name_field: str | None = Field(
        default="first_name", validation_alias=AliasChoices("given_name_field", "first_name_field")
    )
    family_name_field: str | None = Field(
        default="last_name", validation_alias=AliasChoices("family_name_field", "last_name_field")
    )
    full_name_field: str | None = "full_name"
    # The date of birth (estimates the prior together with the names) and the address columns (the
    # default household fields).
    date_of_birth_field: str | None = None
    address_fields: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_kinds(self) -> IdentityRules:
        kinds = [i.kind for i in self.identifiers]
        dupes = sorted({k for k in kinds if kinds.count(k) > 1})
        if dupes:
            raise ValueError(f"duplicate identifier kinds {dupes}")
        fields = {f.name: f for f in self.probabilistic.fields}
        given, family = fields.get(self.given_name_field or ""), fields.get(self.family_name_field or "")
        if given is not None and family is not None and given.compare == family.compare == "name":
            # Given and family names exchanged are a level of both comparisons unless the rules say otherwise.
            if given.swap_with is None and "swap_with" not in given.model_fields_set:
                given.swap_with = family.name
            if family.swap_with is None and "swap_with" not in family.model_fields_set:
                family.swap_with = given.name
        for f in fields.values():
            # Nickname groups hold given names: a nickname level on any other field is noise by default.
            if f.compare == "name" and f.name != self.given_name_field and "nicknames" not in f.model_fields_set:
                f.nicknames = False
            f.check_priors()
        return self

    @property
    def first_name_field(self) -> str | None:
        """Older name of `given_name_field`."""
        return self.given_name_field

    @property
    def last_name_field(self) -> str | None:
        """Older name of `family_name_field`."""
        return self.family_name_field

    @property
    def household(self) -> list[str]:
        """The household fields in effect (see `ProbabilisticRules.household_fields`)."""
        known = [f.name for f in self.probabilistic.fields]
        if self.probabilistic.household_fields is not None:
            return list(self.probabilistic.household_fields)
        wanted = {self.family_name_field, *self.address_fields}
        return [f for f in known if f in wanted]

    def referenced_columns(self) -> dict[str, str]:
        """Every input column the rules read, with the rules key that names it (for checking inputs)."""
        out: dict[str, str] = {}
        for i, rule in enumerate(self.identifiers):
            out.setdefault(rule.attribute, f"identifiers[{i}] ({rule.kind})")
        for f in self.probabilistic.fields:
            out.setdefault(f.name, f"probabilistic.fields ({f.name})")
        for b in self.probabilistic.blocking:
            for name in b:
                out.setdefault(name, f"probabilistic.blocking {b}")
        for key in ("date_of_birth_field",):
            value = getattr(self, key)
            if value:
                out.setdefault(value, key)
        for name in self.address_fields:
            out.setdefault(name, "address_fields")
        return out

    def identifier(self, kind: str) -> IdentifierRule | None:
        """The rule of an identifier kind, if configured."""
        for rule in self.identifiers:
            if rule.kind == kind:
                return rule
        return None

    def source_rank(self, source: str) -> int:
        """Position of a source in `source_priority` (unlisted sources come after, equal)."""
        try:
            return self.source_priority.index(source)
        except ValueError:
            return len(self.source_priority)


def default_rules() -> IdentityRules:
    """Rules for the canonical customer schema (emails, phones, Stripe/Shopify/CRM/help-desk ids, names, places)."""
    return IdentityRules(
        identifiers=[
            # A person may re-subscribe under a new Stripe customer, hold two shop accounts or be
            # entered twice in the CRM or help desk, so the limits are small but not 1.
            IdentifierRule(kind="stripe_customer", priority=0, limit=3, hub_max_names=None),
            IdentifierRule(kind="shopify_customer", priority=0, limit=2, hub_max_names=None),
            IdentifierRule(kind="crm_contact", priority=0, limit=5, hub_max_names=None),
            IdentifierRule(kind="zendesk_user", priority=0, limit=3, hub_max_names=None),
            IdentifierRule(kind="intercom_contact", priority=0, limit=3, hub_max_names=None),
            IdentifierRule(
                kind="email",
                normalize="email",
                priority=1,
                limit=5,
                blocklist=DEFAULT_EMAIL_BLOCKLIST,
                hub_max_names=2,
                shared_max_names=8,
            ),
            IdentifierRule(
                kind="phone",
                normalize="phone",
                priority=2,
                limit=3,
                blocklist=DEFAULT_PHONE_BLOCKLIST,
                hub_max_names=2,
                require_name=True,  # households share a phone
                shared_max_names=8,
            ),
        ],
        probabilistic=ProbabilisticRules(
            fields=[
                ComparisonField(name="first_name", compare="name", tf=True),
                ComparisonField(name="last_name", compare="name", tf=True),
                ComparisonField(name="company", compare="fuzzy", tf=True),
                ComparisonField(name="postcode", compare="exact"),
                ComparisonField(name="city", compare="exact", tf=True),
                ComparisonField(name="address", compare="fuzzy"),
                ComparisonField(name="phone", compare="exact"),
                ComparisonField(name="email", compare="exact"),
            ],
            blocking=[
                ["last_name", "postcode"],
                ["first_name", "last_name"],
                ["last_name", "company"],
                ["first_name", "postcode"],
                ["phone"],
                ["address"],
            ],
            # Housemates share these; colleagues share the company and its address.
            household_fields=["last_name", "company", "postcode", "city", "address", "phone"],
        ),
        address_fields=["address", "postcode", "city"],
    )


def parse_rules(data: dict[str, Any], *, origin: str = "rules") -> IdentityRules:
    """Validate a rules mapping, with errors naming the origin and key."""
    try:
        return IdentityRules.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc)
        raise RulesError(f"{origin}: {problems}") from exc


def load_rules(path: Path) -> IdentityRules:
    """Load rules from a YAML file: a rules mapping, or a contextdesk.yaml with an `identity:` section."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RulesError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        raise RulesError(f"{path}: invalid YAML: {exc}") from exc
    if data is None:
        return default_rules()
    if not isinstance(data, dict):
        raise RulesError(f"{path}: expected a mapping at the top level")
    if "sources" in data:  # a contextdesk.yaml: rules live under `identity:`
        section = data.get("identity")
        return default_rules() if section is None else parse_rules(section, origin=f"{path}: identity")
    return parse_rules(data, origin=str(path))
