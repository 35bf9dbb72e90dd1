"""Delivery targets: a signed generic webhook, a Zendesk create-ticket request, an email written to a Maildir.

Every target gets the same idempotency key on every attempt of one delivery (`Idempotency-Key` header, the
email's Message-ID and file name), so at-least-once delivery never creates two tickets at a receiver that
dedupes on it.

Webhook signature (verify it as `verify_signature` does):
    X-ContextDesk-Timestamp: <unix seconds>
    X-ContextDesk-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body bytes>")>
A receiver recomputes the HMAC over the raw body, compares in constant time, rejects timestamps older than
its tolerance (5 minutes) and remembers idempotency keys it has seen for at least that long (replays).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic import SecretStr

from context.dbtypes import Clock
from handoff.config import HandoffConfig, TargetConfig
from handoff.errors import DeliveryError
from handoff.models import HandoffSummary
from handoff.summary_text import render_markdown, render_text

SIGNATURE_HEADER = "X-ContextDesk-Signature"
TIMESTAMP_HEADER = "X-ContextDesk-Timestamp"
SIGNATURE_TOLERANCE_S = 300
USER_AGENT = "ContextDesk-Handoff/1"


def sign(secret: SecretStr, body: bytes, timestamp: int) -> str:
    """The signature header value for a body sent at `timestamp`."""
    mac = hmac.new(secret.get_secret_value().encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify_signature(
    *,
    secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: float,
    tolerance_s: int = SIGNATURE_TOLERANCE_S,
) -> bool:
    """A receiver's check: the signature matches the raw body and the timestamp is fresh (stops replays)."""
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs(now - int(timestamp)) > tolerance_s:
        return False
    expected = sign(SecretStr(secret), body, int(timestamp))
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


@dataclass(frozen=True)
class Envelope:
    """What is delivered: the handoff id, the summary, and the key that makes re-sends harmless."""

    handoff_id: int
    conversation_id: str
    idempotency_key: str
    summary: HandoffSummary


@dataclass(frozen=True)
class DeliveryResult:
    """A successful attempt."""

    status: int | None
    detail: str = ""


class Target(Protocol):
    """Somewhere a handoff can be delivered; raises DeliveryError when an attempt fails."""

    name: str

    def deliver(self, envelope: Envelope) -> DeliveryResult:
        """Deliver once (the caller retries)."""
        ...


def webhook_payload(envelope: Envelope) -> dict[str, Any]:
    """The JSON body of a webhook delivery."""
    return {
        "type": "handoff.created",
        "handoff_id": envelope.handoff_id,
        "conversation_id": envelope.conversation_id,
        "idempotency_key": envelope.idempotency_key,
        "summary": envelope.summary.model_dump(mode="json"),
        "text": render_text(envelope.summary),
    }


