"""The embeddable widget's configuration (the `widget:` section of contextdesk.yaml) and its conversation tokens.

A conversation token `cdw1.<payload>.<mac>` is what the widget's iframe holds (in memory only) after it exchanged
the site's signed identity once (POST /v1/widget/session): base64url JSON `{"c": conversation id, "exp": unix
seconds}` and an HMAC-SHA256 over `cdw1.<payload>` with the widget token secret. It is short-lived and names
exactly one conversation. A resume ticket `cdr1.<mac>` (kept by the iframe, on ContextDesk's origin, so the
host page cannot read it) lets a visitor's history survive page loads without a long-lived cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from agent.config import BusinessHours
from agent.errors import AgentConfigError, WidgetTokenError
from agent.hours import is_open, next_opening
from context.errors import validation_problems

TOKEN_PREFIX = "cdw1."
TICKET_PREFIX = "cdr1."

#: The UI strings shipped for each language; a business overrides any of them under `widget.strings.<lang>`.
BUILTIN_STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "launcher": "Chat with us",
        "title": "Chat",
        "greeting": "Hi! How can we help?",
        "placeholder": "Write a message…",
        "send": "Send",
        "stop": "Stop",
        "close": "Close chat",
        "new_conversation": "Start a new conversation",
        "typing": "Typing…",
        "assistant": "Assistant",
        "you": "You",
        "team": "Team",
        "sources": "Sources",
        "waiting": "A person from our team will reply — usually within {eta}.",
        "waiting_soon": "a few minutes",
        "with_human": "You are chatting with {name}.",
        "resolved": "This conversation is resolved.",
        "away": "We are away right now. A person will reply from {opening}; you don't need to stay in the chat.",
        "error": "Something went wrong. Please try again.",
        "reconnecting": "Reconnecting…",
        "unread": "{count} unread messages",
        "verified": "Signed in",
        "stopped": "(stopped)",
    },
    "fr": {
        "launcher": "Discuter avec nous",
        "title": "Discussion",
        "greeting": "Bonjour ! Comment pouvons-nous vous aider ?",
        "placeholder": "Écrivez un message…",
        "send": "Envoyer",
        "stop": "Arrêter",
        "close": "Fermer la discussion",
        "new_conversation": "Nouvelle conversation",
        "typing": "En train d'écrire…",
        "assistant": "Assistant",
        "you": "Vous",
        "team": "Équipe",
        "sources": "Sources",
        "waiting": "Une personne de notre équipe va répondre — en général sous {eta}.",
        "waiting_soon": "quelques minutes",
        "with_human": "Vous discutez avec {name}.",
        "resolved": "Cette conversation est résolue.",
        "away": "Nous sommes absents pour le moment. Une personne répondra à partir de {opening} ; inutile de rester.",
        "error": "Une erreur s'est produite. Veuillez réessayer.",
        "reconnecting": "Reconnexion…",
        "unread": "{count} messages non lus",
        "verified": "Connecté",
        "stopped": "(arrêté)",
    },
}

_COLOR = r"^#[0-9a-fA-F]{6}$"


class WidgetLook(BaseModel):
    """What a business sets for its widget (globally, or per site under `widget.sites.<site>`)."""

    model_config = ConfigDict(extra="forbid")

    business_name: str = Field(
        "", max_length=80, description="Shown in the panel's header; unset: business.name; empty: no name."
    )
    color: str = Field("#2457d6", pattern=_COLOR, description="Accent colour, #rrggbb.")
    position: Literal["right", "left"] = "right"
    default_language: str = "en"
    languages: list[str] = Field(default_factory=lambda: ["en", "fr"])
    # Overrides of the UI strings per language (greeting, launcher, away, …): {lang: {key: text}}.
    strings: dict[str, dict[str, str]] = Field(default_factory=dict)

    @field_validator("strings")
    @classmethod
    def _known_keys(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        known = set(BUILTIN_STRINGS["en"])
        for lang, table in value.items():
            unknown = sorted(set(table) - known)
            if unknown:
                raise ValueError(f"strings.{lang}: unknown keys {unknown}; known: {sorted(known)}")
        return value


class WidgetConfig(WidgetLook):
    """The `widget:` section: the look, plus per-site overrides (`sites: {<data-site>: {color: …}}`)."""

    sites: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def for_site(self, site: str | None) -> WidgetLook:
        """The look of one site (the section's own values where the site sets nothing)."""
        base = self.model_dump(exclude={"sites"})
        override = self.sites.get(site or "", {})
        try:
            return WidgetLook.model_validate({**base, **override})
        except ValidationError as exc:
            raise AgentConfigError(validation_problems(exc, prefix=f"widget.sites.{site}.")) from None


def load_widget_config(path: Path | None) -> WidgetConfig:
    """The `widget:` section of a contextdesk.yaml (neutral defaults without one)."""
    if path is None:
        return WidgetConfig()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise AgentConfigError(f"{path}: cannot read the widget section: {exc}") from None
    raw = data.get("widget") or {}
    section = dict(raw) if isinstance(raw, dict) else raw
    if isinstance(section, dict) and "business_name" not in section:
        # The panel's header names the business of the `business:` section unless the widget names its own.
        name = _business_name(data, origin=str(path))
        if name:
            section["business_name"] = name[:80]
    try:
        return WidgetConfig.model_validate(section)
    except ValidationError as exc:
        raise AgentConfigError(f"{path}: {validation_problems(exc, prefix='widget.')}") from None


def _business_name(data: dict[str, Any], *, origin: str) -> str | None:
    from context.business import parse_business_config
    from context.errors import ConfigError

    try:
        return parse_business_config(data, origin=origin).name
    except ConfigError as exc:
        raise AgentConfigError(str(exc)) from None


def pick_language(look: WidgetLook, accept_language: str | None) -> str:
    """The first language of the browser's list the widget speaks (else the default)."""
    offered = [lang for lang in look.languages if lang in BUILTIN_STRINGS or lang in look.strings]
    wanted: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag:
            wanted.append((-quality, i, tag.lower()))
    for _q, _i, tag in sorted(wanted):
        for lang in offered:
            if tag == lang.lower() or tag.split("-")[0] == lang.lower():
                return lang
    return look.default_language if look.default_language in offered else (offered[0] if offered else "en")


def strings_for(look: WidgetLook, lang: str) -> dict[str, str]:
    """The UI strings of a language: English, then the language's shipped strings, then the business's own."""
    return {**BUILTIN_STRINGS["en"], **BUILTIN_STRINGS.get(lang, {}), **look.strings.get(lang, {})}


def availability(hours: BusinessHours, now: datetime) -> dict[str, Any]:
    """Whether people are at work now, and when they next are (ISO, the business's zone)."""
    return {"open_now": is_open(hours, now), "next_opening": next_opening(hours, now).isoformat()}


# --- tokens -------------------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: SecretStr, message: str) -> str:
    return _b64(hmac.new(secret.get_secret_value().encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest())


def issue_token(*, secret: SecretStr, conversation_id: str, now: datetime, minutes: float) -> tuple[str, datetime]:
    """A conversation token for one conversation, valid `minutes` from `now`, and its expiry."""
    expires = now + timedelta(minutes=minutes)
    payload = _b64(json.dumps({"c": conversation_id, "exp": int(expires.timestamp())}, separators=(",", ":")).encode())
    body = TOKEN_PREFIX + payload
    return f"{body}.{_mac(secret, body)}", expires


def conversation_of_token(token: str, *, secret: SecretStr, now: datetime) -> str:
    """The conversation a `cdw1.` token grants, or WidgetTokenError (malformed, forged or expired)."""
    if not token.startswith(TOKEN_PREFIX) or token.count(".") != 2:
        raise WidgetTokenError("not a widget conversation token (cdw1.…)")
    body, _, mac = token.rpartition(".")
    if not hmac.compare_digest(_mac(secret, body).encode("ascii"), mac.encode("ascii", "replace")):
        raise WidgetTokenError("widget token signature is wrong")
    try:
        claims = json.loads(_unb64(body[len(TOKEN_PREFIX) :]))
        conversation_id, exp = str(claims["c"]), int(claims["exp"])
    except (ValueError, KeyError, TypeError):
        raise WidgetTokenError("widget token payload is malformed") from None
    if now.timestamp() >= exp:
        raise WidgetTokenError("widget token has expired: exchange the identity again")
    return conversation_id


def bearer_conversation(authorization: str | None, *, secret: SecretStr, now: datetime) -> str | None:
    """The conversation an `Authorization: Bearer cdw1.…` header grants; None without such a header."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip().startswith(TOKEN_PREFIX):
        return None
    return conversation_of_token(token.strip(), secret=secret, now=now)


def resume_ticket(*, secret: SecretStr, conversation_id: str) -> str:
    """The ticket that lets the same browser resume this conversation after a page load."""
    return TICKET_PREFIX + _mac(secret, f"resume\n{conversation_id}")


def check_ticket(*, secret: SecretStr, conversation_id: str, ticket: str) -> bool:
    """Whether a resume ticket was issued for this conversation (constant-time)."""
    expected = resume_ticket(secret=secret, conversation_id=conversation_id)
    return hmac.compare_digest(expected.encode("ascii"), ticket.encode("ascii", "replace"))
