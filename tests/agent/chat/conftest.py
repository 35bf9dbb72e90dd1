"""Chat test fixtures: the demo business processed into a real SQLite database, a small real help-center
index (selected demo articles plus a page carrying a prompt injection), and the chat service's dependencies."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import Engine

from agent.config import AgentConfig, parse_agent_config
from agent.service import AgentDeps
from demo.help_center import ARTICLES_DIR
from demo.mapping import CONFIG_YAML
from knowledge.embedders import MiniLMEmbedder
from knowledge.service import ingest
from knowledge.store import KnowledgeStore, open_store
from tests.agent.chat.helpers import ARTICLES, INJECTED_PAGE, SECRET
from tests.clock import tick


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """Personas + 30 generated people: generate → sync → resolve identities → profiles (real SQLite)."""
    from contextdesk.db import make_engine, upgrade
    from contextdesk.pipeline import load_business
    from demo import generate

    out = tmp_path_factory.mktemp("chatdemo")
    result = generate(out, customers=30, seed=7)
    engine = make_engine(f"sqlite:///{out / 'store.db'}")
    upgrade(engine)
    load_business(engine=engine, config_file=result.config_path, clock=tick, workers=0)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def kb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The help-center pages of the tests: selected demo articles and one page with an injection attempt."""
    folder = tmp_path_factory.mktemp("help")
    for name in ARTICLES:
        shutil.copy(ARTICLES_DIR / name, folder / name)
    (folder / "gift-wrapping.md").write_text(INJECTED_PAGE, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def kb(tmp_path_factory: pytest.TempPathFactory, kb_dir: Path) -> KnowledgeStore:
    """A real Chroma index of those pages, embedded with the bundled MiniLM (read-only for tests)."""
    store = open_store(path=tmp_path_factory.mktemp("chatkb") / "chroma", embedder=MiniLMEmbedder())
    report = ingest([kb_dir], store=store)
    assert report.count("failed") == 0, report.outcomes
    return store


@pytest.fixture
def make_deps(demo_db: Engine, kb: KnowledgeStore) -> Callable[..., AgentDeps]:
    """Build AgentDeps over the demo database and index; keyword arguments override fields."""

    def build(config: dict[str, Any] | AgentConfig | None = None, **overrides: Any) -> AgentDeps:
        # The demo's own `business:` section (name, zone, hours), as `contextdesk serve` would read it.
        business = yaml.safe_load(CONFIG_YAML)["business"]
        cfg = (
            config
            if isinstance(config, AgentConfig)
            else parse_agent_config({"business": business, "agent": config or {}})
        )
        fields: dict[str, Any] = {
            "engine": demo_db,
            "config": cfg,
            "now": tick,
            "store": kb,
            "identity_secret": SECRET,
        }
        fields.update(overrides)
        return AgentDeps(**fields)

    return build
