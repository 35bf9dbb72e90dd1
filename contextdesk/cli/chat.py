"""`contextdesk chat`: serve the chat API and demo page, inspect what went into a conversation's prompts."""

from __future__ import annotations

import json

import typer
from rich.panel import Panel
from rich.table import Table

from contextdesk.cli.common import console, engine, friendly_errors, settings, when

app = typer.Typer(
    help="The chat agent: serve the API and demo page, explain what went into a reply.", no_args_is_help=True
)


@app.command()
@friendly_errors
def explain(
    conversation_id: str = typer.Argument(..., help="The conversation id (from the API or the demo page)."),
    turn: int | None = typer.Option(None, "--turn", help="Only this turn (1 = first); default all."),
    full: bool = typer.Option(False, "--full", help="Print the whole assembled prompt of each turn."),
    as_json: bool = typer.Option(False, "--json", help="Print the stored turn metadata as JSON."),
) -> None:
    """Show each turn's route, context snapshot, passages, what the token budget dropped, which fields the privacy
    policy withheld, the model and its cost, the grounding check and the escalation decision."""
    from agent.service import list_turns

    turns = list_turns(engine=engine(), conversation_id=conversation_id)
    if turn is not None:
        turns = turns[turn - 1 : turn]
    if as_json:
        console.print_json(json.dumps([t.model_dump(mode="json") for t in turns]))
        return
    for i, t in enumerate(turns, start=1):
        p = t.prompt
        table = Table(show_header=False, box=None)
        table.add_column(style="bold")
        table.add_column()
        table.add_row("route", f"{t.route} — {t.route_reason}")
        table.add_row("identity", "verified" if t.verified else "visitor (no customer context built)")
        table.add_row("intent / topic", f"{t.intent} / {t.topic or '-'}")
        snap = t.context_snapshot
        if snap:
            table.add_row("context snapshot", f"{snap['id']} for {snap['customer_id']} at {snap['generated_at']}")
            table.add_row("  as of", ", ".join(f"{k} {v or '—'}" for k, v in snap["as_of"].items()))
            table.add_row("  tokens", f"{p.get('context_tokens')} of {p.get('context_max_tokens')} (budget)")
            table.add_row("  budget dropped", ", ".join(p.get("context_dropped") or []) or "nothing")
            table.add_row("  privacy withheld", ", ".join(p.get("privacy_withheld") or []) or "nothing")
            table.add_row("  hidden by route", ", ".join(p.get("sections_hidden_by_route") or []) or "nothing")
        table.add_row(
            "passages",
            "\n".join(
                f"{x['label']} {x['score']:.3f} {x['title']} › {x['heading']} ({x['audience']})" for x in t.passages
            )
            or "none",
        )
        table.add_row("retrieval", f"viewer {p.get('retrieval_viewer')}, confidence {t.retrieval_confidence}")
        removed = (p.get("passage_injections_removed") or 0) + (p.get("context_injections_removed") or 0)
        table.add_row(
            "injection defence",
            f"{removed} instruction-like sentence(s) removed; "
            f"message looks like an injection: {p.get('message_looks_like_injection')}",
        )
        if "messages" in p:
            table.add_row(
                "prompt",
                f"{p.get('tokens')} tokens, {len(p['messages'])} messages "
                f"({p.get('history_messages_verbatim', 0)} history verbatim, "
                f"{p.get('history_messages_summarized', 0)} summarized)",
            )
        else:
            table.add_row("prompt", "none: escalated before any answer was attempted")
        table.add_row("responder", f"{t.responder}" + (f" ({t.model})" if t.model else ""))
        if t.fallback_reason:
            table.add_row("fallback", t.fallback_reason)
        if t.prompt_tokens is not None:
            table.add_row("tokens used", f"prompt {t.prompt_tokens}, completion {t.completion_tokens}")
        table.add_row("grounding issues", "; ".join(t.grounding_issues) or "none")
        table.add_row(
            "escalation",
            f"{t.escalation_reason_code}: {t.escalation_reason}" if t.escalated else "no",
        )
        table.add_row("latency", f"{t.latency_ms:.1f} ms")
        console.print(Panel(table, title=f"turn {i} · {when(t.created_at, seconds=True)}"))
        if full and "messages" in p:
            for m in p["messages"]:
                console.print(Panel(m["content"], title=m["role"]), markup=False)


