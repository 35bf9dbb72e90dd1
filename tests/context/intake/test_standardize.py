"""Each standardization rule on real messy values."""

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from context.errors import StandardizationError
from context.intake import standardize as std
from context.intake.config import BUILTIN_NULL_VALUES

NEW_YORK = std.zone("America/New_York")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Jane.Doe@Example.COM ", "jane.doe@example.com"),
        ("JANE@EXAMPLE.COM", "jane@example.com"),
        ("Jane Doe <jane@example.com>", "jane@example.com"),
        ("mailto:bob@mail.example", "bob@mail.example"),
        ("o'neil+tea@example.org", "o'neil+tea@example.org"),
    ],
)
def test_emails_are_trimmed_lowercased_and_unwrapped(raw: str, expected: str) -> None:
    assert std.standardize_email(raw) == expected


@pytest.mark.parametrize("raw", ["bob@@example.com", "bob at example.com", "jane@example", "jane..doe@example.com"])
def test_invalid_emails_are_rejected_with_a_reason(raw: str) -> None:
    with pytest.raises(StandardizationError, match="invalid email"):
        std.standardize_email(raw)


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(415) 555-2671", "US", "+14155552671"),
        ("415.555.2671", "US", "+14155552671"),
        ("+1 415 555 2671", "GB", "+14155552671"),
        ("001 415 555 2671", "DE", "+14155552671"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+44 (0)20 7946 0958", "US", "+442079460958"),
        ("415-555-2671 ext 7", "US", "+14155552671"),
    ],
)
def test_phones_become_e164_with_the_default_region(raw: str, region: str, expected: str) -> None:
    assert std.standardize_phone(raw, region) == expected


@pytest.mark.parametrize("raw", ["12", "555-0000", "not a phone", "000-000-0000"])
def test_invalid_phones_are_rejected(raw: str) -> None:
    with pytest.raises(StandardizationError):
        std.standardize_phone(raw, "US")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  JANE  ", "Jane"),
        ("o'brien", "O'Brien"),
        ("JEAN-LUC PICARD", "Jean-Luc Picard"),
        ("mcdonald", "McDonald"),
        ("LUDWIG VAN BEETHOVEN", "Ludwig van Beethoven"),
        ("DeShawn", "DeShawn"),  # mixed case is the person's own spelling: keep it
        ("mary   ann", "Mary Ann"),
    ],
)
def test_names_are_trimmed_and_cased(raw: str, expected: str) -> None:
    assert std.standardize_name(raw) == expected


def test_names_with_digits_are_rejected() -> None:
    with pytest.raises(StandardizationError, match="digits"):
        std.standardize_name("J4ne")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("US", "US"),
        ("usa", "US"),
        ("U.S.A.", "US"),
        ("United States of America", "US"),
        ("U.K.", "GB"),
        ("England", "GB"),
        ("Deutschland", "DE"),
        ("DEU", "DE"),
        ("france", "FR"),
        ("Viet Nam", "VN"),
    ],
)
def test_countries_become_iso_alpha2(raw: str, expected: str) -> None:
    assert std.standardize_country(raw) == expected


def test_unknown_country_is_rejected() -> None:
    with pytest.raises(StandardizationError, match="unknown country"):
        std.standardize_country("Atlantis")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-03-05T14:22:00Z", datetime(2024, 3, 5, 14, 22, tzinfo=UTC)),
        ("2024-03-05T14:22:00-04:00", datetime(2024, 3, 5, 18, 22, tzinfo=UTC)),
        # naive: taken in the source's zone (New York, EST in March before DST)
        ("2024-03-05 14:22", datetime(2024, 3, 5, 19, 22, tzinfo=UTC)),
        ("03/14/2025 2:05 PM", datetime(2025, 3, 14, 18, 5, tzinfo=UTC)),
        ("2024-07-01", datetime(2024, 7, 1, 4, 0, tzinfo=UTC)),
        (1714557600, datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        ("1714557600000", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        ("5 Mar 2024 09:00", datetime(2024, 3, 5, 14, 0, tzinfo=UTC)),
    ],
)
def test_timestamps_become_utc_aware(raw: object, expected: datetime) -> None:
    value = std.standardize_timestamp(raw, NEW_YORK)
    assert value == expected
    assert value.tzinfo is UTC


def test_day_first_dates_follow_the_source_setting() -> None:
    assert std.standardize_timestamp("03/04/2024", std.zone("UTC"), dayfirst=True).month == 4
    assert std.standardize_timestamp("03/04/2024", std.zone("UTC"), dayfirst=False).month == 3


@pytest.mark.parametrize("raw", ["yesterday", "0000-00-00", "13", "31/31/2024"])
def test_non_dates_are_rejected(raw: str) -> None:
    with pytest.raises(StandardizationError):
        std.standardize_timestamp(raw, std.zone("UTC"))


