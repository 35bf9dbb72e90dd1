"""A signed identity binds to exactly what was signed: one identifier kind for site user ids, the one email rule,
signed tokens with expiry and key rotation. The repros of issue 13 (a CRM contact number, a Zendesk user id,
Maya's email or phone signed as `user_id`) resolve to nobody."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.engine import Engine

from agent.config import SiteIdentity
from agent.models import ConversationCreate
from agent.service import AgentDeps, handle_message, start_conversation
from agent.visitor_identity import sign_identity, sign_identity_token, verify_identity
from context.canonical.models import CustomerRecord, Identifier
from tests.agent.chat.helpers import MAYA, SECRET

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
SHOPIFY = SiteIdentity(user_id_kind="shopify_customer", user_id_format="shopify:customer:{}")
KEYS = {"2026-11": SecretStr("old-key-" + "o" * 32), "2026-12": SecretStr("new-key-" + "n" * 32)}


def _identifiers(engine: Engine, kind: str) -> dict[str, str]:
    """value → customer id of every identifier of one kind."""
    idn, rec = Identifier.__table__, CustomerRecord.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(
            select(idn.c.value, rec.c.customer_id)
            .select_from(idn.join(rec, idn.c.record_id == rec.c.id))
            .where(idn.c.kind == kind)
        ).all()
    return {v: c for v, c in rows if c}


def _maya(engine: Engine) -> str:
    return _identifiers(engine, "email")[MAYA]


def _as_user_id(engine: Engine, value: str, binding: SiteIdentity, *, version: int = 2) -> str | None:
    h = sign_identity(secret=SECRET, kind="user_id", identifier=value, binding=binding, version=version)  # type: ignore[arg-type]
    ident = verify_identity(engine=engine, secret=SECRET, now=NOW, binding=binding, user_id=value, user_hash=h)
    assert ident.verified, ident.note
    return ident.customer_id


@pytest.mark.parametrize("binding", [SiteIdentity(), SHOPIFY], ids=["site_user", "shopify_customer"])
@pytest.mark.parametrize("version", [1, 2])
def test_a_site_user_id_never_resolves_across_identifier_kinds(
    make_deps: Callable[..., AgentDeps], binding: SiteIdentity, version: int
) -> None:
    engine = make_deps().engine
    maya = _maya(engine)
    crm = {v.removeprefix("crm:contact:"): c for v, c in _identifiers(engine, "crm_contact").items()}
    zendesk = {v.removeprefix("zendesk:user:"): c for v, c in _identifiers(engine, "zendesk_user").items()}
    phones = [v for v, c in _identifiers(engine, "phone").items() if c == maya]
    # Repro 1: a CRM contact number of someone else; repro 2: a Zendesk user id; repro 3: Maya's email and phone.
    contact = next(v for v, c in crm.items() if c != maya)
    ticket_user = next(v for v, c in zendesk.items() if c != maya)
    for value in [contact, ticket_user, MAYA, *phones, *(v.lstrip("+") for v in phones)]:
        assert _as_user_id(engine, value, binding, version=version) is None, value


def test_a_site_user_id_resolves_under_its_bound_kind_only(make_deps: Callable[..., AgentDeps]) -> None:
    engine = make_deps().engine
    maya = _maya(engine)
    shop_ids = [
        v.removeprefix("shopify:customer:") for v, c in _identifiers(engine, "shopify_customer").items() if c == maya
    ]
    crm_ids = [v.removeprefix("crm:contact:") for v, c in _identifiers(engine, "crm_contact").items() if c == maya]
    assert shop_ids and crm_ids
    assert _as_user_id(engine, shop_ids[0], SHOPIFY) == maya
    assert _as_user_id(engine, crm_ids[0], SHOPIFY) is None  # another source's id of the same person: no
    as_crm = SiteIdentity(user_id_kind="crm_contact", user_id_format="crm:contact:{}")
    assert _as_user_id(engine, crm_ids[0], as_crm) == maya
    assert _as_user_id(engine, shop_ids[0], as_crm) is None


def test_the_v2_hash_covers_the_kind_and_unversioned_hashes_can_be_refused(make_deps: Callable[..., AgentDeps]) -> None:
    engine = make_deps().engine
    shop = next(v.removeprefix("shopify:customer:") for v in _identifiers(engine, "shopify_customer"))
    # A v2 hash signed for the site_user kind does not verify once the site's ids are bound to another kind.
    h = sign_identity(secret=SECRET, kind="user_id", identifier=shop, binding=SiteIdentity())
    assert not verify_identity(
        engine=engine, secret=SECRET, now=NOW, binding=SHOPIFY, user_id=shop, user_hash=h
    ).verified
    # A hash made for an email is not a user id's hash (v2 covers the kind).
    email_hash = sign_identity(secret=SECRET, kind="email", identifier=MAYA)
    assert not verify_identity(engine=engine, secret=SECRET, now=NOW, user_id=MAYA, user_hash=email_hash).verified
    strict = SHOPIFY.model_copy(update={"accept_unversioned_hash": False})
    v1 = sign_identity(secret=SECRET, kind="user_id", identifier=shop, version=1)
    assert not verify_identity(
        engine=engine, secret=SECRET, now=NOW, binding=strict, user_id=shop, user_hash=v1
    ).verified
    assert verify_identity(engine=engine, secret=SECRET, now=NOW, binding=SHOPIFY, user_id=shop, user_hash=v1).verified


def test_a_verified_but_unknown_user_gets_no_ones_data_and_is_not_told_to_sign_in(
    make_deps: Callable[..., AgentDeps],
) -> None:
    deps = make_deps(now=lambda: NOW)
    uid = "site-user-that-matches-nobody"
    conv = start_conversation(
        deps=deps,
        request=ConversationCreate(user_id=uid, user_hash=sign_identity(secret=SECRET, kind="user_id", identifier=uid)),
    )
    assert conv.verified and conv.route == "visitor"
    reply = handle_message(deps=deps, conversation_id=conv.id, content="where is my order?")
    assert reply.reply and "not signed in" not in reply.reply and "signed in" in reply.reply
    assert "#1042" not in reply.reply and "1Z999AA10123456784" not in reply.reply


def _token(**kw: object) -> str:
    fields: dict = {"key": KEYS["2026-12"], "kid": "2026-12", "sub": "x", "expires_at": NOW + timedelta(minutes=5)}
    fields.update(kw)
    return sign_identity_token(**fields)


def _verify_token(engine: Engine, token: str, keys: dict[str, SecretStr] = KEYS, now: datetime = NOW):  # type: ignore[no-untyped-def]
    return verify_identity(engine=engine, secret=None, now=now, binding=SHOPIFY, token_keys=keys, identity_token=token)


def test_identity_tokens_expire_need_the_right_key_and_rotate(make_deps: Callable[..., AgentDeps]) -> None:
    engine = make_deps().engine
    maya = _maya(engine)
    shop = next(
        v.removeprefix("shopify:customer:") for v, c in _identifiers(engine, "shopify_customer").items() if c == maya
    )
    ok = _verify_token(engine, _token(sub=shop))
    assert ok.verified and ok.kind == "token" and ok.customer_id == maya
    # Rotation: a token signed with the previous key still verifies while both keys are configured…
    assert _verify_token(engine, _token(sub=shop, key=KEYS["2026-11"], kid="2026-11")).customer_id == maya
    # …and not once it is removed (unknown kid).
    gone = _verify_token(
        engine, _token(sub=shop, key=KEYS["2026-11"], kid="2026-11"), keys={"2026-12": KEYS["2026-12"]}
    )
    assert not gone.verified and "unknown key id" in gone.note
    wrong_key = _verify_token(engine, _token(sub=shop, key="someone-elses-key-" + "x" * 32))
    assert not wrong_key.verified and "signature" in wrong_key.note
    expired = _verify_token(engine, _token(sub=shop), now=NOW + timedelta(minutes=6))
    assert not expired.verified and "expired" in expired.note
    no_exp = sign_identity_token(key=KEYS["2026-12"], kid="2026-12", sub=shop, expires_at=NOW)
    import jwt as pyjwt

    claims = pyjwt.decode(no_exp, options={"verify_signature": False})
    del claims["exp"]
    unexpiring = pyjwt.encode(claims, KEYS["2026-12"].get_secret_value(), algorithm="HS256", headers={"kid": "2026-12"})
    assert not _verify_token(engine, unexpiring).verified
    none_alg = pyjwt.encode({"sub": shop, "exp": 2**40}, key=None, algorithm="none", headers={"kid": "2026-12"})
    assert not _verify_token(engine, none_alg).verified
    # No kid with several keys configured: which one? Refused.
    assert not _verify_token(engine, _token(sub=shop, kid=None)).verified
    assert _verify_token(engine, _token(sub=shop, kid=None), keys={"only": KEYS["2026-12"]}).customer_id == maya


def test_a_tokens_sub_binds_like_a_user_id_and_its_email_must_agree(make_deps: Callable[..., AgentDeps]) -> None:
    engine = make_deps().engine
    maya = _maya(engine)
    crm_id = next(v.removeprefix("crm:contact:") for v, c in _identifiers(engine, "crm_contact").items() if c == maya)
    assert _verify_token(engine, _token(sub=crm_id)).customer_id is None  # a CRM number as sub: nobody
    assert _verify_token(engine, _token(sub=MAYA)).customer_id is None  # an email as sub: nobody
    assert _verify_token(engine, _token(sub="unknown-user", email=MAYA)).customer_id == maya  # the signed email
    other = next(c for c in _identifiers(engine, "email").values() if c != maya)
    other_shop = next(
        (
            v.removeprefix("shopify:customer:")
            for v, c in _identifiers(engine, "shopify_customer").items()
            if c == other
        ),
        None,
    )
    if other_shop is not None:
        clash = _verify_token(engine, _token(sub=other_shop, email=MAYA))
        assert clash.verified and clash.customer_id is None


@pytest.mark.parametrize(
    "disguise",
    [
        lambda e: e.replace("k", "\u212a", 1),  # KELVIN SIGN lower-cases (and NFKC-folds) onto "k"
        lambda e: e + "\x1f",
        lambda e: "\x00" + e,
        lambda e: e.replace("@", "\u200b@"),
        lambda e: e.replace("a", "\u0430", 1),  # CYRILLIC SMALL LETTER A
        lambda e: chr(ord(e[0]) + 0xFEE0) + e[1:],  # its FULLWIDTH form (U+FF41…)
    ],
    ids=["kelvin-sign", "trailing-control", "leading-nul", "zero-width", "cyrillic-a", "fullwidth"],
)
def test_look_alike_and_control_character_emails_match_no_customer(
    make_deps: Callable[..., AgentDeps], disguise: Callable[[str], str]
) -> None:
    engine = make_deps().engine
    owners = _identifiers(engine, "email")
    # A real customer's address with a "k" and an "a" (the KELVIN SIGN repro needs one: kathleen35@…).
    real = next(e for e in sorted(owners) if "k" in e and "a" in e and e[0].isalpha())
    email = disguise(real)
    assert email != real
    for version in (1, 2):
        h = sign_identity(secret=SECRET, kind="email", identifier=email, version=version)  # type: ignore[arg-type]
        ident = verify_identity(engine=engine, secret=SECRET, now=NOW, email=email, user_hash=h)
        assert ident.verified and ident.customer_id is None, ident.note
    h = sign_identity(secret=SECRET, kind="email", identifier=real)
    assert verify_identity(engine=engine, secret=SECRET, now=NOW, email=real, user_hash=h).customer_id == owners[real]
