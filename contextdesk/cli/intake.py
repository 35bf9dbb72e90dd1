"""`contextdesk sync` and `contextdesk quarantine`: customer data intake."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the intake commands to the main app."""
