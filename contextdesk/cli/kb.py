"""`contextdesk kb`: ingest help-center content, search it, and evaluate retrieval."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from contextdesk.cli.common import console, fail, settings

app = typer.Typer(
    help="Knowledge base: ingest Markdown/HTML/text/PDF files and sites, search with citations, evaluate retrieval.",
    no_args_is_help=True,
)


def _embedder() -> Any:
    from knowledge.embedders import MiniLMEmbedder, OpenAIEmbedder

    s = settings()
    if s.embedder == "minilm":
        return MiniLMEmbedder()
    if s.embedder == "openai":
        key = s.llm_api_key.get_secret_value() if s.llm_api_key else None
        return OpenAIEmbedder(
            model=s.openai_embedding_model, base_url=s.llm_base_url, api_key=key, timeout_seconds=s.llm_timeout_seconds
        )
    return fail(f"CONTEXTDESK_EMBEDDER={s.embedder!r}: expected 'minilm' or 'openai'")


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
    from knowledge.crawl import CrawlConfig
    from knowledge.demo import ARTICLES_DIR
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
    viewer: Annotated[str, typer.Option(help="Audience the questions are asked as (agent sees everything).")] = "agent",
    bm25_weight: Annotated[float | None, typer.Option(help="BM25 share of the hybrid score.")] = None,
    min_score: Annotated[float | None, typer.Option(help="Low-confidence threshold on the best cosine.")] = None,
    sweep: Annotated[
        bool, typer.Option("--sweep", help="Also print hybrid nDCG@10 for a range of BM25 weights.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Recall@1/5/10, MRR and nDCG@10 of dense, BM25 and hybrid retrieval, and no-answer detection."""
    from knowledge.demo import QUESTIONS_PATH
    from knowledge.evaluation import check_gold, gather_all, load_questions, score
    from knowledge.retrieval import DEFAULT_BM25_WEIGHT, confidence_threshold

    path = questions or QUESTIONS_PATH
    store = _store()
    if store.count() == 0:
        fail(f"the knowledge index at {store.location} is empty: run `contextdesk kb ingest` first")
    labelled = load_questions(path)
    check_gold(labelled, store, path)
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
    weight = DEFAULT_BM25_WEIGHT if bm25_weight is None else bm25_weight
    threshold = confidence_threshold(store) if min_score is None else min_score
    report = score(labelled, found, bm25_weight=weight, min_score=threshold)
    sweep_rows = (
        [score(labelled, found, bm25_weight=w / 10, min_score=threshold) for w in range(0, 11)] if sweep else []
    )
    if as_json:
        out: dict[str, Any] = json.loads(report.model_dump_json())
        if sweep:
            out["sweep"] = [{"bm25_weight": r.bm25_weight, **r.metrics("hybrid").model_dump()} for r in sweep_rows]
        console.print_json(json.dumps(out))
        return
    table = Table(title=f"{path.name}: {report.answerable} answerable, {report.no_answer} without answer")
    table.add_column("metric")
    for m in report.modes:
        table.add_column(m.mode if m.mode != "hybrid" else f"hybrid (bm25 {weight:g})", justify="right")
    for label, attr in (
        ("recall@1", "recall_at_1"),
        ("recall@5", "recall_at_5"),
        ("recall@10", "recall_at_10"),
        ("MRR", "mrr"),
        ("nDCG@10", "ndcg_at_10"),
    ):
        table.add_row(label, *(f"{getattr(m, attr):.3f}" for m in report.modes))
    console.print(table)
    console.print(
        f"no-answer detection: {report.no_answer_detection:.1%} of {report.no_answer} flagged low-confidence "
        f"(threshold {threshold:g}); answerable wrongly flagged: {report.false_low_confidence:.1%}"
    )
    if sweep_rows:
        sweep_table = Table(title="hybrid by BM25 weight")
        for col in ("bm25 weight", "recall@5", "MRR", "nDCG@10"):
            sweep_table.add_column(col, justify="right")
        for r in sweep_rows:
            h = r.metrics("hybrid")
            sweep_table.add_row(f"{r.bm25_weight:.1f}", f"{h.recall_at_5:.3f}", f"{h.mrr:.3f}", f"{h.ndcg_at_10:.3f}")
        console.print(sweep_table)


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
