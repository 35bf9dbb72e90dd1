"""`contextdesk customers ...`: show a customer's context, search, list conflicts, recompute profiles."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import typer
from rich.panel import Panel
from rich.table import Table

from contextdesk.cli.common import business, console, engine, fail, friendly_errors, settings, when
from contextdesk.clock import system_now

app = typer.Typer(
    help="Resolved customers: golden profiles, status and the context the agent reads.", no_args_is_help=True
)


def _config() -> Any:
    from context.customer_context.config import load_context_config

    path = settings().resolved_config_file
    return load_context_config(path if path is not None and path.exists() else None)


def _d(value: datetime | None, *, time: bool = False) -> str:
    return when(value, time=time)


def resolve_identifier(identifier: str) -> str:
    """A customer id from an id, alias, email, phone, order number or external id (fails on ambiguity)."""
    from context.customer_context.lookup import lookup_customer
    from context.errors import CustomerNotFoundError
    from context.identity.aliases import canonical_customer_id

    eng = engine()
    try:
        return canonical_customer_id(engine=eng, customer_id=identifier)  # a customer id, or an alias of one
    except CustomerNotFoundError:
        pass
    text = identifier.strip()
    if "@" in text:
        from context.errors import StandardizationError
        from context.intake.standardize import standardize_email

        # Exactly as intake stored it: `Name <addr>`, `mailto:`, case and spaces.
        try:
            email = standardize_email(text)
        except StandardizationError as exc:
            return fail(f"{identifier!r} is not an email address: {exc.reason}")  # type: ignore[no-any-return,unused-ignore]
        result = lookup_customer(engine=eng, email=email)
    elif re.fullmatch(r"\+?[\d\s().-]{7,}", text) and not text.startswith("#"):
        result = lookup_customer(engine=eng, phone=text)
    else:
        result = lookup_customer(engine=eng, order=text)
        if result.outcome == "not_found" and not text.startswith("#"):
            result = lookup_customer(engine=eng, external_id=text, external_id_formats=_id_formats())
    if result.outcome == "found" and result.customer_id:
        return result.customer_id
    if result.outcome == "ambiguous":
        table = Table(title=f"{identifier!r} matches several customers — pick one by id")
        for column in ("customer", "name", "email", "status", "confidence", "matched on"):
            table.add_column(column)
        for c in result.candidates:
            table.add_row(
                c.customer_id, c.name or "", c.email or "", c.status or "", f"{c.confidence:.2f}", c.matched_on
            )
        console.print(table)
        fail(f"{identifier!r} is ambiguous ({len(result.candidates)} customers)")
    return fail(f"no customer found for {identifier!r} (tried it as a customer id and as an identifier)")  # type: ignore[no-any-return,unused-ignore]


@app.command()
@friendly_errors
def show(
    identifier: str = typer.Argument(
        ..., help="Customer id, email, phone, order number (#1042, any case) or external id."
    ),
    purpose: str = typer.Option("handoff", help="Privacy purpose: handoff (human agent), llm_prompt or widget."),
    topic: str | None = typer.Option(None, help="Question topic, e.g. delivery (may unlock addresses)."),
    render: bool = typer.Option(False, "--render", help="Print the token-budgeted markdown the LLM would get."),
    max_tokens: int = typer.Option(800, help="Token budget for --render."),
    as_json: bool = typer.Option(False, "--json", help="Print the context as JSON."),
) -> None:
    """Show a customer's resolved context: identity, status and why, orders, subscriptions, tickets, gaps."""
    from context.customer_context.service import build_customer_context

    if purpose not in ("handoff", "llm_prompt", "widget"):
        fail(f"--purpose must be handoff, llm_prompt or widget, not {purpose!r}")
    business()  # a bad `business:` section is one line before anything is printed
    cid = resolve_identifier(identifier)
    ctx = build_customer_context(
        engine=engine(),
        customer_id=cid,
        purpose=purpose,  # type: ignore[arg-type]
        topic=topic,
        config=_config(),
        now=system_now(),
    )
    if as_json:
        console.print_json(ctx.model_dump_json())
        return
    if render:
        from context.customer_context.context_markdown import render_context  # tiktoken: only for --render

        rendered = render_context(ctx, max_tokens=max_tokens)
        console.print(rendered.text, markup=False, highlight=False)
        console.print(f"[dim]{rendered.tokens} tokens of {rendered.max_tokens}[/]")
        return
    _print_context(ctx)


