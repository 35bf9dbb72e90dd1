"""`contextdesk kb`: ingest help-center content, search it, and evaluate retrieval."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from contextdesk.cli.common import console, fail, settings

app = typer.Typer(
    help="Knowledge base: ingest Markdown/HTML/text/PDF files and sites, search with citations, evaluate retrieval.",
    no_args_is_help=True,
)


def _embedder() -> Any:
    from contextdesk.wiring import build_embedder

    return build_embedder(settings())


def _store() -> Any:
    from knowledge.store import open_store

    s = settings()
    return open_store(path=s.resolved_chroma_path, host=s.chroma_host, port=s.chroma_port, embedder=_embedder())


def _knowledge_errors(func: Any) -> Any:
    """Show our own knowledge errors as one line, exit 1."""
    import functools

    from knowledge.errors import KnowledgeError

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KnowledgeError as exc:
            return fail(str(exc))

    return wrapper


@app.command()
@_knowledge_errors
def ingest(
    sources: Annotated[
        list[str] | None, typer.Argument(help="Files, folders (recursive) or URLs (a page or a sitemap.xml) to index.")
    ] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Index the bundled Brightleaf demo help center.")] = False,
    audience: Annotated[
        str, typer.Option(help="Audience for documents without one in front matter: everyone|customers|internal.")
    ] = "everyone",
    max_pages: Annotated[int, typer.Option(help="Crawl: most pages fetched per start URL.")] = 200,
    concurrency: Annotated[int, typer.Option(help="Crawl: parallel requests per site.")] = 2,
    delay: Annotated[float, typer.Option(help="Crawl: seconds to wait after each request per worker.")] = 0.0,
    prune: Annotated[
        bool, typer.Option(help="Remove indexed documents of these folders/sites that no longer exist.")
    ] = True,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Drop the whole index first (e.g. after switching embedder).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Index documents incrementally: unchanged ones are skipped, removed ones disappear from the index."""
    from demo.help_center import ARTICLES_DIR
    from knowledge.crawl import CrawlConfig
    from knowledge.models import AUDIENCES, DocumentOutcome
    from knowledge.service import expand_sources, is_url
    from knowledge.service import ingest as run_ingest

    paths = list(sources or []) + ([str(ARTICLES_DIR)] if demo else [])
    if not paths:
        fail("nothing to ingest: pass files, folders or URLs, or --demo")
    if audience not in AUDIENCES:
        fail(f"--audience {audience!r}: expected one of {', '.join(AUDIENCES)}")
    store = _store()
    if rebuild:
        store.reset()
    local = sum(1 for p in paths if not is_url(p))
    total = len(expand_sources([p for p in paths if not is_url(p)])) if local == len(paths) else None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = [
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, transient=True, disable=as_json) as bar:
        task = bar.add_task("indexing", total=total)

        def step(outcome: DocumentOutcome) -> None:
            if outcome.status != "removed":
                bar.update(task, advance=1, description=f"{outcome.status:9} {Path(outcome.source).name[:40]}")

        report = run_ingest(
            paths,
            store=store,
            default_audience=audience,  # type: ignore[arg-type]
            crawl_config=CrawlConfig(max_pages=max_pages, concurrency=concurrency, delay_seconds=delay),
            prune=prune,
            progress=step,
        )
    if as_json:
        console.print_json(report.model_dump_json())
        return
    for outcome in report.outcomes:
        if outcome.status == "failed":
            console.print(f"[red]failed[/] {outcome.source}: {outcome.error}")
    summary = ", ".join(f"{n} {status}" for status, n in report.summary.items())
    rate = report.chunks_embedded / report.seconds if report.seconds else 0.0
    console.print(
        f"{summary} · {report.chunks_embedded} chunks embedded in {report.seconds:.1f} s ({rate:.0f}/s) · "
        f"index: {store.count()} chunks at {store.location}"
    )