def serve_app(*, host: str, port: int, demo: bool, workers: int = 1) -> None:
    """Run the API (and demo page) with uvicorn: in this process, or in `workers` processes sharing the port."""
    import os

    import uvicorn

    from contextdesk.app import WORKER_DEMO_ENV, create_app
    from contextdesk.http_security import uvicorn_config
    from contextdesk.wiring import settle_startup_objects

    engine()  # migrate first, with the CLI's messages (each worker then finds the schema up to date)
    config = settings()
    demo_key: str | None = None
    if demo and config.api_key is None:
        # The inbox and server-to-server APIs need a key; a demo makes a throwaway one and shows it.
        import secrets

        from pydantic import SecretStr

        demo_key = secrets.token_urlsafe(18)
        config = config.model_copy(update={"api_key": SecretStr(demo_key)})
    origin = f"http://{host}:{port}"
    if config.public_base_url is None:
        # Links in summaries, the inbox and widget.js name the address we really serve on, not a fixed port.
        config = config.model_copy(update={"public_base_url": origin})
    shop = None
    if demo:
        import secrets

        from pydantic import SecretStr

        from contextdesk.cli.demo_shop import serve_shop, shop_files

        secret = config.identity_secret or SecretStr(secrets.token_hex(32))
        shop_origin = f"http://{host}:{port + 1}"
        config = config.model_copy(
            update={"identity_secret": secret, "frame_ancestors": [*config.frame_ancestors, shop_origin]}
        )
        shop = (shop_origin, shop_files(app_origin=config.public_base_url or origin, identity_secret=secret))
    mode = "demo mode: signed demo identities on the page" if demo else "identities must be signed by your site"
    plural = f" in {workers} worker processes" if workers > 1 else ""
    console.print(f"ContextDesk chat on [bold]{origin}/[/]{plural} ({mode}); API docs at /docs")
    if shop is not None:
        serve_shop(host=host, port=port + 1, files=shop[1])
        console.print(f"Sample shop with the chat widget: [bold]{shop[0]}/[/] (a customer's site on another origin)")
    if demo_key:
        inbox = f"{origin}/inbox"
        console.print(f"Agent inbox: [bold]{inbox}[/] with the API key [bold]{demo_key}[/] (demo only)")
    if workers == 1:
        app = create_app(config, demo=demo)
        settle_startup_objects()
        # Forwarded headers are believed only from CONTEXTDESK_TRUSTED_PROXIES (docs/deployment.md).
        uvicorn.Server(uvicorn_config(app, settings=config, host=host, port=port, log_level="warning")).run()
        return
    from uvicorn.supervisors import Multiprocess

    # Each worker builds its app from the environment (contextdesk.app:worker_app): what this process decided
    # for the demo goes there, so every worker has the same keys.
    if demo_key:
        os.environ["CONTEXTDESK_API_KEY"] = demo_key
    if config.public_base_url:
        os.environ["CONTEXTDESK_PUBLIC_BASE_URL"] = config.public_base_url
    if demo:
        os.environ[WORKER_DEMO_ENV] = "1"
        # The sample shop signs identities with this secret, so every worker must check with the same one.
        if config.identity_secret is not None:
            os.environ["CONTEXTDESK_IDENTITY_SECRET"] = config.identity_secret.get_secret_value()
        os.environ["CONTEXTDESK_FRAME_ANCESTORS"] = json.dumps(config.frame_ancestors)
    uv = uvicorn_config(
        "contextdesk.app:worker_app",
        settings=config,
        host=host,
        port=port,
        log_level="warning",
        factory=True,
        workers=workers,
    )
    Multiprocess(uv, sockets=[uv.bind_socket()]).run()


@app.command()
@friendly_errors
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port."),
    demo: bool = typer.Option(
        False, "--demo", help="Offer signed demo persona identities on the page (never in production)."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Server processes sharing the port (e.g. one per core; docs/deployment.md)."
    ),
) -> None:
    """Serve the chat API, the customer API and the demo page at / (grounded responder unless an LLM is configured)."""
    serve_app(host=host, port=port, demo=demo, workers=workers)
