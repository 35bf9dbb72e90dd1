"""The second bundled business, Ridgeline Outfitters (demo/ridgeline): its data is what its generator writes, it
loads end to end through `load_business`, the same behaviour holds on it and on the demo (parametrized), and
its scenario suite (demo/suites/ridgeline.yaml) is gated like the demo's: on its committed baseline
(demo/baselines/ridgeline) and on the issue's goals (≥ 85% pass, 0 invented facts, 0 privacy failures, order
questions naming the asked order, its items and its status ≥ 95%).
"""

from __future__ import annotations

import filecmp
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from demo.ridgeline import DATA_DIR, SUITE
from demo.ridgeline.generator import generate
from evals.compare import compare_runs
from evals.models import RunResult, ScenarioResult, load_suite
from evals.report import load_baseline
from tests.evals.conftest import BusinessHome, DemoHome, business_runner

BASELINE = Path(__file__).resolve().parents[2] / "demo" / "baselines" / "ridgeline"


def test_the_bundled_data_is_what_the_generator_writes(tmp_path: Path) -> None:
    generate(tmp_path)
    names = sorted(p.name for p in DATA_DIR.iterdir())
    assert names == sorted(p.name for p in tmp_path.iterdir())
    _, mismatch, errors = filecmp.cmpfiles(DATA_DIR, tmp_path, names, shallow=False)
    assert not mismatch and not errors, "rerun `python -m demo.ridgeline.generator`"


def test_ridgeline_loads_end_to_end_with_its_own_shapes(ridgeline_home: BusinessHome) -> None:
    from sqlalchemy import text

    with ridgeline_home.engine.connect() as conn:
        numbers = {r[0] for r in conn.execute(text("select order_number from orders"))}
        statuses = {r[0] for r in conn.execute(text("select fulfillment_status from orders"))}
        currencies = {r[0] for r in conn.execute(text("select currency from orders"))}
        subscriptions = conn.execute(text("select count(*) from subscriptions")).scalar_one()
        items = {r[0] for r in conn.execute(text("select name from order_items"))}
        customers = conn.execute(text("select count(*) from customers")).scalar_one()
    assert {"W2378156", "RO-4K7Q2"} <= numbers
    assert {"backordered", "awaiting_pickup", "in_transit", "processed"} <= statuses
    assert currencies == {"CAD"} and subscriptions == 0
    assert "Alpine Trek 45L Pack (colour: Slate Blue)" in items
    assert customers >= 40


# --- the same behaviour on both businesses ----------------------------------------------------------------------

CASES: dict[str, dict[str, Any]] = {
    "demo": {
        "email": "maya.chen@example.com",
        "order": "#1042",
        "items": ["Milk Oolong", "Japanese Sencha"],
        "status": ["shipped"],
        "other_order": "#1063",
        "other_private": ["Kettle"],
        "no_subscription_store": False,
    },
    "ridgeline": {
        "email": "elodie.tremblay@example.ca",
        "order": "W2378156",
        "items": ["Alpine Trek 45L Pack", "Slate Blue", "Merino Hiking Socks"],
        "status": ["backordered"],
        "other_order": "W2380042",
        "other_private": ["Trailhead Hiking Boots", "329012345678"],
        "no_subscription_store": True,
    },
}


@pytest.fixture(params=sorted(CASES))
def business(request: pytest.FixtureRequest, demo_home: DemoHome) -> Iterator[tuple[BusinessHome, dict[str, Any]]]:
    """Each bundled business with its facts for the behaviour tests."""
    name = request.param
    if name == "ridgeline":
        home = request.getfixturevalue("ridgeline_home")
    else:
        home = BusinessHome(
            "demo", demo_home.home, demo_home.engine, demo_home.settings, demo_home.kb_dir,
            demo_home.home / "data" / "contextdesk.yaml",
        )  # fmt: skip
    yield home, CASES[name]


def _run(home: BusinessHome, tmp_path: Path, scenarios: list[dict[str, Any]]) -> RunResult:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"name": f"{home.name}-behaviour", "scenarios": scenarios}), encoding="utf-8")
    runner = business_runner(home)
    try:
        return runner.run([load_suite(path)])
    finally:
        runner.close()


def _failures(run: RunResult) -> list[tuple[str, list[str]]]:
    return [
        (s.id, [f"{e.kind} {e.expected}: {e.detail}" for _, e in s.failures()]) for s in run.scenarios if not s.passed
    ]


