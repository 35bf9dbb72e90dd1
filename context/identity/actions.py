"""Identity actions people take: merge, unmerge, review decisions, undo; each logged, each undoable."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from context.bulkwrite import bulk_insert
from context.canonical.models import Customer, CustomerRecord
from context.dbtypes import table_of
from context.identity.errors import ActionError, ReviewStateError
from context.identity.graph import (
    Prepared,
)
from context.identity.models import (
    CustomerAlias,
    DoNotLink,
    IdentityAction,
    IdentityEdge,
    IdentityReview,
)
from context.identity.resolution import (
    _canonical,
    _customer_record_ids,
    _load_prepared,
    _log,
    _pair,
    _require_keys,
    _resolve_from,
    load_model,
)
from context.identity.rules import IdentityRules
from context.identity.sql import _chunks, _ids_for_keys

# ------------------------------------------------------------------------------------------ actions


def _representative(prepared: dict[int, Prepared]) -> Prepared:
    return min(prepared.values(), key=lambda p: p.rank)


def merge(*, engine: Engine, rules: IdentityRules, customer_ids: Sequence[str], actor: str, now: datetime) -> str:
    """Merge customers by a manual link (overrides limits and guards, lifts do-not-link); returns the surviving id."""
    with Session(engine) as session:
        ids = list(dict.fromkeys(_canonical(session, c) for c in customer_ids))
        if len(ids) < 2:
            raise ActionError("merge needs at least two different customers")
        model = load_model(engine=engine, rules=rules)
        members = {cid: _customer_record_ids(session, cid) for cid in ids}
        prepared = {cid: _load_prepared(session, rids, rules) for cid, rids in members.items()}
        owner = {p.key: cid for cid, ps in prepared.items() for p in ps.values()}
        action = _log(session, "merge", actor, {"customers": ids}, now)
        removed = []
        for batch18 in _chunks(sorted(owner)):
            for row in session.exec(select(DoNotLink).where(col(DoNotLink.record_a).in_(batch18))).all():
                if row.record_b in owner and owner[row.record_b] != owner[row.record_a]:
                    removed.append([row.record_a, row.record_b, row.reason, row.created_by])
                    session.delete(row)
        members_keys = {cid: sorted(p.key for p in ps.values()) for cid, ps in prepared.items()}
        action.payload = {"customers": ids, "members": members_keys, "removed_do_not_link": removed}
        session.add(action)
        # Every record of the merged customers is linked to one anchor: the human said they are one person,
        # so the guards (limits, name conflicts) must not pull either side's records apart again.
        anchor = _representative(prepared[ids[0]]).key
        evidence = [{"field": "manual", "action": "merge", "customers": ids}]
        for other in sorted(set(owner) - {anchor}):
            a, b = _pair(anchor, other)
            session.add(
                IdentityEdge(
                    record_a=a,
                    record_b=b,
                    kind="manual",
                    rule="merge",
                    score=1.0,
                    evidence=evidence,
                    approved_by=actor,
                    action_id=action.id,
                    created_at=now,
                )
            )
        session.flush()
        _resolve_from(session, [rid for rids in members.values() for rid in rids], rules, model, now)
        survivor = session.exec(
            select(CustomerRecord.customer_id).where(col(CustomerRecord.id) == members[ids[0]][0])
        ).one()
        session.commit()
        return str(survivor)


def unmerge(
    *, engine: Engine, rules: IdentityRules, customer_id: str, record_keys: Sequence[str], actor: str, now: datetime
) -> list[str]:
    """Split records off a customer and keep them apart in every later run; returns the resulting customer ids."""
    with Session(engine) as session:
        cid = _canonical(session, customer_id)
        member_ids = _customer_record_ids(session, cid)
        prepared = _load_prepared(session, member_ids, rules)
        member_keys = {p.key for p in prepared.values()}
        split = set(record_keys)
        unknown = split - member_keys
        if unknown:
            raise ActionError(f"records {sorted(unknown)} are not part of customer {cid}")
        if not split or split == member_keys:
            raise ActionError("unmerge needs some, but not all, of the customer's records")
        model = load_model(engine=engine, rules=rules)
        action = _log(session, "unmerge", actor, {"customer": cid, "records": sorted(split)}, now)
        rest = member_keys - split
        removed_manual = []
        for row in session.exec(select(IdentityEdge).where(col(IdentityEdge.kind) == "manual")).all():
            if (row.record_a in split and row.record_b in rest) or (row.record_b in split and row.record_a in rest):
                removed_manual.append([row.record_a, row.record_b, row.rule, row.approved_by, row.evidence])
                session.delete(row)
        action.payload = {**action.payload, "removed_manual": removed_manual}
        session.add(action)
        rows = [
            {
                "record_a": a,
                "record_b": b,
                "reason": f"unmerge of {cid}",
                "created_by": actor,
                "action_id": action.id,
                "created_at": now,
            }
            for a, b in sorted({_pair(x, y) for x in split for y in rest})
        ]
        existing = {(r.record_a, r.record_b) for r in session.exec(select(DoNotLink)).all()} if rows else set()
        rows = [r for r in rows if (r["record_a"], r["record_b"]) not in existing]
        for batch19 in _chunks(rows, 2000):
            bulk_insert(session.connection(), table_of(DoNotLink), batch19)
        session.flush()
        _resolve_from(session, member_ids, rules, model, now)
        result = sorted(
            {
                c
                for c in session.exec(select(CustomerRecord.customer_id).where(col(CustomerRecord.id).in_(member_ids)))
                if c
            }
        )
        session.commit()
        return result


def _pending_review(session: Session, review_id: int) -> IdentityReview:
    review = session.get(IdentityReview, review_id)
    if review is None:
        raise ReviewStateError(f"no review item {review_id}")
    if review.status != "pending":
        raise ReviewStateError(f"review item {review_id} was already {review.status} by {review.decided_by}")
    return review


def approve_review(*, engine: Engine, rules: IdentityRules, review_id: int, actor: str, now: datetime) -> str:
    """Link a reviewed pair (a manual edge approved by `actor`); returns their customer id."""
    with Session(engine) as session:
        review = _pending_review(session, review_id)
        model = load_model(engine=engine, rules=rules)
        ids = _require_keys(session, [review.record_a, review.record_b])
        action = _log(
            session, "approve", actor, {"review": review_id, "records": [review.record_a, review.record_b]}, now
        )
        review.status, review.decided_by, review.decided_at = "approved", actor, now
        session.add(review)
        evidence = [
            {"field": "review", "review": review_id, "reason": review.reason, "score": review.score},
            *review.evidence,
        ]
        session.add(
            IdentityEdge(
                record_a=review.record_a,
                record_b=review.record_b,
                kind="manual",
                rule="review",
                score=review.score,
                evidence=evidence,
                approved_by=actor,
                action_id=action.id,
                created_at=now,
            )
        )
        session.flush()
        _resolve_from(session, ids.values(), rules, model, now)
        cid = session.exec(
            select(CustomerRecord.customer_id).where(col(CustomerRecord.id) == ids[review.record_a])
        ).one()
        session.commit()
        return str(cid)


def reject_review(*, engine: Engine, rules: IdentityRules, review_id: int, actor: str, now: datetime) -> None:
    """Keep a reviewed pair apart forever (a do-not-link constraint)."""
    with Session(engine) as session:
        review = _pending_review(session, review_id)
        model = load_model(engine=engine, rules=rules)
        ids = _require_keys(session, [review.record_a, review.record_b])
        action = _log(
            session, "reject", actor, {"review": review_id, "records": [review.record_a, review.record_b]}, now
        )
        review.status, review.decided_by, review.decided_at = "rejected", actor, now
        session.add(review)
        a, b = _pair(review.record_a, review.record_b)
        if session.exec(select(DoNotLink).where(DoNotLink.record_a == a, DoNotLink.record_b == b)).first() is None:
            session.add(
                DoNotLink(
                    record_a=a,
                    record_b=b,
                    reason=f"review {review_id} rejected",
                    created_by=actor,
                    action_id=action.id,
                    created_at=now,
                )
            )
        session.flush()
        _resolve_from(session, ids.values(), rules, model, now)
        session.commit()


def undo(*, engine: Engine, rules: IdentityRules, action_id: int, actor: str, now: datetime) -> None:
    """Reverse a logged merge, unmerge, approval or rejection and re-resolve the records it touched."""
    with Session(engine) as session:
        action = session.get(IdentityAction, action_id)
        if action is None:
            raise ActionError(f"no action {action_id}")
        if action.undone_at is not None:
            raise ActionError(f"action {action_id} was already undone by {action.undone_by}")
        if action.action not in _UNDOABLE:
            raise ActionError(f"action {action_id} ({action.action}) cannot be undone; undo {sorted(_UNDOABLE)}")
        model = load_model(engine=engine, rules=rules)
        touched: set[str] = set()
        for edge in session.exec(select(IdentityEdge).where(IdentityEdge.action_id == action_id)).all():
            touched |= {edge.record_a, edge.record_b}
            session.delete(edge)
        for row in session.exec(select(DoNotLink).where(DoNotLink.action_id == action_id)).all():
            touched |= {row.record_a, row.record_b}
            session.delete(row)
        payload = action.payload
        for a, b, reason, who in payload.get("removed_do_not_link", []):
            session.add(DoNotLink(record_a=a, record_b=b, reason=reason, created_by=who, created_at=now))
            touched |= {a, b}
        for a, b, rule, who, evidence in payload.get("removed_manual", []):
            session.add(
                IdentityEdge(
                    record_a=a,
                    record_b=b,
                    kind="manual",
                    rule=rule,
                    score=1.0,
                    evidence=evidence,
                    approved_by=who,
                    created_at=now,
                )
            )
            touched |= {a, b}
        if action.action in ("approve", "reject"):
            review = session.get(IdentityReview, payload["review"])
            if review is not None:
                review.status, review.decided_by, review.decided_at = "pending", None, None
                session.add(review)
        touched |= set(payload.get("records", []))
        for cid in payload.get("customers", []):
            for rid in _customer_record_ids(session, cid):
                touched.add(next(iter(_load_prepared(session, [rid], rules).values())).key)
        action.undone_at, action.undone_by = now, actor
        session.add(action)
        _log(session, "undo", actor, {"undid": action_id}, now)
        session.flush()
        touched_ids = list(_ids_for_keys(session, touched).values())
        before = _customers_of(session, touched_ids)
        _resolve_from(session, touched_ids, rules, model, now)
        if action.action == "merge":
            _restore_ids(session, payload.get("members", {}), existed=before, now=now)
        session.commit()


_UNDOABLE = {"merge", "unmerge", "approve", "reject"}


def _customers_of(session: Session, record_ids: Sequence[int]) -> set[str]:
    out: set[str] = set()
    for batch in _chunks(record_ids):
        out |= {
            c for c in session.exec(select(CustomerRecord.customer_id).where(col(CustomerRecord.id).in_(batch))) if c
        }
    return out


def _restore_ids(session: Session, members: dict[str, list[str]], *, existed: set[str], now: datetime) -> None:
    """After undoing a merge, give each customer of the merge its old id back.

    Each old id goes to the customer now holding most of its former records (an old id whose records
    ended up together with another old id's majority keeps the alias). Ids outside the merge are never
    taken over: a holder that existed before the undo and is not part of the merge keeps its id.
    """
    old_ids = set(members)
    target: dict[str, str] = {}  # current holder -> old id
    for old_id, keys in sorted(members.items()):
        holders = Counter(
            cid
            for batch in _chunks(list(_ids_for_keys(session, keys).values()))
            for cid in session.exec(select(CustomerRecord.customer_id).where(col(CustomerRecord.id).in_(batch)))
            if cid
        )
        if not holders:
            continue
        holder = min(holders.items(), key=lambda t: (-t[1], t[0]))[0]
        if holder in target or (holder in existed and holder not in old_ids):
            continue
        target[holder] = old_id
    renames = {h: o for h, o in target.items() if h != o}
    if not renames:
        return
    # Two phases (collect, then write) so that swapping two ids works.
    record_ids = {h: _customer_record_ids(session, h) for h in renames}
    created = {h: session.get(Customer, h) for h in renames}
    for holder, old_id in renames.items():
        if session.get(Customer, old_id) is None:
            first = created[holder]
            session.add(Customer(id=old_id, created_at=first.created_at if first else now))
        session.exec(delete(CustomerAlias).where(col(CustomerAlias.alias_id) == old_id))
    session.flush()
    for holder, old_id in renames.items():
        for batch in _chunks(record_ids[holder]):
            session.exec(update(CustomerRecord).where(col(CustomerRecord.id).in_(batch)).values(customer_id=old_id))
    session.flush()
    for holder in set(renames) - set(renames.values()):
        session.exec(delete(Customer).where(col(Customer.id) == holder))
    session.flush()


def list_actions(*, engine: Engine, limit: int = 50) -> list[IdentityAction]:
    """The most recent logged actions."""
    with Session(engine) as session:
        return list(session.exec(select(IdentityAction).order_by(col(IdentityAction.id).desc()).limit(limit)).all())
