"""`contextdesk identity ...`: resolve customers, explain links, review queue, merge/unmerge, CSV linking."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from contextdesk.cli.common import console, engine, friendly_errors, refresh_profiles, settings, when
from contextdesk.clock import system_now

if TYPE_CHECKING:
    from context.identity.rules import IdentityRules

app = typer.Typer(help="Identity resolution: which records are the same customer, and why.", no_args_is_help=True)
review_app = typer.Typer(help="The review queue: probable matches and links refused by a guard.", no_args_is_help=True)
app.add_typer(review_app, name="review")

RulesOpt = typer.Option(None, "--rules", help="Rules YAML (default: the `identity:` section of contextdesk.yaml).")
ActorOpt = typer.Option("cli", "--actor", help="Who takes the action (recorded in the audit log).")


def _rules(path: Path | None) -> IdentityRules:
    from context.identity.rules import default_rules, load_rules

    if path is not None:
        return load_rules(path)
    config = settings().resolved_config_file
    return load_rules(config) if config is not None and config.exists() else default_rules()


@app.command()
@friendly_errors
def resolve(
    rules: Path | None = RulesOpt,
    full: bool = typer.Option(False, "--rebuild", help="Recompute every customer from scratch (ids are kept)."),
    train: bool = typer.Option(False, "--train", help="Fit the model (term frequencies, Splink m/u) first."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Resolve records synced since the last run into customers (or all of them with --rebuild)."""
    from context.identity import service

    r = _rules(rules)
    eng = engine()
    with console.status("resolving identities…"):
        if train:
            service.train(engine=eng, rules=r, now=system_now())
        summary = (service.rebuild if full else service.resolve_pending)(engine=eng, rules=r, now=system_now())
    refresh_profiles(quiet=as_json)
    if as_json:
        console.print_json(summary.model_dump_json())
        return
    console.print(
        f"{summary.records} records resolved ({summary.affected} re-examined) in {summary.seconds:.2f}s: "
        f"{summary.customers_created} new customers, {summary.customers_merged} merged, "
        f"{summary.customers_split} split, {summary.edges} edges, {summary.reviews} open review items"
    )


@app.command()
@friendly_errors
def explain(
    first: str = typer.Argument(..., help="A customer id, or a record key 'source:id'."),
    second: str | None = typer.Argument(None, help="A second record key: explain this pair field by field."),
    rules: Path | None = RulesOpt,
) -> None:
    """Why a customer's records belong together (a tree of edges), or how a pair scores (a waterfall)."""
    from context.identity import explain as render
    from context.identity import service

    r = _rules(rules)
    if second is None:
        console.print(render.customer_tree(service.explain_customer(engine=engine(), rules=r, customer_id=first)))
    else:
        console.print(render.pair_waterfall(service.explain_pair(engine=engine(), rules=r, a=first, b=second)))