def _print_context(ctx: Any) -> None:
    idn, st = ctx.identity, ctx.status
    lines = [f"[bold]{idn.name or 'name unknown'}[/]  [dim]{ctx.customer_id}[/]"]
    for label, value in (("email", idn.email), ("phone", idn.phone), ("company", idn.company)):
        if value:
            lines.append(f"{label}: {value}")
    place = ", ".join(x for x in (idn.address, idn.city, idn.region, idn.postcode, idn.country) if x)
    if place:
        lines.append(f"location: {place}")
    colour = {"active": "green", "trial": "cyan", "past_due": "red", "former": "yellow"}.get(st.status, "white")
    lines.append(f"status: [bold {colour}]{st.status}[/] — {st.cause}")
    facts = [f"plan {st.plan}" if st.plan else "no plan", f"renews {_d(st.renewal_at)}" if st.renewal_at else ""]
    facts += [f"ends {_d(st.ends_at)}" if st.ends_at else "", f"{st.order_count} orders"]
    if st.lifetime_value is not None:
        facts.append(f"lifetime value {st.lifetime_value:.2f} {st.currency or ''}")
    elif st.order_count:
        facts.append("lifetime value unknown (no order has a readable total)")
    facts.append(f"{st.open_ticket_count} open tickets")
    lines.append(", ".join(f for f in facts if f))
    crm = ctx.crm
    crm_bits = [
        f"{k} {v}" for k, v in (("owner", crm.owner), ("lifecycle", crm.lifecycle_stage), ("deal", crm.deal_stage)) if v
    ]
    if crm_bits:
        lines.append("CRM: " + ", ".join(crm_bits))
    if crm.notes:
        lines.append(f"[dim]notes: {crm.notes}[/]")
    console.print(Panel("\n".join(lines), title=f"customer context ({ctx.purpose})", expand=False))

    if idn.identifiers:
        t = Table(title="Identifiers")
        for column in ("kind", "value", "sources", "verified"):
            t.add_column(column)
        for i in idn.identifiers:
            t.add_row(i.kind, i.value, ", ".join(i.sources), "yes" if i.verified else "no")
        console.print(t)
    if ctx.orders.recent:
        t = Table(
            title=f"Recent orders ({ctx.orders.total_count} total) · as of {_d(ctx.orders.meta.as_of, time=True)}"
        )
        for column in ("order", "placed", "total", "fulfillment", "tracking", "items"):
            t.add_column(column)
        for o in ctx.orders.recent:
            tracking = ", ".join(o.tracking_numbers) + (f" ({o.carrier})" if o.carrier else "")
            items = "; ".join(f"{i.quantity}× {i.name or i.sku}" for i in o.items)
            total = f"{o.total:.2f} {o.currency or ''}" if o.total is not None else "—"
            t.add_row(o.number or "—", _d(o.placed_at), total, o.fulfillment_status or "—", tracking or "—", items)
        console.print(t)
    if ctx.subscriptions.items:
        t = Table(title=f"Subscriptions · as of {_d(ctx.subscriptions.meta.as_of, time=True)}")
        for column in ("ref", "plan", "status", "started", "trial end", "period end", "cancel at", "canceled"):
            t.add_column(column)
        for s in ctx.subscriptions.items:
            t.add_row(
                s.ref or "—",
                f"{s.plan or '—'} {s.interval or ''}",
                s.status or "—",
                _d(s.started_at),
                _d(s.trial_end),
                _d(s.current_period_end),
                _d(s.cancel_at),
                _d(s.canceled_at),
            )
        console.print(t)
    tickets = [("open", t) for t in ctx.tickets.open] + [("resolved", t) for t in ctx.tickets.recent_resolved]
    if tickets:
        t = Table(title=f"Tickets · as of {_d(ctx.tickets.meta.as_of, time=True)}")
        for column in ("ticket", "subject", "status", "priority", "channel", "opened", "updated"):
            t.add_column(column)
        for _kind, tk in tickets:
            t.add_row(
                tk.ref or "—",
                tk.subject or "",
                tk.status or "",
                tk.priority or "",
                tk.channel or "",
                _d(tk.opened_at),
                _d(tk.updated_at),
            )
        console.print(t)
    if ctx.interactions.recent:
        t = Table(title="Recent interactions")
        for column in ("when", "kind", "source", "campaign"):
            t.add_column(column)
        for i in ctx.interactions.recent:
            t.add_row(_d(i.occurred_at), i.kind or "", i.source, i.campaign or "")
        console.print(t)
    if ctx.conflicts:
        t = Table(title="Sources disagree")
        for column in ("field", "using", "values"):
            t.add_column(column)
        for c in ctx.conflicts:
            t.add_row(c.field, c.chosen or "—", "\n".join(c.values))
        console.print(t)
    for gap in ctx.gaps:
        console.print(f"[yellow]gap:[/] {gap}")
    if ctx.withheld:
        console.print(f"[dim]withheld for {ctx.purpose}: {', '.join(ctx.withheld)}[/]")