def _post(client: httpx.Client, url: str, body: bytes, headers: dict[str, str]) -> DeliveryResult:
    try:
        response = client.post(url, content=body, headers=headers)
    except httpx.TimeoutException as exc:
        raise DeliveryError(f"timed out ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise DeliveryError(f"connection failed ({type(exc).__name__})") from exc
    if 200 <= response.status_code < 300:
        return DeliveryResult(response.status_code)
    # 4xx other than 408/409/429 will not get better by retrying; still retried (a receiver may be mid-deploy)
    # but marked so the dead letter says why.
    retryable = response.status_code in (408, 409, 429) or response.status_code >= 500
    raise DeliveryError(f"HTTP {response.status_code}", status=response.status_code, retryable=retryable)


class WebhookTarget:
    """POST the summary as JSON, signed with HMAC-SHA256 over timestamp + body."""

    def __init__(self, config: TargetConfig, *, secret: SecretStr | None, client: httpx.Client, clock: Clock) -> None:
        assert config.url
        self.name, self.url, self.secret, self.client = config.name, config.url, secret, client
        self.clock = clock  # signing timestamps (the receiver rejects stale ones)

    def deliver(self, envelope: Envelope) -> DeliveryResult:
        """One signed POST (a fresh timestamp per attempt; the same idempotency key)."""
        body = json.dumps(webhook_payload(envelope), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": envelope.idempotency_key,
        }
        if self.secret is not None:
            ts = int(self.clock().timestamp())
            headers[TIMESTAMP_HEADER] = str(ts)
            headers[SIGNATURE_HEADER] = sign(self.secret, body, ts)
        return _post(self.client, self.url, body, headers)


def zendesk_ticket(envelope: Envelope) -> dict[str, Any]:
    """The body of Zendesk's `POST /api/v2/tickets.json` for this handoff."""
    s = envelope.summary
    ticket: dict[str, Any] = {
        "subject": s.headline[:250],
        "comment": {"body": render_text(s), "public": False},
        "priority": s.priority.level,  # Zendesk's levels are the same four words
        "tags": ["contextdesk", "handoff", s.reason_code, f"route_{s.customer.route}"],
        "external_id": envelope.idempotency_key,
    }
    if s.customer.verified and s.customer.name:
        ticket["requester"] = {"name": s.customer.name}
    return {"ticket": ticket}


class ZendeskTarget:
    """POST a Zendesk create-ticket request (API-token basic auth when configured)."""

    def __init__(self, config: TargetConfig, *, token: SecretStr | None, client: httpx.Client) -> None:
        assert config.url
        self.name, self.url, self.client = config.name, config.url, client
        self.auth: str | None = None
        if config.auth_user and token is not None:
            raw = f"{config.auth_user}/token:{token.get_secret_value()}".encode()
            self.auth = "Basic " + base64.b64encode(raw).decode()

    def deliver(self, envelope: Envelope) -> DeliveryResult:
        """One create-ticket POST with the idempotency key."""
        body = json.dumps(zendesk_ticket(envelope)).encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        headers["Idempotency-Key"] = envelope.idempotency_key
        if self.auth:
            headers["Authorization"] = self.auth
        return _post(self.client, self.url, body, headers)


class MaildirTarget:
    """Write an RFC 5322 message (plain text + markdown alternative) into a Maildir's `new/` folder.

    No SMTP is spoken: a local mail system (or a person's mail client pointed at the folder) picks it up.
    The file name is the idempotency key, so a re-sent delivery replaces rather than duplicates the message.
    """

    def __init__(self, config: TargetConfig, *, clock: Clock) -> None:
        self.clock = clock  # the message's Date header
        assert config.maildir is not None and config.to
        self.name, self.root, self.to, self.sender = config.name, Path(config.maildir), config.to, config.sender

    def deliver(self, envelope: Envelope) -> DeliveryResult:
        """Write the message atomically (tmp/ then rename into new/)."""
        msg = EmailMessage()
        # A header is one line: a CR/LF a customer typed into their name must not break (or inject) headers.
        msg["Subject"] = " ".join(envelope.summary.headline.split())
        msg["From"] = self.sender
        msg["To"] = self.to
        msg["Date"] = formatdate(self.clock().timestamp(), localtime=False)
        msg["Message-ID"] = f"<{envelope.idempotency_key}@contextdesk>"
        msg["X-ContextDesk-Handoff"] = str(envelope.handoff_id)
        msg.set_content(render_text(envelope.summary))
        msg.add_alternative(render_markdown(envelope.summary), subtype="markdown")
        try:
            for sub in ("tmp", "new", "cur"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            name = f"{envelope.idempotency_key}.eml"
            tmp = self.root / "tmp" / name
            tmp.write_bytes(bytes(msg))
            os.replace(tmp, self.root / "new" / name)
        except OSError as exc:
            raise DeliveryError(f"cannot write to the maildir: {exc.strerror or exc}") from exc
        return DeliveryResult(None, f"written to {self.root / 'new' / name}")


def build_targets(config: HandoffConfig, *, clock: Clock, client: httpx.Client | None = None) -> dict[str, Target]:
    """The configured targets by name, sharing one HTTP client."""
    http = client or httpx.Client(timeout=config.retry.timeout_s, follow_redirects=False)
    out: dict[str, Target] = {}
    for t in config.targets:
        if t.kind == "webhook":
            out[t.name] = WebhookTarget(t, secret=config.webhook_secret, client=http, clock=clock)
        elif t.kind == "zendesk":
            out[t.name] = ZendeskTarget(t, token=config.zendesk_token, client=http)
        else:
            out[t.name] = MaildirTarget(t, clock=clock)
    return out


TargetFactory = Callable[[HandoffConfig], dict[str, Target]]