@app.command()
@_knowledge_errors
def search(
    query: Annotated[str, typer.Argument(help="The question.")],
    viewer: Annotated[
        str, typer.Option(help="Who asks: visitor (public only), customer (+customer-only), agent (+internal).")
    ] = "visitor",
    plan: Annotated[str | None, typer.Option(help="Reader's plan: hides content for other plans.")] = None,
    topic: Annotated[str | None, typer.Option(help="Only this topic (front matter `topic`).")] = None,
    language: Annotated[str | None, typer.Option(help="Only this language code, e.g. en.")] = None,
    k: Annotated[int, typer.Option("-k", "--top", help="How many passages.")] = 5,
    mode: Annotated[str, typer.Option(help="hybrid, dense or bm25.")] = "hybrid",
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
) -> None:
    """Find the passages that answer a question, with citation links."""
    from knowledge.models import VIEWER_AUDIENCES, SearchFilters
    from knowledge.retrieval import search as run_search

    if viewer not in VIEWER_AUDIENCES:
        fail(f"--viewer {viewer!r}: expected one of {', '.join(VIEWER_AUDIENCES)}")
    if mode not in ("hybrid", "dense", "bm25"):
        fail(f"--mode {mode!r}: expected hybrid, dense or bm25")
    filters = SearchFilters.for_viewer(viewer, plan=plan, topic=topic, language=language)  # type: ignore[arg-type]
    response = run_search(query, store=_store(), filters=filters, k=k, mode=mode)  # type: ignore[arg-type]
    if as_json:
        console.print_json(response.model_dump_json())
        return
    if response.low_confidence:
        console.print("[yellow]low confidence: the knowledge base may not answer this[/]")
    if response.language_fallback:
        console.print(f"[yellow]nothing in '{response.query_language}' answers this: passages in other languages[/]")
    for n, r in enumerate(response.results, start=1):
        console.print(f"[bold]{n}. {r.heading}[/]  [dim]score {r.score:.3f}[/]\n   [blue]{r.citation_url}[/]")
        snippet = " ".join(r.text.split())
        console.print(f"   {snippet[:240]}{'…' if len(snippet) > 240 else ''}", markup=False)


