"""Comparing two runs: what improved and what regressed, per scenario and per category; a CI gate.

A scenario (id + perturbation) regressed when it passed in the baseline (all repeats) and fails in the new run;
improved the other way round. The gate fails when more scenarios regressed than allowed, the overall pass rate
dropped by more than allowed, or a privacy failure or invented fact appeared that the baseline did not have.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evals.models import Baseline, RunResult, baseline_of


@dataclass
class Comparison:
    """The differences between a baseline and a new run."""

    improved: list[str] = field(default_factory=list)
    regressed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    categories: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    overall: tuple[float | None, float | None] = (None, None)
    privacy: tuple[int, int] = (0, 0)
    invented: tuple[int, int] = (0, 0)
    details: dict[str, list[str]] = field(default_factory=dict)

    def gate(self, *, max_regressions: int = 0, max_drop: float = 0.0) -> list[str]:
        """Reasons the new run fails the gate (empty: it passes)."""
        problems = []
        if len(self.regressed) > max_regressions:
            problems.append(f"{len(self.regressed)} scenarios regressed (allowed {max_regressions})")
        before, after = self.overall
        if before is not None and after is not None and before - after > max_drop + 1e-9:
            problems.append(
                f"overall pass rate dropped {100 * (before - after):.1f} points (allowed {100 * max_drop:.1f})"
            )
        if self.privacy[1] > self.privacy[0]:
            problems.append(f"privacy failures went from {self.privacy[0]} to {self.privacy[1]}")
        if self.invented[1] > self.invented[0]:
            problems.append(f"invented facts went from {self.invented[0]} to {self.invented[1]}")
        return problems


def compare_runs(baseline: Baseline | RunResult, new: RunResult) -> Comparison:
    """Per-scenario and per-category differences of a baseline (or a whole earlier run) and a new run."""
    if isinstance(baseline, RunResult):
        baseline = baseline_of(baseline)
    old, cur = baseline.passed, baseline_of(new).passed
    out = Comparison()
    for key in sorted(old.keys() | cur.keys()):
        if key not in cur:
            out.removed.append(key)
        elif key not in old:
            out.added.append(key)
        elif old[key] and not cur[key]:
            out.regressed.append(key)
        elif cur[key] and not old[key]:
            out.improved.append(key)
    for r in new.scenarios:
        if r.key in out.regressed and r.key not in out.details:
            out.details[r.key] = [
                f"turn {i + 1} {e.kind} {e.expected!r}: {e.detail} ({e.cause})" for i, e in r.failures()
            ]
    cats = baseline.metrics.get("categories", {}).keys() | new.metrics.get("categories", {}).keys()
    for c in sorted(cats):
        b = baseline.metrics.get("categories", {}).get(c, {}).get("pass_rate")
        n = new.metrics.get("categories", {}).get(c, {}).get("pass_rate")
        out.categories[c] = (b, n)
    out.overall = (baseline.metrics.get("overall_pass_rate"), new.metrics.get("overall_pass_rate"))
    out.privacy = (baseline.metrics.get("privacy_failures", 0), new.metrics.get("privacy_failures", 0))
    out.invented = (baseline.metrics.get("invented_facts", 0), new.metrics.get("invented_facts", 0))
    return out
