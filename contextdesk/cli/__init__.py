"""The `contextdesk` command line."""

from __future__ import annotations

import typer

from contextdesk.cli import chat, customers, db, demo, handoff, identity, intake, kb, sources, worker
from contextdesk.cli import eval as eval_cli
from contextdesk.cli.common import add_config_option

app = typer.Typer(
    help="ContextDesk: customer context and knowledge for AI customer support.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(chat.app, name="chat")
app.add_typer(customers.app, name="customers")
app.add_typer(db.app, name="db")
app.add_typer(demo.app, name="demo")
app.add_typer(eval_cli.app, name="eval")
app.add_typer(handoff.app, name="handoff")
app.add_typer(identity.app, name="identity")
app.add_typer(kb.app, name="kb")
intake.register(app)
app.command("serve")(chat.serve)
app.command("worker")(worker.worker_command)
# Every command that reads contextdesk.yaml takes --config (sync and sources check declare their own).
_groups = (app, chat.app, customers.app, eval_cli.app, handoff.app, handoff.deliveries_app, identity.app)
for _group in (*_groups, identity.review_app):
    add_config_option(_group)
sources.register(app)  # after: `init` writes a config, it does not read one


def main() -> None:
    """Console-script entry point."""
    app()