@pytest.mark.parametrize(
    ("raw", "minor", "expected", "currency"),
    [
        ("$1,234.50", False, Decimal("1234.50"), "USD"),
        ("1.234,50 €", False, Decimal("1234.50"), "EUR"),
        ("EUR 12,50", False, Decimal("12.50"), "EUR"),
        ("£9.99", False, Decimal("9.99"), "GBP"),
        ("(12.00)", False, Decimal("-12.00"), None),
        (2900, True, Decimal("29.00"), None),
        ("19.99", False, Decimal("19.99"), None),
        (12.5, False, Decimal("12.50"), None),
    ],
)
def test_money_becomes_decimal_with_currency(raw: object, minor: bool, expected: Decimal, currency: str | None) -> None:
    amount, found = std.standardize_money(raw, minor_units=minor)
    assert amount == expected
    assert isinstance(amount, Decimal)
    assert found == currency


def test_zero_decimal_currencies_are_not_divided() -> None:
    assert std.standardize_money(500, minor_units=True, currency="JPY")[0] == Decimal(500)


def test_garbage_amount_is_rejected() -> None:
    with pytest.raises(StandardizationError, match="not an amount"):
        std.standardize_money("twelve dollars")


def test_labels_go_through_value_maps_case_and_space_insensitively() -> None:
    lifecycle = {std.label_key(k): v for k, v in {"customer": "customer", "cust": "customer", "Lead": "lead"}.items()}
    assert std.standardize_label("Customer ", lifecycle) == "customer"
    assert std.standardize_label("CUST", lifecycle) == "customer"
    assert std.standardize_label("lead", lifecycle) == "lead"
    with pytest.raises(StandardizationError, match="unmapped value 'prospect'"):
        std.standardize_label("prospect", lifecycle)
    assert std.standardize_label("Pending Reply", None) == "pending_reply"


@pytest.mark.parametrize("raw", ["", "   ", "N/A", "n/a", "null", "NULL", "-", "None", None, [], {}])
def test_placeholders_are_missing_values(raw: object) -> None:
    assert std.is_missing(raw, BUILTIN_NULL_VALUES)


@pytest.mark.parametrize("raw", ["0", 0, "Nadia", False])
def test_real_values_are_not_missing(raw: object) -> None:
    assert not std.is_missing(raw, BUILTIN_NULL_VALUES)


def test_lists_split_on_common_separators() -> None:
    assert std.standardize_list("1Z999, 1Z888;9400") == ["1Z999", "1Z888", "9400"]
    assert std.standardize_list(["a", " ", None, "b "]) == ["a", "b"]


def test_zeros_are_not_an_international_prefix() -> None:
    with pytest.raises(StandardizationError, match="not a valid phone number"):
        std.standardize_phone("000-000-0000", "US")
    assert std.standardize_phone("0044 20 7946 0958", "US") == "+442079460958"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("\u212aathleen35@example.com", "U+212A"),  # KELVIN SIGN: would lower-case onto kathleen35@
        ("kathleen35@example.com\x1f", "U+001F"),  # str.strip() would silently remove it
        ("\x1ckathleen35@example.com", "U+001C"),
        ("kath\u200bleen35@example.com", "U+200B"),  # zero-width space
        ("kathleen35@example.com\u202e", "U+202E"),  # bidi override
        ("\uff4bathleen35@example.com", "U+FF4B"),  # fullwidth k
        ("kathleen35\u00a0@example.com", "U+00A0"),  # no-break space
        ("k\u0430thleen35@example.com", "mixes Latin"),  # Cyrillic a
    ],
)
def test_look_alike_and_control_characters_are_refused_not_folded(raw: str, why: str) -> None:
    with pytest.raises(StandardizationError, match=re.escape(why)):
        std.standardize_email(raw)


def test_the_email_rule_keeps_genuine_international_addresses() -> None:
    assert std.standardize_email("Jos\u00e9@Ex\u00e4mple.de") == "jos\u00e9@ex\u00e4mple.de"
    assert std.standardize_email("jose\u0301@example.com") == "jos\u00e9@example.com"  # NFC
    assert std.standardize_email("Stra\u00dfe@example.de") == "stra\u00dfe@example.de"  # never casefolded to "ss"
    assert std.standardize_email("\tJane Doe <Jane@Example.com>\r\n") == "jane@example.com"


def test_one_phone_number_punctuated_differently_reads_the_same() -> None:
    from context.intake.standardize import standardize_phone

    forms = ["(415) 201-0101", "415.201.0101", "415-201-0101", "+1 415 201 0101", "0014152010101"]
    assert {standardize_phone(f, "US") for f in forms} == {"+14152010101"}
