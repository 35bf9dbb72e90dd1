"""Standardization of single values: emails, phones, names, countries, timestamps, money, labels.

Each function takes a raw value (already known not to be a missing-value placeholder) and returns the
standardized value, or raises `StandardizationError` with a reason a person can act on.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pycountry

from context.errors import ConfigError, StandardizationError

_WS = re.compile(r"\s+")


def is_missing(value: Any, null_values: frozenset[str]) -> bool:
    """Whether a raw value means "no value": None, blank, or a placeholder such as N/A, null, '-'."""
    if value is None:
        return True
    if type(value) is str:
        # Placeholders are short: long strings skip the strip/casefold.
        return len(value) < 24 and value.strip().casefold() in null_values
    if isinstance(value, list | dict):
        return len(value) == 0
    return False


# --- emails -----------------------------------------------------------------------------------------

_ANGLE_EMAIL = re.compile(r"<([^<>]+@[^<>]+)>")
# Plain ASCII addresses that are certainly valid (RFC 5322 dot-atom local part, LDH domain labels, an
# alphabetic TLD): they skip email-validator, which is slow. Anything else goes through email-validator.
_SIMPLE_EMAIL = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}"
)
_SPECIAL_USE_TLDS = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})


# Characters an address may never contain, anywhere (checked before any trimming, so `strip()` cannot hide
# them): C0/C1 controls other than the tab/CR/LF an export may wrap around a value, format characters (zero-width
# space/joiners, bidi overrides, soft hyphen), private-use, surrogates, unassigned, line/paragraph separators.
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
# Scripts whose letters pass for Latin ones: a local part or domain label mixing them with Latin is a homograph.
_LOOKALIKE_SCRIPTS = frozenset({"CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC"})


def _email_character_problem(text: str) -> str | None:
    """Why `text` (an email as given) contains a character the email rule refuses, or None."""
    if text.isascii():
        bad = _ASCII_CONTROL.search(text)
        return f"contains the control character U+{ord(bad.group()):04X}" if bad else None
    for ch in text:
        if unicodedata.category(ch) in _FORBIDDEN_CATEGORIES and ch not in "\t\r\n":
            return f"contains the invisible or control character U+{ord(ch):04X}"
    # Each character as given: NFC itself maps U+212A KELVIN SIGN onto "K", so normalizing first would hide it.
    for ch in text:
        if ch.isascii():
            continue
        # A compatibility character (KELVIN SIGN, fullwidth letters, ligatures, NBSP…) or one that lower-cases
        # into ASCII would make a different address compare equal to a customer's: refused, never folded.
        if unicodedata.normalize("NFKC", ch) != ch or any(c.isascii() for c in ch.lower()):
            return f"contains the look-alike character U+{ord(ch):04X} ({unicodedata.name(ch, 'unnamed')})"
    return None


def _mixes_scripts(address: str) -> bool:
    local, _, domain = address.rpartition("@")
    for part in [local, *domain.split(".")]:
        scripts = {unicodedata.name(ch, "").split(" ")[0] for ch in part if ch.isalpha()}
        if "LATIN" in scripts and scripts & _LOOKALIKE_SCRIPTS:
            return True
    return False


@lru_cache(maxsize=65536)
def standardize_email(raw: str, *, check_syntax: bool = True) -> str:
    """The one email rule: unwrap `Name <addr>` / `mailto:`, refuse look-alikes and controls, lower-case, check.

    Used identically by intake, identity resolution, customer lookup and the widget identity check, so an
    address compares equal to a customer's only if it is that address. The rule (docs/identity.md):

    1. Any control, format or invisible character (U+0000–U+001F except tab/CR/LF around the value, U+007F,
       zero-width space and joiners, bidi controls, U+2028/2029…) anywhere → refused, never stripped away.
    2. Surrounding whitespace is trimmed; `Name <addr>` and `mailto:addr` are unwrapped.
    3. Each character as given: one that NFKC (or NFC) would change (U+212A KELVIN SIGN → "K", fullwidth
       "ｍ", ligatures, NBSP) or a non-ASCII character whose lower case is ASCII → refused: such an address is
       not folded onto an ASCII one. The address is then NFC; a local part or domain label mixing Latin with
       Cyrillic/Greek/… letters → refused.
    4. Lower case: ASCII letters always; other letters by Unicode lower case (never `casefold`, which maps
       "ß" to "ss"). Then a syntax check (no DNS lookup) unless `check_syntax` is False (identity resolution of
       plain records, which may use reserved test domains, keeps steps 1–4 only).
    """
    text = str(raw)
    problem = _email_character_problem(text)
    if problem:
        raise StandardizationError(f"invalid email address: {problem}")
    text = text.strip()
    match = _ANGLE_EMAIL.search(text)
    if match:
        text = match.group(1).strip()
    if text.lower().startswith("mailto:"):
        text = text[7:].strip()
    if not text:
        raise StandardizationError("empty email address")
    lowered = unicodedata.normalize("NFC", text).lower()
    if not check_syntax:
        if _mixes_scripts(lowered):
            raise StandardizationError("invalid email address: mixes Latin with look-alike letters of another script")
        return lowered
    if (
        len(lowered) <= 254
        and _SIMPLE_EMAIL.fullmatch(lowered)
        and len(lowered.partition("@")[0]) <= 64
        and lowered.rpartition(".")[2] not in _SPECIAL_USE_TLDS
    ):
        return lowered
    if _mixes_scripts(lowered):
        raise StandardizationError("invalid email address: mixes Latin with look-alike letters of another script")
    # Imported here, like phonenumbers and dateutil below: together ~50 ms that a CLI read need not pay.
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(lowered, check_deliverability=False)
    except EmailNotValidError as exc:
        raise StandardizationError(f"invalid email address: {exc}") from exc
    return result.normalized.lower()


# --- phones -----------------------------------------------------------------------------------------


# Punctuation people put in phone numbers; without it "(415) 201-0101" and "415.201.0101" are one cache entry.
_PHONE_PUNCTUATION = str.maketrans("", "", " ()-./\u00a0\t")


def standardize_phone(raw: str, default_region: str) -> str:
    """Parse a phone number in any common format to E.164, using `default_region` when it has no country code."""
    text = str(raw).strip()
    bare = text.translate(_PHONE_PUNCTUATION)
    # Parsing is the costly part: one parse per number, however each source punctuates it.
    if bare.isdigit() or (bare[:1] == "+" and bare[1:].isdigit()):
        return _parse_phone(bare, default_region)
    return _parse_phone(text, default_region)


@lru_cache(maxsize=65536)
def _parse_phone(text: str, default_region: str) -> str:
    import phonenumbers

    # "00" is the international prefix in most of the world ("0044 20…"); country codes never start with 0.
    if len(text) > 2 and text.startswith("00") and text[2] in "123456789":
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise StandardizationError(f"not a phone number ({exc._msg})") from exc
    if not phonenumbers.is_valid_number(number):
        region = phonenumbers.region_code_for_number(number) or default_region
        raise StandardizationError(f"not a valid phone number for region {region}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_country(raw: str) -> str | None:
    """The country (ISO code) of an international number ("+44 7911…" → GB), None for a national one."""
    text = str(raw).strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+"):
        return None
    import phonenumbers

    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if number.country_code is None:
        return None
    region = phonenumbers.region_code_for_country_code(number.country_code)
    return None if region in (None, "ZZ") else region


# --- names ------------------------------------------------------------------------------------------

_PARTICLES = frozenset({"van", "von", "der", "den", "de", "da", "di", "del", "della", "la", "le", "du", "bin", "al"})


def _case_word(word: str, first: bool) -> str:
    lower = word.lower()
    if not first and lower in _PARTICLES:
        return lower
    # Capitalize each part of hyphenated and apostrophe names: Jean-Luc, O'Brien.
    parts = re.split(r"([-'’])", lower)
    cased = "".join(p[:1].upper() + p[1:] if p not in "-'’" else p for p in parts)
    if cased.startswith("Mc") and len(cased) > 2:
        cased = "Mc" + cased[2].upper() + cased[3:]
    return cased


#: Words exports put where a name is unknown ("Guest" checkouts): no name, so nobody is greeted "Hi Guest!".
PLACEHOLDER_NAMES = frozenset(
    {"guest", "guest user", "guest customer", "customer", "valued customer", "anonymous", "unknown", "no name", "none"}
)


def is_placeholder_name(name: str) -> bool:
    """Whether a standardized name is a stand-in for an unknown one (Guest, Anonymous, Valued Customer)."""
    return name.casefold() in PLACEHOLDER_NAMES


@lru_cache(maxsize=65536)
def standardize_name(raw: str) -> str:
    """Trim and collapse spaces; fix ALL-CAPS or all-lower names to name case, leave mixed case alone."""
    text = _WS.sub(" ", unicodedata.normalize("NFC", str(raw))).strip().strip(",;")
    if not text:
        raise StandardizationError("empty name")
    if any(ch.isdigit() for ch in text):
        raise StandardizationError("name contains digits")
    if text.isupper() or text.islower():
        words = text.split(" ")
        text = " ".join(_case_word(w, i == 0) for i, w in enumerate(words))
    return text


def split_full_name(full_name: str) -> tuple[str | None, str | None]:
    """Split 'Jane van der Berg' / 'Berg, Jane' into (first, last); one word gives (word, None)."""
    if "," in full_name:
        last, _, first = full_name.partition(",")
        return (first.strip() or None, last.strip() or None)
    words = full_name.split(" ")
    if len(words) == 1:
        return words[0], None
    return words[0], " ".join(words[1:])


# --- countries --------------------------------------------------------------------------------------

_COUNTRY_ALIASES = {
    "usa": "US", "u.s.": "US", "u.s.a.": "US", "u.s": "US", "us of a": "US", "america": "US",
    "united states of america": "US", "the united states": "US", "estados unidos": "US",
    "uk": "GB", "u.k.": "GB", "u.k": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "great britain": "GB", "britain": "GB", "united kingdom": "GB",
    "deutschland": "DE", "allemagne": "DE", "holland": "NL", "the netherlands": "NL", "nederland": "NL",
    "españa": "ES", "espana": "ES", "italia": "IT", "schweiz": "CH", "suisse": "CH", "österreich": "AT",
    "brasil": "BR", "méxico": "MX", "south korea": "KR", "korea": "KR", "russia": "RU", "czech republic": "CZ",
    "ireland": "IE", "eire": "IE", "uae": "AE", "vietnam": "VN", "türkiye": "TR", "turkey": "TR",
    "canada": "CA", "australia": "AU", "new zealand": "NZ", "france": "FR", "japan": "JP", "sverige": "SE",
}  # fmt: skip


@lru_cache(maxsize=4096)
def standardize_country(raw: str) -> str:
    """Map a country code or name (ISO alpha-2/alpha-3, English name, common variants) to ISO 3166-1 alpha-2."""
    text = _WS.sub(" ", str(raw)).strip()
    key = text.casefold()
    if key in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[key]
    try:
        country = pycountry.countries.lookup(text)
    except LookupError:
        raise StandardizationError(f"unknown country {text!r}") from None
    return str(country.alpha_2)


# --- timestamps -------------------------------------------------------------------------------------


# Names people write for a zone that are not IANA names (or are folders of them, like "Pacific").
_ZONE_ALIASES = {
    "pacific": "America/Los_Angeles",
    "pt": "America/Los_Angeles",
    "pst": "America/Los_Angeles",
    "pdt": "America/Los_Angeles",
    "mountain": "America/Denver",
    "mt": "America/Denver",
    "central": "America/Chicago",
    "ct": "America/Chicago",
    "cst": "America/Chicago",
    "cdt": "America/Chicago",
    "eastern": "America/New_York",
    "et": "America/New_York",
    "edt": "America/New_York",
    "alaska": "America/Anchorage",
    "hawaii": "Pacific/Honolulu",
    "atlantic": "America/Halifax",
    "bst": "Europe/London",
    "uk": "Europe/London",
    "cet": "Europe/Paris",
    "cest": "Europe/Paris",
    "ist": "Asia/Kolkata",
    "jst": "Asia/Tokyo",
    "aest": "Australia/Sydney",
    "aedt": "Australia/Sydney",
    "nzst": "Pacific/Auckland",
}


def zone_problem(name: str) -> str | None:
    """Why `name` is not a usable time zone, with the IANA name to use instead; None when it is fine."""
    if name.upper() == "UTC":
        return None
    try:
        ZoneInfo(name)
        return None
    # "Pacific" is a folder of the zone database, which ZoneInfo reports as an OSError.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    from zoneinfo import available_timezones

    key = name.strip().casefold().replace(" ", "_")
    suggestion = _ZONE_ALIASES.get(key.replace("_time", "").replace("us/", ""))
    if suggestion is None:
        names = sorted(available_timezones())
        by_city = {n.rsplit("/", 1)[-1].casefold(): n for n in names if "/" in n}
        suggestion = by_city.get(key) or next((n for n in names if n.casefold() == key), None)
        if suggestion is None:
            import difflib

            folded = {n.casefold(): n for n in names}
            close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.8)
            city = difflib.get_close_matches(key.rsplit("/", 1)[-1], list(by_city), n=1, cutoff=0.8)
            suggestion = folded[close[0]] if close else by_city[city[0]] if city else None
    hint = f"; did you mean {suggestion!r}?" if suggestion else " (use an IANA name like 'Europe/London')"
    return f"unknown time zone {name!r}{hint}"


@lru_cache(maxsize=256)
def zone(name: str) -> tzinfo:
    """A time zone by IANA name, with a configuration error (suggesting the IANA name) for unknown names."""
    if name.upper() == "UTC":
        return UTC
    problem = zone_problem(name)
    if problem:
        raise ConfigError(problem)
    return ZoneInfo(name)


_EPOCH_TEXT = re.compile(r"\d{9,13}(\.\d+)?")
_HAS_DATE = re.compile(r"\d{4}|\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2}|\d{1,2} [A-Za-z]{3}")


def standardize_timestamp(raw: Any, source_zone: tzinfo, *, dayfirst: bool = False) -> datetime:
    """Parse a timestamp (ISO 8601, common formats, epoch seconds or ms) to a UTC-aware datetime.

    Naive values are taken to be in the source's time zone.
    """
    if type(raw) is str:  # the common case first: text from a CSV or JSON export
        text = raw.strip()
        value = _from_epoch(float(text)) if _EPOCH_TEXT.fullmatch(text) else _parse_text_timestamp(text, dayfirst)
    elif isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, date):
        value = datetime(raw.year, raw.month, raw.day)
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        value = _from_epoch(float(raw))
    else:
        text = str(raw).strip()
        if _EPOCH_TEXT.fullmatch(text):
            value = _from_epoch(float(text))
        else:
            value = _parse_text_timestamp(text, dayfirst)
    if value.tzinfo is None:
        value = value.replace(tzinfo=source_zone)
    if not 1900 <= value.year <= 2200:
        raise StandardizationError(f"implausible year {value.year}")
    return value.astimezone(UTC)


def _from_epoch(seconds: float) -> datetime:
    # Values this large are milliseconds (13 digits) rather than seconds.
    if seconds > 1e11:
        seconds /= 1000.0
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise StandardizationError(f"epoch value {seconds} out of range") from exc


@lru_cache(maxsize=65536)
def _parse_text_timestamp(text: str, dayfirst: bool) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    if not _HAS_DATE.search(text):
        raise StandardizationError(f"not a date/time: {text!r}")
    from dateutil import parser as date_parser

    try:
        return date_parser.parse(text, dayfirst=dayfirst)
    except (ValueError, OverflowError) as exc:
        raise StandardizationError(f"not a date/time: {text!r}") from exc


# --- money ------------------------------------------------------------------------------------------

_SYMBOLS = {"$": "USD", "US$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "C$": "CAD", "A$": "AUD", "CA$": "CAD"}
# Currencies without minor units, for amounts sent in minor units (Stripe's convention).
_ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG", "RWF"})
_MONEY_TOKEN = re.compile(r"^(?P<pre>[A-Za-z$€£¥]{0,3}\$?)\s*(?P<num>[-+]?[\d.,' ]+)\s*(?P<post>[A-Za-z€£$]{0,3})$")


@lru_cache(maxsize=512)
def standardize_currency(raw: str) -> str:
    """A currency as an ISO 4217 code, from a code or a symbol."""
    text = str(raw).strip()
    if text in _SYMBOLS:
        return _SYMBOLS[text]
    code = text.upper()
    if len(code) == 3 and pycountry.currencies.get(alpha_3=code) is not None:
        return code
    raise StandardizationError(f"unknown currency {text!r}")


def standardize_money(
    raw: Any, *, minor_units: bool = False, currency: str | None = None
) -> tuple[Decimal, str | None]:
    """Parse an amount ('$1,234.50', '1.234,50 €', 2900 in cents) to (Decimal, currency code or None)."""
    found_currency: str | None = None
    if isinstance(raw, bool):
        raise StandardizationError("boolean is not an amount")
    if isinstance(raw, int | Decimal):
        amount = Decimal(raw)
    elif isinstance(raw, float):
        amount = Decimal(str(raw))
    else:
        text = str(raw).strip()
        negative = text.startswith("(") and text.endswith(")")
        text = text.strip("()")
        match = _MONEY_TOKEN.match(text)
        if not match:
            raise StandardizationError(f"not an amount: {raw!r}")
        for tag in (match.group("pre"), match.group("post")):
            if tag:
                found_currency = standardize_currency(tag)
        amount = _parse_number(match.group("num"), raw)
        if negative:
            amount = -amount
    code = found_currency or currency
    if minor_units:
        amount = amount if (code or "").upper() in _ZERO_DECIMAL else amount / 100
    return amount.quantize(Decimal("0.0001")) if amount == amount else amount, found_currency


def _parse_number(num: str, raw: Any) -> Decimal:
    num = num.replace(" ", "").replace("'", "")
    if "," in num and "." in num:
        # Whichever separator comes last is the decimal one.
        if num.rfind(",") > num.rfind("."):
            num = num.replace(".", "").replace(",", ".")
        else:
            num = num.replace(",", "")
    elif "," in num:
        head, _, tail = num.rpartition(",")
        num = f"{head.replace(',', '')}.{tail}" if len(tail) == 2 else num.replace(",", "")
    try:
        return Decimal(num)
    except InvalidOperation:
        raise StandardizationError(f"not an amount: {raw!r}") from None


# --- labels, lists, numbers, text --------------------------------------------------------------------


def label_key(raw: Any) -> str:
    """The lookup key of a label: case-folded, trimmed, inner whitespace collapsed."""
    return _WS.sub(" ", str(raw)).strip().casefold()


def standardize_label(raw: Any, value_map: dict[str, str] | None) -> str:
    """Map a label through a value map (keys compared case- and space-insensitively) or slugify it."""
    key = label_key(raw)
    if value_map is not None:
        if key in value_map:
            return value_map[key]
        known = ", ".join(sorted(set(value_map.values())))
        raise StandardizationError(f"unmapped value {str(raw).strip()!r} (maps to: {known})")
    return label_slug(raw)


def label_slug(raw: Any) -> str:
    """How an unmapped label is stored ("In Transit" → "in_transit"): its key with "_" for spaces."""
    return label_key(raw).replace(" ", "_")


def standardize_list(raw: Any) -> list[str]:
    """A list of non-empty strings from a list or a comma/semicolon/pipe separated string."""
    items = raw if isinstance(raw, list) else re.split(r"[,;|\n]", str(raw))
    return [str(item).strip() for item in items if item is not None and str(item).strip()]


def standardize_int(raw: Any) -> int:
    """A whole number from an int, an integral float or a numeric string."""
    if type(raw) is int:  # already one (JSON quantities): what the Decimal round trip below would give
        return raw
    if isinstance(raw, bool):
        raise StandardizationError("boolean is not a number")
    try:
        value = Decimal(str(raw).strip().replace(",", ""))
    except InvalidOperation:
        raise StandardizationError(f"not a whole number: {raw!r}") from None
    if value != value.to_integral_value():
        raise StandardizationError(f"not a whole number: {raw!r}")
    return int(value)


def standardize_text(raw: Any) -> str:
    """Text trimmed of surrounding whitespace."""
    if isinstance(raw, dict | list):
        raise StandardizationError("expected text, got a nested object")
    text = str(raw).strip()
    if not text:
        raise StandardizationError("empty text")
    return text
