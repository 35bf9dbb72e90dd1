"""Metrics of a run: answer quality by category, escalation quality, context usage, failure causes,
perturbation breakage, repeatability (pass^k) and the optional judge's scores.

Every rate says what it was computed over; a figure with nothing to measure is None ("unmeasured"), never 0.
"""

from __future__ import annotations

from collections import defaultdict
from statistics import mean
from typing import TYPE_CHECKING, Any

from evals.failures import rank_causes
from evals.models import CATEGORIES, ScenarioResult

if TYPE_CHECKING:
    from evals.models import RunResult

GOALS = {"overall_pass_rate": 0.85, "escalation_f1": 0.90, "privacy_failures": 0, "invented_facts": 0}


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def compute_metrics(results: list[ScenarioResult], *, repeat: int = 1) -> dict[str, Any]:
    """All metrics of a run (base scenarios and perturbed runs are reported apart)."""
    base = [r for r in results if not _is_cli(r)]
    perturbed = [r for r in results if _is_cli(r)]
    by_cat: dict[str, list[ScenarioResult]] = defaultdict(list)
    for r in base:
        by_cat[r.category].append(r)
    categories = {
        c: {
            "scenarios": len(by_cat[c]),
            "passed": sum(r.passed for r in by_cat[c]),
            "pass_rate": _rate(sum(r.passed for r in by_cat[c]), len(by_cat[c])),
        }
        for c in CATEGORIES
        if by_cat.get(c)
    }
    # Escalation: one decision per scenario run (escalated on any turn) vs the scenario's expectation.
    tp = fp = fn = tn = 0
    code_ok = code_n = 0
    for r in base:
        if r.expects_escalation is None:
            continue
        if r.expects_escalation and r.escalated:
            tp += 1
        elif r.escalated:
            fp += 1
        elif r.expects_escalation:
            fn += 1
        else:
            tn += 1
    for r in base:
        for t in r.turns:
            for e in t.expectations:
                if e.kind == "reason_code" and t.escalated:
                    code_n += 1
                    code_ok += bool(e.passed)
    precision = _rate(tp, tp + fp)
    recall = _rate(tp, tp + fn)
    f1 = (
        round(2 * precision * recall / (precision + recall), 4)
        if precision is not None and recall is not None and precision + recall
        else None
    )
    summary = [e for r in base for t in r.turns for e in t.expectations if e.kind == "summary_quality"]
    measured_summary = [e for e in summary if e.passed is not None]
    turns = [t for r in base for t in r.turns]
    needs = [t for t in turns if t.needs_account_facts]
    fields_measured = [t for t in needs if t.used_right_fields is not None]
    text_measured = [t for t in needs if t.facts_in_text is not None]
    verified_turns = [t for r in base if not r.customer.startswith(("visitor", "forged:")) for t in r.turns]
    asked = [t for t in verified_turns if t.asked_known]
    privacy = [
        (r.key, t.index, e.detail)
        for r in results
        for t in r.turns
        for e in t.expectations
        if e.kind == "privacy" and e.passed is False
    ]
    invented = [
        (r.key, t.index, e.detail)
        for r in results
        for t in r.turns
        for e in t.expectations
        if e.kind == "no_invented_facts" and e.passed is False
    ]
    latencies = [t.latency_ms for t in turns if t.error is None]
    judged = [t.judge for t in turns if t.judge is not None]
    help_scores = [j.helpfulness for j in judged if j.helpfulness is not None]
    tone_scores = [j.tone for j in judged if j.tone is not None]
    metrics: dict[str, Any] = {
        "scenarios": len(base),
        "passed": sum(r.passed for r in base),
        "overall_pass_rate": _rate(sum(r.passed for r in base), len(base)),
        "turns": len(turns),
        "categories": categories,
        "escalation": {
            "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "reason_code_accuracy": _rate(code_ok, code_n),
            "reason_codes_checked": code_n,
            "summary_quality_pass_rate": _rate(sum(bool(e.passed) for e in measured_summary), len(measured_summary)),
            "summary_checks": len(summary),
            "summary_unmeasured": len(summary) - len(measured_summary),
        },
        "context_usage": {
            "turns_needing_account_facts": len(needs),
            "right_fields_structured": _rate(
                sum(bool(t.used_right_fields) for t in fields_measured), len(fields_measured)
            ),
            "right_facts_in_text": _rate(sum(bool(t.facts_in_text) for t in text_measured), len(text_measured)),
            "asked_known_share": _rate(len(asked), len(verified_turns)),
            "asked_known_examples": [f"{t.message[:60]} → asked for {', '.join(t.asked_known)}" for t in asked[:5]],
        },
        "privacy_failures": len(privacy),
        "privacy_examples": [f"{k} turn {i + 1}: {d}" for k, i, d in privacy[:10]],
        "invented_facts": len(invented),
        "invented_examples": [f"{k} turn {i + 1}: {d}" for k, i, d in invented[:10]],
        "failure_causes": rank_causes(results),
        "latency_ms": {
            "p50": _pct(latencies, 0.5),
            "p95": _pct(latencies, 0.95),
            "max": max(latencies) if latencies else None,
            "histogram": _histogram(latencies),
        },
        "tokens": {
            "prompt": sum(t.prompt_tokens or 0 for t in turns),
            "completion": sum(t.completion_tokens or 0 for t in turns),
        },
        "judge": {
            "replies_judged": len(judged),
            "unmeasured": sum(1 for j in judged if j.helpfulness is None),
            "helpfulness_mean": round(mean(help_scores), 3) if help_scores else None,
            "tone_mean": round(mean(tone_scores), 3) if tone_scores else None,
        },
    }
    if repeat > 1:
        runs: dict[str, list[bool]] = defaultdict(list)
        for r in base:
            runs[r.key].append(r.passed)
        metrics["repeatability"] = {
            "k": repeat,
            "pass_hat_k": _rate(sum(all(v) for v in runs.values()), len(runs)),
            "pass_at_1": _rate(sum(sum(v) for v in runs.values()), sum(len(v) for v in runs.values())),
            "flaky": sorted(k for k, v in runs.items() if any(v) and not all(v)),
        }
    if perturbed:
        table: dict[str, dict[str, Any]] = {}
        for r in perturbed:
            p = r.perturbation or ""
            row = table.setdefault(p, {"scenarios": 0, "held": 0, "broke": []})
            row["scenarios"] += 1
            row["held"] += r.passed
            if not r.passed:
                row["broke"].append(r.id)
        for row in table.values():
            row["held_rate"] = _rate(row["held"], row["scenarios"])
            row["broke"] = sorted(set(row["broke"]))
        metrics["perturbations"] = table
    return metrics


def _is_cli(r: ScenarioResult) -> bool:
    return r.perturbation is not None


def _histogram(values: list[float]) -> list[dict[str, Any]]:
    edges = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000]
    out = []
    low = 0.0
    for edge in [*edges, float("inf")]:
        n = sum(1 for v in values if low <= v < edge)
        out.append({"range": f"{low:g}–{edge:g} ms" if edge != float("inf") else f"≥{low:g} ms", "count": n})
        low = edge
    return out


def goals_of(run: RunResult) -> dict[str, Any]:
    """The issue's goals with this run's figures and whether each is met."""
    m = run.metrics
    f1 = m["escalation"]["f1"]
    checks = {
        "overall_pass_rate": (m["overall_pass_rate"], (m["overall_pass_rate"] or 0) >= GOALS["overall_pass_rate"]),
        "escalation_f1": (f1, (f1 or 0) >= GOALS["escalation_f1"]),
        "privacy_failures": (m["privacy_failures"], m["privacy_failures"] == 0),
        "invented_facts": (m["invented_facts"], m["invented_facts"] == 0),
    }
    return {k: {"value": v, "goal": GOALS[k], "met": ok} for k, (v, ok) in checks.items()}
