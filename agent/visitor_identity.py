"""Widget identity verification: the site's backend signs who is signed in, we check the signature.

Two forms, both checked here and nowhere else:

- **user_hash** (the pattern the large chat vendors started with). Version 2, `v2=<hex>`, is
  HMAC-SHA256(secret, "contextdesk-identity:v2\\n<kind>\\n<value>"): it covers *what* is claimed — the email, or
  the site user id under the one identifier kind configured in `agent.identity.user_id_kind` — so a hash made
  for an email cannot be replayed as a user id. The original, unversioned hash (hex HMAC of the bare value,
  emails lower-cased and trimmed) is still accepted while `agent.identity.accept_unversioned_hash` is true.
- **identity_token**: an HS256 JWT with `sub` (the site user id, same binding), optional `email`, a required
  `exp`, and a `kid` header naming one of several keys (`CONTEXTDESK_IDENTITY_JWT_KEYS`), so keys can rotate.

Binding: a site user id is looked up under exactly the configured identifier kind (never emails, phones or
another source's ids); one that matches nothing is a verified person we have no records for — never someone
else. Emails go through the one email rule (context.intake.standardize.standardize_email). Anything that
fails a check is an anonymous visitor.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import jwt
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from agent.config import OWN_CUSTOMER_IDS, SiteIdentity
from context.customer_context import find_by_identifier, lookup_customer
from context.customer_context.errors import LookupInputError
from context.errors import ContextError, CustomerNotFoundError
from context.identity.service import canonical_customer_id

IdentityKind = Literal["user_id", "email", "token"]
SignedKind = Literal["user_id", "email"]
V2_PREFIX = "v2="
TOKEN_ALGORITHM = "HS256"
_DEFAULT_BINDING = SiteIdentity()


def _key(secret: SecretStr | str) -> bytes:
    return (secret.get_secret_value() if isinstance(secret, SecretStr) else secret).encode("utf-8")


def signed_message(*, kind: SignedKind, identifier: str, binding: SiteIdentity = _DEFAULT_BINDING) -> bytes:
    """The exact bytes a v2 user_hash signs: version, the claimed kind (the bound kind for user ids), the value."""
    claimed = "email" if kind == "email" else binding.user_id_kind
    return f"contextdesk-identity:v2\n{claimed}\n{identifier}".encode()


def _v1_value(kind: SignedKind, identifier: str) -> str:
    # The original scheme signed the bare value; emails lower-cased and trimmed.
    value = identifier.strip()
    return value.lower() if kind == "email" else value


def sign_identity(
    *,
    secret: SecretStr | str,
    kind: SignedKind,
    identifier: str,
    binding: SiteIdentity = _DEFAULT_BINDING,
    version: Literal[1, 2] = 2,
) -> str:
    """The user_hash a site's backend computes (reference implementation): `v2=<hex>`, or the original bare hex."""
    if version == 1:
        return hmac.new(_key(secret), _v1_value(kind, identifier).encode("utf-8"), hashlib.sha256).hexdigest()
    message = signed_message(kind=kind, identifier=identifier, binding=binding)
    return V2_PREFIX + hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def check_signature(
    *,
    secret: SecretStr | None,
    kind: SignedKind,
    identifier: str,
    user_hash: str,
    binding: SiteIdentity = _DEFAULT_BINDING,
) -> bool:
    """Whether `user_hash` signs this claim (constant-time compare); unversioned hashes only if the config allows."""
    if secret is None or not user_hash:
        return False
    given = user_hash.strip().lower()
    if given.startswith(V2_PREFIX):
        expected = sign_identity(secret=secret, kind=kind, identifier=identifier, binding=binding)
    elif binding.accept_unversioned_hash:
        expected = sign_identity(secret=secret, kind=kind, identifier=identifier, version=1)
    else:
        return False
    return hmac.compare_digest(expected.encode("ascii"), given.encode("ascii", "replace"))


def sign_identity_token(
    *,
    key: SecretStr | str,
    sub: str,
    expires_at: datetime,
    kid: str | None = None,
    email: str | None = None,
    issued_at: datetime | None = None,
) -> str:
    """An identity token as a site's backend would mint it (reference implementation, used by the tests)."""
    claims: dict[str, Any] = {"sub": sub, "exp": int(expires_at.timestamp())}
    if email is not None:
        claims["email"] = email
    if issued_at is not None:
        claims["iat"] = int(issued_at.timestamp())
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims, _key(key), algorithm=TOKEN_ALGORITHM, headers=headers)


@dataclass(frozen=True)
class VerifiedIdentity:
    """The outcome of a check: verified or not, and the customer it resolved to (if any)."""

    verified: bool
    kind: IdentityKind | None = None
    customer_id: str | None = None
    # Why the person is (not) verified or has no customer, in words for logs and `chat explain` (no PII).
    note: str = ""


@dataclass(frozen=True)
class _Claims:
    user_id: str | None
    email: str | None


