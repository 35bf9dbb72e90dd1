"""The bot never states a renewal, trial end or cancellation that is already behind "now" as upcoming."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from agent.models import ConversationCreate
from agent.service import AgentDeps, handle_message, start_conversation
from tests.agent.chat.helpers import MAYA, signed

LIAM = "liam.obrien@mail.example"
OLIVER = "oliver.bennett@post.example"
# The demo story's Monday (before every persona date) and a day weeks after them all, 10:00 in New York.
STORY_DAY = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def _reply(make_deps: Callable[..., AgentDeps], email: str, message: str, now: datetime) -> str:
    deps = make_deps(now=lambda: now)
    conv = start_conversation(deps=deps, request=ConversationCreate(**signed(email)))
    return handle_message(deps=deps, conversation_id=conv.id, content=message).reply or ""


@pytest.mark.parametrize(
    ("email", "message", "upcoming", "date"),
    [
        (MAYA, "When does my plan renew?", "it renews on November 10, 2026", "November 10, 2026"),
        (LIAM, "when does my trial end?", "trial ends on November 8, 2026", "November 8, 2026"),
        (OLIVER, "Will my plan renew next month?", "it is set to cancel on November 15, 2026", "November 15, 2026"),
    ],
    ids=["renewal", "trial", "cancellation"],
)
def test_a_date_in_the_future_is_upcoming_and_the_same_date_passed_is_called_stale(
    make_deps: Callable[..., AgentDeps], email: str, message: str, upcoming: str, date: str
) -> None:
    before = _reply(make_deps, email, message, STORY_DAY)
    assert upcoming in before and "out of date" not in before

    after = _reply(make_deps, email, message, LATER)
    assert upcoming not in after
    assert date in after and "has already passed" in after and "may be out of date" in after


def test_the_billing_answer_does_not_promise_a_passed_renewal(make_deps: Callable[..., AgentDeps]) -> None:
    before = _reply(make_deps, MAYA, "When is my next payment?", STORY_DAY)
    after = _reply(make_deps, MAYA, "When is my next payment?", LATER)
    assert "next renewal is on November 10, 2026" in before
    assert "next renewal" not in after and "renewal date, November 10, 2026, has already passed" in after
