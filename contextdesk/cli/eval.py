"""`contextdesk eval`: run answer-quality suites, compare runs (a CI gate), capture a conversation as a scenario."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from contextdesk.cli.common import console, engine, fail, friendly_errors, settings
from contextdesk.clock import system_now

app = typer.Typer(
    help="Answer-quality evals: run scenario suites against the agent, compare runs, capture conversations."
)


def _summary_check_factory(context_config: Any) -> Any:
    """The handoff package's summary quality check, when it is installed (else summaries are unmeasured)."""
    from evals.handoff_check import summary_check_factory

    return summary_check_factory(context_config)


def _require_customers(eng: Any) -> None:
    """An in-process run on an empty store would only measure "customer not found": say how to load some."""
    from sqlalchemy import func, select

    from context.canonical.models import Customer

    with eng.connect() as conn:
        count = conn.execute(select(func.count()).select_from(Customer)).scalar_one()
    if not count:
        where = eng.url.render_as_string(hide_password=True)
        fail(
            f"the store at {where} has no customers, so every scenario would fail on identity. Load some first: "
            "`contextdesk demo run` for the demo suite, or `contextdesk sync` with your contextdesk.yaml "
            "(docs/onboarding.md) for suites about your own business"
        )


@app.command("run")
@friendly_errors
def run(
    suites: list[Path] = typer.Argument(..., help="Suite YAML files (e.g. demo/suites/demo.yaml)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for results.json, report.html and summary.md."),
    target: str = typer.Option(
        "in-process", "--target", help="`in-process` (default) or the base URL of a running server (http://…)."
    ),
    repeat: int = typer.Option(1, "--repeat", "-k", min=1, help="Run each scenario K times; reports pass^k."),
    perturb: list[str] = typer.Option(
        [],
        "--perturb",
        help="Also run scenarios with data changed: source_removed:SOURCE, field_blanked:FIELD, stale:SOURCE, "
        "conflict:subscription|order (repeatable; in-process only).",
    ),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="Scenarios run in parallel threads."),
    judge: bool = typer.Option(False, "--judge", help="Score each reply with the LLM judge (needs an LLM)."),
    kb_dir: Path | None = typer.Option(None, "--kb-dir", help="Help-center articles (default: the demo's)."),
    api_key: str | None = typer.Option(None, "--api-key", help="X-API-Key for the turns API of an HTTP target."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
    shift_days: int | None = typer.Option(
        None,
        "--shift-days",
        help="The demo data was loaded moved by this many days: move the clock and the dates of suites with a "
        "reference_date as much (default: the data dir's demo/demo_shift.json, written by `contextdesk demo run`).",
    ),
) -> None:
    """Run suites and write results.json, report.html and summary.md; print the goals and the timing.

    In-process runs use the data dir's store (run `contextdesk demo run` first for the demo suite) through a
    private copy, with the clock at the demo story's moment, moved by the days the demo was loaded moved by
    (and the suites' expected dates with it). An HTTP target must share the identity secret
    (CONTEXTDESK_IDENTITY_SECRET) and should allow more than 20 conversations a minute per address.
    """
    from agent.config import load_agent_config
    from context.customer_context.config import load_context_config
    from demo.help_center import ARTICLES_DIR
    from demo.shift import read_shift, shift_instant, shift_of
    from evals.models import load_suite
    from evals.perturbations import parse_perturbation
    from evals.report import write_results
    from evals.runner import DEMO_NOW, EvalEnv, http_runner, in_process_runner
    from evals.shift import shift_suite
    from evals.truth import load_kb_text

    t0 = time.perf_counter()
    loaded = [load_suite(p) for p in suites]
    perturbations = [parse_perturbation(p) for p in perturb]
    cfg = settings()
    demo_shift = shift_of(shift_days) if shift_days is not None else read_shift(cfg.demo_dir)
    if demo_shift is not None:
        days = demo_shift.days
        loaded = [
            shift_suite(
                s,
                reference_date=demo_shift.reference_date,
                days=days,
                move=lambda value: shift_instant(value, days),
            )
            for s in loaded
        ]
        console.print(f"demo dates moved {demo_shift.days:+d} days: clock {demo_shift.now:%Y-%m-%d %H:%M %Z}")
    secret = cfg.identity_secret
    http = target != "in-process"
    if http and not target.startswith(("http://", "https://")):
        fail(f"--target {target!r}: use in-process or an http(s):// URL")
    if secret is None:
        if http:
            fail("an HTTP target needs CONTEXTDESK_IDENTITY_SECRET (the server's) to sign customer identities")
        from pydantic import SecretStr  # pydantic: not for `contextdesk --help`

        secret = SecretStr(secrets.token_hex(32))
        cfg = cfg.model_copy(update={"identity_secret": secret})
    eng = engine()
    if not http:
        _require_customers(eng)
    context_config = load_context_config(cfg.resolved_config_file)
    model = None
    if judge:
        from agent.llm.factory import build_chat_model

        model = build_chat_model(
            base_url=cfg.llm_base_url,
            api_key=cfg.llm_api_key,
            model=cfg.llm_model,
            timeout_s=cfg.llm_timeout_seconds,
        )
        if model is None:
            fail("--judge needs an LLM (CONTEXTDESK_LLM_BASE_URL)")
    from evals.judge import LLMJudge

    env = EvalEnv(
        engine=eng,
        context_config=context_config,
        kb=load_kb_text(kb_dir or ARTICLES_DIR),
        secret=secret,
        clock=system_now,
        judge=LLMJudge(model) if model is not None else None,
        summary_check=_summary_check_factory(context_config),
        workers=workers,
        now=demo_shift.now if demo_shift is not None else DEMO_NOW,
        synced_at=demo_shift.now if demo_shift is not None else None,
        identity=load_agent_config(cfg.resolved_config_file).identity,
    )
    if http:
        runner = http_runner(env, target, api_key=api_key or (cfg.api_key.get_secret_value() if cfg.api_key else None))
    else:
        from contextdesk.app import _agent_deps

        runner = in_process_runner(env, _agent_deps(cfg, eng, context_config))
    setup_s = time.perf_counter() - t0
    try:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("[bold]evaluating[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            console=console,
            transient=as_json,
            disable=as_json,
        ) as progress:
            task = progress.add_task("scenarios", total=None, failed=0)
            failed = 0

            def done(result: Any) -> None:
                nonlocal failed
                failed += not result.passed
                progress.update(task, advance=1, failed=failed)

            result = runner.run(
                loaded,
                repeat=repeat,
                perturbations=perturbations,
                on_total=lambda n: progress.update(task, total=n),
                on_done=done,
                suite_names=[str(p) for p in suites],
            )
    finally:
        runner.close()
    paths = write_results(result, out)
    m = result.metrics
    if as_json:
        console.print_json(json.dumps({"metrics": m, "goals": result.goals}, default=str))
        return
    table = Table(title="Goals")
    for col in ("goal", "value", "target", "met"):
        table.add_column(col)
    for name, g in result.goals.items():
        value = g["value"]
        shown = "unmeasured" if value is None else (f"{value:.1%}" if isinstance(value, float) else str(value))
        table.add_row(name, shown, str(g["goal"]), "[green]yes" if g["met"] else "[red]no")
    console.print(table)
    esc = m["escalation"]
    console.print(
        f"{m['passed']}/{m['scenarios']} scenarios passed · escalation P {esc['precision']} R {esc['recall']} "
        f"F1 {esc['f1']} · reason codes {esc['reason_code_accuracy']} · summaries "
        f"{'unmeasured' if esc['summary_quality_pass_rate'] is None else esc['summary_quality_pass_rate']}"
    )
    lat = m["latency_ms"]
    runs = len(result.scenarios)
    console.print(
        f"bench: {runs} scenario runs, {m['turns']} turns in {result.duration_s:.1f} s "
        f"({runs / result.duration_s if result.duration_s else 0:.1f} scenarios/s; setup {setup_s:.1f} s) · "
        f"turn latency p50 {lat['p50']} ms p95 {lat['p95']} ms"
    )
    for note in result.notes[:10]:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"report: {paths['report']}\nsummary: {paths['summary']}\nresults: {paths['results']}")