@app.command("eval")
@_knowledge_errors
def evaluate(
    questions: Annotated[
        Path | None, typer.Argument(help="Labelled questions YAML (default: the bundled demo set).")
    ] = None,
    all_sets: Annotated[
        bool,
        typer.Option(
            "--all", help="Every bundled evaluation help center, each in a fresh temporary index (yours is untouched)."
        ),
    ] = False,
    viewer: Annotated[str, typer.Option(help="Audience the questions are asked as (agent sees everything).")] = "agent",
    bm25_weight: Annotated[
        float | None, typer.Option(help="A fixed BM25 share instead of the query-aware fusion.")
    ] = None,
    min_score: Annotated[float | None, typer.Option(help="Low-confidence threshold on the confidence.")] = None,
    calibrate: Annotated[
        bool,
        typer.Option("--calibrate", help="Store the threshold fitted on these questions in the index (per index)."),
    ] = False,
    sweep: Annotated[
        bool, typer.Option("--sweep", help="Also print hybrid nDCG@10 for a range of fixed BM25 weights.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Recall@1/5/10, MRR and nDCG@10 of dense, BM25 and hybrid retrieval, and no-answer detection."""
    if all_sets:
        _evaluate_all(as_json=as_json)
        return
    from demo.help_center import QUESTIONS_PATH
    from knowledge.evaluation import (
        check_gold,
        cross_validate_threshold,
        fixed,
        gather_all,
        load_questions,
        question_confidences,
        score,
    )
    from knowledge.retrieval import confidence_scoring, confidence_threshold, cosine_spread, fusion_for

    path = questions or QUESTIONS_PATH
    store = _store()
    if store.count() == 0:
        fail(f"the knowledge index at {store.location} is empty: run `contextdesk kb ingest` first")
    labelled = load_questions(path)
    check_gold(labelled, store, path)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
        disable=as_json,
    ) as bar:
        task = bar.add_task("retrieving", total=len(labelled))
        found = gather_all(labelled, store=store, viewer=viewer, progress=lambda n: bar.update(task, completed=n))  # type: ignore[arg-type]
    fusion = fusion_for(store) if bm25_weight is None else fixed(bm25_weight)
    scoring, spread = confidence_scoring(store), cosine_spread(store)
    calibration = cross_validate_threshold(
        labelled, question_confidences(found, fusion=fusion, scoring=scoring, spread=spread)
    )
    if calibrate:
        store.set_calibrated_threshold(calibration.threshold)
    threshold = confidence_threshold(store) if min_score is None else min_score
    report = score(labelled, found, fusion=fusion, min_score=threshold, scoring=scoring, spread=spread)
    sweep_rows = (
        [
            score(labelled, found, bm25_weight=w / 10, min_score=threshold, scoring=scoring, spread=spread)
            for w in range(0, 11)
        ]
        if sweep
        else []
    )
    if as_json:
        out: dict[str, Any] = json.loads(report.model_dump_json())
        out["calibration"] = calibration.model_dump()
        if sweep:
            out["sweep"] = [
                {"bm25_weight": w / 10, **r.metrics("hybrid").model_dump()} for w, r in enumerate(sweep_rows)
            ]
        console.print_json(json.dumps(out))
        return
    table = Table(title=f"{path.name}: {report.answerable} answerable, {report.no_answer} without answer")
    table.add_column("metric")
    for m in report.modes:
        table.add_column(m.mode if m.mode != "hybrid" else f"hybrid ({fusion.name})", justify="right")
    for label, attr in _METRIC_ROWS:
        table.add_row(label, *(f"{getattr(m, attr):.3f}" for m in report.modes))
    console.print(table)
    console.print(
        f"no-answer detection: {report.no_answer_detection:.1%} of {report.no_answer} flagged low-confidence "
        f"(threshold {threshold:g}); answerable wrongly flagged: {report.false_low_confidence:.1%}"
    )
    console.print(
        f"calibrated on this set ({calibration.folds}-fold, held out): {calibration.no_answer_detection:.1%} flagged, "
        f"{calibration.false_low_confidence:.1%} answerable wrongly flagged; threshold {calibration.threshold:g} "
        + ("stored in the index" if calibrate else "(store it with --calibrate)")
    )
    if sweep_rows:
        sweep_table = Table(title="hybrid by fixed BM25 weight")
        for col in ("bm25 weight", "recall@5", "MRR", "nDCG@10"):
            sweep_table.add_column(col, justify="right")
        for w, r in enumerate(sweep_rows):
            h = r.metrics("hybrid")
            sweep_table.add_row(f"{w / 10:.1f}", f"{h.recall_at_5:.3f}", f"{h.mrr:.3f}", f"{h.ndcg_at_10:.3f}")
        console.print(sweep_table)


_METRIC_ROWS = (
    ("recall@1", "recall_at_1"),
    ("recall@5", "recall_at_5"),
    ("recall@10", "recall_at_10"),
    ("MRR", "mrr"),
    ("nDCG@10", "ndcg_at_10"),
)


def _evaluate_all(*, as_json: bool) -> None:
    """Every bundled evaluation help center: modes, fusion candidates, leave-one-set-out choice, calibration."""
    import tempfile

    from demo.kb_eval_sets import EVAL_SETS
    from knowledge.evaluation import (
        MAX_FALSE_FLAGS,
        MIN_NO_ANSWER_FLAGGED,
        calibration_table,
        choose_fusion,
        choose_scoring,
        cross_lingual_gap,
        fusion_candidates,
        leave_one_set_out,
        leave_one_set_out_scoring,
        meets_flag_goal,
        ndcg_table,
        run_eval_set,
        score,
        scoring_candidates,
        splits_table,
    )
    from knowledge.retrieval import (
        FIXED_FUSION,
        confidence_scoring,
        cross_lingual_confidence_gap,
        embedder_threshold,
        fusion_for,
    )
    from knowledge.store import open_store

    embedder = _embedder()
    with tempfile.TemporaryDirectory(prefix="contextdesk-eval-") as tmp, console.status("indexing the evaluation sets"):
        runs = [
            run_eval_set(
                s.name,
                s.articles,
                s.questions,
                embedder=embedder,
                workdir=Path(tmp),
                recall_goal=s.recall_goal,
                translated_path=s.translated,
            )
            for s in EVAL_SETS
        ]
        probe = open_store(path=Path(tmp) / "probe", embedder=embedder, name="probe")
        uncalibrated = embedder_threshold(probe)
        shipped_fusion = fusion_for(probe)
        shipped_scoring = confidence_scoring(probe)
        declared_gap = cross_lingual_confidence_gap(probe)
    candidates = fusion_candidates()
    if not any(c.name == shipped_fusion.name for c in candidates):
        candidates.append(shipped_fusion)
    scores = ndcg_table(runs, candidates)  # every (set, fusion) scored once
    chosen = choose_fusion(runs, candidates, table=scores)
    held = leave_one_set_out(runs, candidates, table=scores)
    scorings = scoring_candidates()
    if not any(c.name == shipped_scoring.name for c in scorings):
        scorings.append(shipped_scoring)
    before_scoring = scorings[0]
    flags = calibration_table(runs, scorings, shipped_fusion)  # held-out no-answer figures, every (set, scoring)
    chosen_scoring = choose_scoring(runs, scorings, flags)
    held_scoring = leave_one_set_out_scoring(runs, scorings, flags)
    # One fixed split of 10 no-answer questions moves a set by 10 points: the shown candidates over 100 random ones.
    shown_scorings = _shown_scorings(runs, scorings, flags, shipped_scoring, chosen_scoring)
    splits = splits_table(runs, shown_scorings, shipped_fusion)
    per_set: list[dict[str, Any]] = []
    for run in runs:
        shipped = score(
            run.questions,
            run.found,
            fusion=shipped_fusion,
            min_score=uncalibrated,
            scoring=shipped_scoring,
            spread=run.spread,
        )
        before = score(run.questions, run.found, fusion=FIXED_FUSION, min_score=uncalibrated)
        calibration = flags[(run.name, shipped_scoring.name)]
        gap = cross_lingual_gap(run, fusion=shipped_fusion, scoring=shipped_scoring)
        per_set.append(
            {
                "run": run,
                "shipped": shipped,
                "before": before,
                "calibration": calibration,
                "calibration_before": flags[(run.name, before_scoring.name)],
                "splits": splits[(run.name, shipped_scoring.name)],
                "gap": gap,
                "translated_flagged": _translated_flagged(
                    run, calibration.threshold, declared_gap, shipped_fusion, shipped_scoring
                ),
            }
        )
    if as_json:
        out = {
            "embedder": embedder.name,
            "shipped_fusion": shipped_fusion.model_dump(),
            "chosen_on_all_sets": chosen.model_dump(),
            "leave_one_set_out": [h.model_dump() for h in held],
            "sets": [
                {
                    "name": p["run"].name,
                    "chunks": p["run"].chunks,
                    "shipped": json.loads(p["shipped"].model_dump_json(exclude={"misses"})),
                    "fixed_0.3": p["before"].metrics("hybrid").model_dump(),
                    "calibration": p["calibration"].model_dump(),
                    "calibration_before": p["calibration_before"].model_dump(),
                    "calibration_random_splits": p["splits"].model_dump(),
                    "candidates": {c.name: scores[(p["run"].name, c.name)] for c in candidates},
                    "confidence_candidates": {c.name: flags[(p["run"].name, c.name)].model_dump() for c in scorings},
                    "confidence_candidates_random_splits": {
                        c.name: splits[(p["run"].name, c.name)].model_dump() for c in shown_scorings
                    },
                    "cross_lingual_gap": p["gap"].model_dump() if p["gap"] else None,
                    "translated_flagged": p["translated_flagged"],
                }
                for p in per_set
            ],
            "shipped_confidence": shipped_scoring.model_dump(),
            "confidence_chosen_on_all_sets": chosen_scoring.model_dump(),
            "confidence_leave_one_set_out": [h.model_dump() for h in held_scoring],
            "cross_lingual_confidence_gap": declared_gap,
        }
        console.print_json(json.dumps(out))
        return
    ok = "[green]✓[/]"
    no = "[red]✗[/]"
    for p in per_set:
        run, shipped, before, calib = p["run"], p["shipped"], p["before"], p["calibration"]
        table = Table(
            title=f"{run.name}: {run.chunks} chunks, {shipped.answerable} answerable, "
            f"{shipped.no_answer} without answer"
        )
        table.add_column("metric")
        for col in ("dense", "BM25", f"hybrid ({shipped_fusion.name})", "hybrid (fixed 0.3, before)"):
            table.add_column(col, justify="right")
        table.add_column("goal")
        modes = [shipped.metrics("dense"), shipped.metrics("bm25"), shipped.metrics("hybrid"), before.metrics("hybrid")]
        for label, attr in _METRIC_ROWS:
            goal = ""
            if attr == "ndcg_at_10":
                met = shipped.metrics("hybrid").ndcg_at_10 >= max(modes[0].ndcg_at_10, modes[1].ndcg_at_10)
                goal = f"hybrid ≥ dense, ≥ BM25 {ok if met else no}"
            elif attr == "recall_at_5" and run.recall_goal:
                goal = f"≥ 0.90 {ok if modes[2].recall_at_5 >= 0.90 else no}"
            table.add_row(label, *(f"{getattr(m, attr):.3f}" for m in modes), goal)
        console.print(table)
        old = p["calibration_before"]
        console.print(
            f"  no-answer flag, uncalibrated threshold {uncalibrated:g}: {shipped.no_answer_detection:.1%} flagged, "
            f"{shipped.false_low_confidence:.1%} answerable wrongly flagged\n"
            f"  calibrated per index ({calib.folds}-fold held out, threshold {calib.threshold:g}, "
            f"confidence {shipped_scoring.name}): {calib.no_answer_detection:.1%} flagged, "
            f"{calib.false_low_confidence:.1%} answerable wrongly flagged "
            f"(goal ≥ {MIN_NO_ANSWER_FLAGGED:.0%} and ≤ {MAX_FALSE_FLAGS:.0%} {ok if meets_flag_goal(calib) else no}); "
            f"confidence {before_scoring.name}: {old.no_answer_detection:.1%} / {old.false_low_confidence:.1%}\n"
            f"  over {p['splits'].splits} random 5-fold splits: {p['splits'].no_answer_detection:.1%} flagged, "
            f"{p['splits'].false_low_confidence:.1%} answerable wrongly flagged on average; goal met on "
            f"{p['splits'].goal_met:.0%} of the splits"
        )
        if set(calib.no_answer_by_tag) != {"untagged"}:
            console.print(
                "  no-answer flagged by kind (held out): "
                + ", ".join(f"{tag} {share:.0%}" for tag, share in calib.no_answer_by_tag.items())
            )
        if p["gap"] is not None:
            flagged_with, flagged_without = p["translated_flagged"]
            console.print(
                f"  cross-lingual: {p['gap'].pairs} Spanish questions, gap {p['gap'].gap:.3f} (median of the English "
                f"question's confidence − the Spanish one's best cosine); answerable Spanish questions flagged at "
                f"this threshold: {flagged_with:.0%} with the embedder's allowance {declared_gap:g}, "
                f"{flagged_without:.0%} scored as same-language"
            )
    cand = Table(title="fusion candidates: hybrid nDCG@10 per set (top 12 by mean, plus fixed weights)")
    cand.add_column("fusion")
    for run in runs:
        cand.add_column(run.name, justify="right")
    cand.add_column("mean", justify="right")
    rows = [(c, [scores[(r.name, c.name)] for r in runs]) for c in candidates]
    rows.sort(key=lambda x: -sum(x[1]))
    shown = rows[:12] + [r for r in rows[12:] if r[0].signal == "none" or r[0].name == shipped_fusion.name]
    for c, values in shown:
        marks = (" [bold](shipped)[/]" if c.name == shipped_fusion.name else "") + (
            " [bold](chosen)[/]" if c.name == chosen.name else ""
        )
        cand.add_row(c.name + marks, *(f"{v:.3f}" for v in values), f"{sum(values) / len(values):.3f}")
    console.print(cand)
    loo = Table(title="leave one set out: choose on the others, score on the held-out set (nDCG@10)")
    for col in ("held out", "chosen on the others", "hybrid", "dense", "BM25", "hybrid ≥ both"):
        loo.add_column(col, justify="right")
    for h in held:
        met = h.ndcg_at_10 >= max(h.dense_ndcg_at_10, h.bm25_ndcg_at_10)
        loo.add_row(
            h.held_out,
            h.chosen,
            f"{h.ndcg_at_10:.3f}",
            f"{h.dense_ndcg_at_10:.3f}",
            f"{h.bm25_ndcg_at_10:.3f}",
            ok if met else no,
        )
    console.print(loo)
    console.print(f"chosen on all sets: {chosen.name}; shipped default: {shipped_fusion.name}")
    _print_scorings(runs, scorings, flags, splits, shipped_scoring, chosen_scoring, held_scoring)


def _flag_key(runs: Any, flags: Any, c: Any) -> tuple[int, float]:
    from knowledge.evaluation import meets_flag_goal

    reports = [flags[(r.name, c.name)] for r in runs]
    return sum(meets_flag_goal(x) for x in reports), sum(x.no_answer_detection for x in reports)


def _shown_scorings(runs: Any, scorings: Any, flags: Any, shipped: Any, chosen: Any) -> list[Any]:
    """The confidence candidates the table shows: the top 12, the one before, the shipped and the chosen one, and
    every candidate that adds a signal to the shipped weights (so each signal tried is on the page)."""
    ranked = sorted(scorings, key=lambda c: _flag_key(runs, flags, c), reverse=True)
    keep = {scorings[0].name, shipped.name, chosen.name}
    extra = [c for c in ranked[12:] if c.name in keep or c.name.startswith(shipped.name + " ")]
    return ranked[:12] + extra


def _print_scorings(runs: Any, scorings: Any, flags: Any, splits: Any, shipped: Any, chosen: Any, held: Any) -> None:
    """Confidence candidates side by side (held-out no-answer figures per set) and the leave-one-set-out choice."""
    from knowledge.evaluation import meets_flag_goal

    ok, no = "[green]✓[/]", "[red]✗[/]"
    table = Table(
        title="confidence candidates: no-answer flagged / answerable wrongly flagged, threshold calibrated per set "
        "(5-fold held out); weights in cosine spreads (top 12, the one before, and the shipped one plus each other "
        "signal); last column: share of 100 random 5-fold splits meeting the goal, per set"
    )
    table.add_column("confidence")
    for run in runs:
        table.add_column(run.name, justify="right")
    table.add_column("sets meeting ≥ 80% / ≤ 5%", justify="right")
    table.add_column("random splits meeting it", justify="right")
    shown = _shown_scorings(runs, scorings, flags, shipped, chosen)
    for c in shown:
        marks = (" [bold](shipped)[/]" if c.name == shipped.name else "") + (
            " [bold](chosen)[/]" if c.name == chosen.name else ""
        )
        cells = []
        for run in runs:
            x = flags[(run.name, c.name)]
            cells.append(
                f"{x.no_answer_detection:.0%} / {x.false_low_confidence:.1%} {ok if meets_flag_goal(x) else no}"
            )
        met = " · ".join(f"{splits[(run.name, c.name)].goal_met:.0%}" for run in runs)
        table.add_row(c.name + marks, *cells, f"{_flag_key(runs, flags, c)[0]} of {len(runs)}", met)
    console.print(table)
    loo = Table(title="confidence, leave one set out: choose on the others, calibrate and score (held out) on it")
    for col in ("held out", "chosen on the others", "no-answer flagged", "answerable wrongly flagged", "goal"):
        loo.add_column(col, justify="right")
    for h in held:
        met = h.no_answer_detection >= 0.80 and h.false_low_confidence <= 0.05
        loo.add_row(
            h.held_out, h.chosen, f"{h.no_answer_detection:.1%}", f"{h.false_low_confidence:.1%}", ok if met else no
        )
    console.print(loo)
    console.print(f"confidence chosen on all sets: {chosen.name}; shipped default: {shipped.name}")


def _translated_flagged(
    run: Any, threshold: float, gap: float | None, fusion: Any, scoring: Any
) -> tuple[float, float] | None:
    """Share of a set's translated answerable questions flagged at `threshold`: scored cross-lingually (best
    cosine + the embedder's gap) and scored as if same-language (the full confidence)."""
    from knowledge.evaluation import question_confidences

    if not run.translated or gap is None:
        return None
    pairs = [(q, f) for q, f in zip(run.translated, run.translated_found, strict=True) if q.answerable]
    if not pairs:
        return None
    best = [max(f.dense.values(), default=0.0) for _, f in pairs]
    full = question_confidences([f for _, f in pairs], fusion=fusion, scoring=scoring, spread=run.spread)
    with_gap = sum(b + gap < threshold for b in best) / len(pairs)
    without = sum(c < threshold for c in full) / len(pairs)
    return with_gap, without


@app.command()
@_knowledge_errors
def stats(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Documents, chunks and embedder of the index."""
    result = _store().stats()
    if as_json:
        console.print_json(result.model_dump_json())
        return
    console.print(
        f"{result.documents} documents, {result.chunks} chunks at {result.location}\n"
        f"embedder: {result.embedder} {result.embedder_config}\nby audience: {result.by_audience}"
    )


@app.command()
@_knowledge_errors
def remove(
    prefix: Annotated[str, typer.Argument(help="Document id, path or URL (or a prefix of one) to remove.")],
) -> None:
    """Remove documents (and their chunks) from the index."""
    from knowledge.service import remove as run_remove

    removed = run_remove(prefix, store=_store())
    if not removed:
        fail(f"no indexed document matches {prefix!r}")
    console.print(f"removed {len(removed)} document(s)")
