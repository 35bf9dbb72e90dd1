"""`contextdesk worker`: scheduled syncs of every source with an `interval`, and the webhook inbox."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer

from contextdesk.cli.common import console, engine, friendly_errors, settings
from contextdesk.clock import system_now


@friendly_errors
def worker_command(
    once: bool = typer.Option(False, "--once", help="One pass (due syncs + pending webhooks), then exit."),
    poll: float = typer.Option(5.0, "--poll", help="Seconds between passes."),
    config: Path | None = typer.Option(None, "--config", "-c", help="contextdesk.yaml (default: ./contextdesk.yaml)."),
) -> None:
    """Run each source on its configured interval (a lock per source: two workers never sync one source at
    once), record every run (`contextdesk sync history`), and process received webhooks."""
    import socket

    from context.live.propagate import process_pending
    from context.live.scheduler import run_due
    from contextdesk.wiring import build_propagation, settle_startup_objects

    current = settings()
    if config is not None:
        current = current.model_copy(update={"config_file": config})
    deps = build_propagation(current, engine(), clock=system_now)
    settle_startup_objects()
    scheduled = [s.name for s in deps.intake.sources if s.interval is not None]
    holder = f"{socket.gethostname()}:{os.getpid()}"
    console.print(f"worker {holder}: {len(scheduled)} scheduled source(s): {', '.join(scheduled) or 'none'}")
    try:
        while True:
            tick = run_due(deps=deps, holder=holder)
            for summary in tick.synced:
                colour = "green" if summary.status == "ok" else "red"
                console.print(
                    f"[{colour}]{summary.source}[/]: {summary.status}, {summary.read:,} read, {summary.new:,} new, "
                    f"{summary.changed:,} changed, {summary.deleted:,} deleted ({summary.seconds:.1f}s)"
                    + (f" — {summary.error}" if summary.error else ""),
                    highlight=False,
                )
            for name in tick.skipped_locked:
                console.print(f"{name}: another worker is syncing it, skipped", highlight=False)
            inbox = process_pending(deps=deps)
            if inbox.claimed:
                console.print(
                    f"webhooks: {inbox.applied} applied, {inbox.refetched} re-fetched, {inbox.ignored} ignored, "
                    f"{inbox.failed} failed; {len(inbox.customers)} profiles recomputed",
                    highlight=False,
                )
            if once:
                if any(s.status != "ok" for s in tick.synced):
                    raise typer.Exit(1)
                return
            time.sleep(poll)
    except KeyboardInterrupt:
        console.print("worker stopped")
    finally:
        deps.close()
