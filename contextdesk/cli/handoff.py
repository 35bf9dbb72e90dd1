"""`contextdesk handoff`: the handoff inbox and its delivery outbox from the command line."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from contextdesk.cli.common import console, engine, fail, friendly_errors, settings, when
from contextdesk.clock import system_now

if TYPE_CHECKING:
    from handoff.service import HandoffDeps

app = typer.Typer(help="Handoffs to people: list, show, deliveries (dead letters, retry), run the outbox.")
deliveries_app = typer.Typer(help="The delivery outbox: list deliveries (--failed: dead letters) and retry them.")
app.add_typer(deliveries_app, name="deliveries")


def _deps() -> HandoffDeps:
    from context.customer_context.config import load_context_config
    from contextdesk.app import _agent_deps, _handoff_deps

    s = settings()
    agent = _agent_deps(s, engine(), load_context_config(s.resolved_config_file))
    return _handoff_deps(s, engine(), agent)


@app.command("list")
@friendly_errors
def list_cmd(
    status: list[str] = typer.Option(["open", "claimed"], "--status", help="States to show (repeatable)."),
    priority: list[str] = typer.Option([], "--priority", help="urgent, high, normal, low (repeatable)."),
    reason: list[str] = typer.Option([], "--reason", help="Reason codes (repeatable)."),
    older_than: float | None = typer.Option(None, "--older-than", help="Only handoffs older than N minutes."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Handoffs, urgent first then oldest first."""
    from handoff.service import list_handoffs

    rows = list_handoffs(
        engine=engine(),
        now=system_now(),
        status=status or None,
        priority=priority or None,
        reason=reason or None,
        min_age_minutes=older_than,
    )
    if as_json:
        console.print_json(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    table = Table("id", "priority", "status", "age (min)", "reason", "headline")
    for r in rows:
        table.add_row(
            str(r.id),
            r.priority,
            r.status + (f" ({r.claimed_by})" if r.claimed_by else ""),
            f"{r.age_minutes:.0f}",
            r.reason_code,
            r.headline,
        )
    console.print(table if rows else "No handoffs.")


@app.command()
@friendly_errors
def show(
    handoff_id: int = typer.Argument(..., help="The handoff id."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole handoff as JSON."),
    markdown: bool = typer.Option(False, "--markdown", help="Print the markdown rendering."),
) -> None:
    """A handoff's summary, state history, notes and deliveries."""
    from handoff.service import get_handoff

    h = get_handoff(engine=engine(), handoff_id=handoff_id)
    if as_json:
        console.print_json(h.model_dump_json())
        return
    console.print(h.summary_markdown if markdown else h.summary_text, markup=False, highlight=False)
    console.print(f"\nstate: {h.status}", markup=False)
    for s in h.history:
        console.print(f"  {when(s.at, seconds=True)} {s.from_state or '-'} → {s.to_state} by {s.actor}", markup=False)
    for n in h.notes:
        console.print(f"  note by {n.author}: {n.body}", markup=False)
    for d in h.deliveries:
        console.print(f"  delivery {d.id} → {d.target}: {d.status} ({d.attempts} attempts)", markup=False)


@deliveries_app.callback(invoke_without_command=True)
@friendly_errors
def deliveries(
    ctx: typer.Context,
    failed: bool = typer.Option(False, "--failed", help="Only dead letters (deliveries out of retries)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List deliveries (newest first) with their last error."""
    if ctx.invoked_subcommand is not None:
        return
    from handoff.outbox import list_deliveries

    rows = list_deliveries(engine(), status="dead" if failed else None)
    if as_json:
        console.print_json(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    table = Table("id", "handoff", "target", "status", "attempts", "last error")
    for r in rows:
        table.add_row(str(r.id), str(r.handoff_id), r.target, r.status, str(r.attempts), r.last_error or "")
    console.print(table if rows else ("No dead letters." if failed else "No deliveries."))


@deliveries_app.command()
@friendly_errors
def retry(
    delivery_id: int | None = typer.Argument(None, help="The delivery id (see `handoff deliveries --failed`)."),
    all_: bool = typer.Option(False, "--all", help="Retry every dead letter."),
    now: bool = typer.Option(True, "--now/--later", help="Deliver at once (default) or leave it to the worker."),
) -> None:
    """Send dead-lettered deliveries again."""
    from handoff.outbox import deliver_one, retry_dead

    if (delivery_id is None) == (not all_):
        fail("give a delivery id or --all (not both)")
    ids = retry_dead(engine(), delivery_id=delivery_id, actor="cli", now=system_now())
    console.print(f"{len(ids)} delivery(ies) back in the outbox: {ids}")
    if now and ids:
        deps = _deps()
        for i in ids:
            out = deliver_one(engine(), i, targets=deps.targets, retry=deps.config.retry, clock=system_now)
            console.print(f"  delivery {i}: {out.status} ({out.attempts} attempts)")


@app.command()
@friendly_errors
def deliver(
    once: bool = typer.Option(False, "--once", help="One pass, then exit."),
    interval: float = typer.Option(2.0, "--interval", help="Seconds between passes."),
) -> None:
    """Run the outbox in the foreground: create handoffs for new escalations and deliver what is due."""
    from handoff.service import run_once

    deps = _deps()
    while True:
        result = run_once(deps)
        if any(result[k] for k in ("created", "delivered", "dead")) or once:
            console.print(
                f"created {len(result['created'])}, delivered {len(result['delivered'])}, dead {len(result['dead'])}"
            )
        if once:
            return
        time.sleep(interval)
