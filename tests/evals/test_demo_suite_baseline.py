"""The whole demo suite (demo/suites/demo.yaml) against the grounded responder, gated on the committed baseline
(demo/baselines/grounded): no scenario that passed there may fail now, the overall pass rate may not drop,
and no privacy failure or invented fact may appear. CI runs this; regenerate the baseline with
`contextdesk eval run demo/suites/demo.yaml --out DIR` after a deliberate improvement and copy DIR's baseline.json and
summary.md into demo/baselines/grounded.

The store is loaded the way `contextdesk demo run` loads it: the demo's dates moved by whole days to the
week the tests run in, so the suite runs with the clock and its expected dates moved as much (evals/shift.py);
on any day it must meet the baseline recorded at the story's own dates.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from demo import DEMO_SUITE, GROUNDED_BASELINE
from demo import context_config as demo_context_config
from demo.help_center import ARTICLES_DIR
from evals.compare import compare_runs
from evals.handoff_check import summary_check_factory
from evals.models import RunResult, load_suite
from evals.report import load_baseline
from evals.runner import EvalEnv, in_process_runner
from evals.truth import load_kb_text
from tests.clock import tick
from tests.evals.conftest import SECRET, DemoHome, shifted_suite

ROOT = Path(__file__).resolve().parents[2]
SUITE = DEMO_SUITE


@pytest.fixture(scope="module")
def demo_run(shifted_demo_home: DemoHome, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """The demo suite run in process on the demo store moved to this week, with the full demo help center."""
    from contextdesk.app import _agent_deps, _embedder
    from knowledge.service import ingest
    from knowledge.store import open_store

    # The shared eval index holds a few articles; the demo suite asks about all of them.
    chroma = tmp_path_factory.mktemp("fullkb") / "chroma"
    demo_home = shifted_demo_home
    assert demo_home.shift is not None
    settings = demo_home.settings.model_copy(update={"chroma_path": chroma})
    report = ingest([ARTICLES_DIR], store=open_store(path=chroma, embedder=_embedder(settings)))
    assert report.count("failed") == 0, report.outcomes
    context_config = demo_context_config()
    env = EvalEnv(
        engine=demo_home.engine,
        context_config=context_config,
        kb=load_kb_text(ARTICLES_DIR),
        secret=SECRET,
        clock=tick,
        summary_check=summary_check_factory(context_config),
        now=demo_home.shift.now,
        synced_at=demo_home.shift.now,
    )
    runner = in_process_runner(env, _agent_deps(settings, demo_home.engine, context_config))
    try:
        return runner.run([shifted_suite(load_suite(SUITE), demo_home.shift)])
    finally:
        runner.close()


def test_demo_suite_does_not_regress_against_the_committed_baseline(demo_run: RunResult) -> None:
    baseline = load_baseline(GROUNDED_BASELINE)
    comparison = compare_runs(baseline, demo_run)
    problems = comparison.gate()
    assert not problems, (problems, comparison.details)
    assert not comparison.removed, f"scenarios missing from the run: {comparison.removed}"
    assert demo_run.metrics["privacy_failures"] == 0 and demo_run.metrics["invented_facts"] == 0
