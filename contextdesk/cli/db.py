"""`contextdesk db`: schema migrations."""

from __future__ import annotations

import typer

from contextdesk.cli.common import console, settings

app = typer.Typer(help="Database schema (Alembic migrations, SQLite or PostgreSQL).", no_args_is_help=True)


@app.command("upgrade")
def upgrade_command(revision: str = typer.Argument("heads", help="Target revision; default: latest.")) -> None:
    """Apply migrations to the configured database (DATABASE_URL or the SQLite file in the data dir)."""
    from contextdesk.db import current_revisions, make_engine, upgrade

    url = settings().resolved_database_url
    eng = make_engine(url)
    upgrade(eng, revision=revision)
    console.print(f"database at {eng.url.render_as_string(hide_password=True)} is at {sorted(current_revisions(eng))}")


@app.command("current")
def current_command() -> None:
    """Show the revision(s) the database is at and whether it is up to date."""
    from contextdesk.db import current_revisions, head_revisions, make_engine

    eng = make_engine(settings().resolved_database_url)
    current, heads = current_revisions(eng), head_revisions()
    state = "up to date" if current == heads else f"behind (code expects {sorted(heads)})"
    console.print(f"{sorted(current) or 'empty'}: {state}")
