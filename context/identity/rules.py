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
      upper: 0.995                               # auto-link at or above
      lower: 0.9                                 # review queue between lower and upper
"""

from __future__ import annotations

import fnmatch
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from context.identity.errors import RulesError

Normalizer = Literal["email", "phone", "text", "id"]
CompareKind = Literal["exact", "name", "fuzzy"]

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
    """One attribute compared by the probabilistic scorer."""

    model_config = ConfigDict(extra="forbid")

    name: str
    compare: CompareKind = "exact"
    # Jaro-Winkler thresholds for `name`/`fuzzy` levels (exact match is always its own level).
    thresholds: list[float] = Field(default_factory=lambda: [0.92, 0.8])
    tf: bool = False
    # Prior m and u per level, best level first, excluding the null level:
    # exact, each threshold, else. Documented defaults apply when omitted.
    m: list[float] | None = None
    u: list[float] | None = None

    @model_validator(mode="after")
    def _levels_consistent(self) -> ComparisonField:
        if self.compare == "exact":
            self.thresholds = []
        n_levels = 2 + len(self.thresholds)
        for name in ("m", "u"):
            values = getattr(self, name)
            if values is not None:
                if len(values) != n_levels:
                    raise ValueError(f"field {self.name!r}: {name} needs {n_levels} values (one per level)")
                if any(not 0 < v <= 1 for v in values):
                    raise ValueError(f"field {self.name!r}: {name} values must be in (0, 1]")
        return self

    @property
    def n_levels(self) -> int:
        """Number of non-null levels."""
        return 2 + len(self.thresholds)


class ProbabilisticRules(BaseModel):
    """The probabilistic (Fellegi–Sunter) fallback."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    fields: list[ComparisonField] = Field(default_factory=list)
    blocking: list[list[str]] = Field(default_factory=list)
    max_block_size: int = Field(default=200, ge=2)
    upper: float = Field(default=0.995, gt=0, lt=1)
    lower: float = Field(default=0.9, gt=0, lt=1)
    prior_match_probability: float = Field(default=1e-4, gt=0, lt=1)
    # Fields whose first names must be compatible before two clusters may merge (chain guard).
    name_guard: str | None = "first_name"
    # A probable match is refused when some record of one side scores below this against some record of
    # the other (on at least two compared fields): the two sides contradict each other.
    conflict_below: float = Field(default=0.01, ge=0, lt=1)
    # Auto-link a probable match only when both records carry compatible names: a shared address,
    # postcode or company also fits housemates and colleagues (such pairs go to review instead).
    require_name: bool = True

    @model_validator(mode="after")
    def _check(self) -> ProbabilisticRules:
        if self.lower > self.upper:
            raise ValueError("lower threshold must not exceed upper")
        known = {f.name for f in self.fields}
        for block in self.blocking:
            if not block:
                raise ValueError("empty blocking rule")
            # Blocking on identifier attributes is allowed, so unknown names are only checked for typos later.
        if len(known) != len(self.fields):
            raise ValueError("duplicate comparison field names")
        return self


class IdentityRules(BaseModel):
    """All rules of identity resolution."""

    model_config = ConfigDict(extra="forbid")

    identifiers: list[IdentifierRule] = Field(default_factory=list)
    probabilistic: ProbabilisticRules = Field(default_factory=ProbabilisticRules)
    source_priority: list[str] = Field(default_factory=list)
    # Attributes naming the person, used by the hub guard and the name guard.
    first_name_field: str = "first_name"
    last_name_field: str = "last_name"
    full_name_field: str = "full_name"

    @model_validator(mode="after")
    def _unique_kinds(self) -> IdentityRules:
        kinds = [i.kind for i in self.identifiers]
        dupes = sorted({k for k in kinds if kinds.count(k) > 1})
        if dupes:
            raise ValueError(f"duplicate identifier kinds {dupes}")
        return self

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
    """Rules for the canonical customer schema (emails, phones, Stripe/Shopify/CRM ids, names, places)."""
    return IdentityRules(
        identifiers=[
            # A person may re-subscribe under a new Stripe customer, hold two shop accounts or be
            # entered twice in the CRM or help desk, so the limits are small but not 1.
            IdentifierRule(kind="stripe_customer", priority=0, limit=3, hub_max_names=None),
            IdentifierRule(kind="shopify_customer", priority=0, limit=2, hub_max_names=None),
            IdentifierRule(kind="crm_contact", priority=0, limit=5, hub_max_names=None),
            IdentifierRule(kind="zendesk_user", priority=0, limit=3, hub_max_names=None),
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
        ),
    )


def parse_rules(data: dict[str, Any], *, origin: str = "rules") -> IdentityRules:
    """Validate a rules mapping, with errors naming the origin and key."""
    try:
        return IdentityRules.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors(include_url=False)
        )
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
