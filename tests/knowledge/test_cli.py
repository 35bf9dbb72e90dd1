"""`contextdesk kb` end to end on the demo help center, in a temporary data dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contextdesk.cli import app
from contextdesk.cli.common import settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CONTEXTDESK_HOME", str(tmp_path))
    monkeypatch.delenv("CONTEXTDESK_CHROMA_PATH", raising=False)
    monkeypatch.delenv("CONTEXTDESK_CHROMA_HOST", raising=False)
    settings.cache_clear()
    yield tmp_path
    settings.cache_clear()


def test_ingest_search_stats(home: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["kb", "ingest", "--demo"])
    assert first.exit_code == 0, first.output
    assert "47 added" in first.output
    second = runner.invoke(app, ["kb", "ingest", "--demo"])
    assert "47 unchanged" in second.output

    found = runner.invoke(app, ["kb", "search", "how do I get a refund on an annual plan", "--json"])
    assert found.exit_code == 0, found.output
    top = json.loads(found.output)["results"][0]
    assert top["citation_url"] == "https://brightleaf.example/help/subscription-refunds#annual-pro-plans"

    stats = runner.invoke(app, ["kb", "stats", "--json"])
    assert json.loads(stats.output)["documents"] == 47


def test_search_with_bad_viewer_is_a_clear_error(home: Path) -> None:
    result = CliRunner().invoke(app, ["kb", "search", "refund", "--viewer", "admin"])
    assert result.exit_code == 1
    assert "--viewer" in result.output


def test_eval_calibrate_stores_the_threshold_in_the_index(home: Path) -> None:
    from demo.kb_eval_sets import eval_set

    runner = CliRunner()
    aerio = eval_set("aerio")
    assert runner.invoke(app, ["kb", "ingest", str(aerio.articles)]).exit_code == 0
    result = runner.invoke(app, ["kb", "eval", str(aerio.questions), "--calibrate", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    fitted = report["calibration"]["threshold"]
    # The next run (another process would do the same) applies the stored threshold, not MiniLM's default.
    again = json.loads(runner.invoke(app, ["kb", "eval", str(aerio.questions), "--json"]).output)
    assert again["min_score"] == pytest.approx(fitted)
    assert again["false_low_confidence"] <= 0.05


def test_unknown_embedder_is_a_clear_error(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTEXTDESK_EMBEDDER", "bert")
    settings.cache_clear()
    result = CliRunner().invoke(app, ["kb", "stats"])
    assert result.exit_code == 1
    assert "'minilm', 'e5' or 'openai'" in result.output
