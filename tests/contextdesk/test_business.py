"""The `business:` section: neutral defaults, clear errors, and the agent's hours taken from it."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from agent.config import parse_agent_config
from context.business import BusinessConfig, parse_business_config
from context.errors import ConfigError
from context.profiles.config import parse_profiles_config

SHOP = {
    "business": {
        "name": "Spoke & Chain Cycles",
        "timezone": "Europe/London",
        "hours": {"days": ["tue", "sat"], "open": "08:30", "close": "18:00"},
        "currency": "£",
    }
}


def test_defaults_name_nothing_of_the_demo() -> None:
    business = parse_business_config({})
    assert (business.name, business.timezone, business.currency, business.support_email) == (None, "UTC", None, None)
    assert business.team_name == "our team"
    assert business == BusinessConfig()


def test_the_agent_takes_its_hours_and_zone_from_the_business() -> None:
    hours = parse_agent_config(SHOP).business_hours
    assert (hours.timezone, hours.days, hours.open, hours.close) == (
        "Europe/London",
        ["tue", "sat"],
        time(8, 30),
        time(18),
    )
    own = parse_agent_config({**SHOP, "agent": {"business_hours": {"timezone": "Asia/Tokyo"}}}).business_hours
    assert own.timezone == "Asia/Tokyo"  # the agent's own section wins


def test_dates_and_causes_are_in_the_business_zone() -> None:
    business = parse_business_config(SHOP)
    assert business.currency == "GBP" and business.team_name == "the Spoke & Chain Cycles team"
    assert f"{business.local(datetime(2026, 6, 30, 23, 30, tzinfo=UTC)):%Y-%m-%d %H:%M}" == "2026-07-01 00:30"
    assert parse_profiles_config(SHOP).status.timezone == "Europe/London"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"timezone": "London"}, "business.timezone: unknown time zone 'London'; did you mean 'Europe/London'?"),
        ({"hours": {"open": "18:00", "close": "09:00"}}, "business.hours: close must be after open"),
        ({"colour": "red"}, "business.colour"),
        ({"support_email": "help"}, "'help' is not an email address"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_business_config({"business": section}, origin="contextdesk.yaml")
    assert message in str(err.value) and str(err.value).startswith("contextdesk.yaml: ")
