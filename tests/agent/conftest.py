"""Fixtures for agent tests: a scripted OpenAI-compatible server on loopback (see tests/agent/fake_openai.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.agent.fake_openai import FakeOpenAI


@pytest.fixture
def fake_openai_factory() -> Iterator[Callable[..., FakeOpenAI]]:
    """Start any number of fake servers (each on its own free port); all are stopped after the test."""
    started: list[FakeOpenAI] = []

    def start(models: list[str] | None = None) -> FakeOpenAI:
        server = FakeOpenAI(models=models).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def fake_openai(fake_openai_factory: Callable[..., FakeOpenAI]) -> FakeOpenAI:
    """One running fake server: `.base_url`, `.reply(...)`, `.fail(...)`, `.script(...)`, `.requests`."""
    return fake_openai_factory()
