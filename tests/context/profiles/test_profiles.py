"""Golden profiles: survivorship, provenance, conflicts, status derivation and history, incremental recompute."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from context.canonical.models import CustomerRecord, Order
from context.profiles import ProfilesConfig, get_profile, list_conflicts, parse_profiles_config, recompute_profiles
from context.profiles.errors import ProfileNotFoundError, ProfilesConfigError
from context.profiles.service import status_history
from context.profiles.status import OrderStats, derive_status
from tests.clock import NOW
from tests.context.profiles.factories import customer, day, order, record, set_subscription_status, subscription, ticket

CONFIG = ProfilesConfig()


def test_source_priority_across_three_sources_beats_recency(engine: Engine) -> None:
    cid = customer(engine)
    record(engine, cid, "crm", "c1", updated=day(5), email="crm@example.com", full_name="Jo Crm")
    record(engine, cid, "shopify", "s1", updated=day(3), email="shop@example.com", full_name="Jo Shop")
    record(engine, cid, "stripe", "b1", updated=day(1), email="bill@example.com", full_name="Jo Bill")
    recompute_profiles(now=NOW, engine=engine, config=CONFIG)
    fields = get_profile(engine=engine, customer_id=cid).fields
    # Email: stripe > shopify > crm even though stripe's record is the oldest.
    assert fields["email"].value == "bill@example.com"
    assert fields["email"].source == "stripe"
    # Names: crm first.
    assert fields["full_name"].value == "Jo Crm"
    # A configured priority can flip it.
    flipped = parse_profiles_config(
        {"profiles": {"fields": {"email": {"rule": "source_priority", "sources": ["crm"]}}}}
    )
    recompute_profiles(now=NOW, engine=engine, config=flipped, full=True)
    assert get_profile(engine=engine, customer_id=cid).fields["email"].value == "crm@example.com"


def test_a_blank_never_overwrites_but_a_clearable_field_can_be_cleared(engine: Engine) -> None:
    cid = customer(engine)
    record(engine, cid, "crm", "old", updated=day(1), phone="+14155550100", crm_owner="Renee Castillo")
    # The newest CRM record sent phone and owner explicitly blank.
    record(engine, cid, "crm", "new", updated=day(9), blank=["phone", "crm_owner"])
    recompute_profiles(now=NOW, engine=engine, config=CONFIG)
    fields = get_profile(engine=engine, customer_id=cid).fields
    assert fields["phone"].value == "+14155550100"  # phone is not clearable: the blank is ignored
    assert fields["crm_owner"].value is None  # crm_owner is clearable: the CRM unassigned the owner
    assert fields["crm_owner"].source_record_id == "new"
    assert "cleared" in fields["crm_owner"].rule


def test_every_surviving_value_has_provenance(engine: Engine) -> None:
    cid = customer(engine)
    record(
        engine,
        cid,
        "crm",
        "c1",
        updated=day(2),
        email="a@example.com",
        first_name="Ana",
        last_name="Ruiz",
        address="1 Main St",
        city="Austin",
        postcode="78704",
        company="Acme",
        lifecycle_stage="customer",
    )
    record(engine, cid, "webforms", "w1", updated=day(4), email="a@example.com", company="Acme", city="Dallas")
    recompute_profiles(now=NOW, engine=engine, config=CONFIG)
    fields = get_profile(engine=engine, customer_id=cid).fields
    assert len(fields) >= 8
    for name, fv in fields.items():
        assert fv.source in {"crm", "webforms"}, name
        assert fv.source_record_id in {"c1", "w1"}, name
        assert fv.source_updated_at is not None, name
        assert fv.rule, name
    # city follows the record that won `address`, not the newer web form.
    assert fields["city"].value == "Austin"
    assert fields["city"].rule == "same_source_as(address)"
    assert fields["company"].rule.startswith("most_frequent")


def test_conflicts_are_recorded_and_listed(engine: Engine) -> None:
    cid = customer(engine)
    record(engine, cid, "crm", "c1", updated=day(1), email="old@example.com", last_name="Herrera")
    record(engine, cid, "stripe", "b1", updated=day(2), email="new@example.com", last_name="HERRERA ")
    recompute_profiles(now=NOW, engine=engine, config=CONFIG)
    conflicts = list_conflicts(engine=engine, customer_id=cid)
    by_field = {c.field: c for c in conflicts}
    assert set(by_field) == {"email"}  # case/space variants of one name are not a conflict
    email = by_field["email"]
    assert email.chosen == "new@example.com"
    assert {(v["source"], v["source_record_id"], v["value"]) for v in email.values} == {
        ("crm", "c1", "old@example.com"),
        ("stripe", "b1", "new@example.com"),
    }
    assert get_profile(engine=engine, customer_id=cid).conflict_count == 1


@pytest.mark.parametrize(
    ("setup", "status", "cause_bits"),
    [
        ("trial", "trial", ["sub_T", "trialing", "trial ends 2026-11-08"]),
        ("active", "active", ["sub_A", "active", "renews 2026-11-10"]),
        ("past_due", "past_due", ["sub_P", "past_due", "payment failed"]),
        ("former", "former", ["sub_F", "canceled_at 2026-08-15", "ended 2026-09-01"]),
        ("customer", "customer", ["2 orders", "shopify", "no subscription"]),
        ("lead", "lead", ["known from crm", "no orders"]),
    ],
)
def test_status_derivation_with_cause(engine: Engine, setup: str, status: str, cause_bits: list[str]) -> None:
    cid = customer(engine)
    record(engine, cid, "crm", f"crm-{setup}", email=f"{setup}@example.com", lifecycle_stage="lead")
    if setup == "trial":
        subscription(engine, cid, "sub_T", "trialing", plan="plus", trial_end=day(7), started_at=day(-7))
    elif setup == "active":
        subscription(engine, cid, "sub_A", "active", plan="pro", current_period_end=day(9), started_at=day(-356))
    elif setup == "past_due":
        subscription(engine, cid, "sub_P", "past_due", plan="basic", current_period_end=day(-12))
    elif setup == "former":
        # An old canceled subscription and nothing current: former, with the Stripe dates as the cause.
        subscription(
            engine,
            cid,
            "sub_F",
            "canceled",
            plan="plus",
            canceled_at=day(-78),
            cancel_at=day(-61),
            started_at=day(-426),
        )
    elif setup == "customer":
        order(engine, cid, "#1050", day(-48))
        order(engine, cid, "#1063", day(-1))
    recompute_profiles(now=NOW, engine=engine, config=CONFIG)
    profile = get_profile(engine=engine, customer_id=cid)
    assert profile.status == status
    for bit in cause_bits:
        assert bit in profile.status_cause
    if setup in {"trial", "active", "past_due", "former"}:
        assert profile.status_source == "stripe"
    if setup == "customer":
        assert profile.order_count == 2 and str(profile.lifetime_value) == "40.0000"
        assert profile.last_order_at == day(-1)


def test_unknown_and_former_from_crm_without_data() -> None:
    cfg = ProfilesConfig().status
    assert (
        derive_status(
            subscriptions=[], orders=OrderStats(), lifecycle=None, record_sources=[], first_seen=None, config=cfg
        ).status
        == "unknown"
    )


def test_trial_customer_whom_the_crm_calls_lead_is_a_status_conflict(engine: Engine) -> None:
    cid = customer(engine)
    record(engine, cid, "crm", "100003", email="liam@example.com", lifecycle_stage="lead")
    subscription(engine, cid, "sub_L", "trialing", plan="plus", trial_end=day(7))
    recompute_profiles(now=NOW, engine=engine, config=CONFIG)
    [conflict] = list_conflicts(engine=engine, field="status")
    assert conflict.chosen == "trial"
    assert {v["value"] for v in conflict.values} == {"trial", "lead"}


def test_status_history_records_changes_with_causes(engine: Engine) -> None:
    cid = customer(engine)
    record(engine, cid, "crm", "c1", email="t@example.com")
    subscription(engine, cid, "sub_H", "active", plan="plus", current_period_end=day(10))
    recompute_profiles(now=NOW, engine=engine, config=CONFIG)
    set_subscription_status(engine, "sub_H", "canceled", canceled_at=day(12), cancel_at=day(14))
    summary = recompute_profiles(now=NOW, engine=engine, config=CONFIG)  # incremental: only the changed customer
    assert summary.customers == 1 and summary.status_changes == 1
    history = status_history(engine=engine, customer_id=cid)
    assert [(h.from_status, h.to_status) for h in history] == [(None, "active"), ("active", "former")]
    assert "canceled_at 2026-11-13" in history[-1].cause
    assert history[-1].source_record_id == "sub_H"


def test_incremental_recompute_follows_merges_and_unmerges(engine: Engine) -> None:
    a, b = customer(engine), customer(engine)
    record(engine, a, "crm", "ca", email="a@example.com")
    rid = record(engine, b, "stripe", "sb", email="a@example.com")
    ticket(engine, b, "T1", "open", day(1))
    recompute_profiles(now=NOW, engine=engine, config=CONFIG)
    assert get_profile(engine=engine, customer_id=a).open_ticket_count == 0

    def move(record_ids: list[int], to: str) -> None:
        with Session(engine) as session:
            session.exec(update(CustomerRecord).where(CustomerRecord.id.in_(record_ids)).values(customer_id=to))  # type: ignore[union-attr]
            session.commit()

    # Merge: identity moves b's records to a (b's id becomes an alias).
    with Session(engine) as session:
        b_records = list(session.exec(select(CustomerRecord.id).where(CustomerRecord.customer_id == b)))
    move([r for r in b_records if r is not None], a)
    summary = recompute_profiles(now=NOW, engine=engine, config=CONFIG)
    assert summary.customers == 1 and summary.removed == 1
    assert get_profile(engine=engine, customer_id=a).open_ticket_count == 1
    with pytest.raises(ProfileNotFoundError):
        get_profile(engine=engine, customer_id=b)
    # Unmerge: the stripe record goes back to b.
    move([rid], b)
    summary = recompute_profiles(now=NOW, engine=engine, config=CONFIG)
    assert summary.customers == 2
    assert get_profile(engine=engine, customer_id=b).fields["email"].source == "stripe"
    # Nothing changed: nothing to do.
    assert recompute_profiles(now=NOW, engine=engine, config=CONFIG).customers == 0


def test_bad_config_names_the_key() -> None:
    with pytest.raises(ProfilesConfigError, match=r"profiles\.fields\.email.*sources"):
        parse_profiles_config({"profiles": {"fields": {"email": {"rule": "source_priority"}}}}, origin="x.yaml")
    with pytest.raises(ProfilesConfigError, match="unknown profile fields"):
        parse_profiles_config({"profiles": {"fields": {"shoe_size": {"rule": "most_recent"}}}})


def test_shipping_addresses_are_not_conflicts_of_the_customers_address(engine: Engine) -> None:
    cid = customer(engine)
    record(engine, cid, "crm", "c1", updated=day(1), email="ana@example.com", address="1 Home St", city="Leeds")
    for n, (street, city) in enumerate([("9 Gift Rd", "York"), ("4 Office Pk", "Hull"), ("1 Home St", "Leeds")]):
        order(engine, cid, f"#10{n}", day(2 + n), email="ana@example.com")
        with Session(engine) as session:
            session.execute(
                update(CustomerRecord)
                .where(CustomerRecord.source_record_id == f"o-#10{n}")  # type: ignore[arg-type]
                .values(address=street, city=city)
            )
            session.commit()
    recompute_profiles(now=NOW, engine=engine, config=CONFIG)
    profile = get_profile(engine=engine, customer_id=cid)
    assert profile.fields["address"].value == "1 Home St"
    assert profile.fields["city"].value == "Leeds"
    assert list_conflicts(engine=engine, customer_id=cid) == []


def test_an_order_address_fills_the_profile_when_no_customer_record_has_one(engine: Engine) -> None:
    cid = customer(engine)
    record(engine, cid, "crm", "c1", updated=day(1), email="bo@example.com")
    for n, street in enumerate(["9 Gift Rd", "4 Office Pk"]):
        order(engine, cid, f"#20{n}", day(2 + n), email="bo@example.com")
        with Session(engine) as session:
            session.execute(
                update(CustomerRecord)
                .where(CustomerRecord.source_record_id == f"o-#20{n}")  # type: ignore[arg-type]
                .values(address=street)
            )
            session.commit()
    recompute_profiles(now=NOW, engine=engine, config=CONFIG)
    assert get_profile(engine=engine, customer_id=cid).fields["address"].value == "4 Office Pk"
    assert list_conflicts(engine=engine, customer_id=cid) == []


def test_lifetime_value_is_unknown_when_no_order_has_a_readable_total(engine: Engine) -> None:
    cid = customer(engine)
    record(engine, cid, "crm", "c1", updated=day(1), email="cy@example.com")
    order(engine, cid, "#301", day(2), email="cy@example.com")
    with Session(engine) as session:
        session.execute(update(Order).where(Order.order_number == "#301").values(total=None))  # type: ignore[arg-type]
        session.commit()
    recompute_profiles(now=NOW, engine=engine, config=CONFIG)
    profile = get_profile(engine=engine, customer_id=cid)
    assert profile.order_count == 1
    assert profile.lifetime_value is None