@app.command("compare")
@friendly_errors
def compare(
    baseline: Path = typer.Argument(..., help="Baseline run folder (its baseline.json, or results.json)."),
    new: Path = typer.Argument(..., help="New run folder (or its results.json)."),
    max_regressions: int = typer.Option(0, "--max-regressions", help="Regressed scenarios allowed before failing."),
    max_drop: float = typer.Option(0.0, "--max-drop", help="Overall pass-rate drop allowed (0.02 = 2 points)."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
) -> None:
    """Show what improved and regressed per scenario and category; exit 1 on a regression beyond the threshold."""
    from evals.compare import compare_runs
    from evals.report import load_baseline, load_results

    cmp = compare_runs(load_baseline(baseline), load_results(new))
    problems = cmp.gate(max_regressions=max_regressions, max_drop=max_drop)
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "improved": cmp.improved,
                    "regressed": cmp.regressed,
                    "added": cmp.added,
                    "removed": cmp.removed,
                    "categories": cmp.categories,
                    "overall": cmp.overall,
                    "problems": problems,
                }
            )
        )
    else:
        table = Table(title="Pass rate by category")
        for col in ("category", "baseline", "new", "change"):
            table.add_column(col)

        def pct(v: float | None) -> str:
            return "—" if v is None else f"{v:.1%}"

        for cat, (b, n) in cmp.categories.items():
            change = "" if b is None or n is None else f"{(n - b) * 100:+.1f}"
            style = "red" if change.startswith("-") else ("green" if change not in {"", "+0.0"} else "")
            table.add_row(cat, pct(b), pct(n), f"[{style}]{change}[/]" if style else change)
        b, n = cmp.overall
        table.add_row("[bold]overall", pct(b), pct(n), "" if b is None or n is None else f"{(n - b) * 100:+.1f}")
        console.print(table)
        console.print(f"[green]improved ({len(cmp.improved)}):[/] {', '.join(cmp.improved) or 'none'}")
        console.print(f"[red]regressed ({len(cmp.regressed)}):[/] {', '.join(cmp.regressed) or 'none'}")
        for key, lines in cmp.details.items():
            for line in lines:
                console.print(f"  {key}: {line}")
        if cmp.added or cmp.removed:
            console.print(f"added: {', '.join(cmp.added) or 'none'} · removed: {', '.join(cmp.removed) or 'none'}")
        for p in problems:
            console.print(f"[red]gate: {p}")
        if not problems:
            console.print("[green]gate passed")
    if problems:
        raise typer.Exit(1)


@app.command("capture")
@friendly_errors
def capture(
    conversation_id: str = typer.Argument(..., help="A stored conversation's id."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the scenario YAML here (default: print it)."),
) -> None:
    """Turn a stored conversation into a scenario YAML to edit (a bad answer becomes a regression test)."""
    from evals.capture import capture_conversation

    text = capture_conversation(engine=engine(), conversation_id=conversation_id)
    if out is None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"scenario written to {out}")
