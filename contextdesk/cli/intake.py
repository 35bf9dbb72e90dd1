"""`contextdesk sync` and `contextdesk quarantine`: customer data intake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich import box
from rich.table import Table

from contextdesk.cli.common import config_path, console, engine, friendly_errors, refresh_profiles, settings, when
from contextdesk.clock import system_now

if TYPE_CHECKING:
    from context.intake.config import IntakeConfig
    from context.intake.models import SourceSummary

quarantine_app = typer.Typer(help="Values that failed validation, kept with their reason.", no_args_is_help=True)
sync_app = typer.Typer(invoke_without_command=True)


def register(app: typer.Typer) -> None:
    """Add the intake commands to the main app."""
    app.add_typer(sync_app, name="sync")
    app.add_typer(quarantine_app, name="quarantine")


def run_sync(config: IntakeConfig, sources: list[str] | None) -> list[SourceSummary]:
    """Sync with a progress bar per source; returns the summaries."""
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from context.intake.service import sync
    from contextdesk.wiring import build_connections

    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("[bold]{task.description:<12}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[records]:>9,} records"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:

        def on_progress(source: str, done: int, total: int | None, records: int) -> None:
            if source not in tasks:
                tasks[source] = progress.add_task(source, total=total, records=0)
            progress.update(tasks[source], completed=done, total=total, records=records)

        return sync(
            engine=engine(),
            config=config,
            clock=system_now,
            source_names=sources,
            on_progress=on_progress,
            connections=build_connections(settings(), clock=system_now),
        )


def print_summary(summaries: list[SourceSummary]) -> None:
    """The per-source sync summary table, then any errors."""
    from context.intake.models import SYNC_COUNTERS

    table = Table(title="Sync summary", box=box.SIMPLE_HEAD)
    for column in ("source", "status", *SYNC_COUNTERS, "s"):
        table.add_column(column, justify="left" if column in ("source", "status") else "right")
    for s in summaries:
        status = "[red]failed[/]" if s.status != "ok" else "[yellow]warnings[/]" if s.warnings else "[green]ok[/]"
        counts = (f"{getattr(s, name):,}" for name in SYNC_COUNTERS)
        table.add_row(s.source, status, *counts, f"{s.seconds:.1f}")
    totals = {name: sum(getattr(s, name) for s in summaries) for name in SYNC_COUNTERS}
    table.add_row("[bold]total", "", *(f"{t:,}" for t in totals.values()), "")
    console.print(table)
    for s in summaries:
        if s.error:
            console.print(f"[red]{s.source}:[/] {s.error}")
    print_fill_rates(summaries)
    for s in summaries:
        for warning in s.warnings:
            console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if totals["duplicates"]:
        console.print("duplicates: rows whose id already appeared earlier in the same source (the first is kept).")
    if totals["quarantined"]:
        console.print("See why values were quarantined: [bold]contextdesk quarantine list[/]")


def print_fill_rates(summaries: list[SourceSummary]) -> None:
    """How many of the records standardized this run got each mapped field (a field never filled stands out)."""
    rows = [(s.source, name, filled, of) for s in summaries for name, filled, of in s.fill if of]
    if not rows:
        return
    table = Table(title="Fields filled (records standardized this run)", box=box.SIMPLE_HEAD)
    for column in ("source", "field", "filled", "share"):
        table.add_column(column, justify="right" if column == "share" else "left")
    for source, name, filled, of in rows:
        share = filled / of
        colour = "red" if filled == 0 else "yellow" if share < 0.5 else "green"
        table.add_row(source, name, f"{filled:,} of {of:,} records", f"[{colour}]{share:.0%}[/]")
    console.print(table)


def identifier_warnings(config: IntakeConfig, config_file: Path) -> list[str]:
    """Identifiers mapped in a source that the identity rules do not use for matching."""
    from context.identity.rules import load_rules
    from context.intake.check import unlisted_identifiers
    from context.intake.config import load_yaml

    rules = load_rules(config_file)
    has_section = "identity" in load_yaml(config_file)
    return unlisted_identifiers(config, [r.kind for r in rules.identifiers], has_identity_section=has_section)


def resolve_identities(config_file: Path) -> None:
    """Link new and changed records into customers (identity resolution) and print what changed."""
    from context.identity.rules import load_rules
    from context.identity.service import resolve_pending

    with console.status("resolving identities…"):
        summary = resolve_pending(engine=engine(), rules=load_rules(config_file), now=system_now())
    console.print(
        f"Identity: {summary.records:,} records checked, {summary.customers_created:,} customers created, "
        f"{summary.customers_merged:,} merged, {summary.reviews:,} pairs waiting for review "
        f"({summary.seconds:.1f}s). Why is a record in a customer: [bold]contextdesk identity explain ID[/]"
    )
    refresh_profiles(config_file)


@sync_app.callback()
@friendly_errors
def sync_command(
    ctx: typer.Context,
    config: Path | None = typer.Option(None, "--config", "-c", help="contextdesk.yaml (default: ./contextdesk.yaml)."),
    source: list[str] | None = typer.Option(None, "--source", "-s", help="Sync only this source (repeatable)."),
    resolve: bool = typer.Option(True, help="Resolve identities of new and changed records after the sync."),
) -> None:
    """Read every configured source, store raw records and standardized rows, and print a summary.

    Idempotent: records whose content did not change are skipped; changed ones get a new raw version.
    A source that cannot be read is reported and the others still sync (exit code 1). Vendor sources pull
    incrementally from their cursor. `contextdesk sync history` lists past runs.
    """
    from context.intake.config import load_intake_config

    if ctx.invoked_subcommand is not None:
        return
    path = config_path(config)
    cfg = load_intake_config(path)
    summaries = run_sync(cfg, source)
    print_summary(summaries)
    for warning in identifier_warnings(cfg, path):
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if resolve:
        resolve_identities(path)
    if any(s.status != "ok" for s in summaries):
        raise typer.Exit(1)


@sync_app.command("history")
@friendly_errors
def sync_history_command(
    source: str | None = typer.Option(None, "--source", "-s", help="Only this source (or connector)."),
    limit: int = typer.Option(30, "--limit", "-n", help="At most this many runs, newest first."),
) -> None:
    """Past sync runs (scheduled, manual): when, how long, what they read and changed, and errors."""
    from context.live.scheduler import sync_history

    runs = sync_history(engine=engine(), source=source, limit=limit)
    if not runs:
        console.print("No sync has run yet: [bold]contextdesk sync[/] or [bold]contextdesk worker[/].")
        return
    table = Table(title="Sync history (newest first)", box=box.SIMPLE_HEAD)
    for column in ("run", "source", "started", "s", "status", "read", "new", "changed", "deleted", "error"):
        table.add_column(
            column, justify="right" if column in ("run", "s", "read", "new", "changed", "deleted") else "left"
        )
    for run in runs:
        took = f"{(run.finished_at - run.started_at).total_seconds():.1f}" if run.finished_at else "…"
        colour = {"ok": "green", "failed": "red"}.get(run.status, "yellow")
        table.add_row(
            str(run.id),
            run.source,
            when(run.started_at, seconds=True),
            took,
            f"[{colour}]{run.status}[/]",
            f"{run.read:,}",
            f"{run.new:,}",
            f"{run.changed:,}",
            f"{run.deleted:,}",
            run.error or "",
        )
    console.print(table)


@quarantine_app.command("list")
@friendly_errors
def quarantine_list(
    source: str | None = typer.Option(None, "--source", "-s", help="Only this source."),
    field: str | None = typer.Option(None, "--field", "-f", help="Only this canonical field (e.g. email)."),
    limit: int = typer.Option(50, "--limit", "-n", help="At most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table."),
) -> None:
    """Show quarantined values: the record, the field, the raw value and why it was rejected."""
    from context.intake.quarantine import QuarantinedValuePublic, list_quarantine, quarantine_counts

    rows = list_quarantine(engine=engine(), source=source, field=field, limit=limit)
    if as_json:
        for row in rows:
            console.print_json(QuarantinedValuePublic.model_validate(row, from_attributes=True).model_dump_json())
        return
    if not rows:
        console.print("Nothing in quarantine.")
        return
    table = Table(title="Quarantined values (newest first)")
    for column in ("source", "record", "field", "raw value", "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        raw = row.raw_value if row.raw_value is not None else "[dim](missing)[/]"
        table.add_row(row.source, row.source_record_id, row.field, raw, row.reason)
    console.print(table)
    counts = quarantine_counts(engine=engine())
    console.print("In quarantine: " + json.dumps(counts) if counts else "")
