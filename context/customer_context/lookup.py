"""Look customers up by email, phone, order number, external id or name + postcode: found, ambiguous or not
found, never a guess."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Connection, Engine

from context.customer_context.errors import LookupInputError
from context.customer_context.models import (
    Candidate,
    LookupResult,
)
from context.customer_context.tables import IDN, O, P, R
from context.errors import StandardizationError
from context.intake.standardize import standardize_email, standardize_phone

# ------------------------------------------------------------------------------------------- lookups

_CONFIDENCE = {"external_id": 0.99, "order": 0.98, "email": 0.95, "phone": 0.85}


def _candidates_for(conn: Connection, hits: dict[str, tuple[float, str]]) -> list[Candidate]:
    if not hits:
        return []
    rows = {
        r.customer_id: r
        for r in conn.execute(
            select(P.c.customer_id, P.c.display_name, P.c.email, P.c.status).where(P.c.customer_id.in_(list(hits)))
        )
    }
    out = []
    for cid, (confidence, matched_on) in hits.items():
        row = rows.get(cid)
        out.append(
            Candidate(
                customer_id=cid,
                name=row.display_name if row else None,
                email=row.email if row else None,
                status=row.status if row else None,
                confidence=confidence,
                matched_on=matched_on,
            )
        )
    return sorted(out, key=lambda c: (-c.confidence, c.customer_id))


def _result(conn: Connection, hits: dict[str, tuple[float, str]]) -> LookupResult:
    candidates = _candidates_for(conn, hits)
    if not candidates:
        return LookupResult(outcome="not_found")
    # One customer, or a clear winner, is a match; otherwise the caller must ask, not guess.
    if len(candidates) == 1 or candidates[0].confidence - candidates[1].confidence >= 0.15:
        best = candidates[0]
        return LookupResult(
            outcome="found",
            customer_id=best.customer_id,
            confidence=best.confidence,
            matched_on=best.matched_on,
            candidates=candidates,
        )
    return LookupResult(outcome="ambiguous", confidence=candidates[0].confidence, candidates=candidates)


def _by_identifier(
    conn: Connection, kinds: Sequence[str] | None, values: Sequence[str], confidence: float, label: str
) -> dict[str, tuple[float, str]]:
    query = select(R.c.customer_id).select_from(IDN.join(R, IDN.c.record_id == R.c.id)).where(IDN.c.value.in_(values))
    if kinds is not None:
        query = query.where(IDN.c.kind.in_(kinds))
    return {cid: (confidence, label) for (cid,) in conn.execute(query.distinct()) if cid}


def lookup_customer(
    *,
    engine: Engine,
    email: str | None = None,
    phone: str | None = None,
    order: str | None = None,
    external_id: str | None = None,
    name: str | None = None,
    postcode: str | None = None,
    default_region: str = "US",
    external_id_formats: Sequence[str] = (),
) -> LookupResult:
    """Find a customer by one criterion: email, phone, order number, external id, or name + postcode.

    A bare external id is also tried in each of `external_id_formats` (e.g. "stripe:{}", from the sources'
    identifier formats); a phone is read with intake's phone rule in `default_region`.

    Returns `found` (with a confidence), `ambiguous` (the candidates, never a guess) or `not_found`.
    """
    given = [k for k, v in {"email": email, "phone": phone, "order": order, "external_id": external_id}.items() if v]
    if name or postcode:
        if not (name and postcode):
            raise LookupInputError("a name lookup needs both name and postcode")
        given.append("name+postcode")
    if len(given) != 1:
        raise LookupInputError(
            f"give exactly one of email, phone, order, external_id, name+postcode (got {given or 'none'})"
        )
    with engine.connect() as conn:
        if email:
            try:
                value = standardize_email(email)
            except StandardizationError as exc:
                # An address the email rule refuses (look-alike or control characters) matches no customer.
                raise LookupInputError(f"email: {exc.reason}") from None
            return _result(conn, _by_identifier(conn, ["email"], [value], _CONFIDENCE["email"], f"email {value}"))
        if phone:
            try:
                e164 = standardize_phone(phone, default_region)  # the rule intake stored the phones with
            except StandardizationError as exc:
                raise LookupInputError(f"phone {phone!r}: {exc.reason}") from None
            return _result(conn, _by_identifier(conn, ["phone"], [e164], _CONFIDENCE["phone"], f"phone {e164}"))
        if order:
            raw = order.strip()
            forms = list(dict.fromkeys([raw, raw.lstrip("#"), "#" + raw.lstrip("#")]))
            rows = conn.execute(
                select(R.c.customer_id)
                .select_from(O.join(R, O.c.record_id == R.c.id))
                # Order numbers are typed by people: "cs1001" finds "CS1001".
                .where(func.lower(O.c.order_number).in_([f.lower() for f in forms]))
                .distinct()
            )
            hits = {cid: (_CONFIDENCE["order"], f"order {raw}") for (cid,) in rows if cid}
            return _result(conn, hits)
        if external_id:
            raw = external_id.strip()
            # Accept bare ids ("cus_123") as well as namespaced ones ("stripe:cus_123"): the namespaces are the
            # identifier formats of the configured sources (ContextConfig.external_id_formats), not a fixed list.
            forms = list(dict.fromkeys([raw, *(f.replace("{}", raw) for f in external_id_formats)]))
            return _result(conn, _by_identifier(conn, None, forms, _CONFIDENCE["external_id"], f"external id {raw}"))
        return _result(conn, _by_name_postcode(conn, str(name), str(postcode)))


def find_by_identifier(*, engine: Engine, kind: str, value: str) -> LookupResult:
    """The customer holding exactly this identifier (one kind, the exact stored value): no other kind matches.

    The widget's signed site user id goes through here, so "100500" bound to `site_user` never resolves to CRM
    contact 100500 or to anyone whose email or phone is "100500".
    """
    with engine.connect() as conn:
        hits = _by_identifier(conn, [kind], [value], _CONFIDENCE["external_id"], f"identifier {kind}")
        return _result(conn, hits)


def _by_name_postcode(conn: Connection, name: str, postcode: str) -> dict[str, tuple[float, str]]:
    from context.identity.scoring import jaro_winkler

    # Here, not at the top: survivorship brings the profile tables, which only a name + postcode lookup needs.
    from context.profiles.survivorship import fold, postcode_key

    key = postcode_key(postcode)
    forms = list(dict.fromkeys([postcode.strip(), postcode.strip().upper(), key]))
    if len(key) > 3 and " " not in postcode.strip():
        forms.append(f"{key[:-3]} {key[-3:]}")  # UK-style 'N19GU' → 'N1 9GU'
    wanted = fold(name)
    hits: dict[str, tuple[float, str]] = {}
    rows = conn.execute(
        select(R.c.customer_id, R.c.full_name, R.c.first_name, R.c.last_name).where(
            or_(R.c.postcode.in_(forms)), R.c.customer_id.is_not(None)
        )
    )
    for cid, full, first, last in rows:
        names = {fold(n) for n in (full, " ".join(p for p in (first, last) if p)) if n}
        if not names:
            continue
        if wanted in names:
            score, how = 0.9, "exact name"
        else:
            best = max(jaro_winkler(wanted, n) for n in names)
            if best < 0.9:
                continue
            score, how = round(0.6 + (best - 0.9) * 2, 2), f"similar name ({best:.2f})"
        if score > hits.get(cid, (0.0, ""))[0]:
            hits[cid] = (score, f"{how} + postcode {key}")
    return hits
