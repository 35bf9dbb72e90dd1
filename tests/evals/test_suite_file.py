"""The bundled demo suite is valid, large enough and covers every category; bad suites get clear errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from demo import DEMO_SUITE
from evals.errors import SuiteError
from evals.models import CATEGORIES, load_suite

DEMO = DEMO_SUITE


def test_demo_suite_covers_every_category_with_many_multi_turn_scenarios() -> None:
    suite = load_suite(DEMO)
    counts = Counter(s.category for s in suite.scenarios)
    assert len(suite.scenarios) >= 150
    assert set(counts) == set(CATEGORIES) and min(counts.values()) >= 10
    assert sum(len(s.turns) > 1 for s in suite.scenarios) >= 30


def test_a_bad_suite_names_the_file_scenario_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\nscenarios:\n  - id: oops\n    category: weather\n    customer: {visitor: true}\n"
        "    turns: [{say: hi, expect: {reason_code: angry}}]\n"
    )
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    text = str(err.value)
    assert str(path) in text and "scenario oops: category" in text and "reason_code" in text
