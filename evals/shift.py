"""A suite's story moved in time: its expectation dates shifted by the days the demo data was shifted.

`contextdesk demo run` loads the demo with its dates moved by whole days (demo/shift.py, manifest
demo_shift.json). A suite that declares the story's `reference_date` is then checked against the same
move: ISO dates and date-times in `contains` / `any_of` / `not_contains` and in inline records are moved by
the same days (on the New York wall clock), and a bare month name ("extend my trial to December") in what
the customer says and in those expectations becomes the month it falls in after the move, so the story the
scenario tells holds (the trial still ends the month before the one asked for). Dates written another way
("November 10") cannot be moved reliably: such a suite is rejected with the scenario named.

The demo's own rule for moving an instant (demo.shift.shift_instant, on the New York wall clock) is
passed in by the composition root, so this package neither imports the demo nor keeps a second copy of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta

from evals.errors import SuiteError
from evals.expectations import classify
from evals.models import Expect, InlineCustomer, Scenario, Suite

Move = Callable[[datetime], datetime]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# "May" is a month only before a day number ("May 3"); "may" in "I may cancel" is not.
_MONTH_WORD = re.compile(r"\b(January|February|March|April|June|July|August|September|October|November|December)\b")


def month_after(name: str, *, reference: date, days: int) -> str:
    """The month a story month (the one nearest the reference date) falls in after moving `days` days.

    Its middle (the 15th) is moved, so a month mentioned in the story maps to one month, whatever the day.
    """
    month = MONTHS.index(name.capitalize()) + 1
    year = reference.year + (-1 if month - reference.month > 6 else 1 if reference.month - month > 6 else 0)
    return MONTHS[(date(year, month, 15) + timedelta(days=days)).month - 1]


def _months_in(text: str, reference: date, days: int) -> str:
    return _MONTH_WORD.sub(lambda m: month_after(m.group(1), reference=reference, days=days), text)


def _value(value: str, *, where: str, reference: date, days: int, move: Move) -> str:
    v = value.strip()
    if _ISO_DATE.fullmatch(v):
        return (date.fromisoformat(v) + timedelta(days=days)).isoformat()
    if _ISO_TIME.fullmatch(v):
        return move(datetime.fromisoformat(v.replace("Z", "+00:00"))).isoformat()
    if v.capitalize() in MONTHS and v.capitalize() != "May":
        return month_after(v, reference=reference, days=days)
    if classify(v).kind == "date":
        raise SuiteError(f"{where}: {value!r}: write expected dates as YYYY-MM-DD in a suite with a reference_date")
    return value


def _expect(expect: Expect, *, where: str, reference: date, days: int, move: Move) -> Expect:
    def moved(values: list[str]) -> list[str]:
        return [_value(v, where=where, reference=reference, days=days, move=move) for v in values]

    return expect.model_copy(
        update={
            "contains": moved(expect.contains),
            "not_contains": moved(expect.not_contains),
            "any_of": [moved(group) for group in expect.any_of],
        }
    )


def _inline(customer: InlineCustomer, move: Move) -> InlineCustomer:
    def moved(value: datetime | None) -> datetime | None:
        return None if value is None else move(value)

    orders = [o.model_copy(update={"placed_at": moved(o.placed_at)}) for o in customer.orders]
    sub = customer.subscription
    if sub is not None:
        names = ("started_at", "current_period_end", "trial_end", "cancel_at", "canceled_at")
        sub = sub.model_copy(update={n: moved(getattr(sub, n)) for n in names})
    return customer.model_copy(update={"orders": orders, "subscription": sub})


def _scenario(s: Scenario, *, reference: date, days: int, move: Move) -> Scenario:
    turns = [
        t.model_copy(
            update={
                "say": _months_in(t.say, reference, days),
                "expect": _expect(
                    t.expect, where=f"scenario {s.id} turn {i + 1}", reference=reference, days=days, move=move
                ),
            }
        )
        for i, t in enumerate(s.turns)
    ]
    customer = s.customer
    if customer.inline is not None:
        customer = customer.model_copy(update={"inline": _inline(customer.inline, move)})
    return s.model_copy(update={"turns": turns, "customer": customer})


def shift_suite(suite: Suite, *, reference_date: date, days: int, move: Move) -> Suite:
    """The suite as it reads on data whose story (anchored at `reference_date`) moved `days` days.

    `move` moves one instant the way the data's were moved. Unchanged when the suite declares no reference
    date. Raises SuiteError when the suite is written for another reference date than the data, or writes an
    expected date in a form that cannot be moved.
    """
    if suite.reference_date is None:
        return suite
    if suite.reference_date != reference_date:
        raise SuiteError(
            f"suite {suite.name}: written for reference date {suite.reference_date}, "
            f"but the demo data is anchored at {reference_date}"
        )
    reference = suite.reference_date
    return suite.model_copy(
        update={"scenarios": [_scenario(s, reference=reference, days=days, move=move) for s in suite.scenarios]}
    )