@app.command()
@friendly_errors
def search(
    text: str = typer.Argument(..., help="Part of a name, email or phone; or an order number / exact identifier."),
    postcode: str | None = typer.Option(None, "--postcode", "-p", help="With a name: customers at this postcode."),
    limit: int = typer.Option(20),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Find customers by name, email or phone (profiles), by name + postcode, or by an order number."""
    from context.customer_context.lookup import lookup_customer
    from context.profiles.errors import ProfileNotFoundError
    from context.profiles.service import get_profile, search_profiles

    eng = engine()
    rows: list[tuple[str, str | None, str | None, str | None, str]] = []
    if postcode:
        found = lookup_customer(engine=eng, name=text, postcode=postcode)
        rows += [(c.customer_id, c.name, c.email, c.status, c.matched_on) for c in found.candidates]
    else:
        rows += [
            (p.customer_id, p.display_name, p.email, p.status, "profile match")
            for p in search_profiles(engine=eng, text=text, limit=limit)
        ]
        if any(ch.isdigit() for ch in text) and " " not in text.strip():
            found = lookup_customer(engine=eng, order=text)
            rows += [(c.customer_id, c.name, c.email, c.status, c.matched_on) for c in found.candidates]
    seen: set[str] = set()
    unique = [r for r in rows if not (r[0] in seen or seen.add(r[0]))]  # type: ignore[func-returns-value]
    # The postcode tells two people of the same name apart.
    postcodes: dict[str, str] = {}
    for r in unique:
        try:
            value = get_profile(engine=eng, customer_id=r[0]).fields.get("postcode")
        except ProfileNotFoundError:  # a customer whose profile is not computed yet
            value = None
        postcodes[r[0]] = str(value.value) if value is not None and value.value is not None else ""
    if as_json:
        keys = ("customer_id", "name", "email", "status", "matched_on")
        data = [{**dict(zip(keys, r, strict=True)), "postcode": postcodes[r[0]] or None} for r in unique]
        console.print_json(json.dumps(data))
        return
    if not unique:
        console.print(f"no customers match {text!r}" + (f" at postcode {postcode!r}" if postcode else ""))
        raise typer.Exit(1)
    t = Table(title=f"Customers matching {text!r}" + (f" at {postcode}" if postcode else ""))
    for column in ("customer", "name", "email", "postcode", "status", "matched on"):
        t.add_column(column)
    for r in unique:
        t.add_row(r[0], r[1] or "", r[2] or "", postcodes[r[0]], r[3] or "", r[4])
    console.print(t)


@app.command()
@friendly_errors
def conflicts(
    field: str | None = typer.Option(None, help="Only this field (e.g. email, status, full_name)."),
    customer: str | None = typer.Option(None, help="Only this customer id."),
    limit: int = typer.Option(50),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List fields where sources disagree, with who said what, so the upstream data can be fixed."""
    from context.profiles.service import conflict_counts, list_conflicts

    eng = engine()
    rows = list_conflicts(engine=eng, field=field, customer_id=customer, limit=limit)
    if as_json:
        console.print_json(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    counts = conflict_counts(engine=eng)
    console.print("conflicts per field: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "none"))
    if not rows:
        return
    t = Table(title=f"Conflicts (first {limit})")
    for column in ("customer", "field", "using", "values (source record)"):
        t.add_column(column)
    for r in rows:
        values = "\n".join(
            f"{v.get('value')}  [dim]{v.get('source')} {v.get('source_record_id') or ''}[/]" for v in r.values
        )
        t.add_row(r.customer_id, r.field, f"{r.chosen or '—'} ({r.chosen_source or 'derived'})", values)
    console.print(t)


@app.command()
@friendly_errors
def history(identifier: str = typer.Argument(..., help="Customer id or identifier.")) -> None:
    """Status changes of a customer with their causes ("why does it say former?")."""
    from context.profiles.service import status_history

    cid = resolve_identifier(identifier)
    t = Table(title=f"Status history of {cid}")
    for column in ("recorded", "from", "to", "cause"):
        t.add_column(column)
    for h in status_history(engine=engine(), customer_id=cid):
        t.add_row(_d(h.changed_at, time=True), h.from_status or "—", h.to_status, h.cause)
    console.print(t)


@app.command()
@friendly_errors
def recompute(
    full: bool = typer.Option(False, "--all", help="Recompute every profile, not only changed customers."),
    customer: list[str] = typer.Option([], "--customer", help="Only these customer ids (repeatable)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Recompute golden profiles of customers whose records changed (after sync, resolve, merge or unmerge)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from context.profiles.service import recompute_profiles

    with Progress(
        TextColumn("[bold]profiles"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=as_json,
    ) as progress:
        task = progress.add_task("profiles", total=None)
        summary = recompute_profiles(
            engine=engine(),
            config=_config().profiles,
            now=system_now(),
            customer_ids=customer or None,
            full=full,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    if as_json:
        console.print_json(summary.model_dump_json())
        return
    rate = summary.records / summary.seconds if summary.seconds else 0.0
    console.print(
        f"{summary.customers:,} profiles recomputed from {summary.records:,} records in {summary.seconds:.1f}s "
        f"({rate:,.0f} records/s): {summary.status_changes:,} status changes, {summary.conflicts:,} conflicts, "
        f"{summary.removed:,} removed"
    )


def _id_formats() -> list[str]:
    """The identifier formats of the configured sources: a bare id is tried in each ("stripe:{}")."""
    from context.customer_context import load_context_config

    return load_context_config(settings().resolved_config_file).external_id_formats
