"""`contextdesk init` and `contextdesk sources check`: write a first config from sample files, then check it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich import box
from rich.table import Table

from contextdesk.cli.common import config_path, console, fail, friendly_errors

if TYPE_CHECKING:
    from context.intake.check import SourceCheck

app = typer.Typer(help="Check the sources of a contextdesk.yaml against their files (writes nothing).")


def register(main: typer.Typer) -> None:
    """Add `init` and `sources` to the main app."""
    main.command("init")(init_command)
    main.add_typer(app, name="sources", no_args_is_help=True)


@friendly_errors
def init_command(
    files: list[Path] = typer.Argument(..., help="Sample export files (CSV, JSON, JSON Lines), one per source."),
    out: Path = typer.Option(Path("contextdesk.yaml"), "--out", "-o", help="Where to write the proposed config."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Propose a contextdesk.yaml from sample files: formats, entities and likely columns, each guess commented."""
    from context.intake.propose import propose_source, render_yaml

    if out.exists() and not force:
        fail(f"{out} exists: pass --force to overwrite it, or --out OTHER.yaml")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        fail(f"not a file: {', '.join(missing)}")
    base = out.resolve().parent
    proposals = [propose_source(f, base_dir=base) for f in files]
    names = [p.name for p in proposals]
    for p in proposals:
        if names.count(p.name) > 1:
            p.name = f"{p.name}_{p.kind}"
    text = render_yaml(proposals)
    custom = sorted({kind for p in proposals for kind in p.identifiers})
    if custom:
        text += _identity_section(custom)
    out.write_text(text, encoding="utf-8")
    table = Table(title=f"Proposed {out}", box=box.SIMPLE_HEAD)
    for column in ("source", "file", "kind", "entity", "id", "fields mapped", "columns left"):
        table.add_column(column)
    for p in proposals:
        table.add_row(p.name, p.path, p.kind, p.entity, p.id or "—", ", ".join(p.fields), str(len(p.unmapped)))
    console.print(table)
    console.print(
        f"Read the comments in {out} and fix the guesses, then: [bold]contextdesk sources check --config {out}[/]"
    )


def _identity_section(custom: list[str]) -> str:
    """The default identity rules written out, plus the custom identifiers found (a section replaces the defaults)."""
    import yaml

    from context.identity.rules import IdentifierRule, default_rules

    rules = default_rules()
    rules.identifiers += [IdentifierRule(kind=k, priority=0, limit=2, hub_max_names=None) for k in custom]
    body = yaml.safe_dump(
        {"identity": rules.model_dump(mode="json", exclude_defaults=True)},
        sort_keys=False,
        default_flow_style=None,
        width=110,
    )
    return (
        f"# Identifiers {', '.join(custom)} were found, so the identity rules are written out: an `identity:`\n"
        "# section replaces the defaults, which are these plus your identifiers (docs/onboarding.md, Identity).\n"
        + body
    )


@app.command("check")
@friendly_errors
def check_command(
    config: Path | None = typer.Option(None, "--config", "-c", help="contextdesk.yaml (default: ./contextdesk.yaml)."),
    source: list[str] | None = typer.Option(None, "--source", "-s", help="Only this source (repeatable)."),
    limit: int = typer.Option(1000, "--limit", "-n", help="Records read per source (0: all)."),
) -> None:
    """Validate a config against its files: unknown columns, unmapped fields, standardized samples. Writes nothing.

    Exit code 1 when a source cannot be read or a mapping problem is found.
    """
    from context.business import parse_business_config
    from context.intake.check import check_source
    from context.intake.config import load_intake_config, load_yaml
    from contextdesk.cli.intake import identifier_warnings

    path = config_path(config)
    cfg = load_intake_config(path)
    biz = parse_business_config(load_yaml(path), origin=str(path))
    hours, unnamed = biz.hours, "(no name: the greeting says 'the automated assistant')"
    console.print(
        f"business: {biz.name or unnamed}, {biz.timezone}, "
        f"{'/'.join(hours.days)} {hours.open:%H:%M}–{hours.close:%H:%M}, currency {biz.currency or 'per order'}, "
        f"support email {biz.support_email or 'none'}, teams {', '.join(biz.teams)}",
        highlight=False,
        markup=False,
    )
    selected = [cfg.source(n) for n in source] if source else list(cfg.sources)
    if not selected:
        fail(f"{path}: no sources configured (add a `sources:` list, or run `contextdesk init FILES`)")
    results = [check_source(cfg, s, limit=limit or None) for s in selected]
    for result in results:
        _print_check(result)
    id_warnings = identifier_warnings(cfg, path)
    for warning in id_warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    problems = sum(len(r.warnings) + (r.error is not None) for r in results) + len(id_warnings)
    if problems:
        console.print(f"[red]{problems} problem{'s' if problems > 1 else ''}[/] in {path}; nothing was written.")
        raise typer.Exit(1)
    console.print(
        f"[green]{path}: every source reads and maps[/]; nothing was written. Next: [bold]contextdesk sync[/]"
    )


def _print_check(result: SourceCheck) -> None:
    head = f"[bold]{result.source}[/] ({result.kind}, {result.entity}): "
    if result.error:
        console.print(head + f"[red]cannot read:[/] {result.error}", highlight=False)
        return
    if result.connector:
        how = (
            f"its records arrive at POST /v1/push/{result.source} with the API key"
            if result.kind == "push"
            else "`contextdesk sync` pulls it with the credentials in settings"
        )
        console.print(head + f"mapping compiles; not read here ({how})", highlight=False)
        return
    console.print(head + f"{result.records:,} records read; columns: {', '.join(result.columns[:40])}", highlight=False)
    if result.fill:
        table = Table(box=box.SIMPLE_HEAD, title=f"{result.source}: fields")
        for column in ("field", "filled", "first record (raw → standardized)"):
            table.add_column(column, overflow="fold")
        first = {name: (raw, value) for name, raw, value in result.samples[: len(result.fill)]}
        for name, filled, of in result.fill:
            colour = "red" if filled == 0 else "yellow" if filled < of else "green"
            raw, value = first.get(name, ("", ""))
            table.add_row(name, f"[{colour}]{filled:,} of {of:,}[/]", f"{raw} → {value}" if raw or value else "")
        console.print(table)
    for (name, reason), count in result.quarantine.most_common(8):
        console.print(f"  quarantined {count:,}× {name}: {reason}", highlight=False)
    for note in result.notes:
        console.print(f"  [cyan]note:[/] {note}", highlight=False)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
