"""Handoff test fixtures: the chat tests' real demo business and help-center index (reused, not copied), a chat
service over them, a handoff service, and a real receiving HTTP server on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from agent.service import AgentDeps
from demo import context_config as demo_context_config
from handoff.config import HandoffConfig, RetryConfig, TargetConfig
from handoff.delivery import build_targets
from handoff.service import HandoffDeps
from tests.agent.chat.conftest import demo_db, kb, kb_dir, make_deps  # noqa: F401  (fixtures reused)
from tests.agent.conftest import fake_openai, fake_openai_factory  # noqa: F401  (fixtures reused)
from tests.clock import tick
from tests.handoff.receiver import Receiver

OPEN = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # Wednesday 10:00 in New York
CLOSED = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)  # Saturday
WEBHOOK_SECRET = "whsec-test-0123456789abcdef"
# Retries a test clock (1 ms a tick) reaches at once: the next attempt is due by the next pass.
FAST_RETRY = RetryConfig(attempts=3, initial_s=0.0001, max_s=0.0005, jitter_s=0.0, timeout_s=0.5, lease_s=5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on 127.0.0.1 that answers as scripted (fail, hang, succeed) and records requests."""
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def chat(make_deps: Callable[..., AgentDeps]) -> AgentDeps:  # noqa: F811
    """The chat service over the demo business, during business hours."""
    return make_deps(now=lambda: OPEN)


@pytest.fixture
def make_handoff_deps(demo_db: Engine) -> Callable[..., HandoffDeps]:  # noqa: F811
    """HandoffDeps over the demo database; `targets=[TargetConfig…]`, `model=…`, `engine=…` override."""

    def build(*, targets: list[TargetConfig] | None = None, engine: Engine | None = None, **kw: Any) -> HandoffDeps:
        config = HandoffConfig(
            targets=targets or [],
            retry=kw.pop("retry", FAST_RETRY),
            webhook_secret=(SecretStr(s) if isinstance(s := kw.pop("webhook_secret", None), str) else s),
            zendesk_token=kw.pop("zendesk_token", None),
            transcript_base_url="http://inbox.test",
        )
        return HandoffDeps(
            engine=engine or demo_db,
            now=kw.pop("now", tick),
            config=config,
            context_config=demo_context_config(),
            targets=build_targets(config, clock=tick),
            **kw,
        )

    return build
