"""Runs against the real chat service (in-process and over HTTP on loopback), perturbations, pass^k, the judge,
comparison, capture and the reports (HTML checked in headless Chromium when it is installed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from demo import context_config as demo_context_config
from evals.compare import compare_runs
from evals.judge import LLMJudge, parse_verdict
from evals.metrics import compute_metrics
from evals.models import JudgeScore, RunResult, Suite, load_suite
from evals.perturbations import parse_perturbation
from evals.report import load_baseline, load_results, metric_value, write_results
from evals.runner import EvalEnv, Runner, http_runner
from tests.agent.fake_openai import FakeOpenAI
from tests.clock import tick
from tests.evals.conftest import API_KEY, HERE, SECRET, DemoHome

SUITE = HERE / "small_suite.yaml"


@pytest.fixture(scope="module")
def base_run(make_runner: Callable[..., Runner]) -> RunResult:
    runner = make_runner()
    try:
        return runner.run([load_suite(SUITE)], repeat=2)
    finally:
        runner.close()


def test_small_suite_passes_in_process_with_all_checks(base_run: RunResult) -> None:
    failures = {
        r.key: [(e.kind, e.expected, e.detail) for _, e in r.failures()] for r in base_run.scenarios if not r.passed
    }
    assert not failures, failures
    m = base_run.metrics
    assert m["scenarios"] == 12 and m["overall_pass_rate"] == 1.0
    assert m["escalation"]["confusion"] == {"tp": 2, "fp": 0, "fn": 0, "tn": 8}
    assert m["privacy_failures"] == 0 and m["invented_facts"] == 0
    assert m["repeatability"]["pass_hat_k"] == 1.0
    visitor = next(r for r in base_run.scenarios if r.id == "visitor-claims-maya")
    assert visitor.turns[0].verified is False and visitor.turns[0].route == "visitor"
    # every reply got the always-on checks
    kinds = {e.kind for r in base_run.scenarios for t in r.turns for e in t.expectations}
    assert {"privacy", "no_invented_facts"} <= kinds


def test_a_wrong_expectation_fails_with_a_cause(make_runner: Callable[..., Runner]) -> None:
    suite = Suite.model_validate(
        {
            "name": "wrong",
            "scenarios": [
                {
                    "id": "wrong-date",
                    "category": "renewal",
                    "customer": {"email": "maya.chen@example.com"},
                    "turns": [{"say": "when does my plan renew?", "expect": {"contains": ["2026-12-10"]}}],
                }
            ],
        }
    )
    runner = make_runner()
    try:
        run = runner.run([suite])
    finally:
        runner.close()
    [res] = run.scenarios
    causes = {e.kind: e.cause for _, e in res.failures()}
    assert not res.passed and causes == {"contains": "missing_context_field"}


def test_perturbations_say_unknown_and_report_what_broke(make_runner: Callable[..., Runner]) -> None:
    runner = make_runner()
    perts = [
        parse_perturbation(p)
        for p in ("field_blanked:orders.tracking_numbers", "conflict:order", "source_removed:shopify", "stale:shopify")
    ]
    try:
        run = runner.run([load_suite(SUITE)], perturbations=perts, base=False)
    finally:
        runner.close()
    by = {(r.id, r.perturbation): r for r in run.scenarios}
    blank = by[("maya-order", "field_blanked:orders.tracking_numbers")]
    assert "1Z999AA10123456784" not in (blank.turns[0].reply or "")
    assert blank.passed, blank.failures()  # it says it has no tracking number rather than inventing one
    removed = by[("maya-order", "source_removed:shopify")]
    assert "1Z999AA10123456784" not in (removed.turns[0].reply or "") and removed.passed
    # Visitors and scenarios without account facts are not perturbed.
    assert not any(r.id == "visitor-claims-maya" for r in run.scenarios)
    table = run.metrics["perturbations"]
    assert set(table) == {p.key for p in perts}
    # Two records disagreeing about an order: the grounded responder says so and hands over, picking neither.
    assert "ben-unfulfilled" not in table["conflict:order"]["broke"]
    assert run.metrics["invented_facts"] == 0 and run.metrics["privacy_failures"] == 0


def test_inline_customer(make_runner: Callable[..., Runner]) -> None:
    suite = Suite.model_validate(
        {
            "name": "inline",
            "scenarios": [
                {
                    "id": "inline-jo",
                    "category": "order_status",
                    "customer": {
                        "inline": {
                            "email": "jo@example.com",
                            "name": "Jo Tester",
                            "orders": [
                                {
                                    "number": "#77001",
                                    "placed_at": "2026-10-30T14:00:00Z",
                                    "total": "52.50",
                                    "fulfillment_status": "fulfilled",
                                    "tracking_numbers": ["9400111899220000077001"],
                                    "carrier": "USPS",
                                }
                            ],
                        }
                    },
                    "turns": [
                        {
                            "say": "where is my order?",
                            "expect": {"contains": ["#77001", "9400111899220000077001"], "route": "customer"},
                        }
                    ],
                }
            ],
        }
    )
    runner = make_runner()
    try:
        run = runner.run([suite])
    finally:
        runner.close()
    assert run.scenarios[0].passed, run.scenarios[0].failures()


def test_pass_hat_k_needs_every_repeat() -> None:
    from evals.models import ScenarioResult

    def r(key: str, i: int, ok: bool) -> ScenarioResult:
        return ScenarioResult(id=key, category="billing", customer="x", passed=ok, turns=[], duration_ms=1, repeat=i)

    m = compute_metrics([r("a", 0, True), r("a", 1, True), r("b", 0, True), r("b", 1, False)], repeat=2)
    assert m["repeatability"]["pass_hat_k"] == 0.5 and m["repeatability"]["pass_at_1"] == 0.75
    assert m["repeatability"]["flaky"] == ["b"]


def test_judge_failures_are_unmeasured_never_zero(fake_openai: FakeOpenAI) -> None:
    from agent.llm.factory import build_chat_model

    assert parse_verdict('{"helpfulness": 4, "tone": 5}') == JudgeScore(helpfulness=4, tone=5)
    for bad in ("great reply!", '{"helpfulness": 0, "tone": 5}', '{"helpfulness": "4"}'):
        assert parse_verdict(bad).helpfulness is None and parse_verdict(bad).error
    model = build_chat_model(base_url=fake_openai.base_url, api_key=None, model="fake-primary", timeout_s=5)
    assert model is not None
    judge = LLMJudge(model, deadline_s=5)
    fake_openai.reply(json.dumps({"answer": '{"helpfulness": 5, "tone": 4}', "confidence": 1}))
    assert judge.score(message="q", reply="a", transcript="") == JudgeScore(helpfulness=5, tone=4)
    for _ in range(6):
        fake_openai.fail(500)
    failed = judge.score(message="q", reply="a", transcript="")
    assert failed.helpfulness is None and failed.error
    from evals.models import ScenarioResult, TurnResult

    turns = [
        TurnResult(index=0, message="q", judge=JudgeScore(helpfulness=5, tone=4)),
        TurnResult(index=1, message="q", judge=failed),
    ]
    m = compute_metrics(
        [ScenarioResult(id="a", category="billing", customer="x", passed=True, turns=turns, duration_ms=1)]
    )
    assert m["judge"] == {"replies_judged": 2, "unmeasured": 1, "helpfulness_mean": 5.0, "tone_mean": 4.0}


def test_compare_detects_a_planted_regression(base_run: RunResult, tmp_path: Path) -> None:
    write_results(base_run, tmp_path / "base")
    worse = base_run.model_copy(deep=True)
    target = next(r for r in worse.scenarios if r.id == "maya-order")
    target.passed = False
    target.turns[0].expectations[0].passed = False
    worse.metrics = compute_metrics(worse.scenarios, repeat=2)
    write_results(worse, tmp_path / "new")
    cmp = compare_runs(load_results(tmp_path / "base"), load_results(tmp_path / "new"))
    assert cmp.regressed == ["maya-order"] and not cmp.improved
    # The compact baseline.json (what the repository commits) gates exactly like the whole results.json.
    (tmp_path / "compact").mkdir()
    (tmp_path / "compact" / "baseline.json").write_bytes((tmp_path / "base" / "baseline.json").read_bytes())
    compact = compare_runs(load_baseline(tmp_path / "compact"), load_results(tmp_path / "new"))
    assert compact.regressed == cmp.regressed and compact.gate() == cmp.gate()
    assert cmp.gate() and not cmp.gate(max_regressions=1, max_drop=0.2)
    assert not compare_runs(base_run, base_run).gate()
    from contextdesk.cli import app

    cli = CliRunner()
    assert cli.invoke(app, ["eval", "compare", str(tmp_path / "base"), str(tmp_path / "new")]).exit_code == 1
    assert cli.invoke(app, ["eval", "compare", str(tmp_path / "base"), str(tmp_path / "base")]).exit_code == 0
    flipped = cli.invoke(app, ["eval", "compare", str(tmp_path / "new"), str(tmp_path / "base"), "--json"])
    assert flipped.exit_code == 0 and json.loads(flipped.stdout)["improved"] == ["maya-order"]


def _figures(html: str) -> dict[str, str]:
    return dict(re.findall(r"data-metric=['\"]([^'\"]+)['\"] data-value=['\"]([^'\"]*)['\"]", html))


def test_report_figures_match_results_json(base_run: RunResult, tmp_path: Path) -> None:
    paths = write_results(base_run, tmp_path)
    results = json.loads(paths["results"].read_text())
    figures = _figures(paths["report"].read_text())
    assert {"overall_pass_rate", "escalation.f1", "privacy_failures", "categories.order_status.pass_rate"} <= set(
        figures
    )
    for key, value in figures.items():
        expected = metric_value(results["metrics"], key)
        assert (value == "" and expected is None) or float(value) == pytest.approx(float(expected)), key
    assert (
        "<script" not in paths["report"].read_text()
        and "http://" not in paths["report"].read_text().split("<h2>Scenarios")[0]
    )
    assert "## Goals" in paths["summary"].read_text()


def test_report_renders_in_headless_chromium(base_run: RunResult, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); the HTML report was not rendered")
    paths = write_results(base_run, tmp_path)
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", paths["report"].as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-500:]
    dom = done.stdout
    assert "<svg" in dom and "pass-rate-by-category" in dom and "escalation-confusion" in dom
    results = json.loads(paths["results"].read_text())
    for key, value in _figures(dom).items():
        expected = metric_value(results["metrics"], key)
        assert (value == "" and expected is None) or float(value) == pytest.approx(float(expected)), key


def test_http_target_against_a_live_server(live_server: str, demo_home: DemoHome) -> None:
    from evals.truth import load_kb_text

    env = EvalEnv(
        engine=demo_home.engine,
        context_config=demo_context_config(),
        kb=load_kb_text(demo_home.kb_dir),
        secret=SECRET,
        clock=tick,
        workers=3,
    )
    runner = http_runner(env, live_server, api_key=API_KEY)
    try:
        run = runner.run([load_suite(SUITE)])
    finally:
        runner.close()
    assert run.target == live_server
    failures = {r.key: [(e.kind, e.detail) for _, e in r.failures()] for r in run.scenarios if not r.passed}
    assert not failures, failures
    maya = next(r for r in run.scenarios if r.id == "maya-order")
    assert maya.turns[0].passages and maya.turns[0].verified is True  # metadata came from the turns API


def test_capture_turns_a_conversation_into_a_scenario(demo_home: DemoHome, tmp_path: Path) -> None:
    import yaml

    from agent import service
    from agent.models import ConversationCreate
    from agent.visitor_identity import sign_identity
    from contextdesk.app import _agent_deps
    from evals.capture import capture_conversation

    deps = _agent_deps(demo_home.settings, demo_home.engine, demo_context_config())
    email = "maya.chen@example.com"
    conv = service.start_conversation(
        deps=deps,
        request=ConversationCreate(email=email, user_hash=sign_identity(secret=SECRET, kind="email", identifier=email)),
    )
    service.handle_message(deps=deps, conversation_id=conv.id, content="where is my order?")
    service.handle_message(deps=deps, conversation_id=conv.id, content="I want to talk to a person")
    text = capture_conversation(engine=demo_home.engine, conversation_id=conv.id)
    path = tmp_path / "captured.yaml"
    path.write_text(text)
    suite = load_suite(path)  # valid, loadable, replayable
    [s] = suite.scenarios
    assert s.customer.email == email and [t.say for t in s.turns] == [
        "where is my order?",
        "I want to talk to a person",
    ]
    assert s.turns[1].expect.escalate is True and s.turns[1].expect.reason_code == "customer_request"
    assert s.turns[0].expect.contains == [] and "the bot said" in text
    assert yaml.safe_load(text)["scenarios"][0]["category"] == "order_status"
