"""Widget identity verification: the site's backend signs the identifier, we check the signature.

The pattern the large chat vendors use: the site computes ``user_hash = HMAC-SHA256(secret, user_id or email)``
(hex) on its server and hands it to the widget with the identifier. Only a matching hash unlocks the customer's
context; anything else — no hash, a wrong one, no secret configured — is an anonymous visitor.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

from pydantic import SecretStr
from sqlalchemy.engine import Engine

from context.customer_context import lookup_customer
from context.errors import ContextError
from context.identity.errors import UnknownCustomerError
from context.identity.service import canonical_customer_id

IdentityKind = Literal["user_id", "email"]


def _normalize(kind: IdentityKind, identifier: str) -> str:
    # Emails are signed lower-cased and trimmed so " Maya.Chen@Example.com" and the canonical form agree.
    value = identifier.strip()
    return value.lower() if kind == "email" else value


def sign_identity(*, secret: SecretStr | str, kind: IdentityKind, identifier: str) -> str:
    """The user_hash a site's backend computes: hex HMAC-SHA256 of the (normalized) identifier."""
    key = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return hmac.new(key.encode("utf-8"), _normalize(kind, identifier).encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class VerifiedIdentity:
    """The outcome of a check: verified or not, and the customer it resolved to (if any)."""

    verified: bool
    kind: IdentityKind | None = None
    customer_id: str | None = None
    # Why the person is (not) verified or has no customer, in words for logs and `chat explain` (no PII).
    note: str = ""


def check_signature(*, secret: SecretStr | None, kind: IdentityKind, identifier: str, user_hash: str) -> bool:
    """Whether `user_hash` is the signature of `identifier` (constant-time compare)."""
    if secret is None or not user_hash:
        return False
    expected = sign_identity(secret=secret, kind=kind, identifier=identifier)
    return hmac.compare_digest(expected.encode("ascii"), user_hash.strip().lower().encode("ascii", "replace"))


def verify_identity(
    *,
    engine: Engine,
    secret: SecretStr | None,
    user_id: str | None = None,
    email: str | None = None,
    user_hash: str | None = None,
) -> VerifiedIdentity:
    """Check the widget's signed identity and resolve it to a customer; anything unverifiable is a visitor.

    `user_id` is the site's id for the person: one of our customer ids (aliases of merged customers work) or
    an external id (`cus_…`, `stripe:cus_…`). A verified email shared by several customers stays without a
    customer: we never guess whose context to show.
    """
    if user_id:
        kind: IdentityKind = "user_id"
        identifier = user_id
    elif email:
        kind, identifier = "email", email
    else:
        return VerifiedIdentity(False, note="no identity given: visitor")
    if secret is None:
        return VerifiedIdentity(False, note="identity verification is not configured (no identity secret): visitor")
    if not check_signature(secret=secret, kind=kind, identifier=identifier, user_hash=user_hash or ""):
        return VerifiedIdentity(False, note=f"{kind} signature missing or wrong: visitor")
    customer_id: str | None = None
    try:
        if kind == "user_id":
            try:
                customer_id = canonical_customer_id(engine=engine, customer_id=identifier.strip())
            except UnknownCustomerError:
                found = lookup_customer(engine=engine, external_id=identifier)
                customer_id = found.customer_id if found.outcome == "found" else None
        else:
            found = lookup_customer(engine=engine, email=_normalize("email", identifier))
            if found.outcome == "found":
                customer_id = found.customer_id
            elif found.outcome == "ambiguous":
                return VerifiedIdentity(True, kind, None, "verified email shared by several customers: no context")
    except ContextError:
        customer_id = None
    if customer_id is None:
        return VerifiedIdentity(True, kind, None, f"verified {kind} matches no customer in our records")
    return VerifiedIdentity(True, kind, customer_id, f"verified {kind}")