@review_app.command("list")
@friendly_errors
def review_list(
    status: str = typer.Option("pending", help="pending | approved | rejected"),
    limit: int = typer.Option(50),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List review items, strongest first."""
    from rich.table import Table

    from context.identity.reviews import count_reviews, list_reviews  # not the service: no resolver to load

    eng = engine()
    items = list_reviews(engine=eng, status=status, limit=limit)
    total = count_reviews(engine=eng, status=status)
    if as_json:
        console.print_json(json.dumps([i.model_dump() for i in items]))
        return
    shown = f" (showing the strongest {len(items)}; --limit for more)" if total > len(items) else ""
    table = Table(title=f"{total} {status} review items{shown}")
    for column in ("id", "record A", "name A", "record B", "name B", "score", "reason"):
        table.add_column(column)
    for i in items:
        table.add_row(str(i.id), i.record_a, i.name_a or "∅", i.record_b, i.name_b or "∅", f"{i.score:.4f}", i.reason)
    console.print(table)


@review_app.command("approve")
@friendly_errors
def review_approve(review_id: int, rules: Path | None = RulesOpt, actor: str = ActorOpt) -> None:
    """Link a reviewed pair."""
    from context.identity import service

    cid = service.approve_review(
        engine=engine(), rules=_rules(rules), review_id=review_id, actor=actor, now=system_now()
    )
    refresh_profiles(quiet=True)  # the merged/split customers' profiles follow
    console.print(f"review {review_id} approved: both records are now customer {cid}")


@review_app.command("reject")
@friendly_errors
def review_reject(review_id: int, rules: Path | None = RulesOpt, actor: str = ActorOpt) -> None:
    """Keep a reviewed pair apart in every later run."""
    from context.identity import service

    service.reject_review(engine=engine(), rules=_rules(rules), review_id=review_id, actor=actor, now=system_now())
    refresh_profiles(quiet=True)  # the merged/split customers' profiles follow
    console.print(f"review {review_id} rejected: the pair will never be linked")


@app.command()
@friendly_errors
def merge(customer_ids: list[str], rules: Path | None = RulesOpt, actor: str = ActorOpt) -> None:
    """Merge customers into one (the oldest id survives; the others become aliases)."""
    from context.identity import service

    survivor = service.merge(
        engine=engine(), rules=_rules(rules), customer_ids=customer_ids, actor=actor, now=system_now()
    )
    refresh_profiles(quiet=True)  # the merged/split customers' profiles follow
    console.print(f"merged into {survivor}")


@app.command()
@friendly_errors
def unmerge(
    customer_id: str,
    records: list[str] = typer.Option(..., "--records", help="Record keys to split off (repeat the option)."),
    rules: Path | None = RulesOpt,
    actor: str = ActorOpt,
) -> None:
    """Split records off a customer and keep them apart (the larger side keeps the id)."""
    from context.identity import service

    ids = service.unmerge(
        engine=engine(),
        rules=_rules(rules),
        customer_id=customer_id,
        record_keys=records,
        actor=actor,
        now=system_now(),
    )
    refresh_profiles(quiet=True)  # the split customers' profiles follow
    console.print("customers now: " + ", ".join(ids))


@app.command()
@friendly_errors
def undo(action_id: int, rules: Path | None = RulesOpt, actor: str = ActorOpt) -> None:
    """Reverse a logged merge, unmerge, approval or rejection."""
    from context.identity import service

    service.undo(engine=engine(), rules=_rules(rules), action_id=action_id, actor=actor, now=system_now())
    refresh_profiles(quiet=True)  # the merged/split customers' profiles follow
    console.print(f"action {action_id} undone")


@app.command()
@friendly_errors
def log(limit: int = typer.Option(30)) -> None:
    """The action log (ids for `identity undo`)."""
    from context.identity import service

    for a in service.list_actions(engine=engine(), limit=limit):
        undone = f"  [dim](undone by {a.undone_by})[/]" if a.undone_at else ""
        payload = json.dumps(a.payload)[:100]
        console.print(f"{a.id:>5}  {when(a.created_at, time=True)}  {a.actor:<12} {a.action:<8} {payload}{undone}")


@app.command()
@friendly_errors
def link(
    rules: Path = typer.Option(..., "--rules", help="Rules YAML naming identifiers, comparison fields, thresholds."),
    inputs: list[Path] = typer.Option(..., "--input", help="CSV file (repeat: one file dedupes, several link)."),
    out: Path = typer.Option(..., "--out", help="Output CSV: source,record_id,cluster_id,match_probability."),
    id_column: str | None = typer.Option(None, "--id-column", help="Record id column (default: the first column)."),
    train: bool = typer.Option(True, "--train/--no-train", help="Estimate m/u with Splink when there is enough data."),
    link_only: bool = typer.Option(
        False, "--link-only", help="Link across the input files only; do not dedupe inside each file."
    ),
    review_out: Path | None = typer.Option(None, "--review-out", help="Write the pairs needing review to this CSV."),
    engine_name: str = typer.Option(
        "python",
        "--engine",
        help="python (default: every guard, one machine) or spark (Splink on Spark; needs the 'spark' extra).",
    ),
) -> None:
    """Deduplicate or link arbitrary CSV files; no database involved."""
    import sys
    import time

    from context.identity.csvlink import link_csv, write_clusters, write_reviews
    from context.identity.errors import InputError
    from context.identity.rules import load_rules

    if engine_name not in ("python", "spark"):
        raise InputError(f"--engine must be python or spark, not {engine_name!r}")
    run = link_csv
    if engine_name == "spark":
        from context.identity.sparklink import link_csv_spark, require_pyspark

        require_pyspark()  # before reading anything: the missing extra is the first thing to say
        run = link_csv_spark  # same arguments and outputs, another engine
    r = load_rules(rules)
    started = time.perf_counter()
    if sys.stderr.isatty():
        with console.status("linking…") as status:
            records, resolution, report = run(
                inputs,
                r,
                id_column=id_column,
                train=train,
                link_only=link_only,
                progress=lambda msg: status.update(f"linking… {msg}"),
            )
    else:
        # No terminal (a pipeline, a CI log): periodic lines instead of a spinner.
        def line(msg: str) -> None:
            print(f"[{time.perf_counter() - started:6.1f}s] {msg}", file=sys.stderr, flush=True)

        records, resolution, report = run(
            inputs, r, id_column=id_column, train=train, link_only=link_only, progress=line
        )
    write_clusters(out, records, resolution)
    if review_out is not None:
        write_reviews(review_out, records, resolution)
    mode = "link-only across files" if link_only else ("dedupe" if len(inputs) == 1 else "link and dedupe")
    blocks = "Splink on Spark" if engine_name == "spark" else f"{report.blocks:,} blocks"
    console.print(
        f"{report.records:,} records ({mode}): {blocks}, {report.pairs_scored:,} pairs scored, "
        f"{report.links:,} links → {report.clusters:,} clusters ({report.multi_record_clusters:,} with several "
        f"records); {report.reviews:,} pairs need review; {report.seconds:.1f}s"
    )
    model = report.model
    trained = "trained with Splink (EM)" if model.origin == "splink" else "not trained: documented priors"
    console.print(
        f"model: {trained} on {model.trained_on:,} records; prior match probability {model.prior_match_probability:.2e}"
    )
    _print_model(r, model)
    console.print(f"wrote {out}" + (f" and {review_out}" if review_out else ""))


def _print_model(rules: IdentityRules, model: object) -> None:
    """Per field and level: m, u, weight; fields that fell back to priors or cannot discriminate flagged."""
    from rich.table import Table

    from context.identity.scoring import FSModel, model_warnings

    assert isinstance(model, FSModel)
    table = Table(title="fitted parameters (m = P(level | match), u = P(level | non-match))")
    for column in ("field", "level", "m", "u", "weight (bits)", "from"):
        table.add_column(column, justify="right" if column in ("m", "u", "weight (bits)") else "left")
    import math

    from context.identity.scoring import level_label

    for comp in rules.probabilistic.fields:
        params = model.fields.get(comp.name)
        if params is None:
            continue
        for i, (m, u) in enumerate(zip(params.m, params.u, strict=True)):
            table.add_row(
                comp.name if i == 0 else "",
                level_label(comp, i),
                f"{m:.4f}",
                f"{u:.5f}",
                f"{math.log2(m / u):+.2f}",
                params.origin if i == 0 else "",
            )
    console.print(table)
    for warning in model_warnings(rules, model):
        console.print(f"[yellow]warning:[/] {warning}")


model_app = typer.Typer(help="The fitted probabilistic model.", no_args_is_help=True)
app.add_typer(model_app, name="model")


@model_app.command("show")
@friendly_errors
def model_show(rules: Path | None = RulesOpt, as_json: bool = typer.Option(False, "--json")) -> None:
    """Print the stored model's parameters and flag fields whose estimates fell back or cannot discriminate."""
    from context.identity import service
    from context.identity.scoring import model_warnings

    r = _rules(rules)
    model = service.load_model(engine=engine(), rules=r)
    if as_json:
        data = model.model_dump(mode="json", exclude={"tf"})
        data["warnings"] = model_warnings(r, model)
        console.print_json(json.dumps(data))
        return
    console.print(
        f"model: {model.origin} m/u, trained on {model.trained_on:,} records; prior match probability "
        f"{model.prior_match_probability:.2e}; term-frequency tables: {', '.join(sorted(model.tf)) or 'none'}"
    )
    _print_model(r, model)