def _token_claims(
    token: str, keys: Mapping[str, SecretStr], binding: SiteIdentity, now: datetime
) -> tuple[_Claims | None, str]:
    """The signed claims of a token, or None and why it is refused (no claim values in the reason: PII)."""
    if not keys:
        return None, "identity tokens are not configured (no CONTEXTDESK_IDENTITY_JWT_KEYS)"
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        return None, "identity token is malformed"
    if header.get("alg") != TOKEN_ALGORITHM:
        return None, f"identity token algorithm must be {TOKEN_ALGORITHM}"
    kid = header.get("kid")
    if kid is None:
        if len(keys) != 1:
            return None, "identity token has no kid and several keys are configured"
        key = next(iter(keys.values()))
    elif not isinstance(kid, str) or kid not in keys:
        return None, "identity token names an unknown key id (kid)"
    else:
        key = keys[kid]
    try:
        # The clock is ours (`now`), not the library's wall clock: exp/nbf are checked below.
        claims = jwt.decode(
            token,
            _key(key),
            algorithms=[TOKEN_ALGORITHM],
            options={
                "require": ["exp", "sub"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
            },
        )
    except jwt.InvalidSignatureError:
        return None, "identity token signature is wrong"
    except jwt.InvalidTokenError as exc:
        return None, f"identity token refused: {type(exc).__name__}"
    at = now.timestamp()
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        return None, "identity token exp is not a number"
    if at > exp + binding.token_leeway_seconds:
        return None, "identity token has expired"
    if nbf is not None and (not isinstance(nbf, int | float) or at + binding.token_leeway_seconds < nbf):
        return None, "identity token is not valid yet"
    sub, email = claims.get("sub"), claims.get("email")
    if not isinstance(sub, str) or not sub.strip():
        return None, "identity token sub is empty"
    if email is not None and not isinstance(email, str):
        return None, "identity token email is not a string"
    return _Claims(sub, email or None), "verified identity token"


def _customer_of_user_id(engine: Engine, binding: SiteIdentity, user_id: str) -> tuple[str | None, str]:
    """The customer holding this site user id under the one bound kind (None: nobody, or several)."""
    value = user_id.strip()
    if binding.user_id_kind == OWN_CUSTOMER_IDS:
        try:
            return canonical_customer_id(engine=engine, customer_id=value), ""
        except CustomerNotFoundError:
            return None, "matches no customer in our records"
    found = find_by_identifier(engine=engine, kind=binding.user_id_kind, value=binding.user_id_format.format(value))
    if found.outcome == "ambiguous":
        return None, "is held by several customers: no context"
    return found.customer_id if found.outcome == "found" else None, "matches no customer in our records"


def _customer_of_email(engine: Engine, email: str) -> tuple[str | None, str]:
    try:
        found = lookup_customer(engine=engine, email=email)
    except LookupInputError:
        return None, "is refused by the email rule (look-alike or control characters)"
    if found.outcome == "ambiguous":
        return None, "is shared by several customers: no context"
    return found.customer_id if found.outcome == "found" else None, "matches no customer in our records"


def _resolve(engine: Engine, binding: SiteIdentity, kind: IdentityKind, claims: _Claims) -> VerifiedIdentity:
    try:
        by_id: tuple[str | None, str] | None = (
            _customer_of_user_id(engine, binding, claims.user_id) if claims.user_id else None
        )
        by_email = _customer_of_email(engine, claims.email) if claims.email else None
    except ContextError:
        return VerifiedIdentity(True, kind, None, f"verified {kind}; lookup failed: no context")
    if by_id and by_email and by_id[0] and by_email[0] and by_id[0] != by_email[0]:
        return VerifiedIdentity(True, kind, None, f"verified {kind}: its user id and email are different customers")
    if by_id and by_id[0]:
        return VerifiedIdentity(True, kind, by_id[0], f"verified {kind} (user id as {binding.user_id_kind})")
    if by_email and by_email[0]:
        return VerifiedIdentity(True, kind, by_email[0], f"verified {kind} (email)")
    reasons = [f"{what} {found[1]}" for what, found in (("user id", by_id), ("email", by_email)) if found]
    return VerifiedIdentity(True, kind, None, f"verified {kind}, but its " + " and ".join(reasons))


def verify_identity(
    *,
    engine: Engine,
    secret: SecretStr | None,
    now: datetime,
    binding: SiteIdentity = _DEFAULT_BINDING,
    token_keys: Mapping[str, SecretStr] | None = None,
    user_id: str | None = None,
    email: str | None = None,
    user_hash: str | None = None,
    identity_token: str | None = None,
) -> VerifiedIdentity:
    """Check the widget's signed identity and resolve it to a customer; anything unverifiable is a visitor.

    A token wins over a user_hash. A verified identity whose claims match no customer (or several) stays
    verified without a customer: we never guess whose context to show. `now` checks a token's expiry.
    """
    if identity_token:
        claims, note = _token_claims(identity_token, token_keys or {}, binding, now)
        if claims is None:
            return VerifiedIdentity(False, note=note + ": visitor")
        return _resolve(engine, binding, "token", claims)
    kind: SignedKind
    if user_id:
        kind, identifier = "user_id", user_id
    elif email:
        kind, identifier = "email", email
    else:
        return VerifiedIdentity(False, note="no identity given: visitor")
    if secret is None:
        return VerifiedIdentity(False, note="identity verification is not configured (no identity secret): visitor")
    if not check_signature(secret=secret, kind=kind, identifier=identifier, user_hash=user_hash or "", binding=binding):
        return VerifiedIdentity(False, note=f"{kind} signature missing or wrong: visitor")
    claims = _Claims(identifier, None) if kind == "user_id" else _Claims(None, identifier)
    return _resolve(engine, binding, kind, claims)
