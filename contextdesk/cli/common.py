"""Shared CLI plumbing: settings, engine and config loading, error display."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from context.errors import validation_problems
from contextdesk.clock import system_now

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.engine import Engine

    from context.business import BusinessConfig
    from contextdesk.settings import Settings


def _width(stream: object) -> int | None:
    """Full-width tables when piped or captured: rich would otherwise cut every table to 80 columns."""
    is_tty = getattr(stream, "isatty", lambda: False)()
    return None if is_tty or "COLUMNS" in os.environ else 240


console = Console(width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))

P = ParamSpec("P")
R = TypeVar("R")


@functools.cache
def settings() -> Settings:
    """Settings for this CLI process; an invalid setting is one clear line naming the variable."""
    from pydantic import ValidationError

    from contextdesk.settings import load_settings

    try:
        return load_settings()
    except ValidationError as exc:
        problems = validation_problems(
            exc, where=lambda loc: f"CONTEXTDESK_{'_'.join(str(p) for p in loc).upper()}" if loc else "settings"
        )
        return fail(f"invalid settings: {problems}")


@functools.cache
def engine() -> Engine:
    """The database engine, migrated to the latest schema (the CLI always runs on an up-to-date schema)."""
    from sqlalchemy.exc import OperationalError

    from contextdesk.db import is_up_to_date, make_engine, upgrade

    eng = make_engine(settings().resolved_database_url)
    try:
        if not is_up_to_date(eng):
            upgrade(eng)
    except OperationalError as exc:
        where = eng.url.render_as_string(hide_password=True)
        reason = " ".join(str(exc.orig or exc).split())
        return fail(f"cannot use the database at {where}: {reason}")
    return eng


@functools.cache
def business() -> BusinessConfig:
    """The `business:` settings of the contextdesk.yaml in force (neutral defaults without one)."""
    from context.business import load_business_config
    from context.errors import ConfigError

    path = settings().resolved_config_file
    try:
        return load_business_config(path if path is not None and path.exists() else None)
    except ConfigError as exc:
        return fail(str(exc))


def when(value: datetime | None, *, time: bool = False, seconds: bool = False) -> str:
    """A date (and time) as a person reads it: in the business's time zone, named when the time is shown."""
    if value is None:
        return "—"
    local = business().local(value)
    if not (time or seconds):
        return f"{local:%Y-%m-%d}"
    shown = f"{local:%Y-%m-%d %H:%M:%S}" if seconds else f"{local:%Y-%m-%d %H:%M}"
    return f"{shown} {local.tzname() or ''}".rstrip()


def config_path(explicit: Path | None = None) -> Path:
    """The contextdesk.yaml to use: --config, then CONTEXTDESK_CONFIG_FILE, then ./contextdesk.yaml."""
    path = explicit or settings().resolved_config_file
    if path is None:
        return fail("no contextdesk.yaml found: pass --config PATH or set CONTEXTDESK_CONFIG_FILE")
    return path


def fail(message: str, code: int = 1) -> Any:
    """Print an error and exit non-zero."""
    # One line, never wrapped: an error names a file, a setting or a value a person may copy. Escaped, so text
    # in brackets (pip install 'contextdesk[spark]') is printed, not taken for markup.
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def _our_error_roots() -> tuple[type[Exception], ...]:
    """The exception roots of our packages: raised on purpose, with a message meant for people."""
    import importlib

    roots: list[type[Exception]] = []
    for module, name in (
        ("context.errors", "ContextError"),
        ("knowledge.errors", "KnowledgeError"),
        ("agent.errors", "AgentError"),
        ("handoff.errors", "HandoffError"),
        ("evals.errors", "EvalError"),
    ):
        try:
            roots.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(roots)


def friendly_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn our own exceptions into one readable line and exit code 1 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except _our_error_roots() as exc:
            return fail(str(exc))  # type: ignore[no-any-return,unused-ignore]

    return wrapper


def refresh_profiles(config_file: Path | None = None, *, quiet: bool = False) -> None:
    """Recompute the golden profiles of customers whose records changed (after sync, resolve, merge, unmerge)."""
    from context.customer_context import load_context_config
    from context.profiles.service import recompute_profiles

    config = load_context_config(config_file or settings().resolved_config_file)
    summary = recompute_profiles(engine=engine(), config=config.profiles, now=system_now())
    if not quiet:
        console.print(
            f"Profiles: {summary.customers:,} recomputed, {summary.removed:,} removed, "
            f"{summary.status_changes:,} status changes, {summary.conflicts:,} conflicts "
            f"({summary.seconds:.1f}s). See one: [bold]contextdesk customers show EMAIL|ORDER|ID[/]"
        )


def use_config(path: Path | None) -> None:
    """Make `path` the contextdesk.yaml of this process (the --config option of every command)."""
    if path is None:
        return
    if not path.exists():
        fail(f"--config {path}: file not found")
    settings().config_file = path


def add_config_option(app: typer.Typer) -> None:
    """Give every command of `app` (not of its sub-groups) a `--config PATH` option unless it has its own.

    Commands read the config through `settings().resolved_config_file`; the option sets it before they run,
    so command modules need no change to honour it.
    """
    import inspect

    for info in app.registered_commands:
        func = info.callback
        if func is None:
            continue
        signature = inspect.signature(func, eval_str=True)
        if "config" in signature.parameters:
            continue
        info.callback = _with_config(func, signature)


def _with_config(func: Callable[..., Any], signature: Any) -> Callable[..., Any]:
    import inspect

    option = typer.Option(
        None, "--config", help="contextdesk.yaml (default: CONTEXTDESK_CONFIG_FILE, ./contextdesk.yaml)."
    )

    @functools.wraps(func)
    def wrapper(*args: Any, config: Path | None = None, **kwargs: Any) -> Any:
        use_config(config)
        return func(*args, **kwargs)

    parameter = inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, default=option, annotation=Path | None)
    wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), parameter])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**getattr(func, "__annotations__", {}), "config": Path | None}
    return wrapper
