"""`contextdesk demo`: the Brightleaf Tea Co. demo business and its data generator."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from contextdesk.cli.common import console, engine, fail, friendly_errors, settings
from contextdesk.clock import system_now

app = typer.Typer(
    help="The Brightleaf Tea Co. demo business. `contextdesk demo` alone loads it and serves the chat on :8000.",
    invoke_without_command=True,
)


@app.callback()
def demo_default(ctx: typer.Context) -> None:
    """Without a subcommand: load the demo business (sync, identities, help center) and serve the chat."""
    if ctx.invoked_subcommand is None:
        run(kb=True, serve=True, port=8000)


@app.command()
def generate(
    out: Path = typer.Option(
        ..., "--out", "-o", help="Folder to write the sources, ground_truth.csv and contextdesk.yaml into."
    ),
    customers: int = typer.Option(2_000, "--customers", "-n", min=1, help="People to generate (personas included)."),
    seed: int = typer.Option(7, "--seed", help="Random seed: the same seed and size give identical files."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Write six messy demo sources (CRM, Shopify, Stripe, Zendesk, web forms, VIP sheet) with ground truth.

    About 2.9 source records per person: --customers 350000 gives roughly a million records.
    Point `contextdesk sync --config OUT/contextdesk.yaml` at the result.
    """
    from demo.generator import generate as run_generator
    from demo.personas import PERSONAS

    if customers < len(PERSONAS):
        fail(f"--customers must be at least {len(PERSONAS)} (the hand-crafted personas are always included)")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]generating[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=as_json,
        disable=as_json,
    ) as progress:
        task = progress.add_task("people", total=customers)
        result = run_generator(
            out,
            customers=customers,
            seed=seed,
            progress=lambda done: progress.update(task, completed=done + len(PERSONAS)),
        )
    if as_json:
        console.print_json(json.dumps(result.model_dump(mode="json") | {"total_records": result.total_records}))
        return
    table = Table(title=f"Demo data in {result.out_dir}")
    table.add_column("source")
    table.add_column("file")
    table.add_column("records", justify="right")
    for name, count in result.records.items():
        table.add_row(name, result.files[name].name, f"{count:,}")
    table.add_row("[bold]total", "", f"[bold]{result.total_records:,}")
    console.print(table)
    rate = result.total_records / result.seconds if result.seconds else 0.0
    console.print(
        f"{result.persons:,} people ({result.personas} personas), seed {result.seed}, "
        f"{result.seconds:.1f}s ({rate:,.0f} records/s)\n"
        f"config: {result.config_path}\nground truth: {result.ground_truth_path}"
    )


@app.command("run")
@friendly_errors
def run(
    kb: bool = typer.Option(True, help="Also index the demo help center (takes a little while the first time)."),
    serve: bool = typer.Option(False, "--serve", help="Then serve the demo chat on http://127.0.0.1:8000/."),
    port: int = typer.Option(8000, "--port", help="Port for --serve."),
) -> None:
    """Load the demo business into the data dir: sync its six sources, resolve identities, index its help center.

    The demo's dates are moved by whole days to today (a copy in DATA_DIR/demo; on a weekend to the nearest
    business day), so renewals, trials and recent orders are as near as the story says. Safe to run again: on
    the same day nothing changes; a day later the moved records are updated.
    """
    from context.intake.config import load_intake_config
    from contextdesk.cli.intake import print_summary, resolve_identities, run_sync
    from demo import DATA_DIR
    from demo.shift import shift_dataset, shift_days

    # The composition root reads the clock once: the demo's story is moved to the day of this load.
    load_time = system_now()
    shifted_dir = settings().demo_dir
    shift = shift_dataset(DATA_DIR, shifted_dir, days=shift_days(load_time))
    path = shifted_dir / "contextdesk.yaml"
    console.print(
        f"[bold]Brightleaf Tea Co.[/] demo business: {DATA_DIR}\n"
        f"dates moved {shift.days:+d} days: the story's moment is {shift.now:%A %Y-%m-%d %H:%M %Z} ({shifted_dir})"
    )
    database = engine().url.render_as_string(hide_password=True)
    console.print(f"data dir: {settings().home.resolve()}  database: {database}")
    summaries = run_sync(load_intake_config(path), None)
    print_summary(summaries)
    resolve_identities(path)
    if kb:
        from contextdesk.cli import kb as kb_cli

        kb_cli.ingest(
            sources=None,
            demo=True,
            audience="everyone",
            max_pages=200,
            concurrency=2,
            delay=0.0,
            prune=True,
            rebuild=False,
            as_json=False,
        )
    console.print(
        "\nTry: [bold]contextdesk quarantine list[/], [bold]contextdesk identity review list[/], "
        '[bold]contextdesk kb search "how do I get a refund on an annual plan"[/]'
    )
    if any(s.status != "ok" for s in summaries):
        raise typer.Exit(1)
    if serve:
        from contextdesk.cli.chat import serve_app

        serve_app(host="127.0.0.1", port=port, demo=True)
