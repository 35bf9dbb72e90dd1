"""Eval test fixtures: one demo store (personas + 30 generated people, synced, resolved, profiled) and a small
real help-center index, built once per session — with the story's own dates, and moved to this week as
`contextdesk demo run` loads it (for the baseline gate); a small suite; a runner factory over them."""

from __future__ import annotations

import itertools
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
import yaml
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from contextdesk.clock import system_now
from contextdesk.settings import Settings
from demo import context_config as demo_context_config
from demo.help_center import ARTICLES_DIR
from demo.mapping import CONFIG_YAML as DEMO_CONFIG_YAML
from demo.models import DemoShift
from evals.models import Suite
from evals.runner import EvalEnv, Runner, in_process_runner
from evals.truth import load_kb_text
from tests.agent.fake_openai import FakeOpenAI
from tests.clock import NOW, tick

SECRET = SecretStr("eval-test-identity-secret-0123456789")
API_KEY = "eval-test-api-key-0123456789"
ARTICLES = [
    "tracking-your-order.md",
    "lost-or-late-packages.md",
    "return-policy.md",
    "refund-timing.md",
    "failed-payments.md",
    "cancel-subscription.md",
    "free-trial.md",
    "plans-overview.md",
    "wholesale.md",
    "contact-support.md",
    "agent-refund-playbook.md",
]
HERE = Path(__file__).parent


@dataclass
class DemoHome:
    """A data dir with the demo store and its index, and settings pointing at it."""

    home: Path
    engine: Engine
    settings: Settings
    kb_dir: Path
    shift: DemoShift | None = None  # how the demo's dates were moved (None: the story's own dates)


def _build_home(home: Path, *, shift_days: int | None) -> DemoHome:
    """Generate personas + 30 people into `home`, optionally moved by whole days, and load them."""
    from contextdesk.db import make_engine, upgrade
    from contextdesk.pipeline import load_business
    from demo import generate
    from demo.shift import shift_dataset
    from knowledge.embedders import MiniLMEmbedder
    from knowledge.service import ingest
    from knowledge.store import open_store

    data = generate(home / "data", customers=30, seed=7)
    config_path = data.config_path
    shift = None
    if shift_days is not None:
        shift = shift_dataset(data.out_dir, home / "demo", days=shift_days)
        config_path = home / "demo" / config_path.name
    engine = make_engine(f"sqlite:///{home / 'contextdesk.db'}")
    upgrade(engine)
    # The sources were synced at the (moved) story's moment, as a load that week would have synced them.
    start = shift.now if shift is not None else NOW
    ticks = itertools.count()

    def clock() -> datetime:
        return start + timedelta(milliseconds=next(ticks))

    load_business(engine=engine, config_file=config_path, clock=clock, workers=0)
    kb_dir = home / "help"
    kb_dir.mkdir()
    for name in ARTICLES:
        shutil.copy(ARTICLES_DIR / name, kb_dir / name)
    store = open_store(path=home / "chroma", embedder=MiniLMEmbedder())
    report = ingest([kb_dir], store=store)
    assert report.count("failed") == 0
    config = home / "contextdesk.yaml"
    # The demo's own business section (name, zone, hours); an eval server gets more than the default 20
    # conversations a minute per address.
    business = yaml.safe_load(DEMO_CONFIG_YAML)["business"]
    limits = {"conversations_per_minute_per_ip": 1000, "messages_per_minute_per_ip": 5000}
    config.write_text(yaml.safe_dump({"business": business, "agent": {"limits": limits}}))
    settings = Settings(
        home=home, config_file=config, identity_secret=SECRET, api_key=API_KEY, chroma_path=home / "chroma"
    )
    return DemoHome(home, engine, settings, kb_dir, shift)


def shifted_suite(suite: Suite, shift: DemoShift) -> Suite:
    """The suite moved as the demo data was (what `contextdesk eval run` does with demo_shift.json)."""
    from demo.shift import shift_instant
    from evals.shift import shift_suite

    return shift_suite(
        suite, reference_date=shift.reference_date, days=shift.days, move=lambda v: shift_instant(v, shift.days)
    )


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoHome]:
    """The demo store with the story's own dates (the eval clock at DEMO_NOW)."""
    built = _build_home(tmp_path_factory.mktemp("evalhome"), shift_days=None)
    yield built
    built.engine.dispose()


