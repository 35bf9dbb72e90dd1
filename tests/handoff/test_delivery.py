"""The outbox against a real receiving HTTP server: signatures, retries through failures and timeouts,
dead letters, manual retry, crash-safe resume; the Zendesk and email targets. SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from handoff.config import TargetConfig
from handoff.delivery import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from handoff.models import HandoffDeadLetter, HandoffDelivery
from handoff.outbox import deliver_due, list_deliveries, retry_dead
from handoff.service import HandoffDeps, create_handoff, run_once
from handoff.worker import OutboxWorker
from tests.clock import NOW, tick
from tests.handoff.conftest import WEBHOOK_SECRET
from tests.handoff.factories import escalated_conversation
from tests.handoff.receiver import Receiver


def _webhook(receiver: Receiver) -> list[TargetConfig]:
    return [TargetConfig(name="ops", kind="webhook", url=receiver.url + "/hook")]


def test_webhook_signature_is_verifiable_by_a_receiver(
    engine: Engine, receiver: Receiver, make_handoff_deps: Callable[..., HandoffDeps]
) -> None:
    deps = make_handoff_deps(engine=engine, targets=_webhook(receiver), webhook_secret=WEBHOOK_SECRET)
    escalated_conversation(engine)
    result = run_once(deps)
    assert result["delivered"] and not result["dead"]
    got = receiver.requests[-1]
    ts, sig = got.headers[TIMESTAMP_HEADER.lower()], got.headers[SIGNATURE_HEADER.lower()]
    now = int(ts)  # the receiver's clock, in step with the sender's here
    assert verify_signature(secret=WEBHOOK_SECRET, body=got.body, timestamp=ts, signature=sig, now=now)
    assert not verify_signature(secret=WEBHOOK_SECRET, body=got.body + b" ", timestamp=ts, signature=sig, now=now)
    assert not verify_signature(secret="another-secret-000000", body=got.body, timestamp=ts, signature=sig, now=now)
    # A replay ten minutes later is refused even with the right signature.
    assert not verify_signature(secret=WEBHOOK_SECRET, body=got.body, timestamp=ts, signature=sig, now=int(ts) + 600)
    payload = json.loads(got.body)
    assert payload["summary"]["schema_version"] == "1.0" and payload["summary"]["reason_code"] == "customer_request"
    assert payload["idempotency_key"] == got.headers["idempotency-key"]


def test_retries_through_a_failure_and_a_timeout_with_one_idempotency_key(
    engine: Engine, receiver: Receiver, make_handoff_deps: Callable[..., HandoffDeps]
) -> None:
    deps = make_handoff_deps(engine=engine, targets=_webhook(receiver))
    escalated_conversation(engine)
    receiver.script(("status", 503), ("hang", 2.0), ("status", 200))
    run_once(deps)
    [delivery] = list_deliveries(engine)
    assert delivery.status == "delivered" and delivery.attempts == 3
    assert [a.ok for a in delivery.history] == [False, False, True]
    assert delivery.history[0].status == 503 and "timed out" in (delivery.history[1].error or "")
    keys = {r.headers["idempotency-key"] for r in receiver.requests}
    assert keys == {delivery.idempotency_key} and len(receiver.requests) == 3


def test_dead_letter_after_the_last_retry_then_manual_retry(
    engine: Engine, receiver: Receiver, make_handoff_deps: Callable[..., HandoffDeps]
) -> None:
    deps = make_handoff_deps(engine=engine, targets=_webhook(receiver))
    escalated_conversation(engine)
    receiver.script(("status", 500), ("status", 500), ("status", 500))
    result = run_once(deps)
    [dead] = list_deliveries(engine, status="dead")
    assert result["dead"] == [dead.id] and dead.attempts == 3 and dead.last_error == "HTTP 500"
    assert dead.dead_letter_id is not None
    assert run_once(deps)["delivered"] == []  # a dead letter is not retried on its own
    assert retry_dead(engine, delivery_id=dead.id, actor="sam", now=NOW) == [dead.id]
    assert run_once(deps)["delivered"] == [dead.id]
    [again] = list_deliveries(engine)
    assert again.status == "delivered" and again.attempts == 4 and again.dead_letter_id is None
    with Session(engine) as session:
        letter = session.exec(select(HandoffDeadLetter)).one()
    assert letter.retried_by == "sam" and letter.retried_at is not None


def test_crash_between_storing_and_delivering_loses_nothing(
    engine: Engine, receiver: Receiver, make_handoff_deps: Callable[..., HandoffDeps]
) -> None:
    deps = make_handoff_deps(engine=engine, targets=_webhook(receiver))
    # Crash 1: the chat stored the escalation, the process died before a handoff was made.
    _, lost_request = escalated_conversation(engine)
    # Crash 2: a handoff and its outbox row were stored, the process died before delivering.
    _, stored_request = escalated_conversation(engine)
    create_handoff(deps, request_id=stored_request)
    # Crash 3: a delivery was mid-flight (claimed, lease running) when the process died.
    _, inflight_request = escalated_conversation(engine)
    create_handoff(deps, request_id=inflight_request)
    with Session(engine) as session:
        rows = session.exec(select(HandoffDelivery)).all()
        for row in rows:
            row.status, row.locked_until = "delivering", tick() - timedelta(seconds=1)
            session.add(row)
            break  # only the first: its lease has expired
        session.commit()
    assert receiver.requests == []
    worker = OutboxWorker(deps).start()  # a fresh process starting up
    try:
        end = time.monotonic() + 10
        while time.monotonic() < end and len([d for d in list_deliveries(engine) if d.status == "delivered"]) < 3:
            time.sleep(0.05)
    finally:
        worker.stop()
    deliveries = list_deliveries(engine)
    assert len(deliveries) == 3 and {d.status for d in deliveries} == {"delivered"}
    assert len({r.headers["idempotency-key"] for r in receiver.requests}) == 3
    assert lost_request  # its handoff was created by the resuming worker
    assert deliver_due(engine, targets=deps.targets, retry=deps.config.retry, clock=tick) == []


def test_a_delivery_claimed_by_a_live_worker_is_not_sent_twice(
    engine: Engine, receiver: Receiver, make_handoff_deps: Callable[..., HandoffDeps]
) -> None:
    deps = make_handoff_deps(engine=engine, targets=_webhook(receiver))
    _, request_id = escalated_conversation(engine)
    create_handoff(deps, request_id=request_id)
    with Session(engine) as session:
        row = session.exec(select(HandoffDelivery)).one()
        row.status, row.locked_until = "delivering", tick() + timedelta(minutes=1)
        session.add(row)
        session.commit()
    assert deliver_due(engine, targets=deps.targets, retry=deps.config.retry, clock=tick) == []
    assert receiver.requests == []


def test_zendesk_ticket_and_maildir_email_targets(
    sqlite_engine: Engine, receiver: Receiver, make_handoff_deps: Callable[..., HandoffDeps], tmp_path: Path
) -> None:
    targets = [
        TargetConfig(name="zd", kind="zendesk", url=receiver.url + "/api/v2/tickets.json", auth_user="bot@x.test"),
        TargetConfig(name="mail", kind="email", maildir=tmp_path / "mail", to="support@x.test"),
    ]
    from pydantic import SecretStr

    deps = make_handoff_deps(engine=sqlite_engine, targets=targets, zendesk_token=SecretStr("zd-token"))
    escalated_conversation(sqlite_engine)
    run_once(deps)
    assert {d.status for d in list_deliveries(sqlite_engine)} == {"delivered"}
    got = receiver.requests[-1]
    ticket = json.loads(got.body)["ticket"]
    assert got.path == "/api/v2/tickets.json" and got.headers["authorization"].startswith("Basic ")
    assert ticket["priority"] in {"urgent", "high", "normal", "low"} and "customer_request" in ticket["tags"]
    assert ticket["comment"]["public"] is False and ticket["subject"].startswith(ticket["priority"].upper())
    [file] = list((tmp_path / "mail" / "new").iterdir())
    assert file.name == f"{list_deliveries(sqlite_engine, status='delivered')[0].idempotency_key}.eml"
    msg = email.message_from_bytes(file.read_bytes(), policy=email.policy.default)
    assert msg["To"] == "support@x.test" and msg["Subject"].startswith("NORMAL · Visitor")
    body = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert body.splitlines()[0] == msg["Subject"] and "Next step:" in body


def test_an_undeliverable_value_goes_to_dead_letters_with_its_reason(
    sqlite_engine: Engine, make_handoff_deps: Callable[..., HandoffDeps], tmp_path: Path
) -> None:
    from agent.models import Conversation

    targets = [
        TargetConfig(name="mail", kind="email", maildir=tmp_path / "mail", to="support@x.test"),
        # An operator's typo no retry can fix: a line break inside the To address.
        TargetConfig(name="broken", kind="email", maildir=tmp_path / "other", to="support@x.test\r\nBcc: x@evil.test"),
    ]
    deps = make_handoff_deps(engine=sqlite_engine, targets=targets)
    cid, _ = escalated_conversation(sqlite_engine)
    with Session(sqlite_engine) as session:
        conv = session.get(Conversation, cid)
        assert conv is not None
        conv.lead = {"name": "Mallory\r\nBcc: everyone@x.test"}  # what a visitor typed as their name
        session.add(conv)
        session.commit()
    result = run_once(deps)
    by_target = {d.target: d for d in list_deliveries(sqlite_engine)}
    # The name cannot break or inject a header: the email is delivered with the subject on one line.
    assert by_target["mail"].status == "delivered"
    [file] = list((tmp_path / "mail" / "new").iterdir())
    msg = email.message_from_bytes(file.read_bytes(), policy=email.policy.default)
    assert "Mallory Bcc: everyone@x.test" in msg["Subject"] and msg["Bcc"] is None
    # The broken address is dead-lettered at once (not left `delivering`, not retried), with why.
    broken = by_target["broken"]
    assert result["dead"] == [broken.id] and broken.status == "dead" and broken.attempts == 1
    assert broken.dead_letter_id is not None and (broken.last_error or "").startswith("undeliverable: ValueError")
    assert list((tmp_path / "other").rglob("*.eml")) == []


def _wait_for(check: Callable[[], bool], what: str, within_s: float = 15.0) -> None:
    end = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < end, f"still waiting for {what}"
        time.sleep(0.02)


def test_a_hanging_or_failing_target_does_not_delay_other_handoffs(
    engine: Engine, receiver: Receiver, make_handoff_deps: Callable[..., HandoffDeps]
) -> None:
    from handoff.config import RetryConfig
    from handoff.service import list_handoffs

    # A long per-attempt timeout: the first delivery stays in flight for the whole test.
    retry = RetryConfig(attempts=3, initial_s=0.0001, max_s=0.0005, jitter_s=0.0, timeout_s=60, lease_s=120)
    deps = make_handoff_deps(engine=engine, targets=_webhook(receiver), retry=retry)
    receiver.script(("hang", 60), ("status", 500), ("status", 200))
    worker = OutboxWorker(deps).start()
    try:
        escalated_conversation(engine)
        worker.notify()
        _wait_for(lambda: len(receiver.requests) == 1, "the first delivery to reach the hanging target")
        escalated_conversation(engine)
        worker.notify()
        _wait_for(lambda: len(list_handoffs(engine=engine, now=tick())) == 2, "the second handoff in the inbox")
        # The second handoff is in the inbox, and even delivered through a failure and its retry, while the
        # first delivery is still hanging.
        _wait_for(
            lambda: [d.status for d in list_deliveries(engine)] == ["delivered", "delivering"], "the second delivery"
        )
        second, first = list_deliveries(engine)
        assert first.attempts == 0 and receiver.requests[0].answered is None
        assert [a.ok for a in second.history] == [False, True] and second.history[0].status == 500
    finally:
        receiver.stop()  # releases the hanging request
        worker.stop()
