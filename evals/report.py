"""Writing a run: results.json (everything), summary.md (for people and CI logs), report.html (self-contained,
inline SVG charts, no scripts or CDN). Every figure in the HTML carries `data-metric` with its value so a test
(or a curious person) can check it against results.json.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from evals.errors import ResultsError
from evals.models import Baseline, RunResult, baseline_of


def write_results(run: RunResult, out: Path) -> dict[str, Path]:
    """Write results.json, baseline.json, summary.md and report.html into `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "results": out / "results.json",
        "baseline": out / "baseline.json",
        "summary": out / "summary.md",
        "report": out / "report.html",
    }
    paths["results"].write_text(run.model_dump_json(indent=1), encoding="utf-8")
    paths["baseline"].write_text(baseline_of(run).model_dump_json(indent=1), encoding="utf-8")
    paths["summary"].write_text(summary_md(run), encoding="utf-8")
    paths["report"].write_text(report_html(run), encoding="utf-8")
    return paths


def load_results(folder: Path) -> RunResult:
    """Read a run's results.json (from its folder, or the file itself)."""
    path = folder / "results.json" if folder.is_dir() else folder
    try:
        return RunResult.model_validate_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read results: {exc}") from exc
    except ValueError as exc:
        raise ResultsError(f"{path}: not a results.json of `contextdesk eval run`: {exc}") from exc


def load_baseline(folder: Path) -> Baseline:
    """Read what to gate against from a run folder: its baseline.json, else the baseline of its results.json."""
    path = folder / "baseline.json" if folder.is_dir() else folder
    if path.name == "baseline.json" and path.exists():
        try:
            return Baseline.model_validate_json(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ResultsError(f"{path}: not a baseline.json of `contextdesk eval run`: {exc}") from exc
    return baseline_of(load_results(folder))


def _f(value: Any, pct: bool = True) -> str:
    if value is None:
        return "unmeasured"
    if pct and isinstance(value, float):
        return f"{value * 100:.1f}%"
    return str(value)


def summary_md(run: RunResult) -> str:
    """A markdown summary: goals, categories, escalation, context usage, causes, perturbations, failures."""
    m = run.metrics
    esc, ctx = m["escalation"], m["context_usage"]
    lines = [
        f"# Eval run: {', '.join(run.suites)}",
        "",
        f"Target `{run.target}` · responder {run.responder or 'n/a'} · {m['scenarios']} scenarios, {m['turns']} turns"
        f" · repeat {run.repeat} · {run.duration_s:.1f} s",
        "",
        "## Goals",
        "",
        "| goal | value | target | met |",
        "|---|---|---|---|",
    ]
    for name, g in run.goals.items():
        lines.append(f"| {name} | {_f(g['value'])} | {g['goal']} | {'yes' if g['met'] else '**no**'} |")
    lines += ["", "## Pass rate by category", "", "| category | passed | scenarios | pass rate |", "|---|---|---|---|"]
    for cat, row in m["categories"].items():
        lines.append(f"| {cat} | {row['passed']} | {row['scenarios']} | {_f(row['pass_rate'])} |")
    lines.append(f"| **overall** | {m['passed']} | {m['scenarios']} | {_f(m['overall_pass_rate'])} |")
    c = esc["confusion"]
    lines += [
        "",
        "## Escalation",
        "",
        f"precision {_f(esc['precision'])} · recall {_f(esc['recall'])} · F1 {_f(esc['f1'])} · "
        f"reason-code accuracy {_f(esc['reason_code_accuracy'])} ({esc['reason_codes_checked']} checked) · "
        f"summary quality {_f(esc['summary_quality_pass_rate'])} "
        f"({esc['summary_checks']} checks, {esc['summary_unmeasured']} unmeasured)",
        "",
        f"confusion: escalated when expected {c['tp']}, escalated when not {c['fp']}, "
        f"missed {c['fn']}, correctly kept {c['tn']}",
        "",
        "## Context usage",
        "",
        f"{ctx['turns_needing_account_facts']} replies needed account facts: right fields (structured output) "
        f"{_f(ctx['right_fields_structured'])}, right facts in the text {_f(ctx['right_facts_in_text'])}; "
        f"asked for something already known: {_f(ctx['asked_known_share'])} of verified replies",
        "",
        f"Privacy failures: **{m['privacy_failures']}** · invented facts: **{m['invented_facts']}**",
        "",
        "## Failure causes",
        "",
    ]
    if m["failure_causes"]:
        lines += ["| cause | failed expectations | scenarios | fields |", "|---|---|---|---|"]
        for row in m["failure_causes"]:
            fields = ", ".join(f"{k} ({v})" for k, v in row["fields"].items())
            lines.append(f"| {row['cause']} | {row['failures']} | {row['scenarios']} | {fields} |")
    else:
        lines.append("No failures.")
    if "repeatability" in m:
        r = m["repeatability"]
        lines += [
            "",
            f"## Repeatability\n\npass^{r['k']} {_f(r['pass_hat_k'])} · pass@1 {_f(r['pass_at_1'])} · "
            f"flaky: {', '.join(r['flaky']) or 'none'}",
        ]
    if "perturbations" in m:
        lines += ["", "## Perturbations", "", "| perturbation | scenarios | held | broke |", "|---|---|---|---|"]
        for key, row in m["perturbations"].items():
            lines.append(f"| {key} | {row['scenarios']} | {_f(row['held_rate'])} | {', '.join(row['broke'])} |")
    j = m["judge"]
    if j["replies_judged"]:
        lines += [
            "",
            f"Judge: helpfulness {_f(j['helpfulness_mean'], False)}, tone {_f(j['tone_mean'], False)} "
            f"({j['replies_judged']} judged, {j['unmeasured']} unmeasured)",
        ]
    lat = m["latency_ms"]
    lines += ["", f"Latency per turn: p50 {lat['p50']} ms · p95 {lat['p95']} ms · max {lat['max']} ms"]
    failed = [r for r in run.scenarios if not r.passed]
    if failed:
        lines += ["", "## Failed scenarios", ""]
        for r in failed:
            lines.append(f"- **{r.key}** ({r.category}, {r.customer})")
            for i, e in r.failures():
                lines.append(f"  - turn {i + 1} `{e.kind}` {e.expected!r}: {e.detail} — cause `{e.cause}`")
    if run.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in run.notes]
    return "\n".join(lines) + "\n"


# --- HTML ----------------------------------------------------------------------------------------------------------

_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1d2433}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #dde}
table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #dde;padding:4px 8px;text-align:left;vertical-align:top}
.ok{color:#17693a}.bad{color:#b3261e;font-weight:600}.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{border:1px solid #dde;border-radius:8px;padding:10px 14px;min-width:150px}.card b{display:block;font-size:20px}
details{margin:4px 0}pre{white-space:pre-wrap;background:#f6f7fb;padding:8px;border-radius:6px}
svg text{font:12px system-ui,sans-serif}"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _bar_chart(
    rows: list[tuple[str, float | None, str]], *, chart: str, max_value: float = 1.0, pct: bool = True
) -> str:
    width, bar_h, label_w = 700, 22, 190
    height = bar_h * len(rows) + 10
    parts = [
        f'<svg role="img" data-chart="{_e(chart)}" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
    ]
    for i, (label, value, metric) in enumerate(rows):
        y = 5 + i * bar_h
        frac = 0.0 if value is None or not max_value else value / max_value
        w = max(0.0, min(1.0, frac)) * (width - label_w - 70)
        shown = _f(value) if pct else _f(value, False)
        color = "#2f6fdb" if value is not None else "#bbb"
        parts.append(f'<text x="0" y="{y + 15}">{_e(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{bar_h - 8}" fill="{color}"/>')
        parts.append(
            f'<text x="{label_w + w + 6:.1f}" y="{y + 15}" data-metric="{_e(metric)}" '
            f'data-value="{"" if value is None else value}">{_e(shown)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _confusion(c: dict[str, int]) -> str:
    cells = [
        ("tp", "escalated", "expected"),
        ("fn", "kept by bot", "expected"),
        ("fp", "escalated", "not expected"),
        ("tn", "kept by bot", "not expected"),
    ]
    parts = [
        '<svg role="img" data-chart="escalation-confusion" width="420" height="150" viewBox="0 0 420 150">',
        '<text x="130" y="14">bot escalated</text><text x="270" y="14">bot kept it</text>',
        '<text x="0" y="60">should escalate</text><text x="0" y="120">should not</text>',
    ]
    for i, (key, _, _) in enumerate(cells):
        x = 120 + (i % 2) * 140
        y = 24 + (i // 2) * 60
        good = key in {"tp", "tn"}
        parts.append(f'<rect x="{x}" y="{y}" width="130" height="54" fill="{"#d7efdf" if good else "#f7dcda"}"/>')
        parts.append(
            f'<text x="{x + 50}" y="{y + 33}" data-metric="escalation.confusion.{key}" '
            f'data-value="{c[key]}">{c[key]}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def report_html(run: RunResult) -> str:
    """The self-contained HTML report."""
    m = run.metrics
    esc, ctx = m["escalation"], m["context_usage"]
    cards = [
        ("overall pass rate", "overall_pass_rate", m["overall_pass_rate"]),
        ("escalation F1", "escalation.f1", esc["f1"]),
        ("escalation precision", "escalation.precision", esc["precision"]),
        ("escalation recall", "escalation.recall", esc["recall"]),
        ("reason-code accuracy", "escalation.reason_code_accuracy", esc["reason_code_accuracy"]),
        ("summary quality", "escalation.summary_quality_pass_rate", esc["summary_quality_pass_rate"]),
        ("right context fields", "context_usage.right_fields_structured", ctx["right_fields_structured"]),
        ("right facts in text", "context_usage.right_facts_in_text", ctx["right_facts_in_text"]),
        ("asked for known info", "context_usage.asked_known_share", ctx["asked_known_share"]),
    ]
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Eval report: {_e(', '.join(run.suites))}</title><style>{_CSS}</style></head><body>",
        f"<h1>Eval report: {_e(', '.join(run.suites))}</h1>",
        f"<p>Target <code>{_e(run.target)}</code> · responder {_e(run.responder or 'n/a')} · "
        f"<span data-metric='scenarios' data-value='{m['scenarios']}'>{m['scenarios']}</span> scenarios · "
        f"{m['turns']} turns · repeat {run.repeat} · {run.duration_s:.1f} s · "
        f"started {_e(run.started_at.isoformat())}</p>",
        "<div class='cards'>",
    ]
    for label, key, value in cards:
        out.append(
            f"<div class='card'>{_e(label)}<b data-metric='{key}' data-value='{'' if value is None else value}'>"
            f"{_e(_f(value))}</b></div>"
        )
    out.append(
        f"<div class='card'>privacy failures<b class='{'ok' if not m['privacy_failures'] else 'bad'}' "
        f"data-metric='privacy_failures' data-value='{m['privacy_failures']}'>{m['privacy_failures']}</b></div>"
    )
    out.append(
        f"<div class='card'>invented facts<b class='{'ok' if not m['invented_facts'] else 'bad'}' "
        f"data-metric='invented_facts' data-value='{m['invented_facts']}'>{m['invented_facts']}</b></div>"
    )
    out.append("</div><h2>Goals</h2><table><tr><th>goal</th><th>value</th><th>target</th><th>met</th></tr>")
    for name, g in run.goals.items():
        out.append(
            f"<tr><td>{_e(name)}</td><td>{_e(_f(g['value']))}</td><td>{_e(g['goal'])}</td>"
            f"<td class='{'ok' if g['met'] else 'bad'}'>{'yes' if g['met'] else 'no'}</td></tr>"
        )
    out.append("</table><h2>Pass rate by category</h2>")
    out.append(
        _bar_chart(
            [(c, r["pass_rate"], f"categories.{c}.pass_rate") for c, r in m["categories"].items()],
            chart="pass-rate-by-category",
        )
    )
    out.append("<h2>Failure causes</h2>")
    causes = m["failure_causes"]
    if causes:
        top = max(r["failures"] for r in causes)
        out.append(
            _bar_chart(
                [(r["cause"], float(r["failures"]), f"failure_causes.{r['cause']}") for r in causes],
                chart="failure-causes",
                max_value=float(top),
                pct=False,
            )
        )
        out.append(
            "<table><tr><th>cause</th><th>failed expectations</th><th>scenarios</th><th>fields</th>"
            "<th>examples</th></tr>"
        )
        for r in causes:
            fields = ", ".join(f"{k} ({v})" for k, v in r["fields"].items())
            out.append(
                f"<tr><td>{_e(r['cause'])}</td><td>{r['failures']}</td><td>{r['scenarios']}</td>"
                f"<td>{_e(fields)}</td><td>{_e(', '.join(r['examples']))}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append("<p>No failures.</p>")
    out.append("<h2>Escalation</h2>")
    out.append(_confusion(esc["confusion"]))
    out.append("<h2>Latency per turn</h2>")
    hist = m["latency_ms"]["histogram"]
    top_n = max([h["count"] for h in hist] + [1])
    out.append(
        _bar_chart(
            [(h["range"], float(h["count"]), f"latency_ms.histogram.{i}") for i, h in enumerate(hist)],
            chart="latency",
            max_value=float(top_n),
            pct=False,
        )
    )
    out.append(f"<p>p50 {m['latency_ms']['p50']} ms · p95 {m['latency_ms']['p95']} ms</p>")
    if "perturbations" in m:
        out.append(
            "<h2>Perturbations</h2><table><tr><th>perturbation</th><th>scenarios</th><th>held</th><th>broke</th></tr>"
        )
        for key, row in m["perturbations"].items():
            out.append(
                f"<tr><td>{_e(key)}</td><td>{row['scenarios']}</td><td data-metric='perturbations.{_e(key)}.held_rate' "
                f"data-value='{'' if row['held_rate'] is None else row['held_rate']}'>{_e(_f(row['held_rate']))}</td>"
                f"<td>{_e(', '.join(row['broke']))}</td></tr>"
            )
        out.append("</table>")
    if "repeatability" in m:
        r = m["repeatability"]
        out.append(
            f"<h2>Repeatability</h2><p>pass^{r['k']} <b data-metric='repeatability.pass_hat_k' "
            f"data-value='{r['pass_hat_k']}'>{_e(_f(r['pass_hat_k']))}</b> · "
            f"flaky: {_e(', '.join(r['flaky']) or 'none')}</p>"
        )
    out.append("<h2>Scenarios</h2>")
    for r in run.scenarios:
        status = "<span class='ok'>pass</span>" if r.passed else "<span class='bad'>fail</span>"
        out.append(
            f"<details{' open' if not r.passed else ''}><summary>{status} <b>{_e(r.key)}</b> "
            f"({_e(r.category)}, {_e(r.customer)})</summary>"
        )
        for t in r.turns:
            out.append(f"<p><b>customer:</b> {_e(t.message)}</p><pre>{_e(t.reply or '(no reply)')}</pre>")
            out.append(
                f"<p>route {_e(t.route)} · intent {_e(t.intent)} · escalated {t.escalated} "
                f"({_e(t.reason_code)}) · {t.latency_ms:.0f} ms</p><ul>"
            )
            for e in t.expectations:
                cls = "ok" if e.passed else ("bad" if e.passed is False else "")
                word = "ok" if e.passed else ("FAIL" if e.passed is False else "unmeasured")
                extra = f" — {_e(e.detail)}" if e.detail else ""
                cause = f" [cause {_e(e.cause)}]" if e.cause and e.passed is False else ""
                out.append(f"<li class='{cls}'>{word} {_e(e.kind)}: {_e(e.expected)}{extra}{cause}</li>")
            out.append("</ul>")
        out.append("</details>")
    out.append("</body></html>")
    return "\n".join(out)


def metric_value(metrics: dict[str, Any], key: str) -> Any:
    """A metric by its dotted `data-metric` key (the HTML's figures are checked against results.json with it)."""
    if key.startswith("failure_causes."):
        cause = key.split(".", 1)[1]
        return float(next(r["failures"] for r in metrics["failure_causes"] if r["cause"] == cause))
    if key.startswith("latency_ms.histogram."):
        return float(metrics["latency_ms"]["histogram"][int(key.rsplit(".", 1)[1])]["count"])
    if key.startswith("perturbations."):
        name, _, leaf = key[len("perturbations.") :].rpartition(".")
        return metrics["perturbations"][name][leaf]
    value: Any = metrics
    for part in key.split("."):
        value = value[part]
    return value


__all__ = ["json", "load_baseline", "load_results", "metric_value", "report_html", "summary_md", "write_results"]