@pytest.fixture(scope="session")
def shifted_demo_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoHome]:
    """The demo store loaded the way `contextdesk demo run` loads it today: dates moved to today.

    This fixture is the tests' composition point, so it reads the real clock (under `faketime -f +365d` the
    story moves 365 days, to a business day).
    """
    from demo.shift import shift_days

    today = system_now()
    built = _build_home(tmp_path_factory.mktemp("shiftedhome"), shift_days=shift_days(today))
    yield built
    built.engine.dispose()


@pytest.fixture(scope="session")
def make_runner(demo_home: DemoHome) -> Callable[..., Runner]:
    """An in-process runner over the demo home (a fresh one per call: each works on its own store copies)."""
    from contextdesk.app import _agent_deps

    deps = _agent_deps(demo_home.settings, demo_home.engine, demo_context_config())

    def build(**env_overrides: object) -> Runner:
        fields: dict[str, object] = {
            "engine": demo_home.engine,
            "context_config": demo_context_config(),
            "kb": load_kb_text(demo_home.kb_dir),
            "secret": SECRET,
            "clock": tick,
        }
        fields.update(env_overrides)
        return in_process_runner(EvalEnv(**fields), deps)  # type: ignore[arg-type]

    return build


@pytest.fixture(scope="session")
def live_server(demo_home: DemoHome) -> Iterator[str]:
    """The real app (create_app) served by uvicorn on a free loopback port, on a copy of the demo store."""
    from contextdesk.app import create_app
    from evals.perturbations import copy_store

    copy = demo_home.home / "server.db"
    copy_store(demo_home.engine, copy).dispose()  # the backup API: includes what is still in the WAL
    settings = demo_home.settings.model_copy(update={"database_url": f"sqlite:///{copy}"})
    app = create_app(settings, clock=tick)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.02)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A scripted OpenAI-compatible server on loopback (tests/agent/fake_openai.py), for the judge."""
    server = FakeOpenAI().start()
    yield server
    server.stop()


@dataclass
class BusinessHome:
    """A loaded business for behaviour tests: its store, settings (its contextdesk.yaml) and help center."""

    name: str
    home: Path
    engine: Engine
    settings: Settings
    kb_dir: Path
    config_file: Path


@pytest.fixture(scope="session")
def ridgeline_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BusinessHome]:
    """Ridgeline Outfitters (demo/ridgeline) generated afresh, loaded through load_business, its help center indexed.

    Its data is dated around 2026-11-01 like the demo story, so it runs at the evals' DEMO_NOW clock.
    """
    from contextdesk.db import make_engine, upgrade
    from contextdesk.pipeline import load_business
    from demo.ridgeline import ARTICLES_DIR as RIDGELINE_ARTICLES
    from demo.ridgeline.generator import generate as generate_ridgeline
    from evals.runner import DEMO_NOW
    from knowledge.embedders import MiniLMEmbedder
    from knowledge.service import ingest
    from knowledge.store import open_store

    home = tmp_path_factory.mktemp("ridgeline")
    config_file = generate_ridgeline(home / "data")
    engine = make_engine(f"sqlite:///{home / 'contextdesk.db'}")
    upgrade(engine)
    ticks = itertools.count()
    load_business(
        engine=engine,
        config_file=config_file,
        clock=lambda: DEMO_NOW + timedelta(milliseconds=next(ticks)),
        workers=0,
    )
    report = ingest([RIDGELINE_ARTICLES], store=open_store(path=home / "chroma", embedder=MiniLMEmbedder()))
    assert report.count("failed") == 0
    settings = Settings(
        home=home, config_file=config_file, identity_secret=SECRET, api_key=API_KEY, chroma_path=home / "chroma"
    )
    yield BusinessHome("ridgeline", home, engine, settings, RIDGELINE_ARTICLES, config_file)
    engine.dispose()


def business_runner(business: BusinessHome) -> Runner:
    """An in-process runner on a business's store, with its own agent and context config (a fresh one per call)."""
    from context.customer_context import load_context_config
    from contextdesk.app import _agent_deps
    from evals.handoff_check import summary_check_factory
    from evals.runner import DEMO_NOW

    context_config = load_context_config(business.config_file)
    env = EvalEnv(
        engine=business.engine,
        context_config=context_config,
        kb=load_kb_text(business.kb_dir),
        secret=SECRET,
        clock=tick,
        now=DEMO_NOW,
        summary_check=summary_check_factory(context_config),
    )
    return in_process_runner(env, _agent_deps(business.settings, business.engine, context_config))