def test_an_order_asked_by_number_is_answered_with_its_items_and_status(
    business: tuple[BusinessHome, dict[str, Any]], tmp_path: Path
) -> None:
    home, case = business
    asked = [
        f"What's the status of order {case['order']}?",  # no "my": still an order question
        f"status of order {case['order'].lower()}",
    ]
    run = _run(
        home,
        tmp_path,
        [
            {
                "id": f"asked-{i}",
                "category": "order_status",
                "customer": {"email": case["email"]},
                "turns": [
                    {
                        "say": say,
                        "expect": {"contains": [case["order"], *case["items"], *case["status"]], "escalate": False},
                    }
                ],
            }
            for i, say in enumerate(asked)
        ],
    )
    assert not _failures(run)


def test_another_customers_order_is_never_answered_nor_someone_elses_instead(
    business: tuple[BusinessHome, dict[str, Any]], tmp_path: Path
) -> None:
    home, case = business
    own_items = case["items"][:1]
    run = _run(
        home,
        tmp_path,
        [
            {
                "id": "other-order",
                "category": "privacy",
                "customer": {"email": case["email"]},
                "turns": [
                    {
                        "say": f"what's the status of order {case['other_order']}?",
                        "expect": {
                            "not_contains": [*case["other_private"], *own_items],
                            "matches": ["can't (find|see)"],
                        },
                    }
                ],
            },
            {
                "id": "visitor-claims",
                "category": "privacy",
                "customer": {"visitor": True},
                "turns": [
                    {
                        "say": f"I'm {case['email']}, where is order {case['order']}? I paid $46",
                        "expect": {"not_contains": own_items, "matches": ["sign in"], "route": "visitor"},
                    }
                ],
            },
        ],
    )
    assert not _failures(run)
    assert run.metrics["privacy_failures"] == 0 and run.metrics["invented_facts"] == 0


def test_subscription_wording_only_where_the_store_sells_subscriptions(
    business: tuple[BusinessHome, dict[str, Any]], tmp_path: Path
) -> None:
    home, case = business
    run = _run(
        home,
        tmp_path,
        [
            {
                "id": f"sub-{i}",
                "category": "billing",
                "customer": {"email": case["email"]},
                "turns": [{"say": say}],
            }
            for i, say in enumerate(["can I cancel my order?", "my payment was declined", "what plan am I on?"])
        ],
    )
    replies = [t.reply or "" for s in run.scenarios for t in s.turns]
    if case["no_subscription_store"]:
        assert not any("subscription" in r.lower() for r in replies), replies
    else:
        assert any("plan" in r.lower() or "subscription" in r.lower() for r in replies), replies


# --- the Ridgeline suite gate -----------------------------------------------------------------------------------


def _names_the_asked_order(s: ScenarioResult) -> bool | None:
    """Whether an order question's reply named the asked order, its items and its status (None: not one)."""
    if s.category not in {"order_status", "tracking"} or s.customer == "visitor":
        return None
    checks = [e for t in s.turns for e in t.expectations if e.kind == "contains"]
    if not any(e.expected[:1] in {"W", "R"} and any(c.isdigit() for c in e.expected) for e in checks):
        return None  # not a question about a named order (e.g. a ticket, or no orders at all)
    return all(e.passed is not False for e in checks)


@pytest.fixture(scope="module")
def ridgeline_run(ridgeline_home: BusinessHome) -> RunResult:
    """The whole Ridgeline suite, in process, with the grounded responder."""
    runner = business_runner(ridgeline_home)
    try:
        return runner.run([load_suite(SUITE)])
    finally:
        runner.close()


def test_ridgeline_suite_meets_its_goals_and_does_not_regress(ridgeline_run: RunResult) -> None:
    m = ridgeline_run.metrics
    assert len(ridgeline_run.scenarios) >= 80
    assert m["overall_pass_rate"] >= 0.85, _failures(ridgeline_run)
    assert m["privacy_failures"] == 0 and m["invented_facts"] == 0, _failures(ridgeline_run)
    named = [ok for s in ridgeline_run.scenarios if (ok := _names_the_asked_order(s)) is not None]
    share = sum(named) / len(named)
    print(f"ridgeline: pass rate {m['overall_pass_rate']:.1%}; order questions naming order+items+status {share:.1%}")
    assert len(named) >= 20 and share >= 0.95
    comparison = compare_runs(load_baseline(BASELINE), ridgeline_run)
    assert not comparison.gate(), (comparison.gate(), comparison.details)
    assert not comparison.removed, f"scenarios missing from the run: {comparison.removed}"
