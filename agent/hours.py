"""Business hours: whether a person is available now, and when one will be, said honestly."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from agent.config import BusinessHours

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _working_day(hours: BusinessHours, day: date) -> bool:
    return _DAYS[day.weekday()] in hours.days and day.isoformat() not in hours.holidays


def is_open(hours: BusinessHours, now: datetime) -> bool:
    """Whether people are at work at `now` (an aware datetime)."""
    local = now.astimezone(ZoneInfo(hours.timezone))
    return _working_day(hours, local.date()) and hours.open <= local.time() < hours.close


def next_opening(hours: BusinessHours, now: datetime) -> datetime:
    """The next time people are at work (now itself when open), in the business's time zone."""
    zone = ZoneInfo(hours.timezone)
    local = now.astimezone(zone)
    if is_open(hours, now):
        return local
    day = local.date()
    for offset in range(0, 370):
        candidate = day + timedelta(days=offset)
        if not _working_day(hours, candidate):
            continue
        opening = datetime.combine(candidate, hours.open, tzinfo=zone)
        if opening > local:
            return opening
    return local  # no working day configured within a year: say "as soon as possible" rather than loop


def human_eta(hours: BusinessHours, now: datetime) -> tuple[bool, str]:
    """(open now?, what to tell the customer about when a person will answer)."""
    if is_open(hours, now):
        return True, "A person from our team will pick this up shortly, usually within a few minutes."
    opening = next_opening(hours, now)
    when = f"{opening:%A} {opening.day} {opening:%B} at {opening:%H:%M}"
    zone = opening.tzname() or hours.timezone
    return (
        False,
        f"Our team is away right now (hours: {', '.join(d.capitalize() for d in hours.days)} "
        f"{hours.open:%H:%M}–{hours.close:%H:%M} {zone}). A person will answer from {when} {zone}; "
        "you don't need to stay in the chat.",
    )
